package dev.portcullis;

import dev.portcullis.handshake.Identity;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.util.Optional;

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
public interface Connection extends AutoCloseable {
  /**
   * The peer: the socket's peer address, or the address a handshake step established (the real
   * client behind a trusted proxy).
   *
   * @return the peer's address, never null
   */
  SocketAddress peer();

  /**
   * The socket's own peer address, which may be a proxy's.
   *
   * @return the socket's peer address, never null
   */
  SocketAddress socketPeer();

  /**
   * The local address the connection was accepted on.
   *
   * @return the local address, never null
   */
  SocketAddress localAddress();

  /**
   * What the peer proved during the handshake (a key id, a certificate), if any step said.
   *
   * @return the identity, or empty if no step set one
   */
  Optional<Identity> identity();

  /**
   * A value a handshake step attached, such as the {@link dev.portcullis.handshake.ProxyHeader}
   * the PROXY protocol step parsed.
   *
   * @param <T> the attribute's type
   * @param type the class the value was attached under
   * @return the value, or empty if no step attached one of that type
   */
  <T> Optional<T> attribute(Class<T> type);

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
