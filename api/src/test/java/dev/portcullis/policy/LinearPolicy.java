package dev.portcullis.policy;

import java.util.List;
import java.util.Optional;

/**
 * The plain reference the fast matcher is compared against: scans every rule, keeps the longest
 * matching prefix, lets deny win at equal length, and falls back to the same default as
 * {@link AccessPolicy} (deny if any allow rule exists, allow if only deny rules, deny if empty).
 *
 * <p>It deliberately shares no matching code with the production classes: prefixes are read back
 * from {@link Cidr#network()} bytes and compared bit by bit with its own shifts.
 */
final class LinearPolicy {
  /** What the reference decided: the allowed flag and the winning rule, empty for the default. */
  record Verdict(boolean allowed, Optional<Rule> rule) {}

  private final Rule[] rules;
  private final boolean[] isV4;
  private final long[] netHi;
  private final long[] netLo;
  private final int[] length;
  private final boolean defaultAllowed;

  LinearPolicy(List<Rule> ruleList) {
    int n = ruleList.size();
    rules = ruleList.toArray(new Rule[0]);
    isV4 = new boolean[n];
    netHi = new long[n];
    netLo = new long[n];
    length = new int[n];
    boolean anyAllow = false;
    for (int i = 0; i < n; i++) {
      Cidr c = rules[i].cidr();
      byte[] b = c.network().getAddress();
      length[i] = c.prefixLength();
      anyAllow |= rules[i].isAllow();
      if (b.length == 4) {
        isV4[i] = true;
        netLo[i] = bytesToLong(b, 0, 4);
      } else {
        netHi[i] = bytesToLong(b, 0, 8);
        netLo[i] = bytesToLong(b, 8, 8);
      }
    }
    defaultAllowed = n > 0 && !anyAllow;
  }

  private static long bytesToLong(byte[] b, int off, int len) {
    long v = 0;
    for (int i = 0; i < len; i++) {
      v = (v << 8) | (b[off + i] & 0xFF);
    }
    return v;
  }

  /** Whether the top {@code bits} bits (0..64) of {@code a} and {@code b} agree. */
  private static boolean topBitsEqual(long a, long b, int bits) {
    if (bits <= 0) {
      return true;
    }
    return ((a ^ b) >>> (64 - bits)) == 0;
  }

  Verdict decideIpv4(int address) {
    long a = (address & 0xFFFF_FFFFL) << 32; // left-align the 32 bits
    int best = -1;
    for (int i = 0; i < rules.length; i++) {
      if (!isV4[i] || !topBitsEqual(a, netLo[i] << 32, length[i])) {
        continue;
      }
      best = better(best, i);
    }
    return verdict(best);
  }

  Verdict decideIpv6(long hi, long lo) {
    if (hi == 0 && (lo >>> 32) == 0xFFFFL) {
      return decideIpv4((int) lo);
    }
    int best = -1;
    for (int i = 0; i < rules.length; i++) {
      if (isV4[i]) {
        continue;
      }
      int len = length[i];
      boolean match = len <= 64
          ? topBitsEqual(hi, netHi[i], len)
          : hi == netHi[i] && topBitsEqual(lo, netLo[i], len - 64);
      if (match) {
        best = better(best, i);
      }
    }
    return verdict(best);
  }

  /** How many rules match an IPv4 address; the randomized tests use it to prove nesting happens. */
  int matchCountIpv4(int address) {
    long a = (address & 0xFFFF_FFFFL) << 32;
    int n = 0;
    for (int i = 0; i < rules.length; i++) {
      if (isV4[i] && topBitsEqual(a, netLo[i] << 32, length[i])) {
        n++;
      }
    }
    return n;
  }

  /** How many rules match an IPv6 address (mapped addresses count as IPv4). */
  int matchCountIpv6(long hi, long lo) {
    if (hi == 0 && (lo >>> 32) == 0xFFFFL) {
      return matchCountIpv4((int) lo);
    }
    int n = 0;
    for (int i = 0; i < rules.length; i++) {
      int len = length[i];
      if (!isV4[i] && (len <= 64
          ? topBitsEqual(hi, netHi[i], len)
          : hi == netHi[i] && topBitsEqual(lo, netLo[i], len - 64))) {
        n++;
      }
    }
    return n;
  }

  private int better(int best, int candidate) {
    if (best < 0 || length[candidate] > length[best]) {
      return candidate;
    }
    if (length[candidate] == length[best] && rules[best].isAllow() && !rules[candidate].isAllow()) {
      return candidate;
    }
    return best;
  }

  private Verdict verdict(int best) {
    return best < 0
        ? new Verdict(defaultAllowed, Optional.empty())
        : new Verdict(rules[best].isAllow(), Optional.of(rules[best]));
  }
}
