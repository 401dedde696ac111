/**
 * Portcullis in front of a Netty 4.2 server: {@link dev.portcullis.netty.PortcullisNetty} runs the
 * same admission chain as a Portcullis server (address policy and shadow, penalty box, limits per
 * source and rate, pending handshakes, the PROXY protocol from trusted proxies) on every child
 * channel, before the application's handlers see it.
 */
package dev.portcullis.netty;
