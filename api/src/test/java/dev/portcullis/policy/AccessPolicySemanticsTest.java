package dev.portcullis.policy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.Inet4Address;
import java.net.Inet6Address;
import java.net.InetAddress;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** Longest prefix wins, deny wins ties, defaults, and the two address families. */
class AccessPolicySemanticsTest {

  private static Rule allow(String cidr) {
    return Rule.allow(Cidr.parse(cidr));
  }

  private static Rule deny(String cidr) {
    return Rule.deny(Cidr.parse(cidr));
  }

  private static void assertDecision(AccessPolicy p, String peer, boolean allowed, String reason) {
    Decision d = p.decide(peer);
    assertEquals(allowed, d.isAllowed(), () -> peer + " under\n" + p + "got " + d);
    assertEquals(reason, d.reason(), () -> peer + " under\n" + p);
  }

  /** Every ordering of {@code rules}. */
  private static List<List<Rule>> permutations(List<Rule> rules) {
    List<List<Rule>> out = new ArrayList<>();
    if (rules.isEmpty()) {
      out.add(new ArrayList<>());
      return out;
    }
    for (int i = 0; i < rules.size(); i++) {
      List<Rule> rest = new ArrayList<>(rules);
      Rule first = rest.remove(i);
      for (List<Rule> tail : permutations(rest)) {
        tail.add(0, first);
        out.add(tail);
      }
    }
    return out;
  }

  private static InetAddress mappedInetAddress(int a, int b, int c, int d) throws Exception {
    return InetAddress.getByAddress(new byte[] {
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, (byte) 0xff, (byte) 0xff, (byte) a, (byte) b, (byte) c, (byte) d});
  }

  // ---------------------------------------------------------------- longest prefix

  @Test
  void nestedDenyInsideAllowWinsInBothOrders() {
    for (List<Rule> order : permutations(List.of(allow("10.0.0.0/8"), deny("10.66.0.0/16")))) {
      AccessPolicy p = AccessPolicy.of(order);
      assertDecision(p, "10.66.1.2", false, "deny 10.66.0.0/16");
      assertDecision(p, "10.1.2.3", true, "allow 10.0.0.0/8");
      assertDecision(p, "10.65.255.255", true, "allow 10.0.0.0/8");
      assertDecision(p, "10.67.0.0", true, "allow 10.0.0.0/8");
      assertDecision(p, "192.0.2.1", false, "default");
    }
  }

  @Test
  void nestedAllowInsideDenyWinsInBothOrders() {
    for (List<Rule> order : permutations(List.of(deny("10.0.0.0/8"), allow("10.66.0.0/16")))) {
      AccessPolicy p = AccessPolicy.of(order);
      assertDecision(p, "10.66.1.2", true, "allow 10.66.0.0/16");
      assertDecision(p, "10.1.2.3", false, "deny 10.0.0.0/8");
      assertDecision(p, "192.0.2.1", false, "default");
    }
  }

  @Test
  void threeLevelsDeepInEveryOrder() {
    List<Rule> rules = List.of(allow("10.0.0.0/8"), deny("10.66.0.0/16"), allow("10.66.1.0/24"));
    for (List<Rule> order : permutations(rules)) {
      AccessPolicy p = AccessPolicy.of(order);
      assertDecision(p, "10.66.1.0", true, "allow 10.66.1.0/24");
      assertDecision(p, "10.66.1.255", true, "allow 10.66.1.0/24");
      assertDecision(p, "10.66.0.255", false, "deny 10.66.0.0/16");
      assertDecision(p, "10.66.2.0", false, "deny 10.66.0.0/16");
      assertDecision(p, "10.66.255.255", false, "deny 10.66.0.0/16");
      assertDecision(p, "10.67.0.0", true, "allow 10.0.0.0/8");
      assertDecision(p, "10.255.255.255", true, "allow 10.0.0.0/8");
      assertDecision(p, "11.0.0.0", false, "default");
      assertDecision(p, "9.255.255.255", false, "default");
    }
  }

  @Test
  void threeLevelsDeepIpv6InEveryOrder() {
    List<Rule> rules = List.of(deny("2001:db8::/32"), allow("2001:db8:1::/48"), deny("2001:db8:1::1"));
    for (List<Rule> order : permutations(rules)) {
      AccessPolicy p = AccessPolicy.of(order);
      assertDecision(p, "2001:db8:1::1", false, "deny 2001:db8:1::1/128");
      assertDecision(p, "2001:db8:1::2", true, "allow 2001:db8:1::/48");
      assertDecision(p, "2001:db8:1::", true, "allow 2001:db8:1::/48");
      assertDecision(p, "2001:db8:1:ffff:ffff:ffff:ffff:ffff", true, "allow 2001:db8:1::/48");
      assertDecision(p, "2001:db8:2::", false, "deny 2001:db8::/32");
      assertDecision(p, "2001:db9::", false, "default");
    }
  }

