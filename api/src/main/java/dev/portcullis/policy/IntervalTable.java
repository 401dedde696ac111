package dev.portcullis.policy;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * One address family of a policy, compiled: the address space cut into intervals, each labelled
 * with the index of the most specific rule covering it. Because CIDR prefixes either nest or are
 * disjoint, one sorted sweep with a stack of enclosing prefixes labels every interval, and a lookup
 * is a binary search for the last interval start at or below the key, narrowed first by an index on
 * the leading address bits. Starts are stored with the sign bit flipped so that plain signed
 * comparisons order them as unsigned.
 */
final class IntervalTable {
  /** Tables with more intervals than this get an index on the leading address bits. */
  private static final int INDEX_THRESHOLD = 64;
  /** The largest index: 2^20 entries (4 MiB) keeps about two intervals per bucket at 1M rules. */
  private static final int MAX_INDEX_BITS = 20;

  private final int size;
  // IPv4: interval start (sign-flipped, so signed order is unsigned order) in the high 32 bits and
  // the rule index in the low 32 bits, so one binary-search step reads one array.
  private final long[] packed4;
  // IPv6: interval starts as sign-flipped high and low halves, and the rule of each interval.
  private final long[] startHi;
  private final long[] startLo;
  private final int[] rule;
  // Index: index[t] is the last interval starting at or before the first address of bucket t;
  // index[buckets] is the last interval. A key of bucket t lies in [index[t], index[t + 1]].
  private final int[] index;
  private final int indexBits;
  // IPv6 only: the index covers the bits after the prefix every rule shares.
  private final int commonBits;
  private final long commonPrefix;

  private IntervalTable(int size, long[] packed4, long[] startHi, long[] startLo, int[] rule, int[] index,
      int indexBits, int commonBits, long commonPrefix) {
    this.size = size;
    this.packed4 = packed4;
    this.startHi = startHi;
    this.startLo = startLo;
    this.rule = rule;
    this.index = index;
    this.indexBits = indexBits;
    this.commonBits = commonBits;
    this.commonPrefix = commonPrefix;
  }

  /** One distinct prefix and the rule that decides it. */
  private record Entry(Cidr cidr, int rule) {}

