package dev.portcullis.handshake.proxy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.portcullis.handshake.HandshakeException;
import java.io.ByteArrayOutputStream;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.Optional;
import java.util.Random;
import java.util.zip.CRC32C;
import org.junit.jupiter.api.Test;

/** The PROXY protocol parser against HAProxy's specification and hostile input. */
class ProxyHeaderParserTest {

  private static ByteBuffer ascii(String s) {
    return ByteBuffer.wrap(s.getBytes(StandardCharsets.US_ASCII));
  }

  private static String rest(ByteBuffer b) {
    byte[] r = new byte[b.remaining()];
    b.duplicate().get(r);
    return new String(r, StandardCharsets.US_ASCII);
  }

  private static String refusal(ByteBuffer b) {
    return assertThrows(HandshakeException.class, () -> ProxyHeaderParser.parse(b)).getMessage();
  }

  @Test
  void detectsASignatureAtItsLastByteAndNoHeaderAtTheFirstByteThatDiffers() {
    for (byte[] signature : new byte[][] {ProxyHeaderParser.V1_PREFIX, ProxyHeaderParser.V2_SIGNATURE}) {
      for (int n = 0; n < signature.length; n++) {
        ByteBuffer part = ByteBuffer.wrap(java.util.Arrays.copyOf(signature, n));
        assertEquals(ProxyHeaderParser.Signature.UNDECIDED, ProxyHeaderParser.detect(part), "first " + n + " bytes");
        byte[] differs = java.util.Arrays.copyOf(signature, n + 1);
        differs[n] = (byte) (signature[n] ^ 0x40);
        assertEquals(ProxyHeaderParser.Signature.NONE, ProxyHeaderParser.detect(ByteBuffer.wrap(differs)),
            "byte " + n + " differs");
      }
      byte[] whole = java.util.Arrays.copyOf(signature, signature.length + 3);
      ByteBuffer b = ByteBuffer.wrap(whole);
      assertEquals(ProxyHeaderParser.Signature.HEADER, ProxyHeaderParser.detect(b));
      assertEquals(0, b.position(), "nothing consumed");
    }
    assertEquals(ProxyHeaderParser.Signature.NONE, ProxyHeaderParser.detect(ascii("G")));
    assertEquals(ProxyHeaderParser.Signature.NONE, ProxyHeaderParser.detect(ascii("PROXYING")));
  }

  @Test
  void parsesV1Tcp4AndLeavesTheFollowingBytes() throws Exception {
    ByteBuffer b = ascii("PROXY TCP4 192.0.2.5 10.0.0.1 56324 443\r\nGET / HTTP/1.0\r\n");
    ProxyHeader h = ProxyHeaderParser.parse(b);
    assertEquals(1, h.version());
    assertEquals(ProxyHeader.Command.PROXY, h.command());
    assertEquals(ProxyHeader.Family.TCP4, h.family());
    assertEquals(Optional.of(new InetSocketAddress("192.0.2.5", 56324)), h.source());
    assertEquals(Optional.of(new InetSocketAddress("10.0.0.1", 443)), h.destination());
    assertEquals("GET / HTTP/1.0\r\n", rest(b));
  }

  @Test
  void parsesV1Tcp6AndUnknown() throws Exception {
    ProxyHeader h = ProxyHeaderParser.parse(ascii("PROXY TCP6 2001:db8::5 ::1 1 65535\r\n"));
    assertEquals(Optional.of(new InetSocketAddress("2001:db8::5", 1)), h.source());
    assertEquals("ProxyHeader[v1 PROXY TCP6 [2001:db8::5]:1 -> [::1]:65535]", h.toString());
    assertEquals("ProxyHeader[v1 PROXY TCP4 192.0.2.5:56324 -> 10.0.0.1:443]",
        ProxyHeaderParser.parse(ascii("PROXY TCP4 192.0.2.5 10.0.0.1 56324 443\r\n")).toString());
    ProxyHeader u = ProxyHeaderParser.parse(ascii("PROXY UNKNOWN ffff:f...f:ffff 12345\r\n"));
    assertEquals(ProxyHeader.Family.UNKNOWN, u.family());
    assertTrue(u.source().isEmpty());
  }

