package dev.portcullis.policy;

import static dev.portcullis.policy.RandomRules.v4Mask;
import static dev.portcullis.policy.RandomRules.v6HiMask;
import static dev.portcullis.policy.RandomRules.v6LoMask;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.net.InetAddress;
import java.net.UnknownHostException;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * The interval-table matcher of {@link AccessPolicy} against {@link LinearPolicy}, a plain scan of
 * every rule, on seeded random policies: large clustered ones where prefixes really nest, many tiny
 * ones, and ones large enough for the IPv4 table's 65,536-entry index. Every comparison checks the
 * allowed flag and the matched rule (or that both fell back to the default).
 */
class FastMatcherAgainstLinearReferenceTest {

  /** Rules that cover (half of) a whole family; in a large policy they would leave no default. */
  private static final String[] WIDE_V4 = {"0.0.0.0/0", "0.0.0.0/1", "128.0.0.0/1"};
  private static final String[] WIDE_V6 = {"::/0", "8000::/1", "::/1"};
  private static final String[] EDGE_V4 = {
      "0.0.0.0/32", "255.255.255.255/32", "255.255.0.0/16",
      "127.0.0.0/8", "10.0.0.0/8"};
  private static final String[] EDGE_V6 = {
      "::/128", "::1/128", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128", "::fffe:0:0/95", "::/64",
      "::/96", "::1:0:0/96", "0:0:0:1::/64", "::ffff:ffff:ffff:ffff/128", "ffff::/16",
      "0:0:0:0:ffff::/80"};

  /** Statistics that prove a comparison run was not vacuous. */
  private static final class Tally {
    int compared;
    int allowed;
    int denied;
    int byDefault;
    int nested; // probes matched by two or more rules
    int deeplyNested; // three or more

    void add(Decision d, int matches) {
      compared++;
      if (d.isAllowed()) {
        allowed++;
      } else {
        denied++;
      }
      if (d.isDefault()) {
        byDefault++;
      }
      if (matches >= 2) {
        nested++;
      }
      if (matches >= 3) {
        deeplyNested++;
      }
    }

    @Override
    public String toString() {
      return "compared=" + compared + " allowed=" + allowed + " denied=" + denied + " default=" + byDefault
          + " nested=" + nested + " deeplyNested=" + deeplyNested;
    }
  }

  private static void assertSameDecision(Decision fast, LinearPolicy.Verdict ref, String probe, AccessPolicy p) {
    if (fast.isAllowed() != ref.allowed() || !fast.rule().equals(ref.rule())) {
      String rules = p.rules().size() <= 12 ? "\n" + p : " (" + p.rules().size() + " rules)";
      fail("probe " + probe + ": fast matcher said " + fast + ", reference said "
          + (ref.allowed() ? "allow" : "deny") + " " + ref.rule().map(Rule::toString).orElse("(default)") + rules);
    }
  }

  private static void compareIpv4(AccessPolicy p, LinearPolicy ref, long address, Tally tally, boolean viaObjects) {
    int a = (int) address;
    LinearPolicy.Verdict expected = ref.decideIpv4(a);
    Decision d = p.decideIpv4(a);
    assertSameDecision(d, expected, RandomRules.v4Text(address & 0xFFFF_FFFFL), p);
    // The same peer reported by a dual-stack socket as IPv4-mapped IPv6.
    assertSameDecision(p.decideIpv6(0, 0x0000_FFFF_0000_0000L | (address & 0xFFFF_FFFFL)), expected,
        "::ffff:" + RandomRules.v4Text(address & 0xFFFF_FFFFL), p);
    if (viaObjects) {
      String text = RandomRules.v4Text(address & 0xFFFF_FFFFL);
      assertSameDecision(p.decide(text), expected, text, p);
      assertSameDecision(p.decide(inet4(a)), expected, text + " (InetAddress)", p);
    }
    tally.add(d, ref.matchCountIpv4(a));
  }

  private static void compareIpv6(AccessPolicy p, LinearPolicy ref, long hi, long lo, Tally tally, boolean viaObjects) {
    LinearPolicy.Verdict expected = ref.decideIpv6(hi, lo);
    Decision d = p.decideIpv6(hi, lo);
    String text = RandomRules.v6Text(hi, lo);
    assertSameDecision(d, expected, text, p);
    if (viaObjects) {
      assertSameDecision(p.decide(text), expected, text, p);
      assertSameDecision(p.decide(inet6(hi, lo)), expected, text + " (InetAddress)", p);
    }
    tally.add(d, ref.matchCountIpv6(hi, lo));
  }

