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
    throw new IllegalStateException("A server on " + localAddress() + " has no TCP port");
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
   * evenly the kernel spreads new connections over {@link Server#eventLoops(int) the loops}. Their
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
   * The sources the {@link Server#penalties penalty box} refuses now, the soonest to be let in
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
   * @param grace how long connections in flight may take to finish
   * @return {@code true} if every connection finished within the grace period
   * @throws InterruptedException if interrupted while waiting; the server is closed then too
   */
  boolean shutdown(java.time.Duration grace) throws InterruptedException;

  /**
   * Replaces the access policy while the server runs. Connections accepted after this returns are
   * decided by the new policy; connections already open are not re-examined.
   *
   * @param policy the new policy
   * @throws IllegalArgumentException if the policy has no rule at all, or no rule that could match
   *     this server's peers (address rules for TCP, credential rules for Unix sockets)
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
