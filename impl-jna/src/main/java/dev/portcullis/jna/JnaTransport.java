package dev.portcullis.jna;

import com.sun.jna.Platform;
import dev.portcullis.spi.Acceptor;
import dev.portcullis.spi.Endpoint;
import dev.portcullis.spi.InheritedSocket;
import dev.portcullis.spi.KernelFiltering;
import dev.portcullis.spi.Listener;
import dev.portcullis.spi.OpenOptions;
import dev.portcullis.spi.Transport;
import java.io.IOException;
import java.nio.ByteOrder;
import java.util.Objects;
import java.util.Optional;

/**
 * The Linux transport: libc through direct-mapped JNA, one or more epoll loops per listener.
 *
 * <p>Found by {@link java.util.ServiceLoader} when {@code portcullis-jna} is on the class path (or,
 * as module {@code dev.portcullis.jna}, on the module path), so
 * {@code Server.on(port)...start()} uses it without naming it. Availability is probed once; on a
 * machine where it cannot run (not 64-bit little-endian Linux, or no native JNA library), {@link
 * #isAvailable()} is false and {@link #unavailabilityCause()} says why.
 */
public final class JnaTransport implements Transport {
  private static final Throwable UNAVAILABILITY = probe();

  /** Creates the provider; public and without arguments, as {@link java.util.ServiceLoader} requires. */
  public JnaTransport() {}

  private static Throwable probe() {
    try {
      if (!Platform.isLinux()) {
        return new UnsupportedOperationException("the JNA transport needs Linux; this is "
            + System.getProperty("os.name"));
      }
      if (!Platform.is64Bit() || ByteOrder.nativeOrder() != ByteOrder.LITTLE_ENDIAN) {
        return new UnsupportedOperationException("the JNA transport needs a 64-bit little-endian CPU; this is "
            + System.getProperty("os.arch"));
      }
      LibC.strerror(0); // loads and links the binding
      return null;
    } catch (Throwable t) {
      return t;
    }
  }

  /**
   * {@code jna}.
   *
   * @return {@code "jna"}
   */
  @Override
  public String name() {
    return "jna";
  }

  @Override
  public boolean isAvailable() {
    return UNAVAILABILITY == null;
  }

  @Override
  public Optional<Throwable> unavailabilityCause() {
    return Optional.ofNullable(UNAVAILABILITY);
  }

  /**
   * Throws if the transport cannot run here.
   *
   * @throws IllegalStateException with the cause attached
   */
  public void ensureAvailability() {
    if (UNAVAILABILITY != null) {
      throw new IllegalStateException("The Portcullis JNA transport is not available: " + UNAVAILABILITY,
          UNAVAILABILITY);
    }
  }

  /**
   * {@inheritDoc}
   *
   * <p>TCP: {@code socket}, {@code SO_REUSEADDR}, {@code bind}, {@code listen}, and the kernel
   * filter if asked. Unix: see {@link UnixListener} for how the file is created without a window
   * of looser permissions. Inherited: checks it is a TCP or Unix socket that is listening (or, for
   * inetd, connected), makes it non-blocking and close-on-exec, and runs the same loop; a
   * descriptor that is not what it should be is left alone and reported.
   *
   * @throws IllegalStateException if the transport cannot run here; see {@link
   *     #ensureAvailability()}
   */
  @Override
  public Listener open(Endpoint endpoint, Acceptor acceptor) throws IOException {
    return open(endpoint, 1, acceptor);
  }

