package dev.portcullis.jna;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.portcullis.policy.AccessPolicy;
import dev.portcullis.policy.Cidr;
import dev.portcullis.policy.Rule;
import java.math.BigInteger;
import java.net.InetAddress;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * The compiled socket filter, run by a classic BPF interpreter of the instructions it uses, agrees
 * with the policy on every probe: IPv4 and IPv6 headers from rule edges and their neighbours and
 * random addresses, on seeded random nested policies of both families. Jump offsets, word order
 * and masks are what this checks; {@code KernelFilterTest} and {@code KernelFilterIpv6Test} check
 * that the kernel runs the program the same way.
 */
class KernelFilterProgramTest {
  private static final int SKF_NET_OFF = -0x100000;

  /** Runs the program on a packet whose network header is {@code net}: whether it is accepted. */
  static boolean accepts(int[] program, byte[] net) {
    int a = 0;
    for (int pc = 0, steps = 0; steps < 10_000; pc++, steps++) {
      int word = program[2 * pc];
      int code = word & 0xFFFF;
      int jt = (word >>> 16) & 0xFF;
      int jf = (word >>> 24) & 0xFF;
      int k = program[2 * pc + 1];
      switch (code) {
        case 0x30 -> a = net[k - SKF_NET_OFF] & 0xFF;                            // ld b [net + x]
        case 0x20 -> {                                                            // ld w [net + x]
          int o = k - SKF_NET_OFF;
          a = (net[o] & 0xFF) << 24 | (net[o + 1] & 0xFF) << 16 | (net[o + 2] & 0xFF) << 8 | (net[o + 3] & 0xFF);
        }
        case 0x74 -> a = a >>> k;                                                 // rsh
        case 0x54 -> a = a & k;                                                   // and
        case 0x15 -> pc += a == k ? jt : jf;                                      // jeq
        case 0x25 -> pc += Integer.compareUnsigned(a, k) > 0 ? jt : jf;           // jgt (unsigned)
        case 0x35 -> pc += Integer.compareUnsigned(a, k) >= 0 ? jt : jf;          // jge (unsigned)
        case 0x05 -> pc += k;                                                     // ja
        case 0x06 -> {
          return k != 0;                                                          // ret
        }
        default -> throw new AssertionError("instruction " + Integer.toHexString(code) + " at " + pc);
      }
    }
    throw new AssertionError("the program did not end");
  }

  private static byte[] ipv4Header(byte[] source) {
    byte[] h = new byte[20];
    h[0] = 0x45;
    System.arraycopy(source, 0, h, 12, 4);
    return h;
  }

  private static byte[] ipv6Header(byte[] source) {
    byte[] h = new byte[40];
    h[0] = 0x60;
    System.arraycopy(source, 0, h, 8, 16);
    return h;
  }

  @Test
  void aSmallPolicyOfBothFamiliesIsDecidedInTheProgramAsInUserSpace() throws Exception {
    AccessPolicy p = AccessPolicy.parse("allow 10.0.0.0/8\ndeny 10.66.0.0/16\nallow 2001:db8::/32\n"
        + "deny 2001:db8:bad::/48\nallow 2001:db8:bad:1::7\n");
    int[] program = KernelFilter.compile(dev.portcullis.spi.KernelRules.of(p));
    assertNotNull(program);
    for (String a : List.of("10.1.2.3", "10.66.0.1", "192.0.2.1", "2001:db8::1", "2001:db8:bad::1",
        "2001:db8:bad:1::7", "2001:db8:bad:1::8", "2001:db9::1", "::1", "fe80::1")) {
      byte[] b = InetAddress.getByName(a).getAddress();
      boolean accepted = accepts(program, b.length == 4 ? ipv4Header(b) : ipv6Header(b));
      assertEquals(p.decide(a).isAllowed(), accepted, a);
    }
  }

