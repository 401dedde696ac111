package dev.portcullis.spi;

import java.io.IOException;
import java.util.Optional;

/**
 * How bytes move: listening sockets, accepting, and non-blocking connections driven by an event
 * loop. The api finds a transport with {@link java.util.ServiceLoader} (or is given one with
 * {@code Server.transport(...)}) and never knows which one runs it.
 *
 * <p>A provider lists its class in {@code META-INF/services/dev.portcullis.spi.Transport} and has a
 * public no-argument constructor (required by {@code ServiceLoader}). Constructing a provider must
 * not fail on a machine where it cannot run: it reports that through {@link #isAvailable()} and
 * {@link #unavailabilityCause()} instead.
 */
public interface Transport {
  /**
   * A short name, such as {@code jna}, for messages and logs.
   *
   * @return the name
   */
  String name();

  /**
   * Whether this transport can run on this machine.
   *
   * @return {@code true} if {@link #open} can be called
   */
  boolean isAvailable();

  /**
   * Why the transport cannot run here, or empty when it can.
   *
   * @return the cause, or empty
   */
  Optional<Throwable> unavailabilityCause();

  /**
   * Opens or adopts the socket an endpoint names and starts accepting on it. For every accepted
   * connection the transport first asks {@code acceptor} to admit the raw peer (the address, or a
   * Unix peer's credentials through {@link Acceptor#admitLocal}), closing the connection at once if
   * it says no, and otherwise hands it over as a {@link Channel}. By kind:
   *
   * <ul>
   *   <li>{@link Endpoint.Tcp}: {@code socket}, {@code bind}, {@code listen(fd, backlog)} with the
   *       backlog as given.
   *   <li>{@link Endpoint.UnixPath}: the socket file is created with the requested mode, owner
   *       and group before anyone can reach it; a stale socket file that nobody answers on is
   *       replaced; a live one, or a file that is not a socket, makes this fail without touching
   *       it. The file is removed when the listener closes. {@link Endpoint.UnixAbstract}: a name,
   *       no file.
   *   <li>{@link Endpoint.Inherited}: a socket this process was given open. For a listening
   *       socket, the transport checks that it really is a listening stream socket of a family it
   *       serves, makes it non-blocking and close-on-exec, and accepts on it. For one connected
   *       socket (inetd style), it asks {@code acceptor} about its peer, hands it over as the only
   *       {@link Channel}, and stops on its own, calling {@link Acceptor#listenerStopped} with
   *       {@code null}, once that connection is closed or refused.
   * </ul>
   *
   * A transport that cannot serve a kind (no Unix domain sockets, no adopted descriptors) throws
   * {@link UnsupportedOperationException} naming itself and the kind.
   *
   * <p>The same as {@link #open(Endpoint, int, Acceptor)} with one event loop.
   *
   * @param endpoint where to listen
   * @param acceptor decides and receives accepted connections, called on the event loop
   * @return the running listener; it owns the descriptor from now on
   * @throws java.net.BindException if the address is in use, the port needs privileges, or a live
   *     socket is at a Unix path, naming it
   * @throws IOException for any other failure of the socket calls, naming the endpoint; nothing
   *     stays open or half-created
   */
  Listener open(Endpoint endpoint, Acceptor acceptor) throws IOException;

  /**
   * As {@link #open(Endpoint, Acceptor)}, accepting on up to {@code eventLoops} event loops, each
   * on a thread of its own. The endpoint still has one socket (one address, one accept queue, one
   * kernel filter); its connections are spread over the loops, and each connection lives on the loop
   * that accepted it for its whole life: every callback of one {@link Channel} runs on that loop's
   * thread. The {@code acceptor} is then called from several loops at once and must be thread-safe;
   * {@link Acceptor#listenerStopped} is still called once. One inherited connected socket (inetd)
   * is served on one loop whatever the count.
   *
   * <p>The default serves on one loop ({@link #open(Endpoint, Acceptor)}), which a transport
   * without loops of its own may keep.
   *
   * @param endpoint where to listen
   * @param eventLoops how many loops may accept, at least 1
   * @param acceptor decides and receives accepted connections, called on the event loops
   * @return the running listener; it owns the descriptor from now on
   * @throws IllegalArgumentException if {@code eventLoops < 1}
   * @throws java.net.BindException as for {@link #open(Endpoint, Acceptor)}
   * @throws IOException as for {@link #open(Endpoint, Acceptor)}
   */
  default Listener open(Endpoint endpoint, int eventLoops, Acceptor acceptor) throws IOException {
    if (eventLoops < 1) {
      throw new IllegalArgumentException("eventLoops must be at least 1, not " + eventLoops);
    }
    return open(endpoint, acceptor);
  }

  /**
   * As {@link #open(Endpoint, int, Acceptor)}, with what the server asks beyond the endpoint: a
   * kernel filter ({@link OpenOptions#kernelFilter()}) attached before the loops start accepting.
   * What the transport did shows as capabilities of the listener ({@link
   * Listener#capability(Class)}: {@link KernelFiltering}).
   *
   * <p>The default ignores the options, as a transport without a kernel filter may.
   *
   * @param endpoint where to listen
   * @param eventLoops how many loops may accept, at least 1
   * @param acceptor decides and receives accepted connections, called on the event loops
   * @param options what else to set up before accepting
   * @return the running listener; it owns the descriptor from now on
   * @throws IllegalArgumentException if {@code eventLoops < 1}
   * @throws java.net.BindException as for {@link #open(Endpoint, Acceptor)}
   * @throws IOException as for {@link #open(Endpoint, Acceptor)}
   */
  default Listener open(Endpoint endpoint, int eventLoops, Acceptor acceptor, OpenOptions options) throws IOException {
    java.util.Objects.requireNonNull(options, "options");
    return open(endpoint, eventLoops, acceptor);
  }
}
