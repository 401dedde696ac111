package dev.portcullis.internal;

import dev.portcullis.LoopConnection;
import dev.portcullis.LoopHandler;
import dev.portcullis.admission.Counters;
import dev.portcullis.spi.Channel;
import dev.portcullis.spi.LogThrottle;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayDeque;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A {@link LoopConnection}. Reads go into one buffer per loop thread, so an idle connection owns
 * no buffer; only output the socket did not take is queued per connection.
 *
 * <p>The read side and the callbacks live on the event loop. The output queue is shared: any
 * thread appends to it under {@code lock}, and only the loop writes from it to the socket. {@code
 * queued} counts the bytes appended and not yet sent, so the high-water mark is checked where the
 * bytes are taken, before the copy exists; there is no hand-off task per write, only one flush
 * scheduled per connection while anything waits ({@code flushPending}). A thread that must wait
 * for room waits on {@code room}, signalled when the queue drains to the low-water mark or the
 * connection closes (a {@link ReentrantLock}, so a virtual thread waiting there does not pin its
 * carrier).
 */
final class LoopConnectionImpl extends PeerView implements LoopConnection, Pipeline.Stoppable {
  private static final Logger log = LoggerFactory.getLogger(LoopConnectionImpl.class);
  private static final int READ_BUFFER = 64 * 1024;
  private static final int READS_PER_WAKEUP = 16;
  /** Queue chunks grow up to this for small writes, which are appended to the last chunk. */
  private static final int CHUNK = 8 * 1024;
  // Direct, so a transport can read into it and send out of it without copying.
  private static final ThreadLocal<ByteBuffer> BUFFER =
      ThreadLocal.withInitial(() -> ByteBuffer.allocateDirect(READ_BUFFER));
  /** Set on every event loop thread that runs callbacks: a write from there must never wait. */
  private static final ThreadLocal<Boolean> LOOP_THREAD = new ThreadLocal<>();
  /** One WARN a second for handler failures, across the JVM's loop-handler servers. */
  private static final LogThrottle FAILURE_LOG = LogThrottle.every(1, TimeUnit.SECONDS);

  private final Channel channel;
  private final LoopHandler handler;
  private final Counters counters;
  private final Runnable readTask = this::onReadable;
  private final Runnable flushTask = this::flush;
  private final ReentrantLock lock = new ReentrantLock();
  private final Condition room = lock.newCondition();
  // Guarded by lock.
  private ArrayDeque<ByteBuffer> queue;
  private boolean flushPending;
  private boolean wantWritable;
  private int waiters;
  // Written under lock, read anywhere.
  private volatile long queued;
  // Loop only.
  private boolean paused;
  private volatile boolean closing;
  private volatile boolean closed;
  // The graceful shutdown (see LoopHandler.onStopping).
  private final Pipeline pipeline;
  private final long startNanos = System.nanoTime();
  private volatile boolean stopping;
  /** Loop only: onStopping was called; the connection closes once nothing is in flight. */
  private boolean stopHandled;
  /** Bytes came that the handler has not answered: it has not written since. */
  private volatile boolean unanswered;
  /** The peer has sent something (or the first-bytes wait is over). Loop only. */
  private boolean heardFrom;

  LoopConnectionImpl(Channel channel, PeerFacts facts, LoopHandler handler, Counters counters, Pipeline pipeline) {
    super(facts);
    this.channel = channel;
    this.handler = handler;
    this.counters = counters;
    this.pipeline = pipeline;
  }

  @Override
  public boolean isStopping() {
    return stopping;
  }

  @Override
  public dev.portcullis.RunningServer server() {
    return pipeline.server;
  }

  /** The server started stopping: onStopping runs on the loop, then the rule of closing when idle. */
  @Override
  public void stop() {
    stopping = true;
    channel.execute(this::stopOnLoop);
  }

  private void stopOnLoop() {
    if (closed || stopHandled) {
      return;
    }
    stopHandled = true;
    try {
      handler.onStopping(this);
    } catch (Throwable t) {
      fail(t);
      return;
    }
    if (!heardFrom) {
      // Its first request may still be on its way: look again when the first-bytes wait is over.
      long left = dev.portcullis.Connection.FIRST_BYTES_WAIT.toNanos() - (System.nanoTime() - startNanos);
      if (left > 0) {
        channel.schedule(() -> {
          heardFrom = true;
          closeIfIdle();
        }, left, TimeUnit.NANOSECONDS);
        return;
      }
      heardFrom = true;
    }
    closeIfIdle();
  }

