package dev.portcullis.admission;

import dev.portcullis.policy.Penalties;
import dev.portcullis.policy.PeerCredentials;
import java.net.InetSocketAddress;
import java.net.SocketAddress;

/**
 * The second gate: the penalty box, if the chain has one. While nothing is banned, its check is one
 * volatile read. It also takes the offences the other stages report (a rate refusal, a failed or
 * slow handshake) and says when one bans a source.
 */
final class PenaltyGate {
  /** Null without a penalty box. */
  final PenaltyBox box;
  private final Reporter reporter;

  PenaltyGate(PenaltyBox box, Reporter reporter) {
    this.box = box;
    this.reporter = reporter;
  }

  /** An IP peer's 128 bits at accept. */
  Refusal admit(long high, long low, long now) {
    if (box == null || !box.anyBanned()) {
      return Refusal.NONE;
    }
    Source source = box.v6(high, low);
    PenaltyBox.Active ban = box.active(source, high, low, now);
    if (ban == null) {
      return Refusal.NONE;
    }
    reporter.penalized(source, box.wall(ban.until()), ban, high, low, null);
    return Refusal.BANNED;
  }

  /** The client a step named; {@code who} names its connection in the line. */
  Refusal admit(InetSocketAddress client, PendingHandshake h, long now) {
    if (box == null || !box.anyBanned()) {
      return Refusal.NONE;
    }
    Source source = box.of(client.getAddress());
    if (source == null) {
      return Refusal.NONE;
    }
    long high = dev.portcullis.policy.IpAddresses.high(client.getAddress());
    long low = dev.portcullis.policy.IpAddresses.low(client.getAddress());
    PenaltyBox.Active ban = box.active(source, high, low, now);
    if (ban == null) {
      return Refusal.NONE;
    }
    reporter.penalized(source, box.wall(ban.until()), ban, 0, 0, Reporter.describe(h, client));
    return Refusal.BANNED;
  }

  /** A rate refusal at accept: an offence of the peer itself. */
  void rateLimited(long high, long low, long now) {
    if (box != null) {
      box.offence(box.v6(high, low), Penalties.Offence.RATE_LIMITED, true, now);
    }
  }

  /** A rate refusal after the handshake: an offence of the client a proxy named. */
  void rateLimited(InetSocketAddress client, long now) {
    if (box != null && client != null) {
      box.offence(box.of(client.getAddress()), Penalties.Offence.RATE_LIMITED, false, now);
    }
  }

  /**
   * Counts an offence against the connection's source: the client a trusted proxy named, else the
   * socket peer; nothing when a trusted proxy had not named anyone yet ({@code relayed}: a proxy is
   * never banned), nor for a Unix peer.
   */
  void offence(SocketAddress socketPeer, PeerCredentials credentials, InetSocketAddress replaced, boolean relayed,
      Penalties.Offence kind) {
    if (box == null) {
      return;
    }
    Source source;
    boolean direct;
    if (replaced != null) {
      source = box.of(replaced.getAddress());
      direct = false;
    } else if (relayed || !(socketPeer instanceof InetSocketAddress ip)) {
      return;
    } else {
      source = box.of(ip.getAddress());
      direct = true;
    }
    long until = box.offence(source, kind, direct, System.nanoTime());
    if (until != 0) {
      reporter.banned(RefusalLog.describe(socketPeer, credentials, replaced),
          RefusalLog.key(socketPeer, credentials, replaced), box.wall(until), box.settings().threshold(),
          box.settings().window(), PenaltyBox.reason(kind));
    }
  }

  /**
   * The application reports offences of {@code address} ({@code AdmissionChain.reportOffence}):
   * counted as the socket peer's own (so a ban reaches the kernel filter).
   *
   * @return whether this banned the source
   */
  boolean reported(java.net.InetAddress address, int weight, String reason) {
    Source source = box.of(address);
    long until = box.offence(source, weight, reason, true, System.nanoTime());
    if (until == 0) {
      return false;
    }
    reporter.banned(dev.portcullis.policy.IpAddresses.format(address), RefusalLog.key(source.high(), source.low()),
        box.wall(until), box.settings().threshold(), box.settings().window(), reason);
    return true;
  }
}
