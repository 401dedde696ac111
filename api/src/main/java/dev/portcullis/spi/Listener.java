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
   * connections already accepted go on. Connections the kernel had already queued (their {@code
   * connect()} has returned) are not lost: the transport first stops new ones reaching the queue
   * where it can (a Unix socket's file goes first; a TCP socket the transport opened itself stops
   * answering new handshakes while those under way complete), then accepts what is queued through
   * the {@link Acceptor} as usual, and only then closes the socket. A socket this process inherited
   * is not changed for its next owner: what is queued when it is closed stays queued there.
   * Returns once the address is free. Idempotent; {@link #close()} still has to be called. The
   * default closes everything at once.
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

  /**
   * Replaces the sources the kernel-side filter drops besides the policy's denied ones: the
   * penalty box's current bans of direct peers. Kept apart from the policy so a ban, which changes
   * often, does not make the transport rebuild a large policy. The default does nothing.
   *
   * @param bans the banned blocks, all of them (an empty list lifts every ban)
   */
  default void updateKernelBans(java.util.List<dev.portcullis.policy.Cidr> bans) {}

  /**
   * Which kernel filter the listening socket has now, for a listener opened with {@link
   * Endpoint.Tcp#kernelFilter()}; it may change when {@link #updateKernelFilter} falls back. The
   * default, for a transport that attaches none, is {@link dev.portcullis.KernelFilterMode#USER_SPACE}.
   *
   * @return the mode in force
   */
  default dev.portcullis.KernelFilterMode kernelFilterMode() {
    return dev.portcullis.KernelFilterMode.USER_SPACE;
  }

  /**
   * How many connections each event loop has accepted since the listener opened, in loop order
   * (refused ones included: every connection {@code accept(2)} returned): how evenly the kernel
   * spreads connections over the loops. The default, for a transport that does not count, is an
   * empty array.
   *
   * @return a new array, one count per loop
   */
  default long[] acceptedPerLoop() {
    return new long[0];
  }

  /**
   * Whether the channels this listener accepts offer {@link Channel#loopCarriedExecutor()}. The
   * server asks once, at start, when a blocking handler has no executor of its own; a transport
   * that could offer them but is not allowed to (the JNA transport on JDK 21+ without {@code
   * --add-opens java.base/java.lang}) logs, once, what would allow it. The default is false.
   *
   * @return whether handlers can run on the event loops
   */
  default boolean loopCarriedExecutors() {
    return false;
  }
}
