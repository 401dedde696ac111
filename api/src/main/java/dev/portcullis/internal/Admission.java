package dev.portcullis.internal;

import dev.portcullis.handshake.Handshake;
import dev.portcullis.policy.AccessPolicy;
import dev.portcullis.policy.Decision;
import dev.portcullis.policy.IpAddresses;
import dev.portcullis.policy.Limits;
import dev.portcullis.policy.PeerCredentials;
import dev.portcullis.spi.Channel;
import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLongArray;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Who gets in, in one place: the policy at accept and again after a step replaced the peer, the
 * limits (counted for the socket peer, or for the client a trusted proxy relays), the rule hits,
 * the pending-handshake count in both directions, and one refusal line per refusal through one
 * throttle. The reject path at accept allocates nothing.
 */
final class Admission {
  /** Refusal lines have a logger of their own, so operators can turn them up or down alone. */
  private static final Logger refused = LoggerFactory.getLogger("dev.portcullis.refusals");

  private volatile AccessPolicy policy;
  /** Hits per decision slot of {@link #policy}; replaced with it. */
  private volatile AtomicLongArray hits;
  private final Limiter limiter;
  private final int maxPendingHandshakes;
  private final Counters counters;
  private final RefusalLog refusals = new RefusalLog();
  /**
   * The socket peers the first step relays for (trusted proxies), whose per-source limits wait for
   * the client the step names; null when no step relays.
   */
  private final AccessPolicy relays;
  /** The source each relayed connection was counted as, from its handshake until its release. */
  private final Map<Channel, Limiter.Source> relayedSources = new ConcurrentHashMap<>();

  Admission(AccessPolicy policy, Limits limits, List<Handshake> chain, Counters counters) {
    this.policy = policy;
    this.hits = new AtomicLongArray(policy.decisionSlots());
    this.limiter = limits.countsConnections() ? new Limiter(limits) : null;
    this.maxPendingHandshakes = limits.maxPendingHandshakes();
    this.counters = counters;
    this.relays = relays(chain);
  }

  private static AccessPolicy relays(List<Handshake> chain) {
    if (chain.isEmpty() || chain.get(0).relaysFrom().isEmpty()) {
      return null;
    }
    List<dev.portcullis.policy.Rule> rules = new ArrayList<>();
    for (dev.portcullis.policy.Cidr c : chain.get(0).relaysFrom()) {
      rules.add(dev.portcullis.policy.Rule.allow(c));
    }
    return AccessPolicy.of(rules);
  }

  // ---- at accept, on the raw peer ----

  boolean admitIpv4(int address) {
    counters.accepted.incrementAndGet();
    Decision d = policy.decideIpv4(address);
    count(d);
    if (!d.isAllowed()) {
      denied(d, address, 0, 0, false);
      return false;
    }
    if (limiter == null) {
      return opened();
    }
    boolean relayed = relays != null && relays.decideIpv4(address).isAllowed();
    return withinLimits(relayed ? null : limiter.v4(address), address, 0, 0, false);
  }

  boolean admitIpv6(long high, long low) {
    counters.accepted.incrementAndGet();
    Decision d = policy.decideIpv6(high, low);
    count(d);
    if (!d.isAllowed()) {
      denied(d, 0, high, low, true);
      return false;
    }
    if (limiter == null) {
      return opened();
    }
    boolean relayed = relays != null && relays.decideIpv6(high, low).isAllowed();
    return withinLimits(relayed ? null : limiter.v6(high, low), 0, high, low, true);
  }

  boolean admitLocal(PeerCredentials credentials) {
    counters.accepted.incrementAndGet();
    Decision d = policy.decide(credentials);
    count(d);
    if (!d.isAllowed()) {
      long n = counters.denied.incrementAndGet();
      if (refusals.due(RefusalLog.Kind.ADDRESS)) {
        refused.info("Denied {} by '{}' ({} denied so far)", RefusalLog.local(credentials), d.reason(), n);
      }
      return false;
    }
    if (limiter == null) {
      return opened();
    }
    Limiter.Refusal r = limiter.tryAcquire(null, System.nanoTime());
    if (r == null) {
      return opened();
    }
    long n = counters.limited.incrementAndGet();
    if (refusals.due(RefusalLog.Kind.LIMIT)) {
      refused.info("Refused {} by the {} limit ({} refused by limits so far)", RefusalLog.local(credentials),
          r.label(), n);
    }
    return false;
  }

