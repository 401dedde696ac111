package dev.portcullis.jna;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.portcullis.HandlerMode;
import dev.portcullis.RunningServer;
import dev.portcullis.Server;
import dev.portcullis.spi.LogCapture;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * A handler that holds its carrier (it spins, never parking) on a 2-loop server in {@link
 * HandlerMode#LOOP_CARRIER}. What the clients get, as the design promises it:
 *
 * <ul>
 *   <li>clients on the other loop keep their echo going, the whole time;
 *   <li>a client that connects during the spin is accepted and served by the other loop (the held
 *       loop is not in {@code epoll_wait}, so the kernel wakes the other one for the listener);
 *   <li>the stall is logged once, with the spinning handler's stack;
 *   <li>once it is reported, a handler of the held loop that is woken by another thread (here a
 *       latch; a timer or another connection's handler alike) runs on a fallback carrier and answers
 *       during the spin;
 *   <li>clients of the held loop whose handlers wait for their socket wait: the loop sees their
 *       bytes only when it is back, and then answers them.
 * </ul>
 *
 * The handler spins until the test has seen all that (10 s at most), for about as long as a 2 s
 * spin on a quiet machine, so nothing here depends on timing.
 */
@Timeout(60)
class CarrierStallTest {
  @RegisterExtension
  final LogCapture log = new LogCapture();

  private final AtomicBoolean spinning = new AtomicBoolean();
  private final CountDownLatch spinStarted = new CountDownLatch(1);
  private final CountDownLatch release = new CountDownLatch(1);
  private final CountDownLatch wakeNapper = new CountDownLatch(1);
  private final CountDownLatch napping = new CountDownLatch(1);

  /** Spins without parking until released (10 s at most): a computation as the loop sees it. */
  private void spinHoldingTheCarrier() {
    spinning.set(true);
    spinStarted.countDown();
    long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
    while (release.getCount() > 0 && System.nanoTime() < end) {
      Thread.onSpinWait();
    }
    spinning.set(false);
  }

  private static final class Client implements AutoCloseable {
    final Socket socket;
    final BufferedReader in;
    final String loop;

    Client(RunningServer server) throws IOException {
      socket = Clients.connect("127.0.0.1", server.localAddress());
      socket.setSoTimeout(20_000);
      in = new BufferedReader(new InputStreamReader(socket.getInputStream(), StandardCharsets.US_ASCII));
      loop = ask("where");
    }

    void send(String line) throws IOException {
      socket.getOutputStream().write((line + "\n").getBytes(StandardCharsets.US_ASCII));
    }

    String ask(String line) throws IOException {
      send(line);
      return in.readLine();
    }

    @Override
    public void close() throws IOException {
      socket.close();
    }
  }

  @Test
  void aSpinningHandlerHoldsOnlyItsOwnLoopsConnectionsAndIsReportedWithItsStack() throws Exception {
    assumeTrue(Runtime.version().feature() >= 21, "loop carriers need JDK 21+");
    try (RunningServer server = Server.on(0).bindAddress("127.0.0.1").allow("127.0.0.0/8").eventLoops(2)
        .handle(conn -> {
          BufferedReader in = new BufferedReader(new InputStreamReader(conn.input(), StandardCharsets.US_ASCII));
          OutputStream out = conn.output();
          for (String line; (line = in.readLine()) != null; ) {
            if (line.equals("spin")) {
              spinHoldingTheCarrier();
            } else if (line.equals("nap")) {
              napping.countDown();
              wakeNapper.await(); // parks; the test thread unparks it
            } else if (line.equals("where")) {
              String t = Thread.currentThread().toString();
              line = t.substring(t.lastIndexOf('@') + 1);
            }
            out.write((line + "\n").getBytes(StandardCharsets.US_ASCII));
          }
        }).start()) {
      assertEquals(HandlerMode.LOOP_CARRIER, server.handlerMode());
      List<Client> clients = new ArrayList<>();
      try {
        // Until the first client's loop has three connections (the kernel picks the loop; bounded).
        clients.add(new Client(server));
        String held = clients.get(0).loop;
        for (int i = 0; i < 200 && clients.stream().filter(c -> c.loop.equals(held)).count() < 3; i++) {
          clients.add(new Client(server));
        }
        List<Client> onHeld = clients.stream().filter(c -> c.loop.equals(held)).toList();
        assertTrue(onHeld.size() >= 3, "3 of 200 connections on one loop");
        Client spinner = onHeld.get(0);
        Client waiting = onHeld.get(1);
        Client napper = onHeld.get(2);

        napper.send("nap");
        assertTrue(napping.await(20, TimeUnit.SECONDS));
        spinner.send("spin");
        assertTrue(spinStarted.await(20, TimeUnit.SECONDS));
        waiting.send("held-1");

        // Clients that connect now are accepted by the loop that is free.
        for (int i = 0; i < 2; i++) {
          Client c = new Client(server);
          clients.add(c);
          assertFalse(c.loop.equals(held), "accepted by " + c.loop + " while " + held + " is held");
        }
        List<Client> others = clients.stream().filter(c -> !c.loop.equals(held)).toList();

        // The other loop's clients: 20 round trips each, all while the spin goes on.
        for (int i = 0; i < 20; i++) {
          for (Client c : others) {
            assertEquals("echo-" + i, c.ask("echo-" + i));
          }
        }
        assertTrue(spinning.get(), "all of the above happened during the spin");
        // The stall was reported once, with the spinning handler's stack.
        while (log.lines("A handler has held event loop " + held).isEmpty()) {
          assertTrue(spinning.get(), "the stall is reported during the spin");
          Thread.sleep(10);
        }
        // A handler of the held loop woken from elsewhere runs on a fallback carrier meanwhile.
        wakeNapper.countDown();
        assertEquals("nap", napper.in.readLine());
        assertTrue(spinning.get(), "the napper answered during the spin");

        release.countDown();
        // The held loop's client is answered after the spin, and so is the spinner.
        assertEquals("held-1", waiting.in.readLine());
        assertEquals("spin", spinner.in.readLine());
        assertEquals("held-2", waiting.ask("held-2"));
        assertEquals(1, log.lines("A handler has held event loop " + held).size(), log.text());
        assertEquals(1, log.lines("at dev.portcullis.jna.CarrierStallTest.spinHoldingTheCarrier").size(), log.text());
      } finally {
        release.countDown();
        for (Client c : clients) {
          c.close();
        }
      }
    }
  }

}
