package dev.portcullis.admission;

import dev.portcullis.ConnectionListener;
import dev.portcullis.HandlerMode;
import dev.portcullis.Penalty;
import dev.portcullis.PenaltyListener;
import dev.portcullis.RuleHits;
import dev.portcullis.RunningServer;
import dev.portcullis.ServerStats;
import dev.portcullis.ShadowStats;
import dev.portcullis.policy.AccessPolicy;
import dev.portcullis.policy.Cidr;
import dev.portcullis.spi.KernelFilterMode;
import java.net.InetAddress;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.function.Consumer;

/**
 * A guard in front of someone else's server (Netty, Jetty) as a {@link RunningServer}, for the
 * Micrometer binder, JMX and the like. What only reads or acts on the {@link AdmissionChain}
 * (counters, rule hits, penalties, bans, the shadow policy) is answered from the chain; what the
 * adapter's guard keeps itself (its connection and policy listeners, the policy update and
 * promotion that tell them, the lifting of a penalty in its own words) goes through the {@link
 * Guard}; the subclass gives the address, the handshake steps and what to say when asked to stop.
 * The server is the application's: {@link #close()}, {@link #awaitTermination()} and {@link
 * #shutdown} throw {@link UnsupportedOperationException} with {@link #stopMessage(String)}.
 *
 * <p>The handlers run on the server's own threads ({@link HandlerMode#EXECUTOR}), and its loops
 * or acceptors are not counted apart: {@link #acceptedPerLoop()} has one entry.
 */
public abstract class AdapterServerView implements RunningServer {
  /**
   * What an adapter's guard keeps itself, beside its chain: the {@link RunningServer} methods of
   * the same name go to it.
   */
  public interface Guard {
    /**
     * The guard's admission chain.
     *
     * @return the chain, never null
     */
    AdmissionChain chain();

    /**
     * Replaces the policy and tells the guard's policy listeners.
     *
     * @param policy the new policy
     * @see RunningServer#updatePolicy
     */
    void updatePolicy(AccessPolicy policy);

    /**
     * Makes the shadow policy live through {@link #updatePolicy}, and drops the shadow.
     *
     * @return the shadow's counts, or empty if there was no shadow
     * @see RunningServer#promote
     */
    Optional<ShadowStats> promote();

    /**
     * Lifts the penalty of the source {@code address} belongs to.
     *
     * @param address an IP address literal
     * @return whether that source was banned
     * @see RunningServer#liftPenalty
     */
    boolean liftPenalty(String address);

    /**
     * Adds a listener of the connections the guard sees close.
     *
     * @param listener the listener
     * @see RunningServer#addConnectionListener
     */
    void addConnectionListener(ConnectionListener listener);

    /**
     * Adds a listener of the policies the guard puts in force.
     *
     * @param listener given the new policy
     * @see RunningServer#addPolicyListener
     */
    void addPolicyListener(Consumer<AccessPolicy> listener);
  }

  private final Guard guard;
  private final AdmissionChain chain;

  /**
   * A view over {@code guard} and its chain.
   *
   * @param guard the adapter's guard
   */
  protected AdapterServerView(Guard guard) {
    this.guard = Objects.requireNonNull(guard, "guard");
    this.chain = Objects.requireNonNull(guard.chain(), "guard.chain()");
  }

  /**
   * What {@link #close()}, {@link #awaitTermination()} and {@link #shutdown} say when called: that
   * the server is the application's to stop, and how.
   *
   * @param method the method called, such as {@code "close"}
   * @return the exception's message
   */
  protected abstract String stopMessage(String method);

  /**
   * The policy in force, the chain's.
   *
   * @return the policy, never null
   */
  @Override
  public AccessPolicy policy() {
    return chain.policy();
  }

  /**
   * The chain's counters; the guard has no kernel filter.
   *
   * @return the counters as of this call, never null
   */
  @Override
  public ServerStats stats() {
    return chain.stats(KernelFilterMode.OFF);
  }

  /**
   * The application's handlers run on the server's own threads, which the guard does not choose.
   *
   * @return {@link HandlerMode#EXECUTOR}
   */
  @Override
  public HandlerMode handlerMode() {
    return HandlerMode.EXECUTOR;
  }

  /**
   * The server's loops or acceptors are not counted apart: one entry, every connection the guard
   * decided on.
   *
   * @return a new array of one count, {@link ServerStats#accepted()}
   */
  @Override
  public long[] acceptedPerLoop() {
    return new long[] {stats().accepted()};
  }

  /**
   * The sources the chain's penalty box refuses now, the soonest to be let in again first.
   *
   * @return a new list, empty without a penalty box
   */
  @Override
  public List<Penalty> penalties() {
    return chain.penalties();
  }

