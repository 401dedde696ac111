package dev.portcullis.netty;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.portcullis.ServerStats;
import dev.portcullis.micrometer.PortcullisMetrics;
import dev.portcullis.policy.AccessPolicy;
import dev.portcullis.policy.Limits;
import dev.portcullis.spi.LogCapture;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.lang.management.ManagementFactory;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import javax.management.ObjectName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/** The guard in front of real Netty servers, NIO and epoll, with real clients on loopback. */
@Timeout(30)
class NettyGuardTest {
  @RegisterExtension
  final LogCapture log = new LogCapture();

  @ParameterizedTest
  @EnumSource(TestServer.Kind.class)
  void allowedClientIsServedDeniedOneClosedBeforeTheApplicationSeesIt(TestServer.Kind kind) throws Exception {
    try (PortcullisNetty guard = PortcullisNetty.guard(AccessPolicy.parse("allow 127.0.0.1/32"));
        TestServer server = TestServer.http(kind, guard)) {
      HttpResponse<String> ok = HttpClient.newHttpClient().send(
          HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.port() + "/")).timeout(Duration.ofSeconds(10))
              .build(), HttpResponse.BodyHandlers.ofString());
      assertEquals(200, ok.statusCode());
      assertEquals("hello 127.0.0.1\n", ok.body());

