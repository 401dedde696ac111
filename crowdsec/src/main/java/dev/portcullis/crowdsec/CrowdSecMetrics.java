package dev.portcullis.crowdsec;

import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Tag;
import io.micrometer.core.instrument.Tags;
import io.micrometer.core.instrument.binder.MeterBinder;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.function.ToDoubleFunction;

/**
 * Publishes a {@link Bouncer}'s and a {@link Watcher}'s counters to Micrometer, named like {@code
 * PortcullisMetrics}'s (the Prometheus registry renders {@code portcullis.crowdsec.poll.failures}
 * as {@code portcullis_crowdsec_poll_failures_total}). Micrometer is an optional dependency of this
 * module: a service that uses this class has {@code micrometer-core} already.
 *
 * <pre>{@code
 * new CrowdSecMetrics(bouncer, watcher, Tags.of("service", "orders")).bindTo(registry);
 * }</pre>
 *
 * <table>
 *   <caption>The meters</caption>
 *   <tr><th>name</th><th>type</th><th>tags</th><th>what</th></tr>
 *   <tr><td>{@code portcullis.crowdsec.polls}</td><td>counter</td><td></td><td>answers of the Local API
 *       read and applied</td></tr>
 *   <tr><td>{@code portcullis.crowdsec.poll.failures}</td><td>counter</td><td></td><td>polls that failed
 *       (unreachable, an HTTP error, a malformed or oversized answer)</td></tr>
 *   <tr><td>{@code portcullis.crowdsec.failing}</td><td>gauge</td><td></td><td>1 while the last poll
 *       failed, else 0</td></tr>
 *   <tr><td>{@code portcullis.crowdsec.decisions.active}</td><td>gauge</td><td></td><td>decisions
 *       enforced now</td></tr>
 *   <tr><td>{@code portcullis.crowdsec.decisions.ignored}</td><td>counter</td><td>{@code reason}:
 *       {@code type} (not {@code ban}: {@code captcha}...), {@code scope} (a {@code ban} of another
 *       scope: {@code Country}, {@code AS}...), {@code invalid} (a value that is no address or
 *       range)</td><td>decisions not enforced</td></tr>
 *   <tr><td>{@code portcullis.crowdsec.decisions.dropped}</td><td>counter</td><td></td><td>decisions
 *       not taken because {@link Bouncer.Builder#maxDecisions} were held</td></tr>
 *   <tr><td>{@code portcullis.crowdsec.decisions.refused}</td><td>counter</td><td></td><td>bans the
 *       server refused (its penalty box full, or none)</td></tr>
 *   <tr><td>{@code portcullis.crowdsec.alerts.pushed}</td><td>counter</td><td></td><td>alerts the Local
 *       API took</td></tr>
 *   <tr><td>{@code portcullis.crowdsec.push.failures}</td><td>counter</td><td></td><td>pushes that
 *       failed (each retried)</td></tr>
 *   <tr><td>{@code portcullis.crowdsec.alerts.dropped}</td><td>counter</td><td></td><td>alerts not
 *       queued because {@link Watcher.Builder#maxQueue} were waiting</td></tr>
 *   <tr><td>{@code portcullis.crowdsec.alerts.queued}</td><td>gauge</td><td></td><td>alerts waiting to
 *       be pushed now</td></tr>
 * </table>
 *
 * <p>The first seven are the bouncer's, the last four the watcher's; a binder of one of them
 * publishes only its own. The {@code reason} tag of the ignored decisions has those three values
 * whatever the Local API sends, so a stream cannot add series; {@link Bouncer#stats()} keeps the
 * count per {@code type/scope}. The meters read the bouncer's and watcher's own counters, so
 * binding late loses nothing. Two bouncers in one registry need a tag apart (such as {@code
 * Tags.of("lapi", "eu")}): Micrometer keeps the first meter of a name and tags.
 */
public final class CrowdSecMetrics implements MeterBinder {
  private final Bouncer bouncer;
  private final Watcher watcher;
  private final Tags tags;

  /**
   * A binder for a bouncer, a watcher or both.
   *
   * @param bouncer the bouncer, or null for none
   * @param watcher the watcher, or null for none
   * @throws IllegalArgumentException if both are null
   */
  public CrowdSecMetrics(Bouncer bouncer, Watcher watcher) {
    this(bouncer, watcher, Tags.empty());
  }

