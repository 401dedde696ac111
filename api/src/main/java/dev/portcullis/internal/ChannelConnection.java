package dev.portcullis.internal;

import dev.portcullis.Connection;
import dev.portcullis.spi.Channel;
import java.io.IOException;
import java.io.InputStream;
import java.io.InterruptedIOException;
import java.io.OutputStream;
import java.net.SocketException;
import java.util.Objects;
import java.util.concurrent.locks.LockSupport;

/**
 * A {@link Connection} over a non-blocking {@link Channel}. A stream call with nothing to do waits
 * the channel's own way ({@link Channel#awaitReadable}: for the JNA transport, a platform thread in
 * {@code poll(2)}, a virtual thread parked on the transport's poller, holding no carrier), and only
 * where the channel has none parks until the event loop signals readiness.
 *
 * <p>When the server starts stopping, a reader waiting with nothing in flight is released: {@code
 * inputState} goes from {@code WAITING} to {@code ENDED} (a CAS, so that the reader and whoever
 * ends the input agree on which came first: the stopper, a write that answered the last request,
 * or the timer of the first-bytes wait), and {@link Channel#shutdownInput} wakes the wait. The
 * reader checks the same rule before it waits, after publishing {@code WAITING}.
 */
final class ChannelConnection extends PeerView implements Connection, Pipeline.Stoppable {
  private static final org.slf4j.Logger log = org.slf4j.LoggerFactory.getLogger(ChannelConnection.class);
  /** Not waiting for input. */
  private static final int READING = 0;
  /** Waiting for input. */
  private static final int WAITING = 1;
  /** The server is stopping and ended the input: every read returns -1 from now on. */
  private static final int ENDED = 2;
  private static final long FIRST_BYTES_NANOS = FIRST_BYTES_WAIT.toNanos();

  private final Channel channel;
  private final dev.portcullis.RunningServer server;
  private final In input = new In();
  private final Out output = new Out();
  private final long startNanos = System.nanoTime();
  private final java.util.concurrent.atomic.AtomicInteger inputState = new java.util.concurrent.atomic.AtomicInteger();
  /** Bytes were read that the handler has not answered: it has not written since. */
  private volatile boolean unanswered;
  /** The peer has sent something (or the first-bytes wait is over). */
  private volatile boolean heardFrom;
  private volatile boolean stopping;
  // Guarded by this.
  private java.util.List<Runnable> stopActions;
  private byte[] leftover;
  private int leftoverPos;

  ChannelConnection(Channel channel, PeerFacts facts, byte[] leftover, dev.portcullis.RunningServer server) {
    super(facts);
    this.channel = channel;
    this.leftover = leftover;
    this.server = server;
  }

  @Override
  public boolean isStopping() {
    return stopping;
  }

  @Override
  public void onStopping(Runnable action) {
    java.util.Objects.requireNonNull(action, "action");
    synchronized (this) {
      if (!stopping) {
        if (stopActions == null) {
          stopActions = new java.util.ArrayList<>(2);
        }
        stopActions.add(action);
        return;
      }
    }
    runQuietly(action);
  }

  @Override
  public dev.portcullis.RunningServer server() {
    return server;
  }

  /** The server started stopping: the actions run, and an idle reader is released. Once. */
  @Override
  public void stop() {
    java.util.List<Runnable> actions;
    synchronized (this) {
      if (stopping) {
        return;
      }
      stopping = true;
      actions = stopActions;
      stopActions = null;
    }
    if (actions != null) {
      actions.forEach(this::runQuietly);
    }
    endIdleInput();
    if (!heardFrom) {
      // Its first request may still be on its way: look again when the first-bytes wait is over.
      long left = FIRST_BYTES_NANOS - (System.nanoTime() - startNanos);
      if (left > 0) {
        channel.schedule(() -> {
          heardFrom = true;
          endIdleInput();
        }, left, java.util.concurrent.TimeUnit.NANOSECONDS);
      } else {
        heardFrom = true;
        endIdleInput();
      }
    }
  }

  private void runQuietly(Runnable action) {
    try {
      action.run();
    } catch (RuntimeException e) {
      log.warn("An onStopping action of the connection with {} failed", peer(), e);
    }
  }

  /** Nothing in flight: every byte read answered, and the peer heard from or given its time. */
  private boolean nothingInFlight() {
    return !unanswered && (heardFrom || System.nanoTime() - startNanos >= FIRST_BYTES_NANOS);
  }

  /** Releases a reader waiting with nothing in flight, if the server is stopping. Any thread. */
  private void endIdleInput() {
    if (stopping && nothingInFlight() && inputState.compareAndSet(WAITING, ENDED)) {
      if (!channel.shutdownInput()) {
        channel.close(); // a transport that cannot end the input alone: the reader sees -1 all the same
      }
      input.waiter.run(); // a reader parked for the loop's readiness callback
    }
  }

  /** Whether the idle timeout closed the connection (so the handler's failing read is expected). */
  boolean closedForIdleness() {
    return channel instanceof IdleChannel idle && idle.timedOut();
  }

  @Override
  public InputStream input() {
    return input;
  }

  @Override
  public OutputStream output() {
    return output;
  }

  @Override
  public void shutdownOutput() throws IOException {
    channel.shutdownOutput();
  }

  @Override
  public void close() {
    channel.close();
  }

  /** The handler read bytes: they are in flight until it writes. */
  private void readSome() {
    if (!unanswered) {
      unanswered = true;
    }
    if (!heardFrom) {
      heardFrom = true;
    }
  }

