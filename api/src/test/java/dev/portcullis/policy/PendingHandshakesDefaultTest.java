package dev.portcullis.policy;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;

/** The default cap on pending handshakes follows the heap: an eighth of it, 32 KiB a handshake, clamped. */
class PendingHandshakesDefaultTest {
  private static final long MIB = 1024 * 1024;

  @Test
  void theDefaultIsAnEighthOfTheHeapAt32KibAHandshake() {
    assertEquals(1024, Limits.defaultMaxPendingHandshakes(256 * MIB), "-Xmx256m, the issue's container");
    assertEquals(4096, Limits.defaultMaxPendingHandshakes(1024 * MIB));
    assertEquals(256, Limits.defaultMaxPendingHandshakes(64 * MIB));
  }

  @Test
  void theDefaultStaysWithinItsRange() {
    assertEquals(Limits.MIN_DEFAULT_PENDING_HANDSHAKES, Limits.defaultMaxPendingHandshakes(8 * MIB));
    assertEquals(Limits.MIN_DEFAULT_PENDING_HANDSHAKES, Limits.defaultMaxPendingHandshakes(0));
    assertEquals(Limits.MAX_DEFAULT_PENDING_HANDSHAKES, Limits.defaultMaxPendingHandshakes(64 * 1024 * MIB));
    assertEquals(Limits.MAX_DEFAULT_PENDING_HANDSHAKES, Limits.defaultMaxPendingHandshakes(Long.MAX_VALUE));
  }

  @Test
  void thisJvmsDefaultComesFromItsHeapAndAnExplicitCapWins() {
    int expected = Limits.defaultMaxPendingHandshakes(Runtime.getRuntime().maxMemory());
    assertEquals(expected, Limits.defaultMaxPendingHandshakes());
    assertEquals(expected, Limits.NONE.effectiveMaxPendingHandshakes());
    assertEquals(7, Limits.NONE.withMaxPendingHandshakes(7).effectiveMaxPendingHandshakes());
    assertEquals(7, AccessPolicy.parse("allow 10.0.0.0/8\nlimit pending-handshakes 7").limits()
        .effectiveMaxPendingHandshakes());
  }
}
