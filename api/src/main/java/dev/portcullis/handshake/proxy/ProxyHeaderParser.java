package dev.portcullis.handshake.proxy;

import dev.portcullis.handshake.HandshakeException;
import dev.portcullis.handshake.HandshakeStep;
import dev.portcullis.policy.IpAddresses;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.zip.CRC32C;

/**
 * Parses one PROXY protocol header, v1 or v2, from the front of a buffer, following HAProxy's
 * {@code doc/proxy-protocol.txt}. Never allocates more than the header it has already received: a
 * v2 length is checked against the limit before anything waits for it. On success the buffer's
 * position is just past the header; bytes after it are untouched.
 */
final class ProxyHeaderParser {
  private ProxyHeaderParser() {}

  static final byte[] V1_PREFIX = "PROXY ".getBytes(StandardCharsets.US_ASCII);
  static final byte[] V2_SIGNATURE = {
    0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A
  };
  /** The longest v1 header, CRLF included. */
  static final int V1_MAX = 107;
  /** The longest v2 header this server buffers: the handshake buffer limit. */
  static final int V2_MAX = HandshakeStep.MAX_BUFFERED;
  /** A v2 header's address family (the high nibble of byte 13): AF_UNSPEC, AF_INET, AF_INET6, AF_UNIX. */
  private static final ProxyHeader.Family[] V2_FAMILIES = {
    ProxyHeader.Family.UNKNOWN, ProxyHeader.Family.TCP4, ProxyHeader.Family.TCP6, ProxyHeader.Family.UNIX
  };
  /** The length of each family's address block: two addresses and two ports (two 108-byte paths for AF_UNIX). */
  private static final int[] V2_ADDRESS_LENGTHS = {0, 12, 36, 216};

  /**
   * Parses a header.
   *
   * @return the header, or null if more bytes are needed
   * @throws HandshakeException if the bytes are not a valid header; the message says why
   */
  static ProxyHeader parse(ByteBuffer in) throws HandshakeException {
    if (!in.hasRemaining()) {
      return null;
    }
    byte first = in.get(in.position());
    if (first == V1_PREFIX[0]) {
      return parseV1(in);
    }
    if (first == V2_SIGNATURE[0]) {
      return parseV2(in);
    }
    throw new HandshakeException("expected a PROXY protocol header, got " + hex(in, 8));
  }

  /** What the first bytes of a connection say about a header that may or may not come. */
  enum Signature {
    /** A complete v1 prefix or v2 signature: a header, which must now parse. */
    HEADER,
    /** The bytes differ from both signatures: no header; they are the application's. */
    NONE,
    /** Every byte so far matches the start of a signature: more are needed to tell. */
    UNDECIDED
  }

  /**
   * Tells a header from other data by the signature only, without consuming anything. Decides at
   * the first byte that differs from both signatures (one byte is often enough: the v1 prefix
   * starts with {@code P}, the v2 signature with CR), so data is never held back longer than the
   * bytes it shares with a signature.
   */
  static Signature detect(ByteBuffer in) {
    if (startsWithHeader(in)) {
      return Signature.HEADER;
    }
    return isPrefixOf(in, V1_PREFIX) || isPrefixOf(in, V2_SIGNATURE) ? Signature.UNDECIDED : Signature.NONE;
  }

  /** Whether every buffered byte matches the start of {@code signature} (true for an empty buffer). */
  private static boolean isPrefixOf(ByteBuffer in, byte[] signature) {
    int n = Math.min(in.remaining(), signature.length);
    for (int i = 0; i < n; i++) {
      if (in.get(in.position() + i) != signature[i]) {
        return false;
      }
    }
    return true;
  }

  /** Whether the buffer starts with a complete v1 prefix or v2 signature (a second header). */
  static boolean startsWithHeader(ByteBuffer in) {
    return startsWith(in, V1_PREFIX) || startsWith(in, V2_SIGNATURE);
  }