  /**
   * Counts an offence of {@code source}, as {@link AdmissionChain#reportOffence} does.
   *
   * @param source the client's address
   * @param weight how many offences this counts as, at least 1
   * @param reason why, for the line and the listeners
   * @return true if this offence banned the source
   */
  @Override
  public boolean reportOffence(InetAddress source, int weight, String reason) {
    return chain.reportOffence(source, weight, reason);
  }

  /**
   * Bans {@code range}, as {@link AdmissionChain#ban} does.
   *
   * @param range an IPv4 or IPv6 range
   * @param duration how long, positive
   * @param reason why, for the line and the listeners
   * @return the ban in force
   */
  @Override
  public Penalty ban(Cidr range, Duration duration, String reason) {
    return chain.ban(range, duration, reason);
  }

  /**
   * Lifts the ban of exactly {@code range}, as {@link AdmissionChain#lift} does.
   *
   * @param range the banned range
   * @param reason why, for the line and the listeners
   * @return true if a ban of it was in force
   */
  @Override
  public boolean lift(Cidr range, String reason) {
    return chain.lift(range, reason);
  }

  /**
   * Tells {@code listener} of every ban and lift of the chain's penalty box from now on.
   *
   * @param listener the listener
   */
  @Override
  public void addPenaltyListener(PenaltyListener listener) {
    chain.addPenaltyListener(listener);
  }

  /**
   * Sets the chain's shadow policy.
   *
   * @param candidate the policy that might replace the live one
   * @throws NullPointerException if {@code candidate} is null
   */
  @Override
  public void shadow(AccessPolicy candidate) {
    chain.shadow(Objects.requireNonNull(candidate, "candidate"));
  }

  /**
   * The chain's shadow counts.
   *
   * @return the counts, or empty if there is no shadow policy
   */
  @Override
  public Optional<ShadowStats> shadowStats() {
    return chain.shadowStats();
  }

  /** Drops the chain's shadow policy, if there is one; the live policy stays. */
  @Override
  public void clearShadow() {
    chain.shadow(null);
  }

  /**
   * How often each rule of the chain's policy decided.
   *
   * @return rule in text form to hits, a new map
   */
  @Override
  public Map<String, Long> ruleHits() {
    return chain.ruleHits();
  }

  /**
   * The hit counters of the chain's policy, as a live view.
   *
   * @return the view, never null
   */
  @Override
  public RuleHits currentRuleHits() {
    return chain.ruleHitCounters();
  }

  /**
   * Not ours to do: the server is the application's to stop.
   *
   * @throws UnsupportedOperationException always, with {@link #stopMessage(String)}
   */
  @Override
  public void close() {
    throw notOurs("close");
  }

  /**
   * Not ours to do: the server is the application's to stop.
   *
   * @throws UnsupportedOperationException always, with {@link #stopMessage(String)}
   */
  @Override
  public void awaitTermination() {
    throw notOurs("awaitTermination");
  }

  /**
   * Not ours to do: the server is the application's to stop.
   *
   * @param timeout ignored
   * @return never returns
   * @throws UnsupportedOperationException always, with {@link #stopMessage(String)}
   */
  @Override
  public boolean awaitTermination(Duration timeout) {
    throw notOurs("awaitTermination");
  }

  /**
   * Not ours to do: the server is the application's to stop.
   *
   * @param grace ignored
   * @return never returns
   * @throws UnsupportedOperationException always, with {@link #stopMessage(String)}
   */
  @Override
  public boolean shutdown(Duration grace) {
    throw notOurs("shutdown");
  }

  private UnsupportedOperationException notOurs(String method) {
    return new UnsupportedOperationException(stopMessage(method));
  }

  /**
   * Replaces the policy through the guard, which tells its policy listeners.
   *
   * @param policy the new policy
   */
  @Override
  public void updatePolicy(AccessPolicy policy) {
    guard.updatePolicy(policy);
  }

  /**
   * Makes the shadow policy live through the guard, so that its listeners are told.
   *
   * @return the shadow's counts up to the promotion, or empty if there was no shadow
   */
  @Override
  public Optional<ShadowStats> promote() {
    return guard.promote();
  }

  /**
   * Lifts a penalty through the guard, which says in its own words if it has no penalty box.
   *
   * @param address an IP address, such as {@code "192.0.2.7"}
   * @return whether that source was banned
   */
  @Override
  public boolean liftPenalty(String address) {
    return guard.liftPenalty(address);
  }

  /**
   * Adds a listener to the guard's own: the chain does not see connections close.
   *
   * @param listener the listener
   */
  @Override
  public void addConnectionListener(ConnectionListener listener) {
    guard.addConnectionListener(listener);
  }

  /**
   * Adds a listener to the guard's own, told by its {@link Guard#updatePolicy}.
   *
   * @param listener given the new policy
   */
  @Override
  public void addPolicyListener(Consumer<AccessPolicy> listener) {
    guard.addPolicyListener(listener);
  }
}
