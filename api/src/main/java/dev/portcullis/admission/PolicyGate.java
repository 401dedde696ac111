package dev.portcullis.admission;

import dev.portcullis.RuleHits;
import dev.portcullis.ShadowStats;
import dev.portcullis.policy.AccessPolicy;
import dev.portcullis.policy.Decision;
import dev.portcullis.policy.PeerCredentials;
import java.net.InetAddress;
import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicLongArray;

/**
 * The first gate: the address (or credential) policy in force, the hit of the rule that decided,
 * and a shadow policy decided beside it. Allocates nothing for an IP peer unless a shadow flip's
 * line is due.
 */
final class PolicyGate {
  private volatile AccessPolicy policy;
  /** Hits per decision slot of {@link #policy}, with that policy; replaced with it. */
  private volatile Hits hits;
  /** A candidate policy decided beside the live one, and what it would have changed; or null. */
  private volatile Shadow shadow;
  private final Reporter reporter;

  PolicyGate(AccessPolicy policy, Reporter reporter) {
    this.policy = policy;
    this.hits = new Hits(policy);
    this.reporter = reporter;
  }

  /** An IP peer's 128 bits (IPv4 mapped): the decision, its hit counted, the shadow compared. */
  Decision decide(long high, long low) {
    Decision d = policy.decideIpv6(high, low);
    count(d);
    Shadow s = shadow;
    if (s != null) {
      compare(s, d, s.candidate.decideIpv6(high, low), high, low, null);
    }
    return d;
  }

  Decision decide(PeerCredentials credentials) {
    Decision d = policy.decide(credentials);
    count(d);
    Shadow s = shadow;
    if (s != null) {
      compare(s, d, s.candidate.decide(credentials), 0, 0, RefusalLog.local(credentials));
    }
    return d;
  }

  /** A client a step named; {@code who} describes the connection for a shadow flip's line. */
  Decision decide(InetAddress address, String who) {
    Decision d = policy.decide(address);
    count(d);
    Shadow s = shadow;
    if (s != null) {
      compare(s, d, s.candidate.decide(address), 0, 0, who);
    }
    return d;
  }

  private void compare(Shadow s, Decision live, Decision candidate, long high, long low, String who) {
    s.decided.incrementAndGet();
    if (live.isAllowed() != candidate.isAllowed()) {
      reporter.shadowFlip(live, candidate, (live.isAllowed() ? s.wouldDeny : s.wouldAllow).incrementAndGet(), high, low,
          who);
    }
  }

  private void count(Decision d) {
    AtomicLongArray h = hits.counts;
    int slot = d.slot();
    if (slot >= 0 && slot < h.length()) {
      h.incrementAndGet(slot);
    }
  }

  AccessPolicy policy() {
    return policy;
  }

  void update(AccessPolicy newPolicy) {
    // A decision made by the old policy in the meantime may land in the new array: a stale hit,
    // never a crash, since the slot is checked.
    this.hits = new Hits(newPolicy);
    this.policy = newPolicy;
  }

  void shadow(AccessPolicy candidate) {
    this.shadow = candidate == null ? null : new Shadow(candidate);
  }

  Shadow currentShadow() {
    return shadow;
  }

  /** Hits per rule (and per default) of the current policy, in the policy's order; unhit defaults left out. */
  Map<String, Long> ruleHits() {
    Hits current = hits;
    AccessPolicy p = current.policy;
    AtomicLongArray h = current.counts;
    Map<String, Long> out = new LinkedHashMap<>();
    for (int i = 0; i < h.length(); i++) {
      String name = p.slotName(i);
      long n = h.get(i);
      if (n > 0 || !(name.startsWith("default") || name.startsWith("unreadable"))) {
        out.merge(name, n, Long::sum);
      }
    }
    return out;
  }

  RuleHits ruleHitCounters() {
    return hits;
  }

  /** The shadow: the candidate and its counters. */
  static final class Shadow {
    final AccessPolicy candidate;
    final Instant since = Instant.now();
    final AtomicLong decided = new AtomicLong();
    final AtomicLong wouldAllow = new AtomicLong();
    final AtomicLong wouldDeny = new AtomicLong();

    Shadow(AccessPolicy candidate) {
      this.candidate = candidate;
    }

    ShadowStats stats() {
      return new ShadowStats(since, decided.get(), wouldAllow.get(), wouldDeny.get());
    }
  }

  /** One policy and its hits, replaced together so that a reader never pairs a policy with another's counts. */
  private static final class Hits implements RuleHits {
    final AccessPolicy policy;
    final AtomicLongArray counts;

    Hits(AccessPolicy policy) {
      this.policy = policy;
      this.counts = new AtomicLongArray(policy.decisionSlots());
    }

    @Override
    public AccessPolicy policy() {
      return policy;
    }

    @Override
    public long hits(int slot) {
      return counts.get(java.util.Objects.checkIndex(slot, counts.length()));
    }
  }
}