  @Test
  void randomNestedPoliciesAgreeOnEveryProbe() throws Exception {
    Random rnd = new Random(1201);
    int probes = 0;
    int dropped = 0;
    int fitted = 0;
    for (int round = 0; round < 40; round++) {
      List<Rule> rules = nested(rnd, 10 + rnd.nextInt(40));
      AccessPolicy p = AccessPolicy.of(rules);
      int[] program = KernelFilter.compile(dev.portcullis.spi.KernelRules.of(p));
      assertNotNull(program, "IPv4 fits one program");
      // Both families, unless the IPv6 prefixes do not fit beside IPv4: then IPv6 is all accepted.
      boolean withIpv6 = KernelFilter.compile(KernelFilter.deniedIpv4(dev.portcullis.spi.KernelRules.of(p)), KernelFilter.deniedIpv6Prefixes(dev.portcullis.spi.KernelRules.of(p))) != null;
      fitted += withIpv6 ? 1 : 0;
      for (byte[] probe : probes(rnd, rules)) {
        InetAddress a = InetAddress.getByAddress(probe);
        if (probe.length == 16 && a.getAddress().length == 4) {
          continue; // IPv4-mapped: never an IPv6 source on the wire
        }
        boolean accepted = accepts(program, probe.length == 4 ? ipv4Header(probe) : ipv6Header(probe));
        boolean expected = probe.length == 16 && !withIpv6 || p.decide(a).isAllowed();
        assertEquals(expected, accepted, a + " in policy " + rules);
        probes++;
        dropped += accepted ? 0 : 1;
      }
    }
    assertTrue(probes > 4_000 && dropped > 1_000 && dropped < probes - 1_000,
        "a real comparison: " + probes + " probes, " + dropped + " dropped");
    assertTrue(fitted >= 25, "most rounds filter IPv6 in the program too: " + fitted + " of 40");
  }

  static List<Rule> nested(Random rnd, int n) throws Exception {
    Map<Cidr, Rule> out = new LinkedHashMap<>();
    long v4Parent = (10L + rnd.nextInt(2)) << 24;
    for (int i = 0; i < n; i++) {
      Cidr c;
      if (rnd.nextBoolean()) {
        int len = 8 + rnd.nextInt(25);
        long addr = (v4Parent | (rnd.nextInt(1 << 24) & 0xFFFFFFL)) & ((0xFFFF_FFFFL << (32 - len)) & 0xFFFF_FFFFL);
        c = Cidr.parse(((addr >>> 24) & 0xFF) + "." + ((addr >>> 16) & 0xFF) + "." + ((addr >>> 8) & 0xFF) + "."
            + (addr & 0xFF) + "/" + len);
      } else {
        int len = 32 + rnd.nextInt(97);
        BigInteger v = BigInteger.valueOf(0x2001_0db8L + rnd.nextInt(2)).shiftLeft(96)
            .or(new BigInteger(96, rnd));
        v = v.shiftRight(128 - len).shiftLeft(128 - len);
        c = Cidr.of(address(v), len);
      }
      out.put(c, rnd.nextBoolean() ? Rule.allow(c) : Rule.deny(c));
    }
    return new ArrayList<>(out.values());
  }

  private static InetAddress address(BigInteger v) throws Exception {
    byte[] raw = v.toByteArray();
    byte[] b = new byte[16];
    int n = Math.min(raw.length, 16);
    System.arraycopy(raw, raw.length - n, b, 16 - n, n);
    return InetAddress.getByAddress(b);
  }

  static List<byte[]> probes(Random rnd, List<Rule> rules) {
    List<byte[]> out = new ArrayList<>();
    for (Rule r : rules) {
      int bits = r.cidr().isIpv4() ? 32 : 128;
      BigInteger max = BigInteger.ONE.shiftLeft(bits).subtract(BigInteger.ONE);
      BigInteger first = new BigInteger(1, r.cidr().network().getAddress());
      BigInteger size = BigInteger.ONE.shiftLeft(bits - r.cidr().prefixLength());
      BigInteger last = first.add(size).subtract(BigInteger.ONE);
      for (BigInteger x : new BigInteger[] {first, last, first.subtract(BigInteger.ONE), last.add(BigInteger.ONE),
          first.add(new BigInteger(Math.max(1, size.bitLength() - 1), rnd))}) {
        if (x.signum() >= 0 && x.compareTo(max) <= 0) {
          byte[] raw = x.toByteArray();
          byte[] b = new byte[bits / 8];
          int n = Math.min(raw.length, b.length);
          System.arraycopy(raw, raw.length - n, b, b.length - n, n);
          out.add(b);
        }
      }
    }
    return out;
  }
}
