package dev.portcullis.admission;

import java.util.HashMap;
import java.util.Iterator;
import java.util.Map;

/**
 * Connection limits for one server: in total, per source, and a token bucket per source. A source
 * is an IPv4 address or an IPv6 prefix (/64 by default), each masked to the configured length.
 * Checked only for peers the policy allowed, so a flood of denied peers never reaches it. The
 * limits can be replaced while connections are open ({@link #update}); the source prefix cannot,
 * since the open connections are counted under it. While no limit counts connections, nothing is
 * counted and no lock is taken.
 *
 * <p>Memory is bounded: per-source counts exist only for sources with open connections, and rate
 * buckets for at most {@link #MAX_BUCKETS} sources; a full bucket is the same as no bucket, so
 * those are dropped first, and if a flood of distinct sources still fills the table, the oldest
 * entries are forgotten (each then gets a fresh burst) rather than memory growing. The rate limit
 * refuses only the source over it; the service itself never switches off.
 */
final class Limiter {
  static final int MAX_BUCKETS = 65_536;

  private int maxConnections;
  private int maxPerSource;
  private double tokensPerNano;
  private double burst;
  /** Whether any limit counts connections: read without the lock on every admission and release. */
  private volatile boolean counting;
  private final Source.Prefix prefix;
  private final int v4Bits;
  private final int v6Bits;
  private int current;
  private final Map<Source, int[]> perSource = new HashMap<>();
  private Map<Source, Bucket> buckets;

  private static final class Bucket {
    double tokens;
    long stamp;
  }

  /** The limiter for these limits (total, per source, rate, source prefix; the pending cap is {@link PendingHandshakes}'). */
  Limiter(dev.portcullis.policy.Limits limits) {
    this(limits.maxConnections(), limits.maxPerSource(), limits.ratePerSecond(), limits.burst(),
        limits.effectiveIpv4Bits(), limits.effectiveIpv6Bits());
  }

  /**
   * @param maxConnections 0 for no total limit
   * @param maxPerSource 0 for no per-source limit
   * @param perSecond connections a second per source, 0 for no rate limit
   * @param burst the bucket size, at least 1 when {@code perSecond > 0}
   * @param v4Bits the IPv4 prefix length of a source, 1..32
   * @param v6Bits the IPv6 prefix length of a source, 1..128
   */
  Limiter(int maxConnections, int maxPerSource, double perSecond, int burst, int v4Bits, int v6Bits) {
    this.prefix = new Source.Prefix(v4Bits, v6Bits);
    this.v4Bits = v4Bits;
    this.v6Bits = v6Bits;
    set(maxConnections, maxPerSource, perSecond, burst);
  }

  private void set(int maxConnections, int maxPerSource, double perSecond, int burst) {
    this.maxConnections = maxConnections;
    this.maxPerSource = maxPerSource;
    this.tokensPerNano = perSecond / 1e9;
    this.burst = burst;
    if (perSecond <= 0) {
      buckets = null;
    } else if (buckets == null) {
      buckets = new HashMap<>();
    }
    if (maxPerSource == 0) {
      perSource.clear();
    }
    this.counting = maxConnections > 0 || maxPerSource > 0 || perSecond > 0;
  }

  /**
   * Puts {@code limits} in force for the connections admitted from now on; the open ones stay open.
   * Counting starts from {@code openNow} when no limit counted before; open connections from before
   * a per-source limit existed are not counted against it. The source prefix stays as it was.
   *
   * @param openNow the connections open now (what the total starts from when it was not counted)
   * @return whether the source prefix of {@code limits} is the one in force (else it was not applied)
   */
  synchronized boolean update(dev.portcullis.policy.Limits limits, int openNow) {
    if (!counting) {
      current = openNow;
    }
    set(limits.maxConnections(), limits.maxPerSource(), limits.ratePerSecond(), limits.burst());
    return limits.effectiveIpv4Bits() == v4Bits && limits.effectiveIpv6Bits() == v6Bits;
  }

  /** The source of an IPv4 peer, as the IPv4-mapped IPv6 address of its masked prefix. */
  Source v4(int address) {
    return prefix.v4(address);
  }

  /** The source of an IPv6 peer; IPv4-mapped addresses count as IPv4. */
  Source v6(long high, long low) {
    return prefix.v6(high, low);
  }

