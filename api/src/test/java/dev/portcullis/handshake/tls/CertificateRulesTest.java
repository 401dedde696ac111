package dev.portcullis.handshake.tls;

import static dev.portcullis.handshake.tls.TestCertificates.BMP_STRING;
import static dev.portcullis.handshake.tls.TestCertificates.IA5_STRING;
import static dev.portcullis.handshake.tls.TestCertificates.PRINTABLE_STRING;
import static dev.portcullis.handshake.tls.TestCertificates.UNIVERSAL_STRING;
import static dev.portcullis.handshake.tls.TestCertificates.UTF8_STRING;
import static dev.portcullis.handshake.tls.TestCertificates.ava;
import static dev.portcullis.handshake.tls.TestCertificates.name;
import static dev.portcullis.handshake.tls.TestCertificates.rdn;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.security.KeyStore;
import java.security.cert.X509Certificate;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The client certificate rules against real certificates from one CA whose subjects hold
 * look-alikes of an allowed name, in every attribute a subject rule can name: a rule matches the
 * same name up to ASCII case, spaces and RDN order, and nothing that only looks the same.
 */
class CertificateRulesTest {
  private static final char[] PASSWORD = "test".toCharArray();
  private static TestCertificates pki;
  private static KeyStore serverKeys;

  /** Every keyword {@code allowSubject} accepts, with its OID, and one attribute named by OID. */
  private static final List<String[]> ATTRIBUTES = List.of(
      new String[] {"CN", "2.5.4.3"}, new String[] {"O", "2.5.4.10"}, new String[] {"OU", "2.5.4.11"},
      new String[] {"C", "2.5.4.6"}, new String[] {"L", "2.5.4.7"}, new String[] {"ST", "2.5.4.8"},
      new String[] {"STREET", "2.5.4.9"}, new String[] {"DC", "0.9.2342.19200300.100.1.25"},
      new String[] {"UID", "0.9.2342.19200300.100.1.1"}, new String[] {"SERIALNUMBER", "2.5.4.5"},
      new String[] {"EMAILADDRESS", "1.2.840.113549.1.9.1"}, new String[] {"T", "2.5.4.12"},
      new String[] {"SURNAME", "2.5.4.4"}, new String[] {"GIVENNAME", "2.5.4.42"},
      new String[] {"INITIALS", "2.5.4.43"}, new String[] {"GENERATION", "2.5.4.44"},
      new String[] {"DNQUALIFIER", "2.5.4.46"}, new String[] {"IP", "1.3.6.1.4.1.42.2.11.2.1"},
      new String[] {"2.5.4.65", "2.5.4.65"});

  /** An allowed value and a value that looks like it (or folds to it under NFKC/NFKD or Unicode case). */
  private static final List<String[]> LOOK_ALIKES = List.of(
      new String[] {"admin", "adm\u0131n"}, // dotless i
      new String[] {"admin", "adm\u0130n"}, // capital I with dot above
      new String[] {"admin", "\uFF41\uFF44\uFF4D\uFF49\uFF4E"}, // fullwidth
      new String[] {"admin", "\u1D43dmin"}, // modifier letter small a
      new String[] {"admin", "\u24D0dmin"}, // circled a
      new String[] {"file", "\uFB01le"}, // fi ligature
      new String[] {"kate", "\u212Aate"}, // Kelvin sign: canonically (not only compatibly) K
      new String[] {"secret", "\u017Fecret"}, // long s, upper case S
      new String[] {"admin2", "admin\u00B2"}, // superscript two
      new String[] {"alice smith", "alice\u00A0smith"}, // no-break space
      new String[] {"alice smith", "alice\u3000smith"}, // ideographic space
      new String[] {"alice smith", "alice\tsmith"},
      new String[] {"café", "cafe\u0301"}, // e + combining acute: canonically equivalent, still refused
      new String[] {"café", "CAFÉ"}); // case outside ASCII does not fold

  @BeforeAll
  static void makePki() throws Exception {
    pki = new TestCertificates();
    serverKeys = TestCertificates.serverKeyStore(PASSWORD);
  }

