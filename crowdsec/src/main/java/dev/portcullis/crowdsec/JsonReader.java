package dev.portcullis.crowdsec;

import java.io.IOException;
import java.io.InputStream;
import java.math.BigDecimal;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A strict, bounded pull reader of JSON (RFC 8259) from a stream: the Local API's answers. Strict:
 * no comments, no trailing commas, no leading zeros, no unpaired surrogates, no bytes after the
 * document. Bounded: the total bytes read, the nesting depth, each string's length and the number of
 * values are capped, so a huge or hostile answer is refused while it is read, before it can fill
 * the heap. Every error names the byte offset where it was found.
 *
 * <p>A caller walks the top level itself ({@link #beginObject}, {@link #nextName}, {@link
 * #beginArray}, {@link #hasNext}) and reads each element of a long array as a small tree ({@link
 * #readValue}: {@code Map}, {@code List}, {@code String}, {@code BigDecimal}, {@code Boolean} or
 * {@code null}), so memory follows what the caller keeps, not the document's size.
 *
 * <p>Why not a JSON library: the module would bring one (and its versions) to every service for a
 * few objects of known shape; a bounded reader of our own is about two hundred lines.
 */
final class JsonReader {
  /** The bounds of one document. */
  record Limits(long maxBytes, int maxDepth, int maxStringLength, long maxValues) {
    Limits {
      if (maxBytes < 1 || maxDepth < 1 || maxStringLength < 1 || maxValues < 1) {
        throw new IllegalArgumentException("JSON limits must be positive: " + maxBytes + ", " + maxDepth + ", "
            + maxStringLength + ", " + maxValues);
      }
    }
  }

  private final InputStream in;
  private final Limits limits;
  private final byte[] buf = new byte[8192];
  private int pos;
  private int len;
  private long consumed; // bytes before buf[0]
  private int depth;
  private long values;
  /** Per open container: whether a value was read in it (so the next needs a comma). */
  private final boolean[] started;
  private final boolean[] isObject;

  JsonReader(InputStream in, Limits limits) {
    this.in = in;
    this.limits = limits;
    this.started = new boolean[limits.maxDepth() + 1];
    this.isObject = new boolean[limits.maxDepth() + 1];
  }

  /** The offset of the next byte, for messages. */
  long position() {
    return consumed + pos;
  }

  private JsonException error(String what) {
    return new JsonException("invalid JSON at byte " + position() + ": " + what);
  }

  private int peekByte() throws IOException {
    if (pos == len) {
      consumed += len;
      pos = 0;
      len = 0;
      int n = in.read(buf, 0, buf.length);
      if (n <= 0) {
        return -1;
      }
      len = n;
      if (consumed + len > limits.maxBytes()) {
        throw new JsonException("JSON answer longer than " + limits.maxBytes() + " bytes: refused at byte "
            + limits.maxBytes());
      }
    }
    return buf[pos] & 0xff;
  }

  private int readByte() throws IOException {
    int b = peekByte();
    if (b >= 0) {
      pos++;
    }
    return b;
  }

  private int skipSpace() throws IOException {
    int b;
    while ((b = peekByte()) == ' ' || b == '\t' || b == '\n' || b == '\r') {
      pos++;
    }
    return b;
  }

  private static String show(int b) {
    return b < 0 ? "the end" : b >= 0x20 && b < 0x7f ? "'" + (char) b + "'" : String.format("byte 0x%02x", b);
  }

  private void expect(int want, String what) throws IOException {
    int b = skipSpace();
    if (b != want) {
      throw error("expected " + what + ", found " + show(b));
    }
    pos++;
  }

  /** Before a value in the current container: the comma, if one is due; counts the value. */
  private void beforeValue() throws IOException {
    if (depth > 0 && started[depth] && !isObject[depth]) {
      expect(',', "',' between array elements");
    }
    if (depth > 0) {
      started[depth] = true;
    }
    if (++values > limits.maxValues()) {
      throw error("more than " + limits.maxValues() + " values");
    }
  }

  /** Opens a container whose value was already counted ({@link #beforeValue}). */
  private void open(boolean object) throws IOException {
    if (skipSpace() == (object ? '{' : '[') && depth == limits.maxDepth()) {
      throw error("nested deeper than " + limits.maxDepth());
    }
    expect(object ? '{' : '[', object ? "'{'" : "'['");
    depth++;
    started[depth] = false;
    isObject[depth] = object;
  }

  void beginObject() throws IOException {
    beforeValue();
    open(true);
  }

  void beginArray() throws IOException {
    beforeValue();
    open(false);
  }

  void endObject() throws IOException {
    close(true);
  }

  void endArray() throws IOException {
    close(false);
  }

  private void close(boolean object) throws IOException {
    if (depth == 0 || isObject[depth] != object) {
      throw error("no open " + (object ? "object" : "array") + " to end");
    }
    expect(object ? '}' : ']', object ? "'}'" : "']'");
    depth--;
  }

  /** Whether the open container has another member or element. */
  boolean hasNext() throws IOException {
    if (depth == 0) {
      throw error("hasNext outside a container");
    }
    int b = skipSpace();
    return b != (isObject[depth] ? '}' : ']');
  }

  /** The next member's name and its colon. */
  String nextName() throws IOException {
    if (depth == 0 || !isObject[depth]) {
      throw error("a name outside an object");
    }
    if (started[depth]) {
      expect(',', "',' between members");
    }
    started[depth] = true;
    if (skipSpace() != '"') {
      throw error("expected a member name, found " + show(peekByte()));
    }
    String name = string();
    expect(':', "':' after a member name");
    return name;
  }

  /**
   * Whether the next value, the document's or a member's (after its name), is {@code null}, which is
   * then consumed.
   */
  boolean nextIsNull() throws IOException {
    if (depth > 0 && !isObject[depth]) {
      throw error("nextIsNull inside an array");
    }
    if (skipSpace() == 'n') {
      beforeValue();
      literal("null");
      return true;
    }
    return false;
  }

  /**
   * The next value as a tree: objects as {@code Map} (insertion order; a repeated name is an
   * error), arrays as {@code List}, numbers as {@code BigDecimal}.
   */
  Object readValue() throws IOException {
    beforeValue();
    int b = skipSpace();
    switch (b) {
      case '{': {
        open(true);
        Map<String, Object> m = new LinkedHashMap<>();
        while (hasNext()) {
          long at = position();
          String name = nextName();
          if (m.containsKey(name)) {
            throw new JsonException("invalid JSON at byte " + at + ": member \"" + name + "\" repeated");
          }
          m.put(name, readValue());
        }
        endObject();
        return m;
      }
      case '[': {
        open(false);
        List<Object> l = new ArrayList<>();
        while (hasNext()) {
          l.add(readValue());
        }
        endArray();
        return l;
      }
      default:
        return scalar(b);
    }
  }

  /** Reads and discards the next value. */
  void skipValue() throws IOException {
    readValue();
  }

  /** Checks that nothing but white space follows the document. */
  void end() throws IOException {
    if (depth != 0) {
      throw error("the document is not finished");
    }
    int b = skipSpace();
    if (b >= 0) {
      throw error("unexpected " + show(b) + " after the document");
    }
  }

  private Object scalar(int b) throws IOException {
    switch (b) {
      case '"':
        return string();
      case 't':
        literal("true");
        return Boolean.TRUE;
      case 'f':
        literal("false");
        return Boolean.FALSE;
      case 'n':
        literal("null");
        return null;
      default:
        if (b == '-' || (b >= '0' && b <= '9')) {
          return number();
        }
        throw error("expected a value, found " + show(b));
    }
  }

  private void literal(String word) throws IOException {
    for (int i = 0; i < word.length(); i++) {
      int b = readByte();
      if (b != word.charAt(i)) {
        throw error("expected '" + word + "', found " + show(b));
      }
    }
  }

  private BigDecimal number() throws IOException {
    StringBuilder sb = new StringBuilder();
    int b = peekByte();
    if (b == '-') {
      sb.append('-');
      pos++;
    }
    int intStart = sb.length();
    digits(sb);
    if (sb.length() == intStart) {
      throw error("expected a digit, found " + show(peekByte()));
    }
    if (sb.charAt(intStart) == '0' && sb.length() > intStart + 1) {
      throw error("a number with a leading zero");
    }
    if (peekByte() == '.') {
      sb.append('.');
      pos++;
      int at = sb.length();
      digits(sb);
      if (sb.length() == at) {
        throw error("expected a digit after '.', found " + show(peekByte()));
      }
    }
    b = peekByte();
    if (b == 'e' || b == 'E') {
      sb.append('e');
      pos++;
      b = peekByte();
      if (b == '+' || b == '-') {
        sb.append((char) b);
        pos++;
      }
      int at = sb.length();
      digits(sb);
      if (sb.length() == at || sb.length() - at > 4) {
        throw error("a number's exponent must have 1 to 4 digits");
      }
    }
    return new BigDecimal(sb.toString());
  }

  private void digits(StringBuilder sb) throws IOException {
    int b;
    while ((b = peekByte()) >= '0' && b <= '9') {
      if (sb.length() >= 64) {
        throw error("a number longer than 64 characters");
      }
      sb.append((char) b);
      pos++;
    }
  }

  /** A string, at its opening quote. */
  private String string() throws IOException {
    pos++; // the quote
    StringBuilder sb = new StringBuilder();
    java.io.ByteArrayOutputStream raw = null; // UTF-8 bytes not yet decoded
    while (true) {
      int b = readByte();
      if (b < 0) {
        throw error("a string not closed");
      }
      if (b == '"') {
        flush(raw, sb);
        return sb.toString();
      }
      if (b < 0x20) {
        throw error("a control character in a string");
      }
      if (b == '\\') {
        flush(raw, sb);
        raw = null;
        escape(sb);
      } else if (b < 0x80) {
        flush(raw, sb);
        raw = null;
        sb.append((char) b);
      } else {
        if (raw == null) {
          raw = new java.io.ByteArrayOutputStream();
        }
        raw.write(b);
      }
      if (sb.length() + (raw == null ? 0 : raw.size()) > limits.maxStringLength()) {
        throw error("a string longer than " + limits.maxStringLength() + " characters");
      }
    }
  }

  private void flush(java.io.ByteArrayOutputStream raw, StringBuilder sb) throws JsonException {
    if (raw == null || raw.size() == 0) {
      return;
    }
    try {
      sb.append(StandardCharsets.UTF_8.newDecoder().decode(java.nio.ByteBuffer.wrap(raw.toByteArray())));
    } catch (java.nio.charset.CharacterCodingException e) {
      throw error("a string that is not UTF-8");
    }
    raw.reset();
  }

  private void escape(StringBuilder sb) throws IOException {
    int b = readByte();
    switch (b) {
      case '"', '\\', '/' -> sb.append((char) b);
      case 'b' -> sb.append('\b');
      case 'f' -> sb.append('\f');
      case 'n' -> sb.append('\n');
      case 'r' -> sb.append('\r');
      case 't' -> sb.append('\t');
      case 'u' -> {
        char c = hex4();
        if (Character.isHighSurrogate(c)) {
          if (readByte() != '\\' || readByte() != 'u') {
            throw error("an unpaired surrogate");
          }
          char low = hex4();
          if (!Character.isLowSurrogate(low)) {
            throw error("an unpaired surrogate");
          }
          sb.append(c).append(low);
        } else if (Character.isLowSurrogate(c)) {
          throw error("an unpaired surrogate");
        } else {
          sb.append(c);
        }
      }
      default -> throw error("an unknown escape \\" + (b < 0 ? "" : show(b)));
    }
  }

  private char hex4() throws IOException {
    int v = 0;
    for (int i = 0; i < 4; i++) {
      int d = Character.digit(readByte(), 16);
      if (d < 0) {
        throw error("expected 4 hex digits after \\u");
      }
      v = v << 4 | d;
    }
    return (char) v;
  }

  /** A document the reader refused: malformed, or past a bound. */
  static final class JsonException extends IOException {
    private static final long serialVersionUID = 1L;

    JsonException(String message) {
      super(message);
    }
  }
}
