package dev.portcullis.admission;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/** The limiter alone, with time passed in: buckets refill, sources are prefixes, memory is bounded. */
class LimiterTest {
  private static final long SECOND = 1_000_000_000L;

  @Test
  void aBucketRefillsAtItsRate() {
    Limiter l = new Limiter(0, 0, 2, 2, 32, 64);
    Source s = l.v4(0x0A000001);
    assertNull(l.tryAcquire(s, 0));
    assertNull(l.tryAcquire(s, 0));
    assertEquals(Refusal.RATE_LIMITED, l.tryAcquire(s, 0), "burst spent");
    assertNotNull(l.tryAcquire(s, SECOND / 4), "half a token");
    assertNull(l.tryAcquire(s, SECOND / 2), "one token after half a second at 2/s");
  }

  @Test
  void sourcesAreIpv4AddressesAndIpv6Slash64sAndMappedAddressesCountAsIpv4() {
    Limiter l = new Limiter(0, 1, 0, 0, 32, 64);
    assertNull(l.tryAcquire(l.v6(0x2001_0db8_0000_0001L, 1), 0));
    assertEquals(Refusal.SOURCE_LIMITED, l.tryAcquire(l.v6(0x2001_0db8_0000_0001L, 0xFFFF), 0), "same /64");
    assertNull(l.tryAcquire(l.v6(0x2001_0db8_0000_0002L, 1), 0), "another /64");
    assertNull(l.tryAcquire(l.v4(0x0A000001), 0));
    assertNotNull(l.tryAcquire(l.v6(0, 0x0000_FFFF_0A00_0001L), 0), "::ffff:10.0.0.1 is 10.0.0.1");
    l.release(l.v4(0x0A000001));
    assertNull(l.tryAcquire(l.v6(0, 0x0000_FFFF_0A00_0001L), 0), "released");
    assertEquals(3, l.current());
  }

  @Test
  void aFloodOfDistinctSourcesCannotGrowMemoryWithoutBound() {
    Limiter l = new Limiter(0, 0, 0.001, 5, 32, 64);
    for (int i = 0; i < 500_000; i++) {
      assertNull(l.tryAcquire(l.v4(i), i), "a new source always has its burst");
      l.release(l.v4(i));
    }
    assertTrue(l.trackedSources() <= Limiter.MAX_BUCKETS, "tracked " + l.trackedSources());
    Source busy = l.v4(-1);
    for (int i = 0; i < 5; i++) {
      assertNull(l.tryAcquire(busy, 600_000));
    }
    assertNotNull(l.tryAcquire(busy, 600_000), "the rate still holds for a source seen recently");
  }

  @Test
  void theTotalLimitCountsEveryConnection() {
    Limiter l = new Limiter(2, 0, 0, 0, 32, 64);
    assertNull(l.tryAcquire(null, 0));
    assertNull(l.tryAcquire(l.v4(1), 0));
    assertEquals(Refusal.TOTAL_LIMITED, l.tryAcquire(l.v4(2), 0));
    l.release(null);
    assertNull(l.tryAcquire(l.v4(2), 0));
  }
}