  @Override
  public String toString() {
    return "Connection[" + who() + "]";
  }

  /** Parks one thread until the event loop runs this as a readiness callback. */
  private static final class Waiter implements Runnable {
    private volatile boolean ready;
    private volatile Thread thread;

    /** Waits the channel's own way if it has one, else until the loop's readiness callback. */
    void await(Channel channel, boolean read) throws IOException {
      if (awaitOwn(channel, read)) {
        return;
      }
      ready = false;
      thread = Thread.currentThread();
      if (read) {
        channel.whenReadable(this);
      } else {
        channel.whenWritable(this);
      }
      while (!ready) {
        LockSupport.park(this);
        checkInterrupt();
      }
    }

    /**
     * The channel's own wait ({@link Channel#awaitReadable}): a platform thread in the kernel, a
     * virtual thread parked until the transport's poller sees the socket ready, with no hand-off
     * through the loop and back. False, without waiting, if the channel has none.
     */
    boolean awaitOwn(Channel channel, boolean read) throws IOException {
      if (channel.inEventLoop()) {
        // Parking here would wait for a signal only this very thread can deliver.
        throw new IllegalStateException("A blocking Connection stream was used on the event loop thread"
            + " (an executor that runs handlers on the caller's thread, such as Runnable::run or"
            + " CallerRunsPolicy?). Give Server.executor(...) its own threads, or use handleOnLoop(...).");
      }
      if (!channel.isOpen()) {
        throw new SocketException("Connection closed");
      }
      if (read ? channel.awaitReadable() : channel.awaitWritable()) {
        checkInterrupt();
        return true;
      }
      return false;
    }

    private static void checkInterrupt() throws InterruptedIOException {
      if (Thread.interrupted()) {
        Thread.currentThread().interrupt();
        throw new InterruptedIOException("Interrupted while waiting for the connection");
      }
    }

    @Override
    public void run() {
      ready = true;
      Thread t = thread;
      if (t != null) {
        LockSupport.unpark(t);
      }
    }
  }

  private final class In extends InputStream {
    private final Waiter waiter = new Waiter();
    /** The last read returned fewer bytes than asked: the socket was empty then. */
    private boolean drained;
    private final byte[] one = new byte[1];

    @Override
    public int read() throws IOException {
      int n = read(one, 0, 1);
      return n < 0 ? -1 : one[0] & 0xFF;
    }

    @Override
    public int read(byte[] b, int off, int len) throws IOException {
      Objects.checkFromIndexSize(off, len, b.length);
      if (len == 0) {
        return 0;
      }
      if (leftover != null) {
        int n = Math.min(len, leftover.length - leftoverPos);
        System.arraycopy(leftover, leftoverPos, b, off, n);
        leftoverPos += n;
        if (leftoverPos == leftover.length) {
          leftover = null;
        }
        readSome();
        return n;
      }
      if (inputState.get() == ENDED) {
        return -1;
      }
      // The last read emptied the socket; most likely it is still empty (a request-response peer
      // has not answered yet), so wait before reading: one system call fewer a message. Only the
      // channel's own wait, which returns at once if bytes did come.
      boolean waitFirst = drained;
      drained = false;
      while (true) {
        if (!waitFirst) {
          int n = channel.read(b, off, len);
          if (n != 0) {
            if (n > 0) {
              drained = n < len;
              readSome();
            }
            return n;
          }
        }
        if (!awaitInput(waitFirst)) {
          return -1;
        }
        waitFirst = false;
      }
    }

    /**
     * Waits for input ({@code ownOnly}: only the channel's own way, and not at all if it has none);
     * false if the input ended instead because the server is stopping and nothing is in flight.
     */
    private boolean awaitInput(boolean ownOnly) throws IOException {
      if (!inputState.compareAndSet(READING, WAITING)) {
        return false; // ENDED
      }
      if (stopping && nothingInFlight()) {
        inputState.set(ENDED);
        return false;
      }
      try {
        if (ownOnly) {
          if (!channel.inEventLoop() && channel.isOpen() && channel.awaitReadable()) {
            Waiter.checkInterrupt();
          }
        } else {
          waiter.await(channel, true);
        }
      } catch (IOException e) {
        if (!inputState.compareAndSet(WAITING, READING)) {
          return false; // the wait failed because the input was ended (or the channel closed for it)
        }
        throw e;
      }
      return inputState.compareAndSet(WAITING, READING);
    }

    @Override
    public int available() {
      byte[] l = leftover;
      return l == null ? 0 : l.length - leftoverPos;
    }

    @Override
    public void close() {
      ChannelConnection.this.close();
    }
  }

  private final class Out extends OutputStream {
    private final Waiter waiter = new Waiter();

    @Override
    public void write(int b) throws IOException {
      write(new byte[] {(byte) b}, 0, 1);
    }

    @Override
    public void write(byte[] b, int off, int len) throws IOException {
      Objects.checkFromIndexSize(off, len, b.length);
      if (len > 0 && unanswered) {
        unanswered = false; // the handler answers what it read
        if (stopping) {
          endIdleInput(); // the reader, on another thread, may be waiting idle now
        }
      }
      while (len > 0) {
        int n = channel.write(b, off, len);
        if (n == 0) {
          waiter.await(channel, false);
          continue;
        }
        off += n;
        len -= n;
      }
    }

    @Override
    public void close() {
      ChannelConnection.this.close();
    }
  }
}