  @Test
  void v1Tcp6WithIpv4MappedAddressesIsTheIpv4Client() throws Exception {
    // What HAProxy 2.6 writes for an IPv4 client on a dual-stack (v4v6) bind.
    ProxyHeader h = ProxyHeaderParser.parse(ascii("PROXY TCP6 ::ffff:127.0.0.2 ::ffff:127.0.0.1 55129 52885\r\n"));
    assertEquals(ProxyHeader.Family.TCP6, h.family());
    InetSocketAddress source = h.source().orElseThrow();
    assertTrue(source.getAddress() instanceof java.net.Inet4Address, "decided as IPv4: " + source);
    assertEquals(new InetSocketAddress("127.0.0.2", 55129), source);
    assertEquals(Optional.of(new InetSocketAddress("127.0.0.1", 52885)), h.destination());
    assertEquals(new InetSocketAddress("192.0.2.7", 1),
        ProxyHeaderParser.parse(ascii("PROXY TCP6 ::ffff:c000:207 ::1 1 2\r\n")).source().orElseThrow());
  }

  @Test
  void v1AddressesMustBeOfTheLinesFamily() {
    assertTrue(refusal(ascii("PROXY TCP4 ::ffff:127.0.0.2 127.0.0.1 1 2\r\n"))
        .contains("'::ffff:127.0.0.2' is not an IPv4 address"));
    assertTrue(refusal(ascii("PROXY TCP6 127.0.0.2 ::1 1 2\r\n")).contains("'127.0.0.2' is not an IPv6 address"));
    assertTrue(refusal(ascii("PROXY TCP4 10.0.0.0/8 127.0.0.1 1 2\r\n")).contains("is a prefix, not an address"));
    assertTrue(refusal(ascii("PROXY TCP4 010.0.0.1 127.0.0.1 1 2\r\n")).contains("'010.0.0.1'"));
  }

  @Test
  void incompleteV1WaitsUntil107BytesThenRefuses() throws Exception {
    assertNull(ProxyHeaderParser.parse(ascii("PROXY TCP4 192.0.2.5 10.0.")));
    assertNull(ProxyHeaderParser.parse(ascii("PRO")));
    String noCrlf = "PROXY TCP4 " + "1".repeat(96);
    assertEquals(107, noCrlf.length());
    assertTrue(refusal(ascii(noCrlf)).contains("no CRLF within 107 bytes"));
    assertNull(ProxyHeaderParser.parse(ascii(noCrlf.substring(0, 106))));
  }

  @Test
  void refusesMalformedV1Lines() {
    assertTrue(refusal(ascii("PROXY TCP4 192.0.2.5 10.0.0.1 1 2\n")).contains("CRLF"));
    assertTrue(refusal(ascii("PROXY TCP4 192.0.2.5 10.0.0.1 65536 2\r\n")).contains("'65536'"));
    assertTrue(refusal(ascii("PROXY TCP4 192.0.2.5 10.0.0.1 080 2\r\n")).contains("'080'"));
    assertTrue(refusal(ascii("PROXY TCP4 192.0.2 10.0.0.1 1 2\r\n")).contains("192.0.2"));
    assertTrue(refusal(ascii("PROXY TCP4 ::1 10.0.0.1 1 2\r\n")).contains("not an IPv4 address"));
    assertTrue(refusal(ascii("PROXY TCP4 192.0.2.5 10.0.0.1 1\r\n")).contains("expected 'PROXY TCP4|TCP6"));
    assertTrue(refusal(ascii("PROXY UDP4 192.0.2.5 10.0.0.1 1 2\r\n")).contains("malformed"));
    assertTrue(refusal(ascii("PROXY TCP4 example.com 10.0.0.1 1 2\r\n")).contains("hostname"));
    assertTrue(refusal(ascii("PROXZ TCP4")).contains("not a PROXY protocol v1 header"));
    assertTrue(refusal(ascii("GET / HTTP/1.1\r\n")).contains("expected a PROXY protocol header"));
  }

  /** Builds a v2 header: version/command byte, family/protocol byte, body (addresses + TLVs). */
  static byte[] v2(int versionCommand, int familyProtocol, byte[] body) {
    ByteBuffer b = ByteBuffer.allocate(16 + body.length);
    b.put(ProxyHeaderParser.V2_SIGNATURE).put((byte) versionCommand).put((byte) familyProtocol)
        .putShort((short) body.length).put(body);
    return b.array();
  }

  static byte[] inet4Body(String src, String dst, int sport, int dport, byte[] tlvs) throws Exception {
    ByteBuffer b = ByteBuffer.allocate(12 + tlvs.length);
    b.put(java.net.InetAddress.getByName(src).getAddress()).put(java.net.InetAddress.getByName(dst).getAddress())
        .putShort((short) sport).putShort((short) dport).put(tlvs);
    return b.array();
  }

