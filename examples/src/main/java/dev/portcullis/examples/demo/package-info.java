/** The {@code demo} example command. */
package dev.portcullis.examples.demo;
