package dev.portcullis;

import dev.portcullis.policy.AccessPolicy;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.time.Duration;

/**
 * A started server. Close it to stop listening and release the port.
 *
 * <pre>{@code
 * try (RunningServer server = Server.on(0).allow("127.0.0.1").handle(h).start()) {
 *     System.out.println("listening on " + server.localAddress());
 *     server.awaitTermination();   // until another thread (or a shutdown hook) closes it
 * }
 * }</pre>
 */
public interface RunningServer extends AutoCloseable {
  /**
   * The address the server listens on: an {@link java.net.InetSocketAddress} with the real port
   * when 0 was asked for, or a {@link java.net.UnixDomainSocketAddress} for a Unix domain socket.
   *
   * @return the listening address, never null
   */
  SocketAddress localAddress();

  /**
   * The TCP port the server listens on, the real one when 0 was asked for.
   *
   * @return the port
   * @throws IllegalStateException for a server on a Unix domain socket, which has no port
   */
  default int port() {
    if (localAddress() instanceof java.net.InetSocketAddress ip) {
      return ip.getPort();
    }
    throw new IllegalStateException(
        "A server on " + dev.portcullis.policy.IpAddresses.format(localAddress()) + " has no TCP port");
  }

  /**
   * The access policy in force.
   *
   * @return the policy, never null
   */
  AccessPolicy policy();

  /**
   * A snapshot of the server's counters.
   *
   * @return the counters as of this call, never null
   */
  ServerStats stats();

  /**
   * How the handlers run: on the event loops' carriers, as virtual threads on the JDK's scheduler,
   * on platform threads, on the user's executor, or on the loops as callbacks. Fixed at start; the
   * start log line and JMX ({@code HandlerMode}) say the same.
   *
   * @return the mode, never null
   */
  HandlerMode handlerMode();

  /**
   * How many connections each event loop has accepted, in loop order (refused ones included): how
   * evenly the kernel spreads new connections over {@link Server.Builder#eventLoops(int) the loops}. Their
   * sum is {@link ServerStats#accepted()}. Empty if the
   * transport does not count per loop.
   *
   * @return a new array, one count per loop
   */
  long[] acceptedPerLoop();

  /**
   * Handshakes in progress now, per step of the chain (by {@link
   * dev.portcullis.handshake.Handshake#name()}, in chain order; steps of the same name added up).
   * Their sum is {@link ServerStats#pendingHandshakes()}, give or take the connections between two
   * steps.
   *
   * @return a new map; empty without handshake steps
   */
  java.util.Map<String, Integer> handshakesInProgress();

  /**
   * Tells {@code listener} of every connection that closes from now on, with how long it was open
   * (see {@link ConnectionListener}). Connections accepted before the call are not reported.
   *
   * @param listener the listener
   */
  void addConnectionListener(ConnectionListener listener);

  /**
   * The sources the {@link Server.IpBuilder#penalties penalty box} refuses now, the soonest to be let in
   * again first; empty if the server has no penalty box.
   *
   * @return a new list
   */
  java.util.List<Penalty> penalties();

  /**
   * Lifts the ban of the source {@code address} belongs to (its /64 for IPv6, by default), and
   * forgets its offences, so that a later ban is a first one again.
   *
   * @param address an IP address, such as {@code "192.0.2.7"}
   * @return whether that source was banned
   * @throws IllegalArgumentException if {@code address} is not an IP address literal
   * @throws IllegalStateException if the server has no penalty box
   */
  boolean liftPenalty(String address);

