package dev.portcullis.policy;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.List;
import org.junit.jupiter.api.Test;

/** The compiled interval table on its own: interval counts and lookups at the edges. */
class IntervalTableTest {

  private static Rule allow(String cidr) {
    return Rule.allow(Cidr.parse(cidr));
  }

  private static Rule deny(String cidr) {
    return Rule.deny(Cidr.parse(cidr));
  }

  @Test
  void emptyTableIsOneDefaultInterval() {
    IntervalTable v4 = IntervalTable.build(List.of(), 4);
    assertEquals(1, v4.size());
    assertEquals(0, v4.lookup(0, 0));
    assertEquals(0, v4.lookup(0, 0xFFFF_FFFFL));
    IntervalTable v6 = IntervalTable.build(List.of(), 6);
    assertEquals(1, v6.size());
    assertEquals(0, v6.lookup(-1L, -1L));
    assertEquals(0, v6.lookup(Long.MIN_VALUE, 0));
  }

  @Test
  void rulesOfTheOtherFamilyAreLeftOut() {
    List<Rule> rules = List.of(allow("::/0"), deny("10.0.0.0/8"));
    IntervalTable v4 = IntervalTable.build(rules, 4);
    assertEquals(3, v4.size());
    assertEquals(2, v4.lookup(0, 0x0900_0000L)); // default index is rules.size()
    assertEquals(1, v4.lookup(0, 0x0A00_0000L));
    assertEquals(2, v4.lookup(0, 0x0B00_0000L));
    IntervalTable v6 = IntervalTable.build(rules, 6);
    assertEquals(1, v6.size());
    assertEquals(0, v6.lookup(0x2001_0db8_0000_0000L, 1));
  }

  @Test
  void zeroLengthRuleReplacesTheDefaultEverywhere() {
    IntervalTable t = IntervalTable.build(List.of(deny("0.0.0.0/0")), 4);
    assertEquals(1, t.size());
    assertEquals(0, t.lookup(0, 0));
    assertEquals(0, t.lookup(0, 0xFFFF_FFFFL));
  }

  @Test
  void childrenThatTileTheirParentLeaveNoParentInterval() {
    List<Rule> rules = List.of(allow("10.0.0.0/8"), deny("10.0.0.0/9"), deny("10.128.0.0/9"));
    IntervalTable t = IntervalTable.build(rules, 4);
    assertEquals(4, t.size()); // default, 10.0/9, 10.128/9, default from 11.0.0.0
    assertEquals(3, t.lookup(0, 0x09FF_FFFFL));
    assertEquals(1, t.lookup(0, 0x0A00_0000L));
    assertEquals(1, t.lookup(0, 0x0A7F_FFFFL));
    assertEquals(2, t.lookup(0, 0x0A80_0000L));
    assertEquals(2, t.lookup(0, 0x0AFF_FFFFL));
    assertEquals(3, t.lookup(0, 0x0B00_0000L));
  }

  @Test
  void parentResumesAfterANestedChild() {
    List<Rule> rules = List.of(deny("10.66.1.0/24"), allow("10.0.0.0/8"), allow("10.66.0.0/16"));
    IntervalTable t = IntervalTable.build(rules, 4);
    assertEquals(1, t.lookup(0, 0x0A00_0000L));
    assertEquals(2, t.lookup(0, 0x0A42_0000L));
    assertEquals(0, t.lookup(0, 0x0A42_0100L));
    assertEquals(0, t.lookup(0, 0x0A42_01FFL));
    assertEquals(2, t.lookup(0, 0x0A42_0200L));
    assertEquals(1, t.lookup(0, 0x0A43_0000L));
    assertEquals(3, t.lookup(0, 0x0B00_0000L));
  }

  @Test
  void identicalPrefixWrittenBothWaysIsOneDenyInterval() {
    List<Rule> rules = List.of(allow("10.0.0.0/8"), deny("10.0.0.0/8"), allow("10.0.0.0/8"));
    IntervalTable t = IntervalTable.build(rules, 4);
    assertEquals(3, t.size());
    assertEquals(1, t.lookup(0, 0x0A01_0203L));
  }

  @Test
  void hostRuleOnTheLastIpv4AddressNeedsNoIntervalAfterIt() {
    IntervalTable t = IntervalTable.build(List.of(deny("255.255.255.255")), 4);
    assertEquals(2, t.size());
    assertEquals(0, t.lookup(0, 0xFFFF_FFFFL));
    assertEquals(1, t.lookup(0, 0xFFFF_FFFEL));
  }

  @Test
  void hostRuleOnTheLastIpv6AddressNeedsNoIntervalAfterIt() {
    IntervalTable t = IntervalTable.build(List.of(deny("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")), 6);
    assertEquals(2, t.size());
    assertEquals(0, t.lookup(-1L, -1L));
    assertEquals(1, t.lookup(-1L, -2L));
    assertEquals(1, t.lookup(0, 0));
  }

  @Test
  void intervalAfterAPrefixEndingOnThe64BitBoundaryCarriesIntoTheHighHalf() {
    IntervalTable t = IntervalTable.build(List.of(allow("2001:db8::/64"), deny("::ffff:ffff:ffff:ffff")), 6);
    long net = 0x2001_0db8_0000_0000L;
    assertEquals(0, t.lookup(net, 0));
    assertEquals(0, t.lookup(net, -1L));
    assertEquals(2, t.lookup(net + 1, 0));
    assertEquals(2, t.lookup(net - 1, -1L));
    assertEquals(1, t.lookup(0, -1L));
    assertEquals(2, t.lookup(1, 0));
    assertEquals(2, t.lookup(0, -2L));
  }

  @Test
  void unsignedOrderingPutsHighAddressesAfterLowOnes() {
    IntervalTable v4 = IntervalTable.build(List.of(allow("128.0.0.0/1"), deny("0.0.0.0/1")), 4);
    assertEquals(1, v4.lookup(0, 0x7FFF_FFFFL));
    assertEquals(0, v4.lookup(0, 0x8000_0000L));
    IntervalTable v6 = IntervalTable.build(List.of(allow("8000::/1"), deny("::/1")), 6);
    assertEquals(1, v6.lookup(Long.MAX_VALUE, -1L));
    assertEquals(0, v6.lookup(Long.MIN_VALUE, 0));
  }
}
