package dev.portcullis;

import dev.portcullis.policy.AccessPolicy;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.time.Duration;

/**
 * A started server. Close it to stop listening and release the port.
 *
 * <pre>{@code
 * try (RunningServer server = Server.on(0).allow("127.0.0.1").handle(h).start()) {
 *     System.out.println("listening on " + server.localAddress());
 *     server.awaitTermination();   // until another thread (or a shutdown hook) closes it
 * }
 * }</pre>
 */
public interface RunningServer extends AutoCloseable {
  /**
   * The address the server listens on: an {@link java.net.InetSocketAddress} with the real port
   * when 0 was asked for, or a {@link java.net.UnixDomainSocketAddress} for a Unix domain socket.
   *
   * @return the listening address, never null
   */
  SocketAddress localAddress();

  /**
   * The TCP port the server listens on, the real one when 0 was asked for.
   *
   * @return the port
   * @throws IllegalStateException for a server on a Unix domain socket, which has no port
   */
  default int port() {
    if (localAddress() instanceof java.net.InetSocketAddress ip) {
      return ip.getPort();
    }
    throw new IllegalStateException("A server on " + localAddress() + " has no TCP port");
  }

  /**
   * The access policy in force.
   *
   * @return the policy, never null
   */
  AccessPolicy policy();

  /**
   * A snapshot of the server's counters.
   *
   * @return the counters as of this call, never null
   */
  ServerStats stats();

  /**
   * Stops accepting, closes the listening socket and every open connection (handlers see end of
   * stream or an exception), and stops the server's own handler threads. Returns once the port is
   * released. Idempotent; safe from any thread.
   */
  @Override
  void close();

  /**
   * Blocks until the server is closed.
   *
   * @throws InterruptedException if the calling thread is interrupted while waiting
   */
  void awaitTermination() throws InterruptedException;

  /**
   * Blocks until the server is closed or the timeout passes.
   *
   * @param timeout how long to wait at most
   * @return whether the server is closed
   * @throws InterruptedException if the calling thread is interrupted while waiting
   */
  boolean awaitTermination(Duration timeout) throws InterruptedException;
}
