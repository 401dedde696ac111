package dev.portcullis.handshake.tls;

import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.Charset;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.List;
import javax.security.auth.x500.X500Principal;

/**
 * A distinguished name in the form {@code allowSubject} rules compare: a sorted list of RDNs, each
 * a sorted list of attributes, each an attribute type (its OID) and a value. Two names are equal
 * when they have the same RDNs in any order, each with the same attributes, and every value is
 * equal under {@link #text}'s normalisation: ASCII letters without case, spaces (U+0020) at the
 * ends dropped and runs of them inside made one. Nothing else is folded.
 *
 * <p>Not {@link X500Principal#CANONICAL}: that applies Unicode compatibility decomposition (NFKD)
 * and Java's locale-free upper-then-lower case mapping, under which a certificate authority that
 * compares names byte by byte would issue {@code admin} spelt with U+0131 (dotless i), in
 * fullwidth letters (U+FF41...) or with U+1D43 (modifier letter small a) to someone other than
 * {@code CN=admin}, and a rule for {@code CN=admin} would let them all in. Not even canonical
 * equivalence (NFC) is applied: it maps singletons such as U+212A KELVIN SIGN to {@code K} and
 * U+2126 OHM SIGN to U+03A9, which are look-alikes of the same kind; a value written with a
 * combining accent therefore does not match the same letter precomposed.
 *
 * <p>The name is read from its DER encoding, so the rule and the certificate go through the same
 * code: attribute types are compared by OID whatever keyword the rule used, and a value in any
 * directory string type (UTF8String, PrintableString, IA5String, BMPString, UniversalString, or
 * an ASCII-only TeletexString, VisibleString or NumericString) is compared as text. Any other
 * value, or one whose bytes are not valid for its type, is compared as its exact encoding.
 */
final class SubjectName {
  private static final Comparator<Attribute> BY_ATTRIBUTE = Comparator.comparing(Attribute::type)
      .thenComparing(Attribute::text, Boolean::compare).thenComparing(Attribute::value);
  private static final Comparator<List<Attribute>> BY_RDN = (a, b) -> {
    for (int i = 0; i < Math.min(a.size(), b.size()); i++) {
      int c = BY_ATTRIBUTE.compare(a.get(i), b.get(i));
      if (c != 0) {
        return c;
      }
    }
    return Integer.compare(a.size(), b.size());
  };

  /** One attribute: its OID's encoding in hex, and the normalised text or the value's encoding in hex. */
  private record Attribute(String type, boolean text, String value) {}

  private final List<List<Attribute>> rdns;
  private final boolean questionMarkInIa5String;

  private SubjectName(List<List<Attribute>> rdns, boolean questionMarkInIa5String) {
    this.rdns = rdns;
    this.questionMarkInIa5String = questionMarkInIa5String;
  }

  /**
   * The comparable form of a rule's name.
   *
   * @param name the name as {@link X500Principal} parsed it
   * @param written the rule as written
   * @return its comparable form
   * @throws IllegalArgumentException quoting the rule, if a {@code #hex} value in it is not DER,
   *     or if {@link X500Principal} could not keep a value as written: it stores {@code DC} and
   *     {@code EMAILADDRESS} as IA5String (ASCII) and turns any other character into {@code ?},
   *     which would make the rule match a different name
   */
  static SubjectName ofRule(X500Principal name, String written) {
    SubjectName n;
    try {
      n = of(name);
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException("'" + written + "': " + e.getMessage(), e);
    }
    if (n.questionMarkInIa5String && !written.chars().allMatch(c -> c < 0x80)) {
      throw new IllegalArgumentException("'" + written + "': DC and EMAILADDRESS values are IA5String, ASCII"
          + " only; the JDK would store each other character as '?' (write such a value as # and the hex of"
          + " its DER encoding, such as DC=#0c05636166c3a9 for a UTF8String caf\u00e9)");
    }
    return n;
  }

  /**
   * The comparable form of a name.
   *
   * @param name a rule's name, or a certificate's subject
   * @return its RDNs, sorted, each with its attributes sorted
   * @throws IllegalArgumentException if the encoding is not a well-formed Name (the JDK already
   *     refuses such names, so a certificate's subject only gets here well formed)
   */
  static SubjectName of(X500Principal name) {
    Der der = new Der(name.getEncoded());
    Der seq = der.enter(0x30);
    der.end();
    List<List<Attribute>> rdns = new ArrayList<>();
    boolean questionMark = false;
    while (seq.more()) {
      Der set = seq.enter(0x31);
      List<Attribute> rdn = new ArrayList<>();
      while (set.more()) {
        Der ava = set.enter(0x30);
        byte[] oid = ava.content(0x06);
        byte[] value = ava.whole();
        ava.end();
        Attribute a = attribute(oid, value);
        questionMark |= (value[0] & 0xFF) == 0x16 && a.value().indexOf('?') >= 0;
        rdn.add(a);
      }
      if (rdn.isEmpty()) {
        throw new IllegalArgumentException("an RDN without attributes");
      }
      rdn.sort(BY_ATTRIBUTE);
      rdns.add(List.copyOf(rdn));
    }
    rdns.sort(BY_RDN);
    return new SubjectName(List.copyOf(rdns), questionMark);
  }

  private static Attribute attribute(byte[] oid, byte[] value) {
    String type = HexFormat.of().formatHex(oid);
    int tag = value[0] & 0xFF;
    Der v = new Der(value);
    byte[] content = v.content(tag);
    String decoded = switch (tag) {
      case 0x0C -> decode(content, StandardCharsets.UTF_8);
      case 0x1E -> decode(content, StandardCharsets.UTF_16BE);
      case 0x1C -> decode(content, Charset.forName("UTF-32BE"));
      // PrintableString, IA5String, TeletexString, VisibleString, NumericString: their ASCII subset
      case 0x13, 0x16, 0x14, 0x1A, 0x12 -> decode(content, StandardCharsets.US_ASCII);
      default -> null;
    };
    return decoded == null ? new Attribute(type, false, HexFormat.of().formatHex(value))
        : new Attribute(type, true, text(decoded));
  }

