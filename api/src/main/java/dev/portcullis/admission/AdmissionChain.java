package dev.portcullis.admission;

import dev.portcullis.spi.KernelFilterMode;
import dev.portcullis.Penalty;
import dev.portcullis.PenaltyListener;
import dev.portcullis.RuleHits;
import dev.portcullis.ServerStats;
import dev.portcullis.ShadowStats;
import dev.portcullis.policy.AccessPolicy;
import dev.portcullis.policy.Cidr;
import dev.portcullis.policy.Decision;
import dev.portcullis.policy.Limits;
import dev.portcullis.policy.Penalties;
import dev.portcullis.policy.PeerCredentials;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;

/**
 * Who gets in: an ordered chain of gates that a transport, or an adapter in front of another
 * server, runs on each connection, with the same counters ({@link ServerStats}), rule hits,
 * penalties and refusal lines as a Portcullis server. It is what a {@code Server} runs.
 *
 * <p>At accept, on the peer's raw address, the gates decide in this order, and the first that
 * refuses says why ({@link Refusal}):
 *
 * <ol>
 *   <li>the address policy ({@link Refusal#DENIED}), with its rule hit counted and a shadow policy
 *       decided beside it;
 *   <li>the penalty box ({@link Refusal#BANNED}): one volatile read while nothing is banned;
 *   <li>the limits: open connections in all and per source, the rate per source ({@link
 *       Refusal#TOTAL_LIMITED}, {@link Refusal#SOURCE_LIMITED}, {@link Refusal#RATE_LIMITED}); and,
 *       when a handshake begins, the cap on pending handshakes ({@link Refusal#HANDSHAKES_LIMITED}).
 * </ol>
 *
 * An IP peer is one 128-bit key: an IPv4 address is its IPv4-mapped IPv6 form ({@code
 * ::ffff:192.0.2.7}), decided as IPv4. Deciding on raw bits allocates nothing when the policy
 * refuses; every refusal is counted and, once a second per kind, logged on {@code
 * dev.portcullis.refusals} with how many were held back since the last line.
 *
 * <pre>{@code
 * AdmissionChain chain = AdmissionChain.builder()
 *     .policy(AccessPolicy.parse("allow 10.0.0.0/8"))
 *     .limits(Limits.NONE.withMaxPerSource(20))
 *     .penalties(Penalties.after(5, Duration.ofMinutes(1)))
 *     .build();
 * // a connection accepted from 10.1.2.3
 * if (chain.admit(InetAddress.getByName("10.1.2.3")).refused()) {
 *   close(); // counted and logged already
 * }
 * ...
 * chain.released(connection, remoteAddress, null); // once, when an admitted connection closes
 * }</pre>
 *
 * <p>A connection admitted at accept is released exactly once ({@link #released}); one that runs a
 * handshake takes a {@link PendingHandshake} first, and ends it with exactly one of {@link
 * #afterHandshake}, {@link #handshakeFailed} or {@link #evicted}. Thread-safe: limits and counters
 * are exact across threads; the policy is one volatile reference.
 */
public final class AdmissionChain {
  /**
   * The slowest pending handshake gives its slot to a newcomer once it has been pending this long
   * (or half the handshake timeout, if that is shorter): a client that means it finishes a
   * handshake in a few round trips, well within a second.
   */
  static final long EVICT_AFTER_NANOS = TimeUnit.SECONDS.toNanos(1);

  private final Reporter reporter;
  private final PolicyGate policy;
  private final PenaltyGate penalties;
  /** The penalty box's bans and lifts, said; null without a penalty box. */
  private final PenaltyEvents events;
  private final LimitsGate limits;
  /** The limits set on the builder, over each policy's. */
  private final Limits ownLimits;
  private final Logger updates = org.slf4j.LoggerFactory.getLogger(AdmissionChain.class);