  static byte[] tlv(int type, byte[] value) {
    ByteBuffer b = ByteBuffer.allocate(3 + value.length);
    b.put((byte) type).putShort((short) value.length).put(value);
    return b.array();
  }

  static byte[] concat(byte[]... parts) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    for (byte[] p : parts) {
      out.writeBytes(p);
    }
    return out.toByteArray();
  }

  private static byte[] text(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }

  @Test
  void parsesV2Inet4WithEveryTlvAndAValidCrc() throws Exception {
    byte[] ssl = concat(new byte[] {0x07, 0, 0, 0, 0}, tlv(0x21, text("TLSv1.3")), tlv(0x22, text("client-7")),
        tlv(0x23, text("TLS_AES_128_GCM_SHA256")));
    byte[] tlvs = concat(tlv(0x01, text("h2")), tlv(0x02, text("api.example")), tlv(0x05, new byte[] {1, 2, 3}),
        tlv(0x20, ssl), tlv(0x30, text("blue")), tlv(0x03, new byte[4]));
    byte[] header = v2(0x21, 0x11, inet4Body("192.0.2.5", "10.0.0.1", 56324, 443, tlvs));
    CRC32C crc = new CRC32C();
    crc.update(header);
    ByteBuffer.wrap(header).putInt(header.length - 4, (int) crc.getValue());

    ByteBuffer in = ByteBuffer.wrap(concat(header, text("after")));
    ProxyHeader h = ProxyHeaderParser.parse(in);
    assertEquals("after", rest(in));
    assertEquals(2, h.version());
    assertEquals(Optional.of(new InetSocketAddress("192.0.2.5", 56324)), h.source());
    assertEquals(Optional.of("h2"), h.alpn());
    assertEquals(Optional.of("api.example"), h.authority());
    assertEquals(3, h.uniqueId().orElseThrow().length);
    assertEquals(Optional.of("blue"), h.netns());
    assertTrue(h.crc32cChecked());
    ProxyHeader.Ssl s = h.ssl().orElseThrow();
    assertTrue(s.isTls() && s.clientCertificateVerified());
    assertEquals(Optional.of("client-7"), s.commonName());
    assertEquals(Optional.of("TLSv1.3"), s.version());
  }

  @Test
  void refusesAWrongCrc() throws Exception {
    byte[] header = v2(0x21, 0x11, inet4Body("192.0.2.5", "10.0.0.1", 1, 2, tlv(0x03, new byte[] {1, 2, 3, 4})));
    assertTrue(refusal(ByteBuffer.wrap(header)).contains("CRC32C mismatch"));
  }

  @Test
  void parsesV2Inet6AndLocal() throws Exception {
    ByteBuffer body = ByteBuffer.allocate(36);
    body.put(java.net.InetAddress.getByName("2001:db8::5").getAddress())
        .put(java.net.InetAddress.getByName("2001:db8::1").getAddress()).putShort((short) 1000).putShort((short) 443);
    ProxyHeader h = ProxyHeaderParser.parse(ByteBuffer.wrap(v2(0x21, 0x21, body.array())));
    assertEquals(Optional.of(new InetSocketAddress("2001:db8::5", 1000)), h.source());

    ByteBuffer local = ByteBuffer.wrap(concat(v2(0x20, 0x11, inet4Body("1.2.3.4", "5.6.7.8", 1, 2, new byte[0])),
        text("x")));
    ProxyHeader l = ProxyHeaderParser.parse(local);
    assertEquals(ProxyHeader.Command.LOCAL, l.command());
    assertTrue(l.source().isEmpty(), "LOCAL keeps the socket's address");
    assertEquals("x", rest(local));
  }

  @Test
  void v2WaitsForADeclaredLengthWithinTheLimitAndRefusesOneBeyondIt() throws Exception {
    byte[] header = v2(0x21, 0x11, inet4Body("192.0.2.5", "10.0.0.1", 1, 2, new byte[0]));
    assertNull(ProxyHeaderParser.parse(ByteBuffer.wrap(header, 0, 20)), "length beyond the data: wait");
    assertNull(ProxyHeaderParser.parse(ByteBuffer.wrap(header, 0, 14)));
    ByteBuffer huge = ByteBuffer.allocate(16).put(ProxyHeaderParser.V2_SIGNATURE).put((byte) 0x21).put((byte) 0x11)
        .putShort((short) 0xFFFF).flip();
    assertTrue(refusal(huge).contains("declares 65535 bytes"));
  }

  @Test
  void refusesHostileV2Headers() throws Exception {
    assertTrue(refusal(ByteBuffer.wrap(v2(0xFF, 0x11, new byte[12]))).contains("version 15"));
    assertTrue(refusal(ByteBuffer.wrap(v2(0x22, 0x11, new byte[12]))).contains("unknown command"));
    assertTrue(refusal(ByteBuffer.wrap(v2(0x21, 0x11, new byte[8]))).contains("too short"));
    assertTrue(refusal(ByteBuffer.wrap(v2(0x21, 0x21, new byte[20]))).contains("too short"));
    assertTrue(refusal(ByteBuffer.wrap(v2(0x21, 0x12, new byte[12]))).contains("DGRAM"));
    assertTrue(refusal(ByteBuffer.wrap(v2(0x21, 0x41, new byte[12]))).contains("unknown address family"));
    byte[] pastEnd = concat(inet4Body("1.2.3.4", "5.6.7.8", 1, 2, new byte[0]), new byte[] {0x01, 0x00, 0x09, 'h'});
    assertTrue(refusal(ByteBuffer.wrap(v2(0x21, 0x11, pastEnd))).contains("runs past the header"));
    byte[] stub = concat(inet4Body("1.2.3.4", "5.6.7.8", 1, 2, new byte[0]), new byte[] {0x01, 0x00});
    assertTrue(refusal(ByteBuffer.wrap(v2(0x21, 0x11, stub))).contains("runs past the header"));
    byte[] badSsl = concat(inet4Body("1.2.3.4", "5.6.7.8", 1, 2, new byte[0]), tlv(0x20, new byte[] {1, 0, 0}));
    assertTrue(refusal(ByteBuffer.wrap(v2(0x21, 0x11, badSsl))).contains("SSL TLV"));
    byte[] badSignature = ProxyHeaderParser.V2_SIGNATURE.clone();
    badSignature[5] = 0x00;
    assertTrue(refusal(ByteBuffer.wrap(badSignature)).contains("not a PROXY protocol v2 signature"));
  }

  @Test
  void detectsASecondHeaderOnlyWhenItsPrefixIsComplete() {
    assertTrue(ProxyHeaderParser.startsWithHeader(ascii("PROXY TCP4 ...")));
    assertTrue(ProxyHeaderParser.startsWithHeader(ByteBuffer.wrap(ProxyHeaderParser.V2_SIGNATURE)));
    assertFalse(ProxyHeaderParser.startsWithHeader(ascii("POST / HTTP/1.1")));
    assertFalse(ProxyHeaderParser.startsWithHeader(ascii("PROX")));
  }

  @Test
  void mutatedHeadersOnlyEverFailWithHandshakeExceptionAndNeverReadPastTheInput() throws Exception {
    byte[] v1 = "PROXY TCP4 192.0.2.5 10.0.0.1 56324 443\r\nrest".getBytes(StandardCharsets.US_ASCII);
    byte[] v2 = concat(v2(0x21, 0x11, inet4Body("192.0.2.5", "10.0.0.1", 1, 2,
        concat(tlv(0x20, concat(new byte[] {1, 0, 0, 0, 0}, tlv(0x22, text("cn")))), tlv(0x02, text("a"))))),
        text("rest"));
    Random rnd = new Random(42);
    int parsed = 0;
    for (int i = 0; i < 50_000; i++) {
      byte[] base = (i % 2 == 0 ? v1 : v2).clone();
      int edits = 1 + rnd.nextInt(4);
      for (int e = 0; e < edits; e++) {
        base[rnd.nextInt(base.length)] = (byte) rnd.nextInt(256);
      }
      int length = rnd.nextInt(base.length + 1);
      ByteBuffer in = ByteBuffer.wrap(base, 0, length);
      try {
        ProxyHeader h = ProxyHeaderParser.parse(in);
        assertTrue(in.position() <= length, "consumed more than the input");
        if (h == null) {
          assertEquals(0, in.position(), "waiting for more must consume nothing");
        } else {
          parsed++;
        }
      } catch (HandshakeException expected) {
        assertTrue(expected.getMessage() != null && !expected.getMessage().isEmpty());
      }
    }
    assertTrue(parsed > 100, "the mutations must also produce valid headers: " + parsed);
  }
}
