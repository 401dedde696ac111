package dev.portcullis.jetty;

import static dev.portcullis.jetty.JettyServers.await;
import static dev.portcullis.jetty.JettyServers.get;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.portcullis.policy.AccessPolicy;
import dev.portcullis.policy.Limits;
import dev.portcullis.spi.LogCapture;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import org.eclipse.jetty.server.HttpConnectionFactory;
import org.eclipse.jetty.server.ProxyConnectionFactory;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * Behind Jetty's own {@link ProxyConnectionFactory} and a real HAProxy on loopback sending PROXY v2:
 * the client HAProxy relays is what the guard decides and counts; a header from a peer not trusted to
 * send one is refused.
 */
@Timeout(60)
class JettyHaproxyTest {
  @RegisterExtension
  final LogCapture log = new LogCapture();

  @TempDir
  Path dir;

  /** HAProxy on 127.0.0.1 in TCP mode, relaying to {@code backend} with PROXY v2; returns its frontend port. */
  private int haproxy(int backend, Process[] started) throws Exception {
    String bin = Path.of("/usr/sbin/haproxy").toFile().canExecute() ? "/usr/sbin/haproxy" : "haproxy";
    int frontend;
    try (ServerSocket s = new ServerSocket(0, 1, java.net.InetAddress.getByName("127.0.0.1"))) {
      frontend = s.getLocalPort();
    }
    Path cfg = dir.resolve("haproxy.cfg");
    Files.writeString(cfg, String.join("\n",
        "global",
        "  maxconn 64",
        "defaults",
        "  mode tcp",
        "  timeout connect 5s",
        "  timeout client 10s",
        "  timeout server 10s",
        "frontend fe",
        "  bind 127.0.0.1:" + frontend,
        "  default_backend be",
        "backend be",
        "  server s1 127.0.0.1:" + backend + " send-proxy-v2",
        ""));
    started[0] = new ProcessBuilder(bin, "-db", "-f", cfg.toString()).redirectErrorStream(true)
        .redirectOutput(dir.resolve("haproxy.log").toFile()).start();
    int port = frontend;
    boolean up = await(() -> {
      try (Socket probe = new Socket("127.0.0.1", port)) {
        return true;
      } catch (Exception e) {
        return false;
      }
    }, Duration.ofSeconds(10));
    assertTrue(up, () -> "haproxy did not start: " + haproxyLog());
    return frontend;
  }

  private String haproxyLog() {
    try {
      return Files.readString(dir.resolve("haproxy.log"));
    } catch (java.io.IOException e) {
      return "no haproxy log: " + e;
    }
  }

  @Test
  void theRelayedClientIsDecidedNotTheProxy() throws Exception {
    try (JettyServers jetty = new JettyServers(new ProxyConnectionFactory(), new HttpConnectionFactory())) {
      JettyGuard guard = JettyGuard.builder(AccessPolicy.parse("allow 127.0.0.0/8\ndeny 127.0.0.6/32"))
          .trustedProxies("127.0.0.1/32").attach(jetty.connector);
      jetty.start();
      Process[] haproxy = new Process[1];
      try {
        InetSocketAddress fe = new InetSocketAddress("127.0.0.1", haproxy(jetty.connector.getLocalPort(), haproxy));
        assertEquals("127.0.0.5", get("127.0.0.5", fe), () -> "the handler sees the relayed client; " + haproxyLog());
        assertNull(get("127.0.0.6", fe), "denied by its own address though HAProxy's is allowed");
        assertTrue(await(() -> guard.stats().deniedAfterHandshake() == 1, Duration.ofSeconds(5)), () -> "" + guard.stats());
        assertEquals(1, jetty.handled.get(), "the denied client's request never reached the handler");
        assertEquals(1, log.lines("Denied 127.0.0.6").size(), log::text);
        assertTrue(await(() -> guard.stats().openConnections() == 0 && guard.stats().pendingHandshakes() == 0,
            Duration.ofSeconds(10)), () -> "" + guard.stats());
        assertEquals(guard.stats().accepted(), guard.stats().outcomes(), () -> "" + guard.stats());
      } finally {
        if (haproxy[0] != null) {
          haproxy[0].destroy();
          haproxy[0].waitFor();
        }
      }
    }
  }

