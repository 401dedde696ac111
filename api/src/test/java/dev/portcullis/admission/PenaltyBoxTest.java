package dev.portcullis.admission;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.portcullis.policy.Penalties;
import dev.portcullis.policy.Penalties.Offence;
import java.lang.management.ManagementFactory;
import java.net.InetAddress;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** The penalty box's bookkeeping, on a clock the test moves. */
class PenaltyBoxTest {
  private static final long S = TimeUnit.SECONDS.toNanos(1);
  private final long t0 = 1_000 * S;

  private static int ip(int a, int b, int c, int d) {
    return a << 24 | b << 16 | c << 8 | d;
  }

  private static void fail(PenaltyBox box, Source s, int times, long now) {
    for (int i = 0; i < times; i++) {
      box.offence(s, Offence.HANDSHAKE_FAILED, true, now);
    }
  }

  @Test
  void theThresholdWithinTheWindowBansAndNotBefore() {
    PenaltyBox box = new PenaltyBox(Penalties.after(3, Duration.ofSeconds(60)).banFor(Duration.ofSeconds(10)));
    Source a = box.v4(ip(192, 0, 2, 7));
    fail(box, a, 2, t0);
    assertNull(box.ban(a, t0), "two offences of three: not banned");
    assertTrue(box.offence(a, Offence.HANDSHAKE_FAILED, true, t0 + S) != 0, "the third bans");
    long[] ban = box.ban(a, t0 + 2 * S);
    assertNotNull(ban);
    assertEquals(t0 + S + 10 * S, ban[0], "banned for 10 s from the third offence");
    assertEquals(3, ban[1]);
    assertNull(box.ban(box.v4(ip(192, 0, 2, 8)), t0 + 2 * S), "only that source");
    assertNull(box.ban(a, t0 + 12 * S), "the ban ends");
    assertTrue(!box.anyBanned());
  }

  @Test
  void offencesSpreadWiderThanTheWindowDoNotBan() {
    PenaltyBox box = new PenaltyBox(Penalties.after(3, Duration.ofSeconds(60)));
    Source a = box.v4(ip(192, 0, 2, 7));
    for (int i = 0; i < 10; i++) {
      box.offence(a, Offence.HANDSHAKE_FAILED, true, t0 + i * 31 * S); // two per window at most
    }
    assertNull(box.ban(a, t0 + 310 * S));
  }

  @Test
  void repeatBansDoubleUpToTheCapAndAQuietSourceStartsOver() {
    PenaltyBox box = new PenaltyBox(Penalties.after(1, Duration.ofSeconds(60)).banFor(Duration.ofSeconds(10))
        .upTo(Duration.ofSeconds(30)).forgetAfter(Duration.ofSeconds(600)));
    Source a = box.v4(ip(192, 0, 2, 7));
    long now = t0;
    long[] lengths = new long[4];
    for (int i = 0; i < 4; i++) {
      long until = box.offence(a, Offence.HANDSHAKE_FAILED, true, now);
      lengths[i] = (until - now) / S;
      now = until + S; // the ban ends, and the source offends again at once
    }
    assertEquals("[10, 20, 30, 30]", java.util.Arrays.toString(lengths), "doubling, capped at 30 s");
    box.sweep(now + 601 * S);
    assertEquals(0, box.trackedSources(), "forgotten after 600 s without offence or ban");
    long until = box.offence(a, Offence.HANDSHAKE_FAILED, true, now + 602 * S);
    assertEquals(10, (until - now - 602 * S) / S, "a first ban again");
  }

  @Test
  void exemptSourcesAndUncountedOffencesNeverBan() {
    PenaltyBox box = new PenaltyBox(Penalties.after(2, Duration.ofSeconds(60)).exempt("10.0.0.0/8", "2001:db8::/32"));
    Source office = box.v4(ip(10, 1, 2, 3));
    fail(box, office, 50, t0);
    assertNull(box.ban(office, t0));
    Source v6 = box.v6(0x2001_0db8_0000_0001L, 1);
    fail(box, v6, 50, t0);
    assertNull(box.ban(v6, t0));
    Source other = box.v4(ip(192, 0, 2, 1));
    for (int i = 0; i < 50; i++) {
      box.offence(other, Offence.RATE_LIMITED, true, t0); // not counted by default
    }
    assertNull(box.ban(other, t0));
    assertEquals(0, box.trackedSources(), "nothing remembered for exempt or uncounted offences");
  }

