package dev.portcullis.policy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;
import com.google.common.net.InetAddresses;
import java.nio.charset.StandardCharsets;

/**
 * The CIDR, policy-text and TCP Wrappers parsers under Jazzer ({@code JAZZER_FUZZ=1 mvn -pl api test
 * -Dtest=PolicyFuzzTest} fuzzes; {@code mvn verify} replays the seeds in {@code
 * PolicyFuzzTestInputs/}). Findings: any exception but {@link IllegalArgumentException}, a
 * refusal without a message, an accepted prefix that Guava's address parser rejects or whose
 * canonical form parses to something else, and a decision of the compiled policy that differs
 * from the plain linear reference; for hosts files, any address where the translated policy and
 * the first-match reading ({@code explain}) disagree.
 */
class PolicyFuzzTest {
  @FuzzTest(maxDuration = "5m")
  void cidr(byte[] data) {
    String text = new String(data, StandardCharsets.UTF_8);
    Cidr c;
    try {
      c = Cidr.parse(text);
    } catch (IllegalArgumentException refused) {
      assertFalse(refused.getMessage() == null || refused.getMessage().isBlank(), "a refusal says why");
      return;
    }
    String address = text.strip().contains("/") ? text.strip().substring(0, text.strip().indexOf('/')) : text.strip();
    assertTrue(InetAddresses.isInetAddress(address), "accepted an address Guava rejects: " + text);
    assertEquals(c, Cidr.parse(c.toString()), "canonical form round-trips");
    assertTrue(c.prefixLength() >= 0 && c.prefixLength() <= (c.isIpv4() ? 32 : 128));
  }

  @FuzzTest(maxDuration = "5m")
  void policyText(FuzzedDataProvider data) {
    String text = data.consumeString(2000);
    AccessPolicy p;
    try {
      p = AccessPolicy.parse(text);
    } catch (IllegalArgumentException refused) {
      assertTrue(refused.getMessage() != null && refused.getMessage().startsWith("line "),
          "a refusal names the line: " + refused.getMessage());
      return;
    }
    LinearPolicy reference = new LinearPolicy(p.rules());
    for (int i = 0; i < 16 && data.remainingBytes() >= 4; i++) {
      int a = data.consumeInt();
      assertEquals(reference.decideIpv4(a).allowed(), p.decideIpv4(a).isAllowed(), "IPv4 " + a + " under\n" + p);
      long hi = data.remainingBytes() >= 8 ? data.consumeLong() : a;
      long lo = data.remainingBytes() >= 8 ? data.consumeLong() : ~a;
      assertEquals(reference.decideIpv6(hi, lo).allowed(), p.decideIpv6(hi, lo).isAllowed(), "IPv6 under\n" + p);
    }
    assertEquals(p, AccessPolicy.parse(p.toString()), "the text form round-trips");
  }


  @FuzzTest(maxDuration = "5m")
  void hostsFiles(FuzzedDataProvider data) {
    String allow = data.consumeString(500);
    String deny = data.consumeString(500);
    HostsFiles files;
    try {
      files = HostsFiles.parse(allow, deny, "sshd");
    } catch (IllegalArgumentException refused) {
      String m = refused.getMessage();
      assertTrue(m != null && (m.startsWith("hosts.allow:") || m.startsWith("hosts.deny:")), "names the line: " + m);
      return;
    }
    AccessPolicy p = files.toPolicy();
    for (int i = 0; i < 16 && data.remainingBytes() >= 4; i++) {
      byte[] raw = data.consumeBytes(data.consumeBoolean() ? 4 : 16);
      if (raw.length != 4 && raw.length != 16) {
        return;
      }
      java.net.InetAddress a;
      try {
        a = java.net.InetAddress.getByAddress(raw);
      } catch (java.net.UnknownHostException e) {
        throw new AssertionError(e);
      }
      assertEquals(files.explain(a).granted(), p.decide(a).isAllowed(), a + " under\n" + allow + "---\n" + deny);
    }
  }
}
