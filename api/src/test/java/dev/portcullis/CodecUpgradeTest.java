package dev.portcullis;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.portcullis.handshake.Handshake;
import dev.portcullis.handshake.HandshakeContext;
import dev.portcullis.handshake.HandshakeStep;
import dev.portcullis.spi.Channel;
import dev.portcullis.spi.ForwardingChannel;
import dev.portcullis.spi.LogCapture;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * {@code HandshakeContext.upgrade}: a step puts a codec between the socket and what follows, the
 * way the TLS step does. Here the codec is a toy XOR cipher, so every byte on the wire is visible.
 */
@Timeout(10)
class CodecUpgradeTest {
  /** The step's and handler's failures are logged with their stacks: into the capture, not the build's console. */
  @RegisterExtension
  final LogCapture log = new LogCapture();
  private static final int KEY = 0x5A;
  private final MockTransport mock = new MockTransport();
  private final List<String> seen = new ArrayList<>();
  private RunningServer server;

  @AfterEach
  void close() {
    if (server != null) {
      server.close();
    }
  }

  /** Greets in plaintext, then switches the connection to XOR. */
  private static Handshake xor(boolean upgradeTwice) {
    return Handshake.of("xor", () -> new HandshakeStep() {
      @Override
      public Progress begin(HandshakeContext context) {
        context.write(ByteBuffer.wrap("XOR ON\n".getBytes(StandardCharsets.US_ASCII)));
        context.upgrade(XorChannel::new);
        if (upgradeTwice) {
          context.upgrade(XorChannel::new);
        }
        return Progress.DONE;
      }

      @Override
      public Progress onInput(ByteBuffer input, HandshakeContext context) {
        throw new AssertionError("never asked for input");
      }
    });
  }

  private void start(Handshake... chain) throws IOException {
    Server.TcpBuilder s = Server.on(7000).transport(mock.transport).allow("10.0.0.0/8").executor(Runnable::run)
        .handle(conn -> {
          seen.add(new String(conn.input().readAllBytes(), StandardCharsets.US_ASCII));
          conn.output().write("bye".getBytes(StandardCharsets.US_ASCII));
        });
    for (Handshake h : chain) {
      s.handshake(h);
    }
    server = s.start();
  }

  static byte[] xor(String text) {
    byte[] b = text.getBytes(StandardCharsets.US_ASCII);
    for (int i = 0; i < b.length; i++) {
      b[i] ^= KEY;
    }
    return b;
  }

  @Test
  void bytesBeforeTheUpgradeGoOutPlainAndEverythingAfterGoesThroughTheCodec() throws Exception {
    start(xor(false), Handshakes.expectLine("LOGIN"));
    FakeChannel ch = mock.connect("10.0.0.1");
    assertEquals("XOR ON\n", ch.written(), "the greeting queued before the upgrade is not encoded");
    ch.feedAndClose(xor("LOGIN\nhello"));
    assertEquals(List.of("hello"), seen, "the next step and the handler read decoded bytes");
    byte[] all = ch.written().getBytes(StandardCharsets.ISO_8859_1);
    assertEquals("bye", new String(xor(new String(all, 7, all.length - 7, StandardCharsets.ISO_8859_1)),
        StandardCharsets.ISO_8859_1), "the handler's output is encoded");
  }

  @Test
  void aSecondUpgradeBeforeTheFirstTookEffectFailsTheHandshake() throws Exception {
    start(xor(true));
    FakeChannel ch = mock.connect("10.0.0.1");
    assertFalse(ch.isOpen());
    assertEquals(1, server.stats().handshakeFailures());
    assertTrue(seen.isEmpty());
    assertEquals(1, log.lines("WARN dev.portcullis.internal.HandshakeRun - Handshake step 'xor' with").size(), log.text());
    assertEquals(1, log.lines("asked for a second codec before the first was installed (1 failed so far)").size(),
        log.text());
  }

  /** XOR over another channel; nothing else. */
  private static final class XorChannel extends ForwardingChannel {
    XorChannel(Channel raw) {
      super(raw);
    }

    @Override
    public int read(byte[] dst, int offset, int length) throws IOException {
      int n = delegate.read(dst, offset, length);
      for (int i = 0; i < n; i++) {
        dst[offset + i] ^= KEY;
      }
      return n;
    }

    @Override
    public int write(byte[] src, int offset, int length) throws IOException {
      byte[] coded = new byte[length];
      for (int i = 0; i < length; i++) {
        coded[i] = (byte) (src[offset + i] ^ KEY);
      }
      return delegate.write(coded, 0, length);
    }
  }
}