  private static Tls mutual() throws Exception {
    return Tls.fromKeyStore(serverKeys, PASSWORD).requireClientCertificate(pki.trustStore());
  }

  /** A subject of two RDNs, in encoding order: the companion attribute, then the attribute tested. */
  private static X509Certificate subject(String[] companion, String oid, int tag, String value) {
    return pki.leaf(name(rdn(ava(companion[1], PRINTABLE_STRING, "Example")), rdn(ava(oid, tag, value))));
  }

  private static String[] companionOf(String keyword) {
    return keyword.equals("O") ? new String[] {"OU", "2.5.4.11"} : new String[] {"O", "2.5.4.10"};
  }

  /** The JDK stores DC and EMAILADDRESS as IA5String, turning what is not ASCII into '?'. */
  private static boolean ia5(String keyword) {
    return keyword.equals("DC") || keyword.equals("EMAILADDRESS");
  }

  @Test
  void lookAlikesInEveryAttributeAreRefused() throws Exception {
    for (String[] attribute : ATTRIBUTES) {
      String[] companion = companionOf(attribute[0]);
      // One rule per allowed value, all on one step: a look-alike of any of them is refused.
      Tls tls = mutual();
      for (String allowed : LOOK_ALIKES.stream().map(p -> p[0]).distinct().toList()) {
        if (!ia5(attribute[0]) || allowed.chars().allMatch(c -> c < 0x80)) {
          tls = tls.allowSubject(attribute[0] + "=" + allowed + ", " + companion[0] + "=Example");
        }
      }
      Tls rules = tls;
      for (String[] pair : LOOK_ALIKES) {
        // UTF8String, as CAs write non-ASCII values; BMPString too for the two attributes most rules name.
        int[] tags = attribute[0].equals("CN") || attribute[0].equals("O") ? new int[] {UTF8_STRING, BMP_STRING}
            : new int[] {UTF8_STRING};
        for (int tag : tags) {
          X509Certificate fake = subject(companion, attribute[1], tag, pair[1]);
          assertNotNull(rules.refusal(fake), () -> attribute[0] + " rules let in " + fake.getSubjectX500Principal());
        }
      }
      for (String allowed : LOOK_ALIKES.stream().map(p -> p[0]).distinct().toList()) {
        if (!ia5(attribute[0]) || allowed.chars().allMatch(c -> c < 0x80)) {
          // The value as the rule spells it, from the same CA, is served: the refusals were the look-alikes.
          X509Certificate real = subject(companion, attribute[1], UTF8_STRING, allowed);
          assertNull(rules.refusal(real), () -> attribute[0] + " rules refused " + real.getSubjectX500Principal());
        }
      }
    }
  }

