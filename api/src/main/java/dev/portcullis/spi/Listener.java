package dev.portcullis.spi;

import java.net.SocketAddress;

/** A listening socket and the event loop that accepts on it. */
public interface Listener extends AutoCloseable {
  /**
   * The address actually bound, with the real port when 0 was asked for.
   *
   * @return the bound address
   */
  SocketAddress localAddress();

  /**
   * Stops accepting, closes the listening socket and every connection the transport still holds,
   * and stops the event loop. Returns when the port is released. Idempotent.
   */
  @Override
  void close();

  /**
   * Stops accepting and closes the listening socket (a Unix socket's file is removed), while
   * connections already accepted go on. Connections the kernel had queued but the server had not
   * accepted yet are reset. Returns once the address is free. Idempotent; {@link #close()} still
   * has to be called. The default closes everything at once.
   */
  default void stopAccepting() {
    close();
  }

  /**
   * Replaces the kernel-side filter that {@link Endpoint.Tcp#kernelFilter()} attached, after the
   * server's policy changed. The default does nothing.
   *
   * @param policy the new policy
   */
  default void updateKernelFilter(dev.portcullis.policy.AccessPolicy policy) {}
}
