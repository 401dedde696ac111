package dev.portcullis;

import dev.portcullis.spi.Channel;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.SocketException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * An in-memory {@link Channel} whose "event loop" is the test thread that made it: callbacks run
 * inline, time passes only when the test calls {@link #elapse()}, and the send buffer can be made
 * small to force partial writes. It passes the SPI's {@code ChannelContract} ({@link
 * FakeChannelContractTest}).
 */
final class FakeChannel implements Channel {
  private final InetSocketAddress remote;
  private final InetSocketAddress local = new InetSocketAddress("127.0.0.1", 7000);
  private byte[] input = new byte[0];
  private int inputPos;
  private boolean peerClosed;
  private boolean reset;
  private boolean outputShut;
  private boolean open = true;
  private int sendCapacity = Integer.MAX_VALUE;
  private final ByteArrayOutputStream written = new ByteArrayOutputStream();
  /** What was written and {@link #peerReads()} has not taken yet. */
  private final ByteArrayOutputStream unread = new ByteArrayOutputStream();
  private final Thread loop = Thread.currentThread();
  private Runnable readable;
  private Runnable watcher;
  private boolean watcherRunning;
  private boolean watchAgain;
  private Runnable writable;
  private final List<Scheduled> scheduled = new ArrayList<>();

  FakeChannel(String peerAddress, int port) {
    this.remote = new InetSocketAddress(peerAddress, port);
  }

  /** The peer sends bytes; a waiting reader is woken. */
  void feed(String text) {
    feed(text.getBytes(StandardCharsets.UTF_8));
  }

  void feed(byte[] bytes) {
    byte[] rest = Arrays.copyOfRange(input, inputPos, input.length);
    input = new byte[rest.length + bytes.length];
    System.arraycopy(rest, 0, input, 0, rest.length);
    System.arraycopy(bytes, 0, input, rest.length, bytes.length);
    inputPos = 0;
    fireReadable();
  }

  /** The peer sends its last bytes and closes its side, as one event. */
  void feedAndClose(String text) {
    feedAndClose(text.getBytes(StandardCharsets.UTF_8));
  }

  void feedAndClose(byte[] bytes) {
    peerClosed = true;
    feed(bytes);
  }

  /** The peer closes its side; a waiting reader sees end of stream. */
  void peerCloses() {
    peerClosed = true;
    fireReadable();
  }

  /** Whether the channel half-closed: the peer has read its end of stream after the bytes written. */
  boolean outputShut() {
    return outputShut;
  }

  /** Only this many more bytes fit in the send buffer until {@link #drain()}. */
  void sendCapacity(int bytes) {
    sendCapacity = bytes;
  }

  /** The peer aborts the connection: reads and writes fail from now on; a waiting reader is woken. */
  void peerResets() {
    reset = true;
    fireReadable();
  }

  /** The peer reads everything; the send buffer has room again. */
  void drain() {
    drain(Integer.MAX_VALUE);
  }

  /** The peer reads everything; {@code room} more bytes fit until the next drain. */
  void drain(int room) {
    sendCapacity = room;
    Runnable w = writable;
    writable = null;
    if (w != null) {
      w.run();
    }
  }

  /** Every scheduled, uncancelled task runs: the deadlines have passed. */
  int elapse() {
    List<Scheduled> due = new ArrayList<>(scheduled);
    scheduled.clear();
    int ran = 0;
    for (Scheduled s : due) {
      if (!s.cancelled) {
        ran++;
        s.task.run();
      }
    }
    return ran;
  }

  /** Scheduled tasks not cancelled yet. */
  long pendingTimers() {
    return scheduled.stream().filter(s -> !s.cancelled).count();
  }

  String written() {
    return written.toString(StandardCharsets.UTF_8);
  }

  /** The bytes written since the last call, as the peer reads them; {@link #written()} keeps them all. */
  byte[] peerReads() {
    byte[] bytes = unread.toByteArray();
    unread.reset();
    return bytes;
  }

  private void fireReadable() {
    runReadable();
    runWatcher();
  }

