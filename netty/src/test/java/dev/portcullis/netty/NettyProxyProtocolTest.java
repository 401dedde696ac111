package dev.portcullis.netty;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.portcullis.Handshakes;
import dev.portcullis.policy.AccessPolicy;
import dev.portcullis.spi.LogCapture;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The PROXY protocol in front of a real Netty server: real HAProxy on loopback sending v2 for
 * clients bound to 127.0.0.5 and 127.0.0.6, and raw clients writing headers of their own.
 */
@Timeout(60)
class NettyProxyProtocolTest {
  private static final String V1_HEADER = "PROXY TCP4 127.0.0.5 127.0.0.1 40000 7000\r\n";

  @RegisterExtension
  final LogCapture log = new LogCapture();

  @TempDir
  Path dir;

  private int frontendPort;

  /** HAProxy on 127.0.0.1, relaying to the backend with {@code send-proxy-v2}. */
  private Process haproxy(int backend) throws Exception {
    String bin = ExternalTool.require("haproxy");
    try (ServerSocket s = new ServerSocket(0, 1, java.net.InetAddress.getByName("127.0.0.1"))) {
      frontendPort = s.getLocalPort();
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
        "  bind 127.0.0.1:" + frontendPort,
        "  default_backend be",
        "backend be",
        "  server s1 127.0.0.1:" + backend + " send-proxy-v2",
        ""));
    Process p = new ProcessBuilder(bin, "-db", "-f", cfg.toString()).redirectErrorStream(true)
        .redirectOutput(dir.resolve("haproxy.log").toFile()).start();
    boolean up = Peers.await(() -> {
      try (Socket probe = new Socket("127.0.0.1", frontendPort)) {
        return true;
      } catch (Exception e) {
        return false;
      }
    }, Duration.ofSeconds(10));
    assertTrue(up, "haproxy did not start: " + Files.readString(dir.resolve("haproxy.log")));
    return p;
  }

  @ParameterizedTest
  @CsvSource({"NIO, CHILD", "EPOLL, CHILD", "EPOLL, SERVER"})
  void haproxyV2RelayedClientIsDecidedAgain(TestServer.Kind kind, TestServer.Usage usage) throws Exception {
    try (PortcullisNetty guard = PortcullisNetty.builder(AccessPolicy.parse("allow 127.0.0.0/8\ndeny 127.0.0.6/32"))
        .proxyProtocol(Handshakes.proxyProtocol().trustedFrom("127.0.0.1/32")).build();
        TestServer server = TestServer.greeter(kind, usage, guard)) {
      Process haproxy = haproxy(server.port());
      try {
        // HAProxy's own probe at startup relayed 127.0.0.1: one handled connection before these
        try (Socket allowed = Peers.connect("127.0.0.5", frontendPort)) {
          assertEquals("ok 127.0.0.5", Peers.readLine(allowed));
        }
        try (Socket denied = Peers.connect("127.0.0.6", frontendPort)) {
          assertNull(Peers.readLine(denied), "the relayed client HAProxy named was served");
        }
        assertTrue(Peers.await(() -> guard.stats().deniedAfterHandshake() == 1, Duration.ofSeconds(10)),
            () -> guard.stats().toString());
        assertTrue(server.events.stream().anyMatch(e -> e.equals("active 127.0.0.1 client 127.0.0.5")));
        assertTrue(server.events.stream().noneMatch(e -> e.endsWith("client 127.0.0.6")), server.events::toString);
        assertEquals(1, log.lines("Denied 127.0.0.6").size(), log.text());
      } finally {
        haproxy.destroy();
        haproxy.waitFor();
      }
    }
  }

  @Test
  void headerFromAnUntrustedPeerIsNotHonoured() throws Exception {
    try (PortcullisNetty guard = PortcullisNetty.builder(AccessPolicy.parse("allow 127.0.0.0/8"))
        .proxyProtocol(Handshakes.proxyProtocol().trustedFrom("127.0.0.9/32")).build();
        TestServer server = TestServer.greeter(TestServer.Kind.NIO, guard)) {
      assertEquals("", Peers.exchange("127.0.0.1", server.port(), V1_HEADER + "hello\n"));
      assertTrue(Peers.await(() -> guard.stats().handshakeFailures() == 1, Duration.ofSeconds(10)));
      assertEquals(0, guard.stats().handled());
      assertTrue(server.events.stream().noneMatch(e -> e.startsWith("active") || e.startsWith("read")),
          server.events::toString);
      assertEquals(1, log.lines("127.0.0.1 is not one").size(), log.text());
    }
    // optional: the header is the peer's own data, and the peer stays the socket's
    try (PortcullisNetty guard = PortcullisNetty.builder(AccessPolicy.parse("allow 127.0.0.0/8"))
        .proxyProtocol(Handshakes.proxyProtocol().trustedFrom("127.0.0.9/32").optional()).build();
        TestServer server = TestServer.greeter(TestServer.Kind.NIO, guard)) {
      try (Socket s = Peers.connect("127.0.0.1", server.port())) {
        s.getOutputStream().write(V1_HEADER.getBytes(StandardCharsets.US_ASCII));
        assertEquals("ok 127.0.0.1", Peers.readLine(s));
      }
      assertTrue(Peers.await(() -> server.events.stream().anyMatch(e -> e.startsWith("read")), Duration.ofSeconds(10)));
      assertTrue(server.events.contains("read 127.0.0.1 " + V1_HEADER.length()), server.events::toString);
    }
  }

  @ParameterizedTest
  @CsvSource({"NIO, CHILD", "EPOLL, CHILD", "NIO, SERVER"})
  void optionalHeaderFromATrustedProxyTheFirstBytesDecide(TestServer.Kind kind, TestServer.Usage usage)
      throws Exception {
    try (PortcullisNetty guard = PortcullisNetty.builder(AccessPolicy.parse("allow 127.0.0.0/8"))
        .proxyProtocol(Handshakes.proxyProtocol().trustedFrom("127.0.0.1/32").optional()).build();
        TestServer server = TestServer.greeter(kind, usage, guard)) {
      try (Socket direct = Peers.connect("127.0.0.1", server.port())) {
        direct.getOutputStream().write("hello\n".getBytes(StandardCharsets.US_ASCII));
        assertEquals("ok 127.0.0.1", Peers.readLine(direct), "a health check without a header");
      }
      try (Socket relayed = Peers.connect("127.0.0.1", server.port())) {
        // the header in two pieces, the second with the application's first bytes
        relayed.getOutputStream().write("PRO".getBytes(StandardCharsets.US_ASCII));
        relayed.getOutputStream().flush();
        Thread.sleep(50);
        relayed.getOutputStream().write((V1_HEADER.substring(3) + "hello!\n").getBytes(StandardCharsets.US_ASCII));
        assertEquals("ok 127.0.0.5", Peers.readLine(relayed));
      }
      assertTrue(Peers.await(() -> server.events.stream().filter(e -> e.startsWith("read")).count() == 2,
          Duration.ofSeconds(10)), server.events::toString);
      assertTrue(server.events.contains("read 127.0.0.1 6"), server.events::toString);
      assertTrue(server.events.contains("read 127.0.0.1 7"), "the header reached the application: " + server.events);
      assertEquals(2, guard.stats().handled());
    }
  }

  @ParameterizedTest
  @EnumSource(value = TestServer.Usage.class, names = {"CHILD", "SERVER", "BOTH"})
  void malformedOrMissingHeaderClosesTheConnection(TestServer.Usage usage) throws Exception {
    try (PortcullisNetty guard = PortcullisNetty.builder(AccessPolicy.parse("allow 127.0.0.0/8"))
        .proxyProtocol(Handshakes.proxyProtocol().trustedFrom("127.0.0.1/32"))
        .handshakeTimeout(Duration.ofMillis(300)).build();
        TestServer server = TestServer.greeter(TestServer.Kind.NIO, usage, guard)) {
      assertEquals("", Peers.exchange("127.0.0.1", server.port(), "PROXY NONSENSE\r\nhello\n"));
      try (Socket silent = Peers.connect("127.0.0.1", server.port())) {
        assertNull(Peers.readLine(silent), "a proxy that sent nothing was served");
      }
      assertTrue(Peers.await(() -> guard.stats().openConnections() == 0 && guard.stats().pendingHandshakes() == 0,
          Duration.ofSeconds(10)), () -> guard.stats().toString());
      assertEquals(1, guard.stats().handshakeFailures(), () -> guard.stats().toString());
      assertEquals(1, guard.stats().handshakeTimeouts(), () -> guard.stats().toString());
      assertEquals(0, guard.stats().handled());
      assertEquals(guard.stats().accepted(), guard.stats().outcomes());
      assertTrue(server.events.stream().noneMatch(e -> e.startsWith("active") || e.startsWith("read")),
          server.events::toString);
      assertEquals(1, log.lines("handshake step 'proxy-protocol' failed").size(), log.text());
    }
  }
}
