package dev.portcullis.crowdsec;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.sun.net.httpserver.HttpServer;
import dev.portcullis.policy.Cidr;
import io.micrometer.core.instrument.Tags;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The Micrometer meters over a bouncer and a watcher talking to a tiny fake LAPI on loopback: the
 * failure counter and the failing gauge move when it answers garbage, decisions in force and the
 * ignored ones by reason after a good answer; a watcher whose LAPI refuses its login counts failed
 * pushes, queued and dropped alerts.
 */
@Timeout(60)
class CrowdSecMetricsTest {
  private HttpServer http;
  private final AtomicReference<String> answer = new AtomicReference<>("{\"new\":null,\"deleted\":null}");
  private final SimpleMeterRegistry registry = new SimpleMeterRegistry();

  private final BanTarget target = new BanTarget() {
    @Override
    public void ban(Cidr range, Duration duration, String reason) {}

    @Override
    public boolean lift(Cidr range, String reason) {
      return true;
    }
  };

  @BeforeEach
  void start() throws IOException {
    http = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 16);
    http.createContext("/v1/decisions/stream", ex -> {
      byte[] body = answer.get().getBytes(StandardCharsets.UTF_8);
      ex.getResponseHeaders().add("Content-Type", "application/json");
      ex.sendResponseHeaders(200, body.length);
      try (OutputStream out = ex.getResponseBody()) {
        out.write(body);
      }
    });
    http.createContext("/v1/watchers/login", ex -> { // refuses every machine
      ex.sendResponseHeaders(500, -1);
      ex.close();
    });
    http.start();
  }

  @AfterEach
  void stop() {
    http.stop(0);
    registry.close();
  }

  private URI url() {
    return URI.create("http://127.0.0.1:" + http.getAddress().getPort());
  }

  private static String decision(long id, String type, String scope, String value) {
    return "{\"duration\":\"3h59m58s\",\"id\":" + id + ",\"origin\":\"cscli\",\"scenario\":\"s" + id
        + "\",\"scope\":\"" + scope + "\",\"type\":\"" + type + "\",\"value\":\"" + value + "\"}";
  }

  private double counter(String name) {
    return registry.get(name).tags("service", "t").functionCounter().count();
  }

  private double gauge(String name) {
    return registry.get(name).tags("service", "t").gauge().value();
  }

  private double ignored(String reason) {
    return registry.get("portcullis.crowdsec.decisions.ignored").tags("service", "t", "reason", reason)
        .functionCounter().count();
  }

  @Test
  void garbageMovesTheFailureMetersAndAGoodAnswerTheDecisionsInForce() throws Exception {
    answer.set("{\"new\":[{\"id\":3,,]}");
    try (Bouncer b = Bouncer.builder(url()).apiKey("test-key").pollInterval(Duration.ofMillis(200))
        .maxBackoff(Duration.ofMillis(400)).build()) {
      new CrowdSecMetrics(b, null, Tags.of("service", "t")).bindTo(registry);
      assertEquals(0, gauge("portcullis.crowdsec.failing"));
      assertEquals(0, counter("portcullis.crowdsec.poll.failures"));
      assertNull(registry.find("portcullis.crowdsec.alerts.queued").meter(), "no watcher, no watcher meters");

      b.start(target);
      assertTrue(CrowdSecLapiTest.await(() -> counter("portcullis.crowdsec.poll.failures") >= 2,
          Duration.ofSeconds(10)), b.stats().toString());
      assertEquals(1, gauge("portcullis.crowdsec.failing"));
      assertEquals(0, counter("portcullis.crowdsec.polls"));
      assertEquals(0, gauge("portcullis.crowdsec.decisions.active"));

      answer.set("{\"new\":[" + decision(1, "ban", "Ip", "192.0.2.7") + ","
          + decision(2, "ban", "Range", "2001:db8::/64") + "," + decision(3, "captcha", "Ip", "192.0.2.8") + ","
          + decision(4, "ban", "Country", "FR") + "," + decision(5, "ban", "Ip", "not-an-address")
          + "],\"deleted\":null}");
      assertTrue(CrowdSecLapiTest.await(() -> gauge("portcullis.crowdsec.failing") == 0
          && gauge("portcullis.crowdsec.decisions.active") == 2, Duration.ofSeconds(10)), b.stats().toString());
      assertTrue(counter("portcullis.crowdsec.polls") >= 1);
      double failures = counter("portcullis.crowdsec.poll.failures");
      assertTrue(failures >= 2, "a counter never goes back: " + failures);
      assertEquals(1, ignored("type"), "captcha");
      assertEquals(1, ignored("scope"), "ban/Country");
      assertEquals(1, ignored("invalid"));
      assertEquals(0, counter("portcullis.crowdsec.decisions.dropped"));
      assertEquals(0, counter("portcullis.crowdsec.decisions.refused"));
    }
  }

  @Test
  void aWatcherWhoseLapiFailsCountsFailedPushesQueuedAndDroppedAlerts() throws Exception {
    try (Watcher w = Watcher.builder(url()).login("m", "p").maxQueue(1).batchSize(1).build()) {
      new CrowdSecMetrics(null, w, Tags.of("service", "t")).bindTo(registry);
      assertNull(registry.find("portcullis.crowdsec.polls").meter(), "no bouncer, no bouncer meters");
      assertTrue(w.report(Cidr.parse("192.0.2.1/32"), Duration.ofMinutes(5), 3, "handshake failed"));
      // the failed alert is the watcher thread's to retry, out of the queue
      assertTrue(CrowdSecLapiTest.await(() -> counter("portcullis.crowdsec.push.failures") >= 1,
          Duration.ofSeconds(10)), w.stats().toString());
      assertTrue(w.report(Cidr.parse("192.0.2.2/32"), Duration.ofMinutes(5), 3, "handshake failed"));
      assertEquals(false, w.report(Cidr.parse("192.0.2.3/32"), Duration.ofMinutes(5), 3, "handshake failed"));
      assertEquals(1, gauge("portcullis.crowdsec.alerts.queued"));
      assertEquals(1, counter("portcullis.crowdsec.alerts.dropped"));
      assertEquals(0, counter("portcullis.crowdsec.alerts.pushed"));
    }
  }

  @Test
  void aBinderOfNothingIsRefused() {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> new CrowdSecMetrics(null, null));
    assertTrue(e.getMessage().contains("both are null"), e.getMessage());
  }
}
