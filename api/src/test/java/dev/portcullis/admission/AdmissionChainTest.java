package dev.portcullis.admission;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.portcullis.spi.KernelFilterMode;
import dev.portcullis.ServerStats;
import dev.portcullis.policy.AccessPolicy;
import dev.portcullis.policy.Cidr;
import dev.portcullis.policy.Limits;
import dev.portcullis.policy.Penalties;
import dev.portcullis.policy.PeerCredentials;
import dev.portcullis.spi.LogCapture;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * The admission chain on its own, with no transport: each gate's refusal, the order of the gates,
 * the counters and rule hits, and a refusal line for each kind (every line due, not once a second).
 */
class AdmissionChainTest {
  @RegisterExtension
  final LogCapture log = new LogCapture();

  private static final AccessPolicy POLICY = AccessPolicy.parse("allow 10.0.0.0/8\ndeny 10.66.0.0/16");

  private static AdmissionChain.Builder chain() {
    return AdmissionChain.builder().policy(POLICY).lineGate(kind -> true);
  }

  private static InetAddress ip(String literal) throws Exception {
    return InetAddress.getByName(literal);
  }

  /** Bans 10.0.0.9 with one failed handshake (the penalty box's threshold is 1). */
  private static void ban(AdmissionChain c) throws Exception {
    assertEquals(Refusal.NONE, c.admit(ip("10.0.0.9")));
    InetSocketAddress peer = new InetSocketAddress(ip("10.0.0.9"), 40000);
    PendingHandshake h = c.pendingHandshake("conn", peer, null, () -> { });
    assertEquals(Refusal.NONE, c.beginHandshake(h));
    c.handshakeFailed(h, null, "tls", "bad record", false);
    c.released("conn", peer, null);
  }

  @Test
  void theAddressPolicyDeniesAndCountsItsRuleHit() throws Exception {
    AdmissionChain c = chain().build();
    assertEquals(Refusal.DENIED, c.admit(ip("10.66.1.2")));
    assertEquals(Refusal.DENIED, c.admitIpv4(0xC000_0201)); // 192.0.2.1: no rule, and the policy allows some
    assertEquals(Refusal.NONE, c.admit(ip("::ffff:10.1.2.3")), "an IPv4-mapped peer is decided as IPv4");
    ServerStats s = c.stats(KernelFilterMode.OFF);
    assertEquals(3, s.accepted());
    assertEquals(2, s.denied());
    assertEquals(1, s.openConnections());
    assertEquals(1, c.ruleHits().get("deny 10.66.0.0/16"));
    assertEquals(1, c.ruleHits().get("allow 10.0.0.0/8"));
    assertEquals(1, c.ruleHitCounters().hits(POLICY.decide("10.66.0.1").slot()));
    assertEquals(1, log.lines("Denied 10.66.1.2 by 'deny 10.66.0.0/16' (1 denied so far)").size());
    assertEquals(1, log.lines("Denied 192.0.2.1 by").size());
  }

  @Test
  void thePenaltyBoxRefusesABannedSourceAndSaysUntilWhen() throws Exception {
    AdmissionChain c = chain().penalties(Penalties.after(1, Duration.ofMinutes(1))).build();
    ban(c);
    assertEquals(1, log.lines("Penalized 10.0.0.9 until").size());
    assertEquals(Refusal.BANNED, c.admit(ip("10.0.0.9")));
    assertEquals(Refusal.NONE, c.admit(ip("10.0.0.10")), "another source is not banned");
    assertEquals(1, c.stats(KernelFilterMode.OFF).penalized());
    assertEquals(1, c.ruleHits().get("penalty box"));
    assertEquals(List.of(Cidr.parse("10.0.0.9/32")), c.directBans());
    assertEquals(1, log.lines("Refused 10.0.0.9: penalized until").size());
    assertTrue(c.liftPenalty(ip("10.0.0.9")));
    assertEquals(Refusal.NONE, c.admit(ip("10.0.0.9")));
  }

