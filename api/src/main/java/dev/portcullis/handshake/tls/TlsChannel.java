package dev.portcullis.handshake.tls;

import dev.portcullis.spi.Channel;
import dev.portcullis.spi.ForwardingChannel;
import java.io.IOException;
import java.net.SocketException;
import java.nio.ByteBuffer;
import java.util.concurrent.TimeUnit;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.SSLEngineResult.HandshakeStatus;
import javax.net.ssl.SSLEngineResult;
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
  /** The most ciphertext any connection has had waiting for its peer: a probe for tests. */
  static final java.util.concurrent.atomic.LongAccumulator OWED_HIGH_WATER =
      new java.util.concurrent.atomic.LongAccumulator(Math::max, 0);
  /** How many times a connection stopped reading because its peer was not reading: a probe for tests. */
  static final java.util.concurrent.atomic.LongAdder READS_PAUSED = new java.util.concurrent.atomic.LongAdder();
  /** Reading stops while more than this much ciphertext waits for the peer to take it. */
  static final int PAUSE_OWED = 16 * 1024;
  /**
   * What a connection may owe its peer at most: ciphertext produced but not yet taken by the socket
   * (what stops reading, plus one record of the handler's and a close_notify).
   */
  static final int MAX_OWED = 64 * 1024;
  /** More records than this in a row without application data (key updates) close the connection. */
  static final int MAX_EMPTY_RECORDS = 32;

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
  private int emptyRecords; // in a row: key updates, or records without a byte of data
  // Set by a reader that stopped because the peer does not take what it is owed; cleared, and the
  // reader told, when the socket has taken it.
  private volatile boolean readPaused;
  private volatile Runnable watcher;
  private volatile Runnable userReadable;
  // Write side, under writeLock. netOut is in read mode.
  private ByteBuffer netOut;
  private volatile int owed; // netOut.remaining(), for the reader
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
          if (hasCompleteRecord()) {
            if (peerNotReading()) {
              return total; // a short read; readers are told again when the peer has caught up
            }
            if (unwrapOne()) {
              continue;
            }
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

  /**
   * Whether the peer has not taken what this side owes it (key update answers pile up behind a
   * socket it does not read): then reading stops, as a plaintext connection's does while its
   * output queue is full, until the socket takes the output.
   */
  private boolean peerNotReading() {
    if (owed <= PAUSE_OWED) {
      return false;
    }
    readPaused = true;
    if (owed <= PAUSE_OWED) { // the output went out meanwhile, maybe before the flag was seen
      readPaused = false;
      return false;
    }
    READS_PAUSED.increment();
    synchronized (writeLock) {
      raw.whenWritable(onRawWritable);
    }
    return true;
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
    if (r.getStatus() == SSLEngineResult.Status.OK && r.bytesConsumed() > 0) {
      if (r.bytesProduced() > 0) {
        emptyRecords = 0;
      } else if (++emptyRecords > MAX_EMPTY_RECORDS) {
        abortNow();
        throw new SSLException("too many TLS key updates: more than " + MAX_EMPTY_RECORDS
            + " records in a row without application data; the connection was closed");
      }
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

  private boolean hasCompleteRecordLocked() {
    synchronized (readLock) {
      return hasCompleteRecord();
    }
  }

  /** Whether a read would return something without touching the socket. */
  private boolean readableNow() {
    synchronized (readLock) {
      return plainIn.hasRemaining() || inboundDone || failure != null
          || (hasCompleteRecord() && owed <= PAUSE_OWED);
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
   * returns the bytes produced. The engine writes straight behind what is queued; netOut moves its
   * bytes down only when that copies no more than has been sent since, and otherwise doubles, so
   * queueing n bytes costs O(n) however small the records.
   */
  private int appendRecord(ByteBuffer src) throws IOException {
    int packet = engine.getSession().getPacketBufferSize();
    try {
      while (true) {
        makeRoom(packet);
        ByteBuffer tail = netOut.duplicate();
        tail.position(netOut.limit()).limit(netOut.capacity());
        SSLEngineResult r = engine.wrap(src, tail);
        netOut.limit(tail.position());
        if (r.getStatus() == SSLEngineResult.Status.BUFFER_OVERFLOW) {
          packet = Math.max(packet * 2, engine.getSession().getPacketBufferSize());
          continue;
        }
        if (r.getStatus() == SSLEngineResult.Status.CLOSED && src != EMPTY) {
          throw new SocketException("TLS session closed");
        }
        return r.bytesProduced();
      }
    } finally {
      owed = netOut.remaining();
      OWED_HIGH_WATER.accumulate(owed);
    }
  }

  /** Makes at least {@code room} bytes free behind netOut's bytes (netOut stays in read mode). */
  private void makeRoom(int room) {
    if (netOut.capacity() - netOut.limit() >= room) {
      return;
    }
    int queued = netOut.remaining();
    if (netOut.capacity() - queued >= room && netOut.position() >= queued) {
      netOut.compact().flip(); // copies fewer bytes than were sent since the last move
      return;
    }
    ByteBuffer bigger = ByteBuffer.allocate(Math.max(netOut.capacity() * 2, queued + room));
    bigger.put(netOut).flip();
    netOut = bigger;
  }

  private boolean flushNetOut() throws IOException {
    try {
      while (netOut.hasRemaining()) {
        if (raw.write(netOut) == 0) {
          return false;
        }
      }
      // All sent: start again at the front, and give back what a burst made us grow to.
      int packet = engine.getSession().getPacketBufferSize();
      if (netOut.capacity() > 2 * packet) {
        netOut = ByteBuffer.allocate(packet).flip();
      } else {
        netOut.clear().flip();
      }
      return true;
    } finally {
      owed = netOut.remaining();
    }
  }

  /** After the socket took what was owed, a reader that stopped for it reads again. */
  private void resumeReading() {
    if (readPaused && owed <= PAUSE_OWED) {
      readPaused = false;
      for (Runnable r : new Runnable[] {userReadable, watcher}) {
        if (r != null) {
          raw.execute(r);
        }
      }
    }
  }

  private void onRawWritable() {
    Runnable task = null;
    boolean closeRaw = false;
    boolean flushed;
    synchronized (writeLock) {
      try {
        flushed = flushNetOut();
      } catch (IOException e) {
        flushed = true;
        closeRaw = true;
      }
      if (!flushed && raw.isOpen()) {
        raw.whenWritable(onRawWritable);
      } else {
        flushed = true;
        if (lingering) {
          closeRaw = true;
        }
        task = userWritable;
        userWritable = null;
      }
    }
    if (closeRaw) {
      raw.close();
    }
    resumeReading(); // also when partly sent: a reader may go on once little is left
    if (flushed && task != null) {
      task.run();
    }
  }

  @Override
  public void whenReadable(Runnable task) {
    userReadable = task;
    if (readPaused) {
      return; // resumeReading() runs it once the peer has taken what it is owed
    }
    // A whole record is here but the peer owes us its reading: waiting for more ciphertext could
    // wait forever (the peer may send nothing more), so pause as read() does, until output drains.
    if (hasCompleteRecordLocked() && peerNotReading()) {
      return;
    }
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
