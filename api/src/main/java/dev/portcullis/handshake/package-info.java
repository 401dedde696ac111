/**
 * The handshake chain's SPI (steps that run on the event loop between accept and the handler),
 * the {@code Handshakes} factory for the built-in steps, and line helpers; each built-in protocol
 * lives in a package of its own ({@code .tls}, {@code .proxy}, {@code .secret}).
 */
package dev.portcullis.handshake;
