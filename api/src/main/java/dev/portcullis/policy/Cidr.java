package dev.portcullis.policy;

import static dev.portcullis.policy.IpLiterals.quote;

import java.net.Inet4Address;
import java.net.Inet6Address;
import java.net.InetAddress;
import java.util.List;
import java.util.Objects;

/**
 * An IPv4 or IPv6 network prefix such as {@code 10.0.0.0/8} or {@code 2001:db8::/32}: an immutable
 * value with a strict parser and a canonical {@link #toString()} that parses back.
 *
 * <pre>{@code
 * Cidr office = Cidr.parse("192.168.10.0/24");
 * office.contains(InetAddress.getByName("192.168.10.7"));   // true
 * Cidr.parse("10.0.0.7");                                     // host rule 10.0.0.7/32
 * Cidr.parse("10.1.2.3/8");   // IllegalArgumentException: ... did you mean 10.0.0.0/8?
 * }</pre>
 *
 * <p>Parsing never touches DNS. IPv4 must be dotted-quad decimal without leading zeros; IPv6 any RFC
 * 4291 text form without a zone id; the prefix length decimal without leading zeros, {@code 0..32}
 * or {@code 0..128}. A bare address is a host rule. A prefix with host bits set is refused with a
 * message naming the network it probably meant. A prefix inside the IPv4-mapped range
 * {@code ::ffff:0:0/96} is refused too, because mapped peers are matched as IPv4: write the IPv4
 * rule instead.
 */
public final class Cidr implements Comparable<Cidr> {
  private final int family;
  private final long hi;
  private final long lo;
  private final int prefixLength;

  private Cidr(int family, long hi, long lo, int prefixLength) {
    this.family = family;
    this.hi = hi;
    this.lo = lo;
    this.prefixLength = prefixLength;
  }

  /**
   * Parses {@code address} or {@code address/length}.
   *
   * @param text the rule text, for example {@code "10.0.0.0/8"}, {@code "::1"} or {@code "::/0"}
   * @return the prefix
   * @throws IllegalArgumentException if the text is not a valid prefix; the message quotes the text
   *     and says what is wrong
   * @throws NullPointerException if {@code text} is null
   */
  public static Cidr parse(String text) {
    Objects.requireNonNull(text, "text");
    if (!text.equals(text.strip())) {
      throw new IllegalArgumentException(quote(text) + " has leading or trailing white space");
    }
    String[] list = text.split("[,;\\s]+");
    if (list.length > 1) {
      throw new IllegalArgumentException(quote(text) + " is a list; a rule takes one prefix, so give each its own:"
          + " .allow(\"" + list[0] + "\").allow(\"" + list[1] + "\")" + (list.length > 2 ? "..." : "")
          + " (or one line each in policy text)");
    }
    int slash = text.indexOf('/');
    String addressPart = slash < 0 ? text : text.substring(0, slash);
    IpLiterals.Parsed a = IpLiterals.parse(addressPart, text);
    if (slash >= 0 && a.family() == 4 && text.indexOf('.', slash) >= 0) {
      throw netmask(text, addressPart, text.substring(slash + 1));
    }
    int max = a.family() == 4 ? 32 : 128;
    int length = max;
    if (slash >= 0) {
      length = parseLength(text.substring(slash + 1), max, text);
    }
    return create(a.family(), a.hi(), a.lo(), length, text);
  }

  /** {@code 10.0.0.0/255.0.0.0}: a netmask where a prefix length belongs; say which length it means. */
  private static IllegalArgumentException netmask(String text, String address, String mask) {
    int m;
    try {
      m = IpLiterals.parseIpv4(mask, text);
    } catch (IllegalArgumentException e) {
      return new IllegalArgumentException(quote(text) + " has '" + mask + "' after '/', which is neither a prefix"
          + " length (0..32) nor a netmask");
    }
    int bits = Integer.bitCount(m);
    if (m != (bits == 0 ? 0 : -1 << (32 - bits))) {
      return new IllegalArgumentException(quote(text) + " has the netmask " + mask + " after '/', which is not"
          + " contiguous, so no prefix length means it; write the prefix length, such as " + address + "/24");
    }
    return new IllegalArgumentException(quote(text) + " has a netmask after '/'; write the prefix length: "
        + address + "/" + bits);
  }

