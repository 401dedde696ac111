/**
 * The Linux transport for Portcullis: a direct-mapped JNA binding of libc and an epoll event loop.
 * Provides {@link dev.portcullis.spi.Transport}, so {@code Server.on(port)...start()} finds it
 * without naming it. Two classes are public: {@link dev.portcullis.jna.JnaTransport}, for an
 * explicit {@code Server.transport(new JnaTransport())} or its availability check, and {@link
 * dev.portcullis.jna.KernelGuard}, the policy's kernel filter on a socket another server opened.
 */
module dev.portcullis.jna {
  exports dev.portcullis.jna;

  requires transitive dev.portcullis; // JnaTransport's public methods speak the SPI's types
  requires com.sun.jna; // an automatic module: JNA 5.17's jar has Automatic-Module-Name com.sun.jna
  requires org.slf4j;

  provides dev.portcullis.spi.Transport with dev.portcullis.jna.JnaTransport;
}
