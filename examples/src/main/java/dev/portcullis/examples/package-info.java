/** The {@code portcullis} launcher and what its example commands share. */
package dev.portcullis.examples;