  private static InetAddress inet4(int a) {
    try {
      return InetAddress.getByAddress(new byte[] {(byte) (a >>> 24), (byte) (a >>> 16), (byte) (a >>> 8), (byte) a});
    } catch (UnknownHostException e) {
      throw new AssertionError(e);
    }
  }

  private static InetAddress inet6(long hi, long lo) {
    byte[] b = new byte[16];
    for (int i = 0; i < 8; i++) {
      b[i] = (byte) (hi >>> (56 - 8 * i));
      b[i + 8] = (byte) (lo >>> (56 - 8 * i));
    }
    try {
      return InetAddress.getByAddress(b);
    } catch (UnknownHostException e) {
      throw new AssertionError(e);
    }
  }

  private static Rule withRandomAction(Random rnd, Cidr c) {
    return rnd.nextBoolean() ? Rule.allow(c) : Rule.deny(c);
  }

  // ---------------------------------------------------------------- random rule sets

  /** IPv4 rules clustered inside a few parent networks, with children, siblings and exact ties. */
  private static List<Rule> clusteredIpv4Rules(Random rnd, int count, int parents, boolean wide) {
    long[] parentNet = new long[parents];
    int[] parentLen = new int[parents];
    for (int i = 0; i < parents; i++) {
      parentLen[i] = 6 + rnd.nextInt(12);
      parentNet[i] = rnd.nextInt() & v4Mask(parentLen[i]);
    }
    List<Rule> rules = new ArrayList<>(count);
    while (rules.size() < count) {
      int kind = rnd.nextInt(20);
      Cidr c;
      if (kind == 0) {
        c = wide && rnd.nextInt(4) == 0
            ? Cidr.parse(WIDE_V4[rnd.nextInt(WIDE_V4.length)])
            : Cidr.parse(EDGE_V4[rnd.nextInt(EDGE_V4.length)]);
      } else if (kind == 1) {
        c = RandomRules.v4(rnd.nextInt() & 0xFFFF_FFFFL, (wide ? 0 : 8) + rnd.nextInt(wide ? 33 : 25));
      } else if (kind <= 5 && !rules.isEmpty()) {
        // Relative to an existing rule: a child, a sibling, or the same prefix (a tie).
        Cidr base = rules.get(rnd.nextInt(rules.size())).cidr();
        if (!base.isIpv4()) {
          continue;
        }
        int len = base.prefixLength();
        int mode = rnd.nextInt(3);
        if (mode == 0 && len < 32) {
          int child = len + 1 + rnd.nextInt(32 - len);
          c = RandomRules.v4(base.lo() | (rnd.nextInt() & ~v4Mask(len) & 0xFFFF_FFFFL), child);
        } else if (mode == 1 && len > 0) {
          c = RandomRules.v4(base.lo() ^ (1L << (32 - len)), len);
        } else {
          c = base;
        }
      } else {
        int p = rnd.nextInt(parents);
        // Favour shorter lengths a little so that containers are common.
        int span = 33 - parentLen[p];
        int len = parentLen[p] + (int) (span * Math.pow(rnd.nextDouble(), 1.5));
        c = RandomRules.v4(parentNet[p] | (rnd.nextInt() & ~v4Mask(parentLen[p]) & 0xFFFF_FFFFL), Math.min(len, 32));
      }
      rules.add(withRandomAction(rnd, c));
    }
    return rules;
  }

