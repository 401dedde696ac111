package dev.portcullis;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.mockito.ArgumentMatchers.any;
import static org.mockito.ArgumentMatchers.anyInt;
import static org.mockito.Mockito.mock;
import static org.mockito.Mockito.never;
import static org.mockito.Mockito.times;
import static org.mockito.Mockito.verify;
import static org.mockito.Mockito.when;

import dev.portcullis.policy.AccessPolicy;
import dev.portcullis.spi.Endpoint;
import dev.portcullis.spi.Listener;
import dev.portcullis.spi.Transport;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalInt;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.mockito.ArgumentCaptor;

/** What build() gives: an immutable, inspectable description that starts and goes back to a builder. */
class ServerSpecTest {
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
  void buildChecksTheSettingsWithTheMessagesStartGaveAndOpensNothing() throws Exception {
    Transport t = transport();
    IllegalStateException e = assertThrows(IllegalStateException.class,
        () -> Server.on(7000).allow("10.0.0.0/8").transport(t).build());
    assertTrue(e.getMessage().startsWith("Server on port 7000 has no handler: call .handle("), e.getMessage());
    e = assertThrows(IllegalStateException.class, () -> Server.on(7000).handle(NOOP).transport(t).build());
    assertTrue(e.getMessage().contains(".allowAll()"), e.getMessage());

    ServerSpec<Server.TcpBuilder> spec = Server.on(7000).allow("10.0.0.0/8").handle(NOOP).transport(t).build();
    assertEquals(AccessPolicy.parse("allow 10.0.0.0/8"), spec.policy());
    verify(t, never()).open(any(), anyInt(), any(), any());
    verify(t, never()).isAvailable();
  }

  @Test
  void aSpecShowsTheDeclaredSocketAndHowLocalPeersAreCounted() {
    ServerSpec<Server.InheritedBuilder> systemd = Server.fromSystemd("web").allowAll().handle(NOOP).build();
    assertEquals(Optional.of(new ServerSpec.Declared(false, Optional.of("web"))), systemd.declared());
    assertEquals(Optional.empty(), systemd.endpoint());
    assertEquals("inetd", Server.fromInetd().allowAll().handle(NOOP).build().declared().orElseThrow().describe());
    ServerSpec<Server.TcpBuilder> tcp = Server.on(7000).allowAll().handle(NOOP).build();
    assertEquals(Optional.empty(), tcp.declared());
    assertFalse(tcp.localSourceByGroup());
    assertTrue(Server.onAbstract("spec-test").allowUid(0).perSourceByGroup().handle(NOOP).build().localSourceByGroup());
  }

  @Test
  void aSpecTellsWhatItWillRunAndReadsAsOneLine() throws Exception {
    Transport t = transport();
    ServerSpec<Server.TcpBuilder> spec = Server.on(7000).bindAddress("::1").backlog(512).allow("::1")
        .deny("10.66.0.0/16").handshake(Handshakes.sharedSecret(Map.of("app", new byte[16])))
        .maxConnections(100).eventLoops(3).handle(NOOP).transport(t).build();

    assertEquals(new Endpoint.Tcp(Optional.of(InetAddress.getByName("::1")), 7000, 512),
        spec.endpoint().orElseThrow());
    assertEquals(2, spec.policy().rules().size());
    assertEquals(1, spec.handshakes().size());
    assertEquals(Server.DEFAULT_HANDSHAKE_TIMEOUT, spec.handshakeTimeout());
    assertEquals(100, spec.limits().maxConnections());
    assertEquals(OptionalInt.of(3), spec.eventLoops());
    assertEquals(Optional.of(NOOP), spec.handler());
    assertEquals(Optional.of(t), spec.transport());
    assertEquals("Server port 7000 on ::1, backlog 512: 2 address rules; handshakes ["
        + spec.handshakes().get(0).name() + "] within 10s; limits connections 100; blocking handler on the server's"
        + " threads; event loops 3; transport mock", spec.toString());
    assertEquals(OptionalInt.empty(), Server.on(0).allowAll().handle(NOOP).build().eventLoops());
  }

