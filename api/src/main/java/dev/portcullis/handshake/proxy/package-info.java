/** The PROXY protocol (v1 and v2) as a handshake step: the client a trusted proxy relays becomes the peer. */
package dev.portcullis.handshake.proxy;
