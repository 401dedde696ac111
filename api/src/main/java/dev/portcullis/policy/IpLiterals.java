package dev.portcullis.policy;

/**
 * Strict parsing and formatting of IP address literals. Never touches DNS: anything that is not a
 * literal is refused with a message that says what it looks like instead.
 */
final class IpLiterals {
  private IpLiterals() {}

  /** Result holder: family 4 or 6; IPv4 lives in the low 32 bits of {@code lo}. */
  record Parsed(int family, long hi, long lo) {}

  static Parsed parse(String text, String whole) {
    if (text.isEmpty()) {
      throw new IllegalArgumentException(quote(whole) + " is empty where an IP address was expected");
    }
    if (text.indexOf('%') >= 0) {
      throw new IllegalArgumentException(quote(whole)
          + " has a zone id ('%...'); zone ids are not allowed in rules or addresses");
    }
    if (text.startsWith("[") || text.endsWith("]")) {
      throw new IllegalArgumentException(quote(whole)
          + " is bracketed; write the IPv6 address without [ ]");
    }
    if (text.indexOf(':') >= 0) {
      long[] v6 = parseIpv6(text, whole);
      return new Parsed(6, v6[0], v6[1]);
    }
    return new Parsed(4, 0, parseIpv4(text, whole) & 0xFFFF_FFFFL);
  }

  static int parseIpv4(String text, String whole) {
    String[] parts = text.split("\\.", -1);
    if (parts.length != 4) {
      if (looksLikeHostname(text)) {
        throw hostname(whole);
      }
      throw new IllegalArgumentException(quote(whole)
          + " is not an IPv4 address: expected four decimal parts a.b.c.d, found " + parts.length);
    }
    int value = 0;
    for (String part : parts) {
      value = (value << 8) | parseIpv4Part(part, text, whole);
    }
    return value;
  }

  private static int parseIpv4Part(String part, String text, String whole) {
    if (part.isEmpty() || part.length() > 3) {
      if (looksLikeHostname(text)) {
        throw hostname(whole);
      }
      throw new IllegalArgumentException(quote(whole)
          + " is not an IPv4 address: each part is 1 to 3 decimal digits, found '" + part + "'");
    }
    for (int i = 0; i < part.length(); i++) {
      char c = part.charAt(i);
      if (c < '0' || c > '9') {
        if (looksLikeHostname(text)) {
          throw hostname(whole);
        }
        throw new IllegalArgumentException(quote(whole)
            + " is not an IPv4 address: part '" + part + "' is not decimal"
            + " (octal, hex and other forms are refused)");
      }
    }
    if (part.length() > 1 && part.charAt(0) == '0') {
      throw new IllegalArgumentException(quote(whole) + " has a leading zero in part '" + part
          + "'; leading zeros are refused because some parsers read them as octal");
    }
    int v = Integer.parseInt(part);
    if (v > 255) {
      throw new IllegalArgumentException(quote(whole) + " is not an IPv4 address: part " + v
          + " is larger than 255");
    }
    return v;
  }

  /** RFC 4291 section 2.2 text forms: full, '::'-compressed, and with a trailing dotted quad. */
  static long[] parseIpv6(String text, String whole) {
    int doubleColon = text.indexOf("::");
    if (doubleColon >= 0 && text.indexOf("::", doubleColon + 1) >= 0) {
      throw new IllegalArgumentException(quote(whole) + " is not an IPv6 address: '::' may appear only once");
    }
    int[] groups = new int[8];
    int count;
    if (doubleColon >= 0) {
      int[] head = parseGroups(text.substring(0, doubleColon), whole, false);
      int[] tail = parseGroups(text.substring(doubleColon + 2), whole, true);
      if (head.length + tail.length > 7) {
        throw new IllegalArgumentException(quote(whole)
            + " is not an IPv6 address: '::' must stand for at least one zero group");
      }
      System.arraycopy(head, 0, groups, 0, head.length);
      System.arraycopy(tail, 0, groups, 8 - tail.length, tail.length);
      count = 8;
    } else {
      int[] all = parseGroups(text, whole, true);
      count = all.length;
      System.arraycopy(all, 0, groups, 0, Math.min(8, all.length));
    }
    if (count != 8) {
      throw new IllegalArgumentException(quote(whole)
          + " is not an IPv6 address: expected 8 groups of 16 bits, found " + count);
    }
    long hi = 0;
    long lo = 0;
    for (int i = 0; i < 4; i++) {
      hi = (hi << 16) | groups[i];
      lo = (lo << 16) | groups[i + 4];
    }
    return new long[] {hi, lo};
  }

