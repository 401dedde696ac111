package dev.portcullis.policy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.InetAddress;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

class CidrSetTest {

  private static final CidrSet SET = CidrSet.of(List.of(Cidr.parse("10.0.0.0/8"), Cidr.parse("192.0.2.7"),
      Cidr.parse("2001:db8::/32")));

  private static InetAddress ip(String literal) throws Exception {
    return InetAddress.getByName(literal); // literals only: no DNS
  }

  @Test
  void anAddressInsideOneOfItsPrefixesIsHeldAndOneOutsideIsNot() throws Exception {
    assertTrue(SET.contains(ip("10.200.1.1")));
    assertTrue(SET.contains(ip("192.0.2.7")));
    assertTrue(SET.contains(ip("2001:db8:1::5")));
    assertFalse(SET.contains(ip("192.0.2.8")));
    assertFalse(SET.contains(ip("11.0.0.1")));
    assertFalse(SET.contains(ip("2001:db9::1")));
  }

  @Test
  void anIpv4MappedPeerIsLookedUpAsItsIpv4Address() throws Exception {
    InetAddress mapped = InetAddress.getByAddress(new byte[] {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, (byte) 0xff, (byte) 0xff,
        10, 1, 2, 3});
    assertTrue(SET.contains(mapped));
    assertTrue(SET.contains(IpAddresses.high(mapped), IpAddresses.low(mapped)));
  }

  @Test
  void theBitsFormAnswersAsTheAddressFormForRandomAddresses() throws Exception {
    Random random = new Random(23);
    for (int i = 0; i < 2000; i++) {
      byte[] raw = new byte[random.nextBoolean() ? 4 : 16];
      random.nextBytes(raw);
      if (random.nextInt(4) == 0) { // land inside the prefixes often
        raw[0] = (byte) (raw.length == 4 ? 10 : 0x20);
        if (raw.length == 16) {
          raw[1] = 0x01;
          raw[2] = 0x0d;
          raw[3] = (byte) 0xb8;
        }
      }
      InetAddress a = InetAddress.getByAddress(raw);
      boolean linear = SET.ranges().stream().anyMatch(c -> c.contains(a));
      assertEquals(linear, SET.contains(a), a::toString);
      assertEquals(linear, SET.contains(IpAddresses.high(a), IpAddresses.low(a)), a::toString);
    }
  }

  @Test
  void theEmptySetHoldsNothingNotEvenEverywhere() throws Exception {
    CidrSet empty = CidrSet.of(List.of());
    assertTrue(empty.isEmpty());
    assertFalse(empty.contains(ip("0.0.0.0")));
    assertFalse(empty.contains(0, 0));
    assertNull(empty.everywhere());
    assertNull(empty.covering(Cidr.parse("10.0.0.0/8")));
    assertFalse(empty.overlaps(Cidr.parse("0.0.0.0/0")));
  }

  @Test
  void coveringNamesThePrefixThatHoldsAWholeRangeAndOverlapsAnyShare() {
    assertEquals(Cidr.parse("10.0.0.0/8"), SET.covering(Cidr.parse("10.4.0.0/16")));
    assertNull(SET.covering(Cidr.parse("10.0.0.0/7")), "a wider range is not covered");
    assertTrue(SET.overlaps(Cidr.parse("10.0.0.0/7")), "but it overlaps");
    assertTrue(SET.overlaps(Cidr.parse("192.0.2.0/24")));
    assertFalse(SET.overlaps(Cidr.parse("192.0.3.0/24")));
    assertNull(SET.covering(Cidr.parse("::/0")));
  }

  @Test
  void everywhereNamesAZeroLengthPrefix() {
    assertNull(SET.everywhere());
    assertEquals(Cidr.parse("::/0"), CidrSet.of(List.of(Cidr.parse("10.0.0.1"), Cidr.parse("::/0"))).everywhere());
  }
}
