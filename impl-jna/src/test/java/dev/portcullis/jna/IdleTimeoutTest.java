package dev.portcullis.jna;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.portcullis.LoopConnection;
import dev.portcullis.LoopHandler;
import dev.portcullis.RunningServer;
import dev.portcullis.Server;
import java.io.IOException;
import java.io.InputStream;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.ByteBuffer;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** idleTimeout: no bytes either way for that long closes the connection, in both handler styles. */
@Timeout(60)
class IdleTimeoutTest {
  /** Reads until the server closes the connection; false if it stays open for {@code wait}. */
  private static boolean closedByServerWithin(Socket s, Duration wait) throws IOException {
    s.setSoTimeout((int) wait.toMillis());
    InputStream in = s.getInputStream();
    try {
      while (in.read() >= 0) {
        // echoed bytes
      }
      return true;
    } catch (SocketTimeoutException stillOpen) {
      return false;
    } catch (IOException reset) {
      return true;
    }
  }

  @Test
  void aSilentConnectionIsClosedAndABusyOneIsNot() throws Exception {
    try (RunningServer server = Server.on(0).bindAddress("127.0.0.1").allow("127.0.0.0/8")
        .idleTimeout(Duration.ofMillis(1000))
        .handle(conn -> conn.input().transferTo(conn.output())).start();
        Socket silent = Clients.connect("127.0.0.1", server.localAddress());
        Socket busy = Clients.connect("127.0.0.1", server.localAddress())) {
      // The busy client moves a byte every 100 ms for 2.5 s: more than twice the timeout in all.
      for (int i = 0; i < 25; i++) {
        busy.getOutputStream().write('x');
        busy.setSoTimeout(5000);
        assertEquals('x', busy.getInputStream().read());
        Thread.sleep(100);
      }
      assertTrue(closedByServerWithin(silent, Duration.ofSeconds(10)), "the silent connection was closed");
      assertTrue(busy.isConnected());
      busy.getOutputStream().write('y');
      assertEquals('y', busy.getInputStream().read(), "the busy connection is still served");
      assertTrue(Clients.await(() -> server.stats().openConnections() == 1, Duration.ofSeconds(5)));
      assertEquals(0, server.stats().handlerFailures(), "an idle close is not the handler's failure");
    }
  }

  @Test
  void aHandlerHalfClosesThroughTheIdleTimeoutAndStillReads() throws Exception {
    java.util.concurrent.CompletableFuture<String> afterward = new java.util.concurrent.CompletableFuture<>();
    try (RunningServer server = Server.on(0).bindAddress("127.0.0.1").allow("127.0.0.0/8")
        .idleTimeout(Duration.ofSeconds(60))
        .handle(conn -> {
          conn.output().write("bye\n".getBytes(java.nio.charset.StandardCharsets.US_ASCII));
          conn.shutdownOutput();
          afterward.complete(new String(conn.input().readAllBytes(), java.nio.charset.StandardCharsets.US_ASCII));
        }).start();
        Socket client = Clients.connect("127.0.0.1", server.localAddress())) {
      client.setSoTimeout(10_000);
      assertEquals("bye\n", new String(client.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.US_ASCII),
          "the handler's bytes, then the end of stream");
      client.getOutputStream().write("late".getBytes(java.nio.charset.StandardCharsets.US_ASCII));
      client.shutdownOutput();
      assertEquals("late", afterward.get(10, java.util.concurrent.TimeUnit.SECONDS), "the handler still reads");
    }
  }

  @Test
  void theLoopStyleIsClosedWhenIdleToo() throws Exception {
    try (RunningServer server = Server.on(0).bindAddress("127.0.0.1").allow("127.0.0.0/8")
        .idleTimeout(Duration.ofMillis(300))
        .handleOnLoop(new LoopHandler() {
          @Override
          public void onData(LoopConnection c, ByteBuffer data) {
            c.write(data);
          }
        }).start();
        Socket silent = Clients.connect("127.0.0.1", server.localAddress())) {
      assertTrue(closedByServerWithin(silent, Duration.ofSeconds(10)), "the silent connection was closed");
      assertTrue(Clients.await(() -> server.stats().openConnections() == 0, Duration.ofSeconds(5)));
    }
  }

  @Test
  void noIdleTimeoutByDefaultAndBadValuesAreRefused() throws Exception {
    try (RunningServer server = Server.on(0).bindAddress("127.0.0.1").allow("127.0.0.0/8")
        .handle(conn -> conn.input().transferTo(conn.output())).start();
        Socket quiet = Clients.connect("127.0.0.1", server.localAddress())) {
      assertTrue(!closedByServerWithin(quiet, Duration.ofMillis(1500)), "without an idle timeout it stays open");
    }
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> Server.on(0).idleTimeout(Duration.ofSeconds(-1)));
    assertTrue(e.getMessage().contains("must not be negative: -1s"), e.getMessage());
    assertThrows(IllegalArgumentException.class, () -> Server.on(0).idleTimeout(Duration.ofDays(2)));
  }
}
