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
 */
public interface Connection extends PeerInfo, AutoCloseable {

  /**
   * Bytes from the peer; {@code read} returns -1 once the peer has closed its side.
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

  /** Closes the connection. Idempotent. */
  @Override
  void close();
}
