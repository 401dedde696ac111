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
 * Blocking handlers on platform threads wait in the kernel ({@code poll(2)} on the socket, no
 * hand-off through the event loop): they are woken by data, by room to write, by the peer's close,
 * and by the server closing the connection. Platform threads are passed explicitly, so this runs
 * the same on every JDK (the default on JDK 21+ is virtual threads, which park instead).
 */
@Timeout(60)
class KernelWaitTest {
  private final ExecutorService platform = Executors.newCachedThreadPool();

  @AfterEach
  void stop() {
    platform.shutdownNow();
  }

  @Test
  void aLargeEchoWaitsForDataAndForRoomToWrite() throws Exception {
    try (RunningServer server = Server.on(0).bindAddress("127.0.0.1").allow("127.0.0.1").executor(platform)
        .handle(conn -> conn.input().transferTo(conn.output())).start()) {
      byte[] payload = new byte[8 << 20];
      new Random(7).nextBytes(payload);
      assertArrayEquals(payload, Clients.echo(server.localAddress(), payload),
          "8 MiB echoed: the handler waited for room to write while the client was still sending");
    }
  }

  @Test
  void thePeerClosingWakesAHandlerWaitingToRead() throws Exception {
    CompletableFuture<Integer> lastRead = new CompletableFuture<>();
    try (RunningServer server = Server.on(0).bindAddress("127.0.0.1").allow("127.0.0.1").executor(platform)
        .handle(conn -> lastRead.complete(conn.input().read())).start()) {
      try (Socket s = Clients.connect("127.0.0.1", server.localAddress())) {
        assertTrue(Clients.await(() -> server.stats().handled() == 1, Duration.ofSeconds(5)));
      }
      assertEquals(-1, lastRead.get(10, TimeUnit.SECONDS), "end of stream reached the waiting reader");
    }
  }

  @Test
  void closingTheServerWakesAHandlerWaitingToRead() throws Exception {
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
}