  /** Every connection comes from HAProxy: the per-source limit counts each relayed client instead. */
  @Test
  void perSourceLimitBehindHaproxyCountsTheRelayedClients() throws Exception {
    try (JettyServers jetty = new JettyServers(new ProxyConnectionFactory(), new HttpConnectionFactory())) {
      JettyGuard guard = JettyGuard.builder(AccessPolicy.parse("allow 127.0.0.0/8"))
          .limits(Limits.NONE.withMaxPerSource(1)).trustedProxies("127.0.0.1/32").attach(jetty.connector);
      jetty.start();
      Process[] haproxy = new Process[1];
      try {
        InetSocketAddress fe = new InetSocketAddress("127.0.0.1", haproxy(jetty.connector.getLocalPort(), haproxy));
        try (Socket held = JettyServers.connect("127.0.0.7", fe)) {
          held.getOutputStream().write("GET / HTTP/1.1\r\nHost: t\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
          assertTrue(await(() -> jetty.handled.get() == 1, Duration.ofSeconds(10)), () -> haproxyLog());
          for (int i = 11; i <= 13; i++) {
            assertEquals("127.0.0." + i, get("127.0.0." + i, fe), "one each, through the same proxy");
          }
          assertNull(get("127.0.0.7", fe), "a second from 127.0.0.7 is over its own limit");
          assertTrue(await(() -> guard.stats().limited() == 1, Duration.ofSeconds(5)), () -> "" + guard.stats());
          assertEquals(1, log.lines("Refused 127.0.0.7 (socket peer 127.0.0.1) after the handshake by the per-source limit").size(),
              log::text);
        }
      } finally {
        if (haproxy[0] != null) {
          haproxy[0].destroy();
          haproxy[0].waitFor();
        }
      }
    }
  }

  @Test
  void aProxyHeaderFromAPeerNotTrustedIsRefusedAndANoHeaderClientIsDecidedOnItsSocket() throws Exception {
    try (JettyServers jetty = new JettyServers(new ProxyConnectionFactory(), new HttpConnectionFactory())) {
      JettyGuard guard = JettyGuard.builder(AccessPolicy.parse("allow 127.0.0.0/8"))
          .trustedProxies("127.0.0.1/32").attach(jetty.connector);
      jetty.start();
      try (Socket forger = JettyServers.connect("127.0.0.2", jetty.address())) {
        forger.getOutputStream().write(("PROXY TCP4 10.9.9.9 127.0.0.1 4000 80\r\n"
            + "GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
        assertEquals("", JettyServers.readAll(forger.getInputStream()), "closed unanswered");
      }
      assertEquals(0, jetty.handled.get());
      assertTrue(await(() -> guard.stats().handshakeFailures() == 1, Duration.ofSeconds(5)), () -> "" + guard.stats());
      assertEquals(1, log.lines("a PROXY header from a peer not trusted to relay").size(), log::text);

      assertEquals("127.0.0.3", get("127.0.0.3", jetty.address()), "no header: the socket peer, as Jetty passes it on");
      assertEquals(1, jetty.handled.get());
    }
  }

  @Test
  void aTrustedProxyThatSendsNoHeaderInTimeIsAHandshakeTimeout() throws Exception {
    try (JettyServers jetty = new JettyServers(new ProxyConnectionFactory(), new HttpConnectionFactory())) {
      JettyGuard guard = JettyGuard.builder(AccessPolicy.parse("allow 127.0.0.0/8"))
          .trustedProxies("127.0.0.1/32").handshakeTimeout(Duration.ofMillis(300)).attach(jetty.connector);
      jetty.start();
      try (Socket silent = JettyServers.connect("127.0.0.1", jetty.address())) {
        assertEquals("", JettyServers.readAll(silent.getInputStream()), "closed at the deadline");
      }
      assertEquals(1, guard.stats().handshakeTimeouts(), () -> "" + guard.stats());
      assertTrue(await(() -> guard.stats().openConnections() == 0, Duration.ofSeconds(5)), () -> "" + guard.stats());
      assertEquals(1, log.lines("the handshake timed out in step 'proxy (Jetty)'").size(), log::text);
    }
  }
}