  private static boolean startsWith(ByteBuffer in, byte[] prefix) {
    if (in.remaining() < prefix.length) {
      return false;
    }
    for (int i = 0; i < prefix.length; i++) {
      if (in.get(in.position() + i) != prefix[i]) {
        return false;
      }
    }
    return true;
  }

  private static void checkPrefix(ByteBuffer in, byte[] prefix, String what) throws HandshakeException {
    int n = Math.min(in.remaining(), prefix.length);
    for (int i = 0; i < n; i++) {
      if (in.get(in.position() + i) != prefix[i]) {
        throw new HandshakeException("not a PROXY protocol " + what + ": " + hex(in, prefix.length));
      }
    }
  }

  private static ProxyHeader parseV1(ByteBuffer in) throws HandshakeException {
    checkPrefix(in, V1_PREFIX, "v1 header");
    int start = in.position();
    int scan = Math.min(in.remaining(), V1_MAX);
    int newline = -1;
    for (int i = 0; i < scan; i++) {
      if (in.get(start + i) == '\n') {
        newline = start + i;
        break;
      }
    }
    if (newline < 0) {
      if (in.remaining() >= V1_MAX) {
        throw new HandshakeException("PROXY v1 header has no CRLF within " + V1_MAX + " bytes");
      }
      return null;
    }
    if (newline == start || in.get(newline - 1) != '\r') {
      throw new HandshakeException("PROXY v1 header must end with CRLF, not a bare LF");
    }
    byte[] raw = new byte[newline - 1 - start];
    in.get(start, raw);
    for (byte b : raw) {
      if (b < 0x20 || b > 0x7E) {
        throw new HandshakeException("PROXY v1 header has a non-printable byte " + String.format("0x%02x", b & 0xFF));
      }
    }
    String line = new String(raw, StandardCharsets.US_ASCII);
    String[] parts = line.split(" ", -1);
    ProxyHeader header;
    if (parts.length >= 2 && parts[1].equals("UNKNOWN")) {
      header = new ProxyHeader(1, ProxyHeader.Command.PROXY, ProxyHeader.Family.UNKNOWN, null, null, List.of(),
          null, false);
    } else if (parts.length == 6 && (parts[1].equals("TCP4") || parts[1].equals("TCP6"))) {
      boolean v4 = parts[1].equals("TCP4");
      InetAddress src = address(parts[2], v4, line);
      InetAddress dst = address(parts[3], v4, line);
      header = new ProxyHeader(1, ProxyHeader.Command.PROXY, v4 ? ProxyHeader.Family.TCP4 : ProxyHeader.Family.TCP6,
          new InetSocketAddress(src, port(parts[4], line)), new InetSocketAddress(dst, port(parts[5], line)),
          List.of(), null, false);
    } else {
      throw new HandshakeException("malformed PROXY v1 header '" + line
          + "': expected 'PROXY TCP4|TCP6 SRC DST SPORT DPORT' or 'PROXY UNKNOWN'");
    }
    in.position(newline + 1);
    return header;
  }

  /**
   * A header address is a peer address, not a rule: the IPv4-mapped forms that a dual-stack proxy
   * writes in {@code TCP6} lines ({@code ::ffff:192.0.2.7}) are accepted and decided as IPv4.
   */
  private static InetAddress address(String text, boolean v4, String line) throws HandshakeException {
    try {
      // The family is the text's: a TCP4 line holds a dotted quad, a TCP6 line an IPv6 literal.
      if ((text.indexOf(':') < 0) != v4) {
        throw new IllegalArgumentException("'" + text + "' is not an IPv" + (v4 ? 4 : 6) + " address");
      }
      return IpAddresses.parse(text);
    } catch (IllegalArgumentException e) {
      throw new HandshakeException("malformed PROXY v1 header '" + line + "': " + e.getMessage());
    }
  }

