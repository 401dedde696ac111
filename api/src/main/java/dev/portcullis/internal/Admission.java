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
 * the pending handshakes and their cap ({@link PendingHandshakes}), and one refusal line per refusal through one
 * throttle. The reject path at accept allocates nothing.
 */
final class Admission {
  /** Refusal lines have a logger of their own, so operators can turn them up or down alone. */
  private static final Logger refused = LoggerFactory.getLogger("dev.portcullis.refusals");
  /** Flips of a shadow policy, on a logger of their own. */
  private static final Logger shadowLog = LoggerFactory.getLogger("dev.portcullis.shadow");

  private volatile AccessPolicy policy;
  /** Hits per decision slot of {@link #policy}, with that policy; replaced with it. */
  private volatile Hits hits;
  private final Limiter limiter;
  /** The connections in their handshake and their cap (never 0: a server always has one). */
  final PendingHandshakes pending;
  private final Counters counters;
  private final RefusalLog refusals = new RefusalLog();
  /**
   * The socket peers the first step relays for (trusted proxies), whose per-source limits wait for
   * the client the step names; null when no step relays.
   */
  private final AccessPolicy relays;
  /** The source each relayed connection was counted as, from its handshake until its release. */
  private final Map<Channel, Source> relayedSources = new ConcurrentHashMap<>();
  /** The penalty box, or null. */
  final PenaltyBox penalties;

  /** A candidate policy decided beside the live one, and what it would have changed; or null. */
  private volatile Shadow shadow;

  /** The shadow: the candidate and its counters. */
  static final class Shadow {
    final AccessPolicy candidate;
    final java.time.Instant since = java.time.Instant.now();
    final java.util.concurrent.atomic.AtomicLong decided = new java.util.concurrent.atomic.AtomicLong();
    final java.util.concurrent.atomic.AtomicLong wouldAllow = new java.util.concurrent.atomic.AtomicLong();
    final java.util.concurrent.atomic.AtomicLong wouldDeny = new java.util.concurrent.atomic.AtomicLong();

    Shadow(AccessPolicy candidate) {
      this.candidate = candidate;
    }

    dev.portcullis.ShadowStats stats() {
      return new dev.portcullis.ShadowStats(since, decided.get(), wouldAllow.get(), wouldDeny.get());
    }
  }

  /** Unix peers are counted per gid rather than per uid. */
  private final boolean localByGroup;

  /**
   * The slowest pending handshake gives its slot to a newcomer once it has been pending this long
   * (or half the handshake timeout, if that is shorter): a client that means it finishes a
   * handshake in a few round trips, well within a second.
   */
  static final long EVICT_AFTER_NANOS = java.util.concurrent.TimeUnit.SECONDS.toNanos(1);

