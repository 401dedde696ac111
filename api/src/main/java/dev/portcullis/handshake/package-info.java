/**
 * The handshake chain's SPI (steps that run on the event loop between accept and the handler),
 * and line helpers; each built-in protocol lives in a package of its own ({@code .tls}, {@code
 * .proxy}, {@code .secret}), and their factory, {@code dev.portcullis.Handshakes}, sits above them.
 */
package dev.portcullis.handshake;
