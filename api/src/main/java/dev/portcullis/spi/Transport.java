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
   * @return {@code true} if {@link #listen} can be called
   */
  boolean isAvailable();

  /**
   * Why the transport cannot run here, or empty when it can.
   *
   * @return the cause, or empty
   */
  Optional<Throwable> unavailabilityCause();

  /**
   * Opens a listening socket ({@code socket}, {@code bind}, {@code listen}) and starts accepting
   * on it. For every accepted connection the transport first asks {@code acceptor} to admit the
   * raw peer address, closing the connection at once if it says no, and otherwise hands it over as
   * a {@link Channel}.
   *
   * @param options where and how to listen
   * @param acceptor decides and receives accepted connections, called on the event loop
   * @return the running listener
   * @throws java.net.BindException if the address is in use or the port needs privileges
   * @throws IOException for any other failure of the socket calls; nothing stays open
   */
  Listener listen(ListenOptions options, Acceptor acceptor) throws IOException;

  /**
   * Serves a socket this process inherited open. For a listening socket, the transport checks that
   * it really is a listening stream socket of a family it serves, makes it non-blocking and
   * close-on-exec, and then accepts on it exactly as {@link #listen} does (its backlog is whatever
   * the socket's creator chose). For one connected socket, it asks {@code acceptor} about its peer,
   * hands it over as the only {@link Channel}, and stops on its own, calling {@link
   * Acceptor#listenerStopped} with {@code null}, once that connection is closed or refused. The
   * default refuses: a transport that cannot adopt descriptors says so.
   *
   * @param socket the descriptor and what it should be
   * @param acceptor decides and receives connections, called on the event loop
   * @return the running listener; it owns the descriptor from now on
   * @throws IOException if the descriptor is not what {@code socket} says, naming it and why
   */
  default Listener inherit(InheritedSocket socket, Acceptor acceptor) throws IOException {
    throw new UnsupportedOperationException("Transport " + name() + " cannot serve inherited sockets");
  }

  /**
   * Opens a listening Unix domain socket and accepts on it as {@link #listen} does, asking {@code
   * acceptor} about each peer's credentials ({@link Acceptor#admitLocal}). A socket file is created
   * with the requested mode, owner and group before anyone can reach it; a stale socket file that
   * nobody answers on is replaced; a live one, or a file that is not a socket, makes this fail
   * without touching it. The file is removed when the listener closes. The default refuses: a
   * transport without Unix domain sockets says so.
   *
   * @param options where and how to listen
   * @param acceptor decides and receives accepted connections, called on the event loop
   * @return the running listener
   * @throws java.net.BindException if a live socket is at the path, naming it
   * @throws IOException for any other failure, naming the path; nothing stays open or half-created
   */
  default Listener listenUnix(UnixListenOptions options, Acceptor acceptor) throws IOException {
    throw new UnsupportedOperationException("Transport " + name() + " has no Unix domain sockets");
  }
}
