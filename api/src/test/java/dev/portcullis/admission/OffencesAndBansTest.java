package dev.portcullis.admission;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.portcullis.Penalty;
import dev.portcullis.PenaltyListener;
import dev.portcullis.policy.AccessPolicy;
import dev.portcullis.policy.Cidr;
import dev.portcullis.policy.Penalties;
import dev.portcullis.spi.LogCapture;
import java.net.InetAddress;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Offences the application reports and bans of whole ranges given from outside, on the admission
 * chain alone (no transport): what is refused, what is logged, what the listeners are told.
 */
class OffencesAndBansTest {
  @RegisterExtension
  final LogCapture log = new LogCapture();

  private static final AccessPolicy EVERYONE = AccessPolicy.parse("allow 0.0.0.0/0\nallow ::/0");

  private static AdmissionChain chain(Penalties penalties) {
    return AdmissionChain.builder().policy(EVERYONE).penalties(penalties).lineGate(kind -> true).build();
  }

  private static InetAddress ip(String literal) throws Exception {
    return InetAddress.getByName(literal);
  }

  @Test
  void reportedOffencesBanOnceTheirWeightsReachTheThreshold() throws Exception {
    AdmissionChain c = chain(Penalties.after(5, Duration.ofMinutes(1)));
    assertFalse(c.reportOffence(ip("10.0.0.9"), 2, "bad login"));
    assertFalse(c.reportOffence(ip("10.0.0.9"), 2, "bad login"));
    assertEquals(Refusal.NONE, c.admit(ip("10.0.0.9")), "4 of 5: not yet");
    assertTrue(c.reportOffence(ip("10.0.0.9"), 1, "bad token"), "the fifth bans");
    assertEquals(Refusal.BANNED, c.admit(ip("10.0.0.9")));
    assertEquals(Refusal.NONE, c.admit(ip("10.0.0.10")), "only that source");
    assertFalse(c.reportOffence(ip("10.0.0.9"), 5, "bad login"), "banned already: nothing more");

    Penalty p = c.penalties().get(0);
    assertEquals(Cidr.parse("10.0.0.9/32"), p.source());
    assertEquals(5, p.offences());
    assertEquals("bad token", p.reason(), "the offence that reached the threshold");
    assertTrue(p.direct(), "a reported offence is the peer's own, so the kernel can drop it");
    assertEquals(List.of(Cidr.parse("10.0.0.9/32")), c.directBans());
    assertEquals(1, log.lines("Penalized 10.0.0.9 until").size(), log.text());
    assertTrue(log.lines("Penalized 10.0.0.9 until").get(0).contains("(5 offences within 1m, the last: bad token"),
        log.text());

    assertTrue(c.reportOffence(ip("2001:db8:7:7::1"), 9, "replayed token"), "a weight of the threshold bans at once");
    assertEquals(Refusal.BANNED, c.admit(ip("2001:db8:7:7::2")), "the whole /64 of it");
  }

  @Test
  void reportedOffencesCountWithFailedHandshakes() throws Exception {
    AdmissionChain c = chain(Penalties.after(2, Duration.ofMinutes(1)));
    assertEquals(Refusal.NONE, c.admit(ip("10.0.0.9")));
    java.net.InetSocketAddress peer = new java.net.InetSocketAddress(ip("10.0.0.9"), 40000);
    PendingHandshake h = c.pendingHandshake("conn", peer, null, () -> { });
    assertEquals(Refusal.NONE, c.beginHandshake(h));
    c.handshakeFailed(h, null, "tls", "bad record", false);
    c.released("conn", peer, null);
    assertTrue(c.reportOffence(ip("10.0.0.9"), 1, "bad login"), "one failed handshake and one bad login");
  }