  @Test
  void changesToTheBuilderAfterBuildDoNotReachTheSpec() throws Exception {
    Server.TcpBuilder builder = Server.on(7000).allow("10.0.0.0/8").handle(NOOP).transport(transport());
    ServerSpec<Server.TcpBuilder> spec = builder.build();
    builder.backlog(64).deny("10.66.0.0/16").maxConnections(5).kernelFilter();
    assertEquals(Server.DEFAULT_BACKLOG, ((Endpoint.Tcp) spec.endpoint().orElseThrow()).backlog());
    assertFalse(spec.kernelFilter());
    assertEquals(AccessPolicy.parse("allow 10.0.0.0/8"), spec.policy());
    assertEquals(0, spec.limits().maxConnections());
  }

  @Test
  void newBuilderCarriesEverySettingAndLeavesTheSpecAlone() throws Exception {
    Transport t = transport();
    ServerSpec<Server.TcpBuilder> spec = Server.on(7000).backlog(512).allow("10.0.0.0/8").maxConnections(9)
        .handle(NOOP).transport(t).build();
    ServerSpec<Server.TcpBuilder> variant = spec.newBuilder().bindAddress("127.0.0.1").deny("10.66.0.0/16").build();

    assertEquals(new Endpoint.Tcp(Optional.of(InetAddress.getByName("127.0.0.1")), 7000, 512),
        variant.endpoint().orElseThrow());
    assertEquals(AccessPolicy.parse("allow 10.0.0.0/8\ndeny 10.66.0.0/16"), variant.policy());
    assertEquals(9, variant.limits().maxConnections());
    assertEquals(Optional.of(t), variant.transport());
    assertEquals(new Endpoint.Tcp(7000).withBacklog(512), spec.endpoint().orElseThrow(), "the spec it came from is unchanged");
    assertEquals(AccessPolicy.parse("allow 10.0.0.0/8"), spec.policy());
  }

  @Test
  void newBuilderGivesBackThePolicyWithoutMakingItsLimitsTheBuilders() throws Exception {
    ServerSpec<Server.TcpBuilder> spec = Server.on(7000)
        .policy(AccessPolicy.parse("allow 10.0.0.0/8\nlimit connections 5")).handle(NOOP).transport(transport()).build();
    assertEquals(5, spec.limits().maxConnections());
    ServerSpec<Server.TcpBuilder> replaced = spec.newBuilder().policy(AccessPolicy.parse("allow 10.0.0.0/8")).build();
    assertEquals(0, replaced.limits().maxConnections(), "the old policy's limit went with it");
  }

  @Test
  void aUnixSpecComesBackAsAUnixBuilder(@TempDir Path dir) throws Exception {
    ServerSpec<Server.UnixBuilder> spec = Server.onUnix(dir.resolve("a.sock")).mode(0660).allowUid(0)
        .perSourceByGroup().handle(NOOP).transport(transport()).build();
    Endpoint.UnixPath again = (Endpoint.UnixPath) spec.newBuilder().mode(0600).build().endpoint().orElseThrow();
    assertEquals(0600, again.mode());
    assertEquals(0660, ((Endpoint.UnixPath) spec.endpoint().orElseThrow()).mode());
    assertTrue(spec.toString().startsWith("Server " + dir.resolve("a.sock") + ", mode 0660, backlog 1024: 0 address"
        + " rules, 1 credential rule;"), spec.toString());
  }

  @Test
  void aSpecStartsAServerEachTimeOnTheEndpointItDescribes() throws Exception {
    Transport t = transport();
    ServerSpec<Server.TcpBuilder> spec = Server.on(7000).backlog(256).allowAll().handle(NOOP).transport(t).build();
    AccessPolicy first;
    try (RunningServer a = spec.start()) {
      first = a.policy();
    }
    try (RunningServer b = spec.start()) {
      assertEquals(first, b.policy());
    }
    ArgumentCaptor<Endpoint> endpoints = ArgumentCaptor.forClass(Endpoint.class);
    verify(t, times(2)).open(endpoints.capture(), org.mockito.ArgumentMatchers.eq(
        Runtime.getRuntime().availableProcessors()), any(), any());
    assertEquals(List.of(spec.endpoint().orElseThrow(), spec.endpoint().orElseThrow()), endpoints.getAllValues());
  }
}
