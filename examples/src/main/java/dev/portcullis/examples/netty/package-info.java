/** The {@code netty-http} example: an HTTP service on Netty 4.2 behind {@code PortcullisNetty} and the kernel guard. */
package dev.portcullis.examples.netty;
