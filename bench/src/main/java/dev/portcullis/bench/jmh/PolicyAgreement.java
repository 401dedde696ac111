package dev.portcullis.bench.jmh;

import dev.portcullis.policy.AccessPolicy;
import dev.portcullis.policy.Decision;
import inet.ipaddr.ipv4.IPv4Address;
import inet.ipaddr.ipv6.IPv6Address;
import java.net.InetSocketAddress;

/**
 * The correctness half of W5: before comparing lookup speeds, check what each implementation
 * decides. For a rule set and its probes, every probe is decided by the {@link LinearReference}
 * (longest prefix wins, deny wins ties, default deny when any rule allows) and by Portcullis, Netty's
 * {@code IpSubnetFilter} and the IPAddress trie; disagreements are counted and the first of each is
 * kept as an example.
 *
 * <p>Portcullis must agree on every probe. Netty is expected not to: its filter sorts the rules and
 * drops every rule whose network address lies inside the rule kept before it, so a deny nested in an
 * allow (or the reverse) is lost and the outer rule decides.
 *
 * <p>Run it on its own (the linear reference is slow: rules x probes steps):
 *
 * <pre>
 * java -cp bench/target/portcullis-bench.jar dev.portcullis.bench.jmh.PolicyAgreement [RULES [PROBES]]
 * </pre>
 *
 * RULES defaults to 1000 and PROBES to 65536 (use fewer probes for 100000 rules).
 */
public final class PolicyAgreement {
  private PolicyAgreement() {}

  /** What one comparison found. Disagreement counts are against the linear reference. */
  public record Report(
      String name,
      int rules,
      int probes,
      int nettyRetainedRules,
      int portcullisDisagreements,
      int portcullisReasonMismatches,
      int nettyDisagreements,
      int ipaddressDisagreements,
      String firstPortcullisDisagreement,
      String firstNettyDisagreement,
      String firstIpaddressDisagreement) {

    @Override
    public String toString() {
      StringBuilder sb = new StringBuilder();
      sb.append(name).append(": ").append(rules).append(" rules, ").append(probes).append(" probes\n");
      line(sb, "Portcullis", portcullisDisagreements, firstPortcullisDisagreement);
      sb.append(String.format("  %-10s %,d probes name a different deciding rule%n", "",
          portcullisReasonMismatches));
      line(sb, "Netty", nettyDisagreements, firstNettyDisagreement);
      sb.append(String.format("  %-10s kept %,d of %,d rules after dropping nested ones%n", "",
          nettyRetainedRules, rules));
      line(sb, "IPAddress", ipaddressDisagreements, firstIpaddressDisagreement);
      return sb.toString();
    }

    private void line(StringBuilder sb, String who, int count, String example) {
      sb.append(String.format("  %-10s disagrees on %,d of %,d probes (%.2f%%)%s%n", who, count, probes,
          100.0 * count / probes, example == null ? "" : ", e.g. " + example));
    }
  }

  /** Decides every probe with every implementation and counts disagreements with the reference. */
  static Report compare(String name, NestedRuleSet rules, ProbeSet probes) {
    if (rules.family() != probes.family()) {
      throw new IllegalArgumentException("rules are IPv" + rules.family() + ", probes IPv" + probes.family());
    }
    LinearReference reference = new LinearReference(rules);
    AccessPolicy policy = AccessPolicy.of(rules.portcullisRules());
    NettySubnetMatcher netty = NettySubnetMatcher.of(rules);
    IpAddressTrieMatcher trie = IpAddressTrieMatcher.of(rules);
    InetSocketAddress[] nettyProbes = probes.socketAddresses();
    IPv4Address[] v4Probes = rules.family() == 4 ? probes.ipaddressIpv4() : null;
    IPv6Address[] v6Probes = rules.family() == 6 ? probes.ipaddressIpv6() : null;

    int portcullisWrong = 0;
    int reasonWrong = 0;
    int nettyWrong = 0;
    int trieWrong = 0;
    String portcullisExample = null;
    String nettyExample = null;
    String trieExample = null;
    for (int j = 0; j < probes.size(); j++) {
      long hi = probes.hi(j);
      long lo = probes.lo(j);
      int deciding = reference.decidingRule(hi, lo);
      boolean expected = reference.allows(hi, lo);
      String why = deciding < 0 ? "default" : rules.ruleText(deciding);

      Decision d = rules.family() == 4 ? policy.decideIpv4((int) lo) : policy.decideIpv6(hi, lo);
      if (d.isAllowed() != expected) {
        portcullisWrong++;
        portcullisExample = first(portcullisExample, probes, j, expected, why, d.toString());
      }
      if (!d.reason().equals(why)) {
        reasonWrong++;
      }
      boolean n = netty.accepts(nettyProbes[j]);
      if (n != expected) {
        nettyWrong++;
        nettyExample = first(nettyExample, probes, j, expected, why, word(n));
      }
      boolean t = rules.family() == 4 ? trie.acceptsIpv4(v4Probes[j]) : trie.acceptsIpv6(v6Probes[j]);
      if (t != expected) {
        trieWrong++;
        trieExample = first(trieExample, probes, j, expected, why, word(t));
      }
    }
    int[] kept = netty.retainedRules();
    return new Report(name, rules.size(), probes.size(), rules.family() == 4 ? kept[0] : kept[1],
        portcullisWrong, reasonWrong, nettyWrong, trieWrong, portcullisExample, nettyExample, trieExample);
  }

