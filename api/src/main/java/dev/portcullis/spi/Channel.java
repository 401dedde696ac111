package dev.portcullis.spi;

import java.io.IOException;
import java.net.SocketAddress;
import java.util.concurrent.TimeUnit;

/**
 * One accepted connection, non-blocking, owned by an event loop. {@code read}, {@code write},
 * {@code close} and the {@code when...} registrations may be called from any thread; callbacks run
 * on the event loop. One thread may read while another writes.
 *
 * <p>The transport guarantees that a closed channel never reads or writes a descriptor that the
 * kernel has since given to another connection.
 */
public interface Channel {
  /**
   * The socket's peer address.
   *
   * @return the peer address
   */
  SocketAddress remoteAddress();

  /**
   * The credentials of a Unix domain socket peer, as the kernel recorded them when it connected.
   *
   * @return the credentials, or empty for a TCP connection
   */
  default java.util.Optional<dev.portcullis.policy.PeerCredentials> peerCredentials() {
    return java.util.Optional.empty();
  }

  /**
   * The socket's local address.
   *
   * @return the local address
   */
  SocketAddress localAddress();

  /**
   * Reads what is available without blocking.
   *
   * @param dst the array to read into
   * @param offset where in {@code dst} the bytes go
   * @param length the most bytes to read
   * @return the number of bytes read, 0 if none are available now, or -1 at end of stream
   * @throws IOException if the connection failed or was closed
   */
  int read(byte[] dst, int offset, int length) throws IOException;

  /**
   * Writes what fits without blocking.
   *
   * @param src the array to write from
   * @param offset where in {@code src} the bytes start
   * @param length the number of bytes to write at most
   * @return the number of bytes written; 0 if the socket's send buffer is full
   * @throws IOException if the connection failed or was closed
   */
  int write(byte[] src, int offset, int length) throws IOException;

  /**
   * Reads what is available into {@code dst} without blocking, advancing its position. A transport
   * reads straight into a direct buffer's memory; the default goes through a heap array.
   *
   * @param dst the buffer to read into, up to its limit
   * @return the number of bytes read, 0 if none are available now, or -1 at end of stream
   * @throws IOException if the connection failed or was closed
   */
  default int read(java.nio.ByteBuffer dst) throws IOException {
    if (dst.hasArray()) {
      int n = read(dst.array(), dst.arrayOffset() + dst.position(), dst.remaining());
      if (n > 0) {
        dst.position(dst.position() + n);
      }
      return n;
    }
    byte[] tmp = new byte[dst.remaining()];
    int n = read(tmp, 0, tmp.length);
    if (n > 0) {
      dst.put(tmp, 0, n);
    }
    return n;
  }

  /**
   * Writes what fits from {@code src} without blocking, advancing its position. A transport sends
   * straight from a direct buffer's memory; the default goes through a heap array.
   *
   * @param src the buffer to write from, between its position and limit
   * @return the number of bytes written; 0 if the socket's send buffer is full
   * @throws IOException if the connection failed or was closed
   */
  default int write(java.nio.ByteBuffer src) throws IOException {
    int n;
    if (src.hasArray()) {
      n = write(src.array(), src.arrayOffset() + src.position(), src.remaining());
    } else {
      byte[] tmp = new byte[src.remaining()];
      src.duplicate().get(tmp);
      n = write(tmp, 0, tmp.length);
    }
    if (n > 0) {
      src.position(src.position() + n);
    }
    return n;
  }

  /**
   * Half-closes: the peer reads the end of stream after the bytes already written (a TCP FIN, as
   * {@code shutdown(SHUT_WR)}), while this side can still read what the peer sends. A later {@link
   * #write} fails with an {@link IOException}; {@link #close()} is still needed to release the
   * connection. Calling it twice is harmless. The default cannot half-close and throws; a codec
   * ({@link ForwardingChannel}) does not inherit its delegate's, since a codec may owe the peer
   * bytes of its own first (TLS: a close_notify).
   *
   * @throws IOException if the channel is closed or the socket fails
   * @throws UnsupportedOperationException if this channel cannot half-close
   */
  default void shutdownOutput() throws IOException {
    throw new UnsupportedOperationException(getClass().getSimpleName() + " cannot half-close; close() it instead");
  }

  /**
   * Runs {@code task} once on the event loop when the channel becomes readable, reaches end of
   * stream, fails, or is closed. A later call replaces an earlier pending one.
   *
   * @param task the task to run once
   */
  void whenReadable(Runnable task);

