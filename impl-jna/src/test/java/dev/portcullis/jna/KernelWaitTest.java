package dev.portcullis.jna;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.portcullis.RunningServer;
import dev.portcullis.Server;
import java.io.IOException;
import java.net.Socket;
import java.time.Duration;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Blocking handlers wait the channel's own way, with no hand-off through the event loop: platform
 * threads in the kernel ({@code poll(2)} on the socket), virtual threads (JDK 21+) parked on the
 * loop's {@code VirtualPoller}. Either is woken by data, by room to write, by the peer's close, and
 * by the server closing the connection. Each test runs with both kinds where the JDK has both.
 */
@Timeout(60)
class KernelWaitTest {
  private ExecutorService executor;

  @AfterEach
  void stop() {
    if (executor != null) {
      executor.shutdownNow();
    }
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

  @org.junit.jupiter.params.ParameterizedTest
  @org.junit.jupiter.params.provider.MethodSource("threadKinds")
  void aLargeEchoWaitsForDataAndForRoomToWrite(String kind) throws Exception {
    ExecutorService platform = executor(kind);
    try (RunningServer server = Server.on(0).bindAddress("127.0.0.1").allow("127.0.0.1").executor(platform)
        .handle(conn -> conn.input().transferTo(conn.output())).start()) {
      byte[] payload = new byte[8 << 20];
      new Random(7).nextBytes(payload);
      assertArrayEquals(payload, Clients.echo(server.localAddress(), payload),
          "8 MiB echoed: the handler waited for room to write while the client was still sending");
    }
  }

  @org.junit.jupiter.params.ParameterizedTest
  @org.junit.jupiter.params.provider.MethodSource("threadKinds")
  void thePeerClosingWakesAHandlerWaitingToRead(String kind) throws Exception {
    ExecutorService platform = executor(kind);
    CompletableFuture<Integer> lastRead = new CompletableFuture<>();
    try (RunningServer server = Server.on(0).bindAddress("127.0.0.1").allow("127.0.0.1").executor(platform)
        .handle(conn -> lastRead.complete(conn.input().read())).start()) {
      try (Socket s = Clients.connect("127.0.0.1", server.localAddress())) {
        assertTrue(Clients.await(() -> server.stats().handled() == 1, Duration.ofSeconds(5)));
      }
      assertEquals(-1, lastRead.get(10, TimeUnit.SECONDS), "end of stream reached the waiting reader");
    }
  }

  @org.junit.jupiter.params.ParameterizedTest
  @org.junit.jupiter.params.provider.MethodSource("threadKinds")
  void closingTheServerWakesAHandlerWaitingToRead(String kind) throws Exception {
    ExecutorService platform = executor(kind);
    CompletableFuture<Throwable> failure = new CompletableFuture<>();
    RunningServer server = Server.on(0).bindAddress("127.0.0.1").allow("127.0.0.1").executor(platform)
        .handle(conn -> {
          try {
            conn.input().read();
            failure.complete(null);
          } catch (IOException e) {
            failure.complete(e);
          }
        }).start();
    try (Socket s = Clients.connect("127.0.0.1", server.localAddress())) {
      assertTrue(Clients.await(() -> server.stats().handled() == 1, Duration.ofSeconds(5)));
      Thread.sleep(100); // let the handler reach its wait in poll(2)
      server.close();
      Throwable t = failure.get(10, TimeUnit.SECONDS);
      assertTrue(t == null || t instanceof IOException, "the waiting read returned or failed: " + t);
    }
  }

  /**
   * A thousand virtual threads waiting to read hold no carrier (there are as many carriers as
   * CPUs): every one of them still answers when its byte comes, in any order, and so does a client
   * that connects while they wait. A wait that blocked its carrier in the kernel would stop the
   * third handler from ever starting.
   */
  @Test
  void aThousandWaitingVirtualThreadsHoldNoCarrier() throws Exception {
    org.junit.jupiter.api.Assumptions.assumeTrue(VirtualThreads.AVAILABLE, "virtual threads need JDK 21+");
    int n = 1000;
    try (RunningServer server = Server.on(0).bindAddress("127.0.0.1").allow("127.0.0.1")
        .executor(executor("virtual")).handle(conn -> {
          int b;
          while ((b = conn.input().read()) >= 0) {
            conn.output().write(b + 1);
          }
        }).start()) {
      java.util.List<Socket> clients = new java.util.ArrayList<>();
      try {
        for (int i = 0; i < n; i++) {
          Socket s = Clients.connect("127.0.0.1", server.localAddress());
          s.setSoTimeout(10_000);
          clients.add(s);
        }
        assertTrue(Clients.await(() -> server.stats().handled() == n, Duration.ofSeconds(20)),
            "every handler started: " + server.stats());
        Thread.sleep(100); // let them all reach their wait
        for (int i = n - 1; i >= 0; i--) { // the newest first: the order of the waits does not matter
          Socket s = clients.get(i);
          s.getOutputStream().write(i & 0x7F);
          assertEquals((i & 0x7F) + 1, s.getInputStream().read(), "client " + i + " answered");
        }
        try (Socket late = Clients.connect("127.0.0.1", server.localAddress())) {
          late.setSoTimeout(10_000);
          late.getOutputStream().write(41);
          assertEquals(42, late.getInputStream().read(), "a new client is served while the others wait");
        }
      } finally {
        for (Socket s : clients) {
          s.close();
        }
      }
    }
  }
}
