package dev.portcullis.jna;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.portcullis.policy.AccessPolicy;
import dev.portcullis.policy.Rule;
import java.net.InetAddress;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * The eBPF filter, loaded into this kernel and run by it ({@code BPF_PROG_TEST_RUN}) on IPv4 and
 * IPv6 frames, decides as the policy does: on seeded random nested policies of both families, at
 * every rule's edges and inside, and across generation switches. Needs {@code CAP_BPF} (CI runs as
 * root); without it the kernel refuses the maps and the tests are skipped, which {@code
 * KernelFilterFallbackTest} covers.
 */
class EbpfFilterTest {
  static boolean ebpfAllowed() {
    try (EbpfFilter f = EbpfFilter.load(dev.portcullis.spi.KernelRules.of(AccessPolicy.allowAll()))) {
      return true;
    } catch (Bpf.BpfException e) {
      return false;
    }
  }

  /** An Ethernet frame carrying an IP header from {@code source}. */
  static byte[] frame(byte[] source) {
    boolean v4 = source.length == 4;
    byte[] f = new byte[14 + (v4 ? 20 : 40)];
    f[12] = (byte) (v4 ? 0x08 : 0x86);
    f[13] = (byte) (v4 ? 0x00 : 0xDD);
    f[14] = (byte) (v4 ? 0x45 : 0x60);
    System.arraycopy(source, 0, f, 14 + (v4 ? 12 : 8), source.length);
    return f;
  }

  static boolean accepts(EbpfFilter filter, byte[] source) throws Bpf.BpfException {
    int r = Bpf.testRun(filter.programFd(), frame(source));
    assertTrue(r == 0 || r == -1, "the program returns 0 (drop) or 0xFFFFFFFF (keep), not " + r);
    return r != 0;
  }

  @Test
  void aSmallPolicyIsDecidedInTheKernelAsInUserSpace() throws Exception {
    assumeTrue(ebpfAllowed(), "the kernel refuses eBPF maps to this process");
    AccessPolicy p = AccessPolicy.parse("allow 10.0.0.0/8\ndeny 10.66.0.0/16\nallow 2001:db8::/32\n"
        + "deny 2001:db8:bad::/48\nallow 2001:db8:bad:1::7\n");
    try (EbpfFilter f = EbpfFilter.load(dev.portcullis.spi.KernelRules.of(p))) {
      for (String a : List.of("10.1.2.3", "10.66.0.1", "192.0.2.1", "2001:db8::1", "2001:db8:bad::1",
          "2001:db8:bad:1::7", "2001:db8:bad:1::8", "2001:db9::1", "::1", "fe80::1")) {
        assertEquals(p.decide(a).isAllowed(), accepts(f, InetAddress.getByName(a).getAddress()), a);
      }
      assertEquals(1, f.generation());
      assertEquals(3, f.ipv4Entries(), "two rules and the default");
    }
  }

  @Test
  void theEntriesAreTheRulesThatDecideInAddressOrder() {
    AccessPolicy p = AccessPolicy.parse("deny 10.1.2.3\nallow 10.0.0.0/8\nallow 10.1.0.0/16\ndeny 10.1.2.0/24\n"
        + "allow 192.0.2.0/24\ndeny 192.0.2.0/24\nallow 198.51.100.0/24\ndeny 198.51.100.0/24\n"
        + "allow 198.51.100.7\nallow 2001:db8::/32\nallow ::/0\n");
    assertEquals(List.of("deny 0.0.0.0/0", "allow 10.0.0.0/8", "deny 10.1.2.0/24", "allow 198.51.100.7/32"),
        EbpfFilter.entries(dev.portcullis.spi.KernelRules.of(p), 4).stream().map(Object::toString).toList(),
        "the default first, then address order; 10.1.0.0/16 and 10.1.2.3 decide as their parents do; a deny"
            + " and an allow of one block are a deny, which here the default already decides");
    assertEquals(List.of("allow ::/0"), EbpfFilter.entries(dev.portcullis.spi.KernelRules.of(p), 6).stream().map(Object::toString).toList(),
        "a /0 rule replaces the default, and 2001:db8::/32 decides as it does");
  }

