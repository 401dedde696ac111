package dev.portcullis.micrometer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.portcullis.Handshakes;
import dev.portcullis.RunningServer;
import dev.portcullis.Server;
import dev.portcullis.policy.AccessPolicy;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Tags;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The binder against a real server on loopback: allowed, denied and failed-handshake clients move
 * exactly the meters they should, in a {@link SimpleMeterRegistry} and in the Prometheus
 * registry's scrape text.
 */
@Timeout(60)
class PortcullisMetricsTest {

  private static Socket connect(String from, RunningServer server) throws IOException {
    Socket s = new Socket();
    s.bind(new InetSocketAddress(from, 0));
    s.connect(server.localAddress(), 5000);
    s.setSoTimeout(5000);
    return s;
  }

  /** Sends a line and reads what comes back until the server closes. */
  private static String exchange(String from, RunningServer server, String line) throws IOException {
    try (Socket s = connect(from, server)) {
      s.getOutputStream().write(line.getBytes(StandardCharsets.US_ASCII));
      InputStream in = s.getInputStream();
      try {
        return new String(in.readAllBytes(), StandardCharsets.US_ASCII);
      } catch (java.net.SocketException reset) {
        return "";
      }
    }
  }

  private static void await(BooleanSupplier condition) throws InterruptedException {
    long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
    while (!condition.getAsBoolean()) {
      if (System.nanoTime() > deadline) {
        throw new AssertionError("condition not reached in 10 s");
      }
      Thread.sleep(10);
    }
  }

  @Test
  void theMetersFollowRealConnections() throws Exception {
    try (RunningServer server = Server.on(0).bindAddress("127.0.0.1").allow("127.0.0.0/8").deny("127.0.0.9")
        .eventLoops(2).handshake(Handshakes.expectLine("HELLO"))
        .handle(conn -> conn.output().write("OK\n".getBytes(StandardCharsets.US_ASCII))).start()) {
      SimpleMeterRegistry simple = new SimpleMeterRegistry();
      PrometheusMeterRegistry prometheus = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
      new PortcullisMetrics(server, Tags.of("service", "test")).bindTo(simple);
      new PortcullisMetrics(server, Tags.of("service", "test")).bindTo(prometheus);

      for (int i = 0; i < 3; i++) {
        assertEquals("OK\n", exchange("127.0.0.1", server, "HELLO\n"));
      }
      assertEquals("", exchange("127.0.0.9", server, "HELLO\n"), "denied");
      assertEquals("", exchange("127.0.0.2", server, "NOPE\n"), "a failed handshake");
      await(() -> server.stats().openConnections() == 0 && server.stats().outcomes() == 5);

      assertEquals(3, simple.get("portcullis.connections.handled").functionCounter().count());
      assertEquals(1, simple.get("portcullis.connections.rejected").tag("reason", "address").functionCounter().count());
      assertEquals(1, simple.get("portcullis.connections.rejected").tag("reason", "handshake_failure")
          .functionCounter().count());
      assertEquals(0, simple.get("portcullis.connections.rejected").tag("reason", "limit").functionCounter().count());
      assertEquals(0, simple.get("portcullis.connections.active").gauge().value());
      double accepted = simple.get("portcullis.connections.accepted").functionCounters().stream()
          .mapToDouble(c -> c.count()).sum();
      assertEquals(5, accepted, "both loops' counters add up to every accepted connection");
      assertEquals(2, simple.get("portcullis.connections.accepted").functionCounters().size(), "one per loop");
      await(() -> simple.get("portcullis.connection.duration").timer().count() == 4);
      assertEquals(4, simple.get("portcullis.connection.duration").timer().count(),
          "every connection let in at accept (the denied one was not)");
      assertEquals(1, simple.get("portcullis.rule.hits").tag("rule", "deny 127.0.0.9/32").functionCounter().count());
      assertEquals(4, simple.get("portcullis.rule.hits").tag("rule", "allow 127.0.0.0/8").functionCounter().count());
      assertEquals(0, simple.get("portcullis.handshakes.active").tag("step", "expect-line").gauge().value());
      assertEquals(0, simple.get("portcullis.rule.hits").tag("rule", "default (address)").functionCounter().count(),
          "a default that has not decided yet is published too, at 0");
      assertEquals(1, simple.get("portcullis.kernel.filter").tag("mode", "off").gauge().value(), "no kernelFilter()");
      assertEquals(0, simple.get("portcullis.kernel.filter").tag("mode", "ebpf").gauge().value());
      String mode = server.handlerMode().name().toLowerCase(java.util.Locale.ROOT);
      assertEquals(1, simple.get("portcullis.handler.mode").tag("mode", mode).gauge().value(), "the mode that runs");
      assertEquals(dev.portcullis.HandlerMode.values().length - 1, simple.get("portcullis.handler.mode").gauges().stream()
          .filter(g -> g.value() == 0).count(), "the others are 0");

      // A client in its handshake shows in the per-step gauge while it is there.
      try (Socket waiting = connect("127.0.0.1", server)) {
        await(() -> simple.get("portcullis.handshakes.active").tag("step", "expect-line").gauge().value() == 1);
        assertEquals(1, simple.get("portcullis.connections.active").gauge().value());
      }

      String scrape = prometheus.scrape();
      int port = ((InetSocketAddress) server.localAddress()).getPort();
      String common = "server_address=\"127.0.0.1\",server_port=\"" + port + "\",service=\"test\"";
      assertTrue(scrape.contains("portcullis_connections_handled_total{" + common + "} 3.0"), scrape);
      assertTrue(scrape.contains("portcullis_connections_rejected_total{reason=\"address\"," + common + "} 1.0"),
          scrape);
      assertTrue(scrape.contains("# TYPE portcullis_connection_duration_seconds histogram"), scrape);
      assertTrue(scrape.contains("portcullis_connections_active{" + common + "}"), scrape);
      assertTrue(scrape.contains("portcullis_rule_hits_total{rule=\"deny 127.0.0.9/32\"," + common + "} 1.0"), scrape);
    }
  }

