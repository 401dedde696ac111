package dev.portcullis.policy;

import java.net.Inet4Address;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.util.Objects;

/**
 * Peer addresses as text: strict parsing that never touches DNS, and the canonical form
 * (dotted quad, RFC 5952 for IPv6).
 *
 * <p>A peer address is not a rule. {@link Cidr#parse} refuses prefixes inside the IPv4-mapped
 * range {@code ::ffff:0:0/96}, because a rule there could never match; a peer address in that
 * range, such as the {@code ::ffff:192.0.2.7} that a dual-stack socket or a proxy's {@code TCP6}
 * PROXY header reports for an IPv4 client, is accepted here and returned as the IPv4 address it
 * maps, so the policy decides it as IPv4.
 *
 * <pre>{@code
 * IpAddresses.parse("::ffff:127.0.0.2");  // the Inet4Address 127.0.0.2
 * IpAddresses.parse("2001:db8::1");       // an Inet6Address
 * IpAddresses.parse("localhost");         // IllegalArgumentException: looks like a hostname ...
 * }</pre>
 */
public final class IpAddresses {
  private IpAddresses() {}

  /**
   * Parses an IPv4 or IPv6 address literal.
   *
   * @param literal dotted-quad IPv4 without leading zeros, or an RFC 4291 IPv6 text form without a
   *     zone id or brackets
   * @return the address; an IPv4-mapped IPv6 literal comes back as the {@link Inet4Address} it maps
   * @throws IllegalArgumentException if the text is not such a literal, quoting it and saying why
   * @throws NullPointerException if {@code literal} is null
   */
  public static InetAddress parse(String literal) {
    Objects.requireNonNull(literal, "literal");
    if (literal.indexOf('/') >= 0) {
      throw new IllegalArgumentException(IpLiterals.quote(literal) + " is a prefix, not an address");
    }
    IpLiterals.Parsed p = IpLiterals.parse(literal, literal);
    return p.family() == 4 ? ipv4((int) p.lo()) : ipv6(p.hi(), p.lo());
  }

  /**
   * The IPv4 address with these 32 bits.
   *
   * @param address the address, most significant octet first
   * @return the address
   */
  public static Inet4Address ipv4(int address) {
    byte[] b = {(byte) (address >>> 24), (byte) (address >>> 16), (byte) (address >>> 8), (byte) address};
    return (Inet4Address) fromBytes(b);
  }

  /**
   * The IPv6 address with these 128 bits; an IPv4-mapped one comes back as the IPv4 address.
   *
   * @param high the first 64 bits
   * @param low the last 64 bits
   * @return the address
   */
  public static InetAddress ipv6(long high, long low) {
    byte[] b = new byte[16];
    for (int i = 0; i < 8; i++) {
      b[i] = (byte) (high >>> (56 - 8 * i));
      b[8 + i] = (byte) (low >>> (56 - 8 * i));
    }
    return fromBytes(b);
  }

  /**
   * The canonical text of an address: dotted quad for IPv4, RFC 5952 for IPv6 ({@code ::}, not
   * {@code 0:0:0:0:0:0:0:0}), without a zone id.
   *
   * @param address the address
   * @return its canonical text, which {@link #parse} reads back
   */
  public static String format(InetAddress address) {
    byte[] b = address.getAddress();
    if (b.length == 4) {
      return IpLiterals.formatIpv4(java.nio.ByteBuffer.wrap(b).getInt());
    }
    java.nio.ByteBuffer bb = java.nio.ByteBuffer.wrap(b);
    return IpLiterals.formatIpv6(bb.getLong(), bb.getLong());
  }

  private static InetAddress fromBytes(byte[] b) {
    try {
      return InetAddress.getByAddress(b);
    } catch (UnknownHostException e) {
      throw new AssertionError("a 4- or 16-byte array is always an address", e);
    }
  }
}
