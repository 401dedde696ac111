package dev.portcullis;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.mockito.ArgumentMatchers.any;
import static org.mockito.ArgumentMatchers.anyInt;
import static org.mockito.Mockito.mock;
import static org.mockito.Mockito.verify;
import static org.mockito.Mockito.when;

import dev.portcullis.policy.AccessPolicy;
import dev.portcullis.spi.Endpoint;
import dev.portcullis.spi.Listener;
import dev.portcullis.spi.Transport;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.mockito.ArgumentCaptor;

/** The builder: arguments checked where given, settings checked at start, and what reaches the transport. */
class ServerTest {
  private static final Handler NOOP = conn -> {};

  private static Transport transport() throws Exception {
    Transport t = mock(Transport.class);
    Listener l = mock(Listener.class);
    when(t.name()).thenReturn("mock");
    when(t.isAvailable()).thenReturn(true);
    when(t.open(any(), anyInt(), any(), any())).thenReturn(l);
    when(l.localAddress()).thenReturn(new InetSocketAddress("127.0.0.1", 7000));
    return t;
  }

  @Test
  void rejectsPortOutOfRangeNamingIt() {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Server.on(65536));
    assertTrue(e.getMessage().contains("65536"), e.getMessage());
    assertThrows(IllegalArgumentException.class, () -> Server.on(-1));
  }

  @Test
  void rejectsNonPositiveBacklogAndTimeout() {
    assertTrue(assertThrows(IllegalArgumentException.class, () -> Server.on(0).backlog(0))
        .getMessage().contains("0"));
    assertThrows(IllegalArgumentException.class, () -> Server.on(0).handshakeTimeout(Duration.ZERO));
    assertThrows(IllegalArgumentException.class, () -> Server.on(0).handshakeTimeout(Duration.ofSeconds(-1)));
    assertThrows(IllegalArgumentException.class,
        () -> Server.on(0).handshakeTimeout(java.time.temporal.ChronoUnit.FOREVER.getDuration()));
  }

  @Test
  void rejectsMalformedRuleWhereItIsGiven() {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Server.on(0).allow("10.1.2.3/8"));
    assertTrue(e.getMessage().contains("10.0.0.0/8"), e.getMessage());
    assertThrows(IllegalArgumentException.class, () -> Server.on(0).deny("example.com"));
  }

  @Test
  void rejectsHostnameAsBindAddress() {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> Server.on(0).bindAddress("localhost"));
    assertTrue(e.getMessage().contains("'localhost'"), e.getMessage());
  }

  @Test
  void refusesToStartWithoutHandler() throws Exception {
    IllegalStateException e = assertThrows(IllegalStateException.class,
        () -> Server.on(7000).allow("10.0.0.0/8").transport(transport()).start());
    assertTrue(e.getMessage().contains(".handle("), e.getMessage());
  }

  @Test
  void refusesToStartWithoutRulesAndSaysHowToOpenIt() throws Exception {
    Transport t = transport();
    IllegalStateException e = assertThrows(IllegalStateException.class,
        () -> Server.on(7000).handle(NOOP).transport(t).start());
    assertTrue(e.getMessage().contains(".allowAll()"), e.getMessage());
    assertTrue(e.getMessage().contains(".allow("), e.getMessage());
    verify(t, org.mockito.Mockito.never()).open(any(), anyInt(), any(), any());

    assertThrows(IllegalStateException.class,
        () -> Server.on(7000).policy(AccessPolicy.parse("# nothing\n")).handle(NOOP).transport(t).start());
  }

  @Test
  void refusesPolicyCombinedWithInlineRules() throws Exception {
    IllegalStateException e = assertThrows(IllegalStateException.class, () -> Server.on(7000)
        .policy(AccessPolicy.parse("allow 10.0.0.0/8")).deny("10.66.0.0/16").handle(NOOP)
        .transport(transport()).start());
    assertTrue(e.getMessage().contains(".policy("), e.getMessage());
  }

  @Test
  void refusesUnavailableTransportWithItsCause() {
    Transport t = mock(Transport.class);
    when(t.name()).thenReturn("broken");
    when(t.isAvailable()).thenReturn(false);
    when(t.unavailabilityCause()).thenReturn(Optional.of(new UnsatisfiedLinkError("no libc here")));
    IllegalStateException e = assertThrows(IllegalStateException.class,
        () -> Server.on(7000).allowAll().handle(NOOP).transport(t).start());
    assertTrue(e.getMessage().contains("broken") && e.getMessage().contains("no libc here"), e.getMessage());
  }

  @Test
  void withoutATransportOnTheClassPathSaysWhichDependencyToAdd() {
    // The api module's own tests run without impl-jna, so ServiceLoader finds nothing.
    IllegalStateException e = assertThrows(IllegalStateException.class,
        () -> Server.on(7000).allowAll().handle(NOOP).start());
    assertTrue(e.getMessage().contains("portcullis-jna"), e.getMessage());
  }

  @Test
  void passesPortBacklogAndBindAddressToTheTransportAsGiven() throws Exception {
    Transport t = transport();
    try (RunningServer s = Server.on(7000).bindAddress("::1").backlog(512).allow("::1").handle(NOOP)
        .transport(t).start()) {
      ArgumentCaptor<Endpoint> options = ArgumentCaptor.forClass(Endpoint.class);
      verify(t).open(options.capture(), anyInt(), any(), any());
      assertEquals(new Endpoint.Tcp(Optional.of(InetAddress.getByName("::1")), 7000, 512), options.getValue());
      assertEquals(new InetSocketAddress("127.0.0.1", 7000), s.localAddress());
    }
  }

  @Test
  void eventLoopsReachTheTransportAndDefaultToTheAvailableProcessors() throws Exception {
    Transport t = transport();
    try (RunningServer s = Server.on(7000).allow("127.0.0.1").handle(NOOP).transport(t).eventLoops(3).start()) {
      verify(t).open(any(), org.mockito.ArgumentMatchers.eq(3), any(), any());
    }
    Transport d = transport();
    try (RunningServer s = Server.on(7000).allow("127.0.0.1").handle(NOOP).transport(d).start()) {
      verify(d).open(any(), org.mockito.ArgumentMatchers.eq(Runtime.getRuntime().availableProcessors()), any(), any());
    }
    assertThrows(IllegalArgumentException.class, () -> Server.on(7000).eventLoops(0));
  }

  @Test
  void theTransportsBindFailureReachesTheCallerAsItIs() throws Exception {
    // What the BindException says (the address, the errno) is the transport's: TransportContract.
    Transport t = transport();
    java.net.BindException inUse = new java.net.BindException("bind(127.0.0.1:7000) failed: EADDRINUSE");
    when(t.open(any(), anyInt(), any(), any())).thenThrow(inUse);
    Server.TcpBuilder server = Server.on(7000).bindAddress("127.0.0.1").allowAll().handle(NOOP).transport(t);
    assertEquals(inUse, assertThrows(java.net.BindException.class, server::start));
  }

  @Test
  void defaultBindAddressIsLeftToTheTransportAndBacklogIsTheDefault() throws Exception {
    Transport t = transport();
    try (RunningServer s = Server.on(0).allowAll().handle(NOOP).transport(t).start()) {
      ArgumentCaptor<Endpoint> options = ArgumentCaptor.forClass(Endpoint.class);
      verify(t).open(options.capture(), anyInt(), any(), any());
      Endpoint.Tcp tcp = (Endpoint.Tcp) options.getValue();
      assertEquals(Optional.empty(), tcp.bindAddress());
      assertEquals(Server.DEFAULT_BACKLOG, tcp.backlog());
    }
  }

  @Test
  void allowAllOpensBothFamiliesButMoreSpecificDeniesStillApply() throws Exception {
    try (RunningServer s = Server.on(0).allowAll().deny("203.0.113.0/24").handle(NOOP).transport(transport()).start()) {
      AccessPolicy p = s.policy();
      assertTrue(p.decide("198.51.100.1").isAllowed());
      assertTrue(p.decide("2001:db8::1").isAllowed());
      assertFalse(p.decide("203.0.113.9").isAllowed());
    }
  }

  @Test
  void startingTwiceTakesTheSameRules() throws Exception {
    Server.TcpBuilder builder = Server.on(0).allowAll().handle(NOOP).transport(transport());
    // One after the other: two mock servers open at once would report the same address, and the
    // second could not register its MBean under it (a WARN on the console for nothing).
    AccessPolicy first;
    try (RunningServer a = builder.start()) {
      first = a.policy();
    }
    try (RunningServer b = builder.start()) {
      assertEquals(first, b.policy());
      assertEquals(2, b.policy().rules().size());
    }
  }

  @Test
  void inheritedSocketsNeedTheActivationVariables() throws Exception {
    // An address or a backlog for an inherited socket no longer compiles: InheritedBuilder has neither.
    org.junit.jupiter.api.Assumptions.assumeTrue(System.getenv("LISTEN_PID") == null, "run under socket activation");
    IllegalStateException e = assertThrows(IllegalStateException.class,
        () -> Server.fromSystemd().transport(transport()).allowAll().handle(c -> { }).start());
    assertTrue(e.getMessage().contains("LISTEN_PID is not set"), e.getMessage());
    assertThrows(IllegalArgumentException.class, () -> Server.fromSystemd("a:b"));
  }

  @Test
  void credentialRulesAloneCannotGuardATcpPort() throws Exception {
    IllegalStateException e = assertThrows(IllegalStateException.class,
        () -> Server.on(7000).transport(transport()).policy(AccessPolicy.parse("allow uid 1000")).handle(c -> { })
            .start());
    assertTrue(e.getMessage().contains("never match a TCP peer"), e.getMessage());
  }

  @Test
  void aDecimalModeNamesTheOctalItProbablyMeant() {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> Server.onUnix(java.nio.file.Path.of("/tmp/x.sock")).mode(600));
    assertTrue(e.getMessage().contains("did you mean 0600?"), e.getMessage());
    assertTrue(e.getMessage().contains("mode(0600)"), e.getMessage());
    assertFalse(assertThrows(IllegalArgumentException.class,
        () -> Server.onUnix(java.nio.file.Path.of("/tmp/x.sock")).mode(0x1000)).getMessage().contains("did you mean"));
  }

  @Test
  void aNullRuleNamesTheMethodAndTheArgument() {
    NullPointerException e = assertThrows(NullPointerException.class, () -> Server.on(0).allow(null));
    assertTrue(e.getMessage().startsWith("allow(cidr): cidr is null"), e.getMessage());
    assertTrue(assertThrows(NullPointerException.class, () -> Server.on(0).deny(null)).getMessage()
        .startsWith("deny(cidr)"));
  }
}
