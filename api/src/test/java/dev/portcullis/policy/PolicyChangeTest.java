package dev.portcullis.policy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.math.BigInteger;
import java.net.InetAddress;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * {@link AccessPolicy#changesTo}: exact, against {@link LinearPolicy} on seeded random nested
 * policies of both families. Every probe (rule edges and their neighbours, and random addresses in
 * the clusters) lies in a reported range exactly when the two reference decisions differ, and
 * then the range says both decisions.
 */
class PolicyChangeTest {

  @Test
  void aSmallChangeIsReportedAsTheRangesItFlips() {
    AccessPolicy old = AccessPolicy.parse("allow 10.0.0.0/8\ndeny 10.66.0.0/16\nallow 2001:db8::/32\n");
    AccessPolicy neu = AccessPolicy.parse("allow 10.0.0.0/8\ndeny 10.66.0.0/16\nallow 10.66.1.0/24\ndeny 10.1.2.3\n"
        + "allow 2001:db8::/32\ndeny 2001:db8:bad::/48\n");
    List<String> changes = old.changesTo(neu).stream().map(PolicyChange::toString).toList();
    assertEquals(List.of(
        "10.1.2.3/32 allow -> deny (was 'allow 10.0.0.0/8', now 'deny 10.1.2.3/32')",
        "10.66.1.0/24 deny -> allow (was 'deny 10.66.0.0/16', now 'allow 10.66.1.0/24')",
        "2001:db8:bad::/48 allow -> deny (was 'allow 2001:db8::/32', now 'deny 2001:db8:bad::/48')"), changes);
    assertEquals(List.of(), old.changesTo(old), "a policy changes nothing against itself");
  }

  @Test
  void aRangeThatIsNoBlockIsCoveredByTheFewestBlocks() throws Exception {
    PolicyChange c = new PolicyChange(InetAddress.getByName("10.0.0.1"), InetAddress.getByName("10.0.0.6"),
        AccessPolicy.parse("allow 0.0.0.0/0").decide("10.0.0.1"), AccessPolicy.parse("deny 10.0.0.0/8\nallow 0.0.0.0/0")
            .decide("10.0.0.1"));
    assertEquals("[10.0.0.1/32, 10.0.0.2/31, 10.0.0.4/31, 10.0.0.6/32]", c.cidrs().toString());
  }

  @Test
  void randomNestedPoliciesAgreeWithTheLinearReference() {
    Random rnd = new Random(20261201);
    int probes = 0;
    int flipped = 0;
    for (int round = 0; round < 40; round++) {
      List<Rule> base = nested(rnd, 30 + rnd.nextInt(60));
      List<Rule> changed = new ArrayList<>(base);
      for (int k = 0; k < 1 + rnd.nextInt(8); k++) {
        int i = rnd.nextInt(changed.size());
        switch (rnd.nextInt(3)) {
          case 0 -> changed.remove(i);
          case 1 -> changed.set(i, changed.get(i).isAllow() ? Rule.deny(changed.get(i).cidr())
              : Rule.allow(changed.get(i).cidr()));
          default -> changed.addAll(nested(rnd, 1));
        }
      }
      changed = dedupe(changed);
      AccessPolicy a = AccessPolicy.of(base);
      AccessPolicy b = AccessPolicy.of(changed);
      LinearPolicy la = new LinearPolicy(base);
      LinearPolicy lb = new LinearPolicy(changed);
      List<PolicyChange> changes = a.changesTo(b);
      for (BigInteger[] probe : probes(rnd, base, changed)) {
        boolean v4 = probe[1].intValue() == 4;
        BigInteger x = probe[0];
        boolean beforeAllowed = v4 ? la.decideIpv4(x.intValue()).allowed()
            : la.decideIpv6(x.shiftRight(64).longValue(), x.longValue()).allowed();
        boolean afterAllowed = v4 ? lb.decideIpv4(x.intValue()).allowed()
            : lb.decideIpv6(x.shiftRight(64).longValue(), x.longValue()).allowed();
        PolicyChange in = find(changes, x, v4 ? 4 : 16);
        boolean mapped = !v4 && x.shiftRight(32).equals(BigInteger.valueOf(0xFFFF));
        if (mapped) {
          continue; // decided as IPv4, reported in the IPv4 ranges
        }
        probes++;
        if (beforeAllowed != afterAllowed) {
          flipped++;
          assertTrue(in != null, "a flip outside every reported range at " + x + " (IPv" + (v4 ? 4 : 6) + ")");
          assertEquals(beforeAllowed, in.before().isAllowed());
          assertEquals(afterAllowed, in.after().isAllowed());
        } else {
          assertTrue(in == null, "no flip at " + x + " but it is in " + in);
        }
      }
    }
    assertTrue(probes > 10_000 && flipped > 500, "a real comparison: " + probes + " probes, " + flipped + " flipped");
  }

  /** Rules nested in a few clusters: a /8 (IPv4) or /32 (IPv6) parent each, prefixes within. */
  private static List<Rule> nested(Random rnd, int n) {
    List<Rule> out = new ArrayList<>();
    long v4Parent = (10L + rnd.nextInt(3)) << 24;
    long v6Parent = 0x2001_0db8_0000_0000L | ((long) rnd.nextInt(3) << 16);
    for (int i = 0; i < n; i++) {
      Cidr c;
      if (rnd.nextBoolean()) {
        int len = 8 + rnd.nextInt(25);
        c = RandomRules.v4(v4Parent | (rnd.nextInt(1 << 24) & 0xFFFFFFL), len);
      } else {
        int len = 32 + rnd.nextInt(97);
        c = RandomRules.v6(v6Parent | (rnd.nextLong() & 0xFFFF_FFFFL), rnd.nextLong(), len);
        if (c == null) {
          continue;
        }
      }
      out.add(rnd.nextBoolean() ? Rule.allow(c) : Rule.deny(c));
    }
    return dedupe(out);
  }

  /** One rule per prefix (the policy refuses duplicates): the last wins. */
  private static List<Rule> dedupe(List<Rule> rules) {
    java.util.LinkedHashMap<Cidr, Rule> byCidr = new java.util.LinkedHashMap<>();
    for (Rule r : rules) {
      byCidr.remove(r.cidr());
      byCidr.put(r.cidr(), r);
    }
    return new ArrayList<>(byCidr.values());
  }

  /** Each rule's first and last address and their neighbours, and random addresses near rules. */
  private static List<BigInteger[]> probes(Random rnd, List<Rule> a, List<Rule> b) {
    List<BigInteger[]> out = new ArrayList<>();
    List<Rule> all = new ArrayList<>(a);
    all.addAll(b);
    for (Rule r : all) {
      int bits = r.cidr().isIpv4() ? 32 : 128;
      BigInteger family = BigInteger.valueOf(bits == 32 ? 4 : 6);
      BigInteger max = BigInteger.ONE.shiftLeft(bits).subtract(BigInteger.ONE);
      BigInteger first = new BigInteger(1, r.cidr().network().getAddress());
      BigInteger size = BigInteger.ONE.shiftLeft(bits - r.cidr().prefixLength());
      BigInteger last = first.add(size).subtract(BigInteger.ONE);
      for (BigInteger x : new BigInteger[] {first, last, first.subtract(BigInteger.ONE), last.add(BigInteger.ONE),
          first.add(new BigInteger(Math.max(1, size.bitLength() - 1), rnd))}) {
        if (x.signum() >= 0 && x.compareTo(max) <= 0) {
          out.add(new BigInteger[] {x, family});
        }
      }
    }
    return out;
  }

  private static PolicyChange find(List<PolicyChange> changes, BigInteger x, int length) {
    for (PolicyChange c : changes) {
      byte[] first = c.first().getAddress();
      if (first.length != length) {
        continue;
      }
      if (new BigInteger(1, first).compareTo(x) <= 0 && new BigInteger(1, c.last().getAddress()).compareTo(x) >= 0) {
        return c;
      }
    }
    return null;
  }
}