  /**
   * The application says that {@code source} misbehaved (a bad login, a bad token, a rejected
   * request): {@code weight} offences counted into the {@link Server.IpBuilder#penalties penalty
   * box}, with the source's failed handshakes and rate-limit offences, so that it is banned once
   * the count reaches the threshold; the ban is logged with {@code reason}, refused at accept,
   * dropped in the kernel with {@link Server.TcpBuilder#kernelFilter()}, and told to the {@link
   * #addPenaltyListener penalty listeners}. See {@link
   * dev.portcullis.admission.AdmissionChain#reportOffence}.
   *
   * <pre>{@code
   * // in a handler: five wrong passwords within the window ban the client
   * if (!passwords.check(user, password)) {
   *   conn.server().reportOffence(((InetSocketAddress) conn.peer()).getAddress(), 1, "bad login");
   * }
   * }</pre>
   *
   * @param source the client's address
   * @param weight how many offences this counts as, at least 1
   * @param reason why, for the line and the listeners
   * @return true if this offence banned the source; false if not yet, if it is banned already, or
   *     if it is exempt ({@link dev.portcullis.policy.Penalties#exempt}) or a trusted proxy, which
   *     are never banned (nothing is counted for them)
   * @throws IllegalStateException if the server has no penalty box
   * @throws IllegalArgumentException if {@code weight} is less than 1 or {@code reason} is blank
   */
  boolean reportOffence(java.net.InetAddress source, int weight, String reason);

  /**
   * Bans a whole range for {@code duration} (a CrowdSec decision, an operator's order), enforced
   * like a penalty-box ban, and in the kernel filter too; exempt addresses are still admitted; a
   * ban of the same range replaces the earlier one; at most {@link
   * dev.portcullis.policy.Penalties#maxSourceCount()} ranges. See {@link
   * dev.portcullis.admission.AdmissionChain#ban}.
   *
   * @param range an IPv4 or IPv6 range, any prefix length
   * @param duration how long, positive
   * @param reason why, for the line and the listeners
   * @return the ban in force
   * @throws IllegalStateException if the server has no penalty box, or it holds as many ranges as
   *     it may
   * @throws IllegalArgumentException if the duration is not positive or too long, the reason is
   *     blank, or the range lies inside an exempt range
   */
  Penalty ban(dev.portcullis.policy.Cidr range, Duration duration, String reason);

  /**
   * Lifts the ban of exactly {@code range}: an external ban of it, or the offence ban of the
   * source it is (see {@link dev.portcullis.admission.AdmissionChain#lift}).
   *
   * @param range the banned range
   * @param reason why, for the line and the listeners
   * @return true if a ban of it was in force
   * @throws IllegalStateException if the server has no penalty box
   */
  boolean lift(dev.portcullis.policy.Cidr range, String reason);

  /**
   * Tells {@code listener} of every ban and lift from now on, off the event loops and never under
   * a lock (see {@link PenaltyListener}). Nothing if the server has no penalty box.
   *
   * @param listener the listener
   */
  void addPenaltyListener(PenaltyListener listener);

  /**
   * Decides every connection from now on by the live policy and, beside it, by {@code candidate},
   * and counts each decision that would flip ({@link #shadowStats()}), logging them on the logger
   * {@code dev.portcullis.shadow} (one line a second at most, with both rules). Nothing changes for
   * the connections: the live policy still decides. Replaces an earlier shadow, whose counters are
   * dropped. {@link AccessPolicy#changesTo} computes the same thing offline, as address ranges.
   *
   * @param candidate the policy that might replace the live one
   * @throws IllegalArgumentException if {@code candidate} could not be made live (as {@link
   *     #updatePolicy} would refuse it)
   */
  void shadow(AccessPolicy candidate);

  /**
   * What the shadow policy would have changed so far, or empty if there is none.
   *
   * @return the counts since {@link #shadow} was called
   */
  java.util.Optional<ShadowStats> shadowStats();

  /**
   * Makes the shadow policy live, atomically (as {@link #updatePolicy}: a connection accepted after
   * this returns is decided by it), and drops the shadow.
   *
   * @return the shadow's counts up to the promotion, or empty if there was no shadow (nothing
   *     changes then)
   */
  java.util.Optional<ShadowStats> promote();

  /** Drops the shadow policy, if there is one; the live policy stays. */
  void clearShadow();

  /**
   * Stops accepting, closes the listening socket and every open connection (handlers see end of
   * stream or an exception), and stops the server's own handler threads. Returns once the port is
   * released. Idempotent; safe from any thread.
   */
  @Override
  void close();

  /**
   * Blocks until the server is closed.
   *
   * @throws InterruptedException if the calling thread is interrupted while waiting
   */
  void awaitTermination() throws InterruptedException;

