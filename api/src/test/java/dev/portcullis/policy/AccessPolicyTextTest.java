package dev.portcullis.policy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The policy text form: parse, load, toString, equality. */
class AccessPolicyTextTest {

  private static Rule allow(String cidr) {
    return Rule.allow(Cidr.parse(cidr));
  }

  private static Rule deny(String cidr) {
    return Rule.deny(Cidr.parse(cidr));
  }

  private static final String SAMPLE = String.join("\n",
      "# office policy",
      "",
      "allow 10.0.0.0/8",
      "deny  10.66.0.0/16      # the lab network",
      "   ",
      "\tallow\t2001:db8::/32\t# v6 office",
      "deny ::1#no space before the comment",
      "# trailing comment line",
      "");

  private static final List<Rule> SAMPLE_RULES = List.of(
      allow("10.0.0.0/8"), deny("10.66.0.0/16"), allow("2001:db8::/32"), deny("::1"));

  @Test
  void parsesRulesSkippingCommentsBlankLinesAndTrailingComments() {
    AccessPolicy p = AccessPolicy.parse(SAMPLE);
    assertEquals(SAMPLE_RULES, p.rules());
  }

  @Test
  void parsesCrlfLineEndings() {
    AccessPolicy p = AccessPolicy.parse(SAMPLE.replace("\n", "\r\n"));
    assertEquals(SAMPLE_RULES, p.rules());
  }

  @Test
  void lastLineNeedsNoNewline() {
    assertEquals(List.of(allow("10.0.0.0/8"), deny("::1")),
        AccessPolicy.parse("allow 10.0.0.0/8\ndeny ::1").rules());
  }

  @Test
  void emptyAndCommentOnlyTextGiveAnEmptyPolicy() {
    assertTrue(AccessPolicy.parse("").isEmpty());
    assertTrue(AccessPolicy.parse("# nothing\n\n   # still nothing\r\n\t\n").isEmpty());
    assertEquals(List.of(), AccessPolicy.parse("#").rules());
  }

  @Test
  void keepsRulesInOrderWithDuplicates() {
    AccessPolicy p = AccessPolicy.parse("deny ::1\nallow 10.0.0.0/8\ndeny ::1\n");
    assertEquals(List.of(deny("::1"), allow("10.0.0.0/8"), deny("::1")), p.rules());
    assertThrows(UnsupportedOperationException.class, () -> p.rules().add(allow("::/0")));
  }