  Admission(AccessPolicy policy, Limits limits, List<Handshake> chain, long handshakeTimeoutNanos, Counters counters,
      PenaltyBox penalties, boolean localByGroup) {
    this.penalties = penalties;
    this.localByGroup = localByGroup;
    this.policy = policy;
    this.hits = new Hits(policy);
    this.limiter = limits.countsConnections() ? new Limiter(limits) : null;
    this.pending = new PendingHandshakes(limits.effectiveMaxPendingHandshakes(), Math.min(EVICT_AFTER_NANOS, handshakeTimeoutNanos / 2),
        counters.pendingHandshakes);
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
    Shadow s = shadow;
    if (s != null) {
      compare(s, d, s.candidate.decideIpv4(address), address, 0, 0, false, null);
    }
    if (!d.isAllowed()) {
      denied(d, address, 0, 0, false);
      return false;
    }
    if (penalties != null && penalties.anyBanned() && penalized(penalties.v4(address), address, 0, 0, false, null)) {
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
    Shadow s = shadow;
    if (s != null) {
      compare(s, d, s.candidate.decideIpv6(high, low), 0, high, low, true, null);
    }
    if (!d.isAllowed()) {
      denied(d, 0, high, low, true);
      return false;
    }
    if (penalties != null && penalties.anyBanned() && penalized(penalties.v6(high, low), 0, high, low, true, null)) {
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
    Shadow s = shadow;
    if (s != null) {
      compare(s, d, s.candidate.decide(credentials), 0, 0, 0, false, RefusalLog.local(credentials));
    }
    if (!d.isAllowed()) {
      long n = counters.denied.incrementAndGet();
      String more = refusals.due(RefusalLog.Kind.ADDRESS, RefusalLog.key(credentials));
      if (more != null) {
        refused.info("Denied {} by '{}' ({} denied so far{})", RefusalLog.local(credentials), d.reason(), n, more);
      }
      return false;
    }
    if (limiter == null) {
      return opened();
    }
    Limiter.Refusal r = limiter.tryAcquire(
        credentials == null ? null : Limiter.local(credentials, localByGroup), System.nanoTime());
    if (r == null) {
      return opened();
    }
    long n = limited(r);
    String more = refusals.due(RefusalLog.Kind.LIMIT, RefusalLog.key(credentials));
    if (more != null) {
      refused.info("Refused {} by the {} limit ({} refused by limits so far{})", RefusalLog.local(credentials),
          r.label(), n, more);
    }
    return false;
  }

  /** Counts a refusal by a limit (and by the rate limit, a part of them): the new limited count. */
  private long limited(Limiter.Refusal r) {
    if (r == Limiter.Refusal.RATE) {
      counters.rateLimited.incrementAndGet();
    }
    return counters.limited.incrementAndGet();
  }

  private void denied(Decision d, int v4, long high, long low, boolean v6) {
    long n = counters.denied.incrementAndGet();
    String more = refusals.due(RefusalLog.Kind.ADDRESS, key(v4, high, low, v6));
    if (more != null) {
      refused.info("Denied {} by '{}' ({} denied so far{})", text(v4, high, low, v6), d.reason(), n, more);
    }
  }

  /**
   * The policy allowed the peer; now the limits decide. A null source takes a slot in the total
   * only: a trusted proxy, whose relayed client is counted once its header is read.
   */
  private boolean withinLimits(Source source, int v4, long high, long low, boolean v6) {
    long now = System.nanoTime();
    Limiter.Refusal r = limiter.tryAcquire(source, now);
    if (r == null) {
      return opened();
    }
    if (r == Limiter.Refusal.RATE && penalties != null) {
      penalties.offence(v6 ? penalties.v6(high, low) : penalties.v4(v4), dev.portcullis.policy.Penalties.Offence.RATE_LIMITED,
          true, now);
    }
    long n = limited(r);
    String more = refusals.due(RefusalLog.Kind.LIMIT, key(v4, high, low, v6));
    if (more != null) {
      refused.info("Refused {} by the {} limit ({} refused by limits so far{})", text(v4, high, low, v6), r.label(), n,
          more);
    }
    return false;
  }

  /**
   * Whether {@code source} is serving a penalty: if so the connection is refused, counted and
   * (once a second) logged. {@code socket} names the connection when the source is a relayed
   * client, else the raw address does.
   */
  private boolean penalized(Source source, int v4, long high, long low, boolean v6, String relayed) {
    long[] ban = penalties.ban(source, System.nanoTime());
    if (ban == null) {
      return false;
    }
    long n = counters.penalized.incrementAndGet();
    String more = refusals.due(RefusalLog.Kind.PENALTY, RefusalLog.key(source.high(), source.low()));
    if (more != null) {
      refused.info("Refused {}: penalized until {} ({} offences; {} refused by the penalty box so far{})",
          relayed != null ? relayed : text(v4, high, low, v6), penalties.wall(ban[0]), ban[1], n, more);
    }
    return true;
  }

  /** Counts one decision of both policies; a flip is counted and logged (once a second at most). */
  private void compare(Shadow s, Decision live, Decision candidate, int v4, long high, long low, boolean v6,
      String who) {
    s.decided.incrementAndGet();
    if (live.isAllowed() == candidate.isAllowed()) {
      return;
    }
    long n = (live.isAllowed() ? s.wouldDeny : s.wouldAllow).incrementAndGet();
    String more = refusals.due(RefusalLog.Kind.SHADOW,
        who != null ? RefusalLog.key(-3L, who.hashCode()) : key(v4, high, low, v6));
    if (more != null) {
      shadowLog.info("Shadow policy would {} {} (live: {} by '{}'; shadow: {} by '{}'; {} such flips so far{})",
          live.isAllowed() ? "deny" : "allow", who != null ? who : text(v4, high, low, v6),
          live.isAllowed() ? "allow" : "deny", live.reason(), candidate.isAllowed() ? "allow" : "deny",
          candidate.reason(), n, more);
    }
  }

  /** Sets (or with null, drops) the shadow policy; its counters start at zero. */
  void shadow(AccessPolicy candidate) {
    this.shadow = candidate == null ? null : new Shadow(candidate);
  }

  Shadow currentShadow() {
    return shadow;
  }

  private static long key(int v4, long high, long low, boolean v6) {
    return v6 ? RefusalLog.key(high, low) : RefusalLog.key(v4);
  }

  private static String text(int v4, long high, long low, boolean v6) {
    return IpAddresses.format(v6 ? IpAddresses.ipv6(high, low) : IpAddresses.ipv4(v4));
  }

  private boolean opened() {
    counters.open.incrementAndGet();
    return true;
  }

  // ---- the handshake ----

  /**
   * A connection is about to start its handshake: true if it may (maybe in the slot of the oldest
   * pending one, which is then closed), false (counted, logged) if the cap is reached and every
   * pending handshake is younger than the eviction age.
   */
  boolean beginHandshake(Channel socket, PendingHandshakes.Entry entry) {
    if (pending.enter(entry) != PendingHandshakes.Outcome.REFUSED) {
      return true;
    }
    long n = counters.limited.incrementAndGet();
    String more = refusals.due(RefusalLog.Kind.LIMIT, RefusalLog.key(socket, null));
    if (more != null) {
      refused.info("Refused {} by the pending-handshakes limit of {} ({} refused by limits so far{})",
          RefusalLog.describe(socket, null), pending.cap(), n, more);
    }
    return false;
  }

  /**
   * A pending handshake gave its slot to a newcomer (its outcome, counted once, by the loop of the
   * connection): refused by the pending-handshakes limit, and an offence of a handshake too slow.
   */
  void evicted(Channel socket, InetSocketAddress replaced, long pendingNanos) {
    if (penalties != null) {
      offence(socket, replaced, dev.portcullis.policy.Penalties.Offence.HANDSHAKE_TIMEOUT);
    }
    long n = counters.limited.incrementAndGet();
    String more = refusals.due(RefusalLog.Kind.LIMIT, RefusalLog.key(socket, replaced));
    if (more != null) {
      refused.info("Closed {}: the slowest of {} pending handshakes ({} in its handshake) made room for a new"
          + " connection ({} refused by limits so far{})", RefusalLog.describe(socket, replaced), pending.cap(),
          dev.portcullis.policy.Durations.format(java.time.Duration.ofMillis(
              java.util.concurrent.TimeUnit.NANOSECONDS.toMillis(pendingNanos))), n, more);
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
  boolean admitAfterHandshake(Channel socket, InetSocketAddress replaced, PendingHandshakes.Entry entry) {
    if (!pending.leave(entry)) {
      evicted(socket, replaced, System.nanoTime() - entry.since);
      return false;
    }
    if (replaced != null) {
      Decision d = policy.decide(replaced.getAddress());
      count(d);
      Shadow s = shadow;
      if (s != null) {
        compare(s, d, s.candidate.decide(replaced.getAddress()), 0, 0, 0, false, RefusalLog.describe(socket, replaced));
      }
      if (!d.isAllowed()) {
        long n = counters.deniedAfterHandshake.incrementAndGet();
        String more = refusals.due(RefusalLog.Kind.AFTER_HANDSHAKE, RefusalLog.key(socket, replaced));
        if (more != null) {
          refused.info("Denied {} after the handshake by '{}' ({} denied after the handshake so far{})",
              RefusalLog.describe(socket, replaced), d.reason(), n, more);
        }
        return false;
      }
      if (penalties != null && penalties.anyBanned() && penalized(penalties.of(replaced.getAddress()), 0, 0, 0, false,
          RefusalLog.describe(socket, replaced))) {
        return false;
      }
    }
    if (limiter != null && relayed(socket)) {
      Source source = limiter.sourceOf(replaced != null ? replaced : socket.remoteAddress());
      long now = System.nanoTime();
      Limiter.Refusal r = limiter.tryAcquireSource(source, now);
      if (r == Limiter.Refusal.RATE && penalties != null && replaced != null) {
        penalties.offence(penalties.of(replaced.getAddress()), dev.portcullis.policy.Penalties.Offence.RATE_LIMITED,
            false, now);
      }
      if (r != null) {
        long n = limited(r);
        String more = refusals.due(RefusalLog.Kind.LIMIT, RefusalLog.key(socket, replaced));
        if (more != null) {
          refused.info("Refused {} after the handshake by the {} limit ({} refused by limits so far{})",
              RefusalLog.describe(socket, replaced), r.label(), n, more);
        }
        return false;
      }
      relayedSources.put(socket, source);
    }
    return true;
  }

  /** The chain failed or timed out: counted, and one INFO line a second per kind naming the peer and why. */
  void handshakeRefused(Channel socket, InetSocketAddress replaced, PendingHandshakes.Entry entry, String step,
      String why, boolean timedOut) {
    if (!pending.leave(entry)) {
      evicted(socket, replaced, System.nanoTime() - entry.since);
      return;
    }
    if (penalties != null) {
      offence(socket, replaced, timedOut ? dev.portcullis.policy.Penalties.Offence.HANDSHAKE_TIMEOUT
          : dev.portcullis.policy.Penalties.Offence.HANDSHAKE_FAILED);
    }
    if (timedOut) {
      long n = counters.handshakeTimeouts.incrementAndGet();
      String more = refusals.due(RefusalLog.Kind.HANDSHAKE_TIMEOUT, RefusalLog.key(socket, replaced));
      if (more != null) {
        refused.info("Refused {}: the handshake timed out in step '{}' ({} timed out so far{})",
            RefusalLog.describe(socket, replaced), step, n, more);
      }
    } else {
      long n = counters.handshakeFailures.incrementAndGet();
      String more = refusals.due(RefusalLog.Kind.HANDSHAKE_FAILED, RefusalLog.key(socket, replaced));
      if (more != null) {
        refused.info("Refused {}: handshake step '{}' failed: {} ({} failed so far{})",
            RefusalLog.describe(socket, replaced), step, why, n, more);
      }
    }
  }

  /**
   * Counts an offence against the connection's source: the client a trusted proxy named, else the
   * socket peer; nothing when a trusted proxy had not named anyone yet (a proxy is never banned),
   * nor for a Unix peer.
   */
  private void offence(Channel socket, InetSocketAddress replaced, dev.portcullis.policy.Penalties.Offence kind) {
    Source source;
    boolean direct;
    if (replaced != null) {
      source = penalties.of(replaced.getAddress());
      direct = false;
    } else if (relayed(socket) || !(socket.remoteAddress() instanceof InetSocketAddress ip)) {
      return;
    } else {
      source = penalties.of(ip.getAddress());
      direct = true;
    }
    long until = penalties.offence(source, kind, direct, System.nanoTime());
    String more = until == 0 ? null : refusals.due(RefusalLog.Kind.BANNED, RefusalLog.key(socket, replaced));
    if (more != null) {
      refused.info("Penalized {} until {} ({} offences within {}{})", RefusalLog.describe(socket, replaced),
          penalties.wall(until), penalties.settings().threshold(),
          dev.portcullis.policy.Durations.format(penalties.settings().window()), more);
    }
  }

  /** The idle timeout closed a connection: one INFO line a second at most. */
  void idle(Channel socket, java.net.SocketAddress peer, java.time.Duration timeout) {
    String more = refusals.due(RefusalLog.Kind.IDLE, RefusalLog.key(socket, peer));
    if (more != null) {
      refused.info("Closed {}: no bytes either way for {}{}", RefusalLog.describe(socket, peer),
          dev.portcullis.policy.Durations.format(timeout),
          more.isEmpty() ? "" : " (" + more.substring(2) + ")");
    }
  }

  /** No handler thread took an admitted connection. */
  void overloaded(Channel socket, java.net.SocketAddress peer) {
    long n = counters.overloaded.incrementAndGet();
    String more = refusals.due(RefusalLog.Kind.OVERLOAD, RefusalLog.key(socket, peer));
    if (more != null) {
      refused.warn("No handler thread free for {}; connection closed ({} refused so far{})",
          RefusalLog.describe(socket, peer), n, more);
    }
  }

  // ---- release ----

  /** Whether this connection's per-source limits wait for (or were taken by) its relayed client. */
  private boolean relayed(Channel socket) {
    return relays != null && socket.remoteAddress() instanceof InetSocketAddress ip
        && relays.decide(ip.getAddress()).isAllowed();
  }

  /** The source a direct connection was counted as: its uid (or gid) for a Unix peer, else its address. */
  private Source sourceOf(Channel channel) {
    java.util.Optional<PeerCredentials> credentials = channel.peerCredentials();
    return credentials.isPresent() ? Limiter.local(credentials.get(), localByGroup)
        : limiter.sourceOf(channel.remoteAddress());
  }

  void released(Channel channel) {
    counters.open.decrementAndGet();
    if (limiter != null) {
      // A relayed connection that never finished its handshake holds a slot in the total only.
      limiter.release(relayed(channel) ? relayedSources.remove(channel) : sourceOf(channel));
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
    this.hits = new Hits(newPolicy);
    this.policy = newPolicy;
  }

  private void count(Decision d) {
    AtomicLongArray h = hits.counts;
    int slot = d.slot();
    if (slot >= 0 && slot < h.length()) {
      h.incrementAndGet(slot);
    }
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
    if (penalties != null) {
      out.put("penalty box", counters.penalized.get());
    }
    return out;
  }

  /** The live hit counters of the policy in force: one array read per slot, nothing copied. */
  dev.portcullis.RuleHits ruleHitCounters() {
    return hits;
  }

  /** One policy and its hits, replaced together so that a reader never pairs a policy with another's counts. */
  private static final class Hits implements dev.portcullis.RuleHits {
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
