package dev.portcullis.jna;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.portcullis.LoopConnection;
import dev.portcullis.RunningServer;
import dev.portcullis.Server;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** Writes to a {@link LoopConnection} from other threads, on real sockets: the per-connection bound. */
@Timeout(60)
class LoopWriterBackpressureTest {
  private static final int CHUNK = 64 * 1024;
  private RunningServer server;
  private final CompletableFuture<LoopConnection> first = new CompletableFuture<>();
  private final CountDownLatch writable = new CountDownLatch(1);

  @AfterEach
  void stop() {
    if (server != null) {
      server.close();
    }
  }

  /** Echoes, hands the first connection to the test, and counts {@code writable} down in onWritable. */
  private void start() throws Exception {
    server = Server.on(0).bindAddress("127.0.0.1").allow("127.0.0.1")
        .handleOnLoop(OffLoopWriterMain.echoHandingOver(first, writable)).start();
  }

  private void assertServed() throws Exception {
    byte[] hello = "still served".getBytes(StandardCharsets.US_ASCII);
    try (Socket other = Clients.connect("127.0.0.1", server.localAddress())) {
      other.getOutputStream().write(hello);
      assertArrayEquals(hello, other.getInputStream().readNBytes(hello.length), "a new client is served");
    }
  }

  @Test
  void anOffLoopWriterToAPeerThatNeverReadsIsHeldBackAtTheHighWaterMark() throws Exception {
    // 1024 writes of 64 KiB: far more than the socket buffers and the queue hold together.
    String result = OffLoopWriterMain.scenario(1024);
    assertTrue(result.startsWith("OK "), result);
  }

  @Test
  void anOffLoopTryWriteGetsFalseAtTheMarkAndOnWritableSaysWhenToResume() throws Exception {
    start();
    Socket peer = Clients.connect("127.0.0.1", server.localAddress());
    LoopConnection conn = first.get(10, TimeUnit.SECONDS);
    long accepted = 0;
    boolean refused = false;
    ByteBuffer chunk = ByteBuffer.allocate(CHUNK);
    for (int i = 0; i < 4096 && !refused; i++) { // 256 MiB at most
      chunk.clear();
      if (conn.tryWrite(chunk)) {
        accepted += CHUNK;
        assertTrue(conn.queuedBytes() <= LoopConnection.MAX_QUEUED, "queued " + conn.queuedBytes());
      } else {
        refused = true;
        assertEquals(CHUNK, chunk.remaining(), "a refused buffer is untouched");
      }
    }
    assertTrue(refused, "tryWrite never returned false; took " + accepted);
    assertTrue(conn.queuedBytes() <= LoopConnection.MAX_QUEUED);

    long expected = accepted;
    CompletableFuture<Long> read = CompletableFuture.supplyAsync(() -> {
      try {
        long n = 0;
        byte[] buf = new byte[CHUNK];
        while (n < expected) {
          int r = peer.getInputStream().read(buf);
          if (r < 0) {
            break;
          }
          n += r;
        }
        return n;
      } catch (java.io.IOException e) {
        throw new java.io.UncheckedIOException(e);
      }
    });
    assertTrue(writable.await(30, TimeUnit.SECONDS), "onWritable once the peer reads");
    assertEquals(expected, read.get(30, TimeUnit.SECONDS));
    assertServed();
    peer.close();
  }

  @Test
  void aWriteFromAnotherLoopNeverWaitsAndIsBoundedByTheHardLimit() throws Exception {
    start();
    Socket stalled = Clients.connect("127.0.0.1", server.localAddress());
    LoopConnection target = first.get(10, TimeUnit.SECONDS);
    // A second server has a loop of its own; its handler writes to the first server's stalled connection.
    AtomicLong written = new AtomicLong();
    try (RunningServer other = Server.on(0).bindAddress("127.0.0.1").allow("127.0.0.1")
        .handleOnLoop((c, data) -> {
          ByteBuffer chunk = ByteBuffer.allocate(CHUNK);
          for (int i = 0; i < 2 * LoopConnection.HARD_LIMIT / CHUNK && target.isOpen(); i++) {
            chunk.clear();
            target.write(chunk);
            written.addAndGet(CHUNK);
          }
          c.write(data);
        }).start()) {
      try (Socket s = Clients.connect("127.0.0.1", other.localAddress())) {
        s.getOutputStream().write("go".getBytes(StandardCharsets.US_ASCII));
        assertArrayEquals("go".getBytes(StandardCharsets.US_ASCII), s.getInputStream().readNBytes(2),
            "the other loop went on: it did not wait for the stalled peer");
      }
      assertTrue(Clients.await(() -> !target.isOpen(), Duration.ofSeconds(10)),
          "past the hard limit the connection is closed; written " + written.get());
      assertEquals(1, server.stats().handlerFailures());
      assertEquals(0, other.stats().handlerFailures());
      assertServed();
    } finally {
      stalled.close();
    }
  }

  @Test
  void inItsOwnSmallHeapTheIssuesScenarioEndsWithoutOutOfMemory() throws Exception {
    String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    // 16384 writes of 64 KiB: 1 GiB, sixteen times the heap, if nothing held the writer back.
    Process p = new ProcessBuilder(java, "-Xmx64m", "-XX:+ExitOnOutOfMemoryError", "-cp",
        System.getProperty("java.class.path"), OffLoopWriterMain.class.getName(), "16384")
        .redirectErrorStream(true).start();
    StringBuilder out = new StringBuilder();
    try (BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
      for (String line; (line = r.readLine()) != null; ) {
        out.append(line).append('\n');
      }
    }
    assertTrue(p.waitFor(50, TimeUnit.SECONDS));
    assertEquals(0, p.exitValue(), out.toString());
    assertTrue(out.toString().contains("OK "), out.toString());
  }
}
