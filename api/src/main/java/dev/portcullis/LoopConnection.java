package dev.portcullis;

import dev.portcullis.handshake.PeerInfo;
import java.nio.ByteBuffer;

/**
 * A connection served by a {@link LoopHandler}. Writes never block: what the socket does not take
 * at once is queued and written when it has room. While more than {@link #MAX_QUEUED} bytes are
 * queued, the connection stops reading, so a peer that does not read cannot make the server
 * buffer without bound.
 */
public interface LoopConnection extends PeerInfo {
  /** Queued output above which reading pauses until the queue drains. */
  int MAX_QUEUED = 1 << 20;

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
