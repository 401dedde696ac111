package dev.portcullis.admission;

import dev.portcullis.policy.CidrSet;
import dev.portcullis.policy.Limits;
import dev.portcullis.policy.PeerCredentials;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The last gate: the connection limits ({@link Limiter}: total, per source, rate) and the cap on
 * pending handshakes ({@link PendingHandshakes}), both replaced when the limits are. A connection
 * from a trusted proxy takes a slot in the total at accept; its per-source limits count the client
 * the proxy names, once the handshake has named it.
 */
final class LimitsGate {
  private final Limiter limiter;
  final PendingHandshakes pending;
  /** The socket peers the first step relays for (trusted proxies); empty when no step relays. */
  private final CidrSet relays;
  /** Unix peers are counted per gid rather than per uid. */
  private final boolean localByGroup;
  /** The source each relayed connection was counted as, from its handshake until its release. */
  private final Map<Object, Source> relayedSources = new ConcurrentHashMap<>();
  private volatile Limits limits;

  LimitsGate(Limits limits, java.util.List<dev.portcullis.policy.Cidr> relayRanges, boolean localByGroup,
      long evictAfterNanos, Counters counters) {
    this.limits = limits;
    this.limiter = new Limiter(limits);
    this.pending = new PendingHandshakes(limits.effectiveMaxPendingHandshakes(), evictAfterNanos,
        counters.pendingHandshakes);
    this.relays = CidrSet.of(relayRanges);
    this.localByGroup = localByGroup;
  }

  Limits limits() {
    return limits;
  }

  /**
   * Puts {@code newLimits} in force (see {@link Limiter#update}); false if their source prefix
   * differs from the one in force, which stays.
   */
  synchronized boolean update(Limits newLimits, int openNow) {
    boolean samePrefix = limiter.update(newLimits, openNow);
    pending.cap(newLimits.effectiveMaxPendingHandshakes());
    this.limits = newLimits;
    return samePrefix;
  }

  /** A range trusted to relay from everywhere (a /0), or null: per-source limits behind it would mean nothing. */
  dev.portcullis.policy.Cidr trustedFromEverywhere() {
    return relays.everywhere();
  }

  /** An IP peer at accept. */
  Refusal admit(long high, long low, long now) {
    if (!limiter.counting()) {
      return Refusal.NONE;
    }
    boolean relayed = relays.contains(high, low);
    Refusal r = limiter.tryAcquire(relayed ? null : limiter.v6(high, low), now);
    return r == null ? Refusal.NONE : r;
  }

  /** A Unix peer at accept (null credentials: unreadable, a slot in the total only). */
  Refusal admit(PeerCredentials credentials, long now) {
    if (!limiter.counting()) {
      return Refusal.NONE;
    }
    Refusal r = limiter.tryAcquire(credentials == null ? null : Limiter.local(credentials, localByGroup), now);
    return r == null ? Refusal.NONE : r;
  }

  Refusal beginHandshake(PendingHandshake h) {
    return pending.enter(h.entry) == PendingHandshakes.Outcome.REFUSED ? Refusal.HANDSHAKES_LIMITED : Refusal.NONE;
  }

  /** The handshake ended: false if it had been evicted, so the eviction is its outcome. */
  boolean leave(PendingHandshake h) {
    return pending.leave(h.entry);
  }

  /** After the handshake: the per-source limits of the client a trusted proxy relays (or the proxy itself). */
  Refusal afterHandshake(PendingHandshake h, InetSocketAddress replaced, long now) {
    if (!limiter.counting() || !relayed(h.socketPeer)) {
      return Refusal.NONE;
    }
    Source source = limiter.sourceOf(replaced != null ? replaced : h.socketPeer);
    Refusal r = limiter.tryAcquireSource(source, now);
    if (r != null) {
      return r;
    }
    relayedSources.put(h.connection, source);
    return Refusal.NONE;
  }

  /** Whether this connection's per-source limits wait for (or were taken by) its relayed client. */
  boolean relayed(SocketAddress socketPeer) {
    return socketPeer instanceof InetSocketAddress ip && ip.getAddress() != null && relays.contains(ip.getAddress());
  }

  void released(Object connection, SocketAddress socketPeer, PeerCredentials credentials) {
    if (relayed(socketPeer)) {
      // A relayed connection that never finished its handshake holds a slot in the total only.
      limiter.release(relayedSources.remove(connection));
    } else if (limiter.counting()) {
      limiter.release(credentials != null ? Limiter.local(credentials, localByGroup) : limiter.sourceOf(socketPeer));
    }
  }
}