  @Test
  void exemptSourcesAndTrustedProxiesAreNeverBanned() throws Exception {
    AdmissionChain c = AdmissionChain.builder().policy(EVERYONE).lineGate(kind -> true)
        .penalties(Penalties.after(1, Duration.ofMinutes(1)).exempt("10.1.0.0/16", "2001:db8:e::/48"))
        .relaysFrom(List.of(Cidr.parse("10.2.0.1"))).build();
    assertFalse(c.reportOffence(ip("10.1.2.3"), 10, "bad login"));
    assertFalse(c.reportOffence(ip("2001:db8:e::5"), 10, "bad login"));
    assertFalse(c.reportOffence(ip("10.2.0.1"), 10, "bad login"), "a trusted proxy speaks for everyone behind it");
    assertEquals(Refusal.NONE, c.admit(ip("10.1.2.3")));
    assertEquals(Refusal.NONE, c.admit(ip("10.2.0.1")));
    assertEquals(List.of(), c.penalties());

    IllegalArgumentException inside = assertThrows(IllegalArgumentException.class,
        () -> c.ban(Cidr.parse("10.1.2.0/24"), Duration.ofMinutes(5), "crowdsec"));
    assertTrue(inside.getMessage().contains("10.1.2.0/24") && inside.getMessage().contains("10.1.0.0/16"),
        inside.getMessage());

    c.ban(Cidr.parse("10.0.0.0/8"), Duration.ofMinutes(5), "crowdsec");
    assertEquals(Refusal.BANNED, c.admit(ip("10.3.0.1")));
    assertEquals(Refusal.NONE, c.admit(ip("10.1.2.3")), "an exempt address inside a banned range is admitted");
    assertEquals(List.of(), c.directBans(), "so the kernel, which cannot make the exception, does not get it");
  }

  @Test
  void aBannedIpv4Slash24AndIpv6Slash48RefuseWhatIsInsideUntilLifted() throws Exception {
    AdmissionChain c = chain(Penalties.after(5, Duration.ofMinutes(1)));
    Penalty v4 = c.ban(Cidr.parse("192.0.2.0/24"), Duration.ofMinutes(10), "crowdsec: ssh-bf");
    assertEquals(Cidr.parse("192.0.2.0/24"), v4.source());
    assertEquals("crowdsec: ssh-bf", v4.reason());
    c.ban(Cidr.parse("2001:db8:1::/48"), Duration.ofMinutes(10), "operator");

    assertEquals(Refusal.BANNED, c.admit(ip("192.0.2.0")));
    assertEquals(Refusal.BANNED, c.admit(ip("192.0.2.255")));
    assertEquals(Refusal.BANNED, c.admit(ip("::ffff:192.0.2.7")), "an IPv4-mapped peer is decided as IPv4");
    assertEquals(Refusal.NONE, c.admit(ip("192.0.3.1")));
    assertEquals(Refusal.NONE, c.admit(ip("192.0.1.255")));
    assertEquals(Refusal.BANNED, c.admit(ip("2001:db8:1:ffff:ffff::1")));
    assertEquals(Refusal.NONE, c.admit(ip("2001:db8:2::1")));
    assertEquals(Refusal.NONE, c.admit(ip("2001:db8::1")));
    assertEquals(1, log.lines("Refused 192.0.2.0: banned until").size(), log.text());
    assertTrue(log.lines("Refused 192.0.2.0: banned until").get(0).contains("(crowdsec: ssh-bf;"), log.text());
    assertEquals(1, log.lines("Banned 192.0.2.0/24 until").size(), log.text());
    assertTrue(log.lines("Banned 192.0.2.0/24 until").get(0).endsWith(": crowdsec: ssh-bf"), log.text());
    assertEquals(List.of(Cidr.parse("192.0.2.0/24"), Cidr.parse("2001:db8:1::/48")),
        c.directBans().stream().sorted().toList(), "for the kernel filter");

    c.ban(Cidr.parse("192.0.2.0/24"), Duration.ofMinutes(20), "crowdsec: http-probing");
    assertEquals(2, c.penalties().size(), "the same range banned again replaces its ban");
    assertTrue(c.penalties().stream().anyMatch(p -> p.reason().equals("crowdsec: http-probing")));

    assertTrue(c.lift(Cidr.parse("192.0.2.0/24"), "appeal granted"));
    assertEquals(Refusal.NONE, c.admit(ip("192.0.2.7")));
    assertFalse(c.lift(Cidr.parse("192.0.2.0/24"), "appeal granted"), "nothing left to lift");
    assertFalse(c.lift(Cidr.parse("2001:db8:1::/64"), "wrong length"), "only the range as banned");
    assertEquals(Refusal.BANNED, c.admit(ip("2001:db8:1::1")));
    assertEquals(1, log.lines("Lifted the ban of 192.0.2.0/24: appeal granted (banned for: crowdsec: http-probing")
        .size(), log.text());
    assertEquals(List.of(Cidr.parse("2001:db8:1::/48")), c.directBans());
  }