  @Test
  void errorNamesTheLineNumberAndQuotesTheBadText() {
    String text = "# header\nallow 10.0.0.0/8\nallow 10.1.2.3/8   # typo\nallow ::1\n";
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> AccessPolicy.parse(text));
    assertTrue(e.getMessage().startsWith("line 3: "), e.getMessage());
    assertTrue(e.getMessage().contains("'10.1.2.3/8'"), e.getMessage());
    assertTrue(e.getMessage().contains("10.0.0.0/8"), e.getMessage());
    assertTrue(e.getCause() instanceof IllegalArgumentException, "keeps the original exception as cause");
  }

  @Test
  void errorLineNumberCountsBlankLinesAndCrlf() {
    String text = "\r\n\r\n# c\r\n\r\npermit 10.0.0.0/8\r\n";
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> AccessPolicy.parse(text));
    assertTrue(e.getMessage().startsWith("line 5: "), e.getMessage());
    assertTrue(e.getMessage().contains("'permit 10.0.0.0/8'"), e.getMessage());
  }

  @Test
  void errorOnFirstLine() {
    IllegalArgumentException e =
        assertThrows(IllegalArgumentException.class, () -> AccessPolicy.parse("allow example.com\n"));
    assertTrue(e.getMessage().startsWith("line 1: "), e.getMessage());
    assertTrue(e.getMessage().contains("'example.com'"), e.getMessage());
    assertTrue(e.getMessage().contains("names are never resolved"), e.getMessage());
  }

  @Test
  void ruleWithMissingCidrNamesLine() {
    IllegalArgumentException e =
        assertThrows(IllegalArgumentException.class, () -> AccessPolicy.parse("allow ::1\ndeny # forgot\n"));
    assertTrue(e.getMessage().startsWith("line 2: "), e.getMessage());
    assertTrue(e.getMessage().contains("'deny'"), e.getMessage());
  }

  @Test
  void rejectsNullText() {
    assertThrows(NullPointerException.class, () -> AccessPolicy.parse(null));
  }

  @Test
  void loadsUtf8FileWithCrlf(@TempDir Path dir) throws IOException {
    Path f = dir.resolve("policy.txt");
    Files.writeString(f, "# caf\u00e9 r\u00e8gles \u2014 UTF-8 comment\r\n" + SAMPLE.replace("\n", "\r\n"),
        StandardCharsets.UTF_8);
    assertEquals(SAMPLE_RULES, AccessPolicy.load(f).rules());
  }

  @Test
  void loadIgnoresAByteOrderMark(@TempDir Path dir) throws IOException {
    Path f = dir.resolve("bom.policy");
    Files.writeString(f, "\uFEFF" + SAMPLE, StandardCharsets.UTF_8);
    assertEquals(SAMPLE_RULES, AccessPolicy.load(f).rules());
  }

  @Test
  void loadErrorStartsWithFileAndLineNumber(@TempDir Path dir) throws IOException {
    Path f = dir.resolve("bad.policy");
    Files.writeString(f, "allow 10.0.0.0/8\n# ok so far\ndeny 10.0.0.0/33\n", StandardCharsets.UTF_8);
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> AccessPolicy.load(f));
    assertTrue(e.getMessage().startsWith(f + ":3: "), e.getMessage());
    assertTrue(e.getMessage().contains("'10.0.0.0/33'"), e.getMessage());
    assertFalse(e.getMessage().contains("line 3"), e.getMessage());
  }

  @Test
  void loadOfMissingFileThrowsIoException(@TempDir Path dir) {
    assertThrows(IOException.class, () -> AccessPolicy.load(dir.resolve("missing.policy")));
  }

  @Test
  void toStringWritesOneCanonicalRuleALine() {
    AccessPolicy p = AccessPolicy.parse("allow   10.0.0.0/8 # c\ndeny 2001:DB8:0::1\n");
    assertEquals("allow 10.0.0.0/8\ndeny 2001:db8::1/128\n", p.toString());
    assertEquals("", AccessPolicy.of().toString());
  }

  @Test
  void toStringParsesBackToAnEqualPolicy() {
    AccessPolicy p = AccessPolicy.parse(SAMPLE);
    AccessPolicy again = AccessPolicy.parse(p.toString());
    assertEquals(p, again);
    assertEquals(p.rules(), again.rules());
    assertEquals(p.toString(), again.toString());
  }

  @Test
  void randomPoliciesSurviveTextRoundTrip() {
    Random rnd = new Random(42);
    for (int n = 0; n < 200; n++) {
      List<Rule> rules = new ArrayList<>();
      int count = rnd.nextInt(20);
      for (int i = 0; i < count; i++) {
        rules.add(RandomRules.randomRule(rnd));
      }
      AccessPolicy p = AccessPolicy.of(rules);
      AccessPolicy again = AccessPolicy.parse(p.toString());
      assertEquals(rules, again.rules());
      assertEquals(p, again);
    }
  }

  @Test
  void sameRulesInAnotherOrderAreEqualWithEqualHashCodes() {
    List<Rule> rules = new ArrayList<>(SAMPLE_RULES);
    AccessPolicy a = AccessPolicy.of(rules);
    Collections.reverse(rules);
    AccessPolicy b = AccessPolicy.of(rules);
    assertNotEquals(a.rules(), b.rules());
    assertEquals(a, b);
    assertEquals(b, a);
    assertEquals(a.hashCode(), b.hashCode());
  }

  @Test
  void differentRulesAreNotEqual() {
    AccessPolicy a = AccessPolicy.parse("allow 10.0.0.0/8\n");
    assertNotEquals(a, AccessPolicy.parse("deny 10.0.0.0/8\n"));
    assertNotEquals(a, AccessPolicy.parse("allow 10.0.0.0/9\n"));
    assertNotEquals(a, AccessPolicy.parse("allow 10.0.0.0/8\nallow ::1\n"));
    assertNotEquals(a, AccessPolicy.of());
    assertNotEquals(a, "allow 10.0.0.0/8\n");
  }

  @Test
  void builderCollectsRulesAndChecksEachAsAdded() {
    AccessPolicy base = AccessPolicy.parse("deny ::1\n");
    AccessPolicy p = AccessPolicy.builder()
        .allow("10.0.0.0/8")
        .deny("10.66.0.0/16")
        .rule(allow("2001:db8::/32"))
        .rules(base)
        .build();
    assertEquals(SAMPLE_RULES, p.rules());

    AccessPolicy.Builder b = AccessPolicy.builder();
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> b.allow("10.1.2.3/8"));
    assertTrue(e.getMessage().contains("'10.1.2.3/8'"), e.getMessage());
    assertThrows(NullPointerException.class, () -> b.rule((Rule) null));
    assertTrue(b.build().isEmpty(), "a refused rule is not added");
  }

  @Test
  void ofRejectsNullRules() {
    assertThrows(NullPointerException.class, () -> AccessPolicy.of((List<Rule>) null));
    List<Rule> withNull = new ArrayList<>();
    withNull.add(allow("::1"));
    withNull.add(null);
    assertThrows(NullPointerException.class, () -> AccessPolicy.of(withNull));
  }

  @Test
  void policyIsNotChangedByLaterEditsOfTheSourceList() {
    List<Rule> rules = new ArrayList<>(List.of(allow("10.0.0.0/8")));
    AccessPolicy p = AccessPolicy.of(rules);
    rules.add(deny("10.0.0.0/8"));
    assertEquals(List.of(allow("10.0.0.0/8")), p.rules());
    assertTrue(p.decide("10.1.1.1").isAllowed());
  }

  @Test
  void allowAllHasBothFamilyWideRulesAndAllowsEveryLocalPeer() {
    AccessPolicy p = AccessPolicy.allowAll();
    assertEquals(AccessPolicy.parse("allow 0.0.0.0/0\nallow ::/0\n").rules(), p.rules());
    assertEquals(List.of(CredentialRule.allowAnyLocalPeer()), p.credentialRules());
    assertTrue(p.decide(new PeerCredentials(1, 0, 0)).isAllowed());
    assertEquals(p, AccessPolicy.parse(p.toString()), "allow uid * round-trips");
    assertEquals(allow("0.0.0.0/0"), p.decide("1.2.3.4").rule().orElseThrow());
    assertEquals(allow("::/0"), p.decide("::1").rule().orElseThrow());
  }
}
