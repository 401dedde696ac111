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
 */
final class ChannelConnection extends PeerView implements Connection {
  private final Channel channel;
  private final In input = new In();
  private final Out output = new Out();
  private byte[] leftover;
  private int leftoverPos;

  ChannelConnection(Channel channel, PeerFacts facts, byte[] leftover) {
    super(facts);
    this.channel = channel;
    this.leftover = leftover;
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

  @Override
  public String toString() {
    return "Connection[" + dev.portcullis.policy.IpAddresses.format(peer()) + "]";
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
        return n;
      }
      if (drained) {
        // The last read emptied the socket; most likely it is still empty (a request-response
        // peer has not answered yet), so wait before reading: one system call fewer a message.
        // Only the channel's own wait, which returns at once if bytes did come.
        drained = false;
        if (!channel.inEventLoop() && channel.isOpen() && channel.awaitReadable()) {
          Waiter.checkInterrupt();
        }
      }
      while (true) {
        int n = channel.read(b, off, len);
        if (n != 0) {
          drained = n > 0 && n < len;
          return n;
        }
        waiter.await(channel, true);
      }
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
