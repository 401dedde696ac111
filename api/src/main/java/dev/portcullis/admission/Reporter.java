package dev.portcullis.admission;

import dev.portcullis.policy.Decision;
import dev.portcullis.policy.IpAddresses;
import dev.portcullis.policy.PeerCredentials;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.time.Duration;
import java.time.Instant;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The one reporter of an {@link AdmissionChain}: each outcome's counter and its line, through one
 * {@link RefusalLog} (once a second per kind, with what was held back). Every refusal line's text
 * is here. A string is built only when a line is due, so a refusal at accept allocates nothing.
 */
final class Reporter {
  /** Refusal lines have a logger of their own, so operators can turn them up or down alone. */
  private static final Logger refused = LoggerFactory.getLogger("dev.portcullis.refusals");
  /** Flips of a shadow policy, on a logger of their own. */
  private static final Logger shadowLog = LoggerFactory.getLogger("dev.portcullis.shadow");

  final Counters counters;
  private final RefusalLog refusals;

  Reporter(Counters counters, RefusalLog refusals) {
    this.counters = counters;
    this.refusals = refusals;
  }

  void accepted() {
    counters.accepted.incrementAndGet();
  }

  void opened() {
    counters.open.incrementAndGet();
  }

  void released() {
    counters.open.decrementAndGet();
  }

  // ---- at accept ----

  void denied(Decision d, long high, long low) {
    long n = counters.denied.incrementAndGet();
    String more = refusals.due(RefusalLog.Kind.ADDRESS, RefusalLog.key(high, low));
    if (more != null) {
      refused.info("Denied {} by '{}' ({} denied so far{})", text(high, low), d.reason(), n, more);
    }
  }

  void denied(Decision d, PeerCredentials credentials) {
    long n = counters.denied.incrementAndGet();
    String more = refusals.due(RefusalLog.Kind.ADDRESS, RefusalLog.key(credentials));
    if (more != null) {
      refused.info("Denied {} by '{}' ({} denied so far{})", RefusalLog.local(credentials), d.reason(), n, more);
    }
  }

  void limited(Refusal r, long high, long low) {
    long n = limitedCount(r);
    String more = refusals.due(RefusalLog.Kind.LIMIT, RefusalLog.key(high, low));
    if (more != null) {
      refused.info("Refused {} by the {} limit ({} refused by limits so far{})", text(high, low), r.label(), n,
          more);
    }
  }

  void limited(Refusal r, PeerCredentials credentials) {
    long n = limitedCount(r);
    String more = refusals.due(RefusalLog.Kind.LIMIT, RefusalLog.key(credentials));
    if (more != null) {
      refused.info("Refused {} by the {} limit ({} refused by limits so far{})", RefusalLog.local(credentials),
          r.label(), n, more);
    }
  }

  /** Counts a refusal by a limit (and by the rate limit, a part of them): the new limited count. */
  private long limitedCount(Refusal r) {
    if (r == Refusal.RATE_LIMITED) {
      counters.rateLimited.incrementAndGet();
    }
    return counters.limited.incrementAndGet();
  }

  /**
   * A connection refused by a ban of {@code source} ending at {@code until} after {@code offences}.
   * {@code who} names a relayed client's connection; else the peer's bits do.
   */
  void penalized(Source source, Instant until, PenaltyBox.Active ban, long high, long low, String who) {
    long n = counters.penalized.incrementAndGet();
    String more = refusals.due(RefusalLog.Kind.PENALTY, RefusalLog.key(source.high(), source.low()));
    if (more != null) {
      if (ban.external()) {
        refused.info("Refused {}: banned until {} ({}; {} refused by the penalty box so far{})",
            who != null ? who : text(high, low), until, ban.reason(), n, more);
      } else {
        refused.info("Refused {}: penalized until {} ({} offences; {} refused by the penalty box so far{})",
            who != null ? who : text(high, low), until, ban.offences(), n, more);
      }
    }
  }

  /** The live and the shadow policy disagree; {@code who} names a peer that is not raw bits. */
  void shadowFlip(Decision live, Decision candidate, long n, long high, long low, String who) {
    String more = refusals.due(RefusalLog.Kind.SHADOW,
        who != null ? RefusalLog.key(-3L, who.hashCode()) : RefusalLog.key(high, low));
    if (more != null) {
      shadowLog.info("Shadow policy would {} {} (live: {} by '{}'; shadow: {} by '{}'; {} such flips so far{})",
          live.isAllowed() ? "deny" : "allow", who != null ? who : text(high, low),
          live.isAllowed() ? "allow" : "deny", live.reason(), candidate.isAllowed() ? "allow" : "deny",
          candidate.reason(), n, more);
    }
  }

  // ---- the handshake ----

  void handshakesLimited(PendingHandshake h, int cap) {
    handshakeLine(RefusalLog.Kind.LIMIT, h, null, counters.limited.incrementAndGet(),
        "Refused {} by the pending-handshakes limit of {} ({} refused by limits so far{})", cap);
  }

  void evicted(PendingHandshake h, InetSocketAddress replaced, int cap, long pendingNanos) {
    handshakeLine(RefusalLog.Kind.LIMIT, h, replaced, counters.limited.incrementAndGet(),
        "Closed {}: the slowest of {} pending handshakes ({} in its handshake) made room for a new"
            + " connection ({} refused by limits so far{})", cap,
        dev.portcullis.policy.Durations.format(java.time.Duration.ofMillis(TimeUnit.NANOSECONDS.toMillis(pendingNanos))));
  }

