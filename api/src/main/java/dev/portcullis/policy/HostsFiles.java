package dev.portcullis.policy;

import java.io.IOException;
import java.math.BigInteger;
import java.net.Inet4Address;
import java.net.InetAddress;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Objects;
import java.util.Optional;

/**
 * TCP Wrappers' {@code hosts.allow} and {@code hosts.deny}, for migrating to an {@link
 * AccessPolicy}: the subset that means address rules is read, anything else is refused with its
 * file and line.
 *
 * <p>Read: lines {@code DAEMONS : CLIENTS}, where DAEMONS is {@code ALL} or a list that names the
 * daemon asked for (lines for other daemons are skipped; when reading for {@code ALL} daemons, a
 * line for some daemons only is refused, since no single policy can hold it), and CLIENTS is a list of {@code ALL}, {@code LOCAL} (taken as loopback,
 * {@code 127.0.0.0/8} and {@code ::1}: on a server, the hosts whose names have no dot), {@code
 * n.n.n.n}, {@code n.n.n.n/m.m.m.m} (a contiguous mask), {@code n.n.} (a prefix ending in a dot),
 * {@code [v6]/len} or {@code [v6]}, with {@code EXCEPT}. Backslash-continued lines and comments are
 * understood. Refused: host names and {@code .domain} patterns, {@code @netgroups}, {@code KNOWN},
 * {@code UNKNOWN}, {@code PARANOID}, wildcards, {@code EXCEPT} in the daemon list, and every option
 * field ({@code spawn}, {@code twist}, {@code allow}, ...), since none of them is an address rule.
 *
 * <p>Addresses are read as tcpd reads them, and a pattern tcpd would read otherwise than it looks
 * is refused, never guessed. tcpd compares {@code n.n.n.n} and {@code n.n.} as text with the
 * client's address, so a zero-padded octet ({@code 192.168.001.010}, {@code 010.}) matches no client
 * and is refused. It reads both sides of {@code net/mask} with {@code inet_addr()}, where a leading
 * 0 means octal and 0x hexadecimal, so {@code 010.0.0.0/255.0.0.0} means 8.0.0.0/8: such spellings
 * are refused with tcpd's reading in the message, and so are the net/masks tcpd never matches (a net
 * with bits outside the mask, a side that is 255.255.255.255). As in tcpd, no net/mask matches the
 * client 255.255.255.255.
 *
 * <p>TCP Wrappers decides in order: a match in {@code hosts.allow} grants, else a match in {@code
 * hosts.deny} denies, else access is granted. {@link #toPolicy()} computes the addresses that end
 * up denied and writes a policy of most-specific-wins rules with exactly the same decisions: {@code
 * allow 0.0.0.0/0}, {@code allow ::/0}, and a {@code deny} for each prefix of the denied set.
 * {@link #explain} answers as {@code tcpdmatch} does, naming the line that decided.
 */
public final class HostsFiles {
  private static final BigInteger V4_TOP = BigInteger.ONE.shiftLeft(32).subtract(BigInteger.ONE);
  private static final BigInteger V6_TOP = BigInteger.ONE.shiftLeft(128).subtract(BigInteger.ONE);

  /** One line that applies to the daemon: where it is, and the addresses it matches. */
  private record Entry(String where, String text, Ranges v4, Ranges v6) {}

  private final List<Entry> allow;
  private final List<Entry> deny;

  private HostsFiles(List<Entry> allow, List<Entry> deny) {
    this.allow = allow;
    this.deny = deny;
  }

  /**
   * Reads both files for lines that apply to every daemon ({@code ALL}).
   *
   * @param hostsAllow the {@code hosts.allow} file
   * @param hostsDeny the {@code hosts.deny} file
   * @return the parsed files
   * @throws IOException if a file cannot be read, as {@link #read(Path, Path, String)}
   * @throws IllegalArgumentException naming the file, the line and what is not an address rule
   */
  public static HostsFiles read(Path hostsAllow, Path hostsDeny) throws IOException {
    return read(hostsAllow, hostsDeny, "ALL");
  }