  @Test
  void siblingsAndAdjacentPrefixesDoNotLeakIntoEachOther() {
    for (List<Rule> order : permutations(List.of(
        allow("10.0.0.0/9"), deny("10.128.0.0/9"), allow("10.128.0.0/10"), deny("11.0.0.0/8")))) {
      AccessPolicy p = AccessPolicy.of(order);
      assertDecision(p, "10.127.255.255", true, "allow 10.0.0.0/9");
      assertDecision(p, "10.128.0.0", true, "allow 10.128.0.0/10");
      assertDecision(p, "10.191.255.255", true, "allow 10.128.0.0/10");
      assertDecision(p, "10.192.0.0", false, "deny 10.128.0.0/9");
      assertDecision(p, "11.0.0.0", false, "deny 11.0.0.0/8");
      assertDecision(p, "12.0.0.0", false, "default");
    }
  }

  @Test
  void hostRuleAtTheTopOfTheAddressSpaceIsMatched() {
    AccessPolicy p = AccessPolicy.of(deny("255.255.255.255"), allow("255.0.0.0/8"),
        deny("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"), allow("ffff::/16"));
    assertDecision(p, "255.255.255.255", false, "deny 255.255.255.255/32");
    assertDecision(p, "255.255.255.254", true, "allow 255.0.0.0/8");
    assertDecision(p, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", false,
        "deny ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128");
    assertDecision(p, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe", true, "allow ffff::/16");
    assertDecision(p, "0.0.0.0", false, "default");
    assertDecision(p, "::", false, "default");
  }

  @Test
  void ipv6PrefixesEndingOnThe64BitBoundary() {
    AccessPolicy p = AccessPolicy.of(allow("2001:db8::/64"), deny("2001:db8::/63"));
    assertDecision(p, "2001:db8::ffff:ffff:ffff:ffff", true, "allow 2001:db8::/64");
    assertDecision(p, "2001:db8:0:1::", false, "deny 2001:db8::/63");
    assertDecision(p, "2001:db8:0:2::", false, "default");
    assertDecision(p, "2001:db7:ffff:ffff:ffff:ffff:ffff:ffff", false, "default");
  }

  // ---------------------------------------------------------------- ties and defaults

  @Test
  void denyWinsTieOnIdenticalPrefixInBothOrders() {
    for (List<Rule> order : permutations(List.of(allow("10.0.0.0/8"), deny("10.0.0.0/8")))) {
      AccessPolicy p = AccessPolicy.of(order);
      assertDecision(p, "10.1.2.3", false, "deny 10.0.0.0/8");
      assertEquals(Optional.of(deny("10.0.0.0/8")), p.decide("10.1.2.3").rule());
    }
    for (List<Rule> order : permutations(List.of(allow("::1"), deny("::1"), allow("::1")))) {
      assertDecision(AccessPolicy.of(order), "::1", false, "deny ::1/128");
    }
  }

  @Test
  void defaultDeniesWhenAnyAllowRuleExists() {
    AccessPolicy p = AccessPolicy.parse("allow 10.0.0.0/8\ndeny 192.168.0.0/16\n");
    assertDecision(p, "172.16.0.1", false, "default");
    assertDecision(p, "2001:db8::1", false, "default");
    assertFalse(p.defaultDecision().isAllowed());
    assertTrue(p.defaultDecision().isDefault());
  }

  @Test
  void allowRuleOfOneFamilyMakesTheOtherFamilyDefaultDeny() {
    AccessPolicy p = AccessPolicy.parse("allow 2001:db8::/32\n");
    assertDecision(p, "10.0.0.1", false, "default");
  }

  @Test
  void defaultAllowsWhenOnlyDenyRules() {
    AccessPolicy p = AccessPolicy.parse("deny 10.66.0.0/16\ndeny 2001:db8::/32\n");
    assertDecision(p, "10.66.0.1", false, "deny 10.66.0.0/16");
    assertDecision(p, "10.67.0.1", true, "default");
    assertDecision(p, "2001:db9::1", true, "default");
    assertDecision(p, "2001:db8::1", false, "deny 2001:db8::/32");
    assertTrue(p.defaultDecision().isAllowed());
  }

  @Test
  void emptyPolicyDeniesEveryone() {
    AccessPolicy p = AccessPolicy.of();
    assertTrue(p.isEmpty());
    assertDecision(p, "10.0.0.1", false, "default");
    assertDecision(p, "::1", false, "default");
    assertFalse(p.decideIpv4(0).isAllowed());
    assertFalse(p.decideIpv6(-1L, -1L).isAllowed());
    assertFalse(p.defaultDecision().isAllowed());
  }

  @Test
  void allowAllAllowsBothFamiliesAndMappedPeers() throws Exception {
    AccessPolicy p = AccessPolicy.allowAll();
    assertDecision(p, "0.0.0.0", true, "allow 0.0.0.0/0");
    assertDecision(p, "255.255.255.255", true, "allow 0.0.0.0/0");
    assertDecision(p, "::", true, "allow ::/0");
    assertDecision(p, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", true, "allow ::/0");
    assertDecision(p, "::ffff:10.1.2.3", true, "allow 0.0.0.0/0");
    assertEquals("allow 0.0.0.0/0", p.decideIpv6(0, 0x0000_FFFF_0A01_0203L).reason());
    assertTrue(p.decide(mappedInetAddress(10, 1, 2, 3)).isAllowed());
  }

  // ---------------------------------------------------------------- families

  @Test
  void ipv4ZeroRuleCoversOnlyIpv4() {
    AccessPolicy p = AccessPolicy.parse("allow 0.0.0.0/0\n");
    assertDecision(p, "10.0.0.1", true, "allow 0.0.0.0/0");
    assertDecision(p, "::1", false, "default");
    assertDecision(p, "::", false, "default");
    assertDecision(p, "::a00:1", false, "default"); // IPv4-compatible is not mapped
    assertDecision(p, "::ffff:10.0.0.1", true, "allow 0.0.0.0/0");
  }

  @Test
  void ipv6ZeroRuleCoversOnlyIpv6() {
    AccessPolicy p = AccessPolicy.parse("allow ::/0\n");
    assertDecision(p, "::1", true, "allow ::/0");
    assertDecision(p, "::a00:1", true, "allow ::/0");
    assertDecision(p, "10.0.0.1", false, "default");
    assertDecision(p, "::ffff:10.0.0.1", false, "default");
    assertFalse(p.decideIpv6(0, 0x0000_FFFF_0A00_0001L).isAllowed());
  }

  @Test
  void ipv6DenyZeroDoesNotBlockMappedPeersInABlockList() {
    AccessPolicy p = AccessPolicy.parse("deny ::/0\n");
    assertDecision(p, "::ffff:10.0.0.1", true, "default");
    assertTrue(p.decideIpv6(0, 0x0000_FFFF_0A00_0001L).isAllowed());
    assertDecision(p, "2001:db8::1", false, "deny ::/0");
  }

  @Test
  void ipv4RuleNeverMatchesIpv6PeerAndNeverThrows() throws Exception {
    AccessPolicy p = AccessPolicy.parse("deny 0.0.0.0/0\ndeny 10.0.0.0/8\ndeny 0.0.0.0/32\n");
    // Only deny rules: an unmatched peer is allowed, so every IPv6 peer passes.
    for (String v6 : List.of("::", "::1", "::a00:1", "a00::", "2001:db8::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")) {
      assertDecision(p, v6, true, "default");
      assertTrue(p.decide(InetAddress.getByName(v6)).isAllowed());
    }
    assertTrue(p.decideIpv6(0, 0).isAllowed());
    assertTrue(p.decideIpv6(0, 0x0A00_0001L).isAllowed());
  }

  @Test
  void ipv6RuleNeverMatchesIpv4PeerAndNeverThrows() {
    AccessPolicy p = AccessPolicy.parse("deny ::/0\ndeny ::/96\ndeny ::a00:0/104\ndeny ::\n");
    for (String v4 : List.of("0.0.0.0", "10.0.0.1", "255.255.255.255")) {
      assertDecision(p, v4, true, "default");
    }
    assertTrue(p.decideIpv4(0).isAllowed());
    assertTrue(p.decideIpv4(0x0A000001).isAllowed());
    assertTrue(p.decideIpv4(-1).isAllowed());
  }

  @Test
  void mappedAddressMatchesIpv4Rule() throws Exception {
    AccessPolicy p = AccessPolicy.parse("allow 10.0.0.0/8\ndeny 10.1.2.3\nallow ::/0\n");
    InetAddress mapped = mappedInetAddress(10, 1, 2, 3);
    // Java converts a 16-byte mapped address to an Inet4Address...
    assertTrue(mapped instanceof Inet4Address);
    assertEquals("deny 10.1.2.3/32", p.decide(mapped).reason());
    assertEquals("allow 10.0.0.0/8", p.decide(mappedInetAddress(10, 1, 2, 4)).reason());
    // ...so the raw 128-bit value, as a dual-stack socket reports it, is tested directly too.
    Decision raw = p.decideIpv6(0, 0x0000_FFFF_0A01_0203L);
    assertFalse(raw.isAllowed());
    assertEquals("deny 10.1.2.3/32", raw.reason());
    assertEquals("allow 10.0.0.0/8", p.decideIpv6(0, 0x0000_FFFF_0A01_0204L).reason());
    assertEquals("default", p.decideIpv6(0, 0x0000_FFFF_0B00_0000L).reason());
    assertEquals("deny 10.1.2.3/32", p.decide("::ffff:10.1.2.3").reason());
    assertEquals("deny 10.1.2.3/32", p.decide("0:0:0:0:0:ffff:a01:203").reason());
    // Neighbours of the mapped range are plain IPv6.
    assertEquals("allow ::/0", p.decideIpv6(0, 0x0000_FFFE_0A01_0203L).reason());
    assertEquals("allow ::/0", p.decideIpv6(1, 0x0000_FFFF_0A01_0203L).reason());
    assertEquals("allow ::/0", p.decideIpv6(0, 0x0001_FFFF_0A01_0203L).reason());
  }

  @Test
  void mappedInet6AddressObjectIsDecidedAsIpv4() throws Exception {
    // An Inet6Address that really holds the mapped bytes (Inet6Address.getByAddress keeps them).
    byte[] b = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, (byte) 0xff, (byte) 0xff, 10, 1, 2, 3};
    InetAddress a = Inet6Address.getByAddress(null, b, -1);
    assertTrue(a instanceof Inet6Address);
    AccessPolicy p = AccessPolicy.parse("deny 10.1.2.3\nallow ::/0\n");
    assertEquals("deny 10.1.2.3/32", p.decide(a).reason());
  }

  @Test
  void decideByInetAddressAgreesWithDecideByString() throws Exception {
    AccessPolicy p = AccessPolicy.parse("allow 10.0.0.0/8\ndeny 10.66.0.0/16\nallow 2001:db8::/32\n");
    for (String s : List.of("10.66.0.1", "10.1.1.1", "192.0.2.1", "2001:db8::5", "2001:db9::5", "::1")) {
      assertSame(p.decide(s), p.decide(InetAddress.getByName(s)), s);
    }
  }

  @Test
  void rawIpv4UsesBigEndianUnsignedValues() {
    AccessPolicy p = AccessPolicy.parse("allow 10.0.0.1\nallow 200.0.0.0/8\n");
    assertEquals("allow 10.0.0.1/32", p.decideIpv4(0x0A000001).reason());
    assertEquals("allow 200.0.0.0/8", p.decideIpv4(0xC8FF0001).reason());
    assertEquals("default", p.decideIpv4(0x0100000A).reason());
  }

  // ---------------------------------------------------------------- decide(String)

  @ParameterizedTest
  @ValueSource(strings = {"localhost", "example.com", "my-host.example.org"})
  void decideRejectsHostnames(String name) {
    AccessPolicy p = AccessPolicy.allowAll();
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> p.decide(name));
    assertTrue(e.getMessage().contains("'" + name + "'"), e.getMessage());
    assertTrue(e.getMessage().contains("names are never resolved"), e.getMessage());
  }

