package dev.portcullis.jna;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.portcullis.Handshakes;
import dev.portcullis.RunningServer;
import dev.portcullis.Server;
import dev.portcullis.policy.Penalties;
import dev.portcullis.spi.LogCapture;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * What a server writes names addresses and durations as people write them ({@code 127.0.0.1:7000},
 * {@code [::1]:7000}, {@code 10s}), never as the JDK's {@code toString()} does
 * ({@code /127.0.0.1:7000}, {@code PT10S}): its start, refusal and shutdown lines, and the
 * {@code toString()} a handler sees.
 */
@Timeout(60)
class ReadableFormsTest {
  @RegisterExtension
  final LogCapture log = new LogCapture();

  @Test
  void startRefusalAndShutdownLinesOnIpv4() throws Exception {
    RunningServer server = Server.on(0).bindAddress("127.0.0.1").allow("127.0.0.0/8")
        .penalties(Penalties.after(1, Duration.ofSeconds(10)))
        .handshake(Handshakes.expectLine("HELLO"))
        .handle(conn -> conn.output().write(conn.toString().getBytes(StandardCharsets.UTF_8)))
        .start();
    String at = "127.0.0.1:" + server.port();
    try {
      assertEquals("RunningServer[" + at + "]", server.toString());
      String reply = Clients.exchange("127.0.0.1", server.localAddress(), "HELLO\n");
      assertTrue(reply != null && reply.matches("Connection\\[127\\.0\\.0\\.1:\\d+\\]"), reply);

      assertEquals(null, Clients.exchange("127.0.0.2", server.localAddress(), "nope\n"), "a failed handshake");
      assertTrue(Clients.await(() -> !log.lines("Penalized 127.0.0.2").isEmpty(), Duration.ofSeconds(10)),
          log.text());
      String penalized = log.lines("Penalized 127.0.0.2").get(0);
      assertTrue(penalized.contains("(1 offences within 10s"), penalized);
    } finally {
      assertTrue(server.shutdown(Duration.ofSeconds(10)));
    }
    assertLine("Listening on " + at + " (");
    assertLine("Shutting down " + at + ": not accepting; 0 connection(s) open, waiting up to 10s");
    assertLine("Closed " + at);
  }

  @Test
  void startAndShutdownLinesOnIpv6() throws Exception {
    RunningServer server = Server.on(0).bindAddress("::1").allow("::1").handle(conn -> {}).start();
    String at = "[::1]:" + server.port();
    assertTrue(server.shutdown(Duration.ofMinutes(1).plusSeconds(30)));
    assertLine("Listening on " + at + " (");
    assertLine("Shutting down " + at + ": not accepting; 0 connection(s) open, waiting up to 1m30s");
  }

  private void assertLine(String part) {
    List<String> lines = log.lines(part);
    assertFalse(lines.isEmpty(), "a line with '" + part + "' in:\n" + log.text());
  }
}