  /** IPv6 rules clustered inside a few parent networks, some straddling the 64-bit halves. */
  private static List<Rule> clusteredIpv6Rules(Random rnd, int count, int parents, boolean wide) {
    long[] parentHi = new long[parents];
    int[] parentLen = new int[parents];
    for (int i = 0; i < parents; i++) {
      parentLen[i] = i % 3 == 0 ? 56 + rnd.nextInt(8) : 16 + rnd.nextInt(40);
      parentHi[i] = rnd.nextLong() & v6HiMask(parentLen[i]);
    }
    List<Rule> rules = new ArrayList<>(count);
    while (rules.size() < count) {
      int kind = rnd.nextInt(20);
      Cidr c;
      if (kind == 0) {
        c = wide && rnd.nextInt(4) == 0
            ? Cidr.parse(WIDE_V6[rnd.nextInt(WIDE_V6.length)])
            : Cidr.parse(EDGE_V6[rnd.nextInt(EDGE_V6.length)]);
      } else if (kind == 1) {
        c = RandomRules.v6(rnd.nextLong(), rnd.nextLong(), (wide ? 0 : 8) + rnd.nextInt(wide ? 129 : 121));
      } else if (kind <= 5 && !rules.isEmpty()) {
        Cidr base = rules.get(rnd.nextInt(rules.size())).cidr();
        if (base.isIpv4()) {
          continue;
        }
        int len = base.prefixLength();
        int mode = rnd.nextInt(3);
        if (mode == 0 && len < 128) {
          int child = len + 1 + rnd.nextInt(128 - len);
          c = RandomRules.v6(base.hi() | (rnd.nextLong() & ~v6HiMask(len)),
              base.lo() | (rnd.nextLong() & ~v6LoMask(len)), child);
        } else if (mode == 1 && len > 0) {
          long hi = len <= 64 ? base.hi() ^ (1L << (64 - len)) : base.hi();
          long lo = len > 64 ? base.lo() ^ (1L << (128 - len)) : base.lo();
          c = RandomRules.v6(hi, lo, len);
        } else {
          c = base;
        }
      } else {
        int p = rnd.nextInt(parents);
        int span = 129 - parentLen[p];
        int len = Math.min(128, parentLen[p] + (int) (span * Math.pow(rnd.nextDouble(), 1.5)));
        c = RandomRules.v6(parentHi[p] | (rnd.nextLong() & ~v6HiMask(parentLen[p])), rnd.nextLong(), len);
      }
      if (c != null) {
        rules.add(withRandomAction(rnd, c));
      }
    }
    return rules;
  }

  // ---------------------------------------------------------------- probes

  private static void probeAroundIpv4Rules(AccessPolicy p, LinearPolicy ref, List<Rule> rules, Random rnd,
      int randomProbes, Tally tally) {
    int i = 0;
    for (Rule r : rules) {
      Cidr c = r.cidr();
      if (!c.isIpv4()) {
        continue;
      }
      long first = c.lo();
      long last = c.lastLo();
      boolean objects = (i++ % 16) == 0;
      compareIpv4(p, ref, first, tally, objects);
      compareIpv4(p, ref, last, tally, false);
      compareIpv4(p, ref, last + 1, tally, false); // wraps to 0 above 255.255.255.255
      compareIpv4(p, ref, first - 1, tally, false);
      compareIpv4(p, ref, first + (rnd.nextLong() & (last - first)), tally, false);
    }
    for (int k = 0; k < randomProbes; k++) {
      compareIpv4(p, ref, rnd.nextInt() & 0xFFFF_FFFFL, tally, k % 64 == 0);
    }
  }

  private static void probeAroundIpv6Rules(AccessPolicy p, LinearPolicy ref, List<Rule> rules, Random rnd,
      int randomProbes, Tally tally) {
    int i = 0;
    for (Rule r : rules) {
      Cidr c = r.cidr();
      if (c.isIpv4()) {
        continue;
      }
      long fh = c.hi();
      long fl = c.lo();
      long lh = c.lastHi();
      long ll = c.lastLo();
      boolean objects = (i++ % 16) == 0;
      compareIpv6(p, ref, fh, fl, tally, objects);
      compareIpv6(p, ref, lh, ll, tally, false);
      compareIpv6(p, ref, ll == -1L ? lh + 1 : lh, ll + 1, tally, false);
      compareIpv6(p, ref, fl == 0 ? fh - 1 : fh, fl - 1, tally, false);
      compareIpv6(p, ref, fh | (rnd.nextLong() & ~v6HiMask(c.prefixLength())),
          fl | (rnd.nextLong() & ~v6LoMask(c.prefixLength())), tally, false);
    }
    for (int k = 0; k < randomProbes; k++) {
      long hi = rnd.nextLong();
      long lo = rnd.nextLong();
      switch (k % 4) {
        case 0 -> compareIpv6(p, ref, hi, lo, tally, k % 64 == 0);
        case 1 -> compareIpv6(p, ref, 0, 0x0000_FFFF_0000_0000L | (lo & 0xFFFF_FFFFL), tally, k % 64 == 1);
        case 2 -> compareIpv6(p, ref, 0, lo >>> (k % 61), tally, false); // low addresses near the mapped range
        default -> {
          // Near a random rule, so random probes also land inside nested rules.
          Cidr c = rules.get(rnd.nextInt(rules.size())).cidr();
          if (!c.isIpv4()) {
            compareIpv6(p, ref, c.hi() ^ (hi & ~v6HiMask(Math.max(0, c.prefixLength() - 4))),
                c.lo() ^ (lo & ~v6LoMask(Math.max(0, c.prefixLength() - 4))), tally, false);
          }
        }
      }
    }
  }

