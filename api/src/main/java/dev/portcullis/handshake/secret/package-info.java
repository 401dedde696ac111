/** The shared-secret challenge-response step (HMAC-SHA256 over a fresh nonce) and its Java client. */
package dev.portcullis.handshake.secret;