  /**
   * Reads both files for lines that apply to {@code daemon} (lines naming it, or {@code ALL}).
   *
   * @param hostsAllow the {@code hosts.allow} file
   * @param hostsDeny the {@code hosts.deny} file
   * @param daemon the daemon's name as the files write it, such as {@code sshd}, or {@code ALL}
   * @return the parsed files
   * @throws IOException if a file cannot be read, is not a regular file (a FIFO is refused without
   *     being opened), is larger than {@link AccessPolicy#DEFAULT_MAX_FILE_BYTES} or is not UTF-8
   * @throws IllegalArgumentException naming the file, the line and what is not an address rule
   *     (quoting at most 80 characters of the line or of a word in it)
   */
  public static HostsFiles read(Path hostsAllow, Path hostsDeny, String daemon) throws IOException {
    return new HostsFiles(
        entries(PolicyFiles.read(hostsAllow, AccessPolicy.DEFAULT_MAX_FILE_BYTES), hostsAllow.toString(), daemon),
        entries(PolicyFiles.read(hostsDeny, AccessPolicy.DEFAULT_MAX_FILE_BYTES), hostsDeny.toString(), daemon));
  }

  /**
   * Parses the two files' texts; {@code allowName} and {@code denyName} appear in errors.
   *
   * @param allowText the contents of {@code hosts.allow}
   * @param denyText the contents of {@code hosts.deny}
   * @param daemon the daemon's name, or {@code ALL}
   * @return the parsed files
   * @throws IllegalArgumentException naming the file, the line and what is not an address rule
   */
  public static HostsFiles parse(String allowText, String denyText, String daemon) {
    return new HostsFiles(entries(allowText, "hosts.allow", daemon), entries(denyText, "hosts.deny", daemon));
  }

  /**
   * A policy with exactly the files' decisions for every IPv4 and IPv6 address.
   *
   * @return the policy
   */
  public AccessPolicy toPolicy() {
    Ranges allowedV4 = Ranges.none();
    Ranges allowedV6 = Ranges.none();
    for (Entry e : allow) {
      allowedV4 = allowedV4.union(e.v4());
      allowedV6 = allowedV6.union(e.v6());
    }
    Ranges deniedV4 = Ranges.none();
    Ranges deniedV6 = Ranges.none();
    for (Entry e : deny) {
      deniedV4 = deniedV4.union(e.v4());
      deniedV6 = deniedV6.union(e.v6());
    }
    AccessPolicy.Builder b = AccessPolicy.builder().allow("0.0.0.0/0").allow("::/0");
    for (String cidr : deniedV4.minus(allowedV4).toCidrs(32)) {
      b.deny(cidr);
    }
    for (String cidr : deniedV6.minus(allowedV6).toCidrs(128)) {
      b.deny(cidr);
    }
    return b.build();
  }

  /**
   * What TCP Wrappers decides for one address, and the line that decided.
   *
   * @param granted whether access is granted
   * @param line {@code FILE:N: TEXT} of the deciding line, or empty when no line matched
   */
  public record Verdict(boolean granted, Optional<String> line) {}

  /**
   * Decides for one address as {@code tcpd} does: the first matching line of {@code hosts.allow},
   * else of {@code hosts.deny}, else granted.
   *
   * @param address an IPv4 or IPv6 address; IPv4-mapped addresses are matched as IPv4
   * @return the decision and the line
   */
  public Verdict explain(InetAddress address) {
    InetAddress a = unmap(Objects.requireNonNull(address, "address"));
    BigInteger v = new BigInteger(1, a.getAddress());
    boolean v4 = a instanceof Inet4Address;
    for (Entry e : allow) {
      if ((v4 ? e.v4() : e.v6()).contains(v)) {
        return new Verdict(true, Optional.of(e.where() + ": " + e.text()));
      }
    }
    for (Entry e : deny) {
      if ((v4 ? e.v4() : e.v6()).contains(v)) {
        return new Verdict(false, Optional.of(e.where() + ": " + e.text()));
      }
    }
    return new Verdict(true, Optional.empty());
  }