  /** On the loop, while stopping: closes (after queued output) once nothing is in flight. */
  private void closeIfIdle() {
    if (stopHandled && heardFrom && !unanswered && !closed && !closing) {
      close();
    }
  }

  /** Runs on the loop: opens the handler, delivers bytes left over from the handshake, reads. */
  void open(byte[] leftover) {
    if (LOOP_THREAD.get() == null) {
      LOOP_THREAD.set(Boolean.TRUE);
    }
    try {
      handler.onOpen(this);
      if (leftover != null && !closed) {
        heardFrom = true;
        unanswered = true;
        handler.onData(this, ByteBuffer.wrap(leftover));
      }
    } catch (Throwable t) {
      fail(t);
      return;
    }
    armRead();
  }

  /** Starts the standing, edge-triggered read watch (again, after a pause). */
  private void armRead() {
    if (!closed && !closing && !paused) {
      channel.watchReadable(readTask);
    }
  }

  private void onReadable() {
    readSome();
    if (stopHandled) {
      closeIfIdle();
    }
  }

  private void readSome() {
    if (closed) {
      return;
    }
    if (closing || paused) {
      return;
    }
    ByteBuffer buffer = BUFFER.get();
    try {
      // The watch is edge-triggered: read until the socket is drained (a short read or 0), or
      // come back later by ourselves when this connection has had its fair share for now.
      for (int i = 0; i < READS_PER_WAKEUP; i++) {
        buffer.clear();
        int n = channel.read(buffer);
        if (n > 0) {
          buffer.flip();
          heardFrom = true;
          if (!unanswered) {
            unanswered = true;
          }
          handler.onData(this, buffer);
          if (closed || closing || paused || n < READ_BUFFER) {
            return;
          }
        } else if (n == 0) {
          return;
        } else {
          channel.watchReadable(null);
          handler.onEndOfStream(this);
          return;
        }
      }
      channel.execute(readTask);
    } catch (IOException e) {
      log.debug("Read from {} failed: {}", who(), e.getMessage());
      closeNow();
    } catch (Throwable t) {
      fail(t);
    }
  }

  @Override
  public void write(ByteBuffer data) {
    if (unanswered && data.hasRemaining()) {
      unanswered = false;
    }
    if (channel.inEventLoop()) {
      writeOnLoop(data, false);
    } else if (LOOP_THREAD.get() != null) {
      writeFromOtherLoop(data);
    } else {
      writeWaiting(data);
    }
  }

  @Override
  public boolean tryWrite(ByteBuffer data) {
    int n = data.remaining();
    boolean taken = tryWriteAll(data, n);
    if (taken && n > 0 && unanswered) {
      unanswered = false;
    }
    return taken;
  }

  private boolean tryWriteAll(ByteBuffer data, int n) {
    if (n > MAX_QUEUED) {
      throw new IllegalArgumentException("tryWrite of " + n + " bytes: more than MAX_QUEUED (" + MAX_QUEUED
          + ") can never fit; split them, or use write");
    }
    if (channel.inEventLoop()) {
      return writeOnLoop(data, true);
    }
    boolean schedule;
    lock.lock();
    try {
      if (closed || closing) {
        return false;
      }
      if (queued + n > MAX_QUEUED) {
        wantWritable = true;
        return false;
      }
      schedule = n > 0 && append(data, n);
    } finally {
      lock.unlock();
    }
    if (schedule) {
      channel.execute(flushTask);
    }
    return true;
  }