  private static int port(String text, String line) throws HandshakeException {
    boolean digits = !text.isEmpty() && text.length() <= 5 && text.chars().allMatch(c -> c >= '0' && c <= '9');
    if (!digits || (text.length() > 1 && text.charAt(0) == '0') || Integer.parseInt(text) > 65535) {
      throw new HandshakeException("malformed PROXY v1 header '" + line + "': port '" + text
          + "' is not a decimal number 0..65535");
    }
    return Integer.parseInt(text);
  }

  private static ProxyHeader parseV2(ByteBuffer in) throws HandshakeException {
    checkPrefix(in, V2_SIGNATURE, "v2 signature");
    if (in.remaining() < 16) {
      return null;
    }
    int start = in.position();
    int versionCommand = in.get(start + 12) & 0xFF;
    if ((versionCommand >>> 4) != 2) {
      throw new HandshakeException("PROXY v2 header has version " + (versionCommand >>> 4) + ", expected 2");
    }
    int cmd = versionCommand & 0x0F;
    if (cmd > 1) {
      throw new HandshakeException("PROXY v2 header has unknown command " + cmd);
    }
    int familyProtocol = in.get(start + 13) & 0xFF;
    int family = familyProtocol >>> 4;
    int protocol = familyProtocol & 0x0F;
    int length = in.getShort(start + 14) & 0xFFFF;
    if (16 + length > V2_MAX) {
      throw new HandshakeException("PROXY v2 header declares " + length + " bytes; at most " + (V2_MAX - 16)
          + " are accepted");
    }
    if (in.remaining() < 16 + length) {
      return null;
    }
    int end = start + 16 + length;
    if (cmd == 0) {
      // LOCAL: the proxy speaks for itself; the spec says to discard the address block.
      in.position(end);
      return new ProxyHeader(2, ProxyHeader.Command.LOCAL, ProxyHeader.Family.UNKNOWN, null, null, List.of(), null,
          false);
    }
    if (family >= V2_FAMILIES.length) {
      throw new HandshakeException("PROXY v2 header has unknown address family " + family);
    }
    int addressLength = V2_ADDRESS_LENGTHS[family];
    ProxyHeader.Family fam = V2_FAMILIES[family];
    if (protocol == 2) {
      throw new HandshakeException("PROXY v2 header relays a datagram (DGRAM) connection; only STREAM is served");
    }
    if (protocol > 2) {
      throw new HandshakeException("PROXY v2 header has unknown transport protocol " + protocol);
    }
    if (protocol == 0 && family != 0) {
      fam = ProxyHeader.Family.UNKNOWN; // UNSPEC transport: the socket's addresses stand
    }
    if (length < addressLength) {
      throw new HandshakeException("PROXY v2 header of " + length + " bytes is too short for its " + addressLength
          + "-byte address block");
    }
    InetSocketAddress src = null;
    InetSocketAddress dst = null;
    int a = start + 16;
    if (fam == ProxyHeader.Family.TCP4) {
      src = new InetSocketAddress(inet(in, a, 4), in.getShort(a + 8) & 0xFFFF);
      dst = new InetSocketAddress(inet(in, a + 4, 4), in.getShort(a + 10) & 0xFFFF);
    } else if (fam == ProxyHeader.Family.TCP6) {
      src = new InetSocketAddress(inet(in, a, 16), in.getShort(a + 32) & 0xFFFF);
      dst = new InetSocketAddress(inet(in, a + 16, 16), in.getShort(a + 34) & 0xFFFF);
    }
    List<ProxyHeader.Tlv> tlvs = new ArrayList<>();
    int crcAt = -1;
    int p = start + 16 + addressLength;
    while (p < end) {
      if (end - p < 3) {
        throw new HandshakeException("PROXY v2 TLV header at offset " + (p - start) + " runs past the header");
      }
      int type = in.get(p) & 0xFF;
      int tlvLength = in.getShort(p + 1) & 0xFFFF;
      if (p + 3 + tlvLength > end) {
        throw new HandshakeException(String.format("PROXY v2 TLV 0x%02x of %d bytes runs past the header", type,
            tlvLength));
      }
      byte[] value = new byte[tlvLength];
      in.get(p + 3, value);
      if (type == ProxyHeader.PP2_TYPE_CRC32C) {
        if (tlvLength != 4) {
          throw new HandshakeException("PROXY v2 CRC32C TLV has " + tlvLength + " bytes, expected 4");
        }
        crcAt = p + 3;
      }
      tlvs.add(new ProxyHeader.Tlv(type, value));
      p += 3 + tlvLength;
    }
    if (crcAt >= 0) {
      checkCrc(in, start, end, crcAt);
    }
    ProxyHeader.Ssl ssl = null;
    for (ProxyHeader.Tlv t : tlvs) {
      if (t.type() == ProxyHeader.PP2_TYPE_SSL) {
        ssl = ssl(t.value());
      }
    }
    in.position(end);
    return new ProxyHeader(2, ProxyHeader.Command.PROXY, fam, src, dst, tlvs, ssl, crcAt >= 0);
  }

