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
    return (Inet4Address) fromBytes(java.nio.ByteBuffer.allocate(4).putInt(address).array());
  }

  /**
   * The IPv6 address with these 128 bits; an IPv4-mapped one comes back as the IPv4 address.
   *
   * @param high the first 64 bits
   * @param low the last 64 bits
   * @return the address
   */
  public static InetAddress ipv6(long high, long low) {
    return fromBytes(java.nio.ByteBuffer.allocate(16).putLong(high).putLong(low).array());
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

  /**
   * An address and port as people write them: {@code 192.0.2.7:443}, {@code [2001:db8::1]:443},
   * {@code [::]:7000}; an unresolved one as its host name and port.
   *
   * @param address the socket address
   * @return its text
   */
  public static String format(java.net.InetSocketAddress address) {
    if (address.getAddress() == null) {
      return address.getHostString() + ":" + address.getPort();
    }
    String host = format(address.getAddress());
    return (host.indexOf(':') >= 0 ? "[" + host + "]" : host) + ":" + address.getPort();
  }

  /**
   * Any socket address as people write it, the one form the library's log lines, messages and
   * {@code toString()}s use: an IP socket address as {@link #format(java.net.InetSocketAddress)}
   * ({@code 127.0.0.1:7000}, {@code [::1]:7000}, never {@code /127.0.0.1:7000}); a Unix socket as
   * its path; an abstract Unix socket ({@link dev.portcullis.AbstractSocketAddress}) as
   * {@code @name}; anything else as its {@code toString()}.
   *
   * @param address the socket address, or null
   * @return its text; {@code "null"} for null
   */
  public static String format(java.net.SocketAddress address) {
    if (address instanceof java.net.InetSocketAddress ip) {
      return format(ip);
    }
    if (address instanceof java.net.UnixDomainSocketAddress unix) {
      return unix.getPath().toString();
    }
    return String.valueOf(address); // AbstractSocketAddress says @name itself
  }

  /**
   * The address with these bytes, without the checked exception of {@link
   * InetAddress#getByAddress(byte[])}: a 16-byte IPv4-mapped address comes back as the {@link
   * Inet4Address} it maps, as it does there.
   *
   * @param bytes 4 or 16 bytes, network order
   * @return the address
   * @throws IllegalArgumentException if the array is not 4 or 16 bytes long
   */
  public static InetAddress fromBytes(byte[] bytes) {
    if (bytes.length != 4 && bytes.length != 16) {
      throw new IllegalArgumentException("An IP address is 4 or 16 bytes, not " + bytes.length);
    }
    try {
      return InetAddress.getByAddress(bytes);
    } catch (UnknownHostException e) {
      throw new AssertionError("a 4- or 16-byte array is always an address", e);
    }
  }

  /**
   * Up to 8 bytes of an address, big-endian, as the low bits of a long: the one place address
   * bytes become numbers ({@code bits(a, 0, 4)} is an IPv4 address, {@code bits(a, 0, 8)} and
   * {@code bits(a, 8, 8)} an IPv6 address's halves).
   *
   * @param bytes the address bytes, network order
   * @param offset the first byte to read
   * @param length how many bytes, 0 to 8
   * @return the bits
   * @throws IllegalArgumentException if {@code length} is not 0 to 8
   */
  public static long bits(byte[] bytes, int offset, int length) {
    if (length < 0 || length > 8) {
      throw new IllegalArgumentException("A long holds 0 to 8 bytes, not " + length);
    }
    long v = 0;
    for (int i = 0; i < length; i++) {
      v = (v << 8) | (bytes[offset + i] & 0xFF);
    }
    return v;
  }

  /**
   * The high 64 bits of an address in the 128-bit form every decision uses, IPv4 mapped into
   * {@code ::ffff:0:0/96} (so 0 for IPv4).
   *
   * @param address an IPv4 or IPv6 address
   * @return the high bits
   */
  public static long high(InetAddress address) {
    byte[] b = address.getAddress();
    return b.length == 4 ? 0 : bits(b, 0, 8);
  }

  /**
   * The low 64 bits of an address in the 128-bit form, IPv4 mapped: {@code 0xFFFF_0A00_0001L} for
   * {@code 10.0.0.1}.
   *
   * @param address an IPv4 or IPv6 address
   * @return the low bits
   */
  public static long low(InetAddress address) {
    byte[] b = address.getAddress();
    return b.length == 4 ? mappedLow((int) bits(b, 0, 4)) : bits(b, 8, 8);
  }

  /**
   * The low 64 bits of an IPv4 address in the 128-bit form (its high bits are 0): {@code
   * 0xFFFF_0A00_0001L} for {@code 10.0.0.1}, given as {@code 0x0A000001}.
   *
   * @param ipv4 the address, big-endian
   * @return the low bits of {@code ::ffff:a.b.c.d}
   */
  public static long mappedLow(int ipv4) {
    return 0xFFFF_0000_0000L | (ipv4 & 0xFFFF_FFFFL);
  }

  /**
   * Whether these 128 bits are an IPv4-mapped IPv6 address ({@code ::ffff:a.b.c.d}), which is
   * decided, counted and shown as the IPv4 address in its low 32 bits.
   *
   * @param high the first 64 bits
   * @param low the last 64 bits
   * @return {@code true} for {@code ::ffff:0:0/96}
   */
  public static boolean isIpv4Mapped(long high, long low) {
    return high == 0 && (low >>> 32) == 0xFFFFL;
  }
}