  @Test
  void randomNestedPoliciesAgreeOnEveryProbeAcrossGenerations() throws Exception {
    assumeTrue(ebpfAllowed(), "the kernel refuses eBPF maps to this process");
    Random rnd = new Random(1202);
    int probes = 0;
    int dropped = 0;
    try (EbpfFilter f = EbpfFilter.load(dev.portcullis.spi.KernelRules.of(AccessPolicy.allowAll()))) {
      for (int round = 0; round < 40; round++) {
        List<Rule> rules = KernelFilterProgramTest.nested(rnd, 10 + rnd.nextInt(40));
        if (round % 3 == 0) {
          rules = new java.util.ArrayList<>(rules);
          rules.add(rnd.nextBoolean() ? Rule.deny(dev.portcullis.policy.Cidr.parse("::/0"))
              : Rule.allow(dev.portcullis.policy.Cidr.parse("0.0.0.0/0"))); // a rule that is its own default
        }
        AccessPolicy p = AccessPolicy.of(rules);
        f.replace(dev.portcullis.spi.KernelRules.of(p)); // the same program, a new generation of tries
        assertEquals(round + 2, f.generation());
        for (byte[] probe : KernelFilterProgramTest.probes(rnd, rules)) {
          InetAddress a = InetAddress.getByAddress(probe);
          if (probe.length == 16 && a.getAddress().length == 4) {
            continue; // IPv4-mapped: never an IPv6 source on the wire
          }
          boolean accepted = accepts(f, probe);
          assertEquals(p.decide(a).isAllowed(), accepted, a + " in policy " + rules);
          probes++;
          dropped += accepted ? 0 : 1;
        }
      }
    }
    assertTrue(probes > 4_000 && dropped > 1_000 && dropped < probes - 1_000,
        "a real comparison: " + probes + " probes, " + dropped + " dropped");
  }

  @Test
  void bansAreDroppedWhateverThePolicySaysAndLiftedWithoutTouchingThePolicysTries() throws Exception {
    assumeTrue(ebpfAllowed(), "the kernel refuses eBPF maps to this process");
    AccessPolicy p = AccessPolicy.parse("allow 0.0.0.0/0\nallow ::/0\ndeny 10.9.0.0/16\n");
    try (EbpfFilter f = EbpfFilter.load(dev.portcullis.spi.KernelRules.of(p))) {
      byte[] banned4 = InetAddress.getByName("10.1.2.3").getAddress();
      byte[] banned6 = InetAddress.getByName("2001:db8::77").getAddress();
      byte[] other = InetAddress.getByName("10.1.2.4").getAddress();
      byte[] denied = InetAddress.getByName("10.9.0.1").getAddress();
      assertTrue(accepts(f, banned4) && accepts(f, banned6) && accepts(f, other) && !accepts(f, denied));

      f.replaceBans(List.of(dev.portcullis.policy.Cidr.parse("10.1.2.3/32"),
          dev.portcullis.policy.Cidr.parse("2001:db8::/64")));
      assertTrue(!accepts(f, banned4) && !accepts(f, banned6), "banned sources are dropped, though allowed");
      assertTrue(accepts(f, other) && !accepts(f, denied), "the rest is decided by the policy as before");
      assertEquals(1, f.generation(), "the policy's tries were not rebuilt");
      assertEquals(2, f.bans());

      f.replace(dev.portcullis.spi.KernelRules.of(AccessPolicy.parse("allow 0.0.0.0/0\nallow ::/0\n")));
      assertTrue(!accepts(f, banned4) && accepts(f, denied), "a policy update keeps the bans");

      f.replaceBans(List.of());
      assertTrue(accepts(f, banned4) && accepts(f, banned6), "lifted");
    }
  }

  @Test
  void aFrameThatIsNeitherIpv4NorIpv6IsLeftToUserSpace() throws Exception {
    assumeTrue(ebpfAllowed(), "the kernel refuses eBPF maps to this process");
    try (EbpfFilter f = EbpfFilter.load(dev.portcullis.spi.KernelRules.of(AccessPolicy.parse("deny 0.0.0.0/0\ndeny ::/0\n")))) {
      assertTrue(!accepts(f, new byte[4]) && !accepts(f, new byte[16]), "both families denied");
      byte[] other = frame(new byte[4]);
      other[14] = 0x55; // version 5
      assertEquals(-1, Bpf.testRun(f.programFd(), other));
    }
  }
}
