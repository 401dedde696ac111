package dev.portcullis;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.portcullis.handshake.Identity;
import dev.portcullis.handshake.secret.SharedSecret;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** The shared-secret challenge, driven byte by byte as a client in any language would. */
@Timeout(10)
class SharedSecretTest {
  private static final byte[] KEY = HexFormat.of().parseHex("00112233445566778899aabbccddeeff0123456789abcdef");
  private final MockTransport mock = new MockTransport();
  private final List<Connection> served = new ArrayList<>();
  private final List<String> read = new ArrayList<>();
  private RunningServer server;

  @BeforeEach
  void start() throws Exception {
    server = Server.on(7000).transport(mock.transport).executor(Runnable::run).allow("10.0.0.0/8")
        .handshake(Handshakes.sharedSecret(Map.of("app-1", KEY, "app-2", new byte[16])))
        .handle(conn -> {
          served.add(conn);
          read.add(new String(conn.input().readAllBytes(), StandardCharsets.UTF_8));
        }).start();
  }

  @AfterEach
  void stop() {
    server.close();
  }

  private FakeChannel connect() throws Exception {
    return mock.connect("10.0.0.5");
  }

  /** The nonce from the server's greeting, checked against the published format. */
  private static String nonce(FakeChannel ch) {
    String greeting = ch.written();
    assertTrue(greeting.matches("PORTCULLIS-AUTH v1 [0-9a-f]{64}\n"), greeting);
    return greeting.substring(19, 83);
  }

  /** The MAC computed from the documentation alone, with the JDK's HMAC. */
  private static String answer(byte[] key, String nonce, String keyId) throws Exception {
    Mac mac = Mac.getInstance("HmacSHA256");
    mac.init(new SecretKeySpec(key, "HmacSHA256"));
    byte[] m = mac.doFinal(("portcullis-auth v1 client " + nonce + " " + keyId).getBytes(StandardCharsets.US_ASCII));
    return "AUTH " + keyId + " " + HexFormat.of().formatHex(m) + "\n";
  }

  @Test
  void rightAnswerIsServedWithTheKeyIdAsIdentity() throws Exception {
    FakeChannel ch = connect();
    String nonce = nonce(ch);
    ch.feedAndClose(answer(KEY, nonce, "app-1") + "request");
    assertEquals("PORTCULLIS-AUTH v1 " + nonce + "\nOK\n", ch.written());
    assertEquals(Optional.of(Identity.of("shared-secret", "app-1")), served.get(0).identity());
    assertEquals(List.of("request"), read);
  }

  @Test
  void everyConnectionGetsAFreshNonceSoARecordedAnswerFailsLater() throws Exception {
    FakeChannel first = connect();
    String recorded = answer(KEY, nonce(first), "app-1");
    FakeChannel second = connect();
    assertNotEquals(nonce(first), nonce(second));
    second.feedAndClose(recorded);
    assertFalse(second.isOpen());
    assertTrue(served.isEmpty());
    assertEquals(1, server.stats().handshakeFailures());
  }

  @Test
  void wrongKeyUnknownIdReflectedChallengeAndMalformedLinesAreRefused() throws Exception {
    FakeChannel wrongKey = connect();
    wrongKey.feedAndClose(answer(new byte[16], nonce(wrongKey), "app-1"));
    FakeChannel unknownId = connect();
    unknownId.feedAndClose(answer(KEY, nonce(unknownId), "app-9"));
    FakeChannel reflected = connect();
    reflected.feedAndClose(reflected.written());
    FakeChannel otherKeysMac = connect();
    otherKeysMac.feedAndClose(answer(new byte[16], nonce(otherKeysMac), "app-1").replace("app-1", "app-2"));
    FakeChannel malformed = connect();
    malformed.feedAndClose("AUTH app-1 zz\n");
    FakeChannel endless = connect();
    endless.feed("A".repeat(200));
    for (FakeChannel ch : List.of(wrongKey, unknownId, reflected, otherKeysMac, malformed, endless)) {
      assertFalse(ch.isOpen());
      assertFalse(ch.written().contains("OK"), "no OK for a refused answer");
    }
    assertTrue(served.isEmpty());
    assertEquals(6, server.stats().handshakeFailures());
  }

  @Test
  void keysAreCheckedWhereTheyAreGiven(@TempDir Path dir) throws Exception {
    assertThrows(IllegalArgumentException.class, () -> Handshakes.sharedSecret(Map.of("app", new byte[15])));
    assertThrows(IllegalArgumentException.class, () -> Handshakes.sharedSecret(Map.of("bad id", new byte[16])));
    assertThrows(IllegalArgumentException.class, () -> Handshakes.sharedSecret(Map.of()));
    Path file = dir.resolve("keys");
    Files.writeString(file, "# keys\napp-1:00112233445566778899aabbccddeeff\napp-2:0011\n");
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> SharedSecret.loadKeys(file));
    assertTrue(e.getMessage().startsWith(file + ":3: ") && e.getMessage().contains("at least 16"), e.getMessage());
    Files.writeString(file, "app-1:00112233445566778899aabbccddeeff\napp-1:00112233445566778899aabbccddeeff\n");
    assertTrue(assertThrows(IllegalArgumentException.class, () -> SharedSecret.loadKeys(file)).getMessage()
        .contains("appears twice"));
    Files.writeString(file, "app-1:xyz\n");
    assertTrue(assertThrows(IllegalArgumentException.class, () -> SharedSecret.loadKeys(file)).getMessage()
        .contains("not hexadecimal"));
    Files.writeString(file, "app-1:00112233445566778899aabbccddeeff\n");
    assertEquals(16, SharedSecret.loadKeys(file).get("app-1").length);
  }
}
