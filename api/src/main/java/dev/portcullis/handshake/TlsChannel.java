package dev.portcullis.handshake;

import dev.portcullis.spi.Channel;
import dev.portcullis.spi.ForwardingChannel;
import java.io.IOException;
import java.net.SocketException;
import java.nio.ByteBuffer;
import java.util.concurrent.TimeUnit;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.SSLEngineResult;
import javax.net.ssl.SSLEngineResult.HandshakeStatus;
import javax.net.ssl.SSLException;

/**
 * A {@link Channel} that carries plaintext over a TLS session on another channel. Reads decrypt,
 * writes encrypt; neither blocks. Reading and writing take separate locks (an {@link SSLEngine}
 * may wrap and unwrap at once), so a handler may read on one thread while another writes.
 *
 * <p>It keeps the {@link Channel} contract, edge-triggered watches included: a read returns fewer
 * bytes than asked only when the socket below had nothing more, and bytes it decrypted ahead are
 * announced by running the reader's task again. Ciphertext that the socket did not take is kept
 * and sent when it can; {@link #close()} sends it and a close_notify before closing the socket, for
 * at most {@value #LINGER_SECONDS} seconds.
 */
final class TlsChannel extends ForwardingChannel {
  static final int LINGER_SECONDS = 5;
  private static final ByteBuffer EMPTY = ByteBuffer.allocate(0);
  private static final int RECORD_HEADER = 5;

  private final Channel raw; // the delegate, named for what it carries
  private final SSLEngine engine;
  private final boolean renegotiationPossible;
  private final Object readLock = new Object();
  private final Object writeLock = new Object();
  private final Runnable onRawWritable = this::onRawWritable;
  // Read side, under readLock. netIn is in write mode, plainIn in read mode.
  private ByteBuffer netIn;
  private ByteBuffer plainIn;
  private boolean inboundDone;
  private IOException failure;
  private volatile Runnable watcher;
  private volatile Runnable userReadable;
  // Write side, under writeLock. netOut is in read mode.
  private ByteBuffer netOut;
  private Runnable userWritable;
  private boolean lingering;
  private volatile boolean open = true;

  TlsChannel(Channel raw, SSLEngine engine, ByteBuffer ciphertext, ByteBuffer plaintext) {
    super(raw);
    this.raw = raw;
    this.engine = engine;
    this.renegotiationPossible = !"TLSv1.3".equals(engine.getSession().getProtocol());
    int packet = engine.getSession().getPacketBufferSize();
    this.netIn = ciphertext.capacity() >= packet ? ciphertext : TlsStep.grow(ciphertext, packet);
    this.plainIn = plaintext;
    this.netOut = ByteBuffer.allocate(packet).flip();
  }

  @Override
  public int read(byte[] dst, int offset, int length) throws IOException {
    return read(ByteBuffer.wrap(dst, offset, length));
  }

  @Override
  public int read(ByteBuffer dst) throws IOException {
    if (!open) {
      throw new SocketException("Connection closed");
    }
    synchronized (readLock) {
      if (failure != null) {
        throw failure;
      }
      int total = 0;
      try {
        while (dst.hasRemaining()) {
          if (plainIn.hasRemaining()) {
            total += transfer(plainIn, dst);
            continue;
          }
          if (inboundDone) {
            break;
          }
          if (hasCompleteRecord() && unwrapOne()) {
            continue;
          }
          if (!netIn.hasRemaining()) {
            netIn = TlsStep.grow(netIn, engine.getSession().getPacketBufferSize());
          }
          int n = raw.read(netIn);
          if (n == 0) {
            return total;
          }
          if (n < 0) {
            inboundDone = true;
            try {
              engine.closeInbound();
            } catch (SSLException truncated) {
              // the peer closed without close_notify: end of stream all the same
            }
          }
        }
      } catch (IOException e) {
        if (total == 0) {
          throw e;
        }
        // Deliver what was decrypted before the failure; the next read reports it.
        failure = e;
        announceAgain();
        return total;
      }
      if (inboundDone && !plainIn.hasRemaining()) {
        if (total == 0) {
          return -1;
        }
        if (dst.hasRemaining()) {
          // The end of stream came with these bytes, and the reader would not ask again.
          announceAgain();
        }
      }
      return total;
    }
  }

  /** Runs an edge-triggered reader's task again, for something it has not seen yet. */
  private void announceAgain() {
    Runnable w = watcher;
    if (w != null) {
      raw.execute(w);
    }
  }

  /** Decrypts one record into plainIn; false if more ciphertext is needed. */
  private boolean unwrapOne() throws IOException {
    netIn.flip();
    plainIn.compact();
    SSLEngineResult r;
    try {
      r = engine.unwrap(netIn, plainIn);
    } finally {
      netIn.compact();
      plainIn.flip();
    }
    if (r.getStatus() == SSLEngineResult.Status.CLOSED) {
      // close_notify: the engine wants to answer with its own, which close() sends.
      inboundDone = true;
      return true;
    }
    afterUnwrap(r.getHandshakeStatus());
    switch (r.getStatus()) {
      case OK:
        return true;
      case BUFFER_OVERFLOW:
        ByteBuffer bigger = ByteBuffer.allocate(Math.max(plainIn.capacity() * 2,
            engine.getSession().getApplicationBufferSize()));
        bigger.put(plainIn).flip();
        plainIn = bigger;
        return true;
      default:
        return false;
    }
  }