  @Test
  void theLimitsRefuseByTotalBySourceAndByRate() throws Exception {
    AdmissionChain total = chain().limits(Limits.NONE.withMaxConnections(1)).build();
    assertEquals(Refusal.NONE, total.admit(ip("10.0.0.1")));
    assertEquals(Refusal.TOTAL_LIMITED, total.admit(ip("10.0.0.2")));
    assertEquals(1, log.lines("Refused 10.0.0.2 by the total limit (1 refused by limits so far)").size());

    AdmissionChain perSource = chain().limits(Limits.NONE.withMaxPerSource(1)).build();
    assertEquals(Refusal.NONE, perSource.admit(ip("10.0.0.1")));
    assertEquals(Refusal.SOURCE_LIMITED, perSource.admit(ip("10.0.0.1")));
    assertEquals(Refusal.NONE, perSource.admit(ip("10.0.0.2")));
    perSource.released(new Object(), new InetSocketAddress(ip("10.0.0.1"), 1), null);
    assertEquals(Refusal.NONE, perSource.admit(ip("10.0.0.1")), "its release freed the source's slot");

    AdmissionChain rate = chain().limits(Limits.NONE.withRate(0.001, 1)).build();
    assertEquals(Refusal.NONE, rate.admit(ip("10.0.0.1")));
    assertEquals(Refusal.RATE_LIMITED, rate.admit(ip("10.0.0.1")));
    ServerStats s = rate.stats(KernelFilterMode.OFF);
    assertEquals(1, s.limited());
    assertEquals(1, s.rateLimited());
    assertEquals(1, log.lines("Refused 10.0.0.1 by the rate limit").size());
  }

  @Test
  void thePendingHandshakeCapIsPartOfTheLimits() throws Exception {
    AdmissionChain c = chain().limits(Limits.NONE.withMaxPendingHandshakes(1)).handshakeTimeout(Duration.ofHours(1))
        .build();
    InetSocketAddress peer = new InetSocketAddress(ip("10.0.0.1"), 40000);
    PendingHandshake first = c.pendingHandshake("a", peer, null, () -> { });
    PendingHandshake second = c.pendingHandshake("b", peer, null, () -> { });
    assertEquals(Refusal.NONE, c.beginHandshake(first));
    assertEquals(Refusal.HANDSHAKES_LIMITED, c.beginHandshake(second));
    assertEquals(1, c.stats(KernelFilterMode.OFF).pendingHandshakes());
    assertEquals(1, c.stats(KernelFilterMode.OFF).limited());
    assertEquals(1, log.lines("Refused 10.0.0.1 by the pending-handshakes limit of 1").size());
    assertEquals(Refusal.NONE, c.afterHandshake(first, null));
    assertEquals(0, c.stats(KernelFilterMode.OFF).pendingHandshakes());
  }

  @Test
  void theGatesDecideInOrderAndTheFirstRefusalIsTheOnlyOneCounted() throws Exception {
    AdmissionChain c = chain().penalties(Penalties.after(1, Duration.ofMinutes(1)))
        .limits(Limits.NONE.withMaxConnections(1)).build();
    ban(c);
    assertEquals(Refusal.NONE, c.admit(ip("10.0.0.1")), "the one slot of the total");
    assertEquals(Refusal.BANNED, c.admit(ip("10.0.0.9")), "the penalty box decides before the limits");
    c.updatePolicy(AccessPolicy.parse("allow 10.0.0.0/8\ndeny 10.0.0.9/32"));
    assertEquals(Refusal.DENIED, c.admit(ip("10.0.0.9")), "the policy decides before the penalty box");
    ServerStats s = c.stats(KernelFilterMode.OFF);
    assertEquals(1, s.denied());
    assertEquals(1, s.penalized());
    assertEquals(0, s.limited(), "a peer refused earlier never reaches the limits");
  }

