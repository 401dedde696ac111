package dev.portcullis.jna;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.portcullis.LoopConnection;
import dev.portcullis.LoopHandler;
import dev.portcullis.RunningServer;
import dev.portcullis.Server;
import dev.portcullis.spi.KernelFilterMode;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * How a TCP listener with several loops spreads its accepts, on real loopback connections: under
 * churn each of two loops accepts a fair share (one {@code SO_REUSEPORT} socket per loop), with and
 * without the kernel filter, and the filter is on every loop's socket, so a denied peer reaches
 * none of them.
 */
@Timeout(60)
class AcceptSpreadLoopbackTest {
  private static final int CONNECTIONS = 2_000;
  private static final int CLIENTS = 1;

  @ParameterizedTest(name = "kernelFilter: {0}")
  @ValueSource(booleans = {false, true})
  void twoLoopsEachAcceptAFairShareUnderChurn(boolean kernelFilter) throws Exception {
    Server.TcpBuilder builder = Server.on(0).bindAddress("127.0.0.1").allow("127.0.0.0/8").eventLoops(2);
    if (kernelFilter) {
      builder = builder.kernelFilter();
    }
    try (RunningServer server = builder.handleOnLoop(new Ok())
        .start()) {
      if (kernelFilter) {
        assertTrue(server.stats().kernelFilter() != KernelFilterMode.OFF
            && server.stats().kernelFilter() != KernelFilterMode.USER_SPACE, "a filter is attached: "
            + server.stats().kernelFilter());
      }
      ExecutorService clients = Executors.newFixedThreadPool(CLIENTS);
      try {
        List<Future<Integer>> done = new ArrayList<>();
        for (int c = 0; c < CLIENTS; c++) {
          done.add(clients.submit(() -> churn(server, CONNECTIONS / CLIENTS)));
        }
        int served = 0;
        for (Future<Integer> f : done) {
          served += f.get(50, TimeUnit.SECONDS);
        }
        assertEquals(CONNECTIONS, served, "every connection was answered");
      } finally {
        clients.shutdownNow();
      }
      long[] perLoop = server.acceptedPerLoop();
      assertEquals(CONNECTIONS, perLoop[0] + perLoop[1], Arrays.toString(perLoop));
      for (long n : perLoop) {
        // A fair share is 50 %; hashing 2,000 connections puts each loop within a few % of it,
        // while one socket with EPOLLEXCLUSIVE gave the first idle loop most of them.
        assertTrue(n >= CONNECTIONS * 35 / 100, "each loop accepts at least 35 %: " + Arrays.toString(perLoop));
      }
    }
  }

  /** Answers "ok" and closes, on the loop: the loop is free again at once. */
  private static final class Ok implements LoopHandler {
    @Override
    public void onOpen(LoopConnection connection) {
      connection.write(ByteBuffer.wrap("ok".getBytes(StandardCharsets.US_ASCII)));
      connection.close();
    }

    @Override
    public void onData(LoopConnection connection, ByteBuffer data) {}
  }

  private static int churn(RunningServer server, int count) throws IOException {
    int served = 0;
    for (int i = 0; i < count; i++) {
      // Source addresses rotate over 127.0.0.1-250: on a busy machine the kernel may give one
      // client port out again and again, and the same address and port hash to the same socket.
      try (Socket s = Clients.connect("127.0.0." + (1 + i % 250), server.localAddress())) {
        s.setSoLinger(true, 0); // no TIME_WAIT left behind by 2,000 connections
        if ("ok".equals(new String(s.getInputStream().readAllBytes(), StandardCharsets.US_ASCII))) {
          served++;
        }
      }
    }
    return served;
  }

  @Test
  void aDeniedPeerReachesNoLoopsSocket() throws Exception {
    try (RunningServer server = Server.on(0).bindAddress("127.0.0.1").allow("127.0.0.1").eventLoops(2)
        .kernelFilter().handle(conn -> conn.output().write("ok".getBytes(StandardCharsets.US_ASCII)))
        .start()) {
      // 32 connects from distinct source ports: hashing spreads them over both loops' sockets.
      List<SocketChannel> denied = new ArrayList<>();
      try {
        for (int i = 0; i < 32; i++) {
          SocketChannel ch = SocketChannel.open();
          denied.add(ch);
          ch.setOption(StandardSocketOptions.SO_LINGER, 0);
          ch.bind(new InetSocketAddress(InetAddress.getByName("127.0.0.2"), 0));
          ch.configureBlocking(false);
          ch.connect(server.localAddress());
        }
        assertEquals("ok", Clients.exchange("127.0.0.1", server.localAddress(), ""));
        Thread.sleep(500); // a SYN that got through is answered at once on loopback
        for (SocketChannel ch : denied) {
          assertFalse(finished(ch), "no handshake from a denied peer completes");
        }
      } finally {
        for (SocketChannel ch : denied) {
          ch.close();
        }
      }
      assertEquals(1, server.stats().accepted(), "no denied peer reached accept() on either socket");
      assertEquals(0, server.stats().denied());
    }
  }

  private static boolean finished(SocketChannel ch) {
    try {
      return ch.finishConnect();
    } catch (IOException e) {
      return true; // refused: it reached a socket without the filter
    }
  }
}