  private void runReadable() {
    Runnable r = readable;
    readable = null;
    if (r != null) {
      r.run();
    }
  }

  /**
   * Runs the watch, and again while it asked to be told once more (see {@link #read}); a run asked
   * for while it is running comes after it, as a loop would run it, not inside it.
   */
  private void runWatcher() {
    if (watcherRunning) {
      watchAgain = true;
      return;
    }
    watcherRunning = true;
    try {
      do {
        watchAgain = false;
        Runnable w = watcher;
        if (w == null) {
          return;
        }
        w.run();
      } while (watchAgain);
    } finally {
      watcherRunning = false;
    }
  }

  @Override
  public void watchReadable(Runnable task) {
    watcher = task;
    if (task != null && (!open || peerClosed || reset || inputPos < input.length)) {
      runWatcher();
    }
  }

  @Override
  public InetSocketAddress remoteAddress() {
    return remote;
  }

  @Override
  public InetSocketAddress localAddress() {
    return local;
  }

  @Override
  public int read(byte[] dst, int offset, int length) throws IOException {
    if (!open) {
      throw new SocketException("Connection closed");
    }
    if (reset) {
      throw new dev.portcullis.NativeSocketException("fake", 104, "ECONNRESET", "Connection reset by peer");
    }
    int n = Math.min(length, input.length - inputPos);
    if (n > 0) {
      System.arraycopy(input, inputPos, dst, offset, n);
      inputPos += n;
      if (n < length && peerClosed) {
        // The watch may stop at this short read; the end of stream behind it raises no new event
        // of its own, so the watch is told once more (the SPI's watchReadable promise).
        runWatcher();
      }
      return n;
    }
    return peerClosed ? -1 : 0;
  }

  @Override
  public int write(byte[] src, int offset, int length) throws IOException {
    if (!open) {
      throw new SocketException("Connection closed");
    }
    if (reset) {
      throw new dev.portcullis.NativeSocketException("fake", 104, "ECONNRESET", "Connection reset by peer");
    }
    if (outputShut) {
      throw new SocketException("Broken pipe"); // as the JDK's sockets say after shutdownOutput
    }
    int n = Math.min(length, sendCapacity);
    written.write(src, offset, n);
    unread.write(src, offset, n);
    if (sendCapacity != Integer.MAX_VALUE) {
      sendCapacity -= n;
    }
    return n;
  }

  @Override
  public void shutdownOutput() throws IOException {
    if (!open) {
      throw new SocketException("Connection closed");
    }
    outputShut = true;
  }

  @Override
  public void whenReadable(Runnable task) {
    if (!open || peerClosed || reset || inputPos < input.length) {
      task.run();
    } else {
      readable = task;
    }
  }

  @Override
  public void whenWritable(Runnable task) {
    if (!open || reset || sendCapacity > 0) {
      task.run();
    } else {
      writable = task;
    }
  }

  /** As {@code shutdown(SHUT_RD)}: what arrived can still be read, then the end of stream. */
  @Override
  public boolean shutdownInput() {
    if (open && !peerClosed) {
      peerClosed = true;
      fireReadable();
    }
    return true;
  }

  @Override
  public Cancellable schedule(Runnable task, long delay, TimeUnit unit) {
    Scheduled s = new Scheduled(task);
    scheduled.add(s);
    return s;
  }

  @Override
  public void execute(Runnable task) {
    task.run();
  }

  @Override
  public boolean inEventLoop() {
    return Thread.currentThread() == loop;
  }

  @Override
  public boolean isOpen() {
    return open;
  }

  @Override
  public void close() {
    if (!open) {
      return;
    }
    open = false;
    runReadable();
    // Once at close, even from inside the watch itself: it is not run again after this.
    Runnable watch = watcher;
    watcher = null;
    if (watch != null) {
      watch.run();
    }
    Runnable w = writable;
    writable = null;
    if (w != null) {
      w.run();
    }
  }

  private static final class Scheduled implements Cancellable {
    final Runnable task;
    boolean cancelled;

    Scheduled(Runnable task) {
      this.task = task;
    }

    @Override
    public void cancel() {
      cancelled = true;
    }
  }
}
