package dev.portcullis.jna;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.portcullis.Handler;
import dev.portcullis.Handshakes;
import dev.portcullis.RunningServer;
import dev.portcullis.Server;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Per-source limits behind a trusted proxy count the client the PROXY header names, not the
 * proxy: here 127.0.0.1 plays the proxy and writes the headers itself.
 */
@Timeout(60)
class RelayedLimitsTest {
  /** Writes the client's address and holds the connection until the client closes it. */
  private static final Handler HOLDING = conn -> {
    conn.output().write((((InetSocketAddress) conn.peer()).getAddress().getHostAddress() + "\n")
        .getBytes(StandardCharsets.US_ASCII));
    conn.input().read();
  };

  /** Connects from {@code from}, sends {@code header}, and returns the socket if the server greeted it. */
  private static Socket greeted(String from, RunningServer server, String header) throws IOException {
    Socket s = Clients.connect(from, server.localAddress());
    s.setSoTimeout(5000);
    try {
      s.getOutputStream().write(header.getBytes(StandardCharsets.US_ASCII));
      StringBuilder line = new StringBuilder();
      int b;
      while ((b = s.getInputStream().read()) >= 0 && b != '\n') {
        line.append((char) b);
      }
      if (b == '\n') {
        return s;
      }
    } catch (SocketException reset) {
      // refused
    }
    s.close();
    return null;
  }

  private static String tcp4(String client) {
    return "PROXY TCP4 " + client + " 127.0.0.1 40000 7000\r\n";
  }

  private static void closeAll(List<Socket> sockets) throws IOException {
    for (Socket s : sockets) {
      s.close();
    }
  }

  @Test
  void fiveRelayedClientsAreEachTheirOwnSourceUnderMaxPerSource() throws Exception {
    try (RunningServer server = Server.on(0).bindAddress("127.0.0.1").allow("127.0.0.0/8").allow("192.0.2.0/24")
        .maxConnectionsPerSource(2)
        .handshake(Handshakes.proxyProtocol().trustedFrom("127.0.0.1/32"))
        .handle(HOLDING).start()) {
      List<Socket> held = new ArrayList<>();
      try {
        for (int i = 1; i <= 5; i++) {
          Socket s = greeted("127.0.0.1", server, tcp4("192.0.2." + i));
          assertNotNull(s, "relayed client 192.0.2." + i + " is served, though the proxy holds " + (i - 1));
          held.add(s);
        }
        assertEquals(0, server.stats().limited());
        held.add(greeted("127.0.0.1", server, tcp4("192.0.2.1")));
        assertNotNull(held.get(held.size() - 1), "a second connection of 192.0.2.1 is within its limit of 2");
        assertNull(greeted("127.0.0.1", server, tcp4("192.0.2.1")), "a third one of 192.0.2.1 is over it");
        assertEquals(1, server.stats().limited());
        held.remove(0).close();
        assertTrue(Clients.await(() -> server.stats().openConnections() == 5, Duration.ofSeconds(5)));
        Socket again = greeted("127.0.0.1", server, tcp4("192.0.2.1"));
        assertNotNull(again, "the relayed client's slot came back when its connection closed");
        held.add(again);
      } finally {
        closeAll(held);
      }
    }
  }

  @Test
  void theRateLimitPerSourceCountsTheRelayedClient() throws Exception {
    try (RunningServer server = Server.on(0).bindAddress("127.0.0.1").allow("127.0.0.0/8").allow("192.0.2.0/24")
        .rateLimitPerSource(0.001, 2)
        .handshake(Handshakes.proxyProtocol().trustedFrom("127.0.0.1/32"))
        .handle(HOLDING).start()) {
      List<Socket> held = new ArrayList<>();
      try {
        held.add(greeted("127.0.0.1", server, tcp4("192.0.2.1")));
        held.add(greeted("127.0.0.1", server, tcp4("192.0.2.1")));
        assertNull(greeted("127.0.0.1", server, tcp4("192.0.2.1")), "192.0.2.1 spent its burst of 2");
        for (int i = 2; i <= 4; i++) {
          Socket s = greeted("127.0.0.1", server, tcp4("192.0.2." + i));
          assertNotNull(s, "192.0.2." + i + " has a bucket of its own, not the proxy's");
          held.add(s);
        }
        assertEquals(1, server.stats().limited());
      } finally {
        for (Socket s : held) {
          if (s != null) {
            s.close();
          }
        }
      }
    }
  }

  @Test
  void aDirectPeerAndALocalHeaderCountTheSocketPeer() throws Exception {
    try (RunningServer server = Server.on(0).bindAddress("127.0.0.1").allow("127.0.0.0/8")
        .maxConnectionsPerSource(1)
        .handshake(Handshakes.proxyProtocol().trustedFrom("127.0.0.1/32"))
        .handle(HOLDING).start()) {
      // PROXY v2 LOCAL (a health check): the connection stays the proxy's own.
      byte[] local = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A, 0x20, 0x00, 0x00, 0x00};
      List<Socket> held = new ArrayList<>();
      try {
        Socket first = Clients.connect("127.0.0.1", server.localAddress());
        held.add(first);
        first.getOutputStream().write(local);
        first.setSoTimeout(5000);
        assertEquals('1', first.getInputStream().read(), "LOCAL: the handler sees the proxy's own address");
        Socket second = Clients.connect("127.0.0.1", server.localAddress());
        held.add(second);
        second.getOutputStream().write(local);
        second.setSoTimeout(5000);
        assertThrows(IOException.class, () -> {
          if (second.getInputStream().read() < 0) {
            throw new IOException("closed");
          }
        }, "a second LOCAL connection is the proxy's second, over its limit of 1");
        assertTrue(Clients.await(() -> server.stats().limited() == 1, Duration.ofSeconds(5)));
      } finally {
        closeAll(held);
      }
    }
  }

  @Test
  void untrustedPeersAreStillCountedAtAccept() throws Exception {
    try (RunningServer server = Server.on(0).bindAddress("127.0.0.1").allow("127.0.0.0/8")
        .maxConnectionsPerSource(1)
        .handshake(Handshakes.proxyProtocol().trustedFrom("127.0.0.1/32"))
        .handle(HOLDING).start()) {
      // 127.0.0.7 is no proxy: it is counted at accept (and its handshake then fails).
      try (Socket first = Clients.connect("127.0.0.7", server.localAddress())) {
        assertTrue(Clients.await(() -> server.stats().handshakeFailures() == 1, Duration.ofSeconds(5)));
        assertEquals(0, server.stats().limited());
      }
    }
  }

  @Test
  void perSourceLimitsBehindAProxyTrustedFromEverywhereAreRefusedAtStart() {
    IllegalStateException e = assertThrows(IllegalStateException.class, () -> Server.on(0).allowAll()
        .maxConnectionsPerSource(2)
        .handshake(Handshakes.proxyProtocol().trustedFrom("0.0.0.0/0"))
        .handle(conn -> { }).start());
    assertTrue(e.getMessage().contains("0.0.0.0/0") && e.getMessage().contains("name its own source"), e.getMessage());
    IllegalStateException rate = assertThrows(IllegalStateException.class, () -> Server.on(0).allowAll()
        .rateLimitPerSource(5, 5)
        .handshake(Handshakes.proxyProtocol().trustedFrom("10.0.0.1/32", "::/0"))
        .handle(conn -> { }).start());
    assertTrue(rate.getMessage().contains("::/0"), rate.getMessage());
  }
}
