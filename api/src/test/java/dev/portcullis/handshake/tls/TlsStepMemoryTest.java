package dev.portcullis.handshake.tls;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.portcullis.handshake.HandshakeContext;
import dev.portcullis.handshake.HandshakeException;
import dev.portcullis.handshake.HandshakeStep;
import dev.portcullis.handshake.Identity;
import dev.portcullis.policy.Limits;
import dev.portcullis.spi.Channel;
import java.io.ByteArrayOutputStream;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyStore;
import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.function.UnaryOperator;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.SSLEngineResult;
import javax.net.ssl.TrustManager;
import javax.net.ssl.X509TrustManager;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * What a pending TLS handshake holds. A peer that sent part of its ClientHello costs its bytes and
 * no engine; one past its ClientHello costs less than {@link Limits#PENDING_HANDSHAKE_BYTES}, what
 * the default cap on pending handshakes counts. The heap figures are measured over many steps and
 * printed; the bounds asserted are several times what is measured.
 */
@Timeout(120)
class TlsStepMemoryTest {
  @TempDir static Path dir;
  static Tls tls;
  static byte[] clientHello;

  @BeforeAll
  static void keys() throws Exception {
    // keytool ships with every JDK: a throw-away EC key and self-signed certificate.
    Path store = dir.resolve("server.p12");
    Process p = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "keytool").toString(),
        "-genkeypair", "-keystore", store.toString(), "-storetype", "PKCS12", "-storepass", "secret", "-alias",
        "server", "-keyalg", "EC", "-groupname", "secp256r1", "-dname", "CN=localhost", "-validity", "2")
        .redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes());
    assertTrue(p.waitFor(60, TimeUnit.SECONDS) && p.exitValue() == 0, out);
    KeyStore ks = KeyStore.getInstance("PKCS12");
    try (InputStream in = Files.newInputStream(store)) {
      ks.load(in, "secret".toCharArray());
    }
    tls = Tls.fromKeyStore(ks, "secret".toCharArray());
    SSLEngine client = client();
    client.beginHandshake();
    ByteBuffer hello = ByteBuffer.allocate(client.getSession().getPacketBufferSize());
    client.wrap(ByteBuffer.allocate(0), hello);
    clientHello = java.util.Arrays.copyOf(hello.array(), hello.position());
  }

  /** A JDK client engine that trusts any server: the test checks the server side only. */
  private static SSLEngine client() throws Exception {
    SSLContext c = SSLContext.getInstance("TLS");
    c.init(null, new TrustManager[] {new X509TrustManager() {
      @Override
      public void checkClientTrusted(X509Certificate[] chain, String authType) {}

      @Override
      public void checkServerTrusted(X509Certificate[] chain, String authType) {}

      @Override
      public X509Certificate[] getAcceptedIssuers() {
        return new X509Certificate[0];
      }
    }}, null);
    SSLEngine e = c.createSSLEngine("localhost", 443);
    e.setUseClientMode(true);
    return e;
  }

  /** The chain's state as a step sees it; what it writes is kept only if asked. */
  static final class Context implements HandshakeContext {
    final ByteArrayOutputStream written = new ByteArrayOutputStream();
    final boolean keep;
    UnaryOperator<Channel> codec;

    Context(boolean keep) {
      this.keep = keep;
    }

    @Override
    public void write(ByteBuffer bytes) {
      if (keep) {
        byte[] b = new byte[bytes.remaining()];
        bytes.get(b);
        written.write(b, 0, b.length);
      } else {
        bytes.position(bytes.limit());
      }
    }

    @Override
    public void upgrade(UnaryOperator<Channel> codec) {
      this.codec = codec;
    }

    @Override
    public SocketAddress peer() {
      return new InetSocketAddress("127.0.0.1", 40000);
    }

    @Override
    public SocketAddress socketPeer() {
      return peer();
    }

    @Override
    public SocketAddress localAddress() {
      return new InetSocketAddress("127.0.0.1", 443);
    }

    @Override
    public Optional<Identity> identity() {
      return Optional.empty();
    }

    @Override
    public <T> Optional<T> attribute(Class<T> type) {
      return Optional.empty();
    }

    @Override
    public void replacePeer(InetSocketAddress peer) {}

    @Override
    public void identity(Identity identity) {}

    @Override
    public <T> void attach(Class<T> type, T value) {}

    @Override
    public long deadlineNanos() {
      return System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
    }
  }

  private static long usedHeap() throws InterruptedException {
    Runtime rt = Runtime.getRuntime();
    long used = Long.MAX_VALUE;
    for (int i = 0; i < 4; i++) {
      System.gc();
      Thread.sleep(20);
      used = Math.min(used, rt.totalMemory() - rt.freeMemory());
    }
    return used;
  }

  /** Heap bytes per step, over {@code n} steps each given {@code input} after begin. */
  private static long heapPerStep(int n, byte[] input) throws Exception {
    Context context = new Context(false);
    List<HandshakeStep> steps = new ArrayList<>(n);
    long before = usedHeap();
    for (int i = 0; i < n; i++) {
      HandshakeStep step = tls.newStep();
      step.begin(context);
      assertEquals(HandshakeStep.Progress.NEED_MORE, step.onInput(ByteBuffer.wrap(input), context));
      steps.add(step);
    }
    long after = usedHeap();
    assertEquals(n, steps.size());
    return (after - before) / n;
  }

  @Test
  void aPeerThatSentPartOfItsClientHelloHoldsItsBytesAndNoEngine() throws Exception {
    byte[] part = java.util.Arrays.copyOf(clientHello, 100);
    TlsStep step = (TlsStep) tls.newStep();
    Context context = new Context(true);
    step.begin(context);
    assertEquals(HandshakeStep.Progress.NEED_MORE, step.onInput(ByteBuffer.wrap(part), context));
    assertFalse(step.hasEngine(), "no engine before the first record is whole");
    assertTrue(step.bufferedCapacity() <= 256, "buffered: " + step.bufferedCapacity());
    assertEquals(0, context.written.size());

    long perStep = heapPerStep(2_000, part);
    System.out.printf("TlsStepMemoryTest: a pending TLS handshake with 100 bytes of its ClientHello holds"
        + " ~%d heap bytes (JDK %d)%n", perStep, Runtime.version().feature());
    assertTrue(perStep < 2048, "heap per pending handshake with part of a ClientHello: " + perStep + " bytes");
  }

  @Test
  void aPeerPastItsClientHelloHoldsLessThanTheDefaultCapCounts() throws Exception {
    long perStep = heapPerStep(300, clientHello);
    System.out.printf("TlsStepMemoryTest: a pending TLS handshake past its ClientHello (%d bytes) holds"
        + " ~%d heap bytes (JDK %d); the default cap counts %d%n", clientHello.length, perStep,
        Runtime.version().feature(), Limits.PENDING_HANDSHAKE_BYTES);
    assertTrue(perStep < Limits.PENDING_HANDSHAKE_BYTES, "heap per pending handshake past its ClientHello: "
        + perStep + " bytes");
  }

  @Test
  void theFirstRecordGrowsWithWhatArrivedAndNoFurtherThanItsEnd() throws Exception {
    TlsStep step = (TlsStep) tls.newStep();
    Context context = new Context(true);
    step.begin(context);
    // A header that promises the largest record a TLS record may be, then 300 bytes of it.
    byte[] header = {0x16, 0x03, 0x01, 0x40, 0x00};
    step.onInput(ByteBuffer.wrap(header), context);
    step.onInput(ByteBuffer.wrap(new byte[300]), context);
    assertFalse(step.hasEngine());
    assertTrue(step.bufferedCapacity() <= 2 * 305, "buffered: " + step.bufferedCapacity());
    step.onInput(ByteBuffer.wrap(new byte[(1 << 14) - 301]), context); // all but its last byte
    assertFalse(step.hasEngine());
    assertTrue(step.bufferedCapacity() <= 5 + (1 << 14), "one record at most: " + step.bufferedCapacity());
  }

  @Test
  void aFirstRecordLongerThanATlsRecordMayBeIsRefusedByItsHeader() throws Exception {
    TlsStep step = (TlsStep) tls.newStep();
    Context context = new Context(true);
    step.begin(context);
    HandshakeException e = assertThrows(HandshakeException.class,
        () -> step.onInput(ByteBuffer.wrap(new byte[] {0x16, 0x03, 0x01, 0x40, 0x01}), context));
    assertEquals("TLS: the first record claims 16385 bytes; a TLS record holds at most 16384", e.getMessage());
    assertFalse(step.hasEngine());
  }

  @Test
  void aHandshakeFedOneByteAtATimeCompletes() throws Exception {
    SSLEngine client = client();
    client.beginHandshake();
    TlsStep step = (TlsStep) tls.newStep();
    Context context = new Context(true);
    step.begin(context);
    ByteBuffer toServer = ByteBuffer.allocate(64 * 1024);
    ByteBuffer toClient = ByteBuffer.allocate(64 * 1024);
    ByteBuffer clientPlain = ByteBuffer.allocate(64 * 1024);
    ByteBuffer serverIn = ByteBuffer.allocate(64 * 1024);
    HandshakeStep.Progress progress = HandshakeStep.Progress.NEED_MORE;
    for (int round = 0; round < 20 && progress != HandshakeStep.Progress.DONE; round++) {
      clientSide:
      while (true) {
        switch (client.getHandshakeStatus()) {
          case NEED_TASK -> {
            Runnable task;
            while ((task = client.getDelegatedTask()) != null) {
              task.run();
            }
          }
          case NEED_WRAP -> {
            SSLEngineResult r = client.wrap(ByteBuffer.allocate(0), toServer);
            assertEquals(SSLEngineResult.Status.OK, r.getStatus());
          }
          case NEED_UNWRAP, NEED_UNWRAP_AGAIN -> {
            toClient.flip();
            SSLEngineResult r = client.unwrap(toClient, clientPlain);
            toClient.compact();
            if (r.getStatus() == SSLEngineResult.Status.BUFFER_UNDERFLOW) {
              break clientSide;
            }
          }
          default -> {
            break clientSide;
          }
        }
      }
      toServer.flip();
      while (toServer.hasRemaining() && progress != HandshakeStep.Progress.DONE) {
        serverIn.put(toServer.get()).flip();
        progress = step.onInput(serverIn, context);
        serverIn.compact();
        if (progress != HandshakeStep.Progress.DONE && !step.hasEngine()) {
          assertEquals(0, context.written.size(), "nothing is said before the ClientHello is whole");
        }
      }
      toServer.compact();
      toClient.put(context.written.toByteArray());
      context.written.reset();
    }
    assertEquals(HandshakeStep.Progress.DONE, progress);
    assertTrue(context.codec != null, "the step installed its codec");
  }
}
