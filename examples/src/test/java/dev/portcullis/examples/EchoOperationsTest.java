package dev.portcullis.examples;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** The echo service's operations flags in its own JVM: --watch, --max-per-source, --grace. */
@Timeout(90)
class EchoOperationsTest {
  private static Socket connect(String from, int port) throws IOException {
    Socket s = new Socket();
    s.bind(new InetSocketAddress(InetAddress.getByName(from), 0));
    s.connect(new InetSocketAddress("127.0.0.1", port), 5000);
    s.setSoTimeout(5000);
    return s;
  }

  private static String exchange(String from, int port, String text) throws IOException {
    try (Socket s = connect(from, port)) {
      s.getOutputStream().write(text.getBytes(StandardCharsets.UTF_8));
      s.shutdownOutput();
      byte[] reply = s.getInputStream().readAllBytes();
      return reply.length == 0 ? null : new String(reply, StandardCharsets.UTF_8);
    } catch (SocketException e) {
      return null;
    }
  }

  private static String awaitLine(BlockingQueue<String> lines, String containing) throws InterruptedException {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(15);
    while (System.nanoTime() < deadline) {
      String l = lines.poll(100, TimeUnit.MILLISECONDS);
      if (l != null && l.contains(containing)) {
        return l;
      }
    }
    throw new AssertionError("no line with '" + containing + "'");
  }

  @Test
  void policyReloadsOnChangeKeepsTheOldOneOnErrorLimitsPerSourceAndStopsWithinTheGrace(@TempDir Path dir)
      throws Exception {
    Path policy = Files.writeString(dir.resolve("echo.policy"), "allow 127.0.0.1\nallow 127.0.0.3\n");
    String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    Process p = new ProcessBuilder(List.of(java, "-cp", System.getProperty("java.class.path"),
        Launcher.class.getName(), "echo", "--port", "0", "--bind", "127.0.0.1", "--policy", policy.toString(),
        "--watch", "--max-per-source", "1", "--grace", "1")).start();
    BlockingQueue<String> errLines = new LinkedBlockingQueue<>();
    Thread drain = new Thread(() -> new BufferedReader(new InputStreamReader(p.getErrorStream(), StandardCharsets.UTF_8))
        .lines().forEach(errLines::add));
    drain.setDaemon(true);
    drain.start();
    try (BufferedReader out = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
      String first = out.readLine();
      int port = Integer.parseInt(first.substring(first.lastIndexOf(':') + 1));
      assertNull(exchange("127.0.0.2", port, "before"));

      Files.writeString(policy, "allow 127.0.0.0/8\n");
      awaitLine(errLines, "reloaded");
      assertEquals("after", exchange("127.0.0.2", port, "after"));

      Files.writeString(policy, "allow 127.0.0.0/8\nallow 10.0.0.0/33\n");
      String kept = awaitLine(errLines, "kept the old policy");
      assertTrue(kept.contains(policy + ":2:") && kept.contains("10.0.0.0/33"), kept);
      assertEquals("still", exchange("127.0.0.2", port, "still"));

      Socket held = connect("127.0.0.3", port);
      held.getOutputStream().write('x');
      assertEquals('x', held.getInputStream().read(), "the first from 127.0.0.3 is served");
      assertNull(exchange("127.0.0.3", port, "second"), "one connection per source");

      long t0 = System.nanoTime();
      assertTrue(p.toHandle().destroy());
      assertTrue(p.waitFor(20, TimeUnit.SECONDS));
      assertEquals("stopped", out.readLine());
      assertTrue(System.nanoTime() - t0 < TimeUnit.SECONDS.toNanos(10), "stopped after the 1 s grace");
      assertEquals(-1, held.getInputStream().read(), "the held connection was closed at the end of the grace");
      held.close();
    } finally {
      p.destroyForcibly();
    }
  }
}
