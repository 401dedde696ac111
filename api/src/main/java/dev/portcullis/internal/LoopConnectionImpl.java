package dev.portcullis.internal;

import dev.portcullis.LoopConnection;
import dev.portcullis.LoopHandler;
import dev.portcullis.spi.Channel;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayDeque;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A {@link LoopConnection}: all state is touched on the event loop only; calls from other threads
 * are handed to it. Reads go into one buffer per loop thread, so an idle connection owns no
 * buffer; only output the socket did not take is queued per connection.
 */
final class LoopConnectionImpl extends PeerView implements LoopConnection {
  private static final Logger log = LoggerFactory.getLogger(LoopConnectionImpl.class);
  private static final int READ_BUFFER = 64 * 1024;
  private static final int READS_PER_WAKEUP = 16;
  // Direct, so a transport can read into it and send out of it without copying.
  private static final ThreadLocal<ByteBuffer> BUFFER =
      ThreadLocal.withInitial(() -> ByteBuffer.allocateDirect(READ_BUFFER));

  private final Channel channel;
  private final LoopHandler handler;
  private final Counters counters;
  private final Runnable readTask = this::onReadable;
  private final Runnable writeTask = this::onWritable;
  private ArrayDeque<ByteBuffer> queue;
  private volatile long queued;
  private boolean paused;
  private boolean closing;
  private volatile boolean closed;

  LoopConnectionImpl(Channel channel, PeerFacts facts, LoopHandler handler, Counters counters) {
    super(facts);
    this.channel = channel;
    this.handler = handler;
    this.counters = counters;
  }

  /** Runs on the loop: opens the handler, delivers bytes left over from the handshake, reads. */
  void open(byte[] leftover) {
    try {
      handler.onOpen(this);
      if (leftover != null && !closed) {
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
      log.debug("Read from {} failed: {}", peer(), e.getMessage());
      closeNow();
    } catch (Throwable t) {
      fail(t);
    }
  }

  @Override
  public void write(ByteBuffer data) {
    if (!channel.inEventLoop()) {
      ByteBuffer copy = copyOf(data);
      channel.execute(() -> writeOnLoop(copy));
      return;
    }
    writeOnLoop(data);
  }

  private void writeOnLoop(ByteBuffer data) {
    if (closed || closing) {
      data.position(data.limit());
      return;
    }
    if (queue != null && !queue.isEmpty()) {
      enqueue(copyOf(data));
      return;
    }
    try {
      writeSome(data);
    } catch (IOException e) {
      log.debug("Write to {} failed: {}", peer(), e.getMessage());
      closeNow();
      return;
    }
    if (data.hasRemaining()) {
      enqueue(copyOf(data));
      channel.whenWritable(writeTask);
    }
  }

  private void writeSome(ByteBuffer data) throws IOException {
    while (data.hasRemaining()) {
      if (channel.write(data) == 0) {
        return;
      }
    }
  }

  private void enqueue(ByteBuffer copy) {
    if (queue == null) {
      queue = new ArrayDeque<>(4);
    }
    queue.add(copy);
    queued += copy.remaining();
    if (queued > MAX_QUEUED && !paused) {
      paused = true;
      channel.watchReadable(null);
    }
  }

  private void onWritable() {
    if (closed) {
      return;
    }
    try {
      while (queue != null && !queue.isEmpty()) {
        ByteBuffer head = queue.peek();
        int before = head.remaining();
        writeSome(head);
        queued -= before - head.remaining();
        if (head.hasRemaining()) {
          channel.whenWritable(writeTask);
          return;
        }
        queue.poll();
      }
    } catch (IOException e) {
      log.debug("Write to {} failed: {}", peer(), e.getMessage());
      closeNow();
      return;
    }
    if (closing) {
      closeNow();
    } else if (paused) {
      paused = false;
      armRead();
      channel.execute(readTask); // bytes that arrived while paused raise no new edge
    }
  }

  private static ByteBuffer copyOf(ByteBuffer data) {
    ByteBuffer copy = ByteBuffer.allocate(data.remaining());
    copy.put(data).flip();
    return copy;
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
    closing = true;
    if (queue == null || queue.isEmpty()) {
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
    queue = null;
    queued = 0;
    channel.close();
    try {
      handler.onClose(this);
    } catch (Throwable t) {
      counters.handlerFailures.incrementAndGet();
      log.warn("LoopHandler.onClose failed for {}", peer(), t);
    }
  }

  private void fail(Throwable t) {
    counters.handlerFailures.incrementAndGet();
    log.warn("LoopHandler failed for {}", peer(), t);
    closeNow();
  }

  @Override
  public boolean isOpen() {
    return !closed;
  }

  @Override
  public String toString() {
    return "LoopConnection[" + peer() + "]";
  }
}