  // ---------------------------------------------------------------- the comparisons

  @Test
  void clusteredIpv4PolicyAgreesWithLinearReference() {
    Random rnd = new Random(0xC1A55E5L);
    List<Rule> rules = clusteredIpv4Rules(rnd, 4000, 5, false);
    AccessPolicy p = AccessPolicy.of(rules);
    LinearPolicy ref = new LinearPolicy(rules);
    Tally t = new Tally();
    probeAroundIpv4Rules(p, ref, rules, rnd, 10_000, t);
    assertTrue(t.compared >= 25_000, t.toString());
    assertTrue(t.nested > t.compared / 4, "rules must really nest: " + t);
    assertTrue(t.deeplyNested > t.compared / 10, "rules must nest deeply: " + t);
    assertTrue(t.allowed > 1000 && t.denied > 1000 && t.byDefault > 100, t.toString());
  }

  @Test
  void clusteredIpv6PolicyAgreesWithLinearReference() {
    Random rnd = new Random(0x1F6C1A55L);
    List<Rule> rules = clusteredIpv6Rules(rnd, 3000, 6, false);
    AccessPolicy p = AccessPolicy.of(rules);
    LinearPolicy ref = new LinearPolicy(rules);
    Tally t = new Tally();
    probeAroundIpv6Rules(p, ref, rules, rnd, 12_000, t);
    assertTrue(t.compared >= 25_000, t.toString());
    assertTrue(t.nested > t.compared / 4, "rules must really nest: " + t);
    assertTrue(t.deeplyNested > t.compared / 10, "rules must nest deeply: " + t);
    assertTrue(t.allowed > 1000 && t.denied > 1000 && t.byDefault > 100, t.toString());
  }

  @Test
  void ipv6RulesSharingALongPrefixAgreeInsideAndOutsideThatPrefix() {
    // Every rule lies inside 2001:db8::/32, so the IPv6 index covers the bits after that prefix;
    // probes below, inside and above it exercise the clamped first and last buckets.
    Random rnd = new Random(0x2001_0DB8L);
    long base = 0x2001_0DB8_0000_0000L;
    List<Rule> rules = new java.util.ArrayList<>();
    for (int i = 0; i < 4000; i++) {
      int length = 33 + rnd.nextInt(96);
      long hi = base | (rnd.nextLong() >>> 32);
      long lo = rnd.nextLong();
      Cidr c = RandomRules.v6(hi & RandomRules.v6HiMask(length), lo & RandomRules.v6LoMask(length), length);
      rules.add(rnd.nextInt(3) == 0 ? Rule.deny(c) : Rule.allow(c));
    }
    AccessPolicy p = AccessPolicy.of(rules);
    LinearPolicy ref = new LinearPolicy(rules);
    Tally t = new Tally();
    long[] outside = {0, 1, base - 1, base + (1L << 32), -1L, 0x2001_0DB7_FFFF_FFFFL, 0x2001_0DB9_0000_0000L};
    for (long hi : outside) {
      compareIpv6(p, ref, hi, 0, t, false);
      compareIpv6(p, ref, hi, -1L, t, false);
    }
    for (Rule r : rules) {
      Cidr c = r.cidr();
      compareIpv6(p, ref, c.hi(), c.lo(), t, false);
      compareIpv6(p, ref, c.lastHi(), c.lastLo(), t, false);
      long nextLo = c.lastLo() + 1;
      compareIpv6(p, ref, nextLo == 0 ? c.lastHi() + 1 : c.lastHi(), nextLo, t, false);
      compareIpv6(p, ref, base | (rnd.nextLong() >>> 32), rnd.nextLong(), t, false);
    }
    assertTrue(t.compared > 16_000 && t.allowed > 1000 && t.denied > 100 && t.byDefault > 10, t.toString());
  }

