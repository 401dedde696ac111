package dev.portcullis.admission;

import dev.portcullis.policy.Cidr;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;

/**
 * The external bans of a penalty box ({@code AdmissionChain.ban}): whole ranges of any length, kept
 * by prefix length over the 128-bit space (an IPv4 {@code /n} is the IPv4-mapped {@code /96+n}), so
 * that a peer is looked up once per length in use, not once per ban. Written under the penalty
 * box's lock; {@link #find} and {@link #size} read without it, so an accept while bans of ranges are
 * in force (a CrowdSec list) takes no lock: the maps are concurrent and the lengths in use are
 * published, copied on write, through a volatile array.
 */
final class RangeBans {
  /** One external ban. */
  static final class Ban {
    final Cidr range;
    final Source key;
    volatile long until;
    volatile String reason;

    Ban(Cidr range, Source key, long until, String reason) {
      this.range = range;
      this.key = key;
      this.until = until;
      this.reason = reason;
    }
  }

  @SuppressWarnings("unchecked")
  private final Map<Source, Ban>[] byLength = new Map[129];
  /** The prefix lengths in use, shortest first (few: a list beats a scan of all 129). */
  private volatile int[] lengths = new int[0];
  private volatile int size;

  int size() {
    return size;
  }

  /** The prefix length of {@code range} in the 128-bit space. */
  static int bits(Cidr range) {
    return range.isIpv4() ? 96 + range.prefixLength() : range.prefixLength();
  }

  /** The key of {@code range}: its network in the 128-bit space. */
  static Source key(Cidr range) {
    return new Source(dev.portcullis.policy.IpAddresses.high(range.network()),
        dev.portcullis.policy.IpAddresses.low(range.network()));
  }

  private static Source mask(long high, long low, int bits) {
    long mh = bits >= 64 ? -1L : bits == 0 ? 0 : -1L << (64 - bits);
    long ml = bits <= 64 ? 0 : bits == 128 ? -1L : -1L << (128 - bits);
    return new Source(high & mh, low & ml);
  }

  Ban get(Cidr range) {
    Map<Source, Ban> m = byLength[bits(range)];
    return m == null ? null : m.get(key(range));
  }

  void put(Ban ban) {
    int bits = bits(ban.range);
    Map<Source, Ban> m = byLength[bits];
    if (m == null) {
      m = new java.util.concurrent.ConcurrentHashMap<>();
      byLength[bits] = m;
      int[] next = new int[lengths.length + 1];
      int i = 0;
      int j = 0;
      for (; i < lengths.length && lengths[i] < bits; i++) {
        next[j++] = lengths[i];
      }
      next[j++] = bits;
      for (; i < lengths.length; i++) {
        next[j++] = lengths[i];
      }
      lengths = next;
    }
    if (m.put(ban.key, ban) == null) {
      size++;
    }
  }

  Ban remove(Cidr range) {
    int bits = bits(range);
    Map<Source, Ban> m = byLength[bits];
    Ban b = m == null ? null : m.remove(key(range));
    if (b != null) {
      size--;
      dropIfEmpty(bits);
    }
    return b;
  }

  private void dropIfEmpty(int bits) {
    if (!byLength[bits].isEmpty()) {
      return;
    }
    byLength[bits] = null;
    int[] next = new int[lengths.length - 1];
    int j = 0;
    for (int l : lengths) {
      if (l != bits) {
        next[j++] = l;
      }
    }
    lengths = next;
  }

  /**
   * The ban in force at {@code now} covering the 128-bit address, the longest prefix first; null if
   * none. An ended ban is passed over (the sweep removes it and says so). Needs no lock.
   */
  Ban find(long high, long low, long now) {
    int[] in = lengths;
    for (int i = in.length - 1; i >= 0; i--) {
      Map<Source, Ban> m = byLength[in[i]];
      Ban b = m == null ? null : m.get(mask(high, low, in[i])); // null: that length just went
      if (b != null && b.until - now > 0) {
        return b;
      }
    }
    return null;
  }

  /** Removes and returns the bans that ended by {@code now}. */
  List<Ban> expire(long now) {
    List<Ban> out = null;
    for (int bits : lengths.clone()) {
      Iterator<Ban> it = byLength[bits].values().iterator();
      while (it.hasNext()) {
        Ban b = it.next();
        if (b.until - now <= 0) {
          it.remove();
          size--;
          if (out == null) {
            out = new ArrayList<>();
          }
          out.add(b);
        }
      }
      dropIfEmpty(bits);
    }
    return out == null ? List.of() : out;
  }

  /** Every ban. */
  List<Ban> all() {
    List<Ban> out = new ArrayList<>(size);
    for (int bits : lengths) {
      out.addAll(byLength[bits].values());
    }
    return out;
  }
}