  @Test
  void theKernelFilterModeInForceReadsOne() throws Exception {
    try (RunningServer server = Server.on(0).bindAddress("127.0.0.1").allow("127.0.0.1").kernelFilter()
        .handle(conn -> conn.output().write("OK\n".getBytes(StandardCharsets.US_ASCII))).start()) {
      SimpleMeterRegistry simple = new SimpleMeterRegistry();
      new PortcullisMetrics(server).bindTo(simple);
      String live = server.stats().kernelFilter().name().toLowerCase(java.util.Locale.ROOT);
      assertTrue(live.equals("ebpf") || live.equals("classic"), live);
      double sum = simple.get("portcullis.kernel.filter").gauges().stream().mapToDouble(g -> g.value()).sum();
      assertEquals(1, sum, "one mode at a time");
      assertEquals(1, simple.get("portcullis.kernel.filter").tag("mode", live).gauge().value());
    }
  }

  @Test
  void rateLimitRefusalsHaveAReasonOfTheirOwn() throws Exception {
    try (RunningServer server = Server.on(0).bindAddress("127.0.0.1").allow("127.0.0.0/8").maxConnections(100)
        .rateLimitPerSource(0.001, 1).handle(conn -> conn.output().write("OK\n".getBytes(StandardCharsets.US_ASCII)))
        .start()) {
      SimpleMeterRegistry simple = new SimpleMeterRegistry();
      new PortcullisMetrics(server).bindTo(simple);
      assertEquals("OK\n", exchange("127.0.0.3", server, ""));
      assertEquals("", exchange("127.0.0.3", server, ""), "the second within the burst of 1 is refused");
      await(() -> server.stats().outcomes() == 2);
      assertEquals(1, simple.get("portcullis.connections.rejected").tag("reason", "rate").functionCounter().count());
      assertEquals(0, simple.get("portcullis.connections.rejected").tag("reason", "limit").functionCounter().count(),
          "the rate limit's refusals are not counted twice");
      assertEquals(1, server.stats().limited(), "still one of the limited");
      assertEquals(1, server.stats().rateLimited());
    }
  }

  /** The count of the rule series tagged {@code rule} in {@code registry}, or null if there is none. */
  private static Double ruleHits(MeterRegistry registry, String rule) {
    FunctionCounter c = registry.find("portcullis.rule.hits").tag("rule", rule).functionCounter();
    return c == null ? null : c.count();
  }

  private static java.util.Set<String> ruleSeries(MeterRegistry registry) {
    return registry.find("portcullis.rule.hits").functionCounters().stream().map(c -> c.getId().getTag("rule"))
        .collect(java.util.stream.Collectors.toSet());
  }

  @Test
  void theRuleSeriesFollowAPolicyReplacement() throws Exception {
    try (RunningServer server = Server.on(0).bindAddress("127.0.0.1").allow("127.0.0.0/8").deny("127.0.0.9")
        .handle(conn -> conn.output().write("OK\n".getBytes(StandardCharsets.US_ASCII))).start()) {
      SimpleMeterRegistry simple = new SimpleMeterRegistry();
      PrometheusMeterRegistry prometheus = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
      new PortcullisMetrics(server).bindTo(simple);
      new PortcullisMetrics(server).bindTo(prometheus);
      assertEquals("OK\n", exchange("127.0.0.1", server, ""));
      assertEquals("OK\n", exchange("127.0.0.1", server, ""));
      assertEquals("", exchange("127.0.0.9", server, ""));
      await(() -> server.stats().outcomes() == 3);
      assertEquals(2.0, ruleHits(simple, "allow 127.0.0.0/8"));
      assertEquals(1.0, ruleHits(simple, "deny 127.0.0.9/32"));

      server.updatePolicy(AccessPolicy.parse("allow 127.0.0.0/8\nallow 127.0.0.1\ndeny 127.0.0.2\n"));
      assertEquals(java.util.Set.of("allow 127.0.0.0/8", "allow 127.0.0.1/32", "deny 127.0.0.2/32",
          "default (address)", "default (local peer)", "unreadable local peer credentials"), ruleSeries(simple),
          "the gone rule's series is removed, the new rules have theirs");
      assertEquals(0.0, ruleHits(simple, "allow 127.0.0.0/8"), "counts start again with the new policy");
      assertEquals("OK\n", exchange("127.0.0.1", server, ""));
      assertEquals("", exchange("127.0.0.2", server, ""));
      assertEquals("OK\n", exchange("127.0.0.3", server, ""));
      await(() -> server.stats().outcomes() == 6);
      assertEquals(1.0, ruleHits(simple, "allow 127.0.0.1/32"));
      assertEquals(1.0, ruleHits(simple, "deny 127.0.0.2/32"));
      assertEquals(1.0, ruleHits(simple, "allow 127.0.0.0/8"));

      String scrape = prometheus.scrape();
      String common = "server_address=\"127.0.0.1\",server_port=\"" + server.port() + "\"";
      assertTrue(scrape.contains("portcullis_rule_hits_total{rule=\"deny 127.0.0.2/32\"," + common + "} 1.0"), scrape);
      assertTrue(scrape.contains("portcullis_rule_hits_total{rule=\"allow 127.0.0.1/32\"," + common + "} 1.0"), scrape);
      assertFalse(scrape.contains("127.0.0.9"), scrape);

      // Promoting a shadow is a replacement too.
      server.shadow(AccessPolicy.parse("allow 127.0.0.1\n"));
      server.promote();
      assertEquals(java.util.Set.of("allow 127.0.0.1/32", "default (address)", "default (local peer)",
          "unreadable local peer credentials"), ruleSeries(simple));
    }
  }