  private AdmissionChain(Builder b, Counters counters, RefusalLog refusals) {
    this.reporter = new Reporter(counters, refusals);
    this.policy = new PolicyGate(b.policy, reporter);
    this.penalties = new PenaltyGate(b.penalties == null ? null : new PenaltyBox(b.penalties), reporter);
    this.events = b.penalties == null ? null : new PenaltyEvents(reporter);
    if (events != null) {
      penalties.box.events(events);
    }
    this.ownLimits = b.limits;
    this.limits = new LimitsGate(b.limits.over(b.policy.limits()), b.relaysFrom, b.localSourceByGroup,
        Math.min(EVICT_AFTER_NANOS, b.handshakeTimeout.toNanos() / 2), counters);
  }

  /**
   * A builder with no rules yet, {@link Limits#NONE}, no penalty box and a 10 s handshake timeout.
   *
   * @return a new builder
   */
  public static Builder builder() {
    return new Builder();
  }

  // ---- at accept, on the raw peer ----

  /**
   * Decides an IP peer at accept, on its 128 bits. Allocates nothing when the policy refuses.
   *
   * @param high the first 64 bits of the address (0 for an IPv4 peer)
   * @param low the last 64 bits ({@code 0x0000_FFFF_xxxx_xxxx} for IPv4 {@code xxxxxxxx})
   * @return {@link Refusal#NONE} if admitted (then release it once with {@link #released}), else
   *     the first gate's refusal, already counted and logged
   */
  public Refusal admit(long high, long low) {
    reporter.accepted();
    Decision d = policy.decide(high, low);
    if (!d.isAllowed()) {
      reporter.denied(d, high, low);
      return Refusal.DENIED;
    }
    long now = System.nanoTime();
    Refusal r = penalties.admit(high, low, now);
    if (r != Refusal.NONE) {
      return r;
    }
    r = limits.admit(high, low, now);
    if (r != Refusal.NONE) {
      if (r == Refusal.RATE_LIMITED) {
        penalties.rateLimited(high, low, now);
      }
      reporter.limited(r, high, low);
      return r;
    }
    reporter.opened();
    return Refusal.NONE;
  }

  /**
   * Decides an IPv4 peer at accept: {@link #admit(long, long)} on its IPv4-mapped form.
   *
   * @param address the address, big-endian ({@code 10.0.0.1} is {@code 0x0A000001})
   * @return as {@link #admit(long, long)}
   */
  public Refusal admitIpv4(int address) {
    return admit(0, dev.portcullis.policy.IpAddresses.mappedLow(address));
  }

  /**
   * Decides an IP peer at accept, given as an {@link InetAddress} (for a server that already made
   * one): {@link #admit(long, long)} on its bits.
   *
   * @param address the peer's address
   * @return as {@link #admit(long, long)}
   */
  public Refusal admit(InetAddress address) {
    Objects.requireNonNull(address, "address");
    return admit(dev.portcullis.policy.IpAddresses.high(address), dev.portcullis.policy.IpAddresses.low(address));
  }

  /**
   * Decides a Unix domain socket peer at accept, by its credentials (its uid, or gid, is its source
   * for the limits; a Unix peer is never penalized).
   *
   * @param credentials what the kernel says of the peer, or null if it could not be read
   * @return as {@link #admit(long, long)}
   */
  public Refusal admitLocal(PeerCredentials credentials) {
    reporter.accepted();
    Decision d = policy.decide(credentials);
    if (!d.isAllowed()) {
      reporter.denied(d, credentials);
      return Refusal.DENIED;
    }
    Refusal r = limits.admit(credentials, System.nanoTime());
    if (r != Refusal.NONE) {
      reporter.limited(r, credentials);
      return r;
    }
    reporter.opened();
    return Refusal.NONE;
  }

  // ---- the handshake ----

