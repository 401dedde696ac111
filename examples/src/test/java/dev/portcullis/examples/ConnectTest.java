package dev.portcullis.examples;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.portcullis.RunningServer;
import dev.portcullis.Server;
import dev.portcullis.handshake.Handshakes;
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
}