  @Test
  void anIpv6SourceIsItsSlash64AndMappedAddressesCountAsIpv4() throws Exception {
    PenaltyBox box = new PenaltyBox(Penalties.after(2, Duration.ofSeconds(60)));
    box.offence(box.of(InetAddress.getByName("2001:db8:1:2::1")), Offence.HANDSHAKE_FAILED, false, t0);
    box.offence(box.of(InetAddress.getByName("2001:db8:1:2:ffff::9")), Offence.HANDSHAKE_FAILED, false, t0);
    assertNotNull(box.ban(box.of(InetAddress.getByName("2001:db8:1:2::77")), t0), "one /64, one source");
    assertNull(box.ban(box.of(InetAddress.getByName("2001:db8:1:3::1")), t0), "the next /64 is another");
    assertEquals(box.v4(ip(192, 0, 2, 7)), box.v6(0, 0x0000_FFFF_C000_0207L));
    assertEquals("[2001:db8:1:2::/64]", box.current(t0).stream().map(p -> p.source().toString()).toList().toString());
    assertTrue(!box.current(t0).get(0).direct(), "a relayed client is not direct");
  }

  @Test
  void liftingABanForgetsTheSource() throws Exception {
    PenaltyBox box = new PenaltyBox(Penalties.after(1, Duration.ofSeconds(60)));
    Source a = box.v4(ip(192, 0, 2, 7));
    box.offence(a, Offence.HANDSHAKE_FAILED, true, t0);
    assertTrue(box.lift(InetAddress.getByName("192.0.2.7"), t0 + S));
    assertNull(box.ban(a, t0 + S));
    assertTrue(!box.lift(InetAddress.getByName("192.0.2.7"), t0 + S), "nothing left to lift");
    assertEquals(0, box.trackedSources());
  }

  /**
   * 100,000 distinct IPv6 sources, each failing up to the threshold (so each is banned): the table
   * holds at most {@code maxSources} (65,536 by default), and its heap stays within the documented
   * ~100 bytes a source (checked against a generous 200).
   */
  @Test
  void aFloodOfDistinctFailingIpv6SourcesStaysWithinTheBound() {
    Penalties settings = Penalties.after(2, Duration.ofSeconds(60));
    long before = usedHeapAfterGc();
    PenaltyBox box = new PenaltyBox(settings);
    for (int i = 0; i < 100_000; i++) {
      Source s = box.v6(0x2001_0db8_0000_0000L | i, 1); // a new /64 each time
      fail(box, s, 2, t0 + i);
    }
    assertEquals(settings.maxSourceCount(), box.trackedSources(), "at most maxSources remembered");
    long after = usedHeapAfterGc();
    double perSource = (after - before) / (double) box.trackedSources();
    assertTrue(perSource < 200, "heap per remembered source: " + perSource + " bytes");
    assertNotNull(box.ban(box.v6(0x2001_0db8_0000_0000L | 99_999, 1), t0 + 100_000), "the newest are kept");
  }

  private static long usedHeapAfterGc() {
    for (int i = 0; i < 3; i++) {
      System.gc();
    }
    return ManagementFactory.getMemoryMXBean().getHeapMemoryUsage().getUsed();
  }

  @Test
  void badSettingsNameWhatIsWrong() {
    assertTrue(assertThrows(IllegalArgumentException.class, () -> Penalties.after(0, Duration.ofSeconds(1)))
        .getMessage().contains("at least 1"));
    assertTrue(assertThrows(IllegalArgumentException.class, () -> Penalties.after(3, Duration.ZERO))
        .getMessage().contains("positive"));
    assertTrue(assertThrows(IllegalArgumentException.class,
        () -> Penalties.after(3, Duration.ofSeconds(1)).banFor(Duration.ofHours(2)).upTo(Duration.ofHours(1)))
        .getMessage().contains("shorter than the first ban"));
    assertTrue(assertThrows(IllegalArgumentException.class, () -> Penalties.after(3, Duration.ofSeconds(1))
        .exempt("10.0.0.0/33")).getMessage().contains("10.0.0.0/33"));
    assertTrue(assertThrows(IllegalArgumentException.class, () -> Penalties.parse("ten:30")).getMessage()
        .contains("'ten:30' is not N:SECONDS"));
    Penalties p = Penalties.parse("10:30");
    assertEquals(10, p.threshold());
    assertEquals(Duration.ofMinutes(1), p.window());
    assertEquals(Duration.ofSeconds(30), p.banDuration());
    assertEquals(Duration.ofHours(1), p.maxBan());
  }
}