  /**
   * The source of a Unix domain socket peer: its uid, or its primary gid when {@code byGroup}. The
   * high word is all ones, which no IPv6 prefix of the (TCP) peers of another server shares.
   */
  static Source local(dev.portcullis.policy.PeerCredentials credentials, boolean byGroup) {
    return new Source(-1L, byGroup ? 1L << 32 | (credentials.gid() & 0xFFFF_FFFFL) : credentials.uid() & 0xFFFF_FFFFL);
  }

  /** The source of a socket or relayed peer; null for anything but an IP peer (a Unix peer). */
  Source sourceOf(java.net.SocketAddress address) {
    return address instanceof java.net.InetSocketAddress ip ? prefix.of(ip.getAddress()) : null;
  }

  /**
   * Takes a slot for a connection from {@code source}: null if it got one, else which limit said
   * no (returned, not kept, so that loops refusing at once each learn their own reason). A null
   * source takes a slot in the total only: a local peer, or one whose source is not known yet (see
   * {@link #tryAcquireSource}).
   */
  /** Whether any limit counts connections now (one volatile read). */
  boolean counting() {
    return counting;
  }

  Refusal tryAcquire(Source source, long nowNanos) {
    return counting ? countedAcquire(source, nowNanos) : null;
  }

  private synchronized Refusal countedAcquire(Source source, long nowNanos) {
    if (maxConnections > 0 && current >= maxConnections) {
      return Refusal.TOTAL_LIMITED;
    }
    Refusal bySource = source == null ? null : countedAcquireSource(source, nowNanos);
    if (bySource == null) {
      current++;
    }
    return bySource;
  }

  /**
   * Counts a connection that already holds a slot in the total against its source, once the source
   * is known (the client a trusted proxy relays): null if counted, else which limit said no, and
   * the caller closes it.
   */
  Refusal tryAcquireSource(Source source, long nowNanos) {
    return counting ? countedAcquireSource(source, nowNanos) : null;
  }

  private synchronized Refusal countedAcquireSource(Source source, long nowNanos) {
    int[] count = maxPerSource == 0 ? null : perSource.get(source);
    if (count != null && count[0] >= maxPerSource) {
      return Refusal.SOURCE_LIMITED;
    }
    if (buckets != null && !takeToken(source, nowNanos)) {
      return Refusal.RATE_LIMITED;
    }
    if (maxPerSource > 0) {
      if (count == null) {
        perSource.put(source, new int[] {1});
      } else {
        count[0]++;
      }
    }
    return null;
  }

  /** A connection from {@code source} (null for a local peer) closed. */
  void release(Source source) {
    if (counting) {
      countedRelease(source);
    }
  }

  private synchronized void countedRelease(Source source) {
    if (current > 0) {
      current--; // a connection admitted before counting began was in the total it started from
    }
    if (source != null && maxPerSource > 0) {
      int[] count = perSource.get(source);
      if (count != null && --count[0] <= 0) {
        perSource.remove(source);
      }
    }
  }

  synchronized int current() {
    return current;
  }

  /** Sources with an open connection or a partly spent bucket: what the limiter holds in memory. */
  synchronized int trackedSources() {
    return perSource.size() + (buckets == null ? 0 : buckets.size());
  }

  private boolean takeToken(Source source, long now) {
    Bucket b = buckets.get(source);
    if (b == null) {
      if (buckets.size() >= MAX_BUCKETS) {
        makeRoom(now);
      }
      b = new Bucket();
      b.tokens = burst;
      b.stamp = now;
      buckets.put(source, b);
    } else {
      b.tokens = Math.min(burst, b.tokens + (now - b.stamp) * tokensPerNano);
      b.stamp = now;
    }
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return true;
    }
    return false;
  }

  /** Drops buckets that have refilled (the same as absent); if none has, forgets the oldest tenth. */
  private void makeRoom(long now) {
    buckets.values().removeIf(b -> b.tokens + (now - b.stamp) * tokensPerNano >= burst);
    if (buckets.size() >= MAX_BUCKETS) {
      int drop = MAX_BUCKETS / 10;
      Iterator<Map.Entry<Source, Bucket>> it = buckets.entrySet().iterator();
      long oldest = Long.MAX_VALUE;
      for (Bucket b : buckets.values()) {
        oldest = Math.min(oldest, b.stamp);
      }
      long cutoff = oldest + (now - oldest) / 2;
      while (it.hasNext() && drop > 0) {
        if (it.next().getValue().stamp <= cutoff) {
          it.remove();
          drop--;
        }
      }
      Iterator<Source> any = buckets.keySet().iterator();
      while (buckets.size() >= MAX_BUCKETS && any.hasNext()) {
        any.next();
        any.remove();
      }
    }
  }
}
