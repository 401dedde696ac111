package dev.portcullis;

import dev.portcullis.handshake.PeerInfo;
import java.io.InputStream;
import java.io.OutputStream;

/**
 * A connection handed to a {@link Handler}: who the peer is, what it proved, and blocking streams.
 *
 * <p>The streams block the calling thread, but not by blocking in the kernel: a read with no data
 * parks the thread until the event loop sees the socket readable. On JDK 21 and newer, handlers run
 * on virtual threads (pass {@code Executors.newVirtualThreadPerTaskExecutor()} to {@code
 * Server.executor}) therefore cost no carrier thread while they wait.
 *
 * <p>The output stream is not buffered: wrap it in a {@link java.io.BufferedOutputStream} for many
 * small writes. One thread may read while another writes; two threads must not read (or write) at
 * once. Closing either stream closes the connection.
 *
 * <p><b>When the server stops.</b> Once {@link RunningServer#shutdown(java.time.Duration)} has
 * begun, {@link #isStopping()} is true and the tasks given to {@link #onStopping} have run. A
 * connection with nothing in flight is then released at once: a read that finds no byte to return
 * returns -1 (end of stream) instead of waiting for the peer, so the usual {@code while ((line =
 * reader.readLine()) != null)} loop ends, the handler returns and the shutdown does not wait out its
 * grace period for an idle client. A read that has bytes to return still returns them. "Nothing in
 * flight" means:
 *
 * <ul>
 *   <li>every byte read from the peer has been answered: the handler has written since it last
 *       read (or has read nothing at all), and
 *   <li>the peer has sent something already, or the handler has had the connection for at least
 *       {@link #FIRST_BYTES_WAIT} (its first request may still be on its way: a client the kernel
 *       had accepted just before the shutdown is served, not turned away).
 * </ul>
 *
 * <p>So a handler in the middle of a request (it has read part of it and not answered yet) goes on
 * reading it, answers, and gets -1 at its next read; the shutdown waits for that, up to its grace
 * period. The rule sees bytes, not messages: a handler that reads ahead (a {@code BufferedReader}
 * that took a complete request and the start of the next one in one read, then answered the first)
 * may be given -1 in the middle of a message. A handler that must not take such an end for the
 * peer's checks {@link #isStopping()} when it sees -1 (or when a message ends early). After that
 * -1 the input stays at its end; writing still works until the handler returns or the grace period
 * ends.
 *
 * <pre>{@code
 * Server.on(7000).allow("10.0.0.0/8").handle(conn -> {
 *     var in = new BufferedReader(new InputStreamReader(conn.input(), UTF_8));
 *     var out = new PrintWriter(conn.output(), true, UTF_8);
 *     for (String line; (line = in.readLine()) != null; ) {
 *         out.println(answer(line));
 *     }
 *     if (conn.isStopping()) {
 *         out.println("BYE server stopping");   // the end came from the server, not the client
 *     }
 * });
 * }</pre>
 */
public interface Connection extends PeerInfo, AutoCloseable {
  /**
   * How long a connection whose peer has sent nothing yet may wait for its first bytes once the
   * server is stopping, counted from when its handler was called: one second. See the class
   * comment.
   */
  java.time.Duration FIRST_BYTES_WAIT = java.time.Duration.ofSeconds(1);

  /**
   * Bytes from the peer; {@code read} returns -1 once the peer has closed its side, or once the
   * server is stopping and the connection has nothing in flight (see the class comment; {@link
   * #isStopping()} tells the two apart).
   *
   * @return the connection's input stream (the same one on every call)
   */
  InputStream input();

  /**
   * Bytes to the peer, unbuffered.
   *
   * @return the connection's output stream (the same one on every call)
   */
  OutputStream output();

  /**
   * Half-closes: the peer reads the end of stream after the bytes already written (a TCP FIN, as
   * {@link java.net.Socket#shutdownOutput}), while {@link #input()} still reads what the peer
   * sends; a forwarder calls it when the far side has finished, as a direct connection would. A
   * later write fails; {@link #close()} is still needed. Calling it twice is harmless. A
   * connection over TLS cannot half-close (TLS 1.2 has no half-close) and throws.
   *
   * <pre>{@code
   * backend.getInputStream().transferTo(conn.output());
   * conn.shutdownOutput(); // the backend is done; the client may still be sending
   * }</pre>
   *
   * @throws java.io.IOException if the connection is closed or the socket fails
   * @throws UnsupportedOperationException if this connection cannot half-close (TLS)
   */
  default void shutdownOutput() throws java.io.IOException {
    throw new UnsupportedOperationException(getClass().getSimpleName() + " cannot half-close; close() it instead");
  }

  /**
   * Whether the server is stopping: {@link RunningServer#shutdown(java.time.Duration)} has begun.
   * Once true, it stays true. {@link RunningServer#close()} alone does not set it.
   *
   * @return {@code true} once the server's graceful shutdown has begun
   */
  boolean isStopping();

  /**
   * Runs {@code action} once when the server's graceful shutdown begins, on the thread that called
   * {@link RunningServer#shutdown(java.time.Duration)}, or at once on the calling thread if it has
   * begun already. Use it to end what an early end of stream does not reach: a thread of the
   * handler's own blocked elsewhere (such as a socket to a backend). The action must be quick and
   * must not block; an exception it throws is logged at WARN and ignored. Actions run in the order
   * given; not at all if the connection closes first, or if the server is only {@link
   * RunningServer#close() closed}.
   *
   * @param action what to do when the server starts stopping
   * @throws NullPointerException if {@code action} is null
   */
  void onStopping(Runnable action);

  /**
   * The server this connection came through: the same {@link RunningServer} that {@code start()}
   * returned, available from the first line of the handler, to read its {@link
   * RunningServer#stats() stats} or {@link RunningServer#penalties() penalties}, or to {@link
   * RunningServer#updatePolicy replace its policy}.
   *
   * @return the server, never null
   */
  RunningServer server();

  /** Closes the connection. Idempotent. */
  @Override
  void close();
}
