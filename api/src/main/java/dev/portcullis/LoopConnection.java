package dev.portcullis;

import dev.portcullis.handshake.Identity;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.nio.ByteBuffer;
import java.util.Optional;

/**
 * A connection served by a {@link LoopHandler}. Writes never block: what the socket does not take
 * at once is queued and written when it has room. While more than {@link #MAX_QUEUED} bytes are
 * queued, the connection stops reading, so a peer that does not read cannot make the server
 * buffer without bound.
 */
public interface LoopConnection {
  /** Queued output above which reading pauses until the queue drains. */
  int MAX_QUEUED = 1 << 20;

  /**
   * The peer, as the handshake chain left it (see {@link Connection#peer()}).
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
   * What the peer proved during the handshake, if any step said.
   *
   * @return the identity, or empty if no step set one
   */
  Optional<Identity> identity();

  /**
   * A value a handshake step attached; see {@link Connection#attribute}.
   *
   * @param <T> the attribute's type
   * @param type the class the value was attached under
   * @return the value, or empty if no step attached one of that type
   */
  <T> Optional<T> attribute(Class<T> type);

  /**
   * Writes the buffer's remaining bytes without blocking, queueing a copy of what the socket does
   * not take at once; the buffer's position is advanced to its limit. Safe from any thread. Bytes
   * written after {@link #close()} are dropped.
   *
   * @param data the bytes to write, from its position to its limit
   */
  void write(ByteBuffer data);

  /**
   * Bytes queued and not yet written.
   *
   * @return the number of queued bytes, zero when nothing waits
   */
  long queuedBytes();

  /** Closes the connection once queued output is written. Idempotent; safe from any thread. */
  void close();

  /** Closes the connection at once, dropping queued output. Idempotent; safe from any thread. */
  void abort();

  /**
   * Whether the connection is still open.
   *
   * @return {@code true} until the connection is closed or aborted
   */
  boolean isOpen();
}
