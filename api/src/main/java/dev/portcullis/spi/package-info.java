/**
 * The transport SPI: the small interfaces through which the api (policy, handshakes, handlers)
 * meets a transport (sockets and the event loop), so that neither knows the other's internals.
 */
package dev.portcullis.spi;
