/** The {@code check} example command. */
package dev.portcullis.examples.check;
