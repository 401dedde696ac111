/** The {@code admin} example: an administration console on a Unix socket for its owner only. */
package dev.portcullis.examples.admin;
