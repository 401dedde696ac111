package dev.portcullis.netty;

import dev.portcullis.ConnectionListener;
import dev.portcullis.spi.KernelFilterMode;
import dev.portcullis.Penalty;
import dev.portcullis.RuleHits;
import dev.portcullis.RunningServer;
import dev.portcullis.ServerStats;
import dev.portcullis.ShadowStats;
import dev.portcullis.admission.AdapterServerView;
import dev.portcullis.admission.AdmissionChain;
import dev.portcullis.handshake.proxy.ProxyProtocol;
import dev.portcullis.policy.AccessPolicy;
import dev.portcullis.policy.IpAddresses;
import dev.portcullis.policy.Limits;
import dev.portcullis.policy.Penalties;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelInitializer;
import io.netty.util.AttributeKey;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Portcullis in front of a Netty server: the access policy (and a shadow policy), the penalty box,
 * the limits per source and rate, and optionally the PROXY protocol from trusted proxies, decided
 * on every child channel before the application's handlers see it, with the same refusal lines
 * ({@code dev.portcullis.refusals}), {@link ServerStats} and rule hits as a Portcullis server.
 *
 * <pre>{@code
 * PortcullisNetty guard = PortcullisNetty.builder(AccessPolicy.parse("allow 10.0.0.0/8"))
 *     .limits(Limits.NONE.withMaxPerSource(20))
 *     .penalties(Penalties.after(5, Duration.ofMinutes(1)))
 *     .build();
 * new ServerBootstrap().group(boss, workers).channel(NioServerSocketChannel.class)
 *     .handler(guard.serverHandler())                 // the one line
 *     .childHandler(new ChannelInitializer<SocketChannel>() {
 *       protected void initChannel(SocketChannel ch) {
 *         ch.pipeline().addLast(new HttpServerCodec(), new MyHandler());
 *       }
 *     });
 * }</pre>
 *
 * <p>What happens to a child channel:
 *
 * <ul>
 *   <li>When the server channel accepts it, and before the bootstrap registers it with an event
 *       loop or runs the child handler, {@link #serverHandler()} has the chain decide on the
 *       socket's peer: policy, then penalty box, then limits. A refused channel is closed there: the
 *       application's child handler is never called for it and no event of it fires. An admitted
 *       one goes on as if the guard were not there.
 *   <li>Or, with {@link #handler()} first in the child pipeline instead (the other one line), the
 *       chain decides when the channel is registered (an accepted channel is connected by then, and
 *       Netty has read nothing from it yet). A refused channel is closed there; the handlers after
 *       {@link #handler()} see none of its events: not {@code channelRegistered}, {@code
 *       channelActive}, any byte, nor its {@code channelInactive}. An admitted one goes on, and the
 *       guard leaves its pipeline. This costs a refused channel its registration and pipeline,
 *       which {@link #serverHandler()} spares.
 *   <li>With {@link Builder#proxyProtocol}, a channel from a trusted proxy reads its PROXY header
 *       (v1 or v2, through Netty's {@code HAProxyMessageDecoder}) and the chain decides again on
 *       the client it names (policy, penalty box, per-source limits); the application's handlers
 *       see {@code channelActive} and the first byte after the header only once that client is
 *       admitted, and {@link #CLIENT} names it. A header from any other peer is never honoured:
 *       without {@link ProxyProtocol#optional()} its connection is closed, with it its bytes are
 *       the application's data. A missing or malformed header, or none within {@link
 *       Builder#handshakeTimeout}, closes the connection and counts an offence.
 *   <li>When an admitted channel closes, its slots are freed.
 * </ul>
 *
 * <p>Give {@link #serverHandler()} to {@code ServerBootstrap.handler}; or add {@link #handler()}
 * first in the pipeline of each child channel ({@code addFirst}), or wrap the application's
 * initializer with {@link #childHandler}. Either decides on the peer of the socket Netty accepted:
 * behind a proxy that does not send the PROXY protocol, that is the proxy.
 *
 * <p>Penalties expire on a daemon thread of the guard's ({@code portcullis-netty-penalties}),
 * stopped by {@link #close()}; {@link #close()} also unregisters the JMX bean. It does not touch the
 * Netty server, which stays the application's to run and close.
 */
public final class PortcullisNetty implements AutoCloseable, AdapterServerView.Guard {
  /**
   * On an admitted child channel: the client the chain decided on, the one a trusted proxy's
   * header named, else the socket's peer.
   */
  public static final AttributeKey<InetSocketAddress> CLIENT = AttributeKey.valueOf(PortcullisNetty.class, "client");

  private static final Logger log = LoggerFactory.getLogger(PortcullisNetty.class);

  private final AdmissionChain chain;
  private final ProxyProtocol proxy;
  private final Duration handshakeTimeout;
  private final Gate gate;
  private final AcceptGate acceptGate;
  private final List<ConnectionListener> connectionListeners = new CopyOnWriteArrayList<>();
  private final List<Consumer<AccessPolicy>> policyListeners = new CopyOnWriteArrayList<>();
  private final ScheduledThreadPoolExecutor housekeeping;
  private final Jmx jmx = new Jmx(this);

  private PortcullisNetty(Builder b) {
    this.proxy = b.proxy;
    this.handshakeTimeout = b.handshakeTimeout;
    AdmissionChain.Builder cb = AdmissionChain.builder().policy(b.policy).limits(b.limits).penalties(b.penalties)
        .handshakeTimeout(b.handshakeTimeout);
    if (b.proxy != null) {
      cb.relaysFrom(b.proxy.relaysFrom());
    }
    this.chain = cb.build();
    this.gate = new Gate(this);
    this.acceptGate = new AcceptGate(gate);
    if (chain.hasPenaltyBox()) {
      housekeeping = new ScheduledThreadPoolExecutor(1, r -> {
        Thread t = new Thread(r, "portcullis-netty-penalties");
        t.setDaemon(true);
        return t;
      });
      housekeeping.setRemoveOnCancelPolicy(true);
      housekeeping.scheduleAtFixedRate(chain::sweepPenalties, 1, 1, TimeUnit.SECONDS);
    } else {
      housekeeping = null;
    }
  }

  /**
   * A guard deciding by {@code policy} alone (its own limits apply), without a penalty box or the
   * PROXY protocol: {@code builder(policy).build()}.
   *
   * @param policy the access policy
   * @return the guard
   */
  public static PortcullisNetty guard(AccessPolicy policy) {
    return builder(policy).build();
  }

  /**
   * A builder for a guard deciding by {@code policy}.
   *
   * @param policy the access policy (its limits apply, under those of {@link Builder#limits})
   * @return a new builder
   */
  public static Builder builder(AccessPolicy policy) {
    return new Builder(Objects.requireNonNull(policy, "policy"));
  }

  /**
   * The handler to add first in each child channel's pipeline: it decides when the channel is
   * registered. {@link #serverHandler()} decides earlier, and costs a refused channel less. One
   * instance, {@link ChannelHandler.Sharable shared} by every channel.
   *
   * @return the handler
   */
  public ChannelHandler handler() {
    return gate;
  }

  /**
   * The handler for the server channel ({@code ServerBootstrap.handler}): it decides on each child
   * channel the server channel accepts before the bootstrap sets it up, so a refused one is closed
   * before it is registered with an event loop, before the child handler runs, and before any
   * event fires: the cheapest place to refuse (no pipeline, no registration, no event). The
   * application's child handler is never called for a refused channel; an admitted one reaches it
   * as usual, with {@link #CLIENT} set (and, with {@link Builder#proxyProtocol}, {@link #handler()}
   * first in its pipeline, which runs the PROXY stages). Nothing else is needed in the child
   * pipeline; adding {@link #handler()} there too does no harm (it sees the channel decided and
   * steps aside).
   *
   * <pre>{@code
   * new ServerBootstrap().group(boss, workers).channel(EpollServerSocketChannel.class)
   *     .handler(guard.serverHandler())              // the one line
   *     .childHandler(new MyInitializer());
   * }</pre>
   *
   * <p>If the server channel has handlers of its own, add this one first: {@code
   * serverChannel.pipeline().addFirst(guard.serverHandler())} (it must come before the bootstrap's
   * acceptor, which the bootstrap adds last). Added to a child channel's pipeline instead, it
   * closes that channel and throws {@link IllegalStateException} from {@code handlerAdded}. One
   * instance, {@link ChannelHandler.Sharable shared} by every server channel of the guard.
   *
   * @return the handler
   */
  public ChannelHandler serverHandler() {
    return acceptGate;
  }

  /**
   * A child handler for {@code ServerBootstrap.childHandler}: {@link #handler()} first, then the
   * application's {@code initializer} (or any handler).
   *
   * <pre>{@code
   * bootstrap.childHandler(guard.childHandler(new MyInitializer()));
   * }</pre>
   *
   * @param initializer the application's child handler, typically a {@link ChannelInitializer}
   * @return a new initializer
   */
  public ChannelInitializer<Channel> childHandler(ChannelHandler initializer) {
    Objects.requireNonNull(initializer, "initializer");
    return new ChannelInitializer<>() {
      @Override
      protected void initChannel(Channel ch) {
        ch.pipeline().addLast(gate, initializer);
      }
    };
  }

  /**
   * The admission chain this guard runs, for what it offers beyond this class.
   *
   * @return the chain
   */
  public AdmissionChain chain() {
    return chain;
  }

  ProxyProtocol proxy() {
    return proxy;
  }

  Duration handshakeTimeout() {
    return handshakeTimeout;
  }

  void closed(Duration open) {
    for (ConnectionListener l : connectionListeners) {
      l.closed(open);
    }
  }

  /**
   * The policy in force.
   *
   * @return the policy {@link #updatePolicy} last put in place, or the builder's
   */
  public AccessPolicy policy() {
    return chain.policy();
  }

  /**
   * Replaces the policy and puts its limits in force (those of {@link Builder#limits} still win),
   * as {@link RunningServer#updatePolicy} does: channels accepted from now on are decided by it;
   * open ones stay open and counted.
   *
   * @param policy the new policy
   * @throws IllegalArgumentException as {@link AdmissionChain#updatePolicy}; nothing is replaced then
   */
  public void updatePolicy(AccessPolicy policy) {
    chain.updatePolicy(policy);
    log.info("Policy of the Netty guard replaced: {} address rule(s), {} credential rule(s)", policy.rules().size(),
        policy.credentialRules().size());
    for (Consumer<AccessPolicy> l : policyListeners) {
      l.accept(policy);
    }
  }

  /**
   * A snapshot of the counters: what a Portcullis server counts (there is no kernel filter here).
   *
   * @return the counters as of this call
   */
  public ServerStats stats() {
    return chain.stats(KernelFilterMode.OFF);
  }

  /**
   * How often each rule of the policy in force decided (and the penalty box, if any), as {@link
   * RunningServer#ruleHits()}.
   *
   * @return a new map
   */
  public Map<String, Long> ruleHits() {
    return chain.ruleHits();
  }

  /**
   * The current bans, the soonest to end first.
   *
   * @return the bans; empty without a penalty box
   */
  public List<Penalty> penalties() {
    return chain.penalties();
  }

  /**
   * Lifts the ban of the source {@code address} belongs to, as {@link RunningServer#liftPenalty}.
   *
   * @param address an IP address literal
   * @return whether it was banned
   * @throws IllegalStateException without a penalty box
   * @throws IllegalArgumentException if {@code address} is not an IP address literal
   */
  public boolean liftPenalty(String address) {
    if (!chain.hasPenaltyBox()) {
      throw new IllegalStateException("This Netty guard has no penalty box (PortcullisNetty.Builder.penalties)");
    }
    return chain.liftPenalty(IpAddresses.parse(address)); // the chain logs it
  }

  /**
   * The application says that {@code source} misbehaved (a bad login, a bad token): {@code weight}
   * offences counted into the penalty box, which bans the source once they reach its threshold, as
   * {@link AdmissionChain#reportOffence}. Its next connections are refused when registered.
   *
   * <pre>{@code
   * // in a handler: five wrong passwords within the window ban the client
   * InetSocketAddress client = ctx.channel().attr(PortcullisNetty.CLIENT).get();
   * guard.reportOffence(client.getAddress(), 1, "bad login");
   * }</pre>
   *
   * @param source the client's address ({@link #CLIENT} of its channel)
   * @param weight how many offences this counts as, at least 1
   * @param reason why, for the line and the listeners
   * @return true if this offence banned the source
   * @throws IllegalStateException without a penalty box
   * @throws IllegalArgumentException if {@code weight} is less than 1 or {@code reason} is blank
   */
  public boolean reportOffence(java.net.InetAddress source, int weight, String reason) {
    return chain.reportOffence(source, weight, reason);
  }

  /**
   * Bans a whole range for {@code duration}, as {@link AdmissionChain#ban}.
   *
   * @param range the range
   * @param duration how long, positive
   * @param reason why
   * @return the ban in force
   * @throws IllegalStateException without a penalty box, or when it holds as many ranges as it may
   * @throws IllegalArgumentException as {@link AdmissionChain#ban}
   */
  public Penalty ban(dev.portcullis.policy.Cidr range, Duration duration, String reason) {
    return chain.ban(range, duration, reason);
  }

  /**
   * Lifts the ban of exactly {@code range}, as {@link AdmissionChain#lift}.
   *
   * @param range the banned range
   * @param reason why
   * @return true if a ban of it was in force
   * @throws IllegalStateException without a penalty box
   */
  public boolean lift(dev.portcullis.policy.Cidr range, String reason) {
    return chain.lift(range, reason);
  }

  /**
   * Tells {@code listener} of every ban and lift from now on, as {@link
   * AdmissionChain#addPenaltyListener} (a {@code KernelGuard} on the Netty server's socket can
   * follow them, so banned clients are dropped in the kernel).
   *
   * @param listener the listener
   */
  public void addPenaltyListener(dev.portcullis.PenaltyListener listener) {
    chain.addPenaltyListener(listener);
  }

  /**
   * Sets a shadow policy decided beside the live one, as {@link RunningServer#shadow}.
   *
   * @param candidate the candidate policy
   */
  public void shadow(AccessPolicy candidate) {
    chain.shadow(Objects.requireNonNull(candidate, "candidate"));
  }

  /**
   * What the shadow policy would have changed so far.
   *
   * @return its counters, if one is set
   */
  public Optional<ShadowStats> shadowStats() {
    return chain.shadowStats();
  }

  /**
   * Makes the shadow policy live and drops the shadow, as {@link RunningServer#promote}.
   *
   * @return the shadow's counts up to the promotion, or empty without a shadow
   */
  public synchronized Optional<ShadowStats> promote() {
    Optional<AccessPolicy> candidate = chain.shadowPolicy();
    Optional<ShadowStats> counted = chain.shadowStats();
    if (candidate.isEmpty() || counted.isEmpty()) {
      return Optional.empty();
    }
    updatePolicy(candidate.get());
    chain.shadow(null);
    return counted;
  }

  /** Drops the shadow policy, if there is one. */
  public void clearShadow() {
    chain.shadow(null);
  }

  /**
   * Tells {@code listener} how long each channel admitted at accept stayed open, when it
   * closes (on the channel's event loop).
   *
   * @param listener what to tell; quick
   */
  public void addConnectionListener(ConnectionListener listener) {
    connectionListeners.add(Objects.requireNonNull(listener, "listener"));
  }

  /**
   * Tells {@code listener} of each policy {@link #updatePolicy} (or {@link #promote}) puts in
   * force, on the thread that replaced it.
   *
   * @param listener what to tell
   */
  public void addPolicyListener(Consumer<AccessPolicy> listener) {
    policyListeners.add(Objects.requireNonNull(listener, "listener"));
  }

  /**
   * This guard seen as a {@link RunningServer} listening on {@code localAddress}, for what takes
   * one, such as the Micrometer binder ({@code new PortcullisMetrics(guard.asRunningServer(
   * serverChannel.localAddress()))}). Its queries and policy operations are this guard's; its
   * lifecycle ({@code close}, {@code shutdown}, {@code awaitTermination}) throws {@link
   * UnsupportedOperationException}, since the Netty server is the application's to stop.
   *
   * @param localAddress the address the Netty server listens on (its server channel's)
   * @return the view
   */
  public RunningServer asRunningServer(SocketAddress localAddress) {
    return new ServerView(this, Objects.requireNonNull(localAddress, "localAddress"));
  }

  /**
   * Registers the guard's counters as the MBean {@code dev.portcullis:type=Server,address="..."},
   * the {@link dev.portcullis.ServerMXBean} a Portcullis server registers, with the same
   * operations (lift a penalty, promote or clear the shadow). {@link #close()} unregisters it.
   *
   * @param localAddress the address the Netty server listens on, which names the bean
   * @throws IllegalStateException if a bean of that name is registered already, or JMX refuses it
   */
  public void registerMBean(SocketAddress localAddress) {
    jmx.register(Objects.requireNonNull(localAddress, "localAddress"));
  }

  /**
   * Stops the penalty box's housekeeping and unregisters the MBean. The Netty server and its
   * channels are not touched.
   */
  @Override
  public void close() {
    if (housekeeping != null) {
      housekeeping.shutdownNow();
    }
    jmx.unregister();
  }

  @Override
  public String toString() {
    return "PortcullisNetty[" + chain.policy().rules().size() + " address rule(s)"
        + (proxy == null ? "" : ", " + proxy) + "]";
  }

  /** The settings of a {@link PortcullisNetty}. */
  public static final class Builder {
    private final AccessPolicy policy;
    private Limits limits = Limits.NONE;
    private Penalties penalties;
    private ProxyProtocol proxy;
    private Duration handshakeTimeout = Duration.ofSeconds(10);

    private Builder(AccessPolicy policy) {
      this.policy = policy;
    }

    /**
     * Limits over the policy's, as {@code Server.limits}. Default {@link Limits#NONE}.
     *
     * @param limits the limits
     * @return this builder
     */
    public Builder limits(Limits limits) {
      this.limits = Objects.requireNonNull(limits, "limits");
      return this;
    }

    /**
     * A penalty box, as {@code Server.penalties}. Default: none.
     *
     * @param penalties the settings
     * @return this builder
     */
    public Builder penalties(Penalties penalties) {
      this.penalties = Objects.requireNonNull(penalties, "penalties");
      return this;
    }

    /**
     * The PROXY protocol from the proxies {@code proxy} trusts ({@code
     * Handshakes.proxyProtocol().trustedFrom("10.0.0.1/32")}, {@code .optional()} for a mixed
     * port): the client a trusted proxy's header names is decided again and becomes {@link
     * #CLIENT}. Default: none (the socket's peer is the client).
     *
     * @param proxy the step's settings: its trusted proxies and whether a header is optional
     * @return this builder
     * @throws IllegalStateException if it trusts no proxy
     */
    public Builder proxyProtocol(ProxyProtocol proxy) {
      Objects.requireNonNull(proxy, "proxy").validate();
      this.proxy = proxy;
      return this;
    }

    /**
     * How long a trusted proxy has to send its header; a slow one's slot may go to a newcomer
     * after half of it (or a second). Default 10 s.
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
     * The guard.
     *
     * @return a new guard with fresh counters and no bans
     * @throws IllegalArgumentException if the policy's per-source limits would count the clients
     *     of a proxy trusted from everywhere
     */
    public PortcullisNetty build() {
      Limits merged = limits.over(policy.limits());
      if (proxy != null && (merged.maxPerSource() > 0 || merged.ratePerSecond() > 0)) {
        for (dev.portcullis.policy.Cidr c : proxy.trusted()) {
          if (c.prefixLength() == 0) {
            throw new IllegalArgumentException("The per-source limits would count the clients a proxy trusted from "
                + c + " relays, so every peer could name its own source; trust only your proxies' addresses, or"
                + " drop the per-source limits");
          }
        }
      }
      return new PortcullisNetty(this);
    }
  }
}
