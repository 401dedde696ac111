package dev.portcullis.jetty;

import dev.portcullis.admission.PendingHandshake;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.channels.SocketChannel;
import java.util.concurrent.atomic.AtomicBoolean;
import org.eclipse.jetty.io.EndPoint;
import org.eclipse.jetty.util.thread.Scheduler;

/**
 * One connection the guard let in at accept, from then until its release: its socket peer, and,
 * behind a PROXY protocol factory, its pending handshake until the relayed client is decided.
 */
final class Admitted {
  final SocketChannel channel;
  final InetSocketAddress socketPeer;
  /** When it was let in ({@link System#nanoTime()}), for the connection listeners. */
  final long since = System.nanoTime();
  /** Null when no PROXY step runs on the connector. */
  volatile PendingHandshake pending;
  /** The socket's endpoint once Jetty made it (to close it the way Jetty expects). */
  volatile EndPoint endPoint;
  volatile Scheduler.Task timeout;
  /** Set once, by whichever ends the handshake first: the relayed client's decision, the deadline or the close. */
  private final AtomicBoolean handshakeOver = new AtomicBoolean();
  private final AtomicBoolean released = new AtomicBoolean();

  Admitted(SocketChannel channel, InetSocketAddress socketPeer) {
    this.channel = channel;
    this.socketPeer = socketPeer;
  }

  /** Whether the caller is the one that ends the handshake (true once). */
  boolean endHandshake() {
    if (!handshakeOver.compareAndSet(false, true)) {
      return false;
    }
    Scheduler.Task t = timeout;
    if (t != null) {
      t.cancel();
    }
    return true;
  }

  /** Whether the caller is the one that releases the connection (true once). */
  boolean release() {
    return released.compareAndSet(false, true);
  }

  /** Closes the connection from any thread: through its endpoint if Jetty made one, else the socket. */
  void close() {
    EndPoint e = endPoint;
    if (e != null) {
      e.close();
    } else {
      closeQuietly(channel);
    }
  }

  static void closeQuietly(SocketChannel channel) {
    try {
      channel.close();
    } catch (IOException ignored) {
      // closing an accepted socket: nothing to do about a failure
    }
  }
}
