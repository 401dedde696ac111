package dev.portcullis.internal;

import dev.portcullis.spi.Channel;
import dev.portcullis.spi.ForwardingChannel;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.concurrent.TimeUnit;

/**
 * A channel that closes itself when no byte has moved either way for the idle timeout. Activity is
 * one volatile write per read or write that moved bytes; the check is one timer per connection,
 * re-armed for the time left, so an idle server wakes once per connection per timeout at most.
 */
final class IdleChannel extends ForwardingChannel {
  private final long timeoutNanos;
  private final Runnable onIdle;
  private volatile long lastActivity = System.nanoTime();
  private volatile boolean timedOut;
  private final Runnable check = this::check;

  /**
   * @param onIdle run on the loop once, when the connection is closed for being idle
   */
  IdleChannel(Channel delegate, long timeoutNanos, Runnable onIdle) {
    super(delegate);
    this.timeoutNanos = timeoutNanos;
    this.onIdle = onIdle;
    delegate.schedule(check, timeoutNanos, TimeUnit.NANOSECONDS);
  }

  /** Whether this channel was closed for being idle (so a handler's failing read is expected). */
  boolean timedOut() {
    return timedOut;
  }

  private void check() {
    if (!isOpen()) {
      return;
    }
    long idle = System.nanoTime() - lastActivity;
    if (idle < timeoutNanos) {
      delegate.schedule(check, timeoutNanos - idle, TimeUnit.NANOSECONDS);
      return;
    }
    timedOut = true;
    onIdle.run();
    close();
  }

  private int moved(int n) {
    if (n > 0) {
      lastActivity = System.nanoTime();
    }
    return n;
  }

  @Override
  public boolean awaitReadable() throws IOException {
    return delegate.awaitReadable(); // waiting is not activity
  }

  @Override
  public boolean awaitWritable() throws IOException {
    return delegate.awaitWritable();
  }

  @Override
  public void shutdownOutput() throws IOException {
    delegate.shutdownOutput(); // no bytes of its own to send first
  }

  @Override
  public int read(byte[] dst, int offset, int length) throws IOException {
    return moved(delegate.read(dst, offset, length));
  }

  @Override
  public int read(ByteBuffer dst) throws IOException {
    return moved(delegate.read(dst));
  }

  @Override
  public int write(byte[] src, int offset, int length) throws IOException {
    return moved(delegate.write(src, offset, length));
  }

  @Override
  public int write(ByteBuffer src) throws IOException {
    return moved(delegate.write(src));
  }
}