  @Test
  void aRangeBanEndsWhenItsDurationPasses() throws Exception {
    AdmissionChain c = chain(Penalties.after(5, Duration.ofMinutes(1)));
    c.ban(Cidr.parse("198.51.100.0/25"), Duration.ofMillis(50), "short");
    assertEquals(Refusal.BANNED, c.admit(ip("198.51.100.1")));
    Thread.sleep(100);
    c.sweepPenalties();
    assertEquals(List.of(), c.penalties());
    assertEquals(Refusal.NONE, c.admit(ip("198.51.100.1")));
    assertEquals(1, log.lines("Lifted the ban of 198.51.100.0/25: the ban ended (banned for: short").size(),
        log.text());
  }

  @Test
  void anEndedLongerRangeBanNeverHidesAShorterOneStillInForce() throws Exception {
    AdmissionChain c = chain(Penalties.after(5, Duration.ofMinutes(1)));
    c.ban(Cidr.parse("198.51.100.0/24"), Duration.ofMinutes(10), "wide");
    c.ban(Cidr.parse("198.51.100.0/28"), Duration.ofMillis(20), "narrow");
    Thread.sleep(60);
    // Before the sweep: the narrow ban has ended, the wide one still refuses (looked up with no lock).
    assertEquals(Refusal.BANNED, c.admit(ip("198.51.100.1")));
    assertEquals(Refusal.NONE, c.admit(ip("198.51.101.1")));
    c.ban(Cidr.parse("203.0.113.0/28"), Duration.ofMillis(20), "brief, alone");
    Thread.sleep(60);
    assertEquals(Refusal.NONE, c.admit(ip("203.0.113.1")), "an ended ban refuses nobody, swept or not");
  }

  @Test
  void rangeBansAreBoundedAndNeverPushOutOffenceBans() throws Exception {
    AdmissionChain c = chain(Penalties.after(1, Duration.ofMinutes(1)).maxSources(16));
    for (int i = 0; i < 16; i++) {
      assertTrue(c.reportOffence(ip("10.9.0." + i), 1, "bad login"));
      c.ban(Cidr.parse("203.0." + i + ".0/24"), Duration.ofMinutes(5), "crowdsec");
    }
    IllegalStateException full = assertThrows(IllegalStateException.class,
        () -> c.ban(Cidr.parse("2001:db8:99::/48"), Duration.ofMinutes(5), "crowdsec"));
    assertTrue(full.getMessage().contains("2001:db8:99::/48") && full.getMessage().contains("maxSources"),
        full.getMessage());
    c.ban(Cidr.parse("203.0.3.0/24"), Duration.ofMinutes(9), "again"); // a replacement always fits
    assertEquals(Refusal.NONE, c.admit(ip("2001:db8:99::1")));
    for (int i = 0; i < 16; i++) {
      assertEquals(Refusal.BANNED, c.admit(ip("10.9.0." + i)), "every offence ban is kept");
      assertEquals(Refusal.BANNED, c.admit(ip("203.0." + i + ".77")));
    }
    assertTrue(c.lift(Cidr.parse("203.0.0.0/24"), "room"));
    c.ban(Cidr.parse("2001:db8:99::/48"), Duration.ofMinutes(5), "crowdsec");
    assertEquals(Refusal.BANNED, c.admit(ip("2001:db8:99::1")));
  }

  /** What a listener was told, in order, with the thread it was told on. */
  private record Told(String what, String range, String reason, boolean external, String thread) {}

