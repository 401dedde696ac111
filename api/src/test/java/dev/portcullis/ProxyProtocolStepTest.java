package dev.portcullis;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.portcullis.handshake.proxy.ProxyHeader;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The PROXY protocol step in the pipeline: trust, the second address check, leftovers, chain rules;
 * and the optional header of a mixed port.
 */
@Timeout(10)
class ProxyProtocolStepTest {
  private final MockTransport mock = new MockTransport();
  private final List<Connection> served = new ArrayList<>();
  private final List<String> read = new ArrayList<>();
  private RunningServer server;

  private Server.TcpBuilder server() throws Exception {
    return Server.on(7000).transport(mock.transport).executor(Runnable::run).handle(conn -> {
      served.add(conn);
      read.add(new String(conn.input().readAllBytes(), StandardCharsets.UTF_8));
    });
  }

  private void start(Server.TcpBuilder s) throws Exception {
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

  private Server.TcpBuilder proxied() throws Exception {
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

  // ---- optional(): a mixed port, where a trusted proxy may or may not send a header ----

  private static final String V1 = "PROXY TCP4 192.0.2.5 10.0.0.1 56324 7000\r\n";

  private Server.TcpBuilder mixed(Server.TcpBuilder s) {
    return s.allow("10.0.0.0/24").allow("192.0.2.0/24")
        .handshake(Handshakes.proxyProtocol().trustedFrom("10.0.0.1/32").optional());
  }

  /** A PROXY v2 {@code PROXY TCP4} header with no TLVs. */
  private static byte[] v2(String source, int sourcePort, String destination, int destinationPort) throws Exception {
    ByteBuffer b = ByteBuffer.allocate(16 + 12);
    b.put(new byte[] {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A});
    b.put((byte) 0x21).put((byte) 0x11).putShort((short) 12);
    b.put(java.net.InetAddress.getByName(source).getAddress());
    b.put(java.net.InetAddress.getByName(destination).getAddress());
    b.putShort((short) sourcePort).putShort((short) destinationPort);
    return b.array();
  }

  private static byte[] concat(byte[] a, byte[] b) {
    byte[] all = java.util.Arrays.copyOf(a, a.length + b.length);
    System.arraycopy(b, 0, all, a.length, b.length);
    return all;
  }

  private static byte[] ascii(String s) {
    return s.getBytes(StandardCharsets.US_ASCII);
  }

  @Test
  void optionalV1HeaderFromATrustedProxyIsHonouredEvenSplitAcrossReads() throws Exception {
    start(mixed(server()));
    FakeChannel ch = from("10.0.0.1");
    ch.feed("PROX");
    ch.feed("Y TCP4 192.0.2.5 10.0.0.1 5");
    assertTrue(served.isEmpty(), "still inside the header");
    ch.feedAndClose("6324 7000\r\nhello");
    Connection c = served.get(0);
    assertEquals(new InetSocketAddress("192.0.2.5", 56324), c.peer());
    assertEquals(new InetSocketAddress("10.0.0.1", 40000), c.socketPeer());
    assertEquals(1, c.attribute(ProxyHeader.class).orElseThrow().version());
    assertEquals(List.of("hello"), read);
  }

  @Test
  void optionalV2HeaderFromATrustedProxyIsHonouredEvenSplitInsideItsSignature() throws Exception {
    start(mixed(server()));
    FakeChannel ch = from("10.0.0.1");
    byte[] all = concat(v2("192.0.2.7", 40123, "10.0.0.9", 7000), ascii("hello"));
    ch.feed(java.util.Arrays.copyOfRange(all, 0, 5));
    ch.feed(java.util.Arrays.copyOfRange(all, 5, 13));
    assertTrue(served.isEmpty(), "still inside the header");
    ch.feedAndClose(java.util.Arrays.copyOfRange(all, 13, all.length));
    Connection c = served.get(0);
    assertEquals(new InetSocketAddress("192.0.2.7", 40123), c.peer());
    assertEquals(2, c.attribute(ProxyHeader.class).orElseThrow().version());
    assertEquals(List.of("hello"), read);
  }

  @Test
  void trustedProxyWithoutAHeaderKeepsItsAddressAndItsBytesReachTheHandlerWhole() throws Exception {
    start(mixed(server()));
    FakeChannel plain = from("10.0.0.1");
    plain.feedAndClose("GET /health HTTP/1.1\r\n\r\n");
    // Data that begins like a signature and then differs, arriving a piece at a time.
    FakeChannel pro = from("10.0.0.1");
    pro.feed("P");
    pro.feed("RO");
    assertEquals(1, served.size(), "'PRO' may still be a v1 header: the step waits");
    pro.feedAndClose("GRESS?\n");
    FakeChannel proxying = from("10.0.0.1");
    proxying.feedAndClose("PROXYING\n");
    FakeChannel crlf = from("10.0.0.1");
    crlf.feed("\r\n\r");
    crlf.feedAndClose("\nQUIT\n");
    assertEquals(List.of("GET /health HTTP/1.1\r\n\r\n", "PROGRESS?\n", "PROXYING\n", "\r\n\r\nQUIT\n"), read);
    for (Connection c : served) {
      assertEquals(new InetSocketAddress("10.0.0.1", 40000), c.peer(), "the proxy stays the peer");
      assertTrue(c.attribute(ProxyHeader.class).isEmpty());
    }
    assertEquals(0, server.stats().handshakeFailures());
  }

  @Test
  void trustedProxyWithoutAHeaderIsDecidedAtItsFirstByteThatDiffers() throws Exception {
    start(mixed(Server.on(7000).transport(mock.transport).executor(Runnable::run).handle(conn -> {
      served.add(conn);
      read.add(new String(conn.input().readNBytes(1), StandardCharsets.US_ASCII));
    })));
    FakeChannel ch = from("10.0.0.1");
    ch.feed("G");
    assertEquals(List.of("G"), read, "one byte that starts neither signature is enough");
  }

  @Test
  void trustedProxyThatSendsPartOfASignatureAndWaitsIsClosedAtTheDeadline() throws Exception {
    start(mixed(server()));
    FakeChannel ch = from("10.0.0.1");
    ch.feed("PRO");
    assertEquals(1, ch.elapse());
    assertFalse(ch.isOpen());
    assertTrue(served.isEmpty());
    assertEquals(1, server.stats().handshakeTimeouts());
  }

  @Test
  void optionalHeaderThatMatchesASignatureMustStillBeValid() throws Exception {
    start(mixed(server()));
    FakeChannel bad = from("10.0.0.1");
    bad.feedAndClose("PROXY TCP4 192.0.2.5 10.0.0.1 99999 2\r\nhello");
    FakeChannel twice = from("10.0.0.1");
    twice.feedAndClose(V1 + V1);
    assertFalse(bad.isOpen() || twice.isOpen());
    assertTrue(served.isEmpty());
    assertEquals(2, server.stats().handshakeFailures());
  }

  @Test
  void headerFromAnUntrustedPeerIsNeverHonouredButReachesTheHandlerAsData() throws Exception {
    // An untrusted peer is handed to its handler at accept, before it sends a byte: the handlers
    // run once the bytes are in, as they would on their own threads.
    List<Runnable> handlers = new ArrayList<>();
    start(mixed(Server.on(7000).transport(mock.transport).executor(handlers::add).handle(conn -> {
      served.add(conn);
      read.add(new String(conn.input().readAllBytes(), StandardCharsets.ISO_8859_1));
    })));
    FakeChannel v1 = from("10.0.0.2");
    FakeChannel v2 = from("10.0.0.2");
    assertEquals(2, handlers.size(), "both passed on at accept");
    v1.feedAndClose(V1 + "hello");
    byte[] v2Bytes = concat(v2("192.0.2.7", 40123, "10.0.0.9", 7000), ascii("hello"));
    v2.feedAndClose(v2Bytes);
    handlers.forEach(Runnable::run);
    assertEquals(2, served.size());
    for (Connection c : served) {
      assertEquals(new InetSocketAddress("10.0.0.2", 40000), c.peer(), "the header named 192.0.2.x");
      assertTrue(c.attribute(ProxyHeader.class).isEmpty());
    }
    assertEquals(V1 + "hello", read.get(0));
    assertArrayEquals(v2Bytes, read.get(1).getBytes(StandardCharsets.ISO_8859_1));
    assertEquals(0, server.stats().handshakeFailures());
    assertEquals(0, server.stats().deniedAfterHandshake());
  }

  @Test
  void untrustedPeerIsPassedOnWithoutWaitingForAByteWhileATrustedOneIsWaitedFor() throws Exception {
    start(mixed(Server.on(7000).transport(mock.transport).executor(Runnable::run).handle(served::add))
        .handshake(Handshakes.greeting("hi")));
    FakeChannel direct = from("10.0.0.2");
    assertEquals("hi\n", direct.written(), "a direct client is greeted at once");
    FakeChannel proxy = from("10.0.0.1");
    assertEquals("", proxy.written(), "a trusted proxy may still send a header");
    proxy.feed("x");
    assertEquals("hi\n", proxy.written());
    assertEquals(List.of(new InetSocketAddress("10.0.0.2", 40000), new InetSocketAddress("10.0.0.1", 40000)),
        served.stream().map(Connection::peer).toList());
  }

  @Test
  void optionalIsAnImmutableSettingShownByToString() {
    dev.portcullis.handshake.proxy.ProxyProtocol required = Handshakes.proxyProtocol().trustedFrom("10.0.0.1");
    dev.portcullis.handshake.proxy.ProxyProtocol optional = required.optional();
    assertFalse(required.isOptional());
    assertTrue(optional.isOptional());
    assertEquals(required.trusted(), optional.trusted());
    assertTrue(optional.trustedFrom("10.0.0.2").isOptional(), "trustedFrom keeps the setting");
    assertEquals("proxy-protocol trusted from [10.0.0.1/32], header optional", optional.toString());
    assertEquals("proxy-protocol trusted from [10.0.0.1/32]", required.toString());
  }
}
