package dev.portcullis.policy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

class RuleTest {

  @Test
  void parsesAllowRule() {
    Rule r = Rule.parse("allow 10.0.0.0/8");
    assertEquals(Rule.Action.ALLOW, r.action());
    assertTrue(r.isAllow());
    assertEquals(Cidr.parse("10.0.0.0/8"), r.cidr());
  }

  @Test
  void parsesDenyRuleWithBareAddressAsHostRule() {
    Rule r = Rule.parse("deny ::1");
    assertEquals(Rule.Action.DENY, r.action());
    assertFalse(r.isAllow());
    assertEquals(Cidr.parse("::1/128"), r.cidr());
  }

  @ParameterizedTest
  @ValueSource(strings = {"allow\t10.0.0.0/8", "allow  \t  10.0.0.0/8", "  allow 10.0.0.0/8  ", "\tallow\t10.0.0.0/8\t"})
  void wordsMayBeSeparatedBySpacesAndTabs(String text) {
    assertEquals(Rule.allow(Cidr.parse("10.0.0.0/8")), Rule.parse(text));
  }

  @ParameterizedTest(name = "{0} -> {1}")
  @CsvSource({
      "allow 10.0.0.0/8,           allow 10.0.0.0/8",
      "deny   2001:DB8:0::/32,      deny 2001:db8::/32",
      "allow 10.0.0.7,             allow 10.0.0.7/32",
      "deny ::,                    deny ::/128",
      "allow 64:ff9b::1.2.3.4/128, allow 64:ff9b::102:304/128",
  })
  void toStringIsCanonicalAndParsesBack(String text, String canonical) {
    Rule r = Rule.parse(text);
    assertEquals(canonical, r.toString());
    assertEquals(r, Rule.parse(r.toString()));
  }

  @Test
  void keywordsAreLowerCase() {
    assertEquals("allow", Rule.Action.ALLOW.keyword());
    assertEquals("deny", Rule.Action.DENY.keyword());
  }

  @ParameterizedTest
  @ValueSource(strings = {"permit 10.0.0.0/8", "ALLOW 10.0.0.0/8", "Deny 10.0.0.0/8", "block ::1"})
  void rejectsUnknownOrWrongCaseKeywordNamingIt(String text) {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Rule.parse(text));
    String keyword = text.substring(0, text.indexOf(' '));
    assertTrue(e.getMessage().contains("'" + text + "'"), e.getMessage());
    assertTrue(e.getMessage().contains("starts with '" + keyword + "'"), e.getMessage());
    assertTrue(e.getMessage().contains("'allow' or 'deny'"), e.getMessage());
  }

  @ParameterizedTest
  @ValueSource(strings = {"allow", "deny", "", "   ", "allow 10.0.0.0/8 extra", "10.0.0.0/8", "allow 10.0.0.0 /8"})
  void rejectsWrongWordCount(String text) {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Rule.parse(text));
    assertTrue(e.getMessage().contains("'" + text + "'"), e.getMessage());
    assertTrue(e.getMessage().contains("expected 'allow CIDR' or 'deny CIDR'"), e.getMessage());
  }

  @Test
  void badCidrMessageQuotesTheCidr() {
    IllegalArgumentException e =
        assertThrows(IllegalArgumentException.class, () -> Rule.parse("allow 10.1.2.3/8"));
    assertTrue(e.getMessage().contains("'10.1.2.3/8'"), e.getMessage());
    assertTrue(e.getMessage().contains("did you mean 10.0.0.0/8?"), e.getMessage());
  }

  @Test
  void hostnameInRuleIsRefusedWithoutResolving() {
    IllegalArgumentException e =
        assertThrows(IllegalArgumentException.class, () -> Rule.parse("allow localhost"));
    assertTrue(e.getMessage().contains("'localhost'"), e.getMessage());
    assertTrue(e.getMessage().contains("names are never resolved"), e.getMessage());
  }

  @Test
  void rejectsNull() {
    assertThrows(NullPointerException.class, () -> Rule.parse(null));
    assertThrows(NullPointerException.class, () -> Rule.allow(null));
    assertThrows(NullPointerException.class, () -> Rule.deny(null));
  }

  @Test
  void equalityDependsOnActionAndPrefix() {
    Cidr c = Cidr.parse("10.0.0.0/8");
    assertEquals(Rule.allow(c), Rule.parse("allow 10.0.0.0/8"));
    assertEquals(Rule.allow(c).hashCode(), Rule.parse("allow 10.0.0.0/8").hashCode());
    assertNotEquals(Rule.allow(c), Rule.deny(c));
    assertNotEquals(Rule.allow(c), Rule.allow(Cidr.parse("10.0.0.0/9")));
  }
}