  /**
   * The prefix {@code address/prefixLength}.
   *
   * @param address the network address; its host bits must be zero
   * @param prefixLength {@code 0..32} for IPv4, {@code 0..128} for IPv6
   * @return the prefix
   * @throws IllegalArgumentException if the length is out of range or host bits are set
   */
  public static Cidr of(InetAddress address, int prefixLength) {
    Objects.requireNonNull(address, "address");
    byte[] b = address.getAddress();
    String text = address.getHostAddress() + "/" + prefixLength;
    if (address instanceof Inet4Address) {
      if (prefixLength < 0 || prefixLength > 32) {
        throw new IllegalArgumentException("Prefix length out of range in " + quote(text) + ": expected 0..32");
      }
      return create(4, 0, IpAddresses.bits(b, 0, 4), prefixLength, text);
    }
    if (prefixLength < 0 || prefixLength > 128) {
      throw new IllegalArgumentException("Prefix length out of range in " + quote(text) + ": expected 0..128");
    }
    return create(6, IpAddresses.bits(b, 0, 8), IpAddresses.bits(b, 8, 8), prefixLength, text);
  }

  /**
   * The host prefix ({@code /32} or {@code /128}) of one address.
   *
   * @param address an IPv4 or IPv6 address
   * @return the prefix that contains only {@code address}
   */
  public static Cidr host(InetAddress address) {
    return of(address, address instanceof Inet6Address ? 128 : 32);
  }

  private static int parseLength(String s, int max, String whole) {
    if (s.isEmpty()) {
      throw new IllegalArgumentException(quote(whole) + " has an empty prefix length after '/'");
    }
    if (s.length() > 3) {
      throw new IllegalArgumentException(quote(whole) + " has prefix length '" + s
          + "' out of range: expected 0.." + max);
    }
    for (int i = 0; i < s.length(); i++) {
      if (s.charAt(i) < '0' || s.charAt(i) > '9') {
        throw new IllegalArgumentException(quote(whole) + " has prefix length '" + s
            + "' that is not a decimal number");
      }
    }
    if (s.length() > 1 && s.charAt(0) == '0') {
      throw new IllegalArgumentException(quote(whole) + " has a leading zero in prefix length '" + s + "'");
    }
    int v = Integer.parseInt(s);
    if (v > max) {
      throw new IllegalArgumentException(quote(whole) + " has prefix length " + v
          + " out of range: expected 0.." + max + " for IPv" + (max == 32 ? 4 : 6));
    }
    return v;
  }

  private static Cidr create(int family, long hi, long lo, int length, String text) {
    Cidr network = new Cidr(family, hi & maskHi(family, length), lo & maskLo(family, length), length);
    // Checked before host bits, so that the suggestion is the IPv4 rule, not another mapped prefix.
    if (family == 6 && length >= 96 && IpAddresses.isIpv4Mapped(network.hi, network.lo)) {
      String v4 = IpLiterals.formatIpv4((int) network.lo) + "/" + (length - 96);
      throw new IllegalArgumentException(quote(text) + " is inside the IPv4-mapped range ::ffff:0:0/96;"
          + " mapped peers are matched as IPv4, so write the IPv4 rule " + v4);
    }
    if (network.hi != hi || network.lo != lo) {
      throw new IllegalArgumentException(quote(text) + " has host bits set after the first " + length
          + " bits; did you mean " + network + "?");
    }
    return network;
  }

  static long maskHi(int family, int length) {
    if (family == 4) {
      return 0;
    }
    return length == 0 ? 0 : length >= 64 ? -1L : -1L << (64 - length);
  }

  static long maskLo(int family, int length) {
    if (family == 4) {
      return length == 0 ? 0 : (0xFFFF_FFFFL << (32 - length)) & 0xFFFF_FFFFL;
    }
    return length <= 64 ? 0 : length == 128 ? -1L : -1L << (128 - length);
  }

