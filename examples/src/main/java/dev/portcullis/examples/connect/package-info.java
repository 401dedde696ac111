/** The {@code connect} client command. */
package dev.portcullis.examples.connect;