  /** Null if the bytes are not valid in that charset (an unpaired surrogate, a byte above 0x7F in ASCII). */
  private static String decode(byte[] bytes, Charset charset) {
    try {
      return charset.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
          .onUnmappableCharacter(CodingErrorAction.REPORT).decode(ByteBuffer.wrap(bytes)).toString();
    } catch (CharacterCodingException e) {
      return null;
    }
  }

  /**
   * A value as rules compare it: spaces (U+0020) dropped at both ends and each run inside made one,
   * ASCII {@code A-Z} made {@code a-z}. Every other code point stays as it is.
   */
  static String text(String value) {
    StringBuilder out = new StringBuilder(value.length());
    boolean space = false;
    for (int i = 0; i < value.length(); i++) {
      char c = value.charAt(i);
      if (c == ' ') {
        space = out.length() > 0;
        continue;
      }
      if (space) {
        out.append(' ');
        space = false;
      }
      out.append(c >= 'A' && c <= 'Z' ? (char) (c + ('a' - 'A')) : c);
    }
    return out.toString();
  }

  /**
   * Whether two strings are equal when ASCII letters are compared without case. Unlike {@link
   * String#equalsIgnoreCase}, which makes U+0130 (capital I with dot), U+0131 (dotless i), U+212A
   * (Kelvin sign) and U+017F (long s) equal to ASCII letters, every other code point must be the
   * same.
   *
   * @param a a string
   * @param b another string
   * @return whether they are equal up to the case of ASCII letters
   */
  static boolean equalsIgnoreAsciiCase(String a, String b) {
    if (a.length() != b.length()) {
      return false;
    }
    for (int i = 0; i < a.length(); i++) {
      char x = a.charAt(i);
      char y = b.charAt(i);
      if (x != y && lowerAscii(x) != lowerAscii(y)) {
        return false;
      }
    }
    return true;
  }

  /**
   * A name for a log line in printable ASCII: every other character is written as a backslash, a
   * {@code u} and four hex digits, as in Java source. A refused look-alike shows as what it is
   * (the dotless i as {@code u0131}, not as a second {@code admin}), and a control character in a
   * certificate cannot start a log line of its own.
   *
   * @param name a name as {@link X500Principal#getName()} prints it
   * @return the name in printable ASCII
   */
  static String printable(String name) {
    StringBuilder out = new StringBuilder(name.length());
    for (int i = 0; i < name.length(); i++) {
      char c = name.charAt(i);
      if (c >= 0x20 && c < 0x7F) {
        out.append(c);
      } else {
        out.append(String.format("\\u%04x", (int) c));
      }
    }
    return out.toString();
  }

  private static char lowerAscii(char c) {
    return c >= 'A' && c <= 'Z' ? (char) (c + ('a' - 'A')) : c;
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof SubjectName other && rdns.equals(other.rdns);
  }

  @Override
  public int hashCode() {
    return rdns.hashCode();
  }

  @Override
  public String toString() {
    return rdns.toString();
  }

  /** A bounds-checked DER reader over one encoding: definite lengths only, as DER requires. */
  private static final class Der {
    private final byte[] b;
    private int pos;
    private final int end;

    Der(byte[] b) {
      this(b, 0, b.length);
    }

    private Der(byte[] b, int from, int to) {
      this.b = b;
      this.pos = from;
      this.end = to;
    }

    boolean more() {
      return pos < end;
    }

    void end() {
      if (pos != end) {
        throw new IllegalArgumentException("trailing bytes in a distinguished name");
      }
    }

    /** The next element, which must have this tag, as a reader over its content. */
    Der enter(int tag) {
      int[] at = header(tag);
      pos = at[1];
      return new Der(b, at[0], at[1]);
    }

    /** The next element's content; it must have this tag. */
    byte[] content(int tag) {
      int[] at = header(tag);
      pos = at[1];
      return Arrays.copyOfRange(b, at[0], at[1]);
    }

    /** The next element, tag and length included, whatever its tag. */
    byte[] whole() {
      int start = pos;
      int[] at = header(-1);
      pos = at[1];
      return Arrays.copyOfRange(b, start, at[1]);
    }

    /** Reads a tag and length at pos; returns {contentStart, contentEnd}. */
    private int[] header(int tag) {
      if (end - pos < 2) {
        throw new IllegalArgumentException("a distinguished name ends inside an element");
      }
      int t = b[pos] & 0xFF;
      if (tag >= 0 && t != tag) {
        throw new IllegalArgumentException(String.format("expected tag 0x%02x, found 0x%02x", tag, t));
      }
      if ((t & 0x1F) == 0x1F) {
        throw new IllegalArgumentException("multi-byte tags are not used in names");
      }
      int p = pos + 1;
      int len = b[p++] & 0xFF;
      if (len >= 0x80) {
        int n = len & 0x7F;
        if (n == 0 || n > 3 || end - p < n) {
          throw new IllegalArgumentException("a length in a distinguished name is not DER");
        }
        len = 0;
        for (int i = 0; i < n; i++) {
          len = (len << 8) | (b[p++] & 0xFF);
        }
      }
      if (len > end - p) {
        throw new IllegalArgumentException("an element runs past the end of the distinguished name");
      }
      return new int[] {p, p + len};
    }
  }
}