  /**
   * An admitted connection's handle for its handshake. Allocates; call it for a connection that
   * was admitted, then {@link #beginHandshake}.
   *
   * @param connection what names the connection until {@link #released} (compared with {@code
   *     equals}; the transport's channel object)
   * @param socketPeer the socket's peer address
   * @param credentials a Unix peer's credentials, or null
   * @param evict asked, from any thread, to close the connection when a newcomer takes its slot
   * @return the handle
   */
  public PendingHandshake pendingHandshake(Object connection, SocketAddress socketPeer, PeerCredentials credentials,
      Runnable evict) {
    return new PendingHandshake(Objects.requireNonNull(connection, "connection"), socketPeer, credentials,
        Objects.requireNonNull(evict, "evict"));
  }

  /**
   * A connection is about to start its handshake: it takes a slot under the cap on pending
   * handshakes, maybe the slot of the oldest pending one (which is then evicted, see {@link
   * #evicted}).
   *
   * @param h the connection's handle
   * @return {@link Refusal#NONE}, or {@link Refusal#HANDSHAKES_LIMITED} (counted, logged) if the
   *     cap is reached and every pending handshake is younger than the eviction age; then close it
   */
  public Refusal beginHandshake(PendingHandshake h) {
    Refusal r = limits.beginHandshake(h);
    if (r != Refusal.NONE) {
      reporter.handshakesLimited(h, limits.pending.cap());
    }
    return r;
  }

  /**
   * The handshake finished: if a step named another client ({@code replaced}), the policy and the
   * penalty box decide again on it; then, for a connection from a trusted proxy, the per-source
   * limits count the client it relays (or the proxy, if no step named one).
   *
   * @param h the connection's handle
   * @param replaced the client a step put in place of the socket peer, or null
   * @return {@link Refusal#NONE} to hand the connection on, else why it is closed (counted, logged)
   */
  public Refusal afterHandshake(PendingHandshake h, InetSocketAddress replaced) {
    if (!limits.leave(h)) {
      evicted(h, replaced);
      return Refusal.HANDSHAKES_LIMITED;
    }
    long now = System.nanoTime();
    if (replaced != null) {
      Decision d = policy.decide(replaced.getAddress(), Reporter.describe(h, replaced));
      if (!d.isAllowed()) {
        reporter.deniedAfterHandshake(h, replaced, d);
        return Refusal.DENIED;
      }
      Refusal r = penalties.admit(replaced, h, now);
      if (r != Refusal.NONE) {
        return r;
      }
    }
    Refusal r = limits.afterHandshake(h, replaced, now);
    if (r != Refusal.NONE) {
      if (r == Refusal.RATE_LIMITED) {
        penalties.rateLimited(replaced, now);
      }
      reporter.limitedAfterHandshake(r, h, replaced);
    }
    return r;
  }

  /**
   * The handshake failed or timed out: its slot is freed, the outcome counted, an offence counted
   * against the source, and one line a second per kind names the peer and why.
   *
   * @param h the connection's handle
   * @param replaced the client a step had named, or null
   * @param step the name of the step that failed
   * @param why what went wrong (ignored for a timeout)
   * @param timedOut whether the deadline passed, rather than the step failing
   */
  public void handshakeFailed(PendingHandshake h, InetSocketAddress replaced, String step, String why,
      boolean timedOut) {
    if (!limits.leave(h)) {
      evicted(h, replaced);
      return;
    }
    penalties.offence(h.socketPeer, h.credentials, replaced, limits.relayed(h.socketPeer),
        timedOut ? Penalties.Offence.HANDSHAKE_TIMEOUT : Penalties.Offence.HANDSHAKE_FAILED);
    if (timedOut) {
      reporter.handshakeTimedOut(h, replaced, step);
    } else {
      reporter.handshakeFailed(h, replaced, step, why);
    }
  }

  /**
   * A pending handshake gave its slot to a newcomer (its one outcome, reported by whoever closes
   * it): refused by the pending-handshakes limit, and an offence of a handshake too slow.
   *
   * @param h the evicted connection's handle
   * @param replaced the client a step had named, or null
   */
  public void evicted(PendingHandshake h, InetSocketAddress replaced) {
    penalties.offence(h.socketPeer, h.credentials, replaced, limits.relayed(h.socketPeer),
        Penalties.Offence.HANDSHAKE_TIMEOUT);
    reporter.evicted(h, replaced, limits.pending.cap(), System.nanoTime() - h.since());
  }

