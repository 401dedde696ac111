package dev.portcullis.netty;

import dev.portcullis.ConnectionListener;
import dev.portcullis.Penalty;
import dev.portcullis.RuleHits;
import dev.portcullis.RunningServer;
import dev.portcullis.ServerStats;
import dev.portcullis.ShadowStats;
import dev.portcullis.policy.AccessPolicy;
import java.net.SocketAddress;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.function.Consumer;

/** A guard as a {@link RunningServer}, for the Micrometer binder and the like: see {@link PortcullisNetty#asRunningServer}. */
final class ServerView implements RunningServer {
  private final PortcullisNetty guard;
  private final SocketAddress localAddress;

  ServerView(PortcullisNetty guard, SocketAddress localAddress) {
    this.guard = guard;
    this.localAddress = localAddress;
  }

  @Override
  public SocketAddress localAddress() {
    return localAddress;
  }

  @Override
  public AccessPolicy policy() {
    return guard.policy();
  }

  @Override
  public ServerStats stats() {
    return guard.stats();
  }

  /** The application's handlers run on Netty's own threads, which the guard does not choose: {@code EXECUTOR}. */
  @Override
  public dev.portcullis.HandlerMode handlerMode() {
    return dev.portcullis.HandlerMode.EXECUTOR;
  }

  /** Netty's loops are not counted apart: one entry, every channel the guard decided on. */
  @Override
  public long[] acceptedPerLoop() {
    return new long[] {guard.stats().accepted()};
  }

  @Override
  public Map<String, Integer> handshakesInProgress() {
    return guard.proxy() == null ? Map.of() : Map.of(ProxyStages.STEP, guard.stats().pendingHandshakes());
  }

  @Override
  public void addConnectionListener(ConnectionListener listener) {
    guard.addConnectionListener(listener);
  }

  @Override
  public List<Penalty> penalties() {
    return guard.penalties();
  }

  @Override
  public boolean liftPenalty(String address) {
    return guard.liftPenalty(address);
  }

  @Override
  public boolean reportOffence(java.net.InetAddress source, int weight, String reason) {
    return guard.reportOffence(source, weight, reason);
  }

  @Override
  public Penalty ban(dev.portcullis.policy.Cidr range, Duration duration, String reason) {
    return guard.ban(range, duration, reason);
  }

  @Override
  public boolean lift(dev.portcullis.policy.Cidr range, String reason) {
    return guard.lift(range, reason);
  }

  @Override
  public void addPenaltyListener(dev.portcullis.PenaltyListener listener) {
    guard.addPenaltyListener(listener);
  }

  @Override
  public void shadow(AccessPolicy candidate) {
    guard.shadow(candidate);
  }

  @Override
  public Optional<ShadowStats> shadowStats() {
    return guard.shadowStats();
  }

  @Override
  public Optional<ShadowStats> promote() {
    return guard.promote();
  }

  @Override
  public void clearShadow() {
    guard.clearShadow();
  }

  @Override
  public void updatePolicy(AccessPolicy policy) {
    guard.updatePolicy(policy);
  }

  @Override
  public Map<String, Long> ruleHits() {
    return guard.ruleHits();
  }

  @Override
  public RuleHits currentRuleHits() {
    return guard.chain().ruleHitCounters();
  }

  @Override
  public void addPolicyListener(Consumer<AccessPolicy> listener) {
    guard.addPolicyListener(listener);
  }

  @Override
  public void close() {
    throw notOurs("close");
  }

  @Override
  public void awaitTermination() {
    throw notOurs("awaitTermination");
  }

  @Override
  public boolean awaitTermination(Duration timeout) {
    throw notOurs("awaitTermination");
  }

  @Override
  public boolean shutdown(Duration grace) {
    throw notOurs("shutdown");
  }

  private static UnsupportedOperationException notOurs(String what) {
    return new UnsupportedOperationException(what + "() on the view of a Netty guard: the Netty server is the"
        + " application's to stop (its channel and EventLoopGroups); PortcullisNetty.close() stops the guard's own"
        + " housekeeping");
  }

  @Override
  public String toString() {
    return "RunningServer view of " + guard + " on " + dev.portcullis.policy.IpAddresses.format(localAddress);
  }
}