      assertEquals("", Peers.get("127.0.0.2", server.port()), "the denied client got an answer");
      assertTrue(Peers.await(() -> guard.stats().accepted() == 2 && guard.stats().openConnections() == 0,
          Duration.ofSeconds(10)), () -> guard.stats().toString());
      assertEquals(List.of(), server.eventsFrom("127.0.0.2"), "the application heard of the denied client");
      assertTrue(server.eventsFrom("127.0.0.1").contains("active 127.0.0.1 client 127.0.0.1"));
      ServerStats s = guard.stats();
      assertEquals(1, s.denied());
      assertEquals(1, s.handled());
      assertEquals(s.accepted(), s.outcomes());
      assertEquals(1L, guard.ruleHits().get("allow 127.0.0.1/32"));
      assertEquals(1L, guard.ruleHits().get("default (address)"));
      assertEquals(1, log.lines("Denied 127.0.0.2").size(), log.text());
    }
  }

  @ParameterizedTest
  @EnumSource(TestServer.Kind.class)
  void serverHandlerRefusesBeforeTheChildIsSetUp(TestServer.Kind kind) throws Exception {
    try (PortcullisNetty guard = PortcullisNetty.guard(AccessPolicy.parse("allow 127.0.0.1/32"));
        TestServer server = TestServer.http(kind, TestServer.Usage.SERVER, guard)) {
      assertEquals("", Peers.get("127.0.0.2", server.port()), "the denied client got an answer");
      assertEquals("", Peers.get("127.0.0.2", server.port()), "the denied client got an answer");
      assertTrue(Peers.get("127.0.0.1", server.port()).endsWith("hello 127.0.0.1\n"), "CLIENT was not set");
      assertTrue(Peers.await(() -> guard.stats().accepted() == 3 && guard.stats().openConnections() == 0,
          Duration.ofSeconds(10)), () -> guard.stats().toString());
      assertEquals(List.of("127.0.0.1"), List.copyOf(server.initialized),
          "the application's child handler ran for a denied channel");
      assertEquals(List.of(), server.eventsFrom("127.0.0.2"));
      ServerStats s = guard.stats();
      assertEquals(2, s.denied());
      assertEquals(1, s.handled());
      assertEquals(s.accepted(), s.outcomes());
      assertEquals(2L, guard.ruleHits().get("default (address)"));
      assertTrue(!log.lines("Denied 127.0.0.2").isEmpty(), log.text());
    }
  }

  @Test
  void serverAndChildHandlerTogetherDecideOnce() throws Exception {
    // one connection per source: a second decision on the same channel would refuse it
    try (PortcullisNetty guard = PortcullisNetty.builder(AccessPolicy.parse("allow 127.0.0.0/8"))
        .limits(Limits.NONE.withMaxPerSource(1)).build();
        TestServer server = TestServer.greeter(TestServer.Kind.NIO, TestServer.Usage.BOTH, guard)) {
      try (Socket s = Peers.connect("127.0.0.3", server.port())) {
        assertEquals("ok 127.0.0.3", Peers.readLine(s));
        try (Socket second = Peers.connect("127.0.0.3", server.port())) {
          assertEquals("", Peers.readAll(second), "the second connection of the source was served");
        }
      }
      assertTrue(Peers.await(() -> guard.stats().openConnections() == 0 && guard.stats().accepted() == 2,
          Duration.ofSeconds(10)), () -> guard.stats().toString());
      assertEquals(1, guard.stats().handled());
      assertEquals(1, guard.stats().limited());
      assertEquals(List.of("127.0.0.3"), List.copyOf(server.initialized));
    }
  }

  @Test
  void serverHandlerInAChildPipelineClosesTheChannel() throws Exception {
    try (PortcullisNetty guard = PortcullisNetty.guard(AccessPolicy.parse("allow 127.0.0.0/8"));
        TestServer server = TestServer.greeter(TestServer.Kind.NIO, TestServer.Usage.MISPLACED, guard)) {
      try (Socket s = Peers.connect("127.0.0.2", server.port())) {
        assertEquals("", Peers.readAll(s), "a peer went through a misplaced server handler");
      }
      assertEquals(0, guard.stats().accepted());
    }
  }

  @ParameterizedTest
  @EnumSource(TestServer.Kind.class)
  void perSourceLimitRefusesTheNextConnectionOfOneSource(TestServer.Kind kind) throws Exception {
    try (PortcullisNetty guard = PortcullisNetty.builder(AccessPolicy.parse("allow 127.0.0.0/8"))
        .limits(Limits.NONE.withMaxPerSource(2)).build();
        TestServer server = TestServer.greeter(kind, guard)) {
      List<Socket> held = new ArrayList<>();
      try {
        for (int i = 0; i < 2; i++) {
          Socket s = Peers.connect("127.0.0.3", server.port());
          held.add(s);
          assertEquals('o', s.getInputStream().read(), "the held connection was not served");
        }
        try (Socket third = Peers.connect("127.0.0.3", server.port())) {
          assertEquals("", Peers.readAll(third), "the third connection of one source was served");
        }
        // another source is not counted with it
        try (Socket other = Peers.connect("127.0.0.4", server.port())) {
          assertEquals("ok 127.0.0.4", Peers.readLine(other));
        }
      } finally {
        for (Socket s : held) {
          s.close();
        }
      }
      assertTrue(Peers.await(() -> guard.stats().openConnections() == 0, Duration.ofSeconds(10)));
      assertEquals(1, guard.stats().limited());
      assertEquals(3, guard.stats().handled());
      assertEquals(2, server.eventsFrom("127.0.0.3").stream().filter(e -> e.startsWith("active")).count());
      assertEquals(1, log.lines("by the per-source limit").size(), log.text());
    }
  }

  @ParameterizedTest
  @EnumSource(TestServer.Kind.class)
  void updatePolicyDecidesTheNextConnectionLive(TestServer.Kind kind) throws Exception {
    try (PortcullisNetty guard = PortcullisNetty.guard(AccessPolicy.parse("allow 127.0.0.1/32"));
        TestServer server = TestServer.http(kind, guard)) {
      assertEquals("", Peers.get("127.0.0.2", server.port()));
      guard.updatePolicy(AccessPolicy.parse("allow 127.0.0.2/32"));
      assertTrue(Peers.get("127.0.0.2", server.port()).startsWith("HTTP/1.1 200 OK"));
      assertEquals("", Peers.get("127.0.0.1", server.port()), "the old policy still decided");
      assertTrue(Peers.await(() -> guard.stats().openConnections() == 0, Duration.ofSeconds(10)));
      assertEquals(2, guard.stats().denied());
      assertEquals(1, guard.stats().handled());
      assertEquals(1L, guard.ruleHits().get("allow 127.0.0.2/32"), "the new policy's hits start at zero");
    }
  }

  @Test
  void metricsAndJmxReadTheGuardsCounters() throws Exception {
    try (PortcullisNetty guard = PortcullisNetty.guard(AccessPolicy.parse("allow 127.0.0.1/32"));
        TestServer server = TestServer.http(TestServer.Kind.NIO, guard)) {
      SimpleMeterRegistry registry = new SimpleMeterRegistry();
      new PortcullisMetrics(guard.asRunningServer(server.channel.localAddress())).bindTo(registry);
      guard.registerMBean(server.channel.localAddress());
      assertEquals("", Peers.get("127.0.0.2", server.port()));
      assertTrue(Peers.get("127.0.0.1", server.port()).startsWith("HTTP/1.1 200 OK"));
      assertTrue(Peers.await(() -> guard.stats().openConnections() == 0, Duration.ofSeconds(10)));

      assertEquals(1.0, registry.get("portcullis.connections.rejected").tag("reason", "address").functionCounter()
          .count());
      assertEquals(1.0, registry.get("portcullis.connections.handled").functionCounter().count());
      assertEquals(1.0, registry.get("portcullis.rule.hits").tag("rule", "allow 127.0.0.1/32").functionCounter()
          .count());
      assertEquals(1, registry.get("portcullis.connection.duration").timer().count());

      ObjectName name = new ObjectName("dev.portcullis:type=Server,address=" + ObjectName.quote("127.0.0.1:"
          + server.port()));
      assertEquals(1L, ManagementFactory.getPlatformMBeanServer().getAttribute(name, "Denied"));
      assertEquals(1L, ManagementFactory.getPlatformMBeanServer().getAttribute(name, "Handled"));
      guard.close();
      assertTrue(!ManagementFactory.getPlatformMBeanServer().isRegistered(name), "close() left the MBean");
    }
  }
}