  @Test
  void aPolicyAboveMaxRuleSeriesIsPublishedAsOneSeries() throws Exception {
    AccessPolicy large = ScrapeCostTest.rules(PortcullisMetrics.DEFAULT_MAX_RULE_SERIES + 1);
    try (RunningServer server = Server.on(0).bindAddress("127.0.0.1").policy(large)
        .handle(conn -> conn.output().write("OK\n".getBytes(StandardCharsets.US_ASCII))).start()) {
      SimpleMeterRegistry simple = new SimpleMeterRegistry();
      SimpleMeterRegistry raised = new SimpleMeterRegistry();
      new PortcullisMetrics(server).bindTo(simple);
      new PortcullisMetrics(server).maxRuleSeries(PortcullisMetrics.DEFAULT_MAX_RULE_SERIES + 1).bindTo(raised);
      assertEquals("OK\n", exchange("127.0.0.1", server, ""));
      assertEquals("OK\n", exchange("127.0.0.1", server, ""));
      assertEquals("", exchange("127.0.0.2", server, ""));
      await(() -> server.stats().outcomes() == 3);

      assertEquals(java.util.Set.of("all rules", "default (address)", "default (local peer)",
          "unreadable local peer credentials"), ruleSeries(simple));
      assertEquals(2.0, ruleHits(simple, "all rules"));
      assertEquals(1.0, ruleHits(simple, "default (address)"));
      assertEquals(PortcullisMetrics.DEFAULT_MAX_RULE_SERIES + 4, ruleSeries(raised).size(), "raised: one per rule");
      assertEquals(2.0, ruleHits(raised, "allow 127.0.0.1/32"));

      server.updatePolicy(AccessPolicy.parse("allow 127.0.0.1\n"));
      assertEquals(java.util.Set.of("allow 127.0.0.1/32", "default (address)", "default (local peer)",
          "unreadable local peer credentials"), ruleSeries(simple), "a small policy again: a series per rule");
      assertEquals("OK\n", exchange("127.0.0.1", server, ""));
      await(() -> server.stats().outcomes() == 4);
      assertEquals(1.0, ruleHits(simple, "allow 127.0.0.1/32"));

      server.updatePolicy(large);
      assertEquals(4, ruleSeries(simple).size(), "large again: the rules as one");
      assertEquals(0.0, ruleHits(simple, "all rules"));
    }
  }

  @Test
  void duplicateRulesShareOneSeries() throws Exception {
    try (RunningServer server = Server.on(0).bindAddress("127.0.0.1")
        .policy(AccessPolicy.parse("allow 127.0.0.1\nallow 127.0.0.1\n"))
        .handle(conn -> conn.output().write("OK\n".getBytes(StandardCharsets.US_ASCII))).start()) {
      SimpleMeterRegistry simple = new SimpleMeterRegistry();
      new PortcullisMetrics(server).bindTo(simple);
      assertEquals("OK\n", exchange("127.0.0.1", server, ""));
      await(() -> server.stats().outcomes() == 1);
      assertEquals(1.0, ruleHits(simple, "allow 127.0.0.1/32"));
      assertEquals(server.ruleHits().get("allow 127.0.0.1/32"), ruleHits(simple, "allow 127.0.0.1/32").longValue());
    }
  }

  @Test
  void maxRuleSeriesRefusesANegativeNumber() throws Exception {
    try (RunningServer server = Server.on(0).bindAddress("127.0.0.1").allow("127.0.0.1").handle(conn -> { }).start()) {
      IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
          () -> new PortcullisMetrics(server).maxRuleSeries(-1));
      assertEquals("maxRuleSeries must be 0 or more: -1", e.getMessage());
    }
  }
}
