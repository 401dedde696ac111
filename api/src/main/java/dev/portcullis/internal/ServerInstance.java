package dev.portcullis.internal;

import dev.portcullis.RunningServer;
import dev.portcullis.ServerSpec;
import dev.portcullis.ServerStats;
import dev.portcullis.admission.AdmissionChain;
import dev.portcullis.admission.Counters;
import dev.portcullis.policy.AccessPolicy;
import dev.portcullis.spi.AcceptCounts;
import dev.portcullis.spi.Endpoint;
import dev.portcullis.spi.KernelFilterMode;
import dev.portcullis.spi.KernelFiltering;
import dev.portcullis.spi.KernelRules;
import dev.portcullis.spi.Listener;
import dev.portcullis.spi.OpenOptions;
import dev.portcullis.spi.Transport;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Executor;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** A started server: its listener, pipeline and, when the user gave none, its own executor. */
public final class ServerInstance implements RunningServer {
  private static final Logger log = LoggerFactory.getLogger(ServerInstance.class);

  private final ServerSpec<?> config;
  private final int eventLoops;
  private final Counters counters = new Counters();
  private final ExecutorService ownedExecutor;
  /** {@code -Dportcullis.handlerThreads=platform}: the JDK 17 path on any JDK, loop carriers included. */
  private final boolean platformAsked = HandlerThreads.platformAsked();
  private final AtomicBoolean closing = new AtomicBoolean();
  private final AtomicBoolean shuttingDown = new AtomicBoolean();
  private final CountDownLatch terminated = new CountDownLatch(1);
  private volatile Listener listener;
  private dev.portcullis.HandlerMode handlerMode;
  // Released once start() has stored the listener (or failed): a loop that stops by itself right
  // away (an inherited connection, decided at once) must not close a half-built server.
  private final CountDownLatch started = new CountDownLatch(1);
  private Pipeline pipeline;

  private ServerInstance(ServerSpec<?> config, int eventLoops) {
    this.config = config;
    this.eventLoops = eventLoops;
    boolean needsExecutor = config.handler().isPresent() && config.executor().isEmpty();
    this.ownedExecutor = needsExecutor ? defaultExecutor(config.endpoint()) : null;
  }

