package dev.portcullis.spi;

/**
 * The api's side of accepting: the transport asks it to admit each raw peer address, then hands
 * over the connections it admitted. All methods are called on the transport's event loop and must
 * not block. A listener with several loops ({@link Transport#open(Endpoint, int, Acceptor)}) calls
 * them from all of its loops at once, so an acceptor must then be thread-safe.
 */
public interface Acceptor {
  /**
   * Whether to keep a connection from this IPv4 peer. Called before any per-connection object is
   * made; must not allocate.
   *
   * @param address the peer address, big-endian ({@code 10.0.0.1} is {@code 0x0A000001})
   * @return false to have the transport close the connection at once
   */
  boolean admitIpv4(int address);

  /**
   * Whether to keep a connection from this IPv6 peer (IPv4-mapped addresses included). Must not
   * allocate.
   *
   * @param high the high 64 bits of the address
   * @param low the low 64 bits of the address
   * @return false to have the transport close the connection at once
   */
  boolean admitIpv6(long high, long low);

  /**
   * Whether to keep a connection from this Unix domain socket peer. The default refuses.
   *
   * @param credentials what the kernel recorded of the peer ({@code SO_PEERCRED}), or null if they
   *     could not be read
   * @return false to have the transport close the connection at once
   */
  default boolean admitLocal(dev.portcullis.policy.PeerCredentials credentials) {
    return false;
  }

  /**
   * A connection was admitted; from now on the api owns it and must close it.
   *
   * @param channel the connection, non-blocking, driven by the event loop
   */
  void accepted(Channel channel);

  /**
   * An admitted connection was closed and its descriptor released; called once per channel given to
   * {@link #accepted}, from whichever thread closed it. The default does nothing.
   *
   * @param channel the closed connection; its addresses may still be read
   */
  default void released(Channel channel) {}

  /**
   * The listener stopped: closed on request, or because its event loop failed. Called once, from
   * the loop thread as it exits (with several loops: the first that failed, or else the last to
   * stop; a failed loop stops the others). The default does nothing.
   *
   * @param failure why the loop stopped on its own, or null when it was closed on request
   */
  default void listenerStopped(Throwable failure) {}
}
