/** The {@code jetty-http} example: an HTTP service on Jetty 12 behind {@code JettyGuard} and the kernel guard. */
package dev.portcullis.examples.jetty;
