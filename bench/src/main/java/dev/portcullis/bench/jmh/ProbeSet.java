package dev.portcullis.bench.jmh;

import dev.portcullis.policy.Cidr;
import inet.ipaddr.ipv4.IPv4Address;
import inet.ipaddr.ipv6.IPv6Address;
import java.net.InetSocketAddress;
import java.util.SplittableRandom;

/**
 * Seeded peer addresses to look up against a {@link NestedRuleSet}, of the same family: half inside
 * a random rule, a quarter on a rule's edge (first and last address, and the addresses just before
 * and just after), a quarter uniformly random. Held raw ({@code hi}, {@code lo}) and converted once,
 * before measuring, into each implementation's input type.
 */
final class ProbeSet {
  /** Probes per benchmark: a power of two, so that the index wraps with a mask. */
  static final int BENCHMARK_PROBES = 1 << 16;

  private final int family;
  private final long[] hi;
  private final long[] lo;

  private ProbeSet(int family, long[] hi, long[] lo) {
    this.family = family;
    this.hi = hi;
    this.lo = lo;
  }

  /** The probes the W5 benchmarks use for {@code rules}. */
  static ProbeSet forBenchmark(NestedRuleSet rules) {
    return generate(rules, BENCHMARK_PROBES, seedFor(rules));
  }

  /** The probe seed for a rule set: fixed, and different for every rule count. */
  static long seedFor(NestedRuleSet rules) {
    return NestedRuleSet.SEED ^ 0x9E37_79B9L ^ (31L * rules.size() + rules.family());
  }

  /** {@code count} probes for {@code rules}; the same arguments always give the same probes. */
  static ProbeSet generate(NestedRuleSet rules, int count, long seed) {
    int family = rules.family();
    SplittableRandom rnd = new SplittableRandom(seed);
    long[] hi = new long[count];
    long[] lo = new long[count];
    long lowMask = family == 4 ? 0xFFFF_FFFFL : -1L;
    for (int j = 0; j < count; j++) {
      int kind = rnd.nextInt(100);
      int r = rnd.nextInt(rules.size());
      long h;
      long l;
      if (kind < 50) { // inside rule r
        int len = rules.prefixLength(r);
        h = rules.networkHi(r) | (rnd.nextLong() & ~NestedRuleSet.maskHi(family, len));
        l = rules.networkLo(r) | (rnd.nextLong() & ~NestedRuleSet.maskLo(family, len) & lowMask);
      } else if (kind < 75) { // on or just past an edge of rule r
        switch (rnd.nextInt(4)) {
          case 0 -> {
            h = rules.networkHi(r);
            l = rules.networkLo(r);
          }
          case 1 -> {
            h = rules.lastHi(r);
            l = rules.lastLo(r);
          }
          case 2 -> { // one before the first address
            l = (rules.networkLo(r) - 1) & lowMask;
            h = family == 6 && rules.networkLo(r) == 0 ? rules.networkHi(r) - 1 : rules.networkHi(r);
          }
          default -> { // one after the last address
            l = (rules.lastLo(r) + 1) & lowMask;
            h = family == 6 && l == 0 ? rules.lastHi(r) + 1 : rules.lastHi(r);
          }
        }
      } else { // anywhere
        h = family == 4 ? 0 : rnd.nextLong();
        l = rnd.nextLong() & lowMask;
      }
      if (family == 6 && h == 0 && (l >>> 32) == 0xFFFFL) {
        l ^= 1L << 40; // stay out of ::ffff:0:0/96, which is IPv4 to every implementation
      }
      hi[j] = h;
      lo[j] = l;
    }
    return new ProbeSet(family, hi, lo);
  }

  /** Probes written as address literals, all of one family (parsed strictly, no DNS). */
  static ProbeSet of(String... literals) {
    long[] hi = new long[literals.length];
    long[] lo = new long[literals.length];
    int family = 0;
    for (int j = 0; j < literals.length; j++) {
      Cidr host = Cidr.parse(literals[j]);
      int f = host.isIpv4() ? 4 : 6;
      if (family != 0 && f != family) {
        throw new IllegalArgumentException("'" + literals[j] + "' mixes address families in one probe set");
      }
      family = f;
      long[] raw = NestedRuleSet.raw(host.network().getAddress());
      hi[j] = raw[0];
      lo[j] = raw[1];
    }
    return new ProbeSet(family, hi, lo);
  }

  int family() {
    return family;
  }

  int size() {
    return hi.length;
  }

  long hi(int j) {
    return hi[j];
  }

  long lo(int j) {
    return lo[j];
  }

  /** The address as text in Portcullis' canonical form, for reports. */
  String text(int j) {
    String host = Cidr.host(NestedRuleSet.address(family, hi[j], lo[j])).toString();
    return host.substring(0, host.lastIndexOf('/'));
  }

  /** IPv4 probes as raw big-endian ints, the form Portcullis' transport passes. */
  int[] ipv4Ints() {
    int[] out = new int[hi.length];
    for (int j = 0; j < out.length; j++) {
      out[j] = (int) lo[j];
    }
    return out;
  }

  /** High halves, for {@code decideIpv6(hi, lo)}. */
  long[] highs() {
    return hi.clone();
  }

  /** Low halves, for {@code decideIpv6(hi, lo)}. */
  long[] lows() {
    return lo.clone();
  }

  /** Socket addresses (port 0), the form Netty's filter receives from a channel. */
  InetSocketAddress[] socketAddresses() {
    InetSocketAddress[] out = new InetSocketAddress[hi.length];
    for (int j = 0; j < out.length; j++) {
      out[j] = new InetSocketAddress(NestedRuleSet.address(family, hi[j], lo[j]), 0);
    }
    return out;
  }

  /** IPv4 probes as IPAddress objects. */
  IPv4Address[] ipaddressIpv4() {
    IPv4Address[] out = new IPv4Address[hi.length];
    for (int j = 0; j < out.length; j++) {
      out[j] = new IPv4Address((int) lo[j]);
    }
    return out;
  }

  /** IPv6 probes as IPAddress objects. */
  IPv6Address[] ipaddressIpv6() {
    IPv6Address[] out = new IPv6Address[hi.length];
    for (int j = 0; j < out.length; j++) {
      out[j] = new IPv6Address(hi[j], lo[j]);
    }
    return out;
  }
}