  private static InetAddress unmap(InetAddress a) {
    return IpAddresses.fromBytes(a.getAddress()); // an IPv4-mapped address comes back as IPv4
  }

  // ---- parsing

  private static List<Entry> entries(String text, String file, String daemon) {
    List<Entry> out = new ArrayList<>();
    String[] lines = text.split("\r?\n", -1);
    StringBuilder logical = new StringBuilder();
    int start = 0;
    for (int i = 0; i < lines.length; i++) {
      String line = lines[i];
      if (logical.length() == 0) {
        start = i + 1;
      }
      if (line.endsWith("\\")) {
        logical.append(line, 0, line.length() - 1).append(' ');
        continue;
      }
      logical.append(line);
      String content = logical.toString();
      logical.setLength(0);
      int hash = content.indexOf('#');
      if (hash >= 0) {
        content = content.substring(0, hash);
      }
      content = content.strip();
      if (content.isEmpty()) {
        continue;
      }
      String where = file + ":" + start;
      try {
        Entry e = entry(content, where, daemon);
        if (e != null) {
          out.add(e);
        }
      } catch (IllegalArgumentException ex) {
        String why = PolicyFiles.shorten(ex.getMessage(), content);
        throw new IllegalArgumentException(where + ": " + why, why.equals(ex.getMessage()) ? ex : null);
      }
    }
    return out;
  }

  private static Entry entry(String content, String where, String daemon) {
    String[] fields = content.split(":", -1);
    // IPv6 patterns are bracketed and contain colons: rejoin the client field up to the option field.
    List<String> parts = new ArrayList<>();
    StringBuilder cur = new StringBuilder();
    int depth = 0;
    for (String f : fields) {
      if (cur.length() > 0) {
        cur.append(':');
      }
      cur.append(f);
      depth += count(f, '[') - count(f, ']');
      if (depth <= 0) {
        parts.add(cur.toString());
        cur.setLength(0);
        depth = 0;
      }
    }
    if (cur.length() > 0) {
      parts.add(cur.toString());
    }
    if (parts.size() < 2) {
      throw new IllegalArgumentException("'" + content + "' is not 'DAEMONS : CLIENTS'");
    }
    if (parts.size() > 2) {
      throw new IllegalArgumentException("'" + content + "' has an option field ('" + parts.get(2).strip()
          + "'): options such as spawn, twist or allow are not address rules; translate that line by hand");
    }
    if (!appliesTo(parts.get(0), daemon)) {
      return null;
    }
    List<String> words = words(parts.get(1));
    if (words.isEmpty()) {
      throw new IllegalArgumentException("'" + content + "' has no client list");
    }
    Ranges[] sets = clients(words, 0);
    return new Entry(where, content, sets[0], sets[1]);
  }

  private static int count(String s, char c) {
    int n = 0;
    for (int i = 0; i < s.length(); i++) {
      if (s.charAt(i) == c) {
        n++;
      }
    }
    return n;
  }

  private static List<String> words(String list) {
    List<String> out = new ArrayList<>();
    for (String w : list.strip().split("[ \t,]+")) {
      if (!w.isEmpty()) {
        out.add(w);
      }
    }
    return out;
  }