  @ParameterizedTest
  @ValueSource(strings = {"", "10.0.0.0/8", "010.0.0.1", "fe80::1%eth0", "[::1]", "1::2::3", "10.1", "256.1.1.1"})
  void decideRejectsMalformedAddressesQuotingThem(String text) {
    AccessPolicy p = AccessPolicy.allowAll();
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> p.decide(text));
    assertTrue(e.getMessage().contains("'" + text + "'"), e.getMessage());
  }

  @Test
  void decideRejectsNull() {
    AccessPolicy p = AccessPolicy.allowAll();
    assertThrows(NullPointerException.class, () -> p.decide((String) null));
    assertThrows(NullPointerException.class, () -> p.decide((InetAddress) null));
  }

  // ---------------------------------------------------------------- Decision

  @Test
  void decisionReasonIsCanonicalRuleTextOrDefault() {
    AccessPolicy p = AccessPolicy.parse("allow   2001:DB8:0:0::/32\ndeny 10.0.0.7\n");
    Decision matched = p.decide("2001:db8::1");
    assertEquals("allow 2001:db8::/32", matched.reason());
    assertEquals(Optional.of(allow("2001:db8::/32")), matched.rule());
    assertFalse(matched.isDefault());
    assertEquals("allow (allow 2001:db8::/32)", matched.toString());

    Decision host = p.decide("10.0.0.7");
    assertEquals("deny 10.0.0.7/32", host.reason());
    assertEquals("deny (deny 10.0.0.7/32)", host.toString());

    Decision byDefault = p.decide("192.0.2.1");
    assertEquals("default", byDefault.reason());
    assertTrue(byDefault.isDefault());
    assertEquals(Optional.empty(), byDefault.rule());
    assertEquals("deny (default)", byDefault.toString());
    assertSame(p.defaultDecision(), byDefault);
  }

  @Test
  void decisionsAreSharedNotAllocatedPerLookup() {
    AccessPolicy p = AccessPolicy.parse("allow 10.0.0.0/8\n");
    assertSame(p.decide("10.0.0.1"), p.decide("10.200.0.1"));
    assertSame(p.decideIpv4(0x0A000001), p.decideIpv6(0, 0x0000_FFFF_0A00_0002L));
  }
  @Test
  void allowsAnyFamilySaysWhetherSomeAddressOfItIsAllowed() {
    AccessPolicy v6Only = AccessPolicy.parse("allow ::1\n");
    assertFalse(v6Only.allowsAnyIpv4(), "IPv4 peers fall to the default, deny");
    assertTrue(v6Only.allowsAnyIpv6());
    AccessPolicy v4Only = AccessPolicy.parse("allow 10.0.0.0/8\n");
    assertTrue(v4Only.allowsAnyIpv4());
    assertFalse(v4Only.allowsAnyIpv6());
    AccessPolicy blockList = AccessPolicy.parse("deny 10.0.0.0/8\n");
    assertTrue(blockList.allowsAnyIpv4() && blockList.allowsAnyIpv6(), "the default allows");
    AccessPolicy overridden = AccessPolicy.parse("allow 10.1.0.0/16\ndeny 10.1.0.0/16\nallow ::1\n");
    assertFalse(overridden.allowsAnyIpv4(), "deny wins the tie");
    AccessPolicy nested = AccessPolicy.parse("deny 10.0.0.0/8\nallow 10.1.2.3\nallow ::1\n");
    assertTrue(nested.allowsAnyIpv4(), "the more specific allow wins");
    AccessPolicy whole = AccessPolicy.parse("deny 0.0.0.0/1\ndeny 128.0.0.0/1\n");
    assertFalse(whole.allowsAnyIpv4());
    assertTrue(whole.allowsAnyIpv6());
  }

  @Test
  void allowsAnyIpv6LeavesOutTheMappedBlockWhichIsDecidedAsIpv4() {
    // allow ::/80, then deny each part of it beside ::ffff:0:0/96: only the mapped block is left.
    List<Rule> rules = new ArrayList<>(List.of(allow("::/80"), allow("10.0.0.1")));
    for (String d : List.of("::/81", "::8000:0:0/82", "::c000:0:0/83", "::e000:0:0/84", "::f000:0:0/85",
        "::f800:0:0/86", "::fc00:0:0/87", "::fe00:0:0/88", "::ff00:0:0/89", "::ff80:0:0/90", "::ffc0:0:0/91",
        "::ffe0:0:0/92", "::fff0:0:0/93", "::fff8:0:0/94", "::fffc:0:0/95", "::fffe:0:0/96")) {
      rules.add(deny(d));
    }
    AccessPolicy mappedOnly = AccessPolicy.of(rules);
    assertTrue(mappedOnly.decideIpv6(0, 0x0000_FFFF_0A00_0001L).isAllowed(), "10.0.0.1, mapped, decided as IPv4");
    assertFalse(mappedOnly.allowsAnyIpv6(), "only the mapped block is left, and it is decided as IPv4");
    rules.remove(deny("::fffe:0:0/96"));
    assertTrue(AccessPolicy.of(rules).allowsAnyIpv6(), "::fffe:0:0/96 is native IPv6");
    AccessPolicy around = AccessPolicy.of(allow("::/0"), deny("::/1"), deny("8000::/1"));
    assertFalse(around.allowsAnyIpv6());
    AccessPolicy justAfter = AccessPolicy.of(allow("::1:0:0:0/128"), allow("10.0.0.1"));
    assertTrue(justAfter.allowsAnyIpv6(), "the first address after the mapped block");
  }
}