  @Test
  void listenersAreToldOfEveryBanAndLiftOffTheCallersThread() throws Exception {
    AdmissionChain c = chain(Penalties.after(2, Duration.ofMinutes(1)));
    LinkedBlockingQueue<Told> told = new LinkedBlockingQueue<>();
    c.addPenaltyListener((p, reason, external) -> {
      throw new IllegalStateException("a broken listener");
    });
    c.addPenaltyListener(new PenaltyListener() {
      @Override
      public void banned(Penalty p, String reason, boolean external) {
        c.penalties(); // may call back: no lock of the box is held
        told.add(new Told("banned", p.source().toString(), reason, external, Thread.currentThread().getName()));
      }

      @Override
      public void lifted(Cidr range, String reason) {
        told.add(new Told("lifted", range.toString(), reason, false, Thread.currentThread().getName()));
      }
    });
    assertFalse(c.reportOffence(ip("10.0.0.9"), 1, "bad login"));
    assertTrue(c.reportOffence(ip("10.0.0.9"), 1, "bad login"));
    c.ban(Cidr.parse("2001:db8:1::/48"), Duration.ofMinutes(10), "crowdsec");
    assertTrue(c.lift(Cidr.parse("10.0.0.9/32"), "appeal"));
    c.ban(Cidr.parse("192.0.2.0/24"), Duration.ofMillis(20), "brief");
    Thread.sleep(60);
    c.sweepPenalties();

    List<Told> expected = List.of(
        new Told("banned", "10.0.0.9/32", "bad login", false, "portcullis-penalty-events"),
        new Told("banned", "2001:db8:1::/48", "crowdsec", true, "portcullis-penalty-events"),
        new Told("lifted", "10.0.0.9/32", "appeal", false, "portcullis-penalty-events"),
        new Told("banned", "192.0.2.0/24", "brief", true, "portcullis-penalty-events"),
        new Told("lifted", "192.0.2.0/24", "the ban ended", false, "portcullis-penalty-events"));
    for (Told t : expected) {
      Told got = told.poll(10, TimeUnit.SECONDS);
      assertNotNull(got, "told " + t + "? " + log.text());
      assertEquals(t, got);
    }
    assertTrue(!log.lines("A penalty listener").isEmpty() && log.text().contains("a broken listener"),
        "the broken listener is logged, the others still told: " + log.text());
  }

  @Test
  void badArgumentsAreRefusedAndSaySo() throws Exception {
    AdmissionChain c = chain(Penalties.after(3, Duration.ofMinutes(1)));
    assertTrue(assertThrows(IllegalArgumentException.class, () -> c.reportOffence(ip("10.0.0.1"), 0, "x"))
        .getMessage().contains("at least 1"));
    assertTrue(assertThrows(IllegalArgumentException.class, () -> c.reportOffence(ip("10.0.0.1"), 1, " \n"))
        .getMessage().contains("blank"));
    assertTrue(assertThrows(IllegalArgumentException.class,
        () -> c.ban(Cidr.parse("10.0.0.0/8"), Duration.ZERO, "x")).getMessage().contains("positive"));
    assertTrue(assertThrows(IllegalArgumentException.class,
        () -> c.ban(Cidr.parse("10.0.0.0/8"), Duration.ofDays(100_000), "x")).getMessage().contains("days"));
    AdmissionChain none = AdmissionChain.builder().policy(EVERYONE).build();
    assertTrue(assertThrows(IllegalStateException.class, () -> none.reportOffence(ip("10.0.0.1"), 1, "x"))
        .getMessage().contains("no penalty box"));
    assertThrows(IllegalStateException.class, () -> none.ban(Cidr.parse("10.0.0.0/8"), Duration.ofMinutes(1), "x"));

    c.reportOffence(ip("10.0.0.1"), 3, "user 'x\nFAKE LINE' " + "y".repeat(500));
    String reason = c.penalties().get(0).reason();
    assertEquals("user 'x?FAKE LINE' " + "y".repeat(200 - 19) + "...", reason,
        "a client's text cannot forge a log line nor fill the log");
  }
}
