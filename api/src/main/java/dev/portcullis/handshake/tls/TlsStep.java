package dev.portcullis.handshake.tls;

import dev.portcullis.handshake.HandshakeContext;
import dev.portcullis.handshake.HandshakeException;
import dev.portcullis.handshake.HandshakeStep;
import java.nio.ByteBuffer;
import java.security.cert.Certificate;
import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.List;
import javax.net.ssl.ExtendedSSLSession;
import javax.net.ssl.SNIHostName;
import javax.net.ssl.SNIServerName;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.SSLEngineResult;
import javax.net.ssl.SSLException;
import javax.net.ssl.SSLPeerUnverifiedException;
import javax.net.ssl.SSLSession;

/**
 * One connection's TLS handshake: feeds the chain's input to the engine, queues what the engine
 * wants sent, and when the engine is done installs a {@link TlsChannel} for everything after.
 */
final class TlsStep implements HandshakeStep {
  private static final ByteBuffer EMPTY = ByteBuffer.allocate(0);
  private static final int TLS_HANDSHAKE_RECORD = 0x16;
  private static final byte TLS_ALERT_RECORD = 0x15;
  private static final byte ALERT_FATAL = 2;
  private static final byte ALERT_CERTIFICATE_UNKNOWN = 46;
  private static final byte ALERT_ACCESS_DENIED = 49;

  /** The most a TLS plaintext record holds (RFC 8446 5.1): the bound of the first record. */
  static final int MAX_PLAINTEXT_RECORD = 1 << 14;
  private static final int RECORD_HEADER = 5;
  /** What the first record's buffer starts at: most ClientHellos fit, and a silent peer costs little. */
  private static final int FIRST_RECORD_START = 256;

  private final Tls config;
  // Until the first record (the ClientHello) is complete, a connection holds only its bytes, in a
  // buffer that grows with what arrived: no engine and no packet-sized buffers, so that thousands of
  // peers that send part of a ClientHello and stop cost little (the pending-handshake cap bounds
  // how many there are).
  private ByteBuffer firstRecord;
  private SSLEngine engine;
  /** Ciphertext for the engine, in write mode; grows up to the engine's packet size. */
  private ByteBuffer netIn;
  /** Plaintext the engine produced; empty during the handshake (the engine needs no room for it then). */
  private ByteBuffer plain;
  private boolean sawFirstByte;
  private String helloServerName; // as the ClientHello asked, when the engine ignored it

  TlsStep(Tls config) {
    this.config = config;
  }

  /**
   * What this step holds on the heap beyond its own fields, in buffer bytes: for tests that check
   * a pending handshake stays small, and whether an engine exists.
   */
  long bufferedCapacity() {
    return (firstRecord == null ? 0 : firstRecord.capacity()) + (netIn == null ? 0 : netIn.capacity())
        + (plain == null ? 0 : plain.capacity());
  }

  boolean hasEngine() {
    return engine != null;
  }

  @Override
  public Progress onInput(ByteBuffer input, HandshakeContext context) throws HandshakeException {
    if (!sawFirstByte && input.hasRemaining()) {
      sawFirstByte = true;
      int first = input.get(input.position()) & 0xFF;
      if (first != TLS_HANDSHAKE_RECORD) {
        throw new HandshakeException(String.format("TLS: the first byte is 0x%02x%s, not a TLS handshake record"
            + " (0x16); a plaintext client on the TLS port?", first,
            first >= 0x20 && first < 0x7f ? " ('" + (char) first + "')" : ""));
      }
    }
    if (engine == null) {
      if (!bufferFirstRecord(input)) {
        return Progress.NEED_MORE;
      }
      startEngine(context);
    }
    take(input);
    ByteBuffer netOut = null;
    try {
      while (true) {
        switch (engine.getHandshakeStatus()) {
          case NEED_TASK -> runTasks();
          case NEED_WRAP -> {
            // Made for this call only: what the engine wrote is copied by context.write, and a
            // pending handshake keeps no output buffer while it waits for the client.
            if (netOut == null) {
              netOut = ByteBuffer.allocate(engine.getSession().getPacketBufferSize());
            }
            netOut.clear();
            SSLEngineResult r = engine.wrap(EMPTY, netOut);
            netOut.flip();
            if (r.getStatus() == SSLEngineResult.Status.BUFFER_OVERFLOW) {
              netOut = ByteBuffer.allocate(netOut.capacity() + engine.getSession().getPacketBufferSize());
              continue;
            }
            context.write(netOut);
            if (r.getStatus() == SSLEngineResult.Status.CLOSED) {
              throw new HandshakeException("TLS: the handshake was closed");
            }
          }
          case NEED_UNWRAP, NEED_UNWRAP_AGAIN -> {
            netIn.flip();
            SSLEngineResult r;
            try {
              r = engine.unwrap(netIn, plain);
            } finally {
              netIn.compact();
            }
            switch (r.getStatus()) {
              case BUFFER_UNDERFLOW -> {
                if (!input.hasRemaining()) {
                  return Progress.NEED_MORE;
                }
                take(input);
              }
              case BUFFER_OVERFLOW -> plain = grow(plain, engine.getSession().getApplicationBufferSize());
              case CLOSED -> throw new HandshakeException("TLS: the client closed during the handshake");
              case OK -> {
                // the loop asks the engine what it wants next
              }
            }
          }
          case FINISHED, NOT_HANDSHAKING -> {
            return finish(input, context);
          }
        }
      }
    } catch (SSLException e) {
      Tls.RuleMismatch mismatch = ruleMismatch(e);
      sendAlert(context, mismatch != null);
      if (mismatch != null) {
        throw new HandshakeException("TLS: " + mismatch.getMessage(), e);
      }
      throw new HandshakeException("TLS handshake failed: " + e.getMessage(), e);
    }
  }