  /** A handshake message after the handshake: a TLS 1.3 key update is answered, renegotiation refused. */
  private void afterUnwrap(HandshakeStatus status) throws IOException {
    if (status == HandshakeStatus.NOT_HANDSHAKING || status == HandshakeStatus.FINISHED) {
      return;
    }
    if (renegotiationPossible) {
      abortNow();
      throw new SSLException("TLS renegotiation is refused; the connection was closed");
    }
    HandshakeStatus hs = engine.getHandshakeStatus();
    while (hs == HandshakeStatus.NEED_TASK || hs == HandshakeStatus.NEED_WRAP) {
      if (hs == HandshakeStatus.NEED_TASK) {
        Runnable task;
        while ((task = engine.getDelegatedTask()) != null) {
          task.run();
        }
      } else {
        synchronized (writeLock) {
          appendRecord(EMPTY);
          if (!flushNetOut()) {
            raw.whenWritable(onRawWritable);
          }
        }
      }
      hs = engine.getHandshakeStatus();
    }
  }

  private boolean hasCompleteRecord() {
    int end = netIn.position();
    if (end < RECORD_HEADER) {
      return false;
    }
    int length = ((netIn.get(3) & 0xFF) << 8) | (netIn.get(4) & 0xFF);
    return end >= RECORD_HEADER + length;
  }

  private static int transfer(ByteBuffer from, ByteBuffer to) {
    int n = Math.min(from.remaining(), to.remaining());
    ByteBuffer part = from.slice(from.position(), n);
    to.put(part);
    from.position(from.position() + n);
    return n;
  }

  /** Whether a read would return something without touching the socket. */
  private boolean readableNow() {
    synchronized (readLock) {
      return plainIn.hasRemaining() || inboundDone || failure != null || hasCompleteRecord();
    }
  }

  @Override
  public int write(byte[] src, int offset, int length) throws IOException {
    return write(ByteBuffer.wrap(src, offset, length));
  }

  @Override
  public int write(ByteBuffer src) throws IOException {
    synchronized (writeLock) {
      if (!open) {
        throw new SocketException("Connection closed");
      }
      if (!flushNetOut()) {
        return 0;
      }
      int consumed = 0;
      while (src.hasRemaining()) {
        int before = src.position();
        if (appendRecord(src) == 0 && src.position() == before) {
          // A renegotiation the reader refused, or a closure: the engine takes no more data.
          throw new SocketException("TLS session no longer accepts data ("
              + engine.getHandshakeStatus() + ")");
        }
        consumed += src.position() - before;
        if (!flushNetOut()) {
          // The record is ours now; send the rest when the socket has room.
          raw.whenWritable(onRawWritable);
          break;
        }
      }
      return consumed;
    }
  }

  /**
   * Encrypts one record of {@code src} (or a handshake or closure message) behind netOut's bytes;
   * returns the bytes produced.
   */
  private int appendRecord(ByteBuffer src) throws IOException {
    netOut.compact();
    try {
      while (true) {
        SSLEngineResult r = engine.wrap(src, netOut);
        if (r.getStatus() == SSLEngineResult.Status.BUFFER_OVERFLOW) {
          ByteBuffer bigger = ByteBuffer.allocate(netOut.capacity() + engine.getSession().getPacketBufferSize());
          netOut.flip();
          bigger.put(netOut);
          netOut = bigger;
          continue;
        }
        if (r.getStatus() == SSLEngineResult.Status.CLOSED && src != EMPTY) {
          throw new SocketException("TLS session closed");
        }
        return r.bytesProduced();
      }
    } finally {
      netOut.flip();
    }
  }

  private boolean flushNetOut() throws IOException {
    while (netOut.hasRemaining()) {
      if (raw.write(netOut) == 0) {
        return false;
      }
    }
    return true;
  }

  private void onRawWritable() {
    Runnable task;
    boolean closeRaw = false;
    synchronized (writeLock) {
      boolean flushed;
      try {
        flushed = flushNetOut();
      } catch (IOException e) {
        flushed = true;
        closeRaw = true;
      }
      if (!flushed && raw.isOpen()) {
        raw.whenWritable(onRawWritable);
        return;
      }
      if (lingering) {
        closeRaw = true;
      }
      task = userWritable;
      userWritable = null;
    }
    if (closeRaw) {
      raw.close();
    }
    if (task != null) {
      task.run();
    }
  }

  @Override
  public void whenReadable(Runnable task) {
    userReadable = task;
    if (readableNow()) {
      raw.execute(task);
    } else {
      raw.whenReadable(task);
    }
  }

  @Override
  public void watchReadable(Runnable task) {
    watcher = task;
    raw.watchReadable(task);
    if (task != null && readableNow()) {
      raw.execute(task);
    }
  }

  @Override
  public void whenWritable(Runnable task) {
    synchronized (writeLock) {
      userWritable = task;
    }
    raw.whenWritable(onRawWritable);
  }

  @Override
  public boolean isOpen() {
    return open && raw.isOpen();
  }

  /** Sends what is buffered and a close_notify, then closes the socket; waits for room at most briefly. */
  @Override
  public void close() {
    synchronized (writeLock) {
      if (!open) {
        return;
      }
      open = false;
      try {
        engine.closeOutbound();
        appendRecord(EMPTY);
        if (!flushNetOut() && raw.isOpen()) {
          lingering = true;
          raw.whenWritable(onRawWritable);
          raw.schedule(raw::close, LINGER_SECONDS, TimeUnit.SECONDS);
          // The socket stays open a little longer, but readers waiting on it learn now.
          for (Runnable r : new Runnable[] {userReadable, watcher}) {
            if (r != null) {
              raw.execute(r);
            }
          }
          return;
        }
      } catch (IOException | RuntimeException e) {
        // the socket is closing anyway
      }
    }
    raw.close();
  }

  private void abortNow() {
    open = false;
    raw.close();
  }
}