  private static boolean appliesTo(String daemons, String daemon) {
    List<String> names = words(daemons);
    for (String n : names) {
      if (n.equals("EXCEPT")) {
        throw new IllegalArgumentException("EXCEPT in the daemon list ('" + daemons.strip()
            + "') is not read; split the line by daemon");
      }
    }
    for (String n : names) {
      if (n.equals("ALL") || n.equals(daemon)) {
        return true;
      }
    }
    if (daemon.equals("ALL")) {
      // A policy for every daemon cannot hold a line for some of them, and dropping it silently
      // would change decisions.
      throw new IllegalArgumentException("this line is for " + names + " only; read the files for one daemon"
          + " (HostsFiles.read(allow, deny, \"" + names.get(0) + "\"), or check --daemon " + names.get(0) + ")");
    }
    return false;
  }

  /** The addresses {@code words[from..]} match, as {v4, v6}; {@code EXCEPT} subtracts what follows. */
  private static Ranges[] clients(List<String> words, int from) {
    Ranges v4 = Ranges.none();
    Ranges v6 = Ranges.none();
    for (int i = from; i < words.size(); i++) {
      String w = words.get(i);
      if (w.equals("EXCEPT")) {
        if (i + 1 == words.size()) {
          throw new IllegalArgumentException("EXCEPT ends the client list; name what is excepted");
        }
        Ranges[] except = clients(words, i + 1);
        return new Ranges[] {v4.minus(except[0]), v6.minus(except[1])};
      }
      Ranges[] one = pattern(w);
      v4 = v4.union(one[0]);
      v6 = v6.union(one[1]);
    }
    return new Ranges[] {v4, v6};
  }

  private static Ranges[] pattern(String w) {
    switch (w) {
      case "ALL":
        return new Ranges[] {Ranges.of(BigInteger.ZERO, V4_TOP), Ranges.of(BigInteger.ZERO, V6_TOP)};
      case "LOCAL":
        return new Ranges[] {prefix(BigInteger.valueOf(127L << 24), 8, 32), Ranges.of(BigInteger.ONE, BigInteger.ONE)};
      case "KNOWN", "UNKNOWN", "PARANOID":
        throw new IllegalArgumentException("'" + w + "' depends on name lookups, not on the address");
      default:
        break;
    }
    if (w.startsWith("@")) {
      throw new IllegalArgumentException("'" + w + "' is a NIS netgroup, not an address");
    }
    if (w.contains("*") || w.contains("?")) {
      throw new IllegalArgumentException("'" + w + "' is a wildcard pattern; write it as n.n.n.n/m.m.m.m or n.n.");
    }
    if (w.startsWith("[")) {
      int close = w.indexOf(']');
      if (close < 0) {
        throw new IllegalArgumentException("'" + w + "' opens '[' without closing it");
      }
      String addr = w.substring(1, close);
      String rest = w.substring(close + 1);
      InetAddress parsed = null;
      try {
        parsed = addr.indexOf(':') < 0 ? null : IpAddresses.parse(addr);
      } catch (IllegalArgumentException e) {
        // named below
      }
      if (parsed == null) {
        throw new IllegalArgumentException("'" + w + "': '" + addr + "' is not an IPv6 address");
      }
      int len = 128;
      if (!rest.isEmpty()) {
        if (!rest.matches("/[0-9]{1,3}") || Integer.parseInt(rest.substring(1)) > 128) {
          throw new IllegalArgumentException("'" + w + "': '" + rest + "' is not /0 to /128");
        }
        len = Integer.parseInt(rest.substring(1));
      }
      // An IPv4-mapped literal parses as IPv4; tcpd compares the 16 bytes.
      byte[] raw = parsed.getAddress();
      if (raw.length == 4) {
        raw = new byte[] {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, (byte) 0xFF, (byte) 0xFF, raw[0], raw[1], raw[2], raw[3]};
      }
      BigInteger v = new BigInteger(1, raw);
      return new Ranges[] {Ranges.none(), prefix(v, len, 128)};
    }
    if (w.matches("[0-9]+(\\.[0-9]+){0,2}\\.")) { // n.n. : a prefix of whole octets, compared as text
      String[] octets = w.split("\\.");
      long v = 0;
      for (String o : octets) {
        v = v << 8 | textOctet(o, w, "a prefix pattern as text with the start of the client's address", ".");
      }
      int len = 8 * octets.length;
      return new Ranges[] {prefix(BigInteger.valueOf(v << (32 - len)), len, 32), Ranges.none()};
    }
    int slash = w.indexOf('/');
    if (slash >= 0 && w.matches("[0-9][0-9a-fA-FxX.]*/.*")) {
      return new Ranges[] {netMask(w, w.substring(0, slash), w.substring(slash + 1)), Ranges.none()};
    }
    if (w.matches("[0-9]+(\\.[0-9]+){3}")) { // n.n.n.n, compared as text
      long v = 0;
      for (String o : w.split("\\.")) {
        v = v << 8 | textOctet(o, w, "an address pattern as text with the client's address", "");
      }
      return new Ranges[] {Ranges.of(BigInteger.valueOf(v), BigInteger.valueOf(v)), Ranges.none()};
    }
    if (w.startsWith(".") || w.chars().anyMatch(Character::isLetter)) {
      throw new IllegalArgumentException("'" + w + "' is a host or domain name; address rules never resolve names");
    }
    throw new IllegalArgumentException("'" + w + "' is not an address pattern");
  }