  /**
   * Starts a server from frozen settings on a transport.
   *
   * @param config the settings, already validated by {@code Server.Builder.build()}
   * @param transport an available transport to listen with
   * @param eventLoops how many event loops the transport accepts on, at least 1
   * @return the running server, already accepting
   * @throws IOException if listening fails; nothing stays open then
   */
  public static ServerInstance start(ServerSpec<?> config, Transport transport, int eventLoops) throws IOException {
    ServerInstance s = new ServerInstance(config, eventLoops);
    Executor executor = config.executor().isPresent() ? config.executor().get() : s.ownedExecutor;
    Pipeline pipeline = new Pipeline(config, executor, s.counters, s);
    s.pipeline = pipeline;
    pipeline.onListenerFailure(() -> new Thread(() -> {
      try {
        s.started.await();
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
      if (s.listener != null) {
        s.close();
      }
    }, "portcullis-close").start());
    try {
      Endpoint endpoint = config.endpoint().isPresent() ? config.endpoint().get()
          : Activation.resolve(config.declared().orElseThrow(), System.getenv(), ProcessHandle.current().pid());
      boolean bindAddress = endpoint instanceof Endpoint.Tcp tcp && tcp.bindAddress().isPresent();
      if (endpoint instanceof Endpoint.Tcp tcp) {
        // Before any socket: a bind address names the peers' family; the wildcard is '::', both.
        refuseLockout(config.policy(), new InetSocketAddress(
            tcp.bindAddress().orElse(java.net.InetAddress.getByName("::")), tcp.port()));
      }
      OpenOptions options = config.kernelFilter() && endpoint instanceof Endpoint.Tcp
          ? OpenOptions.none().withKernelFilter(KernelRules.of(config.policy())) : OpenOptions.none();
      s.listener = transport.open(endpoint, eventLoops, pipeline, options);
      // Otherwise the address bound tells: an inherited socket's, or 0.0.0.0 where IPv6 is missing.
      try {
        if (!bindAddress) {
          refuseLockout(config.policy(), s.listener.localAddress());
        }
      } catch (IllegalStateException e) {
        pipeline.closing();
        s.listener.close();
        throw e;
      }
    } catch (IOException | RuntimeException e) {
      if (s.ownedExecutor != null) {
        s.ownedExecutor.shutdownNow();
      }
      throw e;
    } finally {
      s.started.countDown();
    }
    s.handlerMode = s.chooseHandlerMode(pipeline);
    s.registerMBean();
    s.startPenaltyHousekeeping();
    int loops = s.acceptedPerLoop().length;
    log.info("Listening on {} ({}, {}, {}, {}, transport {})", where(s.listener.localAddress()),
        count(config.policy().rules().size(), "address rule"),
        count(config.policy().credentialRules().size(), "credential rule"),
        count(config.handshakes().size(), "handshake step"),
        count(loops > 0 ? loops : eventLoops, "event loop"), transport.name());
    log.debug("Handlers of {} run in mode {}", where(s.listener.localAddress()), s.handlerMode);
    return s;
  }

  /**
   * The server's own executor runs blocking handlers on the loops' carriers when the transport
   * offers it (it logs what to add when it could but may not), else on {@link HandlerThreads}.
   */
  private dev.portcullis.HandlerMode chooseHandlerMode(Pipeline pipeline) {
    if (config.loopHandler().isPresent()) {
      return dev.portcullis.HandlerMode.ON_LOOP;
    }
    if (config.executor().isPresent()) {
      return dev.portcullis.HandlerMode.EXECUTOR;
    }
    if (platformAsked) {
      return dev.portcullis.HandlerMode.PLATFORM;
    }
    if (listener.loopCarriedExecutors()) {
      pipeline.useLoopCarriers();
      return dev.portcullis.HandlerMode.LOOP_CARRIER;
    }
    return HandlerThreads.VIRTUAL ? dev.portcullis.HandlerMode.VIRTUAL : dev.portcullis.HandlerMode.PLATFORM;
  }

  @Override
  public dev.portcullis.HandlerMode handlerMode() {
    return handlerMode;
  }

  /** {@code 1 address rule}, {@code 2 address rules}. */
  static String count(int n, String noun) {
    return n + " " + noun + (n == 1 ? "" : "s");
  }

  /** An address as people write it: {@code 127.0.0.1:7000}, {@code [::]:7000}, a socket path, {@code @name}. */
  static String where(java.net.SocketAddress address) {
    return dev.portcullis.policy.IpAddresses.format(address);
  }

  /** Made before the socket is bound: its threads read the port when they are made. */
  private ExecutorService defaultExecutor(java.util.Optional<Endpoint> endpoint) {
    int declared = endpoint.orElse(null) instanceof Endpoint.Tcp tcp ? tcp.port() : 0;
    return HandlerThreads.newDefault(() -> {
      Listener bound = listener;
      return bound != null ? port(bound.localAddress()) : declared;
    }, platformAsked);
  }

  @Override
  public SocketAddress localAddress() {
    return listener.localAddress();
  }

  @Override
  public AccessPolicy policy() {
    return pipeline.chain().policy(); // the one in force: updatePolicy replaces it
  }

  @Override
  public ServerStats stats() {
    return pipeline.chain().stats(!kernelFilterAsked() ? KernelFilterMode.OFF
        : kernelFiltering().map(KernelFiltering::mode).orElse(KernelFilterMode.USER_SPACE));
  }

  @Override
  public long[] acceptedPerLoop() {
    return listener.capability(AcceptCounts.class).map(AcceptCounts::acceptedPerLoop).orElseGet(() -> new long[0]);
  }

  @Override
  public java.util.Map<String, Integer> handshakesInProgress() {
    return pipeline.handshakesByStep();
  }

  @Override
  public void addConnectionListener(dev.portcullis.ConnectionListener listener) {
    pipeline.addListener(listener);
  }

  @Override
  public void shadow(dev.portcullis.policy.AccessPolicy candidate) {
    java.util.Objects.requireNonNull(candidate, "candidate");
    checkReplaceable(candidate);
    pipeline.chain().shadow(candidate);
    log.info("Shadowing a candidate policy on {}: {} address rule(s), {} credential rule(s); flips are logged on"
        + " dev.portcullis.shadow", where(listener.localAddress()), candidate.rules().size(),
        candidate.credentialRules().size());
  }

  @Override
  public java.util.Optional<dev.portcullis.ShadowStats> shadowStats() {
    return pipeline.chain().shadowStats();
  }

  @Override
  public synchronized java.util.Optional<dev.portcullis.ShadowStats> promote() {
    AdmissionChain chain = pipeline.chain();
    java.util.Optional<AccessPolicy> candidate = chain.shadowPolicy();
    java.util.Optional<dev.portcullis.ShadowStats> counted = chain.shadowStats();
    if (candidate.isEmpty() || counted.isEmpty()) {
      return java.util.Optional.empty();
    }
    updatePolicy(candidate.get());
    chain.shadow(null);
    dev.portcullis.ShadowStats stats = counted.get();
    log.info("Promoted the shadow policy of {} after {} decisions: {} would have been allowed, {} denied",
        where(listener.localAddress()), stats.decided(), stats.wouldAllow(), stats.wouldDeny());
    return java.util.Optional.of(stats);
  }

  @Override
  public void clearShadow() {
    pipeline.chain().shadow(null);
  }

  @Override
  public java.util.List<dev.portcullis.Penalty> penalties() {
    return pipeline.chain().penalties();
  }

  @Override
  public boolean liftPenalty(String address) {
    AdmissionChain chain = pipeline.chain();
    if (!chain.hasPenaltyBox()) {
      throw new IllegalStateException(where(listener.localAddress()) + " has no penalty box (Server.penalties)");
    }
    java.net.InetAddress a = dev.portcullis.policy.IpAddresses.parse(address);
    return chain.liftPenalty(a); // the chain logs it: "Lifted the ban of ...: lifted by liftPenalty"
  }

  @Override
  public boolean reportOffence(java.net.InetAddress source, int weight, String reason) {
    return penaltyBox().reportOffence(source, weight, reason);
  }

  @Override
  public dev.portcullis.Penalty ban(dev.portcullis.policy.Cidr range, Duration duration, String reason) {
    return penaltyBox().ban(range, duration, reason);
  }

  @Override
  public boolean lift(dev.portcullis.policy.Cidr range, String reason) {
    return penaltyBox().lift(range, reason);
  }

  @Override
  public void addPenaltyListener(dev.portcullis.PenaltyListener listener) {
    pipeline.chain().addPenaltyListener(listener);
  }

  /** The chain, which has a penalty box. */
  private AdmissionChain penaltyBox() {
    AdmissionChain chain = pipeline.chain();
    if (!chain.hasPenaltyBox()) {
      throw new IllegalStateException(where(listener.localAddress()) + " has no penalty box (Server.penalties)");
    }
    return chain;
  }

  /**
   * The penalty box's housekeeping, once a second: expired bans and forgotten sources go; with a
   * kernel filter, the banned direct sources are handed to it (off the event loops) when they
   * change, so a banned source's packets are dropped in the kernel.
   */
  private void startPenaltyHousekeeping() {
    AdmissionChain chain = pipeline.chain();
    if (!chain.hasPenaltyBox()) {
      return;
    }
    java.util.concurrent.ScheduledThreadPoolExecutor h = new java.util.concurrent.ScheduledThreadPoolExecutor(1, r -> {
      Thread t = new Thread(r, "portcullis-penalties-" + port(listener.localAddress()));
      t.setDaemon(true);
      return t;
    });
    h.setRemoveOnCancelPolicy(true);
    housekeeping = h;
    boolean kernel = kernelFilterAsked();
    java.util.concurrent.atomic.AtomicBoolean refreshPending = new java.util.concurrent.atomic.AtomicBoolean();
    Runnable refresh = () -> {
      refreshPending.set(false);
      try {
        kernelFiltering().ifPresent(k -> k.updateBans(chain.directBans()));
      } catch (RuntimeException e) {
        log.warn("Could not put the penalty box's bans into the kernel filter of {}", where(listener.localAddress()), e);
      }
    };
    if (kernel) {
      chain.onBansChanged(() -> {
        if (refreshPending.compareAndSet(false, true) && !h.isShutdown()) {
          h.execute(refresh);
        }
      });
    }
    h.scheduleAtFixedRate(chain::sweepPenalties, 1, 1, TimeUnit.SECONDS);
  }

  private static int port(java.net.SocketAddress a) {
    return a instanceof java.net.InetSocketAddress ip ? ip.getPort() : 0;
  }

  private volatile java.util.concurrent.ScheduledExecutorService housekeeping;

  @Override
  public void close() {
    if (!closing.compareAndSet(false, true)) {
      try {
        terminated.await();
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
      return;
    }
    try {
      java.util.concurrent.ScheduledExecutorService h = housekeeping;
      if (h != null) {
        h.shutdownNow();
      }
      pipeline.closing();
      listener.close();
      if (ownedExecutor != null) {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
        ownedExecutor.shutdownNow();
        // Handlers on the loops' carriers: their loops are closed, so they finish on the fallback.
        for (Thread t : pipeline.carriedHandlers) {
          t.interrupt();
        }
        boolean stopped = ownedExecutor.awaitTermination(5, TimeUnit.SECONDS);
        while (!pipeline.carriedHandlers.isEmpty() && System.nanoTime() < deadline) {
          Thread.sleep(5);
        }
        if (!stopped || !pipeline.carriedHandlers.isEmpty()) {
          log.warn("Some handlers of {} did not stop within 5s of close", where(listener.localAddress()));
        }
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    } finally {
      unregisterMBean();
      terminated.countDown();
      log.info("Closed {}", where(listener.localAddress()));
    }
  }

  @Override
  public void awaitTermination() throws InterruptedException {
    terminated.await();
  }

  @Override
  public boolean awaitTermination(Duration timeout) throws InterruptedException {
    return terminated.await(timeout.toNanos(), TimeUnit.NANOSECONDS);
  }

  @Override
  public String toString() {
    return "RunningServer[" + where(listener.localAddress()) + "]";
  }

  @Override
  public boolean shutdown(java.time.Duration grace) throws InterruptedException {
    java.util.Objects.requireNonNull(grace, "grace");
    if (closing.get() || !shuttingDown.compareAndSet(false, true)) {
      awaitTermination();
      return counters.open.get() == 0;
    }
    listener.stopAccepting();
    pipeline.stopping();
    log.info("Shutting down {}: not accepting; {} connection(s) open, waiting up to {}", where(listener.localAddress()),
        counters.open.get(), dev.portcullis.policy.Durations.format(grace));
    long start = System.nanoTime();
    long graceNanos = grace.compareTo(Duration.ofDays(365 * 100)) > 0 ? Long.MAX_VALUE : grace.toNanos(); // no overflow
    boolean drained;
    try {
      while (!(drained = counters.open.get() == 0) && System.nanoTime() - start < graceNanos) {
        Thread.sleep(10);
      }
    } finally {
      close();
    }
    if (!drained) {
      log.info("Grace period over for {}: the remaining connections were closed", where(listener.localAddress()));
    }
    return drained;
  }

  @Override
  public void updatePolicy(dev.portcullis.policy.AccessPolicy policy) {
    java.util.Objects.requireNonNull(policy, "policy");
    checkReplaceable(policy);
    pipeline.chain().updatePolicy(policy); // and its limits, under those set on the builder
    kernelFiltering().ifPresent(k -> k.updateRules(KernelRules.of(policy))); // the bans stay as they are, apart
    log.info("Policy of {} replaced: {} address rule(s), {} credential rule(s)", where(listener.localAddress()),
        policy.rules().size(), policy.credentialRules().size());
    policyReplaced(policy);
  }

  /** Whether the listening socket was opened with a kernel filter ({@code Server.kernelFilter()}). */
  private boolean kernelFilterAsked() {
    return config.kernelFilter();
  }

  /** The listener's kernel filter, if the transport attached one. */
  private java.util.Optional<KernelFiltering> kernelFiltering() {
    return kernelFilterAsked() ? listener.capability(KernelFiltering.class) : java.util.Optional.empty();
  }

  /**
   * Refuses a policy with no rule of the kind this server's peers are decided by, or one that
   * allows no address of the family its peers have ({@link Lockout}).
   */
  private void checkReplaceable(dev.portcullis.policy.AccessPolicy policy) {
    boolean local = config.endpoint().map(Endpoint::isLocal).orElse(false);
    if (local ? policy.credentialRules().isEmpty() : policy.rules().isEmpty()) {
      throw new IllegalArgumentException("The new policy has no " + (local ? "credential" : "address")
          + " rule, so it would deny every peer of " + where(listener.localAddress()) + "; the old policy stays");
    }
    String lockout = Lockout.reason(policy, listener.localAddress());
    if (lockout != null) {
      throw new IllegalArgumentException(lockout.replaceFirst("^The policy", "The new policy")
          + "; the old policy stays");
    }
  }

  /** At start: a policy that would deny every peer of {@code bound} is a mistake, said before anyone is turned away. */
  private static void refuseLockout(dev.portcullis.policy.AccessPolicy policy, SocketAddress bound) {
    String lockout = Lockout.reason(policy, bound);
    if (lockout != null) {
      throw new IllegalStateException(lockout + "; the server did not start");
    }
  }

  @Override
  public java.util.Map<String, Long> ruleHits() {
    return pipeline.chain().ruleHits();
  }

  @Override
  public dev.portcullis.RuleHits currentRuleHits() {
    return pipeline.chain().ruleHitCounters();
  }

  private final java.util.List<java.util.function.Consumer<AccessPolicy>> policyListeners =
      new java.util.concurrent.CopyOnWriteArrayList<>();

  @Override
  public void addPolicyListener(java.util.function.Consumer<AccessPolicy> listener) {
    policyListeners.add(java.util.Objects.requireNonNull(listener, "listener"));
  }

  /** The policy listeners, after a replacement; one that throws does not undo it. */
  private void policyReplaced(AccessPolicy policy) {
    for (java.util.function.Consumer<AccessPolicy> l : policyListeners) {
      try {
        l.accept(policy);
      } catch (RuntimeException e) {
        log.warn("A policy listener of {} failed", where(listener.localAddress()), e);
      }
    }
  }

  private javax.management.ObjectName mbeanName;

  private void registerMBean() {
    mbeanName = ServerMBean.register(this, counters);
  }

  private void unregisterMBean() {
    ServerMBean.unregister(mbeanName);
  }
}
