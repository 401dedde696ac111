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

  /** Closes the connection. Idempotent. */
  @Override
  void close();
}