  /**
   * {@code net/mask}, as tcpd reads it: both sides with {@code inet_addr()} (four parts, a leading 0
   * meaning octal and 0x hexadecimal), and a client matches when its address ANDed with the mask
   * equals the net. Only plain decimal is read; any other spelling is refused with tcpd's reading,
   * and so are the forms tcpd never matches, since their lines would not mean what they say.
   */
  private static Ranges netMask(String w, String netText, String maskText) {
    if (maskText.matches("[0-9]+")) {
      throw new IllegalArgumentException("'" + w + "': the mask '" + maskText + "' is not n.n.n.n (write "
          + "a prefix length as n.n.n.n/255.255.0.0 in these files)");
    }
    long net = tcpdDotQuad(netText);
    long mask = tcpdDotQuad(maskText);
    String odd = oddSpelling(netText, "net");
    if (odd == null) {
      odd = oddSpelling(maskText, "mask");
    }
    if (odd != null) {
      String reading = "tcpd reads each side of a net/mask with inet_addr() (four parts; a leading 0 means octal"
          + " and 0x hexadecimal)";
      String fix = "; write the network you meant in decimal, without leading zeros";
      if (net < 0 || mask < 0) {
        reading += " and cannot read '" + (net < 0 ? netText : maskText) + "', so this pattern matches no client" + fix;
      } else if ((net & ~mask) != 0) {
        reading += ", so it means " + dotted(net) + "/" + dotted(mask) + ", which matches no client (the net has bits"
            + " outside the mask)" + fix;
      } else {
        reading += ", so it means " + dotted(net) + "/" + dotted(mask) + "; write the network tcpd means, or the one"
            + " you meant, in decimal without leading zeros";
      }
      throw new IllegalArgumentException("'" + w + "' has " + odd + ": " + reading);
    }
    if (mask < 0) { // plain decimal that inet_addr() cannot tell from its error value
      throw new IllegalArgumentException("'" + w + "': tcpd cannot read the mask 255.255.255.255 (inet_addr()"
          + " returns it as its error value), so this pattern matches no client; write the address alone, "
          + netText);
    }
    if ((net & ~mask) != 0) {
      throw new IllegalArgumentException("'" + w + "': the net has bits outside the mask; tcpd matches a net/mask"
          + " only when the client's address ANDed with the mask equals the net, so this pattern matches no client;"
          + " write " + dotted(net & mask) + "/" + maskText + " if that is the network you meant");
    }
    int len = Long.bitCount(mask);
    if (((0xFFFF_FFFFL << (32 - len)) & 0xFFFF_FFFFL) != mask) {
      throw new IllegalArgumentException("'" + w + "': the mask " + maskText + " is not contiguous");
    }
    // tcpd reads the client's address with inet_addr() too, so no net/mask matches 255.255.255.255.
    return prefix(BigInteger.valueOf(net), len, 32).minus(Ranges.of(V4_TOP, V4_TOP));
  }

