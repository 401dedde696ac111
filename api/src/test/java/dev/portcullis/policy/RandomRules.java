package dev.portcullis.policy;

import java.util.Random;

/** Random prefixes and rules for the randomized tests, built through the text parser. */
final class RandomRules {
  private RandomRules() {}

  static long v4Mask(int length) {
    return length == 0 ? 0 : (0xFFFF_FFFFL << (32 - length)) & 0xFFFF_FFFFL;
  }

  static long v6HiMask(int length) {
    return length == 0 ? 0 : length >= 64 ? -1L : -1L << (64 - length);
  }

  static long v6LoMask(int length) {
    return length <= 64 ? 0 : length == 128 ? -1L : -1L << (128 - length);
  }

  static String v4Text(long address) {
    return ((address >>> 24) & 0xFF) + "." + ((address >>> 16) & 0xFF) + "."
        + ((address >>> 8) & 0xFF) + "." + (address & 0xFF);
  }

  /** The uncompressed eight-group form, so the parser, not this helper, does the work. */
  static String v6Text(long hi, long lo) {
    StringBuilder sb = new StringBuilder(40);
    for (int i = 0; i < 8; i++) {
      long word = i < 4 ? hi >>> (48 - 16 * i) : lo >>> (48 - 16 * (i - 4));
      if (i > 0) {
        sb.append(':');
      }
      sb.append(Long.toHexString(word & 0xFFFF));
    }
    return sb.toString();
  }

  /** The IPv4 prefix of {@code address} (host bits cleared) and {@code length}. */
  static Cidr v4(long address, int length) {
    return Cidr.parse(v4Text(address & v4Mask(length)) + "/" + length);
  }

  static boolean isMappedRange(long hi, long lo, int length) {
    return length >= 96 && hi == 0 && (lo >>> 32) == 0xFFFFL;
  }

  /** The IPv6 prefix of {@code hi:lo} (host bits cleared), or null if it lies in the mapped range. */
  static Cidr v6(long hi, long lo, int length) {
    long h = hi & v6HiMask(length);
    long l = lo & v6LoMask(length);
    if (isMappedRange(h, l, length)) {
      return null;
    }
    return Cidr.parse(v6Text(h, l) + "/" + length);
  }

  static Cidr randomCidr(Random rnd) {
    if (rnd.nextBoolean()) {
      return v4(rnd.nextInt() & 0xFFFF_FFFFL, rnd.nextInt(33));
    }
    Cidr c;
    do {
      c = v6(rnd.nextLong(), rnd.nextLong(), rnd.nextInt(129));
    } while (c == null);
    return c;
  }

  static Rule randomRule(Random rnd) {
    Cidr c = randomCidr(rnd);
    return rnd.nextBoolean() ? Rule.allow(c) : Rule.deny(c);
  }
}