  @Test
  void mixedFamilyPoliciesAgreeWithLinearReference() {
    Random rnd = new Random(0xD0A1L);
    for (int round = 0; round < 4; round++) {
      // Rounds 2 and 3 may hold family-wide rules such as 0.0.0.0/0 and ::/0.
      List<Rule> rules = new ArrayList<>(clusteredIpv4Rules(rnd, 700, 3, round >= 2));
      rules.addAll(clusteredIpv6Rules(rnd, 700, 3, round >= 2));
      if (round % 2 == 1) {
        // A block list: only deny rules, so unmatched peers of both families are allowed.
        rules.replaceAll(r -> Rule.deny(r.cidr()));
      }
      java.util.Collections.shuffle(rules, rnd);
      AccessPolicy p = AccessPolicy.of(rules);
      LinearPolicy ref = new LinearPolicy(rules);
      Tally t = new Tally();
      probeAroundIpv4Rules(p, ref, rules, rnd, 2_000, t);
      probeAroundIpv6Rules(p, ref, rules, rnd, 2_000, t);
      assertTrue(t.compared >= 10_000, t.toString());
      assertTrue(t.nested > t.compared / 5, t.toString());
      assertEquals(round % 2 == 1, p.defaultDecision().isAllowed());
    }
  }

  @Test
  void smallIpv4PoliciesAgreeWithLinearReferenceOnEveryAddressOfTheirWindow() {
    Random rnd = new Random(11);
    long[] windows = {0L, 0x0A00_0000L - 256, 0xFFFF_FE00L, 0x7FFF_FF00L};
    Tally t = new Tally();
    for (int iteration = 0; iteration < 1500; iteration++) {
      long base = windows[iteration % windows.length];
      int count = iteration % 11; // 0..10 rules
      List<Rule> rules = new ArrayList<>();
      for (int i = 0; i < count; i++) {
        Cidr c;
        int kind = rnd.nextInt(12);
        if (kind == 0) {
          c = rnd.nextBoolean()
              ? Cidr.parse(WIDE_V4[rnd.nextInt(WIDE_V4.length)])
              : Cidr.parse(EDGE_V4[rnd.nextInt(EDGE_V4.length)]);
        } else if (kind == 1) {
          c = RandomRules.v4(base + rnd.nextInt(512), rnd.nextInt(23)); // wider than the window
        } else if (kind == 2 && !rules.isEmpty()) {
          c = rules.get(rnd.nextInt(rules.size())).cidr(); // same prefix again
        } else {
          c = RandomRules.v4(base + rnd.nextInt(512), 23 + rnd.nextInt(10));
        }
        rules.add(withRandomAction(rnd, c));
      }
      AccessPolicy p = AccessPolicy.of(rules);
      LinearPolicy ref = new LinearPolicy(rules);
      for (int k = -2; k < 514; k++) {
        compareIpv4(p, ref, (base + k) & 0xFFFF_FFFFL, t, k == 7);
      }
      // The other family is never matched by these rules.
      compareIpv6(p, ref, 0, 1, t, false);
      compareIpv6(p, ref, 0x2001_0db8_0000_0000L, base, t, false);
    }
    assertTrue(t.compared > 700_000, t.toString());
    assertTrue(t.nested > 10_000 && t.deeplyNested > 1_000, t.toString());
  }

  @Test
  void smallIpv6PoliciesAgreeWithLinearReferenceAcrossThe64BitBoundary() {
    Random rnd = new Random(12);
    long[] windowHi = {0x2001_0db8_0000_0000L, 0L, -1L, 0x7FFF_FFFF_FFFF_FFFFL};
    Tally t = new Tally();
    for (int iteration = 0; iteration < 1500; iteration++) {
      // The window is the last 256 addresses of hiBase and the first 256 of hiBase + 1; for
      // hiBase = -1 that is the top of the address space followed by the bottom (::0 to ::ff).
      long hiBase = windowHi[iteration % windowHi.length];
      int count = iteration % 11;
      List<Rule> rules = new ArrayList<>();
      for (int i = 0; i < count; i++) {
        long lo = rnd.nextInt(512) - 256;
        long hi = lo < 0 ? hiBase : hiBase + 1;
        int kind = rnd.nextInt(12);
        Cidr c;
        if (kind == 0) {
          c = rnd.nextBoolean()
              ? Cidr.parse(WIDE_V6[rnd.nextInt(WIDE_V6.length)])
              : Cidr.parse(EDGE_V6[rnd.nextInt(EDGE_V6.length)]);
        } else if (kind == 1) {
          c = RandomRules.v6(hi, lo, 50 + rnd.nextInt(15)); // covers one or both halves
        } else if (kind == 2 && !rules.isEmpty()) {
          c = rules.get(rnd.nextInt(rules.size())).cidr();
        } else if (kind == 3) {
          c = RandomRules.v4(rnd.nextInt(), rnd.nextInt(33)); // other family, never matches here
        } else {
          c = RandomRules.v6(hi, lo, 119 + rnd.nextInt(10));
        }
        if (c != null) {
          rules.add(withRandomAction(rnd, c));
        }
      }
      AccessPolicy p = AccessPolicy.of(rules);
      LinearPolicy ref = new LinearPolicy(rules);
      for (int k = -258; k < 258; k++) {
        long hi = k < 0 ? hiBase : hiBase + 1;
        compareIpv6(p, ref, hi, k, t, k == 3);
      }
      compareIpv4(p, ref, 0x0A00_0001L, t, false);
    }
    assertTrue(t.compared > 700_000, t.toString());
    assertTrue(t.nested > 10_000, t.toString());
  }

