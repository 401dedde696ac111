package dev.portcullis.crowdsec;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.sun.net.httpserver.HttpServer;
import dev.portcullis.policy.Cidr;
import dev.portcullis.spi.LogCapture;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * The bouncer against a tiny fake LAPI on loopback that answers what each test says: garbage and a
 * 50 MB answer (of valid decisions, past the 1 MiB bound) are refused with a clear line while the decisions already in force stay, and a
 * stream of more decisions than the bound keeps the bound.
 */
@Timeout(60)
class FakeLapiTest {
  @RegisterExtension
  final LogCapture log = new LogCapture();

  private HttpServer http;
  private final AtomicReference<byte[]> answer = new AtomicReference<>();
  private final AtomicLong hugeBytesWritten = new AtomicLong(-1);
  private final Map<Cidr, String> banned = new ConcurrentHashMap<>();
  private final List<Cidr> lifted = new CopyOnWriteArrayList<>();

  private final BanTarget target = new BanTarget() {
    @Override
    public void ban(Cidr range, Duration duration, String reason) {
      banned.put(range, reason);
    }

    @Override
    public boolean lift(Cidr range, String reason) {
      lifted.add(range);
      return banned.remove(range) != null;
    }
  };

  @BeforeEach
  void start() throws IOException {
    http = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 16);
    http.createContext("/v1/decisions/stream", ex -> {
      byte[] body = answer.get();
      if (body == null) { // 50 MB of decisions, in chunks, without a length
        ex.sendResponseHeaders(200, 0);
        long written = 0;
        byte[] chunk = (decision(1, "Ip", "192.0.2.1") + ",").repeat(500).getBytes(StandardCharsets.US_ASCII);
        try (OutputStream out = ex.getResponseBody()) {
          out.write("{\"new\":[".getBytes(StandardCharsets.US_ASCII));
          while (written < 50L << 20) {
            out.write(chunk);
            written += chunk.length;
          }
        } catch (IOException closedByTheBouncer) {
          // the bouncer stopped reading
        } finally {
          hugeBytesWritten.set(written);
        }
        return;
      }
      ex.getResponseHeaders().add("Content-Type", "application/json");
      ex.sendResponseHeaders(200, body.length);
      try (OutputStream out = ex.getResponseBody()) {
        out.write(body);
      }
    });
    http.start();
  }

  @AfterEach
  void stop() {
    http.stop(0);
  }

  private Bouncer bouncer(int maxDecisions) {
    return Bouncer.builder(URI.create("http://127.0.0.1:" + http.getAddress().getPort()))
        .apiKey("test-key").pollInterval(Duration.ofMillis(200)).maxBackoff(Duration.ofMillis(400))
        .maxDecisions(maxDecisions).maxResponseBytes(1 << 20).build();
  }

  private static String decision(long id, String scope, String value) {
    return "{\"duration\":\"3h59m58.123s\",\"id\":" + id + ",\"origin\":\"cscli\",\"scenario\":\"s" + id
        + "\",\"scope\":\"" + scope + "\",\"type\":\"ban\",\"value\":\"" + value + "\"}";
  }

  private void answer(String json) {
    answer.set(json.getBytes(StandardCharsets.UTF_8));
  }

  @Test
  void garbageIsRefusedWithALineAndTheDecisionsInForceStay() throws Exception {
    answer("{\"new\":[" + decision(1, "Ip", "192.0.2.7") + "," + decision(2, "Range", "2001:db8::/64")
        + "],\"deleted\":null}");
    try (Bouncer b = bouncer(100).start(target)) {
      assertTrue(CrowdSecLapiTest.await(() -> banned.size() == 2, Duration.ofSeconds(10)), banned.toString());
      assertEquals("crowdsec: s1", banned.get(Cidr.parse("192.0.2.7/32")));
      long polls = b.stats().polls();
      answer("{\"new\":[{\"id\":3,,]}");
      assertTrue(CrowdSecLapiTest.await(() -> b.stats().failures() >= 3, Duration.ofSeconds(10)), b.stats().toString());
      List<String> lines = log.lines("failed: refused the answer of");
      assertEquals(1, lines.size(), "logged once: " + lines);
      assertTrue(lines.get(0).contains("invalid JSON at byte 16: expected a member name, found ','"), lines.get(0));
      assertEquals(2, b.stats().decisionsInForce(), "the last good decisions stay");
      assertEquals(2, banned.size());
      assertTrue(lifted.isEmpty());

      answer("{\"new\":null,\"deleted\":[" + decision(1, "Ip", "192.0.2.7") + "]}");
      assertTrue(CrowdSecLapiTest.await(() -> !b.stats().failing() && b.stats().polls() > polls,
          Duration.ofSeconds(10)));
      assertTrue(CrowdSecLapiTest.await(() -> banned.size() == 1, Duration.ofSeconds(10)), "a deletion lifts it");
      assertEquals(List.of(Cidr.parse("192.0.2.7/32")), lifted);
      assertEquals(1, log.lines("answers again;").size());
    }
  }

  @Test
  void aFiftyMegabyteAnswerIsRefusedWhileItIsReadAndNothingOfItApplied() throws Exception {
    answer.set(null);
    try (Bouncer b = bouncer(100).start(target)) {
      assertTrue(CrowdSecLapiTest.await(() -> b.stats().failures() >= 1 && hugeBytesWritten.get() >= 0,
          Duration.ofSeconds(20)), b.stats().toString());
      List<String> lines = log.lines("failed: refused the answer of");
      assertEquals(1, lines.size(), lines.toString());
      assertTrue(lines.get(0).contains("longer than 1048576 bytes"), lines.get(0));
      assertTrue(hugeBytesWritten.get() < 20L << 20,
          "the bouncer stopped reading near its bound, not after 50 MB: " + hugeBytesWritten.get());
      assertEquals(0, b.stats().decisionsInForce(), "nothing of a refused answer is applied");
      assertTrue(banned.isEmpty());
    }
  }

  @Test
  void pastTheBoundTheNewestDecisionsAreDroppedAndCounted() throws Exception {
    StringBuilder sb = new StringBuilder("{\"new\":[");
    for (int i = 1; i <= 5; i++) {
      sb.append(i > 1 ? "," : "").append(decision(i, "Ip", "192.0.2." + i));
    }
    sb.append(",").append(decision(6, "Country", "FR")).append(",")
        .append(decision(7, "Ip", "not-an-address")).append("]}");
    answer(sb.toString());
    try (Bouncer b = bouncer(3).start(target)) {
      assertTrue(CrowdSecLapiTest.await(() -> b.stats().polls() >= 1, Duration.ofSeconds(10)));
      CrowdSecStats s = b.stats();
      assertEquals(3, s.decisionsInForce(), s.toString());
      assertEquals(3, banned.size());
      assertTrue(banned.containsKey(Cidr.parse("192.0.2.1/32")), "the oldest are kept");
      assertTrue(s.dropped() >= 2, s.toString());
    }
  }

  @Test
  void ignoredDecisionsOfEndlesslyNewKindsAreCountedInABoundedTable() throws Exception {
    StringBuilder sb = new StringBuilder("{\"new\":[");
    int kinds = Bouncer.MAX_IGNORED_KINDS + 36;
    for (int i = 1; i <= kinds; i++) {
      sb.append(i > 1 ? "," : "").append(decision(i, "Scope" + i, "x"));
    }
    answer(sb.append("]}").toString());
    try (Bouncer b = bouncer(1000).start(target)) {
      assertTrue(CrowdSecLapiTest.await(() -> b.stats().polls() >= 1, Duration.ofSeconds(10)));
      Map<String, Long> ignored = b.stats().ignored();
      assertTrue(ignored.size() <= Bouncer.MAX_IGNORED_KINDS + 1, "bounded: " + ignored.size());
      assertEquals(kinds, ignored.values().stream().mapToLong(Long::longValue).sum(), "every one counted");
      assertTrue(ignored.getOrDefault("other/other", 0L) >= 36, ignored.toString());
      assertTrue(banned.isEmpty());
    }
  }
}
