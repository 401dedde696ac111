package dev.portcullis.jna;

import com.sun.jna.Platform;
import dev.portcullis.spi.Acceptor;
import dev.portcullis.spi.ListenOptions;
import dev.portcullis.spi.InheritedSocket;
import dev.portcullis.spi.Listener;
import dev.portcullis.spi.UnixListenOptions;
import dev.portcullis.spi.Transport;
import java.io.IOException;
import java.nio.ByteOrder;
import java.util.Objects;
import java.util.Optional;

/**
 * The Linux transport: libc through direct-mapped JNA, one epoll loop per listener.
 *
 * <p>Found by {@link java.util.ServiceLoader} when {@code portcullis-jna} is on the class path, so
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
   * @throws IllegalStateException if the transport cannot run here; see {@link
   *     #ensureAvailability()}
   */
  @Override
  public Listener listen(ListenOptions options, Acceptor acceptor) throws IOException {
    Objects.requireNonNull(options, "options");
    Objects.requireNonNull(acceptor, "acceptor");
    ensureAvailability();
    int fd = Sockets.openTcpListener(options);
    try {
      if (options.kernelFilter().isPresent()) {
        KernelFilter.attach(fd, options.kernelFilter().get(), String.valueOf(Sockets.localAddress(fd)));
      }
      return ListeningSocket.start(fd, acceptor);
    } catch (IOException | RuntimeException e) {
      LibC.close(fd);
      throw e;
    }
  }

  /**
   * Listens on a Unix domain socket; see {@link UnixListener} for how the file is created without
   * a window of looser permissions.
   */
  @Override
  public Listener listenUnix(UnixListenOptions options, Acceptor acceptor) throws IOException {
    Objects.requireNonNull(options, "options");
    Objects.requireNonNull(acceptor, "acceptor");
    ensureAvailability();
    return UnixListener.open(options, acceptor);
  }

  /**
   * Serves a socket inherited from systemd or inetd: checks it is a TCP socket that is listening
   * (or, for inetd, connected), makes it non-blocking and close-on-exec, and runs the same loop as
   * {@link #listen}. A descriptor that is not what it should be is left alone and reported.
   */
  @Override
  public Listener inherit(InheritedSocket socket, Acceptor acceptor) throws IOException {
    Objects.requireNonNull(socket, "socket");
    Objects.requireNonNull(acceptor, "acceptor");
    ensureAvailability();
    Sockets.adopt(socket);
    if (socket.connected()) {
      return InheritedConnection.start(socket.descriptor(), acceptor);
    }
    return ListeningSocket.start(socket.descriptor(), acceptor);
  }

  @Override
  public String toString() {
    return "JnaTransport[" + (isAvailable() ? "available" : "unavailable: " + UNAVAILABILITY) + "]";
  }
}