  // ---- after the handshake ----

  /**
   * The idle timeout closed a connection: one line a second at most.
   *
   * @param socketPeer the socket's peer
   * @param credentials a Unix peer's credentials, or null
   * @param peer the client a step named, or null
   * @param timeout the idle timeout
   */
  public void idle(SocketAddress socketPeer, PeerCredentials credentials, SocketAddress peer, Duration timeout) {
    reporter.idle(socketPeer, credentials, peer, timeout);
  }

  /**
   * No handler thread took an admitted connection: counted ({@link ServerStats#overloaded()}) and
   * logged.
   *
   * @param socketPeer the socket's peer
   * @param credentials a Unix peer's credentials, or null
   * @param peer the client a step named, or null
   */
  public void overloaded(SocketAddress socketPeer, PeerCredentials credentials, SocketAddress peer) {
    reporter.overloaded(socketPeer, credentials, peer);
  }

  /**
   * A handler ended with an exception that is the handler's doing: counted, and one WARN with the
   * stack a second at most, on {@code log}.
   *
   * @param log the logger of the code that ran the handler
   * @param peer the connection's peer (the client a step named, else the socket peer)
   * @param socketPeer the socket's peer
   * @param credentials a Unix peer's credentials, or null
   * @param failure what the handler threw
   */
  public void handlerFailed(Logger log, SocketAddress peer, SocketAddress socketPeer, PeerCredentials credentials,
      Throwable failure) {
    reporter.handlerFailed(log, peer, socketPeer, credentials, failure);
  }

  /**
   * An admitted connection closed: its slots are freed (the source it was counted as: a relayed
   * client's, else the socket peer's). Exactly once per connection admitted.
   *
   * @param connection what named it in {@link #pendingHandshake}, or any object for one without a
   *     handshake
   * @param socketPeer the socket's peer
   * @param credentials a Unix peer's credentials, or null
   */
  public void released(Object connection, SocketAddress socketPeer, PeerCredentials credentials) {
    reporter.released();
    limits.released(connection, socketPeer, credentials);
  }

  // ---- the policy, its hits and its shadow ----

  /**
   * The policy in force.
   *
   * @return the policy {@link #updatePolicy} last put in place, or the builder's
   */
  public AccessPolicy policy() {
    return policy.policy();
  }

  /**
   * The limits in force: the builder's over the policy's.
   *
   * @return the limits
   */
  public Limits limits() {
    return limits.limits();
  }

  /**
   * Replaces the policy and puts its limits in force (the builder's limits still win where they
   * are set): connections accepted from now on are decided by the new ones; open connections stay
   * open and counted. One part of the limits stays as it was at build: the source prefix, since
   * the open connections are counted under it (a WARN says so when the new one differs).
   *
   * @param newPolicy the new policy
   * @throws IllegalArgumentException if its limits count per source behind a proxy trusted from
   *     everywhere (as {@code Server.start()} refuses); nothing is replaced then
   */
  public void updatePolicy(AccessPolicy newPolicy) {
    Objects.requireNonNull(newPolicy, "newPolicy");
    Limits merged = ownLimits.over(newPolicy.limits());
    Cidr everywhere = limits.trustedFromEverywhere();
    if (everywhere != null && (merged.maxPerSource() > 0 || merged.ratePerSecond() > 0)) {
      throw new IllegalArgumentException("The new policy's per-source limits would count the clients a proxy"
          + " trusted from " + everywhere + " relays, so every peer could name its own source; trust only your"
          + " proxies' addresses, or drop the per-source limits; the old policy stays");
    }
    synchronized (this) {
      policy.update(newPolicy);
      if (!limits.update(merged, reporter.counters.open.get())) {
        updates.warn("The new policy's source prefix (/{} and /{}) differs from the one in force (/{} and /{});"
            + " the open connections are counted under the old one, so it stays", merged.effectiveIpv4Bits(),
            merged.effectiveIpv6Bits(), limits.limits().effectiveIpv4Bits(), limits.limits().effectiveIpv6Bits());
      }
    }
  }

