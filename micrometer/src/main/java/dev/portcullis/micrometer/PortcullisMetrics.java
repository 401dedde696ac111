package dev.portcullis.micrometer;

import dev.portcullis.RunningServer;
import dev.portcullis.ServerStats;
import dev.portcullis.ShadowStats;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Tag;
import io.micrometer.core.instrument.Tags;
import io.micrometer.core.instrument.Timer;
import io.micrometer.core.instrument.binder.MeterBinder;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.util.Objects;
import java.util.function.ToDoubleFunction;

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
 *       each default, and the penalty box) decided</td></tr>
 *   <tr><td>{@code portcullis.penalties.active}</td><td>gauge</td><td></td><td>sources the penalty box refuses
 *       now</td></tr>
 *   <tr><td>{@code portcullis.shadow.flips}</td><td>gauge</td><td>{@code direction}: {@code would_allow},
 *       {@code would_deny}</td><td>decisions a shadow policy would flip, since it was set</td></tr>
 *   <tr><td>{@code portcullis.kernel.filter}</td><td>gauge</td><td>{@code mode}: {@code ebpf}, {@code
 *       classic}, {@code classic_ipv4}, {@code user_space}, {@code off}</td><td>1 for the kernel filter mode
 *       in force, 0 for the others (it changes when an update falls back)</td></tr>
 * </table>
 *
 * <p>The rules are those of the policy in force when {@link #bindTo} runs; after {@code
 * updatePolicy} with new rules, bind a new {@code PortcullisMetrics} to see them (a rule that is
 * gone reads 0). The counters read the server's own, so nothing is counted twice and binding
 * late loses nothing but the durations of connections accepted before.
 */
public final class PortcullisMetrics implements MeterBinder {
  private final RunningServer server;
  private final Tags tags;

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
    this.server = Objects.requireNonNull(server, "server");
    this.tags = Tags.of(Objects.requireNonNull(tags, "tags")).and(addressTags(server.localAddress()));
  }

  private static Tags addressTags(SocketAddress address) {
    if (address instanceof InetSocketAddress ip) {
      return Tags.of("server.address", ip.getAddress() == null ? ip.getHostString() : ip.getAddress().getHostAddress(),
          "server.port", String.valueOf(ip.getPort()));
    }
    return Tags.of("server.address", String.valueOf(address));
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

    for (dev.portcullis.KernelFilterMode mode : dev.portcullis.KernelFilterMode.values()) {
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

    // Every rule and default of the policy, hit or not yet (ruleHits() leaves unhit defaults out).
    java.util.Set<String> rules = new java.util.LinkedHashSet<>();
    dev.portcullis.policy.AccessPolicy policy = server.policy();
    for (int i = 0; i < policy.decisionSlots(); i++) {
      rules.add(policy.slotName(i));
    }
    rules.addAll(server.ruleHits().keySet()); // the penalty box, if there is one
    for (String rule : rules) {
      FunctionCounter.builder("portcullis.rule.hits", server, s -> s.ruleHits().getOrDefault(rule, 0L))
          .description("How often each rule decided").tags(tags).tag("rule", rule).register(registry);
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
