package dev.portcullis;

import java.nio.ByteBuffer;

/**
 * Application code that runs on the transport's event loop, for servers that hold many mostly
 * idle connections or need the last microsecond: a connection waiting for input costs no thread
 * and no buffer, only its small per-connection state.
 *
 * <pre>{@code
 * Server.on(7000)
 *     .allow("10.0.0.0/8")
 *     .handleOnLoop((conn, data) -> conn.write(data))   // an echo server
 *     .start();
 * }</pre>
 *
 * <p>Every callback runs on the event loop, one at a time per connection, and must not block: a
 * blocked callback stalls every connection of that loop. Hand slow work to an executor and call
 * {@link LoopConnection#write} from there (it is safe from any thread, and waits while the
 * connection's queue is full). For code that is easier to write with blocking streams, use {@link
 * Handler} instead; see {@link Server.Builder#handle(Handler)}.
 *
 * <p>Output is bounded per connection (see {@link LoopConnection}): loop code that produces more
 * than it reads writes with {@link LoopConnection#tryWrite}, stops when it returns {@code false},
 * and resumes in {@link #onWritable}.
 *
 * <p>Anything a callback throws, an {@code Error} such as {@code OutOfMemoryError} or {@code
 * StackOverflowError} included, closes that connection at once, is counted in {@link
 * ServerStats#handlerFailures()} and logged at WARN with its stack (at most one line a second,
 * with the running count); the loop goes on serving its other connections. An {@code
 * OutOfMemoryError} is survived on the bet that the memory was the failed connection's, and freed
 * with it; if the whole heap is short the next allocations fail too. To have the process end and
 * be restarted instead, run it with {@code -XX:+ExitOnOutOfMemoryError}.
 */
@FunctionalInterface
public interface LoopHandler {
  /**
   * The connection passed the policy and the handshake chain. Called once, first; may write.
   *
   * @param connection the connection
   * @throws Exception to close the connection
   */
  default void onOpen(LoopConnection connection) throws Exception {}

  /**
   * Bytes arrived. {@code data} is valid only during this call: consume it, or copy what you
   * keep. Bytes left unconsumed are dropped.
   *
   * @param connection the connection
   * @param data the bytes read, from position to limit
   * @throws Exception to close the connection
   */
  void onData(LoopConnection connection, ByteBuffer data) throws Exception;

  /**
   * The connection's queue drained to {@link LoopConnection#LOW_WATER} after a {@link
   * LoopConnection#tryWrite} was refused or a write took it past {@link
   * LoopConnection#MAX_QUEUED}: producing can resume. Called once per such episode; not after the
   * connection is closed. The default does nothing.
   *
   * @param connection the connection
   * @throws Exception to close the connection
   */
  default void onWritable(LoopConnection connection) throws Exception {}

  /**
   * The server's graceful shutdown ({@link RunningServer#shutdown(java.time.Duration)}) has begun.
   * Called once, on the loop, for every open connection (for one handed over after that, right
   * after {@link #onOpen}); not when the server is only {@link RunningServer#close() closed}. The
   * default does nothing.
   *
   * <p>After it returns, the server closes the connection (once its queued output is written) as
   * soon as it has nothing in flight, the rule {@link Connection} describes for blocking handlers:
   * every byte received has been answered (the connection has written since bytes last came), and
   * the peer has sent something already or the connection has been open for at least {@link
   * Connection#FIRST_BYTES_WAIT}. That is checked now and each time {@link #onData} returns while
   * stopping. So an echo, or a handler that answers each message in {@code onData}, is closed
   * between messages; one that keeps part of a message across calls is closed once it has answered
   * it. A connection answered from another thread is not closed on that account (the answer may
   * come in several writes): it is closed at the end of the grace period, unless the handler closes
   * it itself, here or once its answer is written. Override this to say goodbye, or to close at a
   * better moment yourself.
   *
   * @param connection the connection
   * @throws Exception to close the connection at once
   */
  default void onStopping(LoopConnection connection) throws Exception {}

  /**
   * The peer closed its side of the connection. The default closes ours once queued output is
   * written.
   *
   * @param connection the connection
   * @throws Exception to close the connection at once
   */
  default void onEndOfStream(LoopConnection connection) throws Exception {
    connection.close();
  }

  /**
   * The connection is closed, by either side or by an error. Called once, last.
   *
   * @param connection the closed connection
   */
  default void onClose(LoopConnection connection) {}
}