  /**
   * Sets a shadow policy, decided beside the live one for every peer; what it would change is
   * counted and logged on {@code dev.portcullis.shadow}. Its counters start at zero.
   *
   * @param candidate the candidate policy, or null to drop the shadow
   */
  public void shadow(AccessPolicy candidate) {
    policy.shadow(candidate);
  }

  /**
   * The shadow policy, if one is set.
   *
   * @return the candidate
   */
  public Optional<AccessPolicy> shadowPolicy() {
    PolicyGate.Shadow s = policy.currentShadow();
    return s == null ? Optional.empty() : Optional.of(s.candidate);
  }

  /**
   * What the shadow policy would have changed so far, if one is set.
   *
   * @return its counters
   */
  public Optional<ShadowStats> shadowStats() {
    PolicyGate.Shadow s = policy.currentShadow();
    return s == null ? Optional.empty() : Optional.of(s.stats());
  }

  /**
   * Hits per rule (and per default) of the policy in force, in the policy's order, and the
   * penalty box's refusals as {@code penalty box} when there is one.
   *
   * @return a new map
   */
  public Map<String, Long> ruleHits() {
    Map<String, Long> out = policy.ruleHits();
    if (penalties.box != null) {
      out.put("penalty box", reporter.counters.penalized.get());
    }
    return out;
  }

  /**
   * The live hit counters of the policy in force: one array read per slot, nothing copied.
   *
   * @return the counters, paired with their policy
   */
  public RuleHits ruleHitCounters() {
    return policy.ruleHitCounters();
  }

  // ---- counters and penalties ----

  /**
   * The counters this chain writes (and its runner: {@link Counters#handled}).
   *
   * @return the live counters
   */
  public Counters counters() {
    return reporter.counters;
  }

  /**
   * A snapshot of the counters.
   *
   * @param kernelFilter the kernel filter mode to report with them
   * @return the snapshot
   */
  public ServerStats stats(KernelFilterMode kernelFilter) {
    return reporter.counters.snapshot(kernelFilter);
  }

  /**
   * Whether the chain has a penalty box ({@link Builder#penalties}).
   *
   * @return {@code true} if it has
   */
  public boolean hasPenaltyBox() {
    return penalties.box != null;
  }

  /**
   * The current bans, the soonest to end first.
   *
   * @return the bans; empty without a penalty box
   */
  public List<Penalty> penalties() {
    return penalties.box == null ? List.of() : penalties.box.current(System.nanoTime());
  }

  /**
   * Lifts the ban of the source {@code address} belongs to and forgets its offences. An external
   * ban of a range that holds the address stays (lift it with {@link #lift}).
   *
   * @param address an address of the source
   * @return whether it was banned
   * @throws IllegalStateException without a penalty box
   */
  public boolean liftPenalty(InetAddress address) {
    return box().lift(Objects.requireNonNull(address, "address"), System.nanoTime());
  }

