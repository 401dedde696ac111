package dev.portcullis.bench.jmh;

import dev.portcullis.policy.Cidr;
import dev.portcullis.policy.Rule;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/**
 * A seeded, reproducible rule set of one address family, in raw form, with real nesting: about a
 * quarter of the rules are random top-level prefixes, every other rule is a random prefix inside an
 * earlier rule (a few bits longer, usually with the opposite action), so chains of allow / deny /
 * allow exceptions and duplicate prefixes occur as they do in real block and allow lists.
 *
 * <p>IPv4 rules are {@code /8../32} (top level {@code /8../24}); IPv6 rules are {@code /16../128}
 * (top level {@code /16../48}, all inside {@code 2000::/3}, so none falls in the IPv4-mapped range
 * that Portcullis refuses as a rule). Addresses are held as a 128-bit pair {@code (hi, lo)}; an
 * IPv4 address is the low 32 bits of {@code lo}.
 *
 * <p>The same set is handed to every implementation compared, each in its own input form:
 * Portcullis {@link Rule}s, Netty {@code IpSubnetFilterRule}s, IPAddress prefix blocks, or text.
 */
final class NestedRuleSet {
  /** The seed the benchmarks and the agreement check share, so that both see the same rules. */
  static final long SEED = 0x5EED_0005L;

  private static final int TOP_LEVEL_PERCENT = 25;
  private static final int FLIP_PERCENT = 75;
  private static final int TOP_LEVEL_ALLOW_PERCENT = 60;

  private final int family;
  private final long[] hi;
  private final long[] lo;
  private final int[] length;
  private final boolean[] allow;
  private final int size;

  private NestedRuleSet(int family, long[] hi, long[] lo, int[] length, boolean[] allow, int size) {
    this.family = family;
    this.hi = hi;
    this.lo = lo;
    this.length = length;
    this.allow = allow;
    this.size = size;
  }

  /**
   * Generates {@code count} rules of {@code family} (4 or 6) from {@code seed}; the same arguments
   * always give the same rules.
   */
  static NestedRuleSet generate(int family, int count, long seed) {
    checkFamily(family);
    if (count < 1) {
      throw new IllegalArgumentException("Rule count must be positive: " + count);
    }
    SplittableRandom rnd = new SplittableRandom(seed);
    int max = maxLength(family);
    int minTop = family == 4 ? 8 : 16;
    int maxTop = family == 4 ? 24 : 48;
    int maxStep = family == 4 ? 8 : 16;
    long[] hi = new long[count];
    long[] lo = new long[count];
    int[] length = new int[count];
    boolean[] allow = new boolean[count];
    for (int i = 0; i < count; i++) {
      int parent = i == 0 || rnd.nextInt(100) < TOP_LEVEL_PERCENT ? -1 : rnd.nextInt(i);
      if (parent >= 0 && length[parent] == max) {
        parent = -1; // a host rule has nothing inside it
      }
      long h = rnd.nextLong();
      long l = rnd.nextLong();
      int len;
      if (parent < 0) {
        // Quadratic bias towards longer prefixes: a few very wide rules, many narrow ones.
        double u = rnd.nextDouble();
        len = minTop + (int) ((maxTop - minTop + 1) * Math.sqrt(u));
        len = Math.min(len, maxTop);
        if (family == 4) {
          h = 0;
        } else {
          h = (h & 0x1FFF_FFFF_FFFF_FFFFL) | 0x2000_0000_0000_0000L; // 2000::/3, global unicast
        }
        allow[i] = rnd.nextInt(100) < TOP_LEVEL_ALLOW_PERCENT;
      } else {
        int pl = length[parent];
        len = pl + 1 + rnd.nextInt(Math.min(maxStep, max - pl));
        h = hi[parent] | (h & ~maskHi(family, pl));
        l = lo[parent] | (l & ~maskLo(family, pl));
        allow[i] = rnd.nextInt(100) < FLIP_PERCENT ? !allow[parent] : allow[parent];
      }
      hi[i] = h & maskHi(family, len);
      lo[i] = l & maskLo(family, len);
      length[i] = len;
    }
    return new NestedRuleSet(family, hi, lo, length, allow, count);
  }

  /** The rule set the W5 benchmarks use for {@code family} and {@code count}. */
  static NestedRuleSet forBenchmark(int family, int count) {
    return generate(family, count, SEED ^ (31L * count + family));
  }

  /**
   * A rule set written as policy text lines, such as {@code "allow 10.0.0.0/8"}; all of one family.
   * Parsed with Portcullis' strict parser, which never touches DNS.
   */
  static NestedRuleSet parse(String... lines) {
    int n = lines.length;
    long[] hi = new long[n];
    long[] lo = new long[n];
    int[] length = new int[n];
    boolean[] allow = new boolean[n];
    int family = 0;
    for (int i = 0; i < n; i++) {
      Rule r = Rule.parse(lines[i]);
      int f = r.cidr().isIpv4() ? 4 : 6;
      if (family != 0 && f != family) {
        throw new IllegalArgumentException("'" + lines[i] + "' mixes address families in one rule set");
      }
      family = f;
      long[] raw = raw(r.cidr().network().getAddress());
      hi[i] = raw[0];
      lo[i] = raw[1];
      length[i] = r.cidr().prefixLength();
      allow[i] = r.isAllow();
    }
    if (family == 0) {
      throw new IllegalArgumentException("A rule set needs at least one rule");
    }
    return new NestedRuleSet(family, hi, lo, length, allow, n);
  }

