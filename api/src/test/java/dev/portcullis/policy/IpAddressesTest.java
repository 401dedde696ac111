package dev.portcullis.policy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.Inet4Address;
import java.net.Inet6Address;
import java.net.InetAddress;
import org.junit.jupiter.api.Test;

class IpAddressesTest {
  @Test
  void mappedLiteralIsTheIpv4AddressItMaps() throws Exception {
    InetAddress a = IpAddresses.parse("::ffff:127.0.0.2");
    assertTrue(a instanceof Inet4Address, a.toString());
    assertEquals(InetAddress.getByName("127.0.0.2"), a);
    assertTrue(AccessPolicy.parse("allow 127.0.0.0/8").decide(a).isAllowed());
  }

  @Test
  void ipv6LiteralStaysIpv6AndFormatsAsRfc5952() {
    InetAddress a = IpAddresses.parse("2001:DB8:0:0:0:0:0:1");
    assertTrue(a instanceof Inet6Address);
    assertEquals("2001:db8::1", IpAddresses.format(a));
    assertEquals("::", IpAddresses.format(IpAddresses.parse("0:0:0:0:0:0:0:0")));
    assertEquals("192.0.2.1", IpAddresses.format(IpAddresses.ipv4(0xC0000201)));
    assertEquals("[::]:7000", IpAddresses.format(new java.net.InetSocketAddress(IpAddresses.parse("::"), 7000)));
    assertEquals("192.0.2.1:443", IpAddresses.format(new java.net.InetSocketAddress(IpAddresses.parse("192.0.2.1"), 443)));
  }

  @Test
  void everySocketAddressPrintsAsPeopleWriteIt() throws Exception {
    java.net.SocketAddress v4 = new java.net.InetSocketAddress(InetAddress.getByName("127.0.0.1"), 37461);
    java.net.SocketAddress v6 = new java.net.InetSocketAddress(InetAddress.getByName("::1"), 7000);
    java.net.SocketAddress any = new java.net.InetSocketAddress(InetAddress.getByName("::"), 7000);
    assertEquals("127.0.0.1:37461", IpAddresses.format(v4));
    assertEquals("[::1]:7000", IpAddresses.format(v6));
    assertEquals("[::]:7000", IpAddresses.format(any));
    assertEquals("/run/app.sock", IpAddresses.format((java.net.SocketAddress) java.net.UnixDomainSocketAddress.of(
        "/run/app.sock")));
    assertEquals("@portcullis-admin", IpAddresses.format(new dev.portcullis.AbstractSocketAddress("portcullis-admin")));
    assertEquals("null", IpAddresses.format((java.net.SocketAddress) null));
  }

  @Test
  void refusesNamesPrefixesZonesAndLeadingZerosQuotingTheInput() {
    assertTrue(assertThrows(IllegalArgumentException.class, () -> IpAddresses.parse("localhost")).getMessage()
        .contains("'localhost' looks like a hostname"));
    assertTrue(assertThrows(IllegalArgumentException.class, () -> IpAddresses.parse("10.0.0.0/8")).getMessage()
        .contains("'10.0.0.0/8' is a prefix, not an address"));
    assertTrue(assertThrows(IllegalArgumentException.class, () -> IpAddresses.parse("fe80::1%eth0")).getMessage()
        .contains("zone id"));
    assertTrue(assertThrows(IllegalArgumentException.class, () -> IpAddresses.parse("10.01.0.1")).getMessage()
        .contains("'10.01.0.1'"));
    assertThrows(NullPointerException.class, () -> IpAddresses.parse(null));
  }
}
