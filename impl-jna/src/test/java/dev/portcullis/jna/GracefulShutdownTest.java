package dev.portcullis.jna;

import static java.nio.charset.StandardCharsets.US_ASCII;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.portcullis.Connection;
import dev.portcullis.LoopConnection;
import dev.portcullis.LoopHandler;
import dev.portcullis.RunningServer;
import dev.portcullis.Server;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Handlers hear that the server is stopping, over real loopback sockets: an idle client is released
 * at once (its handler's waiting read returns -1) so that {@code shutdown(grace)} returns long
 * before its grace period, while a client in the middle of a message still gets its answer. The
 * blocking tests run with platform threads (waiting in {@code poll(2)}) and, on JDK 21+, virtual
 * threads (parked on the loop's {@code VirtualPoller}): two different waits to wake.
 *
 * <p>No timing is asserted: the grace period is 30 s and a shutdown that waited it out would miss
 * the 15 s bound of the {@code get}; each test is bounded by its {@code @Timeout}.
 */
@Timeout(60)
class GracefulShutdownTest {
  private static final Duration GRACE = Duration.ofSeconds(30);
  private ExecutorService executor;
  private final ExecutorService stopper = Executors.newSingleThreadExecutor();

  @AfterEach
  void stop() {
    if (executor != null) {
      executor.shutdownNow();
    }
    stopper.shutdownNow();
  }

  static java.util.stream.Stream<String> threadKinds() {
    return VirtualThreads.AVAILABLE ? java.util.stream.Stream.of("platform", "virtual")
        : java.util.stream.Stream.of("platform");
  }

  private ExecutorService executor(String kind) throws ReflectiveOperationException {
    executor = kind.equals("virtual")
        ? (ExecutorService) Executors.class.getMethod("newVirtualThreadPerTaskExecutor").invoke(null)
        : Executors.newCachedThreadPool();
    return executor;
  }

  /** What the line-echo handler saw. */
  private static final class Seen {
    final CompletableFuture<Connection> connection = new CompletableFuture<>();
    final AtomicInteger bytesRead = new AtomicInteger();
    final AtomicInteger stoppingCalls = new AtomicInteger();
    final CompletableFuture<Boolean> stoppingAtEnd = new CompletableFuture<>();
    final CompletableFuture<Boolean> lateActionRanAtOnce = new CompletableFuture<>();
  }

  /** Echoes each line (bytes up to \n) it reads; at the end, records what it saw. */
  private static Server.TcpBuilder lineEcho(ExecutorService threads, Seen seen) {
    return Server.on(0).bindAddress("127.0.0.1").allow("127.0.0.1").executor(threads).handle(conn -> {
      conn.onStopping(seen.stoppingCalls::incrementAndGet);
      seen.connection.complete(conn);
      InputStream in = conn.input();
      OutputStream out = conn.output();
      StringBuilder line = new StringBuilder();
      for (int b; (b = in.read()) != -1; ) {
        seen.bytesRead.incrementAndGet();
        line.append((char) b);
        if (b == '\n') {
          out.write(line.toString().getBytes(US_ASCII));
          line.setLength(0);
        }
      }
      seen.stoppingAtEnd.complete(conn.isStopping());
      AtomicInteger late = new AtomicInteger();
      conn.onStopping(late::incrementAndGet);
      seen.lateActionRanAtOnce.complete(late.get() == 1);
    });
  }

  private static String readLine(InputStream in) throws IOException {
    StringBuilder s = new StringBuilder();
    for (int b; (b = in.read()) != -1; ) {
      s.append((char) b);
      if (b == '\n') {
        break;
      }
    }
    return s.toString();
  }

  @ParameterizedTest
  @MethodSource("threadKinds")
  void anIdleClientGetsEndOfStreamAndTheShutdownDoesNotWaitOutTheGrace(String kind) throws Exception {
    Seen seen = new Seen();
    RunningServer server = lineEcho(executor(kind), seen).start();
    try (Socket s = Clients.connect("127.0.0.1", server.localAddress())) {
      s.setSoTimeout(20_000);
      s.getOutputStream().write("hi\n".getBytes(US_ASCII));
      assertEquals("hi\n", readLine(s.getInputStream()), "served before the shutdown");
      Thread.sleep(100); // let the handler reach its wait for the next line

      Future<Boolean> shutdown = stopper.submit(() -> server.shutdown(GRACE));
      assertEquals(-1, s.getInputStream().read(), "the idle client is released with an end of stream");
      assertTrue(shutdown.get(15, TimeUnit.SECONDS), "drained, long before the 30 s grace");
      assertTrue(seen.stoppingAtEnd.get(5, TimeUnit.SECONDS), "the handler could tell the end was the server's");
      assertEquals(1, seen.stoppingCalls.get(), "onStopping ran once");
      assertTrue(seen.lateActionRanAtOnce.get(5, TimeUnit.SECONDS), "an action given after the start runs at once");
      assertEquals(server.stats().accepted(), server.stats().outcomes(), server.stats().toString());
    } finally {
      server.close();
    }
  }

  @ParameterizedTest
  @MethodSource("threadKinds")
  void aClientThatNeverSentAnythingIsReleasedToo(String kind) throws Exception {
    Seen seen = new Seen();
    RunningServer server = lineEcho(executor(kind), seen).start();
    try (Socket s = Clients.connect("127.0.0.1", server.localAddress())) {
      s.setSoTimeout(20_000);
      assertTrue(Clients.await(() -> server.stats().handled() == 1, Duration.ofSeconds(10)));
      seen.connection.get(10, TimeUnit.SECONDS);
      Future<Boolean> shutdown = stopper.submit(() -> server.shutdown(GRACE));
      assertEquals(-1, s.getInputStream().read(), "released once its first-bytes wait is over");
      assertTrue(shutdown.get(15, TimeUnit.SECONDS), "drained, long before the 30 s grace");
      assertTrue(seen.stoppingAtEnd.get(5, TimeUnit.SECONDS));
    } finally {
      server.close();
    }
  }

  @ParameterizedTest
  @MethodSource("threadKinds")
  void aClientInTheMiddleOfAMessageStillGetsItsAnswer(String kind) throws Exception {
    Seen seen = new Seen();
    RunningServer server = lineEcho(executor(kind), seen).start();
    try (Socket s = Clients.connect("127.0.0.1", server.localAddress())) {
      s.setSoTimeout(20_000);
      s.getOutputStream().write("hel".getBytes(US_ASCII));
      assertTrue(Clients.await(() -> seen.bytesRead.get() == 3, Duration.ofSeconds(10)), "half a line read");
      Connection conn = seen.connection.get(10, TimeUnit.SECONDS);

      Future<Boolean> shutdown = stopper.submit(() -> server.shutdown(GRACE));
      assertTrue(Clients.await(conn::isStopping, Duration.ofSeconds(10)), "the shutdown began");
      Thread.sleep(100); // the handler is still waiting for the rest of its line, not released
      assertFalse(shutdown.isDone(), "the message in flight holds the shutdown");
      s.getOutputStream().write("lo\nmore".getBytes(US_ASCII)); // the rest, and bytes already there
      assertEquals("hello\n", readLine(s.getInputStream()), "the message in flight is answered");
      s.getOutputStream().write("\n".getBytes(US_ASCII));
      assertEquals("more\n", readLine(s.getInputStream()), "and so are bytes that had come");
      assertEquals(-1, s.getInputStream().read(), "then the connection ends");
      assertTrue(shutdown.get(15, TimeUnit.SECONDS), "drained, long before the 30 s grace");
    } finally {
      server.close();
    }
  }

  @ParameterizedTest
  @MethodSource("threadKinds")
  void aHandlerReachesItsOwnServer(String kind) throws Exception {
    CompletableFuture<RunningServer> reached = new CompletableFuture<>();
    CompletableFuture<Long> handled = new CompletableFuture<>();
    try (RunningServer server = Server.on(0).bindAddress("127.0.0.1").allow("127.0.0.1").executor(executor(kind))
        .handle(conn -> {
          reached.complete(conn.server());
          handled.complete(conn.server().stats().handled());
        }).start()) {
      try (Socket s = Clients.connect("127.0.0.1", server.localAddress())) {
        assertSame(server, reached.get(10, TimeUnit.SECONDS), "the RunningServer that start() returned");
        assertEquals(1, handled.get(10, TimeUnit.SECONDS), "its stats count this connection");
      }
    }
  }

  @Test
  void anIdleLoopConnectionIsClosedAndToldOnce() throws Exception {
    AtomicInteger told = new AtomicInteger();
    CompletableFuture<RunningServer> reached = new CompletableFuture<>();
    CompletableFuture<Boolean> stoppingWhenTold = new CompletableFuture<>();
    RunningServer server = Server.on(0).bindAddress("127.0.0.1").allow("127.0.0.1").handleOnLoop(new LoopHandler() {
      @Override
      public void onOpen(LoopConnection connection) {
        reached.complete(connection.server());
      }

      @Override
      public void onData(LoopConnection connection, ByteBuffer data) {
        connection.write(data);
      }

      @Override
      public void onStopping(LoopConnection connection) {
        told.incrementAndGet();
        stoppingWhenTold.complete(connection.isStopping());
      }
    }).start();
    try (Socket s = Clients.connect("127.0.0.1", server.localAddress())) {
      s.setSoTimeout(20_000);
      assertSame(server, reached.get(10, TimeUnit.SECONDS), "LoopConnection.server()");
      s.getOutputStream().write("hi".getBytes(US_ASCII));
      assertEquals("hi", new String(s.getInputStream().readNBytes(2), US_ASCII));
      Future<Boolean> shutdown = stopper.submit(() -> server.shutdown(GRACE));
      assertEquals(-1, s.getInputStream().read(), "the idle connection is closed");
      assertTrue(shutdown.get(15, TimeUnit.SECONDS), "drained, long before the 30 s grace");
      assertTrue(stoppingWhenTold.get(5, TimeUnit.SECONDS));
      assertEquals(1, told.get(), "onStopping ran once");
    } finally {
      server.close();
    }
  }
}