  private Progress finish(ByteBuffer input, HandshakeContext context) throws HandshakeException {
    SSLSession session = engine.getSession();
    String serverName = null;
    if (session instanceof ExtendedSSLSession ext) {
      for (SNIServerName n : ext.getRequestedServerNames()) {
        if (n instanceof SNIHostName h) {
          serverName = h.getAsciiName();
        }
      }
    }
    if (serverName == null) {
      // The engine reports no name when its server_name extension is switched off
      // (-Djdk.tls.server.disableExtensions=server_name, for names it would refuse, such as
      // under_score.example); the ClientHello still had it.
      serverName = helloServerName;
    }
    context.attach(TlsSession.class, new TlsSession(session.getProtocol(), session.getCipherSuite(), serverName, session));
    if (config.requiresClientCertificate()) {
      List<X509Certificate> chain = new ArrayList<>();
      try {
        for (Certificate c : session.getPeerCertificates()) {
          chain.add((X509Certificate) c);
        }
      } catch (SSLPeerUnverifiedException e) {
        sendAlert(context);
        throw new HandshakeException("TLS: the client presented no verified certificate");
      }
      String refusal = config.refusal(chain.get(0));
      if (refusal != null) {
        sendAlert(context);
        throw new HandshakeException("TLS: " + refusal);
      }
      context.identity(new CertificateIdentity(chain));
    }
    // Everything still buffered is ciphertext for the channel: the client may send data right
    // behind its Finished message.
    if (netIn.remaining() < input.remaining()) {
      netIn = grow(netIn, netIn.position() + input.remaining());
    }
    netIn.put(input);
    ByteBuffer ciphertext = netIn;
    ByteBuffer plaintext = plain.flip();
    SSLEngine e = engine;
    context.upgrade(raw -> new TlsChannel(raw, e, ciphertext, plaintext));
    return Progress.DONE;
  }

  /**
   * Moves the first record's bytes from {@code input} into {@link #firstRecord}, which grows with
   * what arrived (doubling, from {@value #FIRST_RECORD_START} bytes) and never past the record's
   * end: true once the record is whole. Bytes behind it stay in {@code input}.
   */
  private boolean bufferFirstRecord(ByteBuffer input) throws HandshakeException {
    if (firstRecord == null) {
      firstRecord = ByteBuffer.allocate(FIRST_RECORD_START);
    }
    int end;
    while ((end = firstRecordEnd()) < 0 || firstRecord.position() < end) {
      if (!input.hasRemaining()) {
        return false;
      }
      int want = (end < 0 ? RECORD_HEADER : end) - firstRecord.position();
      int n = Math.min(want, input.remaining());
      if (firstRecord.remaining() < n) {
        firstRecord = grow(firstRecord, firstRecord.position() + n, end);
      }
      firstRecord.put(input.slice(input.position(), n));
      input.position(input.position() + n);
    }
    return true;
  }

  /** Where the first record ends, once its header is here; -1 before. */
  private int firstRecordEnd() throws HandshakeException {
    if (firstRecord.position() < RECORD_HEADER) {
      return -1;
    }
    int length = firstRecord.getShort(3) & 0xFFFF;
    if (length > MAX_PLAINTEXT_RECORD) {
      throw new HandshakeException("TLS: the first record claims " + length + " bytes; a TLS record holds at most "
          + MAX_PLAINTEXT_RECORD);
    }
    return RECORD_HEADER + length;
  }

  /** The first record is whole: now the engine, with the record as its first input. */
  private void startEngine(HandshakeContext context) throws HandshakeException {
    netIn = firstRecord;
    firstRecord = null;
    clientHelloServerName();
    engine = config.newEngine(context.peer());
    plain = ByteBuffer.allocate(0);
    try {
      engine.beginHandshake();
    } catch (SSLException e) {
      throw new HandshakeException("TLS: " + e.getMessage(), e);
    }
  }

