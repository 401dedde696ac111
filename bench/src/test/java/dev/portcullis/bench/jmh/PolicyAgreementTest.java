package dev.portcullis.bench.jmh;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.portcullis.bench.jmh.PolicyAgreement.Report;
import dev.portcullis.policy.AccessPolicy;
import java.net.InetSocketAddress;
import org.junit.jupiter.api.Test;

/**
 * Proves what W5 claims before its timings are read: on the benchmark's own nested rule set (1k
 * rules, 65,536 probes) Portcullis decides every probe as the linear reference does, and Netty's
 * IpSubnetFilter does not, because it drops rules nested inside other rules. No timing is asserted.
 */
class PolicyAgreementTest {

  @Test
  void portcullisAgreesWithLinearReferenceOnNestedIpv4Workload() {
    Report report = PolicyAgreement.benchmarkWorkload(4, 1000);
    System.out.println(report);
    assertEquals(0, report.portcullisDisagreements(), report::toString);
    assertEquals(0, report.portcullisReasonMismatches(), report::toString);
  }

  @Test
  void portcullisAgreesWithLinearReferenceOnNestedIpv6Workload() {
    Report report = PolicyAgreement.benchmarkWorkload(6, 1000);
    System.out.println(report);
    assertEquals(0, report.portcullisDisagreements(), report::toString);
    assertEquals(0, report.portcullisReasonMismatches(), report::toString);
  }

  @Test
  void workloadReallyNestsRules() {
    NestedRuleSet rules = NestedRuleSet.forBenchmark(4, 1000);
    int nested = 0;
    for (int i = 0; i < rules.size(); i++) {
      for (int k = 0; k < rules.size(); k++) {
        if (k != i && rules.prefixLength(k) < rules.prefixLength(i)
            && rules.contains(k, rules.networkHi(i), rules.networkLo(i))) {
          nested++;
          break;
        }
      }
    }
    assertTrue(nested > rules.size() / 2, nested + " of " + rules.size() + " rules lie inside another");
  }

  @Test
  void nettyLetsInPeerOfDenyNestedInsideAllow() {
    NestedRuleSet rules = NestedRuleSet.parse("allow 10.0.0.0/8", "deny 10.66.0.0/16");
    InetSocketAddress peer = new InetSocketAddress(NestedRuleSet.address(4, 0, 0x0A42_0102L), 0); // 10.66.1.2

    assertFalse(new LinearReference(rules).allows(0, 0x0A42_0102L), "reference");
    assertFalse(AccessPolicy.of(rules.portcullisRules()).decide("10.66.1.2").isAllowed(), "Portcullis");
    assertTrue(NettySubnetMatcher.of(rules).accepts(peer),
        "Netty 4.1.118 was expected to drop the nested deny and accept 10.66.1.2; if a newer Netty"
            + " decides by longest prefix, W5's correctness claim about Netty no longer holds");
  }

  @Test
  void concreteNestedExamplesSeparatePortcullisFromNetty() {
    for (Report report : new Report[] {
        PolicyAgreement.nestedDenyInsideAllowIpv4(), PolicyAgreement.nestedDenyInsideAllowIpv6()}) {
      System.out.println(report);
      assertEquals(0, report.portcullisDisagreements(), report::toString);
      assertEquals(0, report.ipaddressDisagreements(), report::toString);
      assertTrue(report.nettyDisagreements() > 0, report::toString);
    }
  }
}