  void deniedAfterHandshake(PendingHandshake h, InetSocketAddress replaced, Decision d) {
    handshakeLine(RefusalLog.Kind.AFTER_HANDSHAKE, h, replaced, counters.deniedAfterHandshake.incrementAndGet(),
        "Denied {} after the handshake by '{}' ({} denied after the handshake so far{})", d.reason());
  }

  void limitedAfterHandshake(Refusal r, PendingHandshake h, InetSocketAddress replaced) {
    handshakeLine(RefusalLog.Kind.LIMIT, h, replaced, limitedCount(r),
        "Refused {} after the handshake by the {} limit ({} refused by limits so far{})", r.label());
  }

  void handshakeTimedOut(PendingHandshake h, InetSocketAddress replaced, String step) {
    handshakeLine(RefusalLog.Kind.HANDSHAKE_TIMEOUT, h, replaced, counters.handshakeTimeouts.incrementAndGet(),
        "Refused {}: the handshake timed out in step '{}' ({} timed out so far{})", step);
  }

  void handshakeFailed(PendingHandshake h, InetSocketAddress replaced, String step, String why) {
    handshakeLine(RefusalLog.Kind.HANDSHAKE_FAILED, h, replaced, counters.handshakeFailures.incrementAndGet(),
        "Refused {}: handshake step '{}' failed: {} ({} failed so far{})", step, why);
  }

  /**
   * A refusal line about a connection in (or past) its handshake, unless the throttle holds it back:
   * {@code format}'s first {@code {}} is the peer ({@link #describe}), then {@code details}, then the
   * running count {@code n} and the throttle's note.
   */
  private void handshakeLine(RefusalLog.Kind kind, PendingHandshake h, InetSocketAddress replaced, long n,
      String format, Object... details) {
    String more = refusals.due(kind, key(h, replaced));
    if (more != null) {
      Object[] args = new Object[details.length + 3];
      args[0] = describe(h, replaced);
      System.arraycopy(details, 0, args, 1, details.length);
      args[details.length + 1] = n;
      args[details.length + 2] = more;
      refused.info(format, args);
    }
  }

  /** An offence for {@code reason} banned {@code who} (its line key {@code key}) until {@code until}. */
  void banned(String who, long key, Instant until, int threshold, Duration window, String reason) {
    String more = refusals.due(RefusalLog.Kind.BANNED, key);
    if (more != null) {
      refused.info("Penalized {} until {} ({} offences within {}, the last: {}{})", who, until, threshold,
          dev.portcullis.policy.Durations.format(window), reason, more);
    }
  }

  /** A range was banned from outside ({@code AdmissionChain.ban}), or banned again. */
  void bannedRange(dev.portcullis.Penalty p) {
    String more = refusals.due(RefusalLog.Kind.EXTERNAL_BAN, RefusalLog.key(p.source().hashCode(), 1));
    if (more != null) {
      refused.info("Banned {} until {}: {}{}", p.source(), p.until(), p.reason(), more);
    }
  }

  /** A ban ended, or was lifted. */
  void lifted(dev.portcullis.policy.Cidr range, String why, String banReason) {
    String more = refusals.due(RefusalLog.Kind.LIFTED, RefusalLog.key(range.hashCode(), 2));
    if (more != null) {
      refused.info("Lifted the ban of {}: {} (banned for: {}{})", range, why, banReason, more);
    }
  }

  // ---- after the handshake ----

  void idle(SocketAddress socketPeer, PeerCredentials credentials, SocketAddress peer, Duration timeout) {
    String more = refusals.due(RefusalLog.Kind.IDLE, RefusalLog.key(socketPeer, credentials, peer));
    if (more != null) {
      refused.info("Closed {}: no bytes either way for {}{}", RefusalLog.describe(socketPeer, credentials, peer),
          dev.portcullis.policy.Durations.format(timeout),
          more.isEmpty() ? "" : " (" + more.substring(2) + ")");
    }
  }

  void overloaded(SocketAddress socketPeer, PeerCredentials credentials, SocketAddress peer) {
    long n = counters.overloaded.incrementAndGet();
    String more = refusals.due(RefusalLog.Kind.OVERLOAD, RefusalLog.key(socketPeer, credentials, peer));
    if (more != null) {
      refused.warn("No handler thread free for {}; connection closed ({} refused so far{})",
          RefusalLog.describe(socketPeer, credentials, peer), n, more);
    }
  }

  /** A handler failed: counted, and a WARN with the stack at most once a second (on {@code log}). */
  void handlerFailed(Logger log, SocketAddress peer, SocketAddress socketPeer, PeerCredentials credentials,
      Throwable t) {
    long n = counters.handlerFailures.incrementAndGet();
    String more = refusals.due(RefusalLog.Kind.HANDLER_FAILED,
        credentials != null ? RefusalLog.key(credentials) : RefusalLog.key(peer));
    if (more != null) {
      try {
        String who = credentials != null ? RefusalLog.local(credentials) : RefusalLog.describe(peer, socketPeer);
        log.warn("Handler failed for {} ({} handler failures so far{})", who, n, more, t);
      } catch (Throwable unloggable) {
        // Building the line failed too (out of memory, most likely); the count above still tells.
      }
    }
  }

  private static long key(PendingHandshake h, SocketAddress replaced) {
    return RefusalLog.key(h.socketPeer, h.credentials, replaced);
  }

  static String describe(PendingHandshake h, SocketAddress replaced) {
    return RefusalLog.describe(h.socketPeer, h.credentials, replaced);
  }

  private static String text(long high, long low) {
    return IpAddresses.format(IpAddresses.ipv6(high, low));
  }
}