  /**
   * Blocks the calling thread until the channel has something to read (bytes, the end of stream
   * or an error) or is closed: a way for a handler thread to wait with no hand-off through the
   * event loop, which costs microseconds a message on a busy CPU. A platform thread may wait in
   * the kernel; a virtual thread must be parked, never hold its carrier in a blocking call, so a
   * channel that cannot park one returns {@code false} for it. Returns {@code true} once it has
   * waited (the caller reads again: there may still be nothing, as after a spurious wake), or
   * {@code false} at once if this channel cannot wait for this thread, and the caller then uses
   * {@link #whenReadable}. Closing the channel from any thread wakes a waiter. Never call it on the
   * event loop. The default cannot.
   *
   * @return whether it waited
   * @throws IOException if the channel is closed or the wait fails
   */
  default boolean awaitReadable() throws IOException {
    return false;
  }

  /**
   * As {@link #awaitReadable}, for room to write; the caller falls back to {@link #whenWritable}
   * when it returns {@code false}. The default cannot.
   *
   * @return whether it waited
   * @throws IOException if the channel is closed or the wait fails
   */
  default boolean awaitWritable() throws IOException {
    return false;
  }

  /**
   * Ends the input early, the way {@code shutdown(fd, SHUT_RD)} does: what a server that is
   * stopping uses to release a handler waiting for a request that will not be served. A thread
   * blocked in {@link #awaitReadable} returns, a pending {@link #whenReadable} task and a {@link
   * #watchReadable} watch run, and a later {@code awaitReadable} returns at once; reads may still
   * return bytes that had arrived, then return -1. Writing still works and the channel stays open
   * until {@link #close}. Idempotent. The peer is not told over TCP (a Unix domain socket peer's
   * writes fail from then on).
   *
   * <p>A channel that implements {@link #awaitReadable} must implement this too. The default
   * cannot and returns {@code false}; the caller then closes the channel instead.
   *
   * @return whether the input was ended; {@code false} if this channel cannot do it
   */
  default boolean shutdownInput() {
    return false;
  }

  /**
   * An executor that starts each task on a new virtual thread whose carrier is this channel's
   * event loop: the loop runs the thread between its epoll waits, and when the thread waits for
   * this channel ({@link #awaitReadable}) the loop resumes it in the same round that sees the
   * socket ready, with no other thread involved. The server uses it for a blocking handler when
   * the user gave no executor and {@link Listener#loopCarriedExecutors()} is true. A task that
   * holds its carrier (computes, spins, blocks in a native call) holds the loop; a transport that
   * offers this must say what it does then. The default, for a transport that cannot, is empty.
   *
   * @return the executor, or empty
   */
  default java.util.Optional<java.util.concurrent.Executor> loopCarriedExecutor() {
    return java.util.Optional.empty();
  }

  /**
   * Runs {@code task} on the event loop each time new bytes arrive, at end of stream, on an error
   * and once at close, until {@code watchReadable(null)}: a standing registration, so a busy
   * connection costs no re-arming per message. The watch is edge-triggered: the task must read
   * until {@link #read} returns 0, -1 or fewer bytes than asked for, or run itself again with
   * {@link #execute}; bytes already there when it stops early raise no new event. A transport
   * must keep that promise for the end of stream too: when a short read leaves an end of stream
   * or an error behind (they came in the same event as the bytes), it runs the task again. Use it
   * instead of {@link #whenReadable} for a connection read for its whole life; a one-shot
   * {@code whenReadable} still pending when the watch starts is not cancelled, and runs too.
   *
   * @param task the task to run on each event, or null to stop watching
   */
  void watchReadable(Runnable task);

  /**
   * Runs {@code task} once on the event loop when the channel becomes writable, fails, or is
   * closed. A later call replaces an earlier pending one.
   *
   * @param task the task to run once
   */
  void whenWritable(Runnable task);

  /**
   * Runs {@code task} on the event loop after {@code delay}; the returned handle cancels it.
   *
   * @param task the task to run
   * @param delay how long to wait, in {@code unit}
   * @param unit the unit of {@code delay}
   * @return a handle that cancels the task if it has not run yet
   */
  Cancellable schedule(Runnable task, long delay, TimeUnit unit);

  /**
   * Runs {@code task} on the event loop, soon.
   *
   * @param task the task to run
   */
  void execute(Runnable task);

  /**
   * Whether the calling thread is this channel's event loop.
   *
   * @return {@code true} on the event loop thread
   */
  boolean inEventLoop();

  /**
   * Whether {@link #close()} has not been called.
   *
   * @return {@code true} until the channel is closed
   */
  boolean isOpen();

  /** Closes the connection; pending {@code when...} tasks run once more. Idempotent. */
  void close();

  /** A scheduled task that can still be cancelled. */
  @FunctionalInterface
  interface Cancellable {
    /** Cancels the task if it has not run yet. */
    void cancel();
  }
}
