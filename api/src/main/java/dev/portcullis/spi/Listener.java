package dev.portcullis.spi;

import java.net.SocketAddress;
import java.util.Optional;

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
   * An optional power of this listener, such as {@link KernelFiltering} or {@link AcceptCounts};
   * empty when the transport does not have it or did not turn it on. The default has none.
   *
   * <pre>{@code
   * listener.capability(KernelFiltering.class).ifPresent(k -> k.updateBans(bans));
   * }</pre>
   *
   * @param type the capability's interface
   * @param <T> its type
   * @return the capability, or empty
   */
  default <T> Optional<T> capability(Class<T> type) {
    return Optional.empty();
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