  /**
   * Blocks until the server is closed or the timeout passes.
   *
   * @param timeout how long to wait at most
   * @return whether the server is closed
   * @throws InterruptedException if the calling thread is interrupted while waiting
   */
  boolean awaitTermination(Duration timeout) throws InterruptedException;

  /**
   * Stops gracefully: stops accepting new connections, takes the ones the kernel had already
   * queued (whose {@code connect()} had returned) through the usual pipeline, closes the listening
   * socket (the address is free from then on, a fraction of a second after the call), lets
   * handshakes and handlers in flight on every event loop finish for up to {@code grace}, then
   * closes what is left, as {@link #close()} does. So a client whose connection was accepted by the
   * kernel before the call is served, not reset. Returns when the server is closed.
   *
   * <p>Handlers hear of it: {@link Connection#isStopping()} and {@link LoopConnection#isStopping()}
   * become true, the actions given to {@link Connection#onStopping} run on this thread, and {@link
   * LoopHandler#onStopping} is called on each connection's loop. A connection with nothing in
   * flight (every byte its peer sent has been answered) is released at once: a blocking handler's
   * next read that finds nothing to return returns -1 instead of waiting for the peer, and a loop
   * handler's connection is closed once its queued output is written (see {@link Connection} for
   * the rule). So idle clients do not hold the shutdown for the whole grace period, while a request
   * being read or answered is finished. What is still open when the grace period ends is closed.
   *
   * <p>Calling it again, from any thread, or after {@link #close()}, stops nothing more: it waits
   * until the server is closed and returns whether no connection is open then.
   *
   * @param grace how long connections in flight may take to finish; zero or negative closes, right
   *     after the stop of accepting, whatever is still open
   * @return {@code true} if every connection finished within the grace period
   * @throws NullPointerException if {@code grace} is null (nothing is stopped then)
   * @throws InterruptedException if the calling thread is interrupted while it waits for the
   *     connections (the server is closed then, as at the end of the grace period) or, on a second
   *     call, while it waits for the first one to close the server (which goes on)
   */
  boolean shutdown(java.time.Duration grace) throws InterruptedException;

  /**
   * Replaces the access policy while the server runs. Connections accepted after this returns are
   * decided by the new policy and counted against its limits (under those set on the builder; the
   * source prefix stays as at start); connections already open are not re-examined, and count
   * towards the new limits.
   *
   * @param policy the new policy
   * @throws IllegalArgumentException if the policy has no rule at all, or no rule that could match
   *     this server's peers (address rules for TCP, credential rules for Unix sockets), or if its
   *     per-source limits would count the clients of a proxy trusted from everywhere
   */
  void updatePolicy(dev.portcullis.policy.AccessPolicy policy);

  /**
   * How often each rule of the current policy decided, in the policy's order, with the defaults
   * that decided at least once ({@code default (address)}, {@code default (local peer)}). The
   * counts start again when the policy is replaced. Also exposed through JMX, with the rest of
   * {@link #stats()}, as the MBean {@code dev.portcullis:type=Server,address="..."}.
   *
   * <p>This builds a map of every rule: to read the counts often (a metrics scrape, with many
   * rules), read {@link #currentRuleHits()} instead, one counter at a time.
   *
   * @return rule in text form to hits, a new map
   */
  java.util.Map<String, Long> ruleHits();

  /**
   * The hit counters of the policy in force, as a live view: the same object until the policy is
   * replaced, each count one array read (see {@link RuleHits}). Unlike {@link #ruleHits()}, it has
   * a count for every slot of the policy, the defaults included, and not the penalty box's ({@link
   * ServerStats#penalized()}); duplicate rules have a slot each.
   *
   * @return the view, never null
   */
  RuleHits currentRuleHits();

  /**
   * Tells {@code listener} of every policy put in force from now on, by {@link #updatePolicy} or
   * {@link #promote}: called on the thread that replaced it, once new connections are decided by
   * it (what a metrics binder uses to follow the rules). An exception it throws is logged and
   * ignored; the policy stays in force.
   *
   * @param listener given the new policy
   */
  void addPolicyListener(java.util.function.Consumer<AccessPolicy> listener);
}
