/** The {@code echo} example command. */
package dev.portcullis.examples.echo;
