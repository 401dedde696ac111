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
 * {@link LoopConnection#write} from there (it is safe from any thread). For code that is easier to
 * write with blocking streams, use {@link Handler} instead; see {@link Server#handle(Handler)}.
 *
 * <p>An exception from a callback closes the connection and is logged and counted in {@link
 * ServerStats#handlerFailures()}.
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