  /** Parses colon-separated groups; an embedded IPv4 tail counts as two groups. */
  private static int[] parseGroups(String s, String whole, boolean ipv4TailAllowed) {
    if (s.isEmpty()) {
      return new int[0];
    }
    String[] parts = s.split(":", -1);
    int[] out = new int[parts.length + 1];
    int n = 0;
    for (int i = 0; i < parts.length; i++) {
      String p = parts[i];
      if (ipv4TailAllowed && i == parts.length - 1 && p.indexOf('.') >= 0) {
        int v4 = parseIpv4(p, whole);
        out[n++] = (v4 >>> 16) & 0xFFFF;
        out[n++] = v4 & 0xFFFF;
        continue;
      }
      if (p.isEmpty() || p.length() > 4) {
        throw new IllegalArgumentException(quote(whole)
            + " is not an IPv6 address: each group is 1 to 4 hex digits, found '" + p + "'");
      }
      int v = 0;
      for (int k = 0; k < p.length(); k++) {
        char c = p.charAt(k);
        // ASCII only: Character.digit also accepts other scripts' and fullwidth digits and letters.
        int d = c < 0x80 ? Character.digit(c, 16) : -1;
        if (d < 0) {
          throw new IllegalArgumentException(quote(whole)
              + " is not an IPv6 address: '" + p + "' is not hexadecimal");
        }
        v = (v << 4) | d;
      }
      out[n++] = v;
    }
    return java.util.Arrays.copyOf(out, n);
  }

  static String formatIpv4(int v) {
    return ((v >>> 24) & 0xFF) + "." + ((v >>> 16) & 0xFF) + "." + ((v >>> 8) & 0xFF) + "." + (v & 0xFF);
  }

  /** RFC 5952: lowercase, no leading zeros, the longest run (first on ties) of 2+ zero groups as '::'. */
  static String formatIpv6(long hi, long lo) {
    int[] g = new int[8];
    for (int i = 0; i < 4; i++) {
      g[i] = (int) (hi >>> (48 - 16 * i)) & 0xFFFF;
      g[i + 4] = (int) (lo >>> (48 - 16 * i)) & 0xFFFF;
    }
    int bestStart = -1;
    int bestLen = 1;
    for (int i = 0; i < 8; ) {
      if (g[i] != 0) {
        i++;
        continue;
      }
      int j = i;
      while (j < 8 && g[j] == 0) {
        j++;
      }
      if (j - i > bestLen) {
        bestStart = i;
        bestLen = j - i;
      }
      i = j;
    }
    StringBuilder sb = new StringBuilder(39);
    for (int i = 0; i < 8; i++) {
      if (i == bestStart) {
        sb.append("::");
        i += bestLen - 1;
        continue;
      }
      if (sb.length() > 0 && sb.charAt(sb.length() - 1) != ':') {
        sb.append(':');
      }
      sb.append(Integer.toHexString(g[i]));
    }
    return sb.toString();
  }

  static boolean looksLikeHostname(String s) {
    boolean letter = false;
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      if (Character.isLetter(c)) {
        letter = true;
      } else if (!(Character.isDigit(c) || c == '.' || c == '-')) {
        return false;
      }
    }
    return letter && !s.startsWith("0x") && !s.startsWith("0X") && !s.contains(".0x");
  }

  private static IllegalArgumentException hostname(String whole) {
    return new IllegalArgumentException(quote(whole)
        + " looks like a hostname; only IP address literals are accepted (names are never resolved)");
  }

  static String quote(String s) {
    return "'" + s + "'";
  }
}