  /**
   * The fewest blocks that cover exactly the addresses from {@code first} to {@code last}, in
   * address order: what a range becomes for a filter that matches prefixes.
   *
   * <pre>{@code
   * Cidr.covering(IpAddresses.parse("10.0.0.0"), IpAddresses.parse("10.0.2.255")); // [10.0.0.0/23, 10.0.2.0/24]
   * }</pre>
   *
   * @param first the first address of the range
   * @param last the last address, of the same family, not below {@code first}
   * @return the blocks, at least one
   * @throws IllegalArgumentException if the families differ or {@code last} is below {@code first}
   */
  public static List<Cidr> covering(InetAddress first, InetAddress last) {
    byte[] a = first.getAddress();
    byte[] b = last.getAddress();
    java.math.BigInteger lo = new java.math.BigInteger(1, a);
    java.math.BigInteger hi = new java.math.BigInteger(1, b);
    if (a.length != b.length || lo.compareTo(hi) > 0) {
      throw new IllegalArgumentException("Not a range of one family, first to last: " + IpAddresses.format(first)
          + "-" + IpAddresses.format(last));
    }
    return PolicyChange.cover(lo, hi, a.length * 8);
  }

  /**
   * Whether this is an IPv4 prefix.
   *
   * @return {@code true} for IPv4, {@code false} for IPv6
   */
  public boolean isIpv4() {
    return family == 4;
  }

  /**
   * The prefix length: {@code 0..32} for IPv4, {@code 0..128} for IPv6.
   *
   * @return the prefix length
   */
  public int prefixLength() {
    return prefixLength;
  }

  /**
   * The network address, the first address of the prefix.
   *
   * @return the network address, of the prefix's family
   */
  public InetAddress network() {
    byte[] b = new byte[family == 4 ? 4 : 16];
    if (family == 4) {
      for (int i = 0; i < 4; i++) {
        b[i] = (byte) (lo >>> (24 - 8 * i));
      }
    } else {
      for (int i = 0; i < 8; i++) {
        b[i] = (byte) (hi >>> (56 - 8 * i));
        b[i + 8] = (byte) (lo >>> (56 - 8 * i));
      }
    }
    return IpAddresses.fromBytes(b);
  }

  /**
   * Whether {@code address} is inside this prefix. An address of the other family is never inside;
   * an IPv4-mapped IPv6 address is treated as the IPv4 address it maps.
   *
   * @param address an IPv4 or IPv6 address
   * @return {@code true} if the address is inside this prefix
   */
  public boolean contains(InetAddress address) {
    Objects.requireNonNull(address, "address");
    byte[] b = address.getAddress();
    if (b.length == 4) {
      return containsIpv4((int) IpAddresses.bits(b, 0, 4));
    }
    return containsIpv6(IpAddresses.bits(b, 0, 8), IpAddresses.bits(b, 8, 8));
  }

  boolean containsIpv4(int address) {
    return family == 4 && ((address & 0xFFFF_FFFFL) & maskLo(4, prefixLength)) == lo;
  }

  boolean containsIpv6(long h, long l) {
    if (IpAddresses.isIpv4Mapped(h, l)) {
      return containsIpv4((int) l);
    }
    return family == 6 && (h & maskHi(6, prefixLength)) == hi && (l & maskLo(6, prefixLength)) == lo;
  }

  // Raw 128-bit view used by the matcher: IPv4 occupies the low 32 bits of lo.
  int family() {
    return family;
  }

  long hi() {
    return hi;
  }

  long lo() {
    return lo;
  }

  long lastHi() {
    return family == 4 ? 0 : hi | ~maskHi(6, prefixLength);
  }

  long lastLo() {
    return family == 4 ? lo | (~maskLo(4, prefixLength) & 0xFFFF_FFFFL) : lo | ~maskLo(6, prefixLength);
  }

  /** Orders IPv4 before IPv6, then by network address, then shorter (wider) prefixes first. */
  @Override
  public int compareTo(Cidr o) {
    int c = Integer.compare(family, o.family);
    if (c == 0) {
      c = Long.compareUnsigned(hi, o.hi);
    }
    if (c == 0) {
      c = Long.compareUnsigned(lo, o.lo);
    }
    return c != 0 ? c : Integer.compare(prefixLength, o.prefixLength);
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof Cidr c && c.family == family && c.hi == hi && c.lo == lo
        && c.prefixLength == prefixLength;
  }

  @Override
  public int hashCode() {
    return Objects.hash(family, hi, lo, prefixLength);
  }

  /** The canonical form, {@code 10.0.0.0/8} or {@code 2001:db8::/32}, which {@link #parse} reads back. */
  @Override
  public String toString() {
    String address = family == 4 ? IpLiterals.formatIpv4((int) lo) : IpLiterals.formatIpv6(hi, lo);
    return address + "/" + prefixLength;
  }
}
