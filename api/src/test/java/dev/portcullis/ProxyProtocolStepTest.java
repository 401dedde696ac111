package dev.portcullis;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.portcullis.handshake.Handshakes;
import dev.portcullis.handshake.proxy.ProxyHeader;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** The PROXY protocol step in the pipeline: trust, the second address check, leftovers, chain rules. */
@Timeout(10)
class ProxyProtocolStepTest {
  private final MockTransport mock = new MockTransport();
  private final List<Connection> served = new ArrayList<>();
  private final List<String> read = new ArrayList<>();
  private RunningServer server;

  private Server server() throws Exception {
    return Server.on(7000).transport(mock.transport).executor(Runnable::run).handle(conn -> {
      served.add(conn);
      read.add(new String(conn.input().readAllBytes(), StandardCharsets.UTF_8));
    });
  }

  private void start(Server s) throws Exception {
    server = s.start();
  }

  @AfterEach
  void close() {
    if (server != null) {
      server.close();
    }
  }

  private FakeChannel from(String peer) throws Exception {
    return mock.connect(peer);
  }

  private Server proxied() throws Exception {
    return server().allow("10.0.0.0/24").allow("192.0.2.0/24").deny("192.0.2.66")
        .handshake(Handshakes.proxyProtocol().trustedFrom("10.0.0.1/32"));
  }

  @Test
  void relayedClientBecomesThePeerAndFollowingBytesReachTheHandler() throws Exception {
    start(proxied());
    FakeChannel ch = from("10.0.0.1");
    ch.feedAndClose("PROXY TCP4 192.0.2.5 10.0.0.1 56324 7000\r\nhello");
    Connection c = served.get(0);
    assertEquals(new InetSocketAddress("192.0.2.5", 56324), c.peer());
    assertEquals(new InetSocketAddress("10.0.0.1", 40000), c.socketPeer());
    assertEquals(ProxyHeader.Family.TCP4, c.attribute(ProxyHeader.class).orElseThrow().family());
    assertEquals(List.of("hello"), read);
  }

  @Test
  void relayedClientDeniedByThePolicyIsClosedThoughTheProxyIsAllowed() throws Exception {
    start(proxied());
    FakeChannel ch = from("10.0.0.1");
    ch.feedAndClose("PROXY TCP4 192.0.2.66 10.0.0.1 56324 7000\r\nhello");
    assertFalse(ch.isOpen());
    assertTrue(served.isEmpty());
    assertEquals(1, server.stats().deniedAfterHandshake());
  }

  @Test
  void headerFromAnUntrustedPeerIsRefusedWithoutReadingIt() throws Exception {
    start(proxied());
    FakeChannel ch = from("10.0.0.2");
    assertFalse(ch.isOpen(), "closed before any byte is read");
    assertEquals(1, server.stats().handshakeFailures());
  }

  @Test
  void missingMalformedOrSecondHeaderClosesTheConnection() throws Exception {
    start(proxied());
    FakeChannel none = from("10.0.0.1");
    none.feedAndClose("GET / HTTP/1.1\r\n\r\n");
    FakeChannel twice = from("10.0.0.1");
    twice.feedAndClose("PROXY TCP4 192.0.2.5 10.0.0.1 1 2\r\nPROXY TCP4 192.0.2.6 10.0.0.1 1 2\r\n");
    FakeChannel bad = from("10.0.0.1");
    bad.feedAndClose("PROXY TCP4 192.0.2.5 10.0.0.1 99999 2\r\n");
    assertFalse(none.isOpen() || twice.isOpen() || bad.isOpen());
    assertTrue(served.isEmpty());
    assertEquals(3, server.stats().handshakeFailures());
  }

  @Test
  void localCommandAndUnknownFamilyKeepTheSocketAddress() throws Exception {
    start(proxied());
    FakeChannel ch = from("10.0.0.1");
    ch.feedAndClose("PROXY UNKNOWN\r\n");
    assertEquals(new InetSocketAddress("10.0.0.1", 40000), served.get(0).peer());
  }

  @Test
  void silentProxyTimesOutAtTheDeadline() throws Exception {
    start(proxied());
    FakeChannel ch = from("10.0.0.1");
    ch.feed("PROXY TCP4 192.0.2.5");
    assertEquals(1, ch.elapse());
    assertFalse(ch.isOpen());
    assertEquals(1, server.stats().handshakeTimeouts());
  }

  @Test
  void chainMustStartWithTheProxyStepAndTrustSomeone() throws Exception {
    IllegalStateException notFirst = assertThrows(IllegalStateException.class, () -> server().allowAll()
        .handshake(Handshakes.greeting("hi")).handshake(Handshakes.proxyProtocol().trustedFrom("10.0.0.1"))
        .start());
    assertTrue(notFirst.getMessage().contains("must come first"), notFirst.getMessage());
    IllegalStateException twice = assertThrows(IllegalStateException.class, () -> server().allowAll()
        .handshake(Handshakes.proxyProtocol().trustedFrom("10.0.0.1"))
        .handshake(Handshakes.proxyProtocol().trustedFrom("10.0.0.1")).start());
    assertTrue(twice.getMessage().contains("must come first"), twice.getMessage());
    IllegalStateException untrusting = assertThrows(IllegalStateException.class,
        () -> server().allowAll().handshake(Handshakes.proxyProtocol()).start());
    assertTrue(untrusting.getMessage().contains("trustedFrom"), untrusting.getMessage());
    assertThrows(IllegalArgumentException.class, () -> Handshakes.proxyProtocol().trustedFrom("10.0.0.1/8"));
  }
}
