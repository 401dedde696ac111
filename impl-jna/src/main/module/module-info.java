/**
 * The Linux transport for Portcullis: a direct-mapped JNA binding of libc and an epoll event loop.
 * Provides {@link dev.portcullis.spi.Transport}, so {@code Server.on(port)...start()} finds it
 * without naming it; only {@link dev.portcullis.jna.JnaTransport} is public, for an explicit
 * {@code Server.transport(new JnaTransport())} or its availability check.
 */
module dev.portcullis.jna {
  exports dev.portcullis.jna;

  requires transitive dev.portcullis; // JnaTransport's public methods speak the SPI's types
  requires com.sun.jna; // an automatic module: JNA 5.17's jar has Automatic-Module-Name com.sun.jna
  requires org.slf4j;

  provides dev.portcullis.spi.Transport with dev.portcullis.jna.JnaTransport;
}
