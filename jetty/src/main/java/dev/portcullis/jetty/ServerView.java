package dev.portcullis.jetty;

import dev.portcullis.ConnectionListener;
import dev.portcullis.Penalty;
import dev.portcullis.PenaltyListener;
import dev.portcullis.RuleHits;
import dev.portcullis.RunningServer;
import dev.portcullis.ServerStats;
import dev.portcullis.ShadowStats;
import dev.portcullis.policy.AccessPolicy;
import dev.portcullis.policy.Cidr;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.function.Consumer;

/** A guard as a {@link RunningServer}, for the Micrometer binder and the like: see {@link JettyGuard#asRunningServer}. */
final class ServerView implements RunningServer {
  private final JettyGuard guard;

  ServerView(JettyGuard guard) {
    this.guard = guard;
  }

  /** The connector's address: its host (any address if none) and its port once open. */
  @Override
  public SocketAddress localAddress() {
    String host = guard.connector().getHost();
    int port = Math.max(0, guard.connector().getLocalPort());
    return host == null ? new InetSocketAddress(port) : new InetSocketAddress(host, port);
  }

  @Override
  public AccessPolicy policy() {
    return guard.policy();
  }

  @Override
  public ServerStats stats() {
    return guard.stats();
  }

  /** The application's handlers run on Jetty's own threads, which the guard does not choose: {@code EXECUTOR}. */
  @Override
  public dev.portcullis.HandlerMode handlerMode() {
    return dev.portcullis.HandlerMode.EXECUTOR;
  }

  /** Jetty's acceptors are not counted apart: one entry, every connection the guard decided on. */
  @Override
  public long[] acceptedPerLoop() {
    return new long[] {guard.stats().accepted()};
  }

  @Override
  public Map<String, Integer> handshakesInProgress() {
    return guard.trustedProxies().isEmpty() ? Map.of() : Map.of(JettyGuard.STEP, guard.stats().pendingHandshakes());
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
  public boolean reportOffence(InetAddress source, int weight, String reason) {
    return guard.chain().reportOffence(source, weight, reason);
  }

  @Override
  public Penalty ban(Cidr range, Duration duration, String reason) {
    return guard.chain().ban(range, duration, reason);
  }

  @Override
  public boolean lift(Cidr range, String reason) {
    return guard.chain().lift(range, reason);
  }

  @Override
  public void addPenaltyListener(PenaltyListener listener) {
    guard.chain().addPenaltyListener(listener);
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
    return guard.currentRuleHits();
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
    return new UnsupportedOperationException(what + "() on the view of a Jetty guard: the Jetty server is the"
        + " application's to stop (server.stop())");
  }

  @Override
  public String toString() {
    return "RunningServer view of " + guard;
  }
}
