package dev.portcullis.micrometer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.portcullis.RunningServer;
import dev.portcullis.Server;
import dev.portcullis.handshake.Handshakes;
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
}
