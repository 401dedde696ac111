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
 * An in-memory {@link Channel} whose "event loop" is the test thread: callbacks run inline, time
 * passes only when the test calls {@link #elapse()}, and the send buffer can be made small to force
 * partial writes.
 */
final class FakeChannel implements Channel {
  private final InetSocketAddress remote;
  private final InetSocketAddress local = new InetSocketAddress("127.0.0.1", 7000);
  private byte[] input = new byte[0];
  private int inputPos;
  private boolean peerClosed;
  private boolean open = true;
  private int sendCapacity = Integer.MAX_VALUE;
  private final ByteArrayOutputStream written = new ByteArrayOutputStream();
  private Runnable readable;
  private Runnable watcher;
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

  /** Only this many more bytes fit in the send buffer until {@link #drain()}. */
  void sendCapacity(int bytes) {
    sendCapacity = bytes;
  }

  /** The peer reads everything; the send buffer has room again. */
  void drain() {
    sendCapacity = Integer.MAX_VALUE;
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

  private void fireReadable() {
    Runnable r = readable;
    readable = null;
    if (r != null) {
      r.run();
    }
    Runnable w = watcher;
    if (w != null) {
      w.run();
    }
  }

  @Override
  public void watchReadable(Runnable task) {
    watcher = task;
    if (task != null && (!open || peerClosed || inputPos < input.length)) {
      task.run();
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
    int n = Math.min(length, input.length - inputPos);
    if (n > 0) {
      System.arraycopy(input, inputPos, dst, offset, n);
      inputPos += n;
      return n;
    }
    return peerClosed ? -1 : 0;
  }

  @Override
  public int write(byte[] src, int offset, int length) throws IOException {
    if (!open) {
      throw new SocketException("Connection closed");
    }
    int n = Math.min(length, sendCapacity);
    written.write(src, offset, n);
    if (sendCapacity != Integer.MAX_VALUE) {
      sendCapacity -= n;
    }
    return n;
  }

  @Override
  public void whenReadable(Runnable task) {
    if (!open || peerClosed || inputPos < input.length) {
      task.run();
    } else {
      readable = task;
    }
  }

  @Override
  public void whenWritable(Runnable task) {
    if (!open || sendCapacity > 0) {
      task.run();
    } else {
      writable = task;
    }
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
    return true;
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
    fireReadable();
    watcher = null;
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
