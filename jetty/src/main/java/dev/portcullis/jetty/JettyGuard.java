package dev.portcullis.jetty;

import dev.portcullis.spi.KernelFilterMode;
import dev.portcullis.Penalty;
import dev.portcullis.RuleHits;
import dev.portcullis.ServerStats;
import dev.portcullis.admission.AdapterServerView;
import dev.portcullis.admission.AdmissionChain;
import dev.portcullis.admission.PendingHandshake;
import dev.portcullis.admission.Refusal;
import dev.portcullis.policy.AccessPolicy;
import dev.portcullis.policy.Cidr;
import dev.portcullis.policy.IpAddresses;
import dev.portcullis.policy.Limits;
import dev.portcullis.policy.Penalties;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.nio.channels.SelectableChannel;
import java.nio.channels.SocketChannel;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Consumer;
import org.eclipse.jetty.io.Connection;
import org.eclipse.jetty.io.SelectorManager;
import org.eclipse.jetty.server.ConnectionFactory;
import org.eclipse.jetty.server.ProxyConnectionFactory;
import org.eclipse.jetty.server.ServerConnector;
import org.eclipse.jetty.util.component.LifeCycle;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The Portcullis admission chain in front of a Jetty 12 {@link ServerConnector}: the same address
 * policy (and shadow), penalty box and limits (in all, per source, rate, pending handshakes) as a
 * Portcullis server, with the same refusal lines, {@link ServerStats} and rule hits, and {@link
 * #updatePolicy} live.
 *
 * <pre>{@code
 * Server server = new Server();
 * ServerConnector connector = new ServerConnector(server);
 * connector.setPort(8080);
 * server.addConnector(connector);
 * JettyGuard guard = JettyGuard.attach(connector, AccessPolicy.parse("allow 10.0.0.0/8"));
 * server.start();
 * }</pre>
 *
 * <p><b>Where it decides.</b> Each connection is decided on its socket peer in the connector's
 * {@link SelectorManager.AcceptListener#onAccepting}, on the thread that accepted it, right after
 * {@code accept(2)} and before Jetty registers it with a selector: a refused connection is closed
 * there, so Jetty makes no endpoint and no connection for it and no byte of it is read. That is
 * earlier than a {@link ConnectionFactory} (which Jetty asks once the endpoint exists) or a {@link
 * Connection.Listener}. An admitted connection is released when Jetty closes its socket.
 *
 * <p><b>Behind a proxy.</b> With Jetty's own {@link ProxyConnectionFactory} on the connector, name
 * the proxies trusted to send the PROXY header ({@link Builder#trustedProxies}); the relayed client
 * is then what the policy, the penalty box and the per-source limits decide, in a connection factory
 * the guard puts right after the PROXY one, before the next protocol (HTTP) makes its connection. A
 * PROXY header from any other peer is refused as a handshake failure, since Jetty's factory would
 * take it from anyone. Until the header is read the connection counts as a pending handshake (under
 * the cap, evicted oldest first, {@link Builder#handshakeTimeout} at most); a connection with no
 * header is decided on its socket peer, as Jetty's factory passes it on unchanged.
 *
 * <pre>{@code
 * ServerConnector connector = new ServerConnector(server, new ProxyConnectionFactory(),
 *     new HttpConnectionFactory());
 * JettyGuard guard = JettyGuard.builder(policy).trustedProxies("10.0.0.1/32").attach(connector);
 * }</pre>
 *
 * <p><b>What it cannot do.</b> It runs in the JVM, after the kernel completed the TCP handshake:
 * a denied peer costs an {@code accept} and a close (put {@code dev.portcullis.jna.KernelGuard} on
 * {@code connector.getTransport()} to drop it in the kernel, before the handshake). It decides
 * connections, not requests: what a request carries (a header such as {@code X-Forwarded-For}, a
 * token) is the application's to judge; it can report an offence to the penalty box through {@link
 * #chain()}. It guards the connectors it is attached to, each with its own chain unless they are
 * given the same one.
 *
 * <p>Attach it before the connector starts. Thread-safe.
 */
public final class JettyGuard implements AdapterServerView.Guard {
  /** The protocol name of the guard's connection factory, after a PROXY protocol factory. */
  public static final String PROTOCOL = "portcullis";
  /** The step name in refusal lines for the PROXY header read by Jetty. */
  static final String STEP = "proxy (Jetty)";

  private static final Logger log = LoggerFactory.getLogger(JettyGuard.class);

  private final AdmissionChain chain;
  private final ServerConnector connector;
  private final List<Cidr> trustedProxies;
  /** The trusted proxies as a policy, to decide a socket peer on; null when none. */
  private final AccessPolicy trusted;
  /** Whether a PROXY factory reads a header on this connector (then each connection is a pending handshake). */
  private final boolean proxyStep;
  private final Duration handshakeTimeout;
  /** The connections let in and not released yet, by their socket. */
  private final Map<SelectableChannel, Admitted> admitted = new ConcurrentHashMap<>();
  private final List<Consumer<AccessPolicy>> policyListeners = new CopyOnWriteArrayList<>();
  private final List<dev.portcullis.ConnectionListener> connectionListeners = new CopyOnWriteArrayList<>();

  private JettyGuard(ServerConnector connector, AdmissionChain chain, List<Cidr> trustedProxies,
      Duration handshakeTimeout) {
    this.connector = connector;
    this.chain = chain;
    this.trustedProxies = List.copyOf(trustedProxies);
    List<dev.portcullis.policy.Rule> rules = new ArrayList<>();
    for (Cidr c : trustedProxies) {
      rules.add(dev.portcullis.policy.Rule.allow(c));
    }
    this.trusted = rules.isEmpty() ? null : AccessPolicy.of(rules);
    this.handshakeTimeout = handshakeTimeout;
    this.proxyStep = connector.getConnectionFactory(ProxyConnectionFactory.class) != null;
  }

  /**
   * Guards {@code connector} with {@code policy} (its limits included), without a penalty box.
   *
   * @param connector a connector that has not started
   * @param policy the access policy
   * @return the guard
   * @throws IllegalStateException if the connector has started, or already has a guard
   * @throws IllegalArgumentException if the connector has a {@link ProxyConnectionFactory} (use
   *     {@link #builder} and name the trusted proxies)
   */
  public static JettyGuard attach(ServerConnector connector, AccessPolicy policy) {
    return builder(policy).attach(connector);
  }

  /**
   * Guards {@code connector} with a chain built elsewhere (for example to share its counters, its
   * penalty box or its bans with other listeners). The chain must relay from no one ({@code
   * AdmissionChain.Builder.relaysFrom} not set): behind a PROXY protocol factory, use {@link
   * #builder}.
   *
   * @param connector a connector that has not started
   * @param chain the admission chain
   * @return the guard
   * @throws IllegalStateException if the connector has started, or already has a guard
   * @throws IllegalArgumentException if the connector has a {@link ProxyConnectionFactory}
   */
  public static JettyGuard attach(ServerConnector connector, AdmissionChain chain) {
    return install(new JettyGuard(Objects.requireNonNull(connector, "connector"), Objects.requireNonNull(chain, "chain"),
        List.of(), Duration.ofSeconds(10)));
  }

  /**
   * A builder for a guard with its own chain: the policy, and optionally limits, a penalty box and
   * trusted proxies.
   *
   * @param policy the access policy
   * @return a new builder
   */
  public static Builder builder(AccessPolicy policy) {
    return new Builder(Objects.requireNonNull(policy, "policy"));
  }

  private static JettyGuard install(JettyGuard guard) {
    ServerConnector connector = guard.connector;
    if (!connector.isStopped()) {
      throw new IllegalStateException("Attach the guard before the connector starts (it is " + connector.getState()
          + "): a connection accepted before would not be decided");
    }
    if (connector.getConnectionFactory(PROTOCOL) != null
        || !connector.getSelectorManager().getEventListeners().stream().noneMatch(l -> l instanceof AcceptGate)) {
      throw new IllegalStateException("The connector " + connector + " already has a Portcullis guard");
    }
    if (guard.proxyStep) {
      if (guard.trusted == null) {
        throw new IllegalArgumentException("The connector has Jetty's ProxyConnectionFactory, which takes a PROXY header"
            + " from any peer: name the proxies trusted to send it, JettyGuard.builder(policy).trustedProxies(...)");
      }
      guard.putFactoryAfterProxy();
    } else if (guard.trusted != null) {
      throw new IllegalArgumentException("trustedProxies " + guard.trustedProxies + " given, but the connector has no"
          + " ProxyConnectionFactory to read their PROXY header: add new ProxyConnectionFactory() first in its list");
    }
    connector.getSelectorManager().addEventListener(guard.new AcceptGate());
    connector.addEventListener(guard.new EndPoints());
    connector.addEventListener(guard.new Housekeeping());
    return guard;
  }

  /**
   * Puts the guard's factory right after the PROXY one, and a PROXY factory of its own in place of
   * the connector's (same maximum header size), whose next protocol is found in the list: so both
   * a parsed header and its absence lead to the guard's factory.
   */
  private void putFactoryAfterProxy() {
    List<ConnectionFactory> factories = new ArrayList<>(connector.getConnectionFactories());
    String defaultProtocol = connector.getDefaultProtocol();
    List<ConnectionFactory> out = new ArrayList<>();
    String proxyProtocol = null;
    for (int i = 0; i < factories.size(); i++) {
      ConnectionFactory f = factories.get(i);
      if (f instanceof ProxyConnectionFactory p && proxyProtocol == null) {
        ProxyConnectionFactory own = new ProxyConnectionFactory();
        own.setMaxProxyHeader(p.getMaxProxyHeader());
        proxyProtocol = own.getProtocol();
        out.add(own);
        if (i + 1 >= factories.size()) {
          throw new IllegalArgumentException("The connector's ProxyConnectionFactory is last in its list "
              + connector.getProtocols() + ": no protocol follows it");
        }
        out.add(new RelayedClientFactory(this, factories.get(i + 1).getProtocol()));
      } else {
        out.add(f);
      }
    }
    connector.setConnectionFactories(out);
    connector.setDefaultProtocol(defaultProtocol);
  }

  // ---- what the connector tells the guard ----

  /** Decides each accepted socket before Jetty registers it; releases it when Jetty closes it. */
  private final class AcceptGate implements SelectorManager.AcceptListener {
    @Override
    public void onAccepting(SelectableChannel channel) {
      if (!(channel instanceof SocketChannel socket)) {
        return;
      }
      InetSocketAddress peer;
      try {
        peer = (InetSocketAddress) socket.getRemoteAddress();
      } catch (IOException | RuntimeException e) {
        log.debug("Closing a connection whose peer cannot be read: {}", e.toString());
        Admitted.closeQuietly(socket);
        return;
      }
      if (peer == null || peer.getAddress() == null) {
        Admitted.closeQuietly(socket); // the peer already left
        return;
      }
      if (chain.admit(peer.getAddress()).refused()) {
        // Closed here, Jetty's registration fails on a closed channel: no endpoint, no connection, no read.
        Admitted.closeQuietly(socket);
        return;
      }
      Admitted a = new Admitted(socket, peer);
      admitted.put(socket, a);
      if (!proxyStep) {
        chain.counters().handled.incrementAndGet();
        return;
      }
      PendingHandshake h = chain.pendingHandshake(socket, peer, null, a::close);
      a.pending = h;
      if (chain.beginHandshake(h).refused()) {
        a.endHandshake();
        release(socket);
        Admitted.closeQuietly(socket);
        return;
      }
      try {
        a.timeout = connector.getScheduler().schedule(() -> timedOut(a), handshakeTimeout.toNanos(),
            TimeUnit.NANOSECONDS);
      } catch (RuntimeException e) { // the scheduler is stopping: the connector closes its sockets
        log.debug("No deadline for the PROXY header of {}: {}", peer, e.toString());
      }
    }

    @Override
    public void onAcceptFailed(SelectableChannel channel, Throwable cause) {
      release(channel);
    }

    @Override
    public void onClosed(SelectableChannel channel) {
      release(channel);
    }
  }

  /** Learns each admitted socket's endpoint, so that an eviction or a deadline closes it as Jetty expects. */
  private final class EndPoints implements Connection.Listener {
    @Override
    public void onOpened(Connection connection) {
      Admitted a = admitted.get(connection.getEndPoint().getTransport());
      if (a != null && a.endPoint == null) {
        a.endPoint = connection.getEndPoint();
      }
    }
  }

  /** Sweeps the penalty box once a second while the connector runs. */
  private final class Housekeeping implements LifeCycle.Listener {
    private final AtomicBoolean running = new AtomicBoolean();

    @Override
    public void lifeCycleStarted(LifeCycle event) {
      if (chain.hasPenaltyBox() && running.compareAndSet(false, true)) {
        sweepLater();
      }
    }

    @Override
    public void lifeCycleStopping(LifeCycle event) {
      running.set(false);
    }

    private void sweepLater() {
      try {
        connector.getScheduler().schedule(() -> {
          if (running.get()) {
            chain.sweepPenalties();
            sweepLater();
          }
        }, 1, TimeUnit.SECONDS);
      } catch (RuntimeException e) {
        running.set(false); // the scheduler stopped
      }
    }
  }

  /** The PROXY header did not come in time: a handshake timeout, and the connection closed. */
  private void timedOut(Admitted a) {
    if (a.endHandshake()) {
      chain.handshakeFailed(a.pending, null, STEP, null, true);
      a.close();
    }
  }

  /**
   * The connection factory after the PROXY one decides: {@code endPointPeer} is the client the
   * header named, or the socket peer when there was none.
   *
   * @return whether to hand the connection on to the next protocol
   */
  boolean decideRelayed(SocketChannel socket, SocketAddress endPointPeer, boolean headerRead) {
    Admitted a = admitted.get(socket);
    if (a == null || !a.endHandshake()) {
      return false; // closed, timed out or evicted meanwhile: its outcome is counted
    }
    boolean fromTrusted = trusted != null && trusted.decide(a.socketPeer.getAddress()).isAllowed();
    if (headerRead && !fromTrusted) {
      chain.handshakeFailed(a.pending, null, STEP, "a PROXY header from a peer not trusted to relay", false);
      return false;
    }
    InetSocketAddress replaced = null;
    if (headerRead && endPointPeer instanceof InetSocketAddress relayed && relayed.getAddress() != null
        && !relayed.equals(a.socketPeer)) {
      replaced = relayed;
    }
    Refusal r = chain.afterHandshake(a.pending, replaced);
    if (r.refused()) {
      return false;
    }
    chain.counters().handled.incrementAndGet();
    return true;
  }

  private void release(Object channel) {
    Admitted a = admitted.remove(channel);
    if (a == null || !a.release()) {
      return;
    }
    if (a.pending != null && a.endHandshake()) {
      // Closed before the relayed client was decided (the peer left, or Jetty gave up): a failed handshake.
      chain.handshakeFailed(a.pending, null, STEP, "closed before the PROXY header was read", false);
    }
    chain.released(a.channel, a.socketPeer, null);
    if (!connectionListeners.isEmpty()) {
      Duration open = Duration.ofNanos(System.nanoTime() - a.since);
      for (dev.portcullis.ConnectionListener l : connectionListeners) {
        try {
          l.closed(open);
        } catch (RuntimeException e) {
          log.warn("A connection listener failed", e);
        }
      }
    }
  }

  // ---- the guard's state ----

  /**
   * The admission chain this guard runs: its counters, penalty box, shadow policy, bans.
   *
   * @return the chain
   */
  public AdmissionChain chain() {
    return chain;
  }

  /**
   * The connector it guards.
   *
   * @return the connector
   */
  public ServerConnector connector() {
    return connector;
  }

  /**
   * The proxies trusted to send a PROXY header.
   *
   * @return the ranges; empty if none
   */
  public List<Cidr> trustedProxies() {
    return trustedProxies;
  }

  /**
   * The policy in force.
   *
   * @return the policy
   */
  public AccessPolicy policy() {
    return chain.policy();
  }

  /**
   * Replaces the policy (and puts its limits in force): connections accepted from now on are
   * decided by it; open ones stay open. Then each policy listener is told.
   *
   * @param policy the new policy
   * @throws IllegalArgumentException as {@link AdmissionChain#updatePolicy}; the old policy stays
   */
  public void updatePolicy(AccessPolicy policy) {
    chain.updatePolicy(policy);
    for (Consumer<AccessPolicy> l : policyListeners) {
      try {
        l.accept(policy);
      } catch (RuntimeException e) {
        log.warn("A policy listener failed", e);
      }
    }
  }

  /**
   * Tells {@code listener} of every policy {@link #updatePolicy} puts in place, after it is in force.
   *
   * @param listener what to tell
   */
  public void addPolicyListener(Consumer<AccessPolicy> listener) {
    policyListeners.add(Objects.requireNonNull(listener, "listener"));
  }

  /**
   * Tells {@code listener} how long each connection let in stayed open, when Jetty closes it.
   *
   * @param listener what to tell; quick, it runs on Jetty's threads
   */
  public void addConnectionListener(dev.portcullis.ConnectionListener listener) {
    connectionListeners.add(Objects.requireNonNull(listener, "listener"));
  }

  /**
   * Sets a shadow policy, decided beside the live one for every peer; what it would change is
   * counted ({@link #shadowStats}) and logged on {@code dev.portcullis.shadow}.
   *
   * @param candidate the candidate policy
   */
  public void shadow(AccessPolicy candidate) {
    chain.shadow(Objects.requireNonNull(candidate, "candidate"));
  }

  /**
   * What the shadow policy would have changed so far, if one is set.
   *
   * @return its counters
   */
  public java.util.Optional<dev.portcullis.ShadowStats> shadowStats() {
    return chain.shadowStats();
  }

  /**
   * Puts the shadow policy in force ({@link #updatePolicy}) and drops the shadow.
   *
   * @return what it would have changed until now; empty if there was no shadow
   */
  public synchronized java.util.Optional<dev.portcullis.ShadowStats> promote() {
    java.util.Optional<AccessPolicy> candidate = chain.shadowPolicy();
    java.util.Optional<dev.portcullis.ShadowStats> counted = chain.shadowStats();
    if (candidate.isEmpty() || counted.isEmpty()) {
      return java.util.Optional.empty();
    }
    updatePolicy(candidate.get());
    chain.shadow(null);
    return counted;
  }

  /** Drops the shadow policy; the live one stays. */
  public void clearShadow() {
    chain.shadow(null);
  }

  /**
   * This guard as a {@link dev.portcullis.RunningServer}, for what reads a server's counters, such as
   * the Micrometer binder: {@code new PortcullisMetrics(guard.asRunningServer()).bindTo(registry)}.
   * Its address is the connector's once it is open. Stopping is Jetty's: {@code close}, {@code
   * shutdown} and {@code awaitTermination} throw {@link UnsupportedOperationException}.
   *
   * @return a view of this guard
   */
  public dev.portcullis.RunningServer asRunningServer() {
    return new ServerView(this);
  }

  /**
   * The counters, as a Portcullis server reports them ({@code handled} counts the connections handed
   * to Jetty's protocol; the kernel filter mode is {@link KernelFilterMode#OFF}: a kernel guard on the
   * connector's socket reports its own).
   *
   * @return a snapshot
   */
  public ServerStats stats() {
    return chain.stats(KernelFilterMode.OFF);
  }

  /**
   * Hits per rule of the policy in force, as {@code RunningServer.ruleHits()}.
   *
   * @return a new map
   */
  public Map<String, Long> ruleHits() {
    return chain.ruleHits();
  }

  /**
   * The live hit counters of the policy in force.
   *
   * @return the counters
   */
  public RuleHits currentRuleHits() {
    return chain.ruleHitCounters();
  }

  /**
   * The current bans of the penalty box, the soonest to end first.
   *
   * @return the bans; empty without a penalty box
   */
  public List<Penalty> penalties() {
    return chain.penalties();
  }

  /**
   * Lifts the ban of {@code address}'s source.
   *
   * @param address an IP address literal
   * @return whether it was banned
   * @throws IllegalArgumentException if {@code address} is not an IP address literal
   * @throws IllegalStateException without a penalty box
   */
  public boolean liftPenalty(String address) {
    if (!chain.hasPenaltyBox()) {
      throw new IllegalStateException(connector + " has no penalty box (JettyGuard.builder(policy).penalties(...))");
    }
    boolean lifted = chain.liftPenalty(IpAddresses.parse(address));
    if (lifted) {
      log.info("Penalty of {} on {} lifted", address, connector);
    }
    return lifted;
  }

  /**
   * The application says that the client of {@code request} misbehaved (a bad login, a bad token):
   * {@link AdmissionChain#reportOffence} on the request's remote address, which behind a trusted
   * proxy is the client the PROXY header named. Once its offences reach the penalty box's threshold
   * it is refused at accept (and in the kernel, with {@link #onDirectBansChanged}).
   *
   * <pre>{@code
   * if (!passwords.check(user, password)) {
   *   guard.reportOffence(request, 1, "bad login");
   *   Response.writeError(request, response, callback, 401);
   * }
   * }</pre>
   *
   * @param request the request whose client offended
   * @param weight how many offences it counts as, at least 1
   * @param reason why, for the log line
   * @return true if this offence banned the client
   * @throws IllegalStateException without a penalty box, or if the request has no IP peer
   * @throws IllegalArgumentException as {@link AdmissionChain#reportOffence}
   */
  public boolean reportOffence(org.eclipse.jetty.server.Request request, int weight, String reason) {
    SocketAddress remote = request.getConnectionMetaData().getRemoteSocketAddress();
    if (!(remote instanceof InetSocketAddress ip) || ip.getAddress() == null) {
      throw new IllegalStateException("reportOffence: the request's peer " + remote + " is not an IP address");
    }
    return chain.reportOffence(ip.getAddress(), weight, reason);
  }

  /**
   * Hands the penalty box's bans of direct peers to {@code sink} whenever they change (the whole
   * list each time, at most one call at a time, on the connector's executor; a burst of changes is
   * one call): what a kernel guard on the same socket drops, {@code guard.onDirectBansChanged(
   * kernelGuard::updateBans)}. Nothing without a penalty box.
   *
   * @param sink what takes the list
   * @return this guard
   */
  public JettyGuard onDirectBansChanged(Consumer<List<Cidr>> sink) {
    Objects.requireNonNull(sink, "sink");
    AtomicBoolean pending = new AtomicBoolean();
    chain.onBansChanged(() -> {
      if (pending.compareAndSet(false, true)) {
        connector.getExecutor().execute(() -> {
          pending.set(false);
          try {
            sink.accept(chain.directBans());
          } catch (RuntimeException e) {
            log.warn("Could not hand the penalty box's bans on", e);
          }
        });
      }
    });
    return this;
  }

  @Override
  public String toString() {
    return "JettyGuard[" + connector + ", " + chain.policy().rules().size() + " rules"
        + (trustedProxies.isEmpty() ? "" : ", proxies " + trustedProxies) + "]";
  }

  /**
   * The settings of a guard with a chain of its own: the policy, its limits and penalty box, and
   * the proxies trusted to send a PROXY header.
   */
  public static final class Builder {
    private final AccessPolicy policy;
    private Limits limits = Limits.NONE;
    private Penalties penalties;
    private List<Cidr> trustedProxies = List.of();
    private Duration handshakeTimeout = Duration.ofSeconds(10);

    private Builder(AccessPolicy policy) {
      this.policy = policy;
    }

    /**
     * Limits over the policy's (where set they win, after {@link #updatePolicy} too). Default
     * {@link Limits#NONE}: the policy's limits.
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
     * @param penalties the settings
     * @return this builder
     */
    public Builder penalties(Penalties penalties) {
      this.penalties = Objects.requireNonNull(penalties, "penalties");
      return this;
    }

    /**
     * The proxies trusted to send a PROXY header to the connector's {@link ProxyConnectionFactory}:
     * behind them the relayed client is decided and counted. Default: none (then the connector must
     * have no PROXY factory).
     *
     * @param ranges CIDR ranges or addresses, such as {@code "10.0.0.1/32"}
     * @return this builder
     * @throws IllegalArgumentException if a range does not parse (the message quotes it)
     */
    public Builder trustedProxies(String... ranges) {
      List<Cidr> out = new ArrayList<>();
      for (String r : ranges) {
        out.add(Cidr.parse(Objects.requireNonNull(r, "range")));
      }
      this.trustedProxies = List.copyOf(out);
      return this;
    }

    /**
     * How long a connection may take to send its PROXY header before it is closed as a handshake
     * timeout. Default 10 s.
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
     * Builds the chain and guards {@code connector} with it.
     *
     * @param connector a connector that has not started
     * @return the guard
     * @throws IllegalStateException if the connector has started, or already has a guard
     * @throws IllegalArgumentException if the connector has a {@link ProxyConnectionFactory} and no
     *     proxy is trusted, or proxies are trusted and it has none, or the new chain's settings
     *     conflict (per-source limits behind a proxy trusted from everywhere)
     */
    public JettyGuard attach(ServerConnector connector) {
      Objects.requireNonNull(connector, "connector");
      AdmissionChain chain = AdmissionChain.builder().policy(policy).limits(limits).penalties(penalties)
          .relaysFrom(trustedProxies).handshakeTimeout(handshakeTimeout).build();
      return install(new JettyGuard(connector, chain, trustedProxies, handshakeTimeout));
    }
  }
}
