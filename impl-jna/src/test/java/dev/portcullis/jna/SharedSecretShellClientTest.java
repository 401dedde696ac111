package dev.portcullis.jna;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.portcullis.Handshakes;
import dev.portcullis.RunningServer;
import dev.portcullis.Server;
import dev.portcullis.handshake.secret.SharedSecretClient;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The shared-secret handshake answered by a client that knows only the published wire format: a
 * bash script using /dev/tcp and {@code openssl dgst -hmac}. And the Java client, on real sockets.
 */
@Timeout(60)
class SharedSecretShellClientTest {
  private static final String KEY_HEX = "8f2a5c7e1b3d4f6a8c0e2b4d6f8a1c3e5b7d9f0a2c4e6b8d";

  private static final String SCRIPT = String.join("\n",
      "set -eu",
      "exec 3<>/dev/tcp/127.0.0.1/$PORT",
      "read -r magic version nonce <&3",
      "mac=$(printf '%s' \"portcullis-auth v1 client $nonce $KEY_ID\" \\",
      "      | openssl dgst -sha256 -mac HMAC -macopt hexkey:$KEY | awk '{print $NF}')",
      "printf 'AUTH %s %s\\n' \"$KEY_ID\" \"$mac\" >&3",
      "read -r ok <&3 || ok=closed",
      "echo \"$ok\"",
      "if [ \"$ok\" = OK ]; then printf 'ping\\n' >&3; read -r back <&3; echo \"$back\"; fi",
      "");

  private static String runScript(int port, String keyId, String keyHex) throws Exception {
    ProcessBuilder pb = new ProcessBuilder(ExternalTool.require("bash"), "-c", SCRIPT).redirectErrorStream(true);
    pb.environment().putAll(Map.of("PORT", String.valueOf(port), "KEY_ID", keyId, "KEY", keyHex));
    Process p = pb.start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertTrue(p.waitFor(30, TimeUnit.SECONDS));
    return out;
  }

  @Test
  void shellClientBuiltFromTheWireFormatIsServedAndAWrongKeyIsNot() throws Exception {
    ExternalTool.require("openssl");
    try (RunningServer server = Server.on(0).bindAddress("127.0.0.1").allow("127.0.0.1")
        .handshake(Handshakes.sharedSecret(Map.of("app-1", HexFormat.of().parseHex(KEY_HEX))))
        .handle(conn -> {
          String id = conn.identity().orElseThrow().name();
          byte[] line = conn.input().readNBytes(5);
          conn.output().write((id + ":" + new String(line, StandardCharsets.US_ASCII)).getBytes(StandardCharsets.US_ASCII));
        }).start()) {
      int port = server.port();
      assertEquals(List.of("OK", "app-1:ping"), runScript(port, "app-1", KEY_HEX).lines().toList());
      assertEquals(List.of("closed"), runScript(port, "app-1", KEY_HEX.replace('8', '9')).lines().toList());
      assertEquals(1, server.stats().handshakeFailures());

      try (Socket s = Clients.connect("127.0.0.1", server.localAddress())) {
        SharedSecretClient.authenticate(s.getInputStream(), s.getOutputStream(), "app-1",
            HexFormat.of().parseHex(KEY_HEX));
        s.getOutputStream().write("java\n".getBytes(StandardCharsets.US_ASCII));
        assertEquals("app-1:java\n", new String(s.getInputStream().readAllBytes(), StandardCharsets.US_ASCII));
      }
    }
  }
}
