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
}
