package dev.portcullis.policy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/** Limits in the policy text: the lines, their errors, merging, and the round trip. */
class LimitsTextTest {
  private static void refused(String text, String... parts) {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> AccessPolicy.parse(text));
    for (String part : parts) {
      assertTrue(e.getMessage().contains(part), "'" + e.getMessage() + "' should say '" + part + "'");
    }
  }

  @Test
  void limitLinesSitBesideTheRulesAndRoundTrip() {
    AccessPolicy p = AccessPolicy.parse("allow 10.0.0.0/8\nlimit connections 1000\nlimit per-source 20\n"
        + "limit rate 2.5/s burst 10\nlimit pending-handshakes 500 # slowloris\n");
    assertEquals(new Limits(1000, 20, 2.5, 10, 500), p.limits());
    assertEquals(1, p.rules().size());
    assertEquals(p, AccessPolicy.parse(p.toString()));
    assertEquals(Limits.NONE, AccessPolicy.parse("allow 10.0.0.0/8").limits());
    AccessPolicy merged = AccessPolicy.builder().rules(p).limits(new Limits(5, 0, 0, 0, 0)).build();
    assertEquals(new Limits(5, 20, 2.5, 10, 500), merged.limits(), "a later limit replaces the earlier one");
  }

  @Test
  void badLimitLinesNameTheLineAndTheForm() {
    refused("allow 10.0.0.0/8\nlimit connections lots", "line 2:", "'lots' is not a whole number from 1");
    refused("limit connections 0", "not a whole number from 1");
    refused("limit rate 10 burst 5", "expected 'limit rate R/s burst B'");
    refused("limit rate x/s burst 5", "'x/s' is not a rate");
    refused("limit rate 0/s burst 5", "the rate must be above 0");
    refused("limit sockets 5", "'sockets' is not a limit");
    refused("limit", "not a limit");
  }
}