  /**
   * The application says that {@code source} misbehaved (a bad login, a bad token, a rejected
   * request): {@code weight} offences counted into the penalty box, the same count as the failed
   * handshakes and rate-limit refusals of that source, so that it is banned once the count reaches
   * the threshold within the window ({@link Penalties}). The ban is the box's usual one (doubling on
   * each repeat), refused at accept, logged with {@code reason} on {@code dev.portcullis.refusals}
   * ({@code Penalized 192.0.2.7 until ... (5 offences within 1m, the last: bad login)}), told to
   * the {@link PenaltyListener}s, and put in the kernel filter where one is attached: the offence is
   * taken as the socket peer's own, so report the address the connection came from, or the client
   * a trusted proxy named (a ban of it in the kernel is harmless: it does not connect itself).
   *
   * <pre>{@code
   * if (!passwords.check(user, password)) {
   *   chain.reportOffence(peerAddress, 1, "bad login");
   * }
   * }</pre>
   *
   * <p>An exempt source ({@link Penalties#exempt}) and a trusted proxy ({@link Builder#relaysFrom})
   * are never banned: nothing is counted, and this returns false. So does an offence of a source
   * banned already (offences during a ban add nothing).
   *
   * @param source the client's address
   * @param weight how many offences this counts as, at least 1 (the threshold or more bans at once)
   * @param reason why, for the log line and the listeners (control characters are replaced with
   *     {@code ?}, and more than 200 characters are cut: it may carry what a client sent)
   * @return true if this offence banned the source
   * @throws IllegalStateException if there is no penalty box ({@link Builder#penalties} not set)
   * @throws IllegalArgumentException if {@code weight} is less than 1 or {@code reason} is blank
   */
  public boolean reportOffence(InetAddress source, int weight, String reason) {
    Objects.requireNonNull(source, "reportOffence(source, weight, reason): source");
    if (weight < 1) {
      throw new IllegalArgumentException("reportOffence(" + dev.portcullis.policy.IpAddresses.format(source) + ", "
          + weight + ", ...): the weight must be at least 1");
    }
    String why = reason(reason, "reportOffence");
    box(); // fails without a penalty box
    if (limits.relayed(new InetSocketAddress(source, 0))) {
      return false; // a trusted proxy is never banned: it speaks for everyone behind it
    }
    return penalties.reported(source, weight, why);
  }

  /**
   * Bans a whole range for {@code duration}, from outside the penalty box's own counting (a
   * CrowdSec decision, an operator's order): a peer in it is refused at accept like a penalized
   * source ({@link Refusal#BANNED}, with the line {@code Refused 192.0.2.7: banned until ...
   * (reason; ...)}), and dropped in the kernel where a filter is attached ({@link #directBans}). A
   * ban of the same range replaces the earlier one (its end and reason); ranges of other lengths
   * are kept apart, and a peer in any of them is refused. It ends when {@code duration} passes (the
   * housekeeping, {@link #sweepPenalties}, lifts it), or with {@link #lift}.
   *
   * <p>Exempt addresses ({@link Penalties#exempt}) are still admitted inside a banned range, and a
   * range that holds one is not put in the kernel filter (which cannot make the exception): it is
   * refused at accept instead.
   *
   * <p>Bounded: at most {@link Penalties#maxSourceCount()} ranges (65,536 by default; about 150
   * bytes each, plus the reason's text) besides the sources the box tracks, which they never push out. Past the bound a
   * new range is refused with an {@link IllegalStateException}; replacing a range already banned
   * always works.
   *
   * @param range the range, IPv4 or IPv6, of any prefix length (a single address is a /32 or /128)
   * @param duration how long, positive, at most 36,500 days
   * @param reason why, for the log line ({@code Banned 192.0.2.0/24 until ...: reason}) and the
   *     listeners, which are told {@code external = true}
   * @return the ban in force
   * @throws IllegalStateException if there is no penalty box, or it holds as many ranges as it may
   * @throws IllegalArgumentException if the duration is not positive or too long, the reason is
   *     blank, or the range lies wholly inside an exempt range (it would never refuse anyone)
   */
  public Penalty ban(Cidr range, Duration duration, String reason) {
    Objects.requireNonNull(range, "ban(range, duration, reason): range");
    Objects.requireNonNull(duration, "ban(range, duration, reason): duration");
    if (duration.isNegative() || duration.isZero() || duration.compareTo(PenaltyBox.MAX_EXTERNAL_BAN) > 0) {
      throw new IllegalArgumentException("ban(" + range + ", " + duration + ", ...): the duration must be positive and"
          + " at most " + PenaltyBox.MAX_EXTERNAL_BAN.toDays() + " days");
    }
    String why = reason(reason, "ban");
    PenaltyBox box = box();
    Cidr exempt = box.exemptCovering(range);
    if (exempt != null) {
      throw new IllegalArgumentException("ban(" + range + ", ...): the range lies inside the exempt range " + exempt
          + " (Penalties.exempt), so it would never refuse anyone; not banned");
    }
    return box.banRange(range, System.nanoTime() + duration.toNanos(), why);
  }

