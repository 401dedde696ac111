package dev.portcullis.micrometer;

import dev.portcullis.RuleHits;
import dev.portcullis.RunningServer;
import dev.portcullis.ServerStats;
import dev.portcullis.ShadowStats;
import dev.portcullis.policy.AccessPolicy;
import dev.portcullis.policy.IpAddresses;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.Meter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Tag;
import io.micrometer.core.instrument.Tags;
import io.micrometer.core.instrument.Timer;
import io.micrometer.core.instrument.binder.MeterBinder;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.function.ToDoubleFunction;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Publishes a running server's counters to Micrometer: what Kestrel's stable OpenTelemetry metrics
 * publish for a connection server, under Micrometer's naming convention (dotted lower case, which
 * the Prometheus registry renders as {@code portcullis_connections_active}, {@code
 * portcullis_connections_rejected_total}, {@code portcullis_connection_duration_seconds}...).
 *
 * <pre>{@code
 * RunningServer server = Server.on(7000).allow("10.0.0.0/8").handle(...).start();
 * new PortcullisMetrics(server).bindTo(registry);
 * }</pre>
 *
 * <table>
 *   <caption>The meters (each also tagged {@code server.address}, and {@code server.port} for TCP)</caption>
 *   <tr><th>name</th><th>type</th><th>tags</th><th>what</th></tr>
 *   <tr><td>{@code portcullis.connections.active}</td><td>gauge</td><td></td><td>connections open now</td></tr>
 *   <tr><td>{@code portcullis.connection.duration}</td><td>timer (histogram)</td><td></td><td>how long
 *       connections let in at accept stayed open, from accept to close</td></tr>
 *   <tr><td>{@code portcullis.connections.accepted}</td><td>counter</td><td>{@code loop}</td><td>connections
 *       each event loop accepted, refused ones included</td></tr>
 *   <tr><td>{@code portcullis.connections.rejected}</td><td>counter</td><td>{@code reason}: {@code address},
 *       {@code limit} (total, per source, pending handshakes), {@code rate}, {@code penalty}, {@code handshake_failure}, {@code handshake_timeout}, {@code
 *       address_after_handshake}, {@code overloaded}</td><td>connections refused, by why</td></tr>
 *   <tr><td>{@code portcullis.connections.handled}</td><td>counter</td><td></td><td>connections handed to the
 *       handler</td></tr>
 *   <tr><td>{@code portcullis.handler.failures}</td><td>counter</td><td></td><td>handlers that ended with an
 *       exception</td></tr>
 *   <tr><td>{@code portcullis.handshakes.active}</td><td>gauge</td><td>{@code step}</td><td>handshakes in
 *       progress, per step of the chain</td></tr>
 *   <tr><td>{@code portcullis.rule.hits}</td><td>counter</td><td>{@code rule}</td><td>how often each rule (and
 *       each default, and the penalty box) decided; above {@link #maxRuleSeries} rules, the rules
 *       together as {@code rule="all rules"}</td></tr>
 *   <tr><td>{@code portcullis.penalties.active}</td><td>gauge</td><td></td><td>sources the penalty box refuses
 *       now</td></tr>
 *   <tr><td>{@code portcullis.shadow.flips}</td><td>gauge</td><td>{@code direction}: {@code would_allow},
 *       {@code would_deny}</td><td>decisions a shadow policy would flip, since it was set</td></tr>
 *   <tr><td>{@code portcullis.kernel.filter}</td><td>gauge</td><td>{@code mode}: {@code ebpf}, {@code
 *       classic}, {@code classic_ipv4}, {@code user_space}, {@code off}</td><td>1 for the kernel filter mode
 *       in force, 0 for the others (it changes when an update falls back)</td></tr>
 * </table>
 *
 * <p>The rule counters follow the policy in force: after {@code updatePolicy} (or {@code
 * promote}) the series of rules that are gone are removed from the registry, new rules get
 * theirs, and every rule's count starts again, as {@link RunningServer#ruleHits()} does. A scrape
 * reads each rule's counter directly ({@link RunningServer#currentRuleHits()}), so it costs the
 * same per rule however many there are.
 *
 * <p><b>Series per rule.</b> Each rule is a time series for the monitoring system to store. Up to
 * {@value #DEFAULT_MAX_RULE_SERIES} rules (see {@link #maxRuleSeries}) each has its own; a policy
 * with more (a block list of 100,000 addresses) is published as one series {@code rule="all
 * rules"}, the sum of every rule's hits, beside the defaults and the penalty box, and one INFO
 * line says so. {@link RunningServer#ruleHits()} still has every rule's count.
 *
 * <p>The counters read the server's own, so nothing is counted twice and binding late loses
 * nothing but the durations of connections accepted before.
 */
public final class PortcullisMetrics implements MeterBinder {
  /** How many rules a policy may have and still be published one series per rule, by default. */
  public static final int DEFAULT_MAX_RULE_SERIES = 1000;
  /** The {@code rule} tag of the one series that counts every rule, above {@link #maxRuleSeries}. */
  static final String ALL_RULES = "all rules";
  private static final Logger log = LoggerFactory.getLogger(PortcullisMetrics.class);

  private final RunningServer server;
  private final Tags tags;
  private final int maxRuleSeries;

  /**
   * A binder for {@code server}, tagged with its address.
   *
   * @param server the running server
   */
  public PortcullisMetrics(RunningServer server) {
    this(server, Tags.empty());
  }

  /**
   * A binder for {@code server}, tagged with its address and {@code tags}.
   *
   * @param server the running server
   * @param tags more tags for every meter, such as the service's name
   */
  public PortcullisMetrics(RunningServer server, Iterable<Tag> tags) {
    this(Objects.requireNonNull(server, "server"),
        Tags.of(Objects.requireNonNull(tags, "tags")).and(addressTags(server.localAddress())),
        DEFAULT_MAX_RULE_SERIES);
  }

  private PortcullisMetrics(RunningServer server, Tags tags, int maxRuleSeries) {
    this.server = server;
    this.tags = tags;
    this.maxRuleSeries = maxRuleSeries;
  }

  /**
   * A binder like this one that publishes a series per rule for policies of up to {@code max}
   * rules (address and credential rules together); a larger policy is published as one series,
   * {@code rule="all rules"}. Each series costs the monitoring system memory and storage, and a
   * scrape text line: raise it only for rules you mean to graph one by one.
   *
   * <pre>{@code
   * new PortcullisMetrics(server).maxRuleSeries(5_000).bindTo(registry);
   * }</pre>
   *
   * @param max the most rules to publish one by one, 0 for never; default {@value
   *     #DEFAULT_MAX_RULE_SERIES}
   * @return a new binder
   * @throws IllegalArgumentException if {@code max} is negative
   */
  public PortcullisMetrics maxRuleSeries(int max) {
    if (max < 0) {
      throw new IllegalArgumentException("maxRuleSeries must be 0 or more: " + max);
    }
    return new PortcullisMetrics(server, tags, max);
  }

  private static Tags addressTags(SocketAddress address) {
    if (address instanceof InetSocketAddress ip) {
      return Tags.of("server.address",
          ip.getAddress() == null ? ip.getHostString() : IpAddresses.format(ip.getAddress()),
          "server.port", String.valueOf(ip.getPort()));
    }
    return Tags.of("server.address", IpAddresses.format(address));
  }

  @Override
  public void bindTo(MeterRegistry registry) {
    Gauge.builder("portcullis.connections.active", server, s -> s.stats().openConnections())
        .description("Connections open now").tags(tags).register(registry);

    Timer duration = Timer.builder("portcullis.connection.duration")
        .description("How long connections stayed open, from accept to close").publishPercentileHistogram()
        .tags(tags).register(registry);
    server.addConnectionListener(duration::record);

    long[] loops = server.acceptedPerLoop();
    for (int i = 0; i < loops.length; i++) {
      int loop = i;
      FunctionCounter.builder("portcullis.connections.accepted", server, s -> {
        long[] now = s.acceptedPerLoop();
        return loop < now.length ? now[loop] : 0;
      }).description("Connections each event loop accepted, refused ones included")
          .tags(tags).tag("loop", String.valueOf(loop)).register(registry);
    }

    for (dev.portcullis.HandlerMode mode : dev.portcullis.HandlerMode.values()) {
      Gauge.builder("portcullis.handler.mode", server, s -> s.handlerMode() == mode ? 1 : 0)
          .description("1 for how the handlers run, 0 for the other modes").tags(tags)
          .tag("mode", mode.name().toLowerCase(java.util.Locale.ROOT)).register(registry);
    }

    for (dev.portcullis.spi.KernelFilterMode mode : dev.portcullis.spi.KernelFilterMode.values()) {
      Gauge.builder("portcullis.kernel.filter", server, s -> s.stats().kernelFilter() == mode ? 1 : 0)
          .description("1 for the kernel filter mode in force, 0 for the others").tags(tags)
          .tag("mode", mode.name().toLowerCase(java.util.Locale.ROOT)).register(registry);
    }

    rejected(registry, "address", ServerStats::denied);
    rejected(registry, "limit", s -> s.limited() - s.rateLimited());
    rejected(registry, "rate", ServerStats::rateLimited);
    rejected(registry, "penalty", ServerStats::penalized);
    rejected(registry, "handshake_failure", ServerStats::handshakeFailures);
    rejected(registry, "handshake_timeout", ServerStats::handshakeTimeouts);
    rejected(registry, "address_after_handshake", ServerStats::deniedAfterHandshake);
    rejected(registry, "overloaded", ServerStats::overloaded);
    counter(registry, "portcullis.connections.handled", "Connections handed to the handler", ServerStats::handled);
    counter(registry, "portcullis.handler.failures", "Handlers that ended with an exception",
        ServerStats::handlerFailures);

    for (String step : server.handshakesInProgress().keySet()) {
      Gauge.builder("portcullis.handshakes.active", server, s -> s.handshakesInProgress().getOrDefault(step, 0))
          .description("Handshakes in progress, per step of the chain").tags(tags).tag("step", step)
          .register(registry);
    }

    RuleMeters rules = new RuleMeters(registry);
    rules.follow();
    server.addPolicyListener(p -> rules.follow());
    if (server.ruleHits().containsKey(PENALTY_BOX)) { // once, at bind: the penalty box is for the server's life
      FunctionCounter.builder("portcullis.rule.hits", server, s -> s.stats().penalized())
          .description("How often each rule decided").tags(tags).tag("rule", PENALTY_BOX).register(registry);
    }

    Gauge.builder("portcullis.penalties.active", server, s -> s.penalties().size())
        .description("Sources the penalty box refuses now").tags(tags).register(registry);
    Gauge.builder("portcullis.shadow.flips", server, s -> s.shadowStats().map(ShadowStats::wouldAllow).orElse(0L))
        .description("Decisions the shadow policy would flip, since it was set").tags(tags)
        .tag("direction", "would_allow").register(registry);
    Gauge.builder("portcullis.shadow.flips", server, s -> s.shadowStats().map(ShadowStats::wouldDeny).orElse(0L))
        .description("Decisions the shadow policy would flip, since it was set").tags(tags)
        .tag("direction", "would_deny").register(registry);
  }

  /** The penalty box's name in {@link RunningServer#ruleHits()}. */
  private static final String PENALTY_BOX = "penalty box";

  /**
   * The rule-hit series of one registry, which follow the policy in force: which slots each
   * series adds up, and the meters registered for them.
   */
  private final class RuleMeters {
    private final MeterRegistry registry;
    /** What the meters read: swapped whole, so a scrape reads one policy's counts. */
    private volatile Index index;
    /** By rule tag; guarded by this. */
    private final Map<String, Meter> meters = new HashMap<>();

    RuleMeters(MeterRegistry registry) {
      this.registry = registry;
    }

    /**
     * Moves the series to the policy in force, if they are not on it already: the series of rules
     * that are gone are removed, new ones registered, and the ones both policies have read the new
     * counts from now on. It reads the policy in force under the lock, so when replacements race,
     * the last call follows the last policy.
     */
    synchronized void follow() {
      RuleHits hits = server.currentRuleHits();
      Index old = index;
      if (old != null && old.hits == hits) {
        return;
      }
      Index next = new Index(hits, maxRuleSeries);
      boolean wasAll = old != null && old.slots.containsKey(ALL_RULES);
      if (next.slots.containsKey(ALL_RULES) && !wasAll) {
        log.info("Metrics of {}: the policy has {} rules, more than maxRuleSeries ({}); portcullis.rule.hits"
            + " counts them together as rule=\"{}\" (ruleHits() still has each rule)",
            IpAddresses.format(server.localAddress()),
            next.rules, maxRuleSeries, ALL_RULES);
      }
      for (Iterator<Map.Entry<String, Meter>> i = meters.entrySet().iterator(); i.hasNext(); ) {
        Map.Entry<String, Meter> e = i.next();
        if (!next.slots.containsKey(e.getKey())) {
          registry.remove(e.getValue());
          i.remove();
        }
      }
      index = next;
      for (String rule : next.slots.keySet()) {
        meters.computeIfAbsent(rule, r -> FunctionCounter.builder("portcullis.rule.hits", this, m -> m.count(r))
            .description("How often each rule decided").tags(tags).tag("rule", r).register(registry));
      }
    }

    /** One series' count: its slots added up, from the live counters. */
    double count(String rule) {
      Index i = index;
      int[] slots = i.slots.get(rule);
      if (slots == null) {
        return 0; // removed in the meantime
      }
      long sum = 0;
      for (int slot : slots) {
        sum += i.hits.hits(slot);
      }
      return sum;
    }
  }

  /** Which slots of one policy each series adds up: one per rule (and default), or the rules as one. */
  private static final class Index {
    final RuleHits hits;
    final int rules;
    final Map<String, int[]> slots = new LinkedHashMap<>();

    Index(RuleHits hits, int maxRuleSeries) {
      this.hits = hits;
      AccessPolicy policy = hits.policy();
      this.rules = policy.rules().size() + policy.credentialRules().size();
      boolean together = rules > maxRuleSeries;
      Map<String, List<Integer>> bySeries = new LinkedHashMap<>();
      int addressDefault = policy.rules().size();
      int localDefault = addressDefault + policy.credentialRules().size() + 1;
      for (int slot = 0; slot < policy.decisionSlots(); slot++) {
        boolean rule = slot != addressDefault && slot < localDefault;
        String series = together && rule ? ALL_RULES : policy.slotName(slot);
        bySeries.computeIfAbsent(series, k -> new ArrayList<>(1)).add(slot); // duplicate rules share a series
      }
      bySeries.forEach((series, list) -> slots.put(series, list.stream().mapToInt(Integer::intValue).toArray()));
    }
  }

  private void rejected(MeterRegistry registry, String reason, ToDoubleFunction<ServerStats> count) {
    FunctionCounter.builder("portcullis.connections.rejected", server, s -> count.applyAsDouble(s.stats()))
        .description("Connections refused, by why").tags(tags).tag("reason", reason)
        .register(registry);
  }

  private void counter(MeterRegistry registry, String name, String description, ToDoubleFunction<ServerStats> count) {
    FunctionCounter.builder(name, server, s -> count.applyAsDouble(s.stats())).description(description)
        .tags(tags).register(registry);
  }
}
