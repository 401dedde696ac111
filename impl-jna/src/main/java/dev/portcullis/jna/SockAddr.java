package dev.portcullis.jna;

import java.net.Inet6Address;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.ByteOrder;

/** Encodes and decodes {@code sockaddr_in} / {@code sockaddr_in6} for the setup calls. */
final class SockAddr {
  private SockAddr() {}

  static final int IN_LENGTH = 16;
  static final int IN6_LENGTH = 28;
  static final int STORAGE_LENGTH = 128;

  /** A sockaddr for {@code address:port}, in the family of the address. */
  static byte[] encode(InetAddress address, int port) {
    byte[] raw = address.getAddress();
    boolean v6 = address instanceof Inet6Address;
    byte[] sa = new byte[v6 ? IN6_LENGTH : IN_LENGTH];
    putFamily(sa, v6 ? LibC.AF_INET6 : LibC.AF_INET);
    sa[2] = (byte) (port >>> 8);
    sa[3] = (byte) port;
    System.arraycopy(raw, 0, sa, v6 ? 8 : 4, raw.length);
    return sa;
  }

  private static void putFamily(byte[] sa, int family) {
    if (ByteOrder.nativeOrder() == ByteOrder.LITTLE_ENDIAN) {
      sa[0] = (byte) family;
      sa[1] = (byte) (family >>> 8);
    } else {
      sa[0] = (byte) (family >>> 8);
      sa[1] = (byte) family;
    }
  }

  static int family(byte[] sa) {
    return ByteOrder.nativeOrder() == ByteOrder.LITTLE_ENDIAN
        ? (sa[0] & 0xFF) | (sa[1] & 0xFF) << 8
        : (sa[0] & 0xFF) << 8 | (sa[1] & 0xFF);
  }

  /** Offset of {@code sun_path} in {@code sockaddr_un}. */
  static final int UN_PATH_OFFSET = 2;

  /**
   * A {@code sockaddr_un} for a path ({@code name} then NUL) or, when {@code abstractName}, an
   * abstract name (NUL then {@code name}, no terminator); the array's length is the address length.
   */
  static byte[] encodeUnix(byte[] name, boolean abstractName) {
    byte[] sa = new byte[UN_PATH_OFFSET + name.length + 1];
    putFamily(sa, LibC.AF_UNIX);
    System.arraycopy(name, 0, sa, UN_PATH_OFFSET + (abstractName ? 1 : 0), name.length);
    return sa;
  }

  /** Decodes an IPv4, IPv6 or Unix sockaddr of {@code length} bytes. */
  static java.net.SocketAddress decodeAny(byte[] sa, int length) {
    if (family(sa) != LibC.AF_UNIX) {
      return decode(sa);
    }
    int n = length - UN_PATH_OFFSET;
    if (n <= 0) {
      return java.net.UnixDomainSocketAddress.of(""); // an unnamed socket, as most clients are
    }
    if (sa[UN_PATH_OFFSET] == 0) {
      return new dev.portcullis.AbstractSocketAddress(
          new String(sa, UN_PATH_OFFSET + 1, n - 1, java.nio.charset.StandardCharsets.UTF_8));
    }
    int end = UN_PATH_OFFSET;
    while (end < UN_PATH_OFFSET + n && sa[end] != 0) {
      end++;
    }
    return java.net.UnixDomainSocketAddress.of(
        new String(sa, UN_PATH_OFFSET, end - UN_PATH_OFFSET, java.nio.charset.StandardCharsets.UTF_8));
  }

  /** Decodes an IPv4 or IPv6 sockaddr; IPv4-mapped IPv6 addresses come back as IPv4. */
  static InetSocketAddress decode(byte[] sa) {
    int family = family(sa);
    int port = (sa[2] & 0xFF) << 8 | (sa[3] & 0xFF);
    byte[] raw;
    if (family == LibC.AF_INET) {
      raw = java.util.Arrays.copyOfRange(sa, 4, 8);
    } else if (family == LibC.AF_INET6) {
      raw = java.util.Arrays.copyOfRange(sa, 8, 24);
    } else {
      throw new IllegalArgumentException("not an internet socket address: family " + family);
    }
    return new InetSocketAddress(dev.portcullis.policy.IpAddresses.fromBytes(raw), port);
  }

  /** An InetSocketAddress from the raw fields kept by a channel. */
  static InetSocketAddress of(int family, long hi, long lo, int port) {
    byte[] raw;
    if (family == LibC.AF_INET) {
      raw = new byte[] {(byte) (lo >>> 24), (byte) (lo >>> 16), (byte) (lo >>> 8), (byte) lo};
    } else {
      raw = new byte[16];
      for (int i = 0; i < 8; i++) {
        raw[i] = (byte) (hi >>> (56 - 8 * i));
        raw[i + 8] = (byte) (lo >>> (56 - 8 * i));
      }
    }
    return new InetSocketAddress(dev.portcullis.policy.IpAddresses.fromBytes(raw), port);
  }

  /** {@code 127.0.0.1:7000}, {@code [::1]:7000}: as the log lines write an address. */
  static String describe(InetAddress address, int port) {
    return dev.portcullis.policy.IpAddresses.format(new InetSocketAddress(address, port));
  }
}