  /**
   * Reads the host name of the server_name extension from the ClientHello in the first record,
   * which is whole. Only letters, digits, '-', '_' and '.' are taken (lower-cased); anything else
   * counts as no name.
   */
  private void clientHelloServerName() {
    ByteBuffer b = netIn.duplicate().flip(); // netIn is in write mode: its bytes are 0..position
    int end = RECORD_HEADER + (b.getShort(3) & 0xFFFF);
    try {
      b.limit(end).position(5);
      if (b.get() != 1) { // ClientHello
        return;
      }
      int length = ((b.get() & 0xFF) << 16) | (b.getShort() & 0xFFFF);
      if (length > b.remaining()) {
        return; // continued in the next record: no name, as far as this step can tell
      }
      b.limit(b.position() + length);
      b.position(b.position() + 2 + 32); // version, random
      skip(b, b.get() & 0xFF); // session id
      skip(b, b.getShort() & 0xFFFF); // cipher suites
      skip(b, b.get() & 0xFF); // compression methods
      int extensionsEnd = (b.getShort() & 0xFFFF) + b.position();
      while (b.position() + 4 <= extensionsEnd) {
        int type = b.getShort() & 0xFFFF;
        int size = b.getShort() & 0xFFFF;
        if (type != 0) {
          skip(b, size);
          continue;
        }
        int listEnd = (b.getShort() & 0xFFFF) + b.position();
        while (b.position() + 3 <= listEnd) {
          int nameType = b.get() & 0xFF;
          int nameLength = b.getShort() & 0xFFFF;
          if (nameType == 0 && nameLength > 0 && nameLength <= 255) {
            byte[] name = new byte[nameLength];
            b.get(name);
            for (byte c : name) {
              if (!(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.')) {
                return;
              }
            }
            helloServerName = new String(name, java.nio.charset.StandardCharsets.US_ASCII).toLowerCase(java.util.Locale.ROOT);
            return;
          }
          skip(b, nameLength);
        }
        return;
      }
    } catch (RuntimeException malformed) {
      // the engine will say what is wrong with it
    }
    return;
  }

  private static void skip(ByteBuffer b, int n) {
    b.position(b.position() + n);
  }

  /**
   * Moves as much input as fits into the engine's input buffer, which grows as needed up to the
   * engine's packet size (one whole record).
   */
  private void take(ByteBuffer input) throws HandshakeException {
    if (!input.hasRemaining()) {
      return;
    }
    if (!netIn.hasRemaining()) {
      int packet = engine.getSession().getPacketBufferSize();
      if (netIn.capacity() >= packet) {
        throw new HandshakeException("TLS: a handshake record longer than " + netIn.capacity() + " bytes");
      }
      netIn = grow(netIn, netIn.position() + input.remaining(), packet);
    }
    int n = Math.min(input.remaining(), netIn.remaining());
    ByteBuffer slice = input.slice(input.position(), n);
    netIn.put(slice);
    input.position(input.position() + n);
  }

  private void runTasks() {
    Runnable task;
    while ((task = engine.getDelegatedTask()) != null) {
      task.run();
    }
  }

  private static Tls.RuleMismatch ruleMismatch(Throwable t) {
    for (int depth = 0; t != null && depth < 10; t = t.getCause(), depth++) {
      if (t instanceof Tls.RuleMismatch m) {
        return m;
      }
    }
    return null;
  }

  private void sendAlert(HandshakeContext context) {
    sendAlert(context, false);
  }

  /**
   * After a failure the engine may hold an alert for the client; queue it, best effort. For a
   * client certificate that matches no rule the engine's alert is certificate_unknown; when that
   * alert is a plaintext record (TLS 1.2, whose client certificate arrives before the server's
   * ChangeCipherSpec), it is sent as access_denied instead. An encrypted alert (TLS 1.3) is sent
   * as the engine made it.
   */
  private void sendAlert(HandshakeContext context, boolean accessDenied) {
    if (engine == null) {
      return; // nothing was said yet, so there is nothing to answer with
    }
    try {
      ByteBuffer netOut = ByteBuffer.allocate(engine.getSession().getPacketBufferSize());
      engine.closeOutbound();
      engine.wrap(EMPTY, netOut);
      netOut.flip();
      if (accessDenied && isPlaintextFatalAlert(netOut, ALERT_CERTIFICATE_UNKNOWN)) {
        netOut.put(netOut.position() + 6, ALERT_ACCESS_DENIED);
      }
      if (netOut.hasRemaining()) {
        context.write(netOut);
      }
    } catch (SSLException | RuntimeException ignored) {
      // nothing more to say
    }
  }

  /** Exactly one unencrypted alert record: type 21, version 3.x, length 2, level fatal, this description. */
  private static boolean isPlaintextFatalAlert(ByteBuffer b, byte description) {
    int p = b.position();
    return b.remaining() == 7 && b.get(p) == TLS_ALERT_RECORD && b.get(p + 1) == 3 && b.get(p + 3) == 0
        && b.get(p + 4) == 2 && b.get(p + 5) == ALERT_FATAL && b.get(p + 6) == description;
  }

  static ByteBuffer grow(ByteBuffer b, int atLeast) {
    return grow(b, atLeast, Integer.MAX_VALUE);
  }

  /**
   * A bigger buffer with {@code b}'s bytes (b in write mode): twice its capacity or {@code atLeast},
   * whichever is more, but no more than {@code atMost}.
   */
  static ByteBuffer grow(ByteBuffer b, int atLeast, int atMost) {
    ByteBuffer bigger = ByteBuffer.allocate(Math.min(atMost, Math.max(atLeast, b.capacity() * 2)));
    b.flip();
    bigger.put(b);
    return bigger;
  }
}