  /**
   * A binder for a bouncer, a watcher or both, every meter tagged with {@code tags}.
   *
   * @param bouncer the bouncer, or null for none
   * @param watcher the watcher, or null for none
   * @param tags more tags for every meter, such as the service's name
   * @throws IllegalArgumentException if both are null
   */
  public CrowdSecMetrics(Bouncer bouncer, Watcher watcher, Iterable<Tag> tags) {
    if (bouncer == null && watcher == null) {
      throw new IllegalArgumentException("CrowdSecMetrics needs a bouncer, a watcher or both; both are null");
    }
    this.bouncer = bouncer;
    this.watcher = watcher;
    this.tags = Tags.of(Objects.requireNonNull(tags, "tags"));
  }

  @Override
  public void bindTo(MeterRegistry registry) {
    if (bouncer != null) {
      bouncerCounter(registry, "portcullis.crowdsec.polls", "Answers of the CrowdSec LAPI read and applied",
          CrowdSecStats::polls);
      bouncerCounter(registry, "portcullis.crowdsec.poll.failures",
          "Polls of the CrowdSec LAPI that failed (unreachable, an HTTP error, a malformed or oversized answer)",
          CrowdSecStats::failures);
      Gauge.builder("portcullis.crowdsec.failing", bouncer, b -> b.stats().failing() ? 1 : 0)
          .description("1 while the last poll of the CrowdSec LAPI failed").tags(tags).register(registry);
      Gauge.builder("portcullis.crowdsec.decisions.active", bouncer, b -> b.stats().decisionsInForce())
          .description("CrowdSec decisions enforced now").tags(tags).register(registry);
      for (String reason : new String[] {"type", "scope", "invalid"}) {
        FunctionCounter.builder("portcullis.crowdsec.decisions.ignored", bouncer,
                b -> ignored(b.stats().ignored(), reason))
            .description("CrowdSec decisions not enforced, by why").tags(tags).tag("reason", reason)
            .register(registry);
      }
      bouncerCounter(registry, "portcullis.crowdsec.decisions.dropped",
          "CrowdSec decisions not taken because maxDecisions were held", CrowdSecStats::dropped);
      bouncerCounter(registry, "portcullis.crowdsec.decisions.refused",
          "Bans of CrowdSec decisions the server refused", CrowdSecStats::refused);
    }
    if (watcher != null) {
      watcherCounter(registry, "portcullis.crowdsec.alerts.pushed", "Alerts the CrowdSec LAPI took",
          WatcherStats::pushed);
      watcherCounter(registry, "portcullis.crowdsec.push.failures",
          "Pushes of alerts to the CrowdSec LAPI that failed (each retried)", WatcherStats::failures);
      watcherCounter(registry, "portcullis.crowdsec.alerts.dropped",
          "Alerts not queued because maxQueue were waiting", WatcherStats::dropped);
      Gauge.builder("portcullis.crowdsec.alerts.queued", watcher, w -> w.stats().queued())
          .description("Alerts waiting to be pushed to the CrowdSec LAPI").tags(tags).register(registry);
    }
  }

  /**
   * The ignored decisions of one {@code reason}, from the bouncer's counts by {@code type/scope}:
   * {@code invalid} is its own; a {@code ban} of another scope is {@code scope}; any other type is
   * {@code type}.
   */
  static double ignored(Map<String, Long> byTypeScope, String reason) {
    long sum = 0;
    for (Map.Entry<String, Long> e : byTypeScope.entrySet()) {
      String key = e.getKey();
      String of = key.equals("invalid") ? "invalid"
          : key.toLowerCase(Locale.ROOT).startsWith("ban/") ? "scope" : "type";
      if (of.equals(reason)) {
        sum += e.getValue();
      }
    }
    return sum;
  }

  private void bouncerCounter(MeterRegistry registry, String name, String description,
      ToDoubleFunction<CrowdSecStats> count) {
    FunctionCounter.builder(name, bouncer, b -> count.applyAsDouble(b.stats())).description(description)
        .tags(tags).register(registry);
  }

  private void watcherCounter(MeterRegistry registry, String name, String description,
      ToDoubleFunction<WatcherStats> count) {
    FunctionCounter.builder(name, watcher, w -> count.applyAsDouble(w.stats())).description(description)
        .tags(tags).register(registry);
  }
}
