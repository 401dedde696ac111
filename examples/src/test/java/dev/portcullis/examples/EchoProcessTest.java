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
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
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
      assertEquals(0, p.exitValue(), "a graceful stop is a success");
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

  /**
   * The reported fault, end to end: 30 clients doing short echo exchanges against {@code echo
   * --grace 10} on two loops, and SIGTERM in the middle. The process exits 0, and no client whose
   * connect succeeded and whose data was sent is reset.
   */
  @Test
  void sigtermUnderLoadExitsZeroAndResetsNoConnectedClient() throws Exception {
    String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    Process p = new ProcessBuilder(List.of(java, "-cp", System.getProperty("java.class.path"),
        Launcher.class.getName(), "echo", "--port", "0", "--bind", "127.0.0.1", "--allow", "127.0.0.0/8",
        "--grace", "10", "--loops", "2")).redirectError(ProcessBuilder.Redirect.INHERIT).start();
    ExecutorService pool = Executors.newFixedThreadPool(30);
    try (BufferedReader out = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
      String first = out.readLine();
      assertTrue(first != null && first.startsWith("listening on 127.0.0.1:"), String.valueOf(first));
      int port = Integer.parseInt(first.substring(first.lastIndexOf(':') + 1));
      AtomicInteger exchanges = new AtomicInteger();
      List<String> lost = Collections.synchronizedList(new ArrayList<>());
      List<Future<?>> clients = new ArrayList<>();
      for (int c = 0; c < 30; c++) {
        clients.add(pool.submit(() -> {
          for (int round = 0; round < 100_000; round++) {
            Socket s = new Socket();
            try {
              s.connect(new InetSocketAddress("127.0.0.1", port), 5000);
            } catch (IOException refused) {
              s.close();
              return null; // no longer listening
            }
            try (s) {
              s.setSoTimeout(30_000);
              s.getOutputStream().write("ping".getBytes(StandardCharsets.US_ASCII));
              s.shutdownOutput();
              if (s.getInputStream().readAllBytes().length == 4) {
                exchanges.incrementAndGet();
              } else {
                lost.add("short reply");
              }
            } catch (IOException e) {
              lost.add(e.toString());
            }
          }
          return null;
        }));
      }
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
      while (exchanges.get() < 300 && System.nanoTime() < deadline) {
        Thread.sleep(20);
      }
      assertTrue(exchanges.get() >= 300, "load is running: " + exchanges.get());
      assertTrue(p.toHandle().destroy(), "SIGTERM sent");
      assertTrue(p.waitFor(30, TimeUnit.SECONDS), "echo did not stop on SIGTERM");
      for (Future<?> f : clients) {
        f.get(60, TimeUnit.SECONDS);
      }
      assertEquals("stopped", out.readLine());
      assertEquals(0, p.exitValue(), "a graceful stop is a success");
      assertEquals(List.of(), lost, "connected clients that lost their exchange");
    } finally {
      pool.shutdownNow();
      p.destroyForcibly();
    }
  }
}
