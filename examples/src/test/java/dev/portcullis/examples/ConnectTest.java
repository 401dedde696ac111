package dev.portcullis.examples;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.portcullis.Handshakes;
import dev.portcullis.RunningServer;
import dev.portcullis.Server;
import dev.portcullis.handshake.secret.SharedSecret;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** The connect command against a real shared-secret echo server on loopback. */
@Timeout(30)
class ConnectTest {
  @Test
  void connectPassesTheHandshakeAndRelaysBothWays(@TempDir Path dir) throws Exception {
    Path keys = dir.resolve("keys");
    Files.writeString(keys, "app-1:00112233445566778899aabbccddeeff\nother:ffeeddccbbaa99887766554433221100\n");
    try (RunningServer server = Server.on(0).bindAddress("127.0.0.1").allow("127.0.0.1")
        .handshake(Handshakes.sharedSecret(SharedSecret.loadKeys(keys)))
        .handle(conn -> conn.input().transferTo(conn.output())).start()) {
      String target = "127.0.0.1:" + server.port();
      ByteArrayOutputStream out = new ByteArrayOutputStream();
      ByteArrayOutputStream err = new ByteArrayOutputStream();
      int status = Launcher.run(new String[] {"connect", target, "--secret-file", keys.toString(), "--key-id", "app-1"},
          new ByteArrayInputStream("hello through the gate\n".getBytes(StandardCharsets.UTF_8)),
          new PrintStream(out, true, StandardCharsets.UTF_8), new PrintStream(err, true, StandardCharsets.UTF_8));
      assertEquals(0, status, err.toString(StandardCharsets.UTF_8));
      assertEquals("hello through the gate\n", out.toString(StandardCharsets.UTF_8));

      Path wrong = dir.resolve("wrong");
      Files.writeString(wrong, "app-1:0000000000000000000000000000000000\n");
      err.reset();
      status = Launcher.run(new String[] {"connect", target, "--secret-file", wrong.toString(), "--key-id", "app-1"},
          new ByteArrayInputStream(new byte[0]), new PrintStream(new ByteArrayOutputStream(), true),
          new PrintStream(err, true, StandardCharsets.UTF_8));
      assertEquals(1, status);
      assertTrue(err.toString(StandardCharsets.UTF_8).contains("wrong key"), err.toString(StandardCharsets.UTF_8));
    }
  }

  private static int connect(ByteArrayOutputStream out, ByteArrayOutputStream err, String stdin, String... args) {
    String[] all = new String[args.length + 1];
    all[0] = "connect";
    System.arraycopy(args, 0, all, 1, args.length);
    return Launcher.run(all, new ByteArrayInputStream(stdin.getBytes(StandardCharsets.UTF_8)),
        new PrintStream(out, true, StandardCharsets.UTF_8), new PrintStream(err, true, StandardCharsets.UTF_8));
  }

  @Test
  void fromBindsTheClientToThatAddressSoItCanPlayAnotherHost() throws Exception {
    try (RunningServer server = Server.on(0).bindAddress("127.0.0.1").allow("127.0.0.2")
        .handle(conn -> {
          conn.output().write((((java.net.InetSocketAddress) conn.peer()).getAddress().getHostAddress() + " says ")
              .getBytes(StandardCharsets.UTF_8));
          conn.input().transferTo(conn.output());
        }).start()) {
      String target = "127.0.0.1:" + server.port();
      ByteArrayOutputStream out = new ByteArrayOutputStream();
      ByteArrayOutputStream err = new ByteArrayOutputStream();
      assertEquals(0, connect(out, err, "hello\n", target, "--from", "127.0.0.2"), err.toString(StandardCharsets.UTF_8));
      assertEquals("127.0.0.2 says hello\n", out.toString(StandardCharsets.UTF_8));

      out.reset();
      connect(out, err, "hello\n", target); // from 127.0.0.1, which the policy denies
      assertEquals("", out.toString(StandardCharsets.UTF_8), "without --from the client is 127.0.0.1, and refused");
    }
  }

  @Test
  void fromTakesAnAddressLiteralAndSaysWhenItCannotBeUsed() {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    ByteArrayOutputStream err = new ByteArrayOutputStream();
    assertEquals(2, connect(out, err, "", "127.0.0.1:1", "--from", "localhost"));
    assertTrue(err.toString(StandardCharsets.UTF_8).contains("--from 'localhost' is not an IP address"),
        err.toString(StandardCharsets.UTF_8));
    err.reset();
    // 192.0.2.1 (TEST-NET-1) is on no interface here: binding to it fails before any packet is sent.
    assertEquals(1, connect(out, err, "", "127.0.0.1:1", "--from", "192.0.2.1"));
    assertTrue(err.toString(StandardCharsets.UTF_8).contains("cannot bind to --from 192.0.2.1"),
        err.toString(StandardCharsets.UTF_8));
  }
}
