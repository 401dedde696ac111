package dev.portcullis;

import dev.portcullis.handshake.PeerInfo;
import java.nio.ByteBuffer;

/**
 * A connection served by a {@link LoopHandler}. What the socket does not take at once is copied
 * into a queue of this connection's own and written when the socket has room; that queue is
 * bounded, whichever thread writes:
 *
 * <ul>
 *   <li>{@link #tryWrite} never blocks and never takes the queue past {@link #MAX_QUEUED} (the
 *       high-water mark): it takes all of a buffer or none of it, and when it refuses, {@link
 *       LoopHandler#onWritable} is called once the queue has drained to {@link #LOW_WATER}.
 *   <li>{@link #write} on another thread (an executor, a timer) waits while the queue is at the
 *       high-water mark, so that a producer faster than the peer is held back instead of filling
 *       the heap; the queue never passes {@link #MAX_QUEUED}.
 *   <li>{@link #write} on an event loop thread (in a callback) cannot wait, so it always takes the
 *       bytes; while more than {@link #MAX_QUEUED} bytes are queued the connection stops reading,
 *       which holds back a handler that only answers what it reads (an echo, a request/response
 *       protocol). Loop code that produces on its own (a file, a broadcast) must use {@link
 *       #tryWrite} and {@link LoopHandler#onWritable}: an event-loop write that would take the
 *       queue past {@link #HARD_LIMIT} aborts the connection instead, logs a WARN and counts a
 *       handler failure.
 * </ul>
 *
 * <p>So at most {@link #MAX_QUEUED} bytes (plus what the last on-loop write added) wait for a peer
 * that reads slowly or not at all, {@link #HARD_LIMIT} in the worst case. Each write copies what
 * it queues and nothing more; small writes are appended to the queue's last chunk.
 */
public interface LoopConnection extends PeerInfo {
  /**
   * The high-water mark: 1 MiB. {@link #tryWrite} refuses and an off-loop {@link #write} waits
   * rather than queue more than this; reading pauses while more than this is queued.
   */
  int MAX_QUEUED = 1 << 20;

  /**
   * The low-water mark: 256 KiB. Once the queue has drained to this, reading resumes, waiting
   * writers go on, and {@link LoopHandler#onWritable} is called if a write was refused or went
   * past {@link #MAX_QUEUED}.
   */
  int LOW_WATER = MAX_QUEUED / 4;

  /**
   * The hard limit, 16 MiB: an event-loop {@link #write} that would queue more than this closes
   * the connection at once, dropping its output; see the class comment.
   */
  int HARD_LIMIT = 16 * MAX_QUEUED;

  /**
   * Writes all of the buffer's remaining bytes, advancing its position to its limit, and queues a
   * copy of what the socket does not take at once. Safe from any thread; bytes written after
   * {@link #close()} are dropped.
   *
   * <p>On another thread than an event loop, it waits while the queue is at {@link #MAX_QUEUED},
   * taking the buffer in pieces as room is made: that is the back-pressure for a producer faster
   * than the peer. It returns once all bytes are queued, or when the connection closes (the rest
   * is then dropped; check {@link #isOpen()}). If the thread is interrupted while it waits, it
   * returns with its interrupt status set and the bytes not taken left in the buffer, from its
   * position. Never call it holding a lock that loop code needs.
   *
   * <p>On an event loop thread it never waits: see the class comment for what bounds it there.
   *
   * @param data the bytes to write, from its position to its limit
   */
  void write(ByteBuffer data);

  /**
   * Writes the buffer's remaining bytes if they fit under {@link #MAX_QUEUED}, never waiting; safe
   * from any thread. Either all of them are taken (written or queued, the position advanced to
   * the limit) or none (the buffer untouched). After a refusal on an open connection, {@link
   * LoopHandler#onWritable} is called on the loop once the queue has drained to {@link
   * #LOW_WATER}: loop code stops producing on {@code false} and resumes there.
   *
   * @param data the bytes to write, from its position to its limit
   * @return {@code true} if all bytes were taken; {@code false} if the queue has no room for them
   *     now, or the connection is closed or closing
   * @throws IllegalArgumentException if more than {@link #MAX_QUEUED} bytes remain in {@code
   *     data}: they could never fit; split them, or use {@link #write}
   */
  boolean tryWrite(ByteBuffer data);

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
   * Whether the server is stopping: {@link RunningServer#shutdown(java.time.Duration)} has begun
   * (see {@link LoopHandler#onStopping}). Once true, it stays true. {@link RunningServer#close()}
   * alone does not set it.
   *
   * @return {@code true} once the server's graceful shutdown has begun
   */
  boolean isStopping();

  /**
   * The server this connection came through: the same {@link RunningServer} that {@code start()}
   * returned, available from {@link LoopHandler#onOpen} on, to read its {@link
   * RunningServer#stats() stats} or {@link RunningServer#penalties() penalties}, or to {@link
   * RunningServer#updatePolicy replace its policy} (off the loop: replacing a policy is not a
   * callback's work).
   *
   * @return the server, never null
   */
  RunningServer server();

  /**
   * Whether the connection is still open.
   *
   * @return {@code true} until the connection is closed or aborted
   */
  boolean isOpen();
}
