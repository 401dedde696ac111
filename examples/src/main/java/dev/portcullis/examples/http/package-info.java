/** The {@code http} example: a minimal HTTP/1.1 health and hello service behind a PROXY-protocol proxy. */
package dev.portcullis.examples.http;
