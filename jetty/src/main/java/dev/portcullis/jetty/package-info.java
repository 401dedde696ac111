/** The Portcullis admission chain in front of a Jetty 12 {@code ServerConnector}: {@link dev.portcullis.jetty.JettyGuard}. */
package dev.portcullis.jetty;