  @Test
  void afterTheHandshakeTheRelayedClientIsDecidedAndCountedPerSource() throws Exception {
    AdmissionChain c = chain().relaysFrom(List.of(Cidr.parse("10.0.0.1/32")))
        .limits(Limits.NONE.withMaxPerSource(1)).build();
    InetSocketAddress proxy = new InetSocketAddress(ip("10.0.0.1"), 40000);
    for (String conn : List.of("a", "b")) {
      assertEquals(Refusal.NONE, c.admit(ip("10.0.0.1")), "a trusted proxy takes a slot in the total only");
      PendingHandshake h = c.pendingHandshake(conn, proxy, null, () -> { });
      c.beginHandshake(h);
      Refusal r = c.afterHandshake(h, new InetSocketAddress(ip("10.5.5.5"), 1234));
      assertEquals(conn.equals("a") ? Refusal.NONE : Refusal.SOURCE_LIMITED, r);
    }
    assertEquals(1, log.lines("Refused 10.5.5.5 (socket peer 10.0.0.1) after the handshake by the per-source limit")
        .size());
    PendingHandshake h = c.pendingHandshake("c", proxy, null, () -> { });
    c.beginHandshake(h);
    assertEquals(Refusal.DENIED, c.afterHandshake(h, new InetSocketAddress(ip("192.0.2.1"), 1)));
    assertEquals(1, log.lines("Denied 192.0.2.1 (socket peer 10.0.0.1) after the handshake by").size());
    c.released("a", proxy, null);
    h = c.pendingHandshake("d", proxy, null, () -> { });
    c.beginHandshake(h);
    assertEquals(Refusal.NONE, c.afterHandshake(h, new InetSocketAddress(ip("10.5.5.5"), 1)),
        "releasing the relayed connection freed its client's slot");
  }

  @Test
  void aUnixPeerIsDecidedByItsCredentialsAndCountedByUid() {
    AdmissionChain c = AdmissionChain.builder().policy(AccessPolicy.builder().rule(dev.portcullis.policy.CredentialRule.allowUid(1000)).build())
        .limits(Limits.NONE.withMaxPerSource(1)).lineGate(kind -> true).build();
    PeerCredentials me = new PeerCredentials(4242, 1000, 1000);
    assertEquals(Refusal.NONE, c.admitLocal(me));
    assertEquals(Refusal.SOURCE_LIMITED, c.admitLocal(me));
    assertEquals(Refusal.DENIED, c.admitLocal(new PeerCredentials(7, 0, 0)));
    assertEquals(1, log.lines("Refused local peer uid 1000 pid 4242 by the per-source limit").size());
    assertEquals(1, log.lines("Denied local peer uid 0 pid 7 by").size());
  }

  @Test
  void aReplacementPolicysLimitsApplyUnderTheBuildersAndTheOpenConnectionsCount() throws Exception {
    AdmissionChain c = chain().limits(Limits.NONE.withMaxPerSource(5)).build();
    assertEquals(Refusal.NONE, c.admit(ip("10.0.0.1")));
    assertEquals(Refusal.NONE, c.admit(ip("10.0.0.2")));
    c.updatePolicy(AccessPolicy.parse("allow 10.0.0.0/8\nlimit connections 3\nlimit per-source 1"));
    assertEquals(3, c.limits().maxConnections());
    assertEquals(5, c.limits().maxPerSource(), "the builder's limit wins over the policy's");
    assertEquals(Refusal.NONE, c.admit(ip("10.0.0.3")));
    assertEquals(Refusal.TOTAL_LIMITED, c.admit(ip("10.0.0.4")), "the two open before the update are counted");
    c.updatePolicy(POLICY);
    assertEquals(Refusal.NONE, c.admit(ip("10.0.0.4")), "a policy without limits lifts them");
  }

  @Test
  void perSourceLimitsBehindAProxyTrustedFromEverywhereAreRefusedAtUpdate() {
    AdmissionChain c = chain().relaysFrom(List.of(Cidr.parse("0.0.0.0/0"))).build();
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> c.updatePolicy(AccessPolicy.parse("allow 10.0.0.0/8\nlimit per-source 2")));
    assertTrue(e.getMessage().contains("0.0.0.0/0"), e.getMessage());
    assertEquals(POLICY, c.policy(), "the old policy stays");
  }

  @Test
  void aChainNeedsAPolicy() {
    IllegalStateException e = assertThrows(IllegalStateException.class, () -> AdmissionChain.builder().build());
    assertTrue(e.getMessage().contains("policy(...)"), e.getMessage());
  }
}