  /** The benchmarks' own rule set and probes for {@code family} (4 or 6) at {@code ruleCount} rules. */
  public static Report benchmarkWorkload(int family, int ruleCount) {
    return generated(family, ruleCount, ProbeSet.BENCHMARK_PROBES);
  }

  /**
   * The benchmarks' rule set for {@code family} and {@code ruleCount}, with {@code probeCount} of
   * its probes (the first {@code probeCount} the benchmark uses), for rule sets too large to check
   * 65,536 probes linearly.
   */
  public static Report generated(int family, int ruleCount, int probeCount) {
    NestedRuleSet rules = NestedRuleSet.forBenchmark(family, ruleCount);
    ProbeSet probes = ProbeSet.generate(rules, probeCount, ProbeSet.seedFor(rules));
    return compare("IPv" + family + " nested rule set", rules, probes);
  }

  /**
   * The smallest nested case, the example the Server Javadoc leads with: {@code allow 10.0.0.0/8} with {@code deny
   * 10.66.0.0/16} inside it. The first probe, {@code 10.66.1.2}, is the one Netty lets in.
   */
  public static Report nestedDenyInsideAllowIpv4() {
    return compare("IPv4 allow 10.0.0.0/8 + deny 10.66.0.0/16",
        NestedRuleSet.parse("allow 10.0.0.0/8", "deny 10.66.0.0/16"),
        ProbeSet.of("10.66.1.2", "10.1.2.3", "192.0.2.1", "10.66.0.0", "10.66.255.255",
            "10.65.255.255", "10.67.0.0", "10.0.0.0", "10.255.255.255"));
  }

  /** The same nesting in IPv6: {@code allow 2001:db8::/32} with {@code deny 2001:db8:66::/48}. */
  public static Report nestedDenyInsideAllowIpv6() {
    return compare("IPv6 allow 2001:db8::/32 + deny 2001:db8:66::/48",
        NestedRuleSet.parse("allow 2001:db8::/32", "deny 2001:db8:66::/48"),
        ProbeSet.of("2001:db8:66::1", "2001:db8:1::1", "2001:db9::1", "2001:db8:66:ffff:ffff:ffff:ffff:ffff",
            "2001:db8:67::"));
  }

  private static String first(String kept, ProbeSet probes, int j, boolean expected, String why, String got) {
    return kept != null ? kept
        : probes.text(j) + ": reference " + word(expected) + " (" + why + "), got " + got;
  }

  private static String word(boolean allowed) {
    return allowed ? "allow" : "deny";
  }

  /** Prints the concrete nested examples and both families' generated workloads. */
  public static void main(String[] args) {
    int ruleCount = args.length > 0 ? Integer.parseInt(args[0]) : 1000;
    int probeCount = args.length > 1 ? Integer.parseInt(args[1]) : ProbeSet.BENCHMARK_PROBES;
    System.out.println(nestedDenyInsideAllowIpv4());
    System.out.println(nestedDenyInsideAllowIpv6());
    for (int family : new int[] {4, 6}) {
      System.out.println(generated(family, ruleCount, probeCount));
    }
  }
}
