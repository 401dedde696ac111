package dev.portcullis.jna;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.portcullis.Handshakes;
import dev.portcullis.RunningServer;
import dev.portcullis.Server;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.lang.management.ManagementFactory;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The default handler style with default settings while 10,000 allowed clients sit idle past their
 * handshake: none is closed for want of a thread, and a new client is still served. On JDK 21+
 * (virtual threads) the idle connections hold no platform thread; on JDK 17 each holds one.
 * Latency and heap figures are printed, not asserted: the bench measures them.
 */
@Timeout(240)
class TenThousandIdleTest {
  private static final int IDLE = 10_000;


  @Test
  void tenThousandIdleClientsPastTheirHandshakeShutNobodyOut() throws Exception {
    long room = Clients.softFdLimit() - Clients.openDescriptors() - 500;
    assumeTrue(room >= IDLE, "needs " + IDLE + " descriptors, the limit leaves " + room);
    boolean virtual = Runtime.version().feature() >= 21;
    try (RunningServer server = Server.on(0).bindAddress("127.0.0.1").allow("127.0.0.0/8")
        .handshake(Handshakes.expectLine("HELLO"))
        .handle(conn -> conn.input().transferTo(conn.output())).start()) {
      int threadsBefore = ManagementFactory.getThreadMXBean().getThreadCount();
      String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
      Process clients = new ProcessBuilder(List.of(java, "-Xss256k", "-cp", System.getProperty("java.class.path"),
          IdleClientsMain.class.getName(), String.valueOf(server.port()), String.valueOf(IDLE)))
          .redirectError(ProcessBuilder.Redirect.INHERIT).start();
      try (BufferedReader out = new BufferedReader(new InputStreamReader(clients.getInputStream(),
          StandardCharsets.US_ASCII))) {
        assertEquals("ready " + IDLE, out.readLine());
        assertTrue(Clients.await(() -> server.stats().handled() == IDLE && server.stats().pendingHandshakes() == 0,
            Duration.ofSeconds(60)), () -> "all idle clients passed their handshake: " + server.stats());
        int threadsIdle = ManagementFactory.getThreadMXBean().getThreadCount();

        long start = System.nanoTime();
        try (Socket fresh = Clients.connect("127.0.0.1", server.localAddress())) {
          fresh.setSoTimeout(10_000);
          fresh.getOutputStream().write("HELLO\nping".getBytes(StandardCharsets.US_ASCII));
          assertEquals("ping", new String(fresh.getInputStream().readNBytes(4), StandardCharsets.US_ASCII),
              "a new client is served beside 10,000 idle ones");
        }
        long micros = TimeUnit.NANOSECONDS.toMicros(System.nanoTime() - start);
        System.out.printf("TenThousandIdleTest: JDK %d, %s handlers: new client served in %d us;"
                + " platform threads %d -> %d%n", Runtime.version().feature(), virtual ? "virtual" : "platform",
            micros, threadsBefore, threadsIdle);

        assertEquals(0, server.stats().overloaded(), "no connection closed for want of a thread");
        assertEquals(IDLE + 1, server.stats().handled());
        if (virtual) {
          assertTrue(threadsIdle - threadsBefore < 50, "idle connections hold no platform thread on JDK 21+: "
              + threadsBefore + " -> " + threadsIdle);
        }
      } finally {
        clients.getOutputStream().close();
        if (!clients.waitFor(30, TimeUnit.SECONDS)) {
          clients.destroyForcibly();
        }
      }
      assertTrue(Clients.await(() -> server.stats().openConnections() == 0, Duration.ofSeconds(60)),
          () -> "the idle connections closed with their clients: " + server.stats());
    }
  }
}
