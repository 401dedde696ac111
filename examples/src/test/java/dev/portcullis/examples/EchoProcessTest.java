package dev.portcullis.examples;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** The echo service as users run it: a separate JVM, a real client, then SIGTERM. */
@Timeout(60)
class EchoProcessTest {

  private static String exchange(String from, int port, String text) throws IOException {
    try (Socket s = new Socket()) {
      s.bind(new InetSocketAddress(InetAddress.getByName(from), 0));
      s.connect(new InetSocketAddress("127.0.0.1", port), 2000);
      s.setSoTimeout(5000);
      s.getOutputStream().write(text.getBytes(StandardCharsets.UTF_8));
      s.shutdownOutput();
      byte[] reply = s.getInputStream().readAllBytes();
      return reply.length == 0 ? null : new String(reply, StandardCharsets.UTF_8);
    } catch (SocketException | java.net.SocketTimeoutException e) {
      return null; // reset by the policy, or never answered because the kernel filter dropped the SYN
    }
  }

  @Test
  void echoServesAllowedClientsRefusesOthersAndStopsCleanlyOnSigterm() throws Exception {
    String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    Process p = new ProcessBuilder(List.of(java, "-cp", System.getProperty("java.class.path"),
        Launcher.class.getName(), "echo", "--port", "0", "--bind", "127.0.0.1", "--backlog", "64",
        "--allow", "127.0.0.0/8", "--deny", "127.0.0.2", "--kernel-filter")).redirectError(ProcessBuilder.Redirect.INHERIT)
        .start();
    try (BufferedReader out = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
      String first = out.readLine();
      assertTrue(first != null && first.startsWith("listening on 127.0.0.1:"), String.valueOf(first));
      int port = Integer.parseInt(first.substring(first.lastIndexOf(':') + 1));

      assertEquals("hello", exchange("127.0.0.1", port, "hello"));
      assertEquals("from three", exchange("127.0.0.3", port, "from three"));
      assertEquals(null, exchange("127.0.0.2", port, "denied")); // dropped by the kernel filter: times out

      assertTrue(p.toHandle().destroy(), "SIGTERM sent"); // unlike Process.destroy, keeps stdout open
      assertTrue(p.waitFor(20, TimeUnit.SECONDS), "echo did not stop on SIGTERM");
      assertEquals("stopped", out.readLine());
      try (ServerSocket again = new ServerSocket()) {
        again.bind(new InetSocketAddress("127.0.0.1", port));
      }
    } finally {
      p.destroyForcibly();
    }
  }

  @Test
  void idleTimeoutClosesASilentConnection() throws Exception {
    String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    Process p = new ProcessBuilder(List.of(java, "-cp", System.getProperty("java.class.path"),
        Launcher.class.getName(), "echo", "--port", "0", "--bind", "127.0.0.1", "--allow", "127.0.0.0/8",
        "--idle-timeout", "1")).redirectError(ProcessBuilder.Redirect.INHERIT).start();
    try (BufferedReader out = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
      String first = out.readLine();
      assertTrue(first != null && first.startsWith("listening on 127.0.0.1:"), String.valueOf(first));
      int port = Integer.parseInt(first.substring(first.lastIndexOf(':') + 1));
      try (Socket s = new Socket("127.0.0.1", port)) {
        s.setSoTimeout(15_000);
        s.getOutputStream().write("hi".getBytes(StandardCharsets.UTF_8));
        assertEquals('h', s.getInputStream().read());
        assertEquals('i', s.getInputStream().read());
        int next;
        try {
          next = s.getInputStream().read();
        } catch (SocketException reset) {
          next = -1;
        }
        assertEquals(-1, next, "the server closed the connection after 1 s without bytes");
      }
    } finally {
      p.destroy();
      p.waitFor(20, TimeUnit.SECONDS);
      p.destroyForcibly();
    }
  }
}
