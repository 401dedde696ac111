/** The handshake chain: steps that run on the event loop between accept and the handler. */
package dev.portcullis.handshake;