  /**
   * Lifts the ban of exactly {@code range}: an external ban of it ({@link #ban}), and the offence
   * ban of the source it is, when its length is the box's source prefix (a /32, or a /64 for IPv6
   * by default; that source's offences are forgotten too). A ban of a longer or shorter range that
   * overlaps it stays. Logged ({@code Lifted the ban of ...: reason}) and told to the listeners.
   *
   * @param range the banned range, as banned
   * @param reason why, for the line and the listeners
   * @return true if a ban of it was in force
   * @throws IllegalStateException without a penalty box
   * @throws IllegalArgumentException if the reason is blank
   */
  public boolean lift(Cidr range, String reason) {
    Objects.requireNonNull(range, "lift(range, reason): range");
    String why = reason(reason, "lift");
    return box().liftRange(range, why, System.nanoTime());
  }

  /**
   * Tells {@code listener} of every ban and lift from now on (see {@link PenaltyListener}): on a
   * daemon thread of the penalty box's own, in order, never on an event loop nor under a lock; an
   * exception it throws is logged and ignored. Nothing without a penalty box.
   *
   * @param listener the listener
   */
  public void addPenaltyListener(PenaltyListener listener) {
    Objects.requireNonNull(listener, "listener");
    if (events != null) {
      events.add(listener);
    }
  }

  /** Longest reason kept; a longer one is cut, since a reason may carry what a client sent. */
  private static final int MAX_REASON = 200;

  private static String reason(String reason, String method) {
    String given = Objects.requireNonNull(reason, method + "(...): reason").strip();
    if (given.isEmpty()) {
      throw new IllegalArgumentException(method + "(...): the reason is blank; say why, such as \"bad login\"");
    }
    StringBuilder b = new StringBuilder(Math.min(given.length(), MAX_REASON + 3));
    for (int i = 0; i < given.length() && b.length() < MAX_REASON; i++) {
      char c = given.charAt(i);
      b.append(Character.isISOControl(c) ? '?' : c);
    }
    if (given.length() > MAX_REASON) {
      b.append("...");
    }
    return b.toString();
  }


  /**
   * The penalty box's housekeeping, to run about once a second: expired bans and forgotten sources
   * go. Nothing without a penalty box.
   */
  public void sweepPenalties() {
    if (penalties.box != null) {
      penalties.box.sweep(System.nanoTime());
    }
  }

  /**
   * What a kernel filter can drop: the banned sources that reached the server directly (not
   * relayed by a proxy) and the external bans ({@link #ban}) that hold no exempt address, as
   * ranges.
   *
   * @return the ranges; empty without a penalty box
   */
  public List<Cidr> directBans() {
    return penalties.box == null ? List.of() : penalties.box.directBans(System.nanoTime());
  }

  /**
   * Tells {@code action}, on the thread that changed them, whenever the set of {@link #directBans}
   * may have changed (a ban, a lift, an expiry). Each action given is kept and told. Nothing without
   * a penalty box. To feed a kernel filter of another socket (a {@code KernelGuard}), hand the work
   * to another thread, or use a {@link PenaltyListener}, which is called off the event loops:
   *
   * <pre>{@code
   * chain.onBansChanged(() -> executor.execute(() -> guard.updateBans(chain.directBans())));
   * }</pre>
   *
   * @param action what to run; quick, it runs on an event loop or the caller of {@link #ban}
   */
  public void onBansChanged(Runnable action) {
    Objects.requireNonNull(action, "action");
    if (penalties.box != null) {
      penalties.box.listener(action::run);
    }
  }

