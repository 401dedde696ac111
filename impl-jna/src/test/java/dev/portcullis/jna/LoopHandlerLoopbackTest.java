package dev.portcullis.jna;

import static dev.portcullis.jna.Clients.await;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.portcullis.Handshakes;
import dev.portcullis.LoopConnection;
import dev.portcullis.LoopHandler;
import dev.portcullis.RunningServer;
import dev.portcullis.Server;
import java.lang.management.ManagementFactory;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** The event-loop handler style on real sockets. */
@Timeout(60)
class LoopHandlerLoopbackTest {
  private RunningServer server;

  @AfterEach
  void stop() {
    if (server != null) {
      server.close();
    }
  }

  @Test
  void loopEchoSurvivesFullSendBuffersAndBackpressure() throws Exception {
    server = Server.on(0).bindAddress("127.0.0.1").allow("127.0.0.1")
        .handleOnLoop((conn, data) -> conn.write(data)).start();
    byte[] payload = new byte[16 << 20];
    new Random(7).nextBytes(payload);
    assertArrayEquals(payload, Clients.echo(server.localAddress(), payload));
  }

  @Test
  void idleConnectionsPastTheHandshakeHoldNoThreads() throws Exception {
    AtomicInteger open = new AtomicInteger();
    server = Server.on(0).bindAddress("127.0.0.1").allow("127.0.0.0/8")
        .handshake(Handshakes.expectLine("HELLO"))
        .handleOnLoop(new LoopHandler() {
          @Override
          public void onOpen(LoopConnection c) {
            open.incrementAndGet();
          }

          @Override
          public void onData(LoopConnection c, ByteBuffer data) {
            c.write(data);
          }
        }).start();
    List<Socket> idle = new ArrayList<>();
    try {
      Socket first = Clients.connect("127.0.0.1", server.localAddress());
      idle.add(first);
      first.getOutputStream().write("HELLO\n".getBytes());
      assertTrue(await(() -> open.get() == 1, Duration.ofSeconds(5)));
      int threadsWithOne = ManagementFactory.getThreadMXBean().getThreadCount();

      for (int i = 0; i < 2000; i++) {
        Socket s = Clients.connect("127.0.3." + (1 + i % 250), server.localAddress());
        idle.add(s);
        s.getOutputStream().write("HELLO\n".getBytes());
      }
      assertTrue(await(() -> open.get() == 2001, Duration.ofSeconds(20)), "opened: " + open.get());
      assertEquals(threadsWithOne, ManagementFactory.getThreadMXBean().getThreadCount(),
          "idle connections past the handshake must not add threads");

      Socket last = idle.get(idle.size() - 1);
      last.getOutputStream().write("still served".getBytes());
      byte[] echoed = last.getInputStream().readNBytes(12);
      assertEquals("still served", new String(echoed));
    } finally {
      for (Socket s : idle) {
        s.close();
      }
    }
  }
}
