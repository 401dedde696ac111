package dev.portcullis.policy;

import static org.junit.jupiter.api.Assertions.assertAll;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.Inet4Address;
import java.net.Inet6Address;
import java.net.InetAddress;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

class CidrTest {

  private static IllegalArgumentException refused(String text) {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Cidr.parse(text),
        () -> "expected " + quoted(text) + " to be refused");
    assertTrue(e.getMessage().contains(quoted(text)),
        () -> "message must quote the input " + quoted(text) + ": " + e.getMessage());
    return e;
  }

  private static void refusedSaying(String text, String expectedFragment) {
    IllegalArgumentException e = refused(text);
    assertTrue(e.getMessage().contains(expectedFragment),
        () -> "message for " + quoted(text) + " should contain '" + expectedFragment + "': " + e.getMessage());
  }

  private static String quoted(String s) {
    return "'" + s + "'";
  }

  private static InetAddress ip(int... unsignedBytes) throws Exception {
    byte[] b = new byte[unsignedBytes.length];
    for (int i = 0; i < b.length; i++) {
      b[i] = (byte) unsignedBytes[i];
    }
    return InetAddress.getByAddress(b);
  }

  private static InetAddress literal(String s) throws Exception {
    // Only literals are passed here, so InetAddress does not resolve anything.
    return InetAddress.getByName(s);
  }

  // ---------------------------------------------------------------- valid forms, canonical text

  @ParameterizedTest(name = "{0} -> {1}")
  @CsvSource({
      "10.0.0.0/8,         10.0.0.0/8",
      "192.168.1.0/24,     192.168.1.0/24",
      "0.0.0.0/0,          0.0.0.0/0",
      "255.255.255.255/32, 255.255.255.255/32",
      "10.0.0.7,           10.0.0.7/32",
      "0.0.0.0,            0.0.0.0/32",
      "128.0.0.0/1,        128.0.0.0/1",
      "1.2.3.4/32,         1.2.3.4/32",
  })
  void parsesIpv4ToCanonicalText(String input, String canonical) {
    assertEquals(canonical, Cidr.parse(input).toString());
  }

  @ParameterizedTest(name = "{0} -> {1}")
  @CsvSource({
      // full form, leading zeros in groups and upper case are accepted on input
      "2001:0db8:0000:0000:0000:0000:0000:0001,  2001:db8::1/128",
      "2001:DB8:0:0:0:0:0:1,                     2001:db8::1/128",
      "2001:db8::/32,                            2001:db8::/32",
      "::,                                       ::/128",
      "::/0,                                     ::/0",
      "0:0:0:0:0:0:0:0/0,                        ::/0",
      "::1,                                      ::1/128",
      "1::,                                      1::/128",
      "fe80::/10,                                fe80::/10",
      "1:2:3:4:5:6:7:8,                          1:2:3:4:5:6:7:8/128",
      "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff,  ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128",
      // RFC 5952 4.2.2: a single zero group is never shortened to '::'
      "2001:db8:0:1:1:1:1:1,                     2001:db8:0:1:1:1:1:1/128",
      "1::2:3:4:5:6:7,                           1:0:2:3:4:5:6:7/128",
      // RFC 5952 4.2.3: the longest run is shortened; on a tie, the first
      "2001:0:0:1:0:0:0:1,                       2001:0:0:1::1/128",
      "2001:db8:0:0:1:0:0:1,                     2001:db8::1:0:0:1/128",
      "0:0:1:0:0:1:0:0,                          ::1:0:0:1:0:0/128",
      // RFC 5952 4.3: lower case
      "ABCD:EF01::/32,                           abcd:ef01::/32",
      // trailing dotted quad outside the mapped range
      "64:ff9b::1.2.3.4,                         64:ff9b::102:304/128",
      "64:ff9b::/96,                             64:ff9b::/96",
      "::1.2.3.4,                                ::102:304/128",
      "1:2:3:4:5:6:1.2.3.4,                      1:2:3:4:5:6:102:304/128",
      "2001:db8::1:0/112,                        2001:db8::1:0/112",
  })
  void parsesIpv6ToCanonicalRfc5952Text(String input, String canonical) {
    Cidr c = Cidr.parse(input);
    assertEquals(canonical, c.toString());
    assertEquals(c, Cidr.parse(canonical), "canonical text must parse back to the same prefix");
  }

  @Test
  void bareIpv4AddressIsHostRuleOfLength32() {
    Cidr c = Cidr.parse("10.0.0.7");
    assertTrue(c.isIpv4());
    assertEquals(32, c.prefixLength());
    assertEquals(Cidr.parse("10.0.0.7/32"), c);
  }

  @Test
  void bareIpv6AddressIsHostRuleOfLength128() {
    Cidr c = Cidr.parse("2001:db8::7");
    assertFalse(c.isIpv4());
    assertEquals(128, c.prefixLength());
    assertEquals(Cidr.parse("2001:db8::7/128"), c);
  }

  @Test
  void prefixLengthBoundsAreAccepted() {
    assertEquals(0, Cidr.parse("0.0.0.0/0").prefixLength());
    assertEquals(32, Cidr.parse("1.2.3.4/32").prefixLength());
    assertEquals(0, Cidr.parse("::/0").prefixLength());
    assertEquals(128, Cidr.parse("::1/128").prefixLength());
    assertEquals(64, Cidr.parse("2001:db8:0:1::/64").prefixLength());
    assertEquals(65, Cidr.parse("2001:db8:0:1:8000::/65").prefixLength());
  }

  @Test
  void networkReturnsTheFirstAddressInTheRightFamily() throws Exception {
    InetAddress v4 = Cidr.parse("192.168.0.0/16").network();
    assertTrue(v4 instanceof Inet4Address);
    assertArrayEquals(new byte[] {(byte) 192, (byte) 168, 0, 0}, v4.getAddress());

    InetAddress v6 = Cidr.parse("2001:db8::/32").network();
    assertTrue(v6 instanceof Inet6Address);
    assertEquals(literal("2001:db8::"), v6);
  }

  // ---------------------------------------------------------------- mapped range

  @Test
  void mappedAddressIsRefusedAsRuleAndNamesTheIpv4Rule() {
    refusedSaying("::ffff:1.2.3.4", "1.2.3.4/32");
    refusedSaying("::ffff:1.2.3.4", "::ffff:0:0/96");
  }

  @ParameterizedTest(name = "{0} -> {1}")
  @CsvSource({
      "::ffff:10.0.0.0/104,  10.0.0.0/8",
      "::ffff:0:0/96,        0.0.0.0/0",
      "::ffff:0.0.0.0/96,    0.0.0.0/0",
      "::ffff:c0a8:100/120,  192.168.1.0/24",
      "0:0:0:0:0:ffff:a01:203, 10.1.2.3/32",
  })
  void mappedRangeRulesAreRefusedNamingTheIpv4Rule(String input, String ipv4Rule) {
    refusedSaying(input, "write the IPv4 rule " + ipv4Rule);
  }

  @ParameterizedTest(name = "{0} -> {1}")
  @CsvSource({
      "::ffff:10.1.2.3/104, 10.0.0.0/8",
      "::ffff:1.2.3.4/96,   0.0.0.0/0",
      "::ffff:10.1.2.3/127, 10.1.2.2/31",
  })
  void mappedRuleWithHostBitsSuggestsTheIpv4Network(String input, String ipv4Rule) {
    refusedSaying(input, "write the IPv4 rule " + ipv4Rule);
  }

  /** Following the advice in a refusal must give a rule that parses, not a second refusal. */
  @ParameterizedTest
  @ValueSource(strings = {"10.1.2.3/8", "2001:db8::1/32", "::ffff:10.1.2.3/104", "::ffff:1.2.3.4/96",
      "::ffff:10.1.2.3/127", "::ffff:1.2.3.4", "::ffff:0:0/96", "::1/0"})
  void suggestedRuleInRefusalParses(String input) {
    String message = refused(input).getMessage();
    java.util.regex.Matcher m =
        java.util.regex.Pattern.compile("(?:did you mean |write the IPv4 rule )([0-9a-f.:]+/[0-9]+)").matcher(message);
    assertTrue(m.find(), () -> "no suggestion in: " + message);
    Cidr suggested = Cidr.parse(m.group(1));
    assertEquals(m.group(1), suggested.toString(), "the suggestion is in canonical form");
  }

  @Test
  void prefixesAroundButOutsideTheMappedRangeAreAccepted() {
    // ::fffe:0:0/95 contains the mapped range but is not inside it.
    assertEquals("::fffe:0:0/95", Cidr.parse("::fffe:0:0/95").toString());
    assertEquals("::/0", Cidr.parse("::/0").toString());
    assertEquals("::1:0:0:0/80", Cidr.parse("::1:0:0:0/80").toString());
    assertEquals("::fffe:102:304/128", Cidr.parse("::fffe:1.2.3.4").toString());
  }

  // ---------------------------------------------------------------- rejections

  @Test
  void rejectsNull() {
    assertThrows(NullPointerException.class, () -> Cidr.parse(null));
  }

  @Test
  void rejectsEmptyString() {
    refusedSaying("", "empty");
  }

  @ParameterizedTest
  @ValueSource(strings = {" 10.0.0.1", "10.0.0.1 ", "\t10.0.0.0/8", "10.0.0.0/8\n", " ", "::1 "})
  void rejectsSurroundingWhitespace(String input) {
    refusedSaying(input, "white space");
  }

  @ParameterizedTest
  @ValueSource(strings = {"10.0.0.0 /8", "10.0.0.0/ 8", "10.0. 0.0"})
  void rejectsInnerWhitespace(String input) {
    refused(input);
  }

  @ParameterizedTest
  @ValueSource(strings = {"010.0.0.1", "10.00.0.1", "10.0.0.01", "00.0.0.0", "::010.0.0.1"})
  void rejectsLeadingZerosInIpv4Parts(String input) {
    refusedSaying(input, "leading zero");
  }

  @ParameterizedTest
  @ValueSource(strings = {"10.0.0.0/08", "0.0.0.0/00", "::/00", "::/0128"})
  void rejectsLeadingZerosInPrefixLength(String input) {
    refused(input);
  }

  @Test
  void leadingZeroInPrefixSaysSo() {
    refusedSaying("10.0.0.0/08", "leading zero in prefix length '08'");
  }

  @ParameterizedTest
  @ValueSource(strings = {"0x0a.0.0.1", "0xa.0.0.1", "0x0A000001", "10.0.0.0x1", "1e1.0.0.1", "0x0a.0.0.0/8"})
  void rejectsHexIpv4Forms(String input) {
    refused(input);
  }

  @Test
  void hexIpv4PartIsCalledNotDecimal() {
    refusedSaying("0xa.0.0.1", "not decimal");
  }

  @ParameterizedTest
  @CsvSource({
      "10.1,        found 2",
      "10,          found 1",
      "10.1.2,      found 3",
      "1.2.3.4.5,   found 5",
      "167772161,   found 1",
  })
  void rejectsShortAndLongIpv4Forms(String input, String fragment) {
    refusedSaying(input, "four decimal parts");
    refusedSaying(input, fragment);
  }

  @ParameterizedTest
  @ValueSource(strings = {"256.0.0.1", "1.2.3.256", "999.0.0.0", "1.2.300.4/32"})
  void rejectsIpv4PartsAbove255(String input) {
    refusedSaying(input, "larger than 255");
  }

  @ParameterizedTest
  @ValueSource(strings = {"1..2.3", "1.2.3.", ".1.2.3", "1.2.3.4444"})
  void rejectsEmptyOrOverlongIpv4Parts(String input) {
    refused(input);
  }

  @ParameterizedTest
  @ValueSource(strings = {"fe80::1%eth0", "fe80::1%1", "fe80::1%eth0/128", "10.0.0.1%eth0"})
  void rejectsZoneIds(String input) {
    refusedSaying(input, "zone id");
  }

  @ParameterizedTest
  @ValueSource(strings = {"[::1]", "[::1]/128", "[2001:db8::]/32", "[10.0.0.1]"})
  void rejectsBrackets(String input) {
    refusedSaying(input, "bracketed");
  }

  @ParameterizedTest
  @ValueSource(strings = {"localhost", "example.com", "my-host.example.org", "example.com/24", "a.b.c.d",
      "xn--bcher-kva.example"})
  void rejectsHostnamesWithoutResolvingThem(String input) {
    // No DNS is consulted: the refusal comes from the text alone, so the message is the proof.
    refusedSaying(input, "looks like a hostname");
    refusedSaying(input, "names are never resolved");
  }

  @ParameterizedTest
  @CsvSource({
      "10.0.0.0/33,  expected 0..32",
      "::/129,       expected 0..128",
      "1.2.3.4/128,  expected 0..32",
      "10.0.0.0/1000, expected 0..32",
  })
  void rejectsPrefixLengthOutOfRange(String input, String fragment) {
    refusedSaying(input, "out of range");
    refusedSaying(input, fragment);
  }

  @Test
  void rejectsPrefixLongerThan32() {
    refusedSaying("10.0.0.0/33", "prefix length 33 out of range: expected 0..32 for IPv4");
  }

  @Test
  void rejectsPrefixLongerThan128() {
    refusedSaying("::/129", "prefix length 129 out of range: expected 0..128 for IPv6");
  }

  @ParameterizedTest
  @ValueSource(strings = {"10.0.0.0/-1", "10.0.0.0/a", "10.0.0.0/+8", "10.0.0.0/8/8", "::/-1", "::/1e2", "::/ff"})
  void rejectsNonDecimalPrefixLength(String input) {
    refusedSaying(input, "not a decimal number");
  }

  @ParameterizedTest
  @ValueSource(strings = {"10.0.0.0/", "::/"})
  void rejectsEmptyPrefixLength(String input) {
    refusedSaying(input, "empty prefix length");
  }

  @ParameterizedTest
  @ValueSource(strings = {"/", "/8", "/0"})
  void rejectsMissingAddress(String input) {
    refusedSaying(input, "empty");
  }

  @Test
  void hostBitsSetNamesTheIntendedIpv4Network() {
    refusedSaying("10.1.2.3/8", "host bits set");
    refusedSaying("10.1.2.3/8", "10.0.0.0/8");
  }

  @ParameterizedTest(name = "{0} -> {1}")
  @CsvSource({
      "192.168.1.1/24,     192.168.1.0/24",
      "0.0.0.1/0,          0.0.0.0/0",
      "255.255.255.255/31, 255.255.255.254/31",
      "2001:db8::1/32,     2001:db8::/32",
      "::1/0,              ::/0",
      "2001:db8::1/127,    2001:db8::/127",
      "2001:db8:0:1:8000::/64, 2001:db8:0:1::/64",
  })
  void hostBitsSetNamesTheIntendedNetwork(String input, String network) {
    refusedSaying(input, "did you mean " + network + "?");
  }

  @ParameterizedTest
  @ValueSource(strings = {"1::2::3", "::1::", "1:::2", ":::"})
  void rejectsMoreThanOneDoubleColon(String input) {
    refusedSaying(input, "'::' may appear only once");
  }

  @ParameterizedTest
  @ValueSource(strings = {"1:2:3:4:5:6:7:8:9", "1:2:3:4:5:6:7", "1:2:3:4:5:6:7:1.2.3.4", "1:2:3:4:5:1.2.3.4"})
  void rejectsWrongGroupCount(String input) {
    refusedSaying(input, "expected 8 groups");
  }

  @ParameterizedTest
  @ValueSource(strings = {"1:2:3:4::5:6:7:8", "::1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8::", "1:2:3::4:5:6:1.2.3.4"})
  void rejectsDoubleColonThatStandsForNothing(String input) {
    refusedSaying(input, "at least one zero group");
  }

  @ParameterizedTest
  @ValueSource(strings = {"12345::", ":1:2:3:4:5:6:7", "1:2:3:4:5:6:7:", "::1:", ":", "1.2.3.4::", "1.2.3.4:1::"})
  void rejectsMalformedIpv6Groups(String input) {
    refusedSaying(input, "is not an IPv6 address");
  }

  @ParameterizedTest
  @ValueSource(strings = {"g::1", "2001:db8::-1", "2001:db8::+1", "::0x1"})
  void rejectsNonHexIpv6Groups(String input) {
    refusedSaying(input, "not hexadecimal");
  }

  @ParameterizedTest
  @ValueSource(strings = {
      "::\u0661",                 // ARABIC-INDIC DIGIT ONE
      "\uFF12001:db8::/32",       // FULLWIDTH DIGIT TWO
      "::\uFF21",                 // FULLWIDTH LATIN CAPITAL LETTER A
      "fe80::\u0967",             // DEVANAGARI DIGIT ONE
  })
  void rejectsNonAsciiDigitsInIpv6Groups(String input) {
    refusedSaying(input, "not hexadecimal");
  }

  @ParameterizedTest
  @ValueSource(strings = {"\u0661.0.0.1", "1.2.3.\uFF14", "10.0.0.0/\u0668"})
  void rejectsNonAsciiDigitsInIpv4AndPrefix(String input) {
    refused(input);
  }

  @ParameterizedTest
  @ValueSource(strings = {"::ffff:1.2.3", "::ffff:01.2.3.4", "::1.2.3.256", "64:ff9b::1.2.3.4.5"})
  void rejectsBadTrailingDottedQuad(String input) {
    refused(input);
  }

  // ---------------------------------------------------------------- of / host

  @Test
  void ofBuildsTheSamePrefixAsParse() throws Exception {
    assertEquals(Cidr.parse("10.0.0.0/8"), Cidr.of(literal("10.0.0.0"), 8));
    assertEquals(Cidr.parse("2001:db8::/32"), Cidr.of(literal("2001:db8::"), 32));
    assertEquals(Cidr.parse("10.0.0.7/32"), Cidr.host(literal("10.0.0.7")));
    assertEquals(Cidr.parse("::1/128"), Cidr.host(literal("::1")));
  }

  @Test
  void ofRejectsHostBitsAndOutOfRangeLengths() throws Exception {
    InetAddress a = literal("10.1.2.3");
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Cidr.of(a, 8));
    assertTrue(e.getMessage().contains("'10.1.2.3/8'") && e.getMessage().contains("10.0.0.0/8"), e.getMessage());
    assertThrows(IllegalArgumentException.class, () -> Cidr.of(a, 33));
    assertThrows(IllegalArgumentException.class, () -> Cidr.of(a, -1));
    InetAddress b = literal("::");
    assertThrows(IllegalArgumentException.class, () -> Cidr.of(b, 129));
    assertThrows(IllegalArgumentException.class, () -> Cidr.of(b, -1));
    assertThrows(NullPointerException.class, () -> Cidr.of(null, 8));
  }

  // ---------------------------------------------------------------- contains

  @Test
  void containsAddressesInsideAndNotOutside() throws Exception {
    Cidr c = Cidr.parse("192.168.10.0/24");
    assertTrue(c.contains(literal("192.168.10.0")));
    assertTrue(c.contains(literal("192.168.10.255")));
    assertFalse(c.contains(literal("192.168.11.0")));
    assertFalse(c.contains(literal("192.168.9.255")));

    Cidr v6 = Cidr.parse("2001:db8::/32");
    assertTrue(v6.contains(literal("2001:db8:ffff::1")));
    assertFalse(v6.contains(literal("2001:db9::")));
  }

  @Test
  void ipv4PrefixNeverContainsIpv6AddressAndViceVersa() throws Exception {
    Cidr all4 = Cidr.parse("0.0.0.0/0");
    Cidr all6 = Cidr.parse("::/0");
    assertFalse(all4.contains(literal("::1")));
    assertFalse(all4.contains(literal("::")));
    assertFalse(all4.containsIpv6(0, 1));
    assertFalse(all6.contains(literal("10.0.0.1")));
    assertFalse(all6.containsIpv4(0x0A000001));
    assertTrue(all4.contains(literal("10.0.0.1")));
    assertTrue(all6.contains(literal("::1")));
  }

  @Test
  void mappedAddressIsContainedInTheIpv4PrefixOnly() throws Exception {
    InetAddress mapped = ip(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 1, 2, 3);
    // Java turns a 16-byte mapped address into an Inet4Address ...
    assertTrue(mapped instanceof Inet4Address);
    assertTrue(Cidr.parse("10.0.0.0/8").contains(mapped));
    // ... so also check the raw 128-bit form that a dual-stack socket hands the matcher.
    long lo = 0x0000_FFFF_0A01_0203L;
    assertTrue(Cidr.parse("10.0.0.0/8").containsIpv6(0, lo));
    assertTrue(Cidr.parse("10.1.2.3/32").containsIpv6(0, lo));
    assertFalse(Cidr.parse("11.0.0.0/8").containsIpv6(0, lo));
    assertFalse(Cidr.parse("::/0").containsIpv6(0, lo));
    assertFalse(Cidr.parse("::/64").containsIpv6(0, lo));
  }

  @Test
  void rawIpv4ContainmentUsesUnsignedAddresses() {
    Cidr high = Cidr.parse("200.0.0.0/8");
    assertTrue(high.containsIpv4(0xC8000001));
    assertTrue(high.containsIpv4(0xC8FFFFFF));
    assertFalse(high.containsIpv4(0xC9000000));
    assertTrue(Cidr.parse("255.255.255.255/32").containsIpv4(-1));
    assertTrue(Cidr.parse("128.0.0.0/1").containsIpv4(Integer.MIN_VALUE));
    assertFalse(Cidr.parse("128.0.0.0/1").containsIpv4(Integer.MAX_VALUE));
  }

  @Test
  void ipv6ContainmentAcrossThe64BitBoundary() {
    Cidr c = Cidr.parse("2001:db8:0:1:8000::/65");
    long hi = 0x2001_0db8_0000_0001L;
    assertTrue(c.containsIpv6(hi, 0x8000_0000_0000_0000L));
    assertTrue(c.containsIpv6(hi, -1L));
    assertFalse(c.containsIpv6(hi, 0x7FFF_FFFF_FFFF_FFFFL));
    assertFalse(c.containsIpv6(hi + 1, 0x8000_0000_0000_0000L));
    Cidr h = Cidr.parse("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff");
    assertTrue(h.containsIpv6(-1L, -1L));
    assertFalse(h.containsIpv6(-1L, -2L));
  }

  // ---------------------------------------------------------------- equality, ordering

  @Test
  void equalPrefixesWrittenDifferentlyAreEqualWithEqualHashCodes() {
    Cidr a = Cidr.parse("2001:0DB8:0000::/32");
    Cidr b = Cidr.parse("2001:db8::/32");
    assertEquals(a, b);
    assertEquals(a.hashCode(), b.hashCode());
    assertNotEquals(Cidr.parse("2001:db8::/32"), Cidr.parse("2001:db8::/33"));
    assertNotEquals(Cidr.parse("0.0.0.0/0"), Cidr.parse("::/0"));
    // IPv4 10.0.0.0/8 and the IPv4-compatible ::a00:0/104 are different prefixes.
    assertNotEquals(Cidr.parse("10.0.0.0/8"), Cidr.parse("::a00:0/104"));
  }

  @Test
  void sortsIpv4FirstThenByAddressThenWiderFirst() {
    List<Cidr> expected = List.of(
        Cidr.parse("0.0.0.0/0"),
        Cidr.parse("10.0.0.0/8"),
        Cidr.parse("10.0.0.0/16"),
        Cidr.parse("10.1.0.0/16"),
        Cidr.parse("200.0.0.0/8"),
        Cidr.parse("::/0"),
        Cidr.parse("::1/128"),
        Cidr.parse("2001:db8::/32"),
        Cidr.parse("8000::/1"));
    List<Cidr> shuffled = new ArrayList<>(expected);
    Collections.shuffle(shuffled, new Random(7));
    Collections.sort(shuffled);
    assertEquals(expected, shuffled);
  }

  // ---------------------------------------------------------------- randomized round trip

  /** An independent RFC 5952 formatter: tries the longest zero run first, the leftmost on ties. */
  static String referenceFormat(int[] g) {
    for (int len = 8; len >= 2; len--) {
      for (int start = 0; start + len <= 8; start++) {
        boolean zeros = true;
        for (int k = start; k < start + len; k++) {
          zeros &= g[k] == 0;
        }
        if (zeros) {
          return join(g, 0, start) + "::" + join(g, start + len, 8);
        }
      }
    }
    return join(g, 0, 8);
  }

  private static String join(int[] g, int from, int to) {
    StringBuilder sb = new StringBuilder();
    for (int i = from; i < to; i++) {
      if (i > from) {
        sb.append(':');
      }
      sb.append(Integer.toHexString(g[i]));
    }
    return sb.toString();
  }

  @Test
  void randomPrefixesRoundTripThroughCanonicalText() throws Exception {
    Random rnd = new Random(0x5eed_c1d4L);
    int checked = 0;
    for (int i = 0; i < 20_000; i++) {
      boolean v4 = rnd.nextInt(3) == 0;
      int length = rnd.nextInt((v4 ? 32 : 128) + 1);
      byte[] b = new byte[v4 ? 4 : 16];
      rnd.nextBytes(b);
      if (!v4) {
        // Make zero runs common so that '::' placement is exercised.
        for (int g = 0; g < 8; g++) {
          if (rnd.nextInt(3) == 0) {
            b[2 * g] = 0;
            b[2 * g + 1] = 0;
          }
        }
        // Sometimes low values in a group, to exercise leading-zero suppression.
        if (rnd.nextBoolean()) {
          b[2 * rnd.nextInt(8)] = 0;
        }
      }
      // Clear host bits.
      for (int bit = length; bit < b.length * 8; bit++) {
        b[bit / 8] &= (byte) ~(0x80 >>> (bit % 8));
      }
      boolean mapped = !v4 && isMappedRange(b) && length >= 96;
      String text;
      int[] groups = new int[8];
      if (v4) {
        text = (b[0] & 0xFF) + "." + (b[1] & 0xFF) + "." + (b[2] & 0xFF) + "." + (b[3] & 0xFF) + "/" + length;
      } else {
        StringBuilder full = new StringBuilder();
        for (int g = 0; g < 8; g++) {
          groups[g] = ((b[2 * g] & 0xFF) << 8) | (b[2 * g + 1] & 0xFF);
          if (g > 0) {
            full.append(':');
          }
          // Non-canonical input: four digits, sometimes upper case.
          String h = String.format("%04x", groups[g]);
          full.append(rnd.nextBoolean() ? h.toUpperCase() : h);
        }
        text = full + "/" + length;
      }
      if (mapped) {
        assertThrows(IllegalArgumentException.class, () -> Cidr.parse(text), text);
        continue;
      }
      Cidr c = Cidr.parse(text);
      String canonical = c.toString();
      String expected = (v4 ? text : referenceFormat(groups) + "/" + length);
      assertEquals(expected, canonical, () -> "canonical form of " + text);
      Cidr again = Cidr.parse(canonical);
      assertEquals(c, again, canonical);
      assertEquals(c.hashCode(), again.hashCode());
      assertEquals(canonical, again.toString());
      assertEquals(length, c.prefixLength());
      assertEquals(v4, c.isIpv4());
      assertArrayEquals(b, c.network().getAddress(), canonical);
      assertEquals(c, Cidr.of(InetAddress.getByAddress(b), length));
      checked++;
    }
    assertTrue(checked > 19_000, "too few prefixes checked: " + checked);
  }

  private static boolean isMappedRange(byte[] b) {
    for (int i = 0; i < 10; i++) {
      if (b[i] != 0) {
        return false;
      }
    }
    return b[10] == (byte) 0xFF && b[11] == (byte) 0xFF;
  }

  @Test
  void referenceFormatterAgreesWithRfc5952Examples() {
    // Guards the test's own reference against the RFC's worked examples.
    assertAll(
        () -> assertEquals("2001:db8::1", referenceFormat(new int[] {0x2001, 0xdb8, 0, 0, 0, 0, 0, 1})),
        () -> assertEquals("2001:db8:0:1:1:1:1:1",
            referenceFormat(new int[] {0x2001, 0xdb8, 0, 1, 1, 1, 1, 1})),
        () -> assertEquals("2001:0:0:1::1", referenceFormat(new int[] {0x2001, 0, 0, 1, 0, 0, 0, 1})),
        () -> assertEquals("2001:db8::1:0:0:1", referenceFormat(new int[] {0x2001, 0xdb8, 0, 0, 1, 0, 0, 1})),
        () -> assertEquals("::", referenceFormat(new int[8])));
  }

  @Test
  void aListIsRefusedWithTheTwoCallsItMeant() {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> Cidr.parse("10.0.0.0/8,192.168.0.0/16"));
    assertTrue(e.getMessage().contains("'10.0.0.0/8,192.168.0.0/16' is a list"), e.getMessage());
    assertTrue(e.getMessage().contains(".allow(\"10.0.0.0/8\").allow(\"192.168.0.0/16\")"), e.getMessage());
    assertTrue(assertThrows(IllegalArgumentException.class, () -> Cidr.parse("10.0.0.0/8 10.1.0.0/16"))
        .getMessage().contains("is a list"));
  }

  @Test
  void aNetmaskIsRecognizedAndItsPrefixLengthSuggested() {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Cidr.parse("10.0.0.0/255.0.0.0"));
    assertTrue(e.getMessage().contains("has a netmask after '/'; write the prefix length: 10.0.0.0/8"), e.getMessage());
    assertTrue(assertThrows(IllegalArgumentException.class, () -> Cidr.parse("192.168.1.0/255.255.255.0"))
        .getMessage().contains("192.168.1.0/24"));
    assertTrue(assertThrows(IllegalArgumentException.class, () -> Cidr.parse("10.0.0.0/255.0.255.0"))
        .getMessage().contains("not contiguous"));
  }
}
