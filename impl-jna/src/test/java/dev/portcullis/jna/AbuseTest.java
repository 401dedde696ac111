package dev.portcullis.jna;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.portcullis.Handshakes;
import dev.portcullis.RunningServer;
import dev.portcullis.Server;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.lang.management.ManagementFactory;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** Abuse on real sockets: thousands of silent clients, and a server out of descriptors. */
@Timeout(180)
class AbuseTest {

  @Test
  void fiveThousandSilentClientsCostNoThreadsAndALegitimateClientIsStillServed() throws Exception {
    int silentCount = 5_000;
    long room = Clients.softFdLimit() - Clients.openDescriptors() - 500;
    assumeTrue(room >= 2L * silentCount, "needs " + 2 * silentCount + " descriptors, the limit leaves " + room);
    try (RunningServer server = Server.on(0).bindAddress("127.0.0.1").allow("127.0.0.0/8")
        .handshakeTimeout(Duration.ofSeconds(60)).handshake(Handshakes.expectLine("HELLO"))
        .maxPendingHandshakes(silentCount + 1) // the default is smaller on a small heap
        .handle(conn -> conn.output().write("welcome\n".getBytes(StandardCharsets.US_ASCII))).start()) {
      int threadsBefore = ManagementFactory.getThreadMXBean().getThreadCount();
      List<Socket> silent = new ArrayList<>();
      try {
        for (int i = 0; i < silentCount; i++) {
          silent.add(Clients.connect("127.0.0." + (2 + i % 253), server.localAddress()));
        }
        assertTrue(Clients.await(() -> server.stats().pendingHandshakes() == silentCount, Duration.ofSeconds(30)),
            "all silent clients are in their handshake: " + server.stats());
        int threadsAfter = ManagementFactory.getThreadMXBean().getThreadCount();
        assertTrue(threadsAfter - threadsBefore < 10, "threads grew from " + threadsBefore + " to " + threadsAfter);
        assertEquals("welcome\n", Clients.exchange("127.0.0.1", server.localAddress(), "HELLO\n"),
            "a legitimate client gets through beside them");
        assertEquals(1, server.stats().handled());
      } finally {
        for (Socket s : silent) {
          s.close();
        }
      }
    }
  }

  private static long cpuTicks(long pid) throws IOException {
    String stat = Files.readAllLines(Path.of("/proc/" + pid + "/stat")).get(0);
    String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
    return Long.parseLong(f[11]) + Long.parseLong(f[12]); // utime + stime, in clock ticks
  }

  @Test
  void outOfDescriptorsTheAcceptLoopBacksOffAndServesAgainWhenDescriptorsFreeUp() throws Exception {
    String prlimit = ExternalTool.require("prlimit");
    String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    // A child JVM with room for 300 descriptors; the echo server there holds every connection open.
    Process child = new ProcessBuilder(prlimit, "--nofile=300:300", java, "-XX:-MaxFDLimit", "-cp",
        System.getProperty("java.class.path"), EchoMain.class.getName()).start();
    BlockingQueue<String> errLines = new LinkedBlockingQueue<>();
    Thread drain = new Thread(() -> new BufferedReader(new InputStreamReader(child.getErrorStream(),
        StandardCharsets.UTF_8)).lines().forEach(errLines::add));
    drain.setDaemon(true);
    drain.start();
    List<Socket> clients = new ArrayList<>();
    try (BufferedReader out = new BufferedReader(new InputStreamReader(child.getInputStream(), StandardCharsets.UTF_8))) {
      int port = Integer.parseInt(out.readLine().trim());
      InetSocketAddress at = new InetSocketAddress("127.0.0.1", port);
      for (int i = 0; i < 400; i++) { // more than the child can accept: the kernel queues the rest
        clients.add(Clients.connect("127.0.0.1", at));
      }
      String exhausted = null;
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
      while (exhausted == null && System.nanoTime() < deadline) {
        String l = errLines.poll(100, TimeUnit.MILLISECONDS);
        if (l != null && l.contains("EMFILE")) {
          exhausted = l;
        }
      }
      assertTrue(exhausted != null, "the child ran out of descriptors and said so");
      long before = cpuTicks(child.pid());
      Thread.sleep(2000);
      long used = cpuTicks(child.pid()) - before;
      assertTrue(used < 100, "a starved accept loop backs off instead of spinning: " + used + " ticks in 2 s");

      for (Socket s : clients) {
        s.close();
      }
      clients.clear();
      try (Socket s = Clients.connect("127.0.0.1", at)) {
        s.setSoTimeout(20_000);
        s.getOutputStream().write("again\n".getBytes(StandardCharsets.US_ASCII));
        byte[] back = s.getInputStream().readNBytes(6);
        assertEquals("again\n", new String(back, StandardCharsets.US_ASCII), "served once descriptors free up");
      }
    } finally {
      for (Socket s : clients) {
        s.close();
      }
      child.destroyForcibly();
      child.waitFor(10, TimeUnit.SECONDS);
    }
  }

  /** The child: an event-loop echo server on an ephemeral loopback port, printing the port. */
  public static final class EchoMain {
    private EchoMain() {}

    /** Runs until killed. */
    public static void main(String[] args) throws Exception {
      // An event-loop echo: connections are held with no thread each, so descriptors run out first.
      RunningServer server = Server.on(0).bindAddress("127.0.0.1").allow("127.0.0.1")
          .handleOnLoop((conn, data) -> conn.write(data)).start();
      System.out.println(server.port());
      System.out.flush();
      server.awaitTermination();
    }
  }
}
