package dev.portcullis.admission;

import dev.portcullis.policy.IpAddresses;
import java.net.InetAddress;

/**
 * What the limits and the penalty box count a peer as: an IPv6 prefix, or the IPv4-mapped form of
 * an IPv4 prefix, masked to the configured length, in two longs (a Unix peer's uid or gid uses a
 * high word of all ones, see {@link Limiter#local}).
 *
 * @param high the first 64 bits
 * @param low the last 64 bits
 */
record Source(long high, long low) {

  /** How much of an address is one source: the masks for one pair of prefix lengths. */
  static final class Prefix {
    private final long v4Mask;
    private final long v6MaskHigh;
    private final long v6MaskLow;

    /**
     * @param v4Bits the IPv4 prefix length of a source, 1..32
     * @param v6Bits the IPv6 prefix length of a source, 1..128
     */
    Prefix(int v4Bits, int v6Bits) {
      this.v4Mask = v4Bits == 0 ? 0 : (0xFFFF_FFFFL << (32 - v4Bits)) & 0xFFFF_FFFFL;
      this.v6MaskHigh = v6Bits >= 64 ? -1L : v6Bits == 0 ? 0 : -1L << (64 - v6Bits);
      this.v6MaskLow = v6Bits <= 64 ? 0 : v6Bits == 128 ? -1L : -1L << (128 - v6Bits);
    }

    /** The source of an IPv4 peer, as the IPv4-mapped IPv6 address of its masked prefix. */
    Source v4(int address) {
      return new Source(0, 0x0000_FFFF_0000_0000L | (address & v4Mask));
    }

    /** The source of an IPv6 peer; IPv4-mapped addresses count as IPv4. */
    Source v6(long high, long low) {
      if (IpAddresses.isIpv4Mapped(high, low)) {
        return v4((int) low);
      }
      return new Source(high & v6MaskHigh, low & v6MaskLow);
    }

    /** The source of an IP address; null for null. */
    Source of(InetAddress address) {
      if (address == null) {
        return null;
      }
      return v6(dev.portcullis.policy.IpAddresses.high(address), dev.portcullis.policy.IpAddresses.low(address));
    }
  }
}
