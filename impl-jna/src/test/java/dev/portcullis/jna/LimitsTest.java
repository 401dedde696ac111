package dev.portcullis.jna;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.portcullis.Handler;
import dev.portcullis.Handshakes;
import dev.portcullis.RunningServer;
import dev.portcullis.Server;
import dev.portcullis.ServerStats;
import dev.portcullis.policy.AccessPolicy;
import java.io.IOException;
import java.net.ConnectException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** Limits, graceful shutdown and live policy on real loopback sockets. */
@Timeout(120)
class LimitsTest {
  /** Writes "hi" and holds the connection until the client closes it. */
  private static final Handler HOLDING = conn -> {
    conn.output().write("hi".getBytes(StandardCharsets.US_ASCII));
    conn.input().read();
  };

  /** Writes "hi" and holds the connection until the latch opens, whatever the client does. */
  private static Handler holding(CountDownLatch release) {
    return conn -> {
      conn.output().write("hi".getBytes(StandardCharsets.US_ASCII));
      try {
        release.await(30, TimeUnit.SECONDS);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    };
  }

  /** Connects from {@code from}; returns the socket if the server greeted it, null if it was refused. */
  private static Socket greeted(String from, RunningServer server) throws IOException {
    Socket s = Clients.connect(from, server.localAddress());
    try {
      byte[] two = s.getInputStream().readNBytes(2);
      if (two.length == 2) {
        return s;
      }
    } catch (SocketException reset) {
      // refused
    }
    s.close();
    return null;
  }

  private static void closeAll(List<Socket> sockets) throws IOException {
    for (Socket s : sockets) {
      s.close();
    }
  }

  @Test
  void overMaxConnectionsNewOnesAreRefusedAtOnceAndServedAgainWhenOneCloses() throws Exception {
    try (RunningServer server = Server.on(0).bindAddress("127.0.0.1").allow("127.0.0.0/8").maxConnections(2)
        .handle(HOLDING).start()) {
      List<Socket> held = new ArrayList<>(List.of(greeted("127.0.0.1", server), greeted("127.0.0.1", server)));
      assertNull(greeted("127.0.0.1", server), "the third is refused, not queued");
      assertEquals(1, server.stats().limited());
      assertEquals(2, server.stats().openConnections());
      held.remove(0).close();
      assertTrue(Clients.await(() -> server.stats().openConnections() == 1, Duration.ofSeconds(5)));
      Socket again = greeted("127.0.0.1", server);
      assertTrue(again != null, "a slot freed up");
      held.add(again);
      closeAll(held);
    }
  }

  @Test
  void oneSourceCannotTakeEverySlot() throws Exception {
    try (RunningServer server = Server.on(0).bindAddress("127.0.0.1").allow("127.0.0.0/8").maxConnectionsPerSource(2)
        .handle(HOLDING).start()) {
      List<Socket> held = new ArrayList<>(List.of(greeted("127.0.0.2", server), greeted("127.0.0.2", server)));
      assertNull(greeted("127.0.0.2", server), "127.0.0.2 is at its limit");
      Socket other = greeted("127.0.0.3", server);
      assertTrue(other != null, "another source is still served");
      held.add(other);
      assertEquals(1, server.stats().limited());
      closeAll(held);
    }
  }

  @Test
  void limitsWrittenInThePolicyTextApplyAndTheBuilderWins() throws Exception {
    AccessPolicy text = AccessPolicy.parse("allow 127.0.0.0/8\nlimit per-source 1\nlimit connections 1\n");
    try (RunningServer server = Server.on(0).bindAddress("127.0.0.1").policy(text).maxConnections(5)
        .handle(HOLDING).start()) {
      List<Socket> held = new ArrayList<>(List.of(greeted("127.0.0.8", server)));
      assertNull(greeted("127.0.0.8", server), "limit per-source 1 from the text");
      Socket other = greeted("127.0.0.9", server);
      assertTrue(other != null, "maxConnections(5) from the builder wins over 'limit connections 1'");
      held.add(other);
      closeAll(held);
    }
  }

  @Test
  void aSourceOverItsRateIsRefusedAndOnlyThatSource() throws Exception {
    try (RunningServer server = Server.on(0).bindAddress("127.0.0.1").allow("127.0.0.0/8")
        .rateLimitPerSource(0.001, 3).handle(conn -> conn.output().write("ok".getBytes(StandardCharsets.US_ASCII)))
        .start()) {
      for (int i = 0; i < 3; i++) {
        assertEquals("ok", Clients.exchange("127.0.0.4", server.localAddress(), ""), "within the burst");
      }
      assertNull(Clients.exchange("127.0.0.4", server.localAddress(), ""), "over the rate");
      assertEquals("ok", Clients.exchange("127.0.0.5", server.localAddress(), ""), "other sources go on");
      assertEquals(1, server.stats().limited());
    }
  }

  @Test
  void silentClientsBeyondMaxPendingHandshakesAreClosed() throws Exception {
    try (RunningServer server = Server.on(0).bindAddress("127.0.0.1").allow("127.0.0.0/8").maxPendingHandshakes(5)
        .handshake(Handshakes.expectLine("HELLO")).handle(conn -> conn.output().write('!')).start()) {
      List<Socket> silent = new ArrayList<>();
      for (int i = 0; i < 5; i++) {
        silent.add(Clients.connect("127.0.0.6", server.localAddress()));
      }
      assertTrue(Clients.await(() -> server.stats().pendingHandshakes() == 5, Duration.ofSeconds(5)));
      try (Socket sixth = Clients.connect("127.0.0.6", server.localAddress())) {
        sixth.getOutputStream().write("HELLO\n".getBytes(StandardCharsets.US_ASCII));
        assertEquals(-1, readOrReset(sixth), "the sixth is closed: five are pending");
      }
      assertEquals(1, server.stats().limited());
      closeAll(silent);
      assertTrue(Clients.await(() -> server.stats().pendingHandshakes() == 0, Duration.ofSeconds(5)));
      assertEquals("!", Clients.exchange("127.0.0.6", server.localAddress(), "HELLO\n"), "room again");
    }
  }

  private static int readOrReset(Socket s) throws IOException {
    try {
      return s.getInputStream().read();
    } catch (SocketException reset) {
      return -1;
    }
  }

  @Test
  void shutdownStopsAcceptingLetsHandlersFinishAndFreesThePort() throws Exception {
    CountDownLatch release = new CountDownLatch(1);
    RunningServer server = Server.on(0).bindAddress("127.0.0.1").allow("127.0.0.0/8").handle(conn -> {
      holding(release).handle(conn);
      conn.output().write("bye".getBytes(StandardCharsets.US_ASCII));
    }).start();
    int port = server.port();
    Socket inFlight = greeted("127.0.0.1", server);
    Thread finisher = new Thread(() -> {
      try {
        Thread.sleep(300);
      } catch (InterruptedException e) {
        return;
      }
      release.countDown();
    });
    finisher.start();
    long t0 = System.nanoTime();
    Thread stopper = new Thread(() -> {
      try {
        assertTrue(server.shutdown(Duration.ofSeconds(20)), "the handler finished within the grace period");
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    });
    stopper.start();
    assertTrue(Clients.await(() -> {
      try (Socket probe = new Socket()) {
        probe.connect(new InetSocketAddress("127.0.0.1", port), 500);
        return false;
      } catch (ConnectException refused) {
        return true;
      } catch (IOException other) {
        return false;
      }
    }, Duration.ofSeconds(5)), "new connections are refused once shutdown starts");
    assertEquals("bye", new String(inFlight.getInputStream().readAllBytes(), StandardCharsets.US_ASCII),
        "the connection in flight finished");
    stopper.join();
    assertTrue(System.nanoTime() - t0 < TimeUnit.SECONDS.toNanos(10));
    try (ServerSocket again = new ServerSocket()) {
      again.bind(new InetSocketAddress("127.0.0.1", port));
    }
    inFlight.close();
    assertTrue(Clients.await(() -> libraryThreads() == 0, Duration.ofSeconds(10)),
        "no library thread survives shutdown: " + libraryThreads());
  }

  @Test
  void aHandlerThatNeverReturnsIsCutAtTheEndOfTheGracePeriod() throws Exception {
    CountDownLatch never = new CountDownLatch(1);
    RunningServer server = Server.on(0).bindAddress("127.0.0.1").allow("127.0.0.0/8").handle(holding(never)).start();
    Socket stuck = greeted("127.0.0.1", server);
    long t0 = System.nanoTime();
    assertFalse(server.shutdown(Duration.ofMillis(300)), "not drained");
    assertTrue(System.nanoTime() - t0 < TimeUnit.SECONDS.toNanos(10));
    assertEquals(-1, readOrReset(stuck), "closed by the server");
    assertTrue(server.awaitTermination(Duration.ofSeconds(1)));
    stuck.close();
  }

  @Test
  void thePolicyCanBeReplacedWhileTheServerRuns() throws Exception {
    try (RunningServer server = Server.on(0).bindAddress("127.0.0.1").allow("127.0.0.1")
        .handle(conn -> conn.output().write("ok".getBytes(StandardCharsets.US_ASCII))).start()) {
      assertEquals("ok", Clients.exchange("127.0.0.1", server.localAddress(), ""));
      assertNull(Clients.exchange("127.0.0.2", server.localAddress(), ""));
      AccessPolicy replacement = AccessPolicy.parse("allow 127.0.0.2\n");
      server.updatePolicy(replacement);
      assertEquals(replacement, server.policy(), "policy() is the one in force");
      assertEquals("ok", Clients.exchange("127.0.0.2", server.localAddress(), ""));
      assertNull(Clients.exchange("127.0.0.1", server.localAddress(), ""));
      IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
          () -> server.updatePolicy(AccessPolicy.parse("# nothing\n")));
      assertTrue(e.getMessage().contains("the old policy stays"), e.getMessage());
      assertEquals("ok", Clients.exchange("127.0.0.2", server.localAddress(), ""), "the old policy stayed");
    }
  }

  /** Threads the library starts: event loops, handler pool, closers. */
  private static long libraryThreads() {
    return Thread.getAllStackTraces().keySet().stream().filter(t -> t.getName().startsWith("portcullis-")).count();
  }

  @Test
  void afterFiftyThousandMixedConnectionsEveryOneHasOneOutcomeAndNothingLeaks() throws Exception {
    long fdBaseline = Clients.openDescriptors();
    long threadBaseline = libraryThreads();
    try (RunningServer server = Server.on(0).bindAddress("127.0.0.1").allow("127.0.0.0/8").deny("127.0.0.9")
        .rateLimitPerSource(0.001, 50).handshakeTimeout(Duration.ofMillis(300))
        .handshake(Handshakes.expectLine("HELLO")).handle(conn -> conn.output().write('!')).start()) {
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(90);
      int served = 0;
      List<Socket> silent = new ArrayList<>();
      int n;
      for (n = 0; n < 50_000 && System.nanoTime() < deadline; n++) {
        switch (n % 10) {
          case 0 -> Clients.exchange("127.0.0.9", server.localAddress(), "HELLO\n"); // denied
          case 1 -> { // rate-limited after its burst of 50
            if ("!".equals(Clients.exchange("127.0.0.7", server.localAddress(), "HELLO\n"))) {
              served++;
            }
          }
          case 2 -> Clients.exchange(source(n), server.localAddress(), "WRONG\n"); // handshake failure
          case 3 -> {
            try (Socket s = Clients.connect(source(n), server.localAddress())) {
              s.setSoLinger(true, 0); // reset mid-handshake
              s.getOutputStream().write('H');
            }
          }
          default -> {
            if ("!".equals(Clients.exchange(source(n), server.localAddress(), "HELLO\n"))) {
              served++;
            }
          }
        }
        if (n % 5000 == 4999 && silent.size() < 20) {
          silent.add(Clients.connect(source(n), server.localAddress())); // will time out
        }
      }
      assertTrue(n >= 50_000, "only " + n + " connections in 90 s");
      closeAll(silent);
      ServerStats stats = server.stats();
      assertTrue(Clients.await(() -> {
        ServerStats s = server.stats();
        return s.pendingHandshakes() == 0 && s.openConnections() == 0 && s.accepted() == s.outcomes();
      }, Duration.ofSeconds(10)), "every connection accounted for: " + server.stats());
      stats = server.stats();
      // A client that resets right after connect can be dropped by the kernel before its TCP
      // handshake completed on the server's side (the RST reaches the half-open request first):
      // then it is never accepted. Only those (case 3, 5,000 of them) may be missing.
      long lost = n + 10 - stats.accepted();
      assertTrue(lost >= 0 && lost <= 5_000, "accepted " + stats.accepted() + " of " + (n + 10) + ": " + stats);
      assertEquals(5_000, stats.denied());
      assertEquals(5_000 - 50, stats.limited());
      assertEquals(served, stats.handled());
      assertTrue(stats.handshakeFailures() >= 10_000 - lost, "wrong lines and resets: " + stats);
      assertTrue(stats.handshakeTimeouts() + stats.handshakeFailures() >= 10_010 - lost, stats.toString());
    }
    assertTrue(Clients.await(() -> {
      try {
        return Clients.openDescriptors() <= fdBaseline;
      } catch (IOException e) {
        return false;
      }
    }, Duration.ofSeconds(10)), "descriptors back to the baseline");
    assertTrue(Clients.await(() -> libraryThreads() <= threadBaseline, Duration.ofSeconds(10)),
        "library threads back to the baseline: " + libraryThreads() + " > " + threadBaseline);
  }

  /** A rotating allowed source, so the rate limit never bites the well-behaved clients. */
  private static String source(int n) {
    int k = 1 + (n / 10) % 60_000;
    return "127.1." + (k >> 8) + "." + (k & 0xFF);
  }
}