  private static void checkCrc(ByteBuffer in, int start, int end, int crcAt) throws HandshakeException {
    CRC32C crc = new CRC32C();
    for (int i = start; i < end; i++) {
      boolean inField = i >= crcAt && i < crcAt + 4;
      crc.update(inField ? 0 : in.get(i));
    }
    long expected = in.getInt(crcAt) & 0xFFFF_FFFFL;
    if (crc.getValue() != expected) {
      throw new HandshakeException(String.format("PROXY v2 CRC32C mismatch: header says %08x, bytes give %08x",
          expected, crc.getValue()));
    }
  }

  private static ProxyHeader.Ssl ssl(byte[] v) throws HandshakeException {
    if (v.length < 5) {
      throw new HandshakeException("PROXY v2 SSL TLV has " + v.length + " bytes, at least 5 expected");
    }
    ByteBuffer b = ByteBuffer.wrap(v);
    int client = b.get() & 0xFF;
    int verify = b.getInt();
    String version = null;
    String cn = null;
    String cipher = null;
    String sig = null;
    String key = null;
    while (b.hasRemaining()) {
      if (b.remaining() < 3) {
        throw new HandshakeException("PROXY v2 SSL sub-TLV header runs past the SSL TLV");
      }
      int type = b.get() & 0xFF;
      int length = b.getShort() & 0xFFFF;
      if (length > b.remaining()) {
        throw new HandshakeException(String.format("PROXY v2 SSL sub-TLV 0x%02x of %d bytes runs past the SSL TLV",
            type, length));
      }
      byte[] value = new byte[length];
      b.get(value);
      String text = new String(value, StandardCharsets.UTF_8);
      switch (type) {
        case 0x21 -> version = text;
        case 0x22 -> cn = text;
        case 0x23 -> cipher = text;
        case 0x24 -> sig = text;
        case 0x25 -> key = text;
        default -> { } // unknown sub-TLVs are skipped, as the spec allows
      }
    }
    return new ProxyHeader.Ssl(client, verify, Optional.ofNullable(version), Optional.ofNullable(cn),
        Optional.ofNullable(cipher), Optional.ofNullable(sig), Optional.ofNullable(key));
  }

  private static InetAddress inet(ByteBuffer in, int at, int length) {
    byte[] raw = new byte[length];
    in.get(at, raw);
    return IpAddresses.fromBytes(raw);
  }

  private static String hex(ByteBuffer in, int max) {
    StringBuilder sb = new StringBuilder();
    int n = Math.min(in.remaining(), max);
    for (int i = 0; i < n; i++) {
      sb.append(String.format("%02x", in.get(in.position() + i) & 0xFF));
    }
    return sb.length() == 0 ? "nothing" : "0x" + sb + (in.remaining() > max ? "..." : "");
  }
}