  /**
   * How the {@code side} ("net" or "mask") {@code s} is not four plain decimal octets, such as "a
   * zero-padded octet (010) in the net"; null when it is.
   */
  private static String oddSpelling(String s, String side) {
    String[] parts = s.split("\\.", -1);
    if (parts.length != 4 || s.matches(".*(^|\\.)(\\.|$).*")) {
      return "a " + side + " without four parts (" + s + ")";
    }
    for (String p : parts) {
      String kind;
      if (!p.matches("[0-9]+|0[xX][0-9a-zA-Z]*")) {
        kind = "a part that is not a number";
      } else if (p.matches("0[xX].*")) {
        kind = "a hexadecimal octet";
      } else if (p.matches("0.+")) {
        kind = "a zero-padded octet";
      } else if (!p.matches("[0-9]{1,3}") || Integer.parseInt(p) > 255) {
        kind = "a part over 255";
      } else {
        continue;
      }
      return kind + " (" + p + ") in the " + side;
    }
    return null;
  }

  /**
   * tcpd's {@code dot_quad_addr()}: four parts read as glibc's {@code inet_aton()} reads them; -1
   * when tcpd cannot read {@code s}, including 255.255.255.255, which {@code inet_addr()} returns
   * as its error value.
   */
  private static long tcpdDotQuad(String s) {
    String[] parts = s.split("\\.", -1);
    if (parts.length != 4) {
      return -1;
    }
    long v = 0;
    for (String p : parts) {
      long o = inetAtonPart(p);
      if (o < 0 || o > 255) {
        return -1;
      }
      v = v << 8 | o;
    }
    return v == 0xFFFF_FFFFL ? -1 : v;
  }

  /** One part as {@code inet_aton()} reads it: 0x hexadecimal, a leading 0 octal, else decimal; -1 if unreadable. */
  private static long inetAtonPart(String p) {
    int base = 10;
    int i = 0;
    if (p.isEmpty() || p.charAt(0) < '0' || p.charAt(0) > '9') {
      return -1;
    }
    if (p.charAt(0) == '0') {
      if (p.length() > 1 && (p.charAt(1) == 'x' || p.charAt(1) == 'X')) {
        base = 16;
        i = 2;
        if (p.length() == 2) {
          return -1;
        }
      } else {
        base = 8;
        i = 1;
      }
    }
    long v = 0;
    for (; i < p.length(); i++) {
      char c = p.charAt(i);
      int d = c < 128 ? Character.digit(c, base) : -1;
      if (d < 0) {
        return -1;
      }
      v = v * base + d;
      if (v > 0xFFFF_FFFFL) {
        return -1;
      }
    }
    return v;
  }

  /**
   * One octet of an address or prefix pattern, which tcpd compares as text with the client's
   * address: a zero-padded octet is refused, since that text never occurs and the pattern matches
   * no client.
   */
  private static int textOctet(String o, String w, String compares, String tail) {
    if (o.length() > 1 && o.charAt(0) == '0') {
      String[] parts = w.split("\\.");
      String decimal = reading(parts, 10, tail);
      String octal = reading(parts, 8, tail);
      String not = decimal == null ? "" : octal == null || octal.equals(decimal)
          ? ", not even " + decimal : ", neither " + decimal + " nor " + octal + " (its octal reading)";
      throw new IllegalArgumentException("'" + w + "' has a zero-padded octet (" + o + "): tcpd compares " + compares
          + ", which is written without leading zeros, so this pattern matches no client" + not + "; "
          + (decimal == null ? "write the address you meant" : "if you meant " + decimal + ", write it")
          + " without leading zeros (tcpd will then match it too), or delete the pattern");
    }
    return octet(o, w);
  }

