package dev.portcullis.jna;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.portcullis.RunningServer;
import dev.portcullis.Server;
import java.io.IOException;
import java.net.Socket;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Churn through the default handler style: clients that each connect, send 4 KiB, read it back
 * and close, forty at a time. Every exchange must complete: a parked reader must be woken when its
 * peer closes, and no connection may be refused for want of a thread.
 */
@Timeout(120)
class HandlerChurnTest {
  @Test
  void fortyClientsChurningEchoExchangesAreNeverReset() throws Exception {
    try (RunningServer server = Server.on(0).bindAddress("127.0.0.1").allow("127.0.0.0/8")
        .handle(conn -> conn.input().transferTo(conn.output())).start()) {
      AtomicLong ok = new AtomicLong();
      List<String> failures = java.util.Collections.synchronizedList(new ArrayList<>());
      ExecutorService clients = Executors.newFixedThreadPool(40);
      long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
      List<Future<?>> running = new ArrayList<>();
      for (int c = 0; c < 40; c++) {
        int id = c;
        running.add(clients.submit(() -> {
          byte[] payload = new byte[4096];
          new Random(id).nextBytes(payload);
          for (int i = 0; i < 100_000 && System.nanoTime() < end; i++) {
            try (Socket s = Clients.connect("127.0.0.1", server.localAddress())) {
              s.setSoTimeout(10_000);
              s.getOutputStream().write(payload);
              byte[] back = s.getInputStream().readNBytes(payload.length);
              if (!java.util.Arrays.equals(payload, back)) {
                failures.add("client " + id + " got " + back.length + " bytes back");
              } else {
                ok.incrementAndGet();
              }
            } catch (IOException e) {
              failures.add("client " + id + ": " + e);
            }
          }
          return null;
        }));
      }
      for (Future<?> f : running) {
        f.get(60, TimeUnit.SECONDS);
      }
      clients.shutdown();
      assertTrue(ok.get() > 40, "some exchanges completed: " + ok.get());
      // Every handler parked on a read was woken by its peer's close: nothing is left open.
      assertTrue(Clients.await(() -> server.stats().openConnections() == 0, java.time.Duration.ofSeconds(10)),
          "connections left open after their clients closed: " + server.stats());
      assertEquals(0, server.stats().overloaded(), "no connection is refused for want of a thread");
      assertEquals(List.of(), failures.subList(0, Math.min(10, failures.size())),
          failures.size() + " of " + (failures.size() + ok.get()) + " exchanges failed; stats " + server.stats());
    }
  }
}
