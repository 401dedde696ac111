/** The {@code kv} example: a key-value store over a line protocol, and its client. */
package dev.portcullis.examples.kv;