  /** 4 or 6. */
  int family() {
    return family;
  }

  int size() {
    return size;
  }

  boolean isAllow(int i) {
    return allow[i];
  }

  int prefixLength(int i) {
    return length[i];
  }

  long networkHi(int i) {
    return hi[i];
  }

  long networkLo(int i) {
    return lo[i];
  }

  /** The last address of rule {@code i}, high half. */
  long lastHi(int i) {
    return hi[i] | ~maskHi(family, length[i]);
  }

  /** The last address of rule {@code i}, low half (IPv4: within the low 32 bits). */
  long lastLo(int i) {
    return lo[i] | (~maskLo(family, length[i]) & (family == 4 ? 0xFFFF_FFFFL : -1L));
  }

  /** Whether the address {@code (h, l)} is inside rule {@code i}. */
  boolean contains(int i, long h, long l) {
    return (h & maskHi(family, length[i])) == hi[i] && (l & maskLo(family, length[i])) == lo[i];
  }

  /** Whether any rule allows; then a peer no rule matches is denied (the Portcullis default). */
  boolean hasAllow() {
    for (int i = 0; i < size; i++) {
      if (allow[i]) {
        return true;
      }
    }
    return false;
  }

  /** Rule {@code i} as a network address. */
  InetAddress network(int i) {
    return address(family, hi[i], lo[i]);
  }

  /** Rule {@code i} as CIDR text in Portcullis' canonical form, {@code 10.0.0.0/8}. */
  String cidrText(int i) {
    return portcullisRule(i).cidr().toString();
  }

  /** Rule {@code i} as a Portcullis rule. */
  Rule portcullisRule(int i) {
    Cidr cidr = Cidr.of(network(i), length[i]);
    return allow[i] ? Rule.allow(cidr) : Rule.deny(cidr);
  }

  /** Every rule as a Portcullis rule, in generation order. */
  List<Rule> portcullisRules() {
    List<Rule> out = new ArrayList<>(size);
    for (int i = 0; i < size; i++) {
      out.add(portcullisRule(i));
    }
    return out;
  }

  /** Rule {@code i} in policy-text form, {@code allow 10.0.0.0/8}. */
  String ruleText(int i) {
    return (allow[i] ? "allow " : "deny ") + cidrText(i);
  }

  static InetAddress address(int family, long h, long l) {
    byte[] b;
    if (family == 4) {
      b = new byte[] {(byte) (l >>> 24), (byte) (l >>> 16), (byte) (l >>> 8), (byte) l};
    } else {
      b = new byte[16];
      for (int k = 0; k < 8; k++) {
        b[k] = (byte) (h >>> (56 - 8 * k));
        b[k + 8] = (byte) (l >>> (56 - 8 * k));
      }
    }
    try {
      return InetAddress.getByAddress(b); // raw bytes: no name lookup
    } catch (UnknownHostException e) {
      throw new AssertionError(e);
    }
  }

  /** {@code {hi, lo}} of a 4- or 16-byte address. */
  static long[] raw(byte[] b) {
    long h = 0;
    long l = 0;
    if (b.length == 4) {
      l = ((b[0] & 0xFFL) << 24) | ((b[1] & 0xFFL) << 16) | ((b[2] & 0xFFL) << 8) | (b[3] & 0xFFL);
    } else {
      for (int k = 0; k < 8; k++) {
        h = (h << 8) | (b[k] & 0xFF);
        l = (l << 8) | (b[k + 8] & 0xFF);
      }
    }
    return new long[] {h, l};
  }

  static int maxLength(int family) {
    return family == 4 ? 32 : 128;
  }

  static long maskHi(int family, int len) {
    if (family == 4) {
      return -1L; // IPv4 keys always have hi == 0, so any mask keeps them equal
    }
    return len == 0 ? 0 : len >= 64 ? -1L : -1L << (64 - len);
  }

  static long maskLo(int family, int len) {
    if (family == 4) {
      return len == 0 ? 0 : (0xFFFF_FFFFL << (32 - len)) & 0xFFFF_FFFFL;
    }
    return len <= 64 ? 0 : len == 128 ? -1L : -1L << (128 - len);
  }

  static void checkFamily(int family) {
    if (family != 4 && family != 6) {
      throw new IllegalArgumentException("Address family must be 4 or 6: " + family);
    }
  }

  /** {@code "ipv4"} or {@code "ipv6"}, as the benchmarks' {@code family} parameter is written. */
  static int familyOf(String param) {
    return switch (param) {
      case "ipv4" -> 4;
      case "ipv6" -> 6;
      default -> throw new IllegalArgumentException("family must be 'ipv4' or 'ipv6': '" + param + "'");
    };
  }
}