  /**
   * A write on this connection's loop: straight to the socket when nothing is queued ahead of it,
   * the rest queued. {@code bounded}: refuse (false) rather than pass the high-water mark;
   * otherwise always take the bytes, pause reading past the mark, and abort past the hard limit.
   */
  private boolean writeOnLoop(ByteBuffer data, boolean bounded) {
    if (closed || closing) {
      if (!bounded) {
        data.position(data.limit());
      }
      return false;
    }
    int n = data.remaining();
    if (n == 0) {
      return true;
    }
    boolean armWritable = false;
    lock.lock();
    try {
      if (bounded && queued + n > MAX_QUEUED) {
        wantWritable = true;
        return false;
      }
      if (queued + n > HARD_LIMIT) {
        overLimit(n);
        data.position(data.limit());
        n = -1;
      } else {
        if (queue == null || queue.isEmpty()) {
          writeSome(data);
        }
        if (data.hasRemaining()) {
          armWritable = append(data, data.remaining());
        }
        if (queued > MAX_QUEUED) {
          wantWritable = true;
        }
      }
    } catch (IOException e) {
      log.debug("Write to {} failed: {}", who(), e.getMessage());
      n = -1; // taken, as bytes written to a connection that then fails always are
    } finally {
      lock.unlock();
    }
    if (n < 0) {
      closeNow();
      return !bounded;
    }
    if (armWritable) {
      channel.whenWritable(flushTask);
    }
    pauseIfFull();
    return true;
  }

  /** A write on another event loop's thread: it must not wait, so it is bounded as the loop's own. */
  private void writeFromOtherLoop(ByteBuffer data) {
    int n = data.remaining();
    boolean schedule = false;
    lock.lock();
    try {
      if (closed || closing) {
        data.position(data.limit());
        return;
      }
      if (queued + n > HARD_LIMIT) {
        overLimit(n);
        data.position(data.limit());
        closing = true; // until the abort reaches the loop, later writes are dropped, not counted again
        channel.execute(this::abort);
        return;
      }
      schedule = n > 0 && append(data, n);
      if (queued > MAX_QUEUED) {
        wantWritable = true;
      }
    } finally {
      lock.unlock();
    }
    if (schedule) {
      channel.execute(flushTask);
    }
  }

  /** A write on any other thread: takes what fits under the high-water mark, waits for the rest. */
  private void writeWaiting(ByteBuffer data) {
    lock.lock();
    try {
      while (data.hasRemaining()) {
        if (closed || closing) {
          data.position(data.limit());
          return;
        }
        long free = MAX_QUEUED - queued;
        if (free > 0) {
          if (append(data, (int) Math.min(free, data.remaining()))) {
            channel.execute(flushTask); // before waiting: the flush is what makes room
          }
          continue;
        }
        waiters++;
        try {
          room.await();
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          return;
        } finally {
          waiters--;
        }
      }
    } finally {
      lock.unlock();
    }
  }

  /**
   * Under the lock: copies {@code n} bytes of {@code data} to the end of the queue, filling the
   * last chunk's room first. True if the caller must now schedule a flush.
   */
  private boolean append(ByteBuffer data, int n) {
    if (queue == null) {
      queue = new ArrayDeque<>(4);
    }
    ByteBuffer tail = queue.peekLast();
    int left = n;
    if (tail != null && tail.capacity() > tail.limit()) {
      int k = Math.min(tail.capacity() - tail.limit(), left);
      int at = tail.limit();
      tail.limit(at + k);
      tail.put(at, data, data.position(), k);
      data.position(data.position() + k);
      left -= k;
    }
    if (left > 0) {
      // Exact for a large write; for small ones, chunks that double up to CHUNK so that many of
      // them share one buffer without a first small write paying for a whole chunk.
      int capacity = left >= CHUNK ? left : Math.min(CHUNK, Math.max(left, tail == null ? 0 : 2 * tail.capacity()));
      ByteBuffer chunk = ByteBuffer.allocate(capacity);
      chunk.put(0, data, data.position(), left).limit(left);
      data.position(data.position() + left);
      queue.add(chunk);
    }
    queued += n;
    if (flushPending) {
      return false;
    }
    flushPending = true;
    return true;
  }

  private void writeSome(ByteBuffer data) throws IOException {
    while (data.hasRemaining()) {
      if (channel.write(data) == 0) {
        return;
      }
    }
  }

