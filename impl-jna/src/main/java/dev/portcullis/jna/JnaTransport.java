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
   * <p>Every kind of listening socket is served the same way: the one descriptor is added to each
   * loop's epoll set with {@code EPOLLEXCLUSIVE} (Linux 4.5+), so a new connection wakes one idle
   * loop, which accepts it and keeps it. There is one accept queue and, for TCP, one kernel filter.
   * Loop threads are named {@code portcullis-loop-PORT-1}, {@code -2}... (without the index for one
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

  private static Listener listenTcp(Endpoint.Tcp endpoint, int loops, Acceptor acceptor, OpenOptions options)
      throws IOException {
    int fd = Sockets.openTcpListener(endpoint);
    KernelFilter filter = null;
    try {
      java.net.SocketAddress local = Sockets.localAddress(fd);
      filter = options.kernelFilter().isPresent()
          ? KernelFilter.attach(fd, options.kernelFilter().get(), KernelFilter.where(local)) : null;
      ListeningSocket socket = ListeningSocket.start(fd, loops, acceptor, local, true);
      socket.kernelFilter(filter);
      return socket;
    } catch (IOException | RuntimeException e) {
      LibC.close(fd);
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