  @Test
  void aRuleTheJdkWouldStoreWithQuestionMarksIsRefusedAndHexValuesAreExact() throws Exception {
    for (String rule : new String[] {"DC=caf\u00e9", "EMAILADDRESS=adm\u0131n@example.com, O=Example"}) {
      IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> mutual().allowSubject(rule));
      assertTrue(e.getMessage().contains("'" + rule + "'") && e.getMessage().contains("ASCII"), e.getMessage());
    }
    // The way round it: the value's DER in hex, here a UTF8String "caf\u00e9".
    Tls tls = mutual().allowSubject("DC=#0c05636166c3a9");
    X509Certificate real = pki.leaf(name(rdn(ava("0.9.2342.19200300.100.1.25", UTF8_STRING, "CAF\u00e9"))));
    assertNull(tls.refusal(real));
    X509Certificate asQuestionMark = pki.leaf(name(rdn(ava("0.9.2342.19200300.100.1.25", IA5_STRING, "caf?"))));
    assertNotNull(tls.refusal(asQuestionMark));
    assertNotNull(mutual().allowSubject("DC=caf?").refusal(real));
  }

  @Test
  void asciiCaseSpacesStringTypesAndRdnOrderStillMatchInEveryAttribute() throws Exception {
    for (String[] attribute : ATTRIBUTES) {
      String[] companion = companionOf(attribute[0]);
      List<X509Certificate> same = List.of(
          subject(companion, attribute[1], PRINTABLE_STRING, "ALICE SMITH"),
          subject(companion, attribute[1], UTF8_STRING, "  Alice    Smith "),
          subject(companion, attribute[1], BMP_STRING, "alice smith"),
          subject(companion, attribute[1], UNIVERSAL_STRING, "aLiCe sMiTh"));
      X509Certificate other = subject(companion, attribute[1], UTF8_STRING, "alice smiths");
      for (String rule : new String[] {attribute[0] + "=alice smith, " + companion[0] + "=Example",
          companion[0] + "=EXAMPLE,  " + attribute[0] + " = Alice Smith "}) {
        Tls tls = mutual().allowSubject(rule);
        for (X509Certificate c : same) {
          assertNull(tls.refusal(c), () -> rule + " refused " + c.getSubjectX500Principal());
        }
        assertNotNull(tls.refusal(other), () -> rule + " let in " + other.getSubjectX500Principal());
      }
    }
  }

  @Test
  void nonAsciiValuesMatchCodePointForCodePoint() throws Exception {
    Tls tls = mutual().allowSubject("CN=Müller café, O=Example");
    X509Certificate same = subject(new String[] {"O", "2.5.4.10"}, "2.5.4.3", UTF8_STRING, "MüLLER CAFé");
    assertNull(tls.refusal(same), "ASCII letters around the non-ASCII ones still fold");
    X509Certificate bmp = subject(new String[] {"O", "2.5.4.10"}, "2.5.4.3", BMP_STRING, "müller café");
    assertNull(tls.refusal(bmp));
    for (String v : new String[] {"MÜLLER café", "mu\u0308ller café", "müller cafe\u0301", "m\uFF55ller café"}) {
      X509Certificate c = subject(new String[] {"O", "2.5.4.10"}, "2.5.4.3", UTF8_STRING, v);
      assertNotNull(tls.refusal(c), v);
    }
  }

  @Test
  void aRefusalSpellsOutWhatIsNotPrintableAscii() throws Exception {
    X509Certificate fake = pki.leaf(name(rdn(ava("2.5.4.3", UTF8_STRING, "adm\u0131n\nINFO forged"))));
    String refusal = mutual().allowSubject("CN=admin").refusal(fake);
    assertTrue(refusal.contains("'CN=adm\\u0131n\\u000aINFO forged'"), refusal);
  }

  @Test
  void multiValuedRdnsMatchAsSetsAndNotAsSeparateRdns() throws Exception {
    X509Certificate multi = pki.leaf(name(rdn(ava("2.5.4.3", UTF8_STRING, "alice"), ava("2.5.4.10", UTF8_STRING, "Example"))));
    assertNull(mutual().allowSubject("O=EXAMPLE+CN=Alice").refusal(multi));
    assertNull(mutual().allowSubject("CN=alice + O=example").refusal(multi));
    assertNotNull(mutual().allowSubject("CN=alice,O=Example").refusal(multi));
    X509Certificate fake = pki.leaf(name(rdn(ava("2.5.4.3", UTF8_STRING, "al\u0131ce"), ava("2.5.4.10", UTF8_STRING, "Example"))));
    assertNotNull(mutual().allowSubject("CN=alice+O=Example").refusal(fake));
  }

  @Test
  void sanRulesFoldOnlyAsciiCase() throws Exception {
    X509Certificate c = pki.leaf(name(rdn(ava("2.5.4.3", UTF8_STRING, "x"))), "admin.example", "key.example");
    assertNull(mutual().allowSan("ADMIN.Example").refusal(c));
    assertNull(mutual().allowSan("KEY.example").refusal(c));
    // Java's equalsIgnoreCase folds these to the certificate's ASCII letters.
    for (String rule : new String[] {"adm\u0130n.example", "adm\u0131n.example", "\u212Aey.example"}) {
      assertNotNull(mutual().allowSan(rule).refusal(c), rule);
    }
    X509Certificate fake = pki.leaf(name(rdn(ava("2.5.4.3", UTF8_STRING, "x"))), "adm\u0131n.example");
    assertNotNull(mutual().allowSan("admin.example").refusal(fake));
  }
}