  private void denied(Decision d, int v4, long high, long low, boolean v6) {
    long n = counters.denied.incrementAndGet();
    if (refusals.due(RefusalLog.Kind.ADDRESS)) {
      refused.info("Denied {} by '{}' ({} denied so far)", text(v4, high, low, v6), d.reason(), n);
    }
  }

  /**
   * The policy allowed the peer; now the limits decide. A null source takes a slot in the total
   * only: a trusted proxy, whose relayed client is counted once its header is read.
   */
  private boolean withinLimits(Limiter.Source source, int v4, long high, long low, boolean v6) {
    Limiter.Refusal r = limiter.tryAcquire(source, System.nanoTime());
    if (r == null) {
      return opened();
    }
    long n = counters.limited.incrementAndGet();
    if (refusals.due(RefusalLog.Kind.LIMIT)) {
      refused.info("Refused {} by the {} limit ({} refused by limits so far)", text(v4, high, low, v6), r.label(), n);
    }
    return false;
  }

  private static String text(int v4, long high, long low, boolean v6) {
    return IpAddresses.format(v6 ? IpAddresses.ipv6(high, low) : IpAddresses.ipv4(v4));
  }

  private boolean opened() {
    counters.open.incrementAndGet();
    return true;
  }

  // ---- the handshake ----

  /** A connection is about to start its handshake: true if it may, false (counted, logged) if over the cap. */
  boolean beginHandshake(Channel socket) {
    // Several loops begin handshakes at once: take the slot with a compare-and-set, so the cap
    // holds exactly rather than each loop passing the same check.
    java.util.concurrent.atomic.AtomicInteger pending = counters.pendingHandshakes;
    for (int now = pending.get(); ; now = pending.get()) {
      if (maxPendingHandshakes > 0 && now >= maxPendingHandshakes) {
        long n = counters.limited.incrementAndGet();
        if (refusals.due(RefusalLog.Kind.LIMIT)) {
          refused.info("Refused {} by the pending-handshakes limit of {} ({} refused by limits so far)",
              RefusalLog.describe(socket, null), maxPendingHandshakes, n);
        }
        return false;
      }
      if (pending.compareAndSet(now, now + 1)) {
        return true;
      }
    }
  }

  /**
   * The chain finished: if a step replaced the peer, the policy decides again on the new one;
   * then, for a connection from a trusted proxy, the per-source limits count the client it relays
   * (or the proxy, if the step kept its address).
   *
   * @param socket the accepted channel, as the transport knows it (not a codec on top)
   * @param replaced the peer a step put in place of the socket's, or null
   */
  boolean admitAfterHandshake(Channel socket, InetSocketAddress replaced) {
    counters.pendingHandshakes.decrementAndGet();
    if (replaced != null) {
      Decision d = policy.decide(replaced.getAddress());
      count(d);
      if (!d.isAllowed()) {
        long n = counters.deniedAfterHandshake.incrementAndGet();
        if (refusals.due(RefusalLog.Kind.AFTER_HANDSHAKE)) {
          refused.info("Denied {} after the handshake by '{}' ({} denied after the handshake so far)",
              RefusalLog.describe(socket, replaced), d.reason(), n);
        }
        return false;
      }
    }
    if (limiter != null && relayed(socket)) {
      Limiter.Source source = limiter.sourceOf(replaced != null ? replaced : socket.remoteAddress());
      Limiter.Refusal r = limiter.tryAcquireSource(source, System.nanoTime());
      if (r != null) {
        long n = counters.limited.incrementAndGet();
        if (refusals.due(RefusalLog.Kind.LIMIT)) {
          refused.info("Refused {} after the handshake by the {} limit ({} refused by limits so far)",
              RefusalLog.describe(socket, replaced), r.label(), n);
        }
        return false;
      }
      relayedSources.put(socket, source);
    }
    return true;
  }

