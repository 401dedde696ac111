package dev.portcullis.micrometer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.portcullis.RunningServer;
import dev.portcullis.Server;
import dev.portcullis.policy.AccessPolicy;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Proxy;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * What a scrape costs the server: the binder's calls into it per scrape, counted through a
 * forwarding {@link RunningServer}, must not grow with the number of rules ({@link
 * RunningServer#ruleHits()} builds a map of every rule, so a call per rule made a scrape
 * quadratic).
 */
@Timeout(60)
class ScrapeCostTest {

  /** A policy of {@code n} host rules in 10.0.0.0/8, and 127.0.0.1 for the tests' clients. */
  static AccessPolicy rules(int n) {
    StringBuilder text = new StringBuilder("allow 127.0.0.1\n");
    for (int i = 1; i < n; i++) {
      text.append("allow 10.").append(i >> 16 & 255).append('.').append(i >> 8 & 255).append('.').append(i & 255)
          .append('\n');
    }
    return AccessPolicy.parse(text.toString());
  }

  /** The server, forwarded; every call counted in {@code calls}, and ruleHits() also in {@code ruleHits}. */
  static RunningServer counting(RunningServer server, AtomicInteger calls, AtomicInteger ruleHits) {
    return (RunningServer) Proxy.newProxyInstance(RunningServer.class.getClassLoader(),
        new Class<?>[] {RunningServer.class}, (proxy, method, args) -> {
          if (method.getDeclaringClass() == Object.class) {
            return method.invoke(server, args);
          }
          calls.incrementAndGet();
          if (method.getName().equals("ruleHits")) {
            ruleHits.incrementAndGet();
          }
          try {
            return method.invoke(server, args);
          } catch (InvocationTargetException e) {
            throw e.getCause();
          }
        });
  }

  /** Calls into the server made by one scrape of a registry bound to a server with {@code n} rules. */
  private static int[] callsPerScrape(int n, int maxRuleSeries) throws Exception {
    try (RunningServer server = Server.on(0).bindAddress("127.0.0.1").policy(rules(n))
        .handle(conn -> conn.output().write("OK\n".getBytes(StandardCharsets.US_ASCII))).start()) {
      AtomicInteger calls = new AtomicInteger();
      AtomicInteger ruleHits = new AtomicInteger();
      PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
      RunningServer counted = counting(server, calls, ruleHits); // meters hold their object weakly: keep it
      new PortcullisMetrics(counted).maxRuleSeries(maxRuleSeries).bindTo(registry);
      registry.scrape(); // whatever a first scrape sets up
      calls.set(0);
      ruleHits.set(0);
      String scrape = registry.scrape();
      int[] counts = {calls.get(), ruleHits.get()};
      long series = scrape.lines().filter(l -> l.startsWith("portcullis_rule_hits_total{")).count();
      assertEquals(maxRuleSeries >= n ? n + 3 : 4, series, "a series per rule and default, or the rules as one");
      java.lang.ref.Reference.reachabilityFence(counted);
      return counts;
    }
  }

  @Test
  void aScrapeCallsTheServerAsOftenWhateverTheNumberOfRules() throws Exception {
    int[] small = callsPerScrape(20, 1000);
    int[] large = callsPerScrape(800, 1000);
    assertEquals(0, large[1], "a scrape builds no map of every rule (ruleHits() calls)");
    assertEquals(small[0], large[0], "calls into the server per scrape, 20 rules against 800");
  }

  @Test
  void aPolicyAboveMaxRuleSeriesCostsAScrapeNoMoreCalls() throws Exception {
    int[] perRule = callsPerScrape(20, 1000);
    int[] together = callsPerScrape(800, 100);
    assertEquals(0, together[1], "no ruleHits() map per scrape");
    assertEquals(perRule[0], together[0], "calls into the server per scrape");
  }
}