  static IntervalTable build(List<Rule> rules, int family) {
    int defaultIndex = rules.size();
    List<Entry> entries = new ArrayList<>();
    for (int i = 0; i < rules.size(); i++) {
      if (rules.get(i).cidr().family() == family) {
        entries.add(new Entry(rules.get(i).cidr(), i));
      }
    }
    entries.sort((a, b) -> a.cidr.compareTo(b.cidr));
    // One entry per distinct prefix; an identical prefix written both ways is a deny.
    List<Entry> unique = new ArrayList<>(entries.size());
    for (Entry e : entries) {
      int last = unique.size() - 1;
      if (last >= 0 && unique.get(last).cidr.equals(e.cidr)) {
        if (rules.get(unique.get(last).rule).isAllow() && !rules.get(e.rule).isAllow()) {
          unique.set(last, e);
        }
      } else {
        unique.add(e);
      }
    }
    Builder out = new Builder(2 * unique.size() + 1);
    out.emit(0, 0, defaultIndex);
    Cidr[] stack = new Cidr[129];
    int[] stackRule = new int[129];
    int sp = 0;
    long maxHi = family == 4 ? 0 : -1L;
    long maxLo = family == 4 ? 0xFFFF_FFFFL : -1L;
    for (Entry e : unique) {
      Cidr c = e.cidr;
      while (sp > 0 && lessThan(stack[sp - 1].lastHi(), stack[sp - 1].lastLo(), c.hi(), c.lo())) {
        Cidr t = stack[--sp];
        emitAfter(out, t, sp > 0 ? stackRule[sp - 1] : defaultIndex);
      }
      out.emit(c.hi(), c.lo(), e.rule);
      stack[sp] = c;
      stackRule[sp++] = e.rule;
    }
    while (sp > 0) {
      Cidr t = stack[--sp];
      if (t.lastHi() == maxHi && t.lastLo() == maxLo) {
        continue;
      }
      emitAfter(out, t, sp > 0 ? stackRule[sp - 1] : defaultIndex);
    }
    int n = out.n;
    int bits = n > INDEX_THRESHOLD ? Math.min(MAX_INDEX_BITS, 32 - Integer.numberOfLeadingZeros(n)) : 0;
    if (family == 4) {
      long[] packed = new long[n];
      for (int i = 0; i < n; i++) {
        int start = (int) (out.lo[i] ^ Long.MIN_VALUE);
        packed[i] = ((long) (start ^ Integer.MIN_VALUE) << 32) | out.rule[i];
      }
      int[] index = null;
      if (bits > 0) {
        index = new int[(1 << bits) + 1];
        int i = 0;
        for (int t = 0; t < (1 << bits); t++) {
          long firstKey = ((long) t << (32 - bits)) ^ 0x8000_0000L; // unsigned start, sign-flipped
          while (i + 1 < n && (packed[i + 1] >> 32) <= (int) firstKey) {
            i++;
          }
          index[t] = i;
        }
        index[1 << bits] = n - 1;
      }
      return new IntervalTable(n, packed, null, null, null, index, bits, 0, 0);
    }
    long[] hi = Arrays.copyOf(out.hi, n);
    long[] lo = Arrays.copyOf(out.lo, n);
    int[] ruleOf = Arrays.copyOf(out.rule, n);
    int[] index = null;
    int common = 0;
    long prefix = 0;
    if (bits > 0 && !unique.isEmpty()) {
      // Rules usually share leading bits (2000::/3, one provider's /32): index the bits after them.
      long first = unique.get(0).cidr.hi();
      long last = unique.get(unique.size() - 1).cidr.lastHi();
      for (Entry e : unique) {
        last = Long.compareUnsigned(e.cidr.lastHi(), last) > 0 ? e.cidr.lastHi() : last;
      }
      common = Math.min(Long.numberOfLeadingZeros(first ^ last), 64 - bits);
      prefix = common == 0 ? 0 : first >>> (64 - common);
      index = new int[(1 << bits) + 1];
      int i = 0;
      for (int t = 0; t < (1 << bits); t++) {
        long keyHi = t == 0 ? 0 : (common == 0 ? 0 : prefix << (64 - common)) | ((long) t << (64 - common - bits));
        long fk = keyHi ^ Long.MIN_VALUE;
        long fl = Long.MIN_VALUE; // low half 0, sign-flipped
        while (i + 1 < n && (hi[i + 1] < fk || (hi[i + 1] == fk && lo[i + 1] <= fl))) {
          i++;
        }
        index[t] = i;
      }
      index[1 << bits] = n - 1;
    }
    return new IntervalTable(n, null, hi, lo, ruleOf, index, bits, common, prefix);
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

  /** The rule index for an IPv4 address (big-endian int). */
  int lookupIpv4(int address) {
    long[] p = packed4;
    int key = address ^ Integer.MIN_VALUE;
    int low;
    int high;
    if (index != null) {
      int t = address >>> (32 - indexBits);
      low = index[t];
      high = index[t + 1];
    } else {
      low = 0;
      high = size - 1;
    }
    while (low < high) {
      int mid = (low + high + 1) >>> 1;
      if ((p[mid] >> 32) <= key) {
        low = mid;
      } else {
        high = mid - 1;
      }
    }
    return (int) p[low];
  }

  /** The rule index for an IPv6 address. */
  int lookupIpv6(long hi, long lo) {
    long kh = hi ^ Long.MIN_VALUE;
    long kl = lo ^ Long.MIN_VALUE;
    int low;
    int high;
    if (index != null) {
      int t;
      if (commonBits == 0) {
        t = (int) (hi >>> (64 - indexBits));
      } else {
        long p = hi >>> (64 - commonBits);
        int last = (1 << indexBits) - 1;
        t = p < commonPrefix ? 0 : p > commonPrefix ? last : (int) ((hi << commonBits) >>> (64 - indexBits));
      }
      low = index[t];
      high = index[t + 1];
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

  /** The rule index for an address of this table's family; IPv4 passes {@code hi = 0}. */
  int lookup(long hi, long lo) {
    return packed4 != null ? lookupIpv4((int) lo) : lookupIpv6(hi, lo);
  }

  /**
   * Whether some address of this family lies in an interval whose rule index passes {@code
   * decides}; for IPv6 the IPv4-mapped block {@code ::ffff:0:0/96} is left out, since its addresses
   * are decided as IPv4. One pass over the intervals; allocates nothing.
   */
  boolean anyAddress(java.util.function.IntPredicate decides) {
    for (int i = 0; i < size; i++) {
      if (packed4 != null) {
        if (decides.test((int) packed4[i])) {
          return true;
        }
      } else if (decides.test(rule[i]) && !insideMappedBlock(i)) {
        return true;
      }
    }
    return false;
  }

  /** Whether IPv6 interval {@code i} lies wholly within {@code ::ffff:0:0/96}. */
  private boolean insideMappedBlock(int i) {
    // Starts are sign-flipped: compare them with flipped bounds as signed numbers.
    long hi = Long.MIN_VALUE;
    long first = 0x0000_FFFF_0000_0000L ^ Long.MIN_VALUE;
    long afterLast = 0x0001_0000_0000_0000L ^ Long.MIN_VALUE;
    boolean startsInside = startHi[i] == hi && startLo[i] >= first;
    boolean endsInside = i + 1 < size && startHi[i + 1] == hi && startLo[i + 1] <= afterLast;
    return startsInside && endsInside;
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