  /** On the loop, when the socket has room or bytes were appended from another thread. */
  private void flush() {
    if (closed) {
      return;
    }
    boolean empty = true;
    boolean tellWritable = false;
    boolean failed = false;
    lock.lock();
    try {
      while (queue != null && !queue.isEmpty()) {
        ByteBuffer head = queue.peek();
        int before = head.remaining();
        writeSome(head);
        queued -= before - head.remaining();
        if (head.hasRemaining()) {
          break;
        }
        queue.poll();
      }
      empty = queue == null || queue.isEmpty();
      if (empty) {
        flushPending = false;
      }
      if (queued <= LOW_WATER) {
        if (waiters > 0) {
          room.signalAll();
        }
        tellWritable = wantWritable;
        wantWritable = false;
      }
    } catch (IOException e) {
      log.debug("Write to {} failed: {}", who(), e.getMessage());
      failed = true;
    } finally {
      lock.unlock();
    }
    if (failed) {
      closeNow();
      return;
    }
    if (!empty) {
      channel.whenWritable(flushTask);
    } else if (closing) {
      closeNow();
      return;
    }
    pauseIfFull();
    if (paused && queued <= LOW_WATER) {
      paused = false;
      armRead();
      channel.execute(readTask); // bytes that arrived while paused raise no new edge
    }
    if (tellWritable && !closed) {
      try {
        handler.onWritable(this);
      } catch (Throwable t) {
        fail(t);
      }
    }
  }

  /** On the loop: reading stops while more than the high-water mark is queued. */
  private void pauseIfFull() {
    if (!paused && !closed && queued > MAX_QUEUED) {
      paused = true;
      channel.watchReadable(null);
    }
  }

  /**
   * Under the lock: loop code wrote past the hard limit, counted as the handler's failure; the
   * caller closes the connection.
   */
  private void overLimit(int n) {
    long failures = counters.handlerFailures.incrementAndGet();
    if (FAILURE_LOG.due()) {
      warn("LoopHandler for {} wrote past the hard limit of {} queued bytes ({} queued, {} more); the connection"
          + " is closed. Loop code that writes more than it reads must use tryWrite and onWritable"
          + " ({} handler failures so far)", who(), HARD_LIMIT, queued, n, failures);
    }
  }

  @Override
  public long queuedBytes() {
    return queued;
  }

  @Override
  public void close() {
    if (!channel.inEventLoop()) {
      channel.execute(this::close);
      return;
    }
    if (closed || closing) {
      return;
    }
    boolean empty;
    lock.lock();
    try {
      closing = true;
      empty = queue == null || queue.isEmpty();
      room.signalAll(); // waiting writers would only have their bytes dropped
    } finally {
      lock.unlock();
    }
    if (empty) {
      closeNow();
    }
  }

  @Override
  public void abort() {
    if (!channel.inEventLoop()) {
      channel.execute(this::abort);
      return;
    }
    closeNow();
  }

  private void closeNow() {
    if (closed) {
      return;
    }
    closed = true;
    pipeline.forget(this);
    lock.lock();
    try {
      queue = null;
      queued = 0;
      flushPending = false;
      wantWritable = false;
      room.signalAll();
    } finally {
      lock.unlock();
    }
    channel.close();
    try {
      handler.onClose(this);
    } catch (Throwable t) {
      long failures = counters.handlerFailures.incrementAndGet();
      if (FAILURE_LOG.due()) {
        warn("LoopHandler.onClose failed for {} ({} handler failures so far)", who(), failures, t);
      }
    }
  }

  /**
   * A callback threw: the connection is closed first, so that it is closed even when the line
   * about it cannot be built (a full heap), then counted and logged.
   */
  private void fail(Throwable t) {
    long failures = counters.handlerFailures.incrementAndGet();
    closeNow();
    if (FAILURE_LOG.due()) {
      warn("LoopHandler failed for {}; the connection is closed ({} handler failures so far)", who(), failures, t);
    }
  }

  /** A WARN that never throws: when even the line cannot be built, the count in the stats still tells. */
  private static void warn(String format, Object... args) {
    try {
      log.warn(format, args);
    } catch (Throwable ignored) {
      // Out of memory while logging, most likely: nothing better to do on the loop.
    }
  }

  @Override
  public boolean isOpen() {
    return !closed;
  }

  @Override
  public String toString() {
    return "LoopConnection[" + who() + "]";
  }
}
