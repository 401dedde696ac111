package dev.portcullis.jna;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.portcullis.Handshakes;
import dev.portcullis.RunningServer;
import dev.portcullis.Server;
import dev.portcullis.handshake.proxy.ProxyHeader;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The PROXY protocol against real HAProxy on loopback: a client bound to 127.0.0.5 connects
 * through HAProxy (on 127.0.0.1), and the server sees 127.0.0.5.
 */
@Timeout(60)
class HaproxyTest {
  @TempDir
  Path dir;

  private Process haproxy(String sendProxy, int backend, String... backendLines) throws Exception {
    return haproxy(sendProxy, backend, port -> "127.0.0.1:" + port, backendLines);
  }

  /**
   * HAProxy with the frontend bound as {@code bind} says (given the port), relaying to the backend;
   * {@code backendLines} go into the backend section before its server line.
   */
  private Process haproxy(String sendProxy, int backend, java.util.function.IntFunction<String> bind,
      String... backendLines) throws Exception {
    String bin = ExternalTool.require("haproxy");
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
        "  bind " + bind.apply(frontend),
        "  default_backend be",
        "backend be",
        String.join("\n", backendLines),
        "  server s1 127.0.0.1:" + backend + " " + sendProxy,
        ""));
    Process p = new ProcessBuilder(bin, "-db", "-f", cfg.toString()).redirectErrorStream(true)
        .redirectOutput(dir.resolve("haproxy.log").toFile()).start();
    int port = frontend;
    boolean up = Clients.await(() -> {
      try (Socket probe = new Socket("127.0.0.1", port)) {
        return true;
      } catch (Exception e) {
        return false;
      }
    }, Duration.ofSeconds(10));
    assertTrue(up, "haproxy did not start: " + Files.readString(dir.resolve("haproxy.log")));
    this.frontendPort = port;
    return p;
  }

  private int frontendPort;

  /**
   * Connects from {@code from} and reads the line the server sends first, or null if the
   * connection ends without one. The client neither writes nor half-closes: HAProxy may drop a
   * session whose client closed before the backend connection was up.
   */
  private static String firstLine(String from, InetSocketAddress to) throws Exception {
    try (Socket s = Clients.connect(from, to)) {
      java.io.ByteArrayOutputStream line = new java.io.ByteArrayOutputStream();
      int b;
      while ((b = s.getInputStream().read()) >= 0 && b != '\n') {
        line.write(b);
      }
      return b < 0 && line.size() == 0 ? null : line.toString(StandardCharsets.US_ASCII);
    } catch (java.net.SocketException e) {
      return null;
    }
  }

  private String log() {
    try {
      return "haproxy log: " + Files.readString(dir.resolve("haproxy.log"));
    } catch (java.io.IOException e) {
      return "no haproxy log: " + e;
    }
  }

  @ParameterizedTest
  @ValueSource(strings = {"send-proxy", "send-proxy-v2"})
  void serverSeesTheClientBehindHaproxyAndDeniesItByItsOwnAddress(String sendProxy) throws Exception {
    try (RunningServer server = Server.on(0).bindAddress("127.0.0.1")
        .allow("127.0.0.0/8").deny("127.0.0.6")
        .handshake(Handshakes.proxyProtocol().trustedFrom("127.0.0.1/32"))
        .handle(conn -> {
          ProxyHeader h = conn.attribute(ProxyHeader.class).orElseThrow();
          conn.output().write((((InetSocketAddress) conn.peer()).getAddress().getHostAddress() + " v" + h.version()
              + " via " + ((InetSocketAddress) conn.socketPeer()).getAddress().getHostAddress() + "\n")
              .getBytes(StandardCharsets.US_ASCII));
        }).start()) {
      Process haproxy = haproxy(sendProxy, server.port());
      try {
        InetSocketAddress fe = new InetSocketAddress("127.0.0.1", frontendPort);
        String expectedVersion = sendProxy.endsWith("v2") ? "v2" : "v1";
        assertEquals("127.0.0.5 " + expectedVersion + " via 127.0.0.1", firstLine("127.0.0.5", fe),
            () -> log());
        assertNull(firstLine("127.0.0.6", fe), "denied by its own address though HAProxy's is allowed");
        assertTrue(Clients.await(() -> server.stats().deniedAfterHandshake() == 1, Duration.ofSeconds(5)));
      } finally {
        haproxy.destroy();
        haproxy.waitFor();
      }
    }
  }

  /**
   * HAProxy bound on an IPv6 socket that takes IPv4 too ({@code v4v6}; here on the mapped loopback
   * address {@code ::ffff:127.0.0.1}, so nothing listens beyond loopback) writes {@code PROXY TCP6 ::ffff:127.0.0.5
   * ...} for an IPv4 client: the mapped address is a peer, decided as the IPv4 address.
   */
  @Test
  void dualStackHaproxyRelaysIpv4ClientsAsMappedTcp6AndTheyAreDecidedAsIpv4() throws Exception {
    try (RunningServer server = Server.on(0).bindAddress("127.0.0.1")
        .allow("127.0.0.0/8").deny("127.0.0.6")
        .handshake(Handshakes.proxyProtocol().trustedFrom("127.0.0.1/32"))
        .handle(conn -> {
          ProxyHeader h = conn.attribute(ProxyHeader.class).orElseThrow();
          conn.output().write((h.family() + " " + ((InetSocketAddress) conn.peer()).getAddress().getHostAddress()
              + "\n").getBytes(StandardCharsets.US_ASCII));
        }).start()) {
      Process haproxy = haproxy("send-proxy", server.port(), port -> "::ffff:127.0.0.1:" + port + " v4v6");
      try {
        InetSocketAddress fe = new InetSocketAddress("127.0.0.1", frontendPort);
        assertEquals("TCP6 127.0.0.5", firstLine("127.0.0.5", fe), () -> log());
        assertNull(firstLine("127.0.0.6", fe), "the mapped form of a denied IPv4 client is denied as IPv4");
        assertTrue(Clients.await(() -> server.stats().deniedAfterHandshake() == 1, Duration.ofSeconds(5)));
        assertEquals(0, server.stats().handshakeFailures(), "no header was refused");
      } finally {
        haproxy.destroy();
        haproxy.waitFor();
      }
    }
  }

  /** Behind HAProxy every connection comes from the proxy: the per-source limit counts each client. */
  @Test
  void maxPerSourceBehindHaproxyCountsEachRelayedClient() throws Exception {
    java.util.concurrent.CountDownLatch release = new java.util.concurrent.CountDownLatch(1);
    try (RunningServer server = Server.on(0).bindAddress("127.0.0.1").allow("127.0.0.0/8")
        .maxConnectionsPerSource(2)
        .handshake(Handshakes.proxyProtocol().trustedFrom("127.0.0.1/32"))
        .handle(conn -> {
          conn.output().write("hi\n".getBytes(StandardCharsets.US_ASCII));
          conn.output().flush();
          release.await(30, java.util.concurrent.TimeUnit.SECONDS);
        }).start()) {
      Process haproxy = haproxy("send-proxy-v2", server.port());
      java.util.List<Socket> held = new java.util.ArrayList<>();
      try {
        InetSocketAddress fe = new InetSocketAddress("127.0.0.1", frontendPort);
        for (int i = 11; i <= 15; i++) {
          Socket s = Clients.connect("127.0.0." + i, fe);
          held.add(s);
          s.setSoTimeout(10_000);
          String line;
          try {
            line = new java.io.BufferedReader(new java.io.InputStreamReader(s.getInputStream(),
                StandardCharsets.US_ASCII)).readLine();
          } catch (java.io.IOException e) {
            throw new AssertionError("client 127.0.0." + i + ": " + e + "; server " + server.stats() + "; " + log(), e);
          }
          assertEquals("hi", line, () -> "client 127.0.0." + held.size() + " served; " + log());
        }
        assertEquals(0, server.stats().limited(), "five clients through one proxy, none over its own limit");
      } finally {
        release.countDown();
        for (Socket s : held) {
          s.close();
        }
        haproxy.destroy();
        haproxy.waitFor();
      }
    }
  }

  /** One line of at most 1 KiB, without its line ending; null at end of stream before any byte. */
  private static String readLine(java.io.InputStream in) throws java.io.IOException {
    java.io.ByteArrayOutputStream line = new java.io.ByteArrayOutputStream();
    int b;
    while ((b = in.read()) >= 0 && b != '\n' && line.size() < 1024) {
      line.write(b);
    }
    if (b < 0 && line.size() == 0) {
      return null;
    }
    String text = line.toString(StandardCharsets.US_ASCII);
    return text.endsWith("\r") ? text.substring(0, text.length() - 1) : text;
  }

  /** Connects from {@code from}, sends {@code text} without closing its side, and reads one line back. */
  private static String ask(String from, InetSocketAddress to, String text) throws Exception {
    try (Socket s = Clients.connect(from, to)) {
      s.getOutputStream().write(text.getBytes(StandardCharsets.US_ASCII));
      return readLine(s.getInputStream());
    }
  }

  private static String host(java.net.SocketAddress a) {
    return ((InetSocketAddress) a).getAddress().getHostAddress();
  }

  /**
   * A mixed port ({@code optional()}): HAProxy relays its clients with a PROXY v2 header, its
   * health checks reach the same port from the same address without one (a {@code tcp-check} with
   * its own {@code port}, so HAProxy sends no header), and clients connect directly too. Each is
   * served as what it is, and a header written by a direct client is its own data.
   */
  @Test
  void optionalHeaderServesHaproxyItsHealthChecksAndDirectClientsOnOnePort() throws Exception {
    java.util.Queue<String> checks = new java.util.concurrent.ConcurrentLinkedQueue<>();
    try (RunningServer server = Server.on(0).bindAddress("127.0.0.1").allow("127.0.0.0/8")
        .handshake(Handshakes.proxyProtocol().trustedFrom("127.0.0.1/32").optional())
        .handle(conn -> {
          String line = readLine(conn.input());
          if (line == null) {
            return; // HAProxy's start-up probe, relayed and closed
          }
          String who = host(conn.peer()) + " via " + host(conn.socketPeer()) + " "
              + conn.attribute(ProxyHeader.class).map(h -> "v" + h.version()).orElse("no header");
          if (line.equals("PING")) {
            checks.add(who);
            conn.output().write("+PONG\r\n".getBytes(StandardCharsets.US_ASCII));
            return;
          }
          conn.output().write((who + ": " + line + "\n").getBytes(StandardCharsets.US_ASCII));
        }).start()) {
      // Generous check timeouts: a slow answer on a loaded machine must not mark the server down.
      Process haproxy = haproxy("send-proxy-v2 check port " + server.port() + " inter 1s fall 5", server.port(),
          "  timeout check 5s", "  option tcp-check", "  tcp-check send PING\\r\\n",
          "  tcp-check expect string +PONG");
      try {
        InetSocketAddress fe = new InetSocketAddress("127.0.0.1", frontendPort);
        InetSocketAddress direct = new InetSocketAddress("127.0.0.1", server.port());
        assertTrue(Clients.await(() -> !checks.isEmpty(), Duration.ofSeconds(10)), () -> "no health check; " + log());
        assertEquals("127.0.0.1 via 127.0.0.1 no header", checks.peek());
        assertEquals("127.0.0.5 via 127.0.0.1 v2: hello", ask("127.0.0.5", fe, "hello\n"), () -> log());
        assertEquals("127.0.0.5 via 127.0.0.5 no header: hello", ask("127.0.0.5", direct, "hello\n"));
        assertEquals("127.0.0.1 via 127.0.0.1 no header: hello", ask("127.0.0.1", direct, "hello\n"),
            "the proxy's address without a header, as a health check of another kind");
        assertEquals("127.0.0.5 via 127.0.0.5 no header: PROXY TCP4 192.0.2.9 127.0.0.1 1 2",
            ask("127.0.0.5", direct, "PROXY TCP4 192.0.2.9 127.0.0.1 1 2\r\nhello\n"),
            "a header from an untrusted client is its data, never its address");
        assertEquals(0, server.stats().deniedAfterHandshake());
      } finally {
        haproxy.destroy();
        haproxy.waitFor();
      }
    }
  }
}