  /**
   * {@inheritDoc}
   *
   * <p>A TCP listener this transport opens gets one socket per loop, all bound to the port with
   * {@code SO_REUSEPORT}: the kernel hashes each new connection (by the peer's address and port) to
   * one socket's accept queue, so each loop accepts its share whether or not it was idle at that
   * moment (one socket in every epoll set with {@code EPOLLEXCLUSIVE} wakes the first idle loop in
   * the wait queue, which then takes most connections: accepted counts measured 1.99 max/min, and
   * up to 24:1 with one client, against 1.00 here). Every socket gets the kernel filter before it
   * listens. Only a process of the same effective user can bind the port with {@code SO_REUSEPORT}
   * too and so join the group (the kernel refuses any other with {@code EADDRINUSE}); such a process
   * could take this one's connections by other means anyway. A listener with one descriptor
   * (inherited from systemd, a Unix domain socket) is added to every loop's epoll set with {@code
   * EPOLLEXCLUSIVE} (Linux 4.5+), so a new connection wakes one idle loop, which accepts it and
   * keeps it; {@code -Dportcullis.acceptSpread=exclusive} serves TCP that way too. Loop threads are named {@code portcullis-loop-PORT-1}, {@code -2}... (without the index for one
   * loop).
   *
   * @throws IllegalStateException if the transport cannot run here
   */
  @Override
  public Listener open(Endpoint endpoint, int eventLoops, Acceptor acceptor) throws IOException {
    return open(endpoint, eventLoops, acceptor, OpenOptions.none());
  }

  /**
   * {@inheritDoc}
   *
   * <p>A kernel filter is attached to a TCP socket before any loop accepts: eBPF where the process
   * may load it, else classic BPF where the rules fit, else none, with one log line saying which;
   * the listener then has {@link KernelFiltering}. Other kinds of socket take none.
   *
   * @throws IllegalStateException if the transport cannot run here
   */
  @Override
  public Listener open(Endpoint endpoint, int eventLoops, Acceptor acceptor, OpenOptions options) throws IOException {
    Objects.requireNonNull(endpoint, "endpoint");
    Objects.requireNonNull(options, "options");
    Objects.requireNonNull(acceptor, "acceptor");
    if (eventLoops < 1) {
      throw new IllegalArgumentException("eventLoops must be at least 1, not " + eventLoops);
    }
    ensureAvailability();
    if (endpoint instanceof Endpoint.Tcp tcp) {
      return listenTcp(tcp, eventLoops, acceptor, options);
    }
    if (endpoint.isLocal()) {
      return UnixListener.open(endpoint, eventLoops, acceptor);
    }
    if (endpoint instanceof Endpoint.Inherited inherited) {
      return inherit(inherited.socket(), eventLoops, acceptor);
    }
    throw new AssertionError("an Endpoint kind without a case: " + endpoint); // Endpoint is sealed
  }

  /**
   * The system property that makes a TCP listener with several loops open one socket in every
   * loop's epoll set with {@code EPOLLEXCLUSIVE} instead of one {@code SO_REUSEPORT} socket per loop:
   * {@code exclusive}.
   */
  static final String ACCEPT_SPREAD_PROPERTY = "portcullis.acceptSpread";

  private static Listener listenTcp(Endpoint.Tcp endpoint, int loops, Acceptor acceptor, OpenOptions options)
      throws IOException {
    int sockets = loops > 1 && !"exclusive".equals(System.getProperty(ACCEPT_SPREAD_PROPERTY)) ? loops : 1;
    int[] fds = Sockets.openTcpSockets(endpoint, sockets);
    KernelFilter filter = null;
    try {
      java.net.SocketAddress local = Sockets.localAddress(fds[0]);
      // Before listen(2): from the first SYN on, every socket of the group drops denied peers.
      filter = options.kernelFilter().isPresent()
          ? KernelFilter.attach(fds, options.kernelFilter().get(), KernelFilter.where(local)) : null;
      for (int fd : fds) {
        Sockets.listen(fd, endpoint.backlog());
      }
      ListeningSocket socket = ListeningSocket.start(fds, loops, acceptor, local, true);
      socket.kernelFilter(filter);
      return socket;
    } catch (IOException | RuntimeException e) {
      for (int fd : fds) {
        LibC.close(fd);
      }
      if (filter != null) {
        filter.close();
      }
      throw e;
    }
  }

  private static Listener inherit(InheritedSocket socket, int loops, Acceptor acceptor) throws IOException {
    Sockets.adopt(socket);
    if (socket.connected()) {
      return InheritedConnection.start(socket.descriptor(), acceptor);
    }
    int fd = socket.descriptor();
    return ListeningSocket.start(fd, loops, acceptor, Sockets.localAddress(fd), false);
  }

  @Override
  public String toString() {
    return "JnaTransport[" + (isAvailable() ? "available" : "unavailable: " + UNAVAILABILITY) + "]";
  }
}
