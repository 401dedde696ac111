package dev.portcullis.examples.echo;

import dev.portcullis.RunningServer;
import dev.portcullis.ShadowStats;
import dev.portcullis.policy.AccessPolicy;
import java.io.PrintStream;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

/**
 * {@code echo --watch --shadow SECONDS}: a reloaded policy is first a shadow (decided beside the
 * live one, its flips logged on {@code dev.portcullis.shadow}) for that long, then promoted. A
 * newer file during the period replaces the shadow and starts the period again.
 */
final class ShadowThenPromote implements Consumer<AccessPolicy> {
  private final RunningServer server;
  private final Duration period;
  private final PrintStream err;
  private final ScheduledExecutorService timer = Executors.newSingleThreadScheduledExecutor(r -> {
    Thread t = new Thread(r, "portcullis-shadow-promote");
    t.setDaemon(true);
    return t;
  });
  private ScheduledFuture<?> pending;

  ShadowThenPromote(RunningServer server, Duration period, PrintStream err) {
    this.server = server;
    this.period = period;
    this.err = err;
  }

  @Override
  public synchronized void accept(AccessPolicy candidate) {
    server.shadow(candidate); // refuses what updatePolicy would refuse: the watcher keeps the old one
    if (pending != null) {
      pending.cancel(false);
    }
    report("portcullis echo: shadowing the new policy for " + dev.portcullis.policy.Durations.format(period)
        + " before it is live");
    pending = timer.schedule(this::promote, period.toMillis(), TimeUnit.MILLISECONDS);
  }

  private synchronized void promote() {
    Optional<ShadowStats> s = server.promote();
    s.ifPresent(stats -> report("portcullis echo: promoted the new policy after " + stats.decided()
        + " decisions: " + stats.wouldAllow() + " newly allowed, " + stats.wouldDeny() + " newly denied"));
    pending = null;
  }

  private void report(String line) {
    err.println(line);
    err.flush();
  }
}
