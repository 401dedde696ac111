package dev.portcullis.examples;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.BufferedReader;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** {@code echo --proxy-protocol CIDR --proxy-optional}: a mixed port, in its own JVM. */
@Timeout(60)
class EchoProxyOptionalTest {
  private static String exchange(String from, int port, String text) throws IOException {
    try (Socket s = new Socket()) {
      s.bind(new InetSocketAddress(InetAddress.getByName(from), 0));
      s.connect(new InetSocketAddress("127.0.0.1", port), 5000);
      s.setSoTimeout(5000);
      s.getOutputStream().write(text.getBytes(StandardCharsets.US_ASCII));
      s.shutdownOutput();
      byte[] reply = s.getInputStream().readAllBytes();
      return reply.length == 0 ? null : new String(reply, StandardCharsets.US_ASCII);
    } catch (SocketException e) {
      return null; // closed by the server
    }
  }

  @Test
  void aTrustedProxysHeaderIsHonouredWhenSentAndEveryoneElseIsEchoedAsTheyCame() throws Exception {
    String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    Process p = new ProcessBuilder(List.of(java, "-cp", System.getProperty("java.class.path"),
        Launcher.class.getName(), "echo", "--port", "0", "--bind", "127.0.0.1", "--allow", "127.0.0.0/8",
        "--deny", "127.0.0.9", "--proxy-protocol", "127.0.0.1/32", "--proxy-optional"))
        .redirectError(ProcessBuilder.Redirect.INHERIT).start();
    try (BufferedReader out = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
      String first = out.readLine();
      assertTrue(first != null && first.startsWith("listening on 127.0.0.1:"), String.valueOf(first));
      int port = Integer.parseInt(first.substring(first.lastIndexOf(':') + 1));

      assertEquals("hi", exchange("127.0.0.1", port, "PROXY TCP4 127.0.0.8 127.0.0.1 1 2\r\nhi"),
          "the trusted proxy's header is read, not echoed");
      assertNull(exchange("127.0.0.1", port, "PROXY TCP4 127.0.0.9 127.0.0.1 1 2\r\nhi"),
          "the client it names is denied by its own address");
      assertEquals("health", exchange("127.0.0.1", port, "health"), "the proxy without a header");
      String forged = "PROXY TCP4 127.0.0.9 127.0.0.1 1 2\r\nhi";
      assertEquals(forged, exchange("127.0.0.2", port, forged), "a direct client's header is its data");
    } finally {
      p.destroyForcibly();
      p.waitFor(20, TimeUnit.SECONDS);
    }
  }

  @Test
  void proxyOptionalWithoutTrustedProxiesIsAUsageError() {
    ByteArrayOutputStream err = new ByteArrayOutputStream();
    int status = Launcher.run(new String[] {"echo", "--port", "0", "--allow-all", "--proxy-optional"},
        new ByteArrayInputStream(new byte[0]), new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8),
        new PrintStream(err, true, StandardCharsets.UTF_8));
    assertEquals(2, status);
    assertTrue(err.toString(StandardCharsets.UTF_8).contains("--proxy-optional")
        && err.toString(StandardCharsets.UTF_8).contains("--proxy-protocol TRUSTED_CIDR"), err.toString(StandardCharsets.UTF_8));
  }
}
