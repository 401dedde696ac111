package dev.portcullis.spi;

import java.io.IOException;
import java.net.SocketAddress;
import java.util.Objects;
import java.util.concurrent.TimeUnit;

/**
 * A {@link Channel} that passes every call to another one: the base of a codec that a handshake
 * step installs with {@code HandshakeContext.upgrade}, which overrides only what it changes
 * (typically {@code read}, {@code write} and {@code close}).
 */
public abstract class ForwardingChannel implements Channel {
  /** The channel underneath, closer to the socket. */
  protected final Channel delegate;

  /**
   * Wraps a channel.
   *
   * @param delegate the channel underneath
   */
  protected ForwardingChannel(Channel delegate) {
    this.delegate = Objects.requireNonNull(delegate, "delegate");
  }

  @Override
  public SocketAddress remoteAddress() {
    return delegate.remoteAddress();
  }

  @Override
  public SocketAddress localAddress() {
    return delegate.localAddress();
  }

  @Override
  public java.util.Optional<dev.portcullis.policy.PeerCredentials> peerCredentials() {
    return delegate.peerCredentials();
  }

  @Override
  public int read(byte[] dst, int offset, int length) throws IOException {
    return delegate.read(dst, offset, length);
  }

  @Override
  public int write(byte[] src, int offset, int length) throws IOException {
    return delegate.write(src, offset, length);
  }

  @Override
  public void whenReadable(Runnable task) {
    delegate.whenReadable(task);
  }

  @Override
  public void watchReadable(Runnable task) {
    delegate.watchReadable(task);
  }

  @Override
  public void whenWritable(Runnable task) {
    delegate.whenWritable(task);
  }

  @Override
  public boolean shutdownInput() {
    return delegate.shutdownInput();
  }

  @Override
  public Cancellable schedule(Runnable task, long delay, TimeUnit unit) {
    return delegate.schedule(task, delay, unit);
  }

  @Override
  public void execute(Runnable task) {
    delegate.execute(task);
  }

  /** The delegate's: a codec changes the bytes, not the threads. */
  @Override
  public java.util.Optional<java.util.concurrent.Executor> loopCarriedExecutor() {
    return delegate.loopCarriedExecutor();
  }

  @Override
  public boolean inEventLoop() {
    return delegate.inEventLoop();
  }

  @Override
  public boolean isOpen() {
    return delegate.isOpen();
  }

  @Override
  public void close() {
    delegate.close();
  }

  @Override
  public String toString() {
    return getClass().getSimpleName() + " over " + delegate;
  }
}
