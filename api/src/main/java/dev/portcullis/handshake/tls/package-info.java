/** TLS 1.3/1.2 as a handshake step: an {@code SSLEngine} on the event loop, client certificates and the rules on them. */
package dev.portcullis.handshake.tls;
