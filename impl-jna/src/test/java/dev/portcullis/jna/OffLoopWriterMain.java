package dev.portcullis.jna;

import dev.portcullis.LoopConnection;
import dev.portcullis.LoopHandler;
import dev.portcullis.RunningServer;
import dev.portcullis.Server;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Arrays;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The scenario in a JVM of its own, run with a small heap ({@code -Xmx64m}): a peer that
 * never reads, and a thread writing 64 KiB at a time to it as fast as it can, at most {@code
 * WRITES} times. It exits 0 and prints {@code OK ...} if the writer was held back with the
 * connection's queue within {@link LoopConnection#MAX_QUEUED}, a new client was still served, and
 * closing the stalled peer released the writer; otherwise it prints why and exits 1.
 */
public final class OffLoopWriterMain {
  private OffLoopWriterMain() {}

  /**
   * Runs the scenario.
   *
   * @param args {@code WRITES}, the most 64 KiB writes the writer thread makes
   * @throws Exception if anything fails
   */
  public static void main(String[] args) throws Exception {
    String result = scenario(Integer.parseInt(args[0]));
    System.out.println(result);
    System.out.flush();
    Runtime.getRuntime().halt(result.startsWith("OK ") ? 0 : 1);
  }

  /**
   * An echo handler that hands its first connection to {@code first} and counts {@code writable}
   * down in {@link LoopHandler#onWritable}.
   */
  static LoopHandler echoHandingOver(CompletableFuture<LoopConnection> first, CountDownLatch writable) {
    return new LoopHandler() {
      @Override
      public void onOpen(LoopConnection c) {
        first.complete(c);
      }

      @Override
      public void onData(LoopConnection c, ByteBuffer data) {
        c.write(data);
      }

      @Override
      public void onWritable(LoopConnection c) {
        writable.countDown();
      }
    };
  }

  /**
   * Runs the scenario with at most {@code writes} writes of 64 KiB.
   *
   * @param writes the most writes the writer thread makes
   * @return {@code OK} and what was seen, or {@code FAIL} and why
   */
  static String scenario(int writes) throws Exception {
    CompletableFuture<LoopConnection> first = new CompletableFuture<>();
    AtomicLong maxQueued = new AtomicLong();
    AtomicLong written = new AtomicLong();
    try (RunningServer server = Server.on(0).bindAddress("127.0.0.1").allow("127.0.0.1")
        .handleOnLoop(echoHandingOver(first, new CountDownLatch(1))).start()) {
      Socket stalled = Clients.connect("127.0.0.1", server.localAddress());
      LoopConnection conn = first.get(10, TimeUnit.SECONDS);
      Thread writer = new Thread(() -> {
        ByteBuffer chunk = ByteBuffer.allocate(64 * 1024);
        for (int i = 0; i < writes && conn.isOpen(); i++) {
          chunk.clear();
          conn.write(chunk);
          written.addAndGet(64 * 1024);
          maxQueued.accumulateAndGet(conn.queuedBytes(), Math::max);
        }
      }, "off-loop-writer");
      writer.setDaemon(true);
      writer.start();
      try {
        boolean heldBack = Clients.await(() -> writer.getState() == Thread.State.WAITING || !writer.isAlive(),
            Duration.ofSeconds(30)) && writer.isAlive();
        String state = "written " + written.get() + " B, max queued " + maxQueued.get() + " B, now "
            + conn.queuedBytes() + " B, writer " + writer.getState();
        if (!heldBack) {
          return "FAIL the writer was not held back: " + state;
        }
        if (maxQueued.get() > LoopConnection.MAX_QUEUED || conn.queuedBytes() > LoopConnection.MAX_QUEUED) {
          return "FAIL more than MAX_QUEUED was queued: " + state;
        }
        byte[] hello = "still served".getBytes(StandardCharsets.US_ASCII);
        try (Socket other = Clients.connect("127.0.0.1", server.localAddress())) {
          other.getOutputStream().write(hello);
          byte[] back = other.getInputStream().readNBytes(hello.length);
          if (!Arrays.equals(hello, back)) {
            return "FAIL a new client was not served: got " + back.length + " bytes; " + state;
          }
        }
        stalled.setSoLinger(true, 0);
        stalled.close(); // a reset: the server's next send fails and the connection closes
        writer.join(30_000);
        if (writer.isAlive() || conn.isOpen()) {
          return "FAIL closing the peer did not release the writer: " + state;
        }
        return "OK " + state;
      } finally {
        stalled.close();
      }
    }
  }
}