  @Test
  void randomUnclusteredSmallPoliciesAgreeWithLinearReference() {
    Random rnd = new Random(13);
    Tally t = new Tally();
    for (int iteration = 0; iteration < 2000; iteration++) {
      List<Rule> rules = new ArrayList<>();
      int count = rnd.nextInt(11);
      for (int i = 0; i < count; i++) {
        rules.add(RandomRules.randomRule(rnd));
      }
      AccessPolicy p = AccessPolicy.of(rules);
      LinearPolicy ref = new LinearPolicy(rules);
      probeAroundIpv4Rules(p, ref, rules, rnd, 8, t);
      probeAroundIpv6Rules(p, ref, rules.isEmpty() ? List.of(Rule.deny(Cidr.parse("::/0"))) : rules, rnd, 8, t);
    }
    assertTrue(t.compared > 50_000, t.toString());
  }

  // ---------------------------------------------------------------- the IPv4 index

  /** Compares every 16-bit block boundary, where the index hands over from one block to the next. */
  private static void compareAtEveryIndexBlockBoundary(AccessPolicy p, LinearPolicy ref, Tally t) {
    for (long block = 0; block < 65536; block++) {
      long start = block << 16;
      compareIpv4(p, ref, start, t, false);
      compareIpv4(p, ref, start - 1, t, false);
    }
  }

  @Test
  void policyLargeEnoughForTheIpv4IndexAgreesWithLinearReference() {
    Random rnd = new Random(0x65536L);
    List<Rule> rules = new ArrayList<>();
    // Spread over the whole space, many ending exactly on 16-bit block boundaries.
    for (int i = 0; i < 900; i++) {
      int len = 8 + rnd.nextInt(21);
      rules.add(withRandomAction(rnd, RandomRules.v4(rnd.nextInt() & 0xFFFF_FFFFL, len)));
    }
    rules.addAll(clusteredIpv4Rules(rnd, 300, 2, false));
    AccessPolicy p = AccessPolicy.of(rules);
    assertTrue(IntervalTable.build(p.rules(), 4).size() > 256,
        "precondition: enough intervals to build the 65,536-entry index");
    LinearPolicy ref = new LinearPolicy(rules);
    Tally t = new Tally();
    compareAtEveryIndexBlockBoundary(p, ref, t);
    probeAroundIpv4Rules(p, ref, rules, rnd, 5_000, t);
    assertTrue(t.compared > 140_000, t.toString());
    assertTrue(t.allowed > 1000 && t.denied > 1000 && t.nested > 1000 && t.byDefault > 1000, t.toString());
  }

  @Test
  void policiesJustBelowAndAboveTheIndexThresholdAgreeWithLinearReference() {
    Random rnd = new Random(256);
    for (int hosts : new int[] {127, 128, 129}) {
      // Disjoint host rules, each away from the others: every one adds exactly two intervals.
      List<Rule> rules = new ArrayList<>();
      for (int i = 0; i < hosts; i++) {
        long address = ((long) i << 24) | ((long) rnd.nextInt(256) << 16) | 0x0101L;
        rules.add(i % 2 == 0 ? Rule.allow(RandomRules.v4(address, 32)) : Rule.deny(RandomRules.v4(address, 32)));
      }
      AccessPolicy p = AccessPolicy.of(rules);
      assertEquals(2 * hosts + 1, IntervalTable.build(p.rules(), 4).size());
      LinearPolicy ref = new LinearPolicy(rules);
      Tally t = new Tally();
      compareAtEveryIndexBlockBoundary(p, ref, t);
      for (Rule r : rules) {
        long a = r.cidr().lo();
        compareIpv4(p, ref, a, t, true);
        compareIpv4(p, ref, a - 1, t, false);
        compareIpv4(p, ref, a + 1, t, false);
      }
      assertEquals(hosts, t.compared - t.byDefault, "each host rule matched exactly once");
    }
  }
}