  private PenaltyBox box() {
    if (penalties.box == null) {
      throw new IllegalStateException("this admission chain has no penalty box");
    }
    return penalties.box;
  }

  /**
   * The settings an {@link AdmissionChain} is built from: those of a {@code Server}.
   */
  public static final class Builder {
    private AccessPolicy policy;
    private Limits limits = Limits.NONE;
    private Penalties penalties;
    private List<Cidr> relaysFrom = List.of();
    private Duration handshakeTimeout = Duration.ofSeconds(10);
    private boolean localSourceByGroup;
    private Counters counters;
    private java.util.function.Predicate<RefusalLog.Kind> lineGate;

    private Builder() {}

    /**
     * The access policy. Required.
     *
     * @param policy the policy
     * @return this builder
     */
    public Builder policy(AccessPolicy policy) {
      this.policy = Objects.requireNonNull(policy, "policy");
      return this;
    }

    /**
     * Limits over the policy's: where one is set it wins over the policy's, now and after {@link
     * #updatePolicy}. Default {@link Limits#NONE} (the policy's limits, and the default cap on
     * pending handshakes).
     *
     * @param limits the limits
     * @return this builder
     */
    public Builder limits(Limits limits) {
      this.limits = Objects.requireNonNull(limits, "limits");
      return this;
    }

    /**
     * A penalty box with these settings. Default: none.
     *
     * @param penalties the settings, or null for none
     * @return this builder
     */
    public Builder penalties(Penalties penalties) {
      this.penalties = penalties;
      return this;
    }

    /**
     * The socket peers whose connections relay another client (trusted proxies: the first
     * handshake step's {@code relaysFrom()}): their per-source limits count the client the
     * handshake names, not the proxy. Default: none.
     *
     * @param ranges the proxies' ranges
     * @return this builder
     */
    public Builder relaysFrom(List<Cidr> ranges) {
      this.relaysFrom = List.copyOf(ranges);
      return this;
    }

    /**
     * The handshake deadline: a pending handshake may give its slot to a newcomer after half of it
     * (or a second, if that is shorter). Default 10 s.
     *
     * @param timeout a positive duration
     * @return this builder
     * @throws IllegalArgumentException if not positive
     */
    public Builder handshakeTimeout(Duration timeout) {
      if (timeout.isNegative() || timeout.isZero()) {
        throw new IllegalArgumentException("handshakeTimeout must be positive: " + timeout);
      }
      this.handshakeTimeout = timeout;
      return this;
    }

    /**
     * For Unix peers, whether the per-source limits count by primary gid rather than by uid.
     * Default {@code false}.
     *
     * @param byGroup {@code true} to count by gid
     * @return this builder
     */
    public Builder localSourceByGroup(boolean byGroup) {
      this.localSourceByGroup = byGroup;
      return this;
    }

    /**
     * Where the chain counts. Default: counters of its own.
     *
     * @param counters the counters (shared with whatever else counts into them)
     * @return this builder
     */
    public Builder counters(Counters counters) {
      this.counters = Objects.requireNonNull(counters, "counters");
      return this;
    }

    /** With another gate on lines than once a second per kind: for tests. */
    Builder lineGate(java.util.function.Predicate<RefusalLog.Kind> gate) {
      this.lineGate = gate;
      return this;
    }

    /**
     * The chain.
     *
     * @return a new chain with fresh state (no hits, no bans)
     * @throws IllegalStateException if no policy was given
     */
    public AdmissionChain build() {
      if (policy == null) {
        throw new IllegalStateException("An admission chain needs a policy: builder().policy(...)");
      }
      return new AdmissionChain(this, counters != null ? counters : new Counters(),
          lineGate == null ? new RefusalLog() : new RefusalLog(lineGate));
    }
  }
}