  /** The chain failed or timed out: counted, and one INFO line a second per kind naming the peer and why. */
  void handshakeRefused(Channel socket, InetSocketAddress replaced, String step, String why, boolean timedOut) {
    counters.pendingHandshakes.decrementAndGet();
    if (timedOut) {
      long n = counters.handshakeTimeouts.incrementAndGet();
      if (refusals.due(RefusalLog.Kind.HANDSHAKE_TIMEOUT)) {
        refused.info("Refused {}: the handshake timed out in step '{}' ({} timed out so far)",
            RefusalLog.describe(socket, replaced), step, n);
      }
    } else {
      long n = counters.handshakeFailures.incrementAndGet();
      if (refusals.due(RefusalLog.Kind.HANDSHAKE_FAILED)) {
        refused.info("Refused {}: handshake step '{}' failed: {} ({} failed so far)", RefusalLog.describe(socket, replaced),
            step, why, n);
      }
    }
  }

  /** The idle timeout closed a connection: one INFO line a second at most. */
  void idle(Channel socket, java.net.SocketAddress peer, java.time.Duration timeout) {
    if (refusals.due(RefusalLog.Kind.IDLE)) {
      refused.info("Closed {}: no bytes either way for {}", RefusalLog.describe(socket, peer),
          timeout.toString().substring(2).toLowerCase(java.util.Locale.ROOT));
    }
  }

  /** No handler thread took an admitted connection. */
  void overloaded(Channel socket, java.net.SocketAddress peer) {
    long n = counters.overloaded.incrementAndGet();
    if (refusals.due(RefusalLog.Kind.OVERLOAD)) {
      refused.warn("No handler thread free for {}; connection closed ({} refused so far)",
          RefusalLog.describe(socket, peer), n);
    }
  }

  // ---- release ----

  /** Whether this connection's per-source limits wait for (or were taken by) its relayed client. */
  private boolean relayed(Channel socket) {
    return relays != null && socket.remoteAddress() instanceof InetSocketAddress ip
        && relays.decide(ip.getAddress()).isAllowed();
  }

  void released(Channel channel) {
    counters.open.decrementAndGet();
    if (limiter != null) {
      // A relayed connection that never finished its handshake holds a slot in the total only.
      limiter.release(relayed(channel) ? relayedSources.remove(channel) : limiter.sourceOf(channel.remoteAddress()));
    }
  }

  // ---- the policy and its hits ----

  AccessPolicy policy() {
    return policy;
  }

  /** Replaces the policy; connections accepted from now on are decided by the new one. */
  void updatePolicy(AccessPolicy newPolicy) {
    // A decision made by the old policy in the meantime may land in the new array: a stale hit,
    // never a crash, since the slot is checked.
    this.hits = new AtomicLongArray(newPolicy.decisionSlots());
    this.policy = newPolicy;
  }

  private void count(Decision d) {
    AtomicLongArray h = hits;
    int slot = d.slot();
    if (slot >= 0 && slot < h.length()) {
      h.incrementAndGet(slot);
    }
  }

  /** Hits per rule (and per default) of the current policy, in the policy's order; unhit defaults left out. */
  Map<String, Long> ruleHits() {
    AccessPolicy p = policy;
    AtomicLongArray h = hits;
    Map<String, Long> out = new LinkedHashMap<>();
    for (int i = 0; i < Math.min(h.length(), p.decisionSlots()); i++) {
      String name = p.slotName(i);
      long n = h.get(i);
      if (n > 0 || !(name.startsWith("default") || name.startsWith("unreadable"))) {
        out.merge(name, n, Long::sum);
      }
    }
    return out;
  }
}
