package dev.portcullis.policy;

import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * One address family of a policy, compiled: the address space cut into intervals, each labelled
 * with the index of the most specific rule covering it. Because CIDR prefixes either nest or are
 * disjoint, one sorted sweep with a stack of enclosing prefixes labels every interval, and a lookup
 * is a binary search for the last interval start at or below the key. Starts are stored with the
 * sign bit flipped so that plain signed comparisons order them as unsigned.
 */
final class IntervalTable {
  /** IPv4 tables larger than this get a 65,536-entry index on the top 16 bits of the address. */
  private static final int INDEX_THRESHOLD = 256;

  private final long[] startHi;
  private final long[] startLo;
  private final int[] rule;
  private final int[] index;
  private final int size;

  private IntervalTable(long[] startHi, long[] startLo, int[] rule, int size, int[] index) {
    this.startHi = startHi;
    this.startLo = startLo;
    this.rule = rule;
    this.size = size;
    this.index = index;
  }

  static IntervalTable build(List<Rule> rules, int family) {
    int defaultIndex = rules.size();
    // One entry per distinct prefix; an identical prefix written both ways is a deny.
    TreeMap<Cidr, Integer> unique = new TreeMap<>();
    for (int i = 0; i < rules.size(); i++) {
      Rule r = rules.get(i);
      if (r.cidr().family() != family) {
        continue;
      }
      Integer seen = unique.get(r.cidr());
      if (seen == null || (rules.get(seen).isAllow() && !r.isAllow())) {
        unique.put(r.cidr(), i);
      }
    }
    Builder out = new Builder(2 * unique.size() + 1);
    out.emit(0, 0, defaultIndex);
    Cidr[] stack = new Cidr[129];
    int[] stackRule = new int[129];
    int sp = 0;
    long maxHi = family == 4 ? 0 : -1L;
    long maxLo = family == 4 ? 0xFFFF_FFFFL : -1L;
    for (Map.Entry<Cidr, Integer> e : unique.entrySet()) {
      Cidr c = e.getKey();
      while (sp > 0 && lessThan(stack[sp - 1].lastHi(), stack[sp - 1].lastLo(), c.hi(), c.lo())) {
        Cidr t = stack[--sp];
        emitAfter(out, t, sp > 0 ? stackRule[sp - 1] : defaultIndex);
      }
      out.emit(c.hi(), c.lo(), e.getValue());
      stack[sp] = c;
      stackRule[sp++] = e.getValue();
    }
    while (sp > 0) {
      Cidr t = stack[--sp];
      if (t.lastHi() == maxHi && t.lastLo() == maxLo) {
        continue;
      }
      emitAfter(out, t, sp > 0 ? stackRule[sp - 1] : defaultIndex);
    }
    int[] index = family == 4 && out.n > INDEX_THRESHOLD ? buildIndex(out) : null;
    return new IntervalTable(out.hi, out.lo, out.rule, out.n, index);
  }

  private static void emitAfter(Builder out, Cidr t, int ruleIndex) {
    long lo = t.lastLo() + 1;
    long hi = lo == 0 ? t.lastHi() + 1 : t.lastHi();
    out.emit(hi, lo, ruleIndex);
  }

  private static boolean lessThan(long h1, long l1, long h2, long l2) {
    int c = Long.compareUnsigned(h1, h2);
    return c < 0 || (c == 0 && Long.compareUnsigned(l1, l2) < 0);
  }

  private static int[] buildIndex(Builder out) {
    int[] index = new int[65537];
    int i = 0;
    for (int t = 0; t < 65536; t++) {
      long key = ((long) t << 16) ^ Long.MIN_VALUE;
      while (i + 1 < out.n && out.lo[i + 1] <= key) {
        i++;
      }
      index[t] = i;
    }
    index[65536] = out.n - 1;
    return index;
  }

  /** The rule index for an address; IPv4 callers pass {@code hi = 0}. */
  int lookup(long hi, long lo) {
    long kh = hi ^ Long.MIN_VALUE;
    long kl = lo ^ Long.MIN_VALUE;
    int low;
    int high;
    if (index != null) {
      int top = (int) (lo >>> 16);
      low = index[top];
      high = index[top + 1];
    } else {
      low = 0;
      high = size - 1;
    }
    long[] sh = startHi;
    long[] sl = startLo;
    while (low < high) {
      int mid = (low + high + 1) >>> 1;
      long h = sh[mid];
      if (h < kh || (h == kh && sl[mid] <= kl)) {
        low = mid;
      } else {
        high = mid - 1;
      }
    }
    return rule[low];
  }

  /** Number of intervals, for tests. */
  int size() {
    return size;
  }

  /** Growable arrays of interval starts; merges neighbours that carry the same rule. */
  private static final class Builder {
    long[] hi;
    long[] lo;
    int[] rule;
    int n;

    Builder(int capacity) {
      hi = new long[capacity];
      lo = new long[capacity];
      rule = new int[capacity];
    }

    void emit(long h, long l, int r) {
      long fh = h ^ Long.MIN_VALUE;
      long fl = l ^ Long.MIN_VALUE;
      if (n > 0 && hi[n - 1] == fh && lo[n - 1] == fl) {
        rule[n - 1] = r;
        if (n > 1 && rule[n - 2] == r) {
          n--;
        }
        return;
      }
      if (n > 0 && rule[n - 1] == r) {
        return;
      }
      if (n == hi.length) {
        hi = Arrays.copyOf(hi, n * 2);
        lo = Arrays.copyOf(lo, n * 2);
        rule = Arrays.copyOf(rule, n * 2);
      }
      hi[n] = fh;
      lo[n] = fl;
      rule[n++] = r;
    }
  }
}