  /** The octets read in {@code base} (8: as inet_aton() reads a leading 0), joined by dots; null if one is not an octet. */
  private static String reading(String[] parts, int base, String tail) {
    StringBuilder sb = new StringBuilder();
    for (String p : parts) {
      long v = base == 8 ? inetAtonPart(p) : p.length() > 9 ? -1 : Long.parseLong(p);
      if (v < 0 || v > 255) {
        return null;
      }
      sb.append(sb.length() == 0 ? "" : ".").append(v);
    }
    return sb + tail;
  }

  private static int octet(String o, String w) {
    if (o.length() > 3 || Integer.parseInt(o) > 255) {
      throw new IllegalArgumentException("'" + w + "': " + o + " is not an octet (0-255)");
    }
    return Integer.parseInt(o);
  }

  private static String dotted(long v) {
    return (v >>> 24) + "." + (v >>> 16 & 255) + "." + (v >>> 8 & 255) + "." + (v & 255);
  }

  private static Ranges prefix(BigInteger network, int len, int bits) {
    BigInteger size = BigInteger.ONE.shiftLeft(bits - len);
    BigInteger start = network.shiftRight(bits - len).shiftLeft(bits - len);
    return Ranges.of(start, start.add(size).subtract(BigInteger.ONE));
  }

  /** A set of addresses as sorted, disjoint, inclusive ranges. */
  private record Ranges(List<BigInteger[]> parts) {
    static Ranges none() {
      return new Ranges(List.of());
    }

    static Ranges of(BigInteger lo, BigInteger hi) {
      return new Ranges(List.<BigInteger[]>of(new BigInteger[] {lo, hi}));
    }

    boolean contains(BigInteger v) {
      for (BigInteger[] p : parts) {
        if (p[0].compareTo(v) <= 0 && v.compareTo(p[1]) <= 0) {
          return true;
        }
      }
      return false;
    }

    Ranges union(Ranges o) {
      List<BigInteger[]> all = new ArrayList<>(parts);
      all.addAll(o.parts);
      all.sort((a, b) -> a[0].compareTo(b[0]));
      List<BigInteger[]> out = new ArrayList<>();
      for (BigInteger[] p : all) {
        if (!out.isEmpty() && out.get(out.size() - 1)[1].add(BigInteger.ONE).compareTo(p[0]) >= 0) {
          BigInteger[] last = out.get(out.size() - 1);
          last[1] = last[1].max(p[1]);
        } else {
          out.add(new BigInteger[] {p[0], p[1]});
        }
      }
      return new Ranges(out);
    }

    Ranges minus(Ranges o) {
      List<BigInteger[]> out = new ArrayList<>();
      for (BigInteger[] p : parts) {
        BigInteger lo = p[0];
        BigInteger hi = p[1];
        for (BigInteger[] q : o.parts) {
          if (q[1].compareTo(lo) < 0 || q[0].compareTo(hi) > 0) {
            continue;
          }
          if (q[0].compareTo(lo) > 0) {
            out.add(new BigInteger[] {lo, q[0].subtract(BigInteger.ONE)});
          }
          lo = q[1].add(BigInteger.ONE);
          if (lo.compareTo(hi) > 0) {
            break;
          }
        }
        if (lo.compareTo(hi) <= 0) {
          out.add(new BigInteger[] {lo, hi});
        }
      }
      return new Ranges(out);
    }

    /** The fewest prefixes that cover exactly these ranges. */
    List<String> toCidrs(int bits) {
      List<String> out = new ArrayList<>();
      for (BigInteger[] p : parts) {
        for (Cidr c : PolicyChange.cover(p[0], p[1], bits)) {
          out.add(c.network().getHostAddress().toLowerCase(Locale.ROOT) + "/" + c.prefixLength());
        }
      }
      return out;
    }
  }
}
