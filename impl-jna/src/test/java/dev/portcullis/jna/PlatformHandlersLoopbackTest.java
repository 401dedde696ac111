package dev.portcullis.jna;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.portcullis.HandlerMode;
import dev.portcullis.Handshakes;
import dev.portcullis.RunningServer;
import dev.portcullis.Server;
import java.io.IOException;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The JDK 17 path ({@code -Dportcullis.handlerThreads=platform}, so it runs on every JDK): the
 * default {@code handle} executor with 2,000 idle clients past their handshake, each holding a
 * platform thread blocked in its read. A fresh client is still served, no connection is closed
 * for want of a thread, the handler threads are one per connection plus a few spares, and none is
 * left once the clients and the server are gone.
 */
@Timeout(120)
class PlatformHandlersLoopbackTest {
  private static final int IDLE = 2_000;

  @Test
  void idleClientsOnPlatformThreadsShutNobodyOutAndLeaveNoThreadBehind() throws Exception {
    long room = Clients.softFdLimit() - Clients.openDescriptors() - 500;
    assumeTrue(room >= 2L * IDLE, "needs " + 2 * IDLE + " descriptors, the limit leaves " + room);
    int port;
    List<Socket> idle = new ArrayList<>(IDLE);
    System.setProperty("portcullis.handlerThreads", "platform");
    try (RunningServer server = Server.on(0).bindAddress("127.0.0.1").allow("127.0.0.0/8")
        .handshake(Handshakes.expectLine("HELLO"))
        .handle(conn -> conn.input().transferTo(conn.output())).start()) {
      System.clearProperty("portcullis.handlerThreads"); // read at start: the server keeps its choice
      port = server.port();
      assertEquals(HandlerMode.PLATFORM, server.handlerMode());
      try {
        byte[] hello = "HELLO\n".getBytes(StandardCharsets.US_ASCII);
        for (int i = 0; i < IDLE; i++) {
          Socket s = Clients.connect("127.0.6." + (1 + i % 250), server.localAddress());
          idle.add(s);
          s.getOutputStream().write(hello);
        }
        assertTrue(Clients.await(() -> server.stats().handled() == IDLE, Duration.ofSeconds(60)),
            () -> "every idle client reached its handler: " + server.stats());
        assertTrue(Clients.await(() -> handlerThreads(port) >= IDLE, Duration.ofSeconds(60)),
            () -> "each handler blocked in its read holds a thread: " + handlerThreads(port));

        try (Socket fresh = Clients.connect("127.0.0.1", server.localAddress())) {
          fresh.setSoTimeout(30_000);
          fresh.getOutputStream().write("HELLO\nping".getBytes(StandardCharsets.US_ASCII));
          assertEquals("ping", new String(fresh.getInputStream().readNBytes(4), StandardCharsets.US_ASCII),
              "a fresh client is served beside " + IDLE + " idle ones");
        }
        assertEquals(0, server.stats().overloaded(), "no connection closed for want of a thread");
        assertEquals(IDLE + 1, server.stats().handled());
        int threads = handlerThreads(port);
        assertTrue(threads <= IDLE + 1 + 8, "a thread per connection and a few spares, not more: " + threads);
        assertTrue(Thread.getAllStackTraces().keySet().stream()
            .filter(t -> t.getName().startsWith("portcullis-handler-" + port + "-")).noneMatch(Thread::isDaemon),
            "handler threads are not daemons, as before");
      } finally {
        for (Socket s : idle) {
          close(s);
        }
      }
      assertTrue(Clients.await(() -> server.stats().openConnections() == 0, Duration.ofSeconds(60)),
          () -> "the idle connections closed with their clients: " + server.stats());
    } finally {
      System.clearProperty("portcullis.handlerThreads");
    }
    assertTrue(Clients.await(() -> handlerThreads(port) == 0 && spawners(port) == 0, Duration.ofSeconds(20)),
        () -> "no handler thread outlives the server: " + handlerThreads(port) + " handlers, "
            + spawners(port) + " spawner");
  }

  private static int handlerThreads(int port) {
    return count("portcullis-handler-" + port + "-");
  }

  private static int spawners(int port) {
    return count("portcullis-spawner-" + port);
  }

  private static int count(String prefix) {
    return (int) Thread.getAllStackTraces().keySet().stream()
        .filter(t -> t.isAlive() && t.getName().startsWith(prefix)).count();
  }

  private static void close(Socket s) {
    try {
      s.close();
    } catch (IOException e) {
      // closing anyway
    }
  }
}
