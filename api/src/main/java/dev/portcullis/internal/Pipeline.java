package dev.portcullis.internal;

import dev.portcullis.Connection;
import dev.portcullis.Handler;
import dev.portcullis.LoopHandler;
import dev.portcullis.handshake.Handshake;
import dev.portcullis.handshake.Identity;
import dev.portcullis.policy.AccessPolicy;
import dev.portcullis.policy.IpAddresses;
import dev.portcullis.spi.Acceptor;
import dev.portcullis.spi.Channel;
import java.net.InetSocketAddress;
import java.util.List;
import java.util.concurrent.Executor;
import java.util.concurrent.RejectedExecutionException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The connection pipeline behind a running server: address check, handshake chain, second address
 * check, hand-off to the handler. Transport-independent; the transport drives it through {@link
 * Acceptor}.
 */
final class Pipeline implements Acceptor {
  private static final Logger log = LoggerFactory.getLogger(Pipeline.class);
  /** Refusal lines have a logger of their own, so operators can turn them up or down alone. */
  private static final Logger refused = LoggerFactory.getLogger("dev.portcullis.refusals");

  volatile AccessPolicy policy;
  /** Hits per decision slot of {@link #policy}; replaced with it. */
  private volatile java.util.concurrent.atomic.AtomicLongArray hits;
  private final Limiter limiter;
  private final int maxPendingHandshakes;
  private final RefusalLog refusals = new RefusalLog();
  /**
   * The socket peers the first step relays for (trusted proxies), whose per-source limits wait for
   * the client the step names; null when no step relays.
   */
  private final AccessPolicy relays;
  /** The source each relayed connection was counted as, from its handshake until its release. */
  private final java.util.Map<Channel, Limiter.Source> relayedSources = new java.util.concurrent.ConcurrentHashMap<>();
  final List<Handshake> handshakes;
  final long handshakeTimeoutNanos;
  final Counters counters;
  private final Handler handler;
  private final LoopHandler loopHandler;
  private final Executor executor;
  private volatile boolean closing;
  private volatile Runnable onListenerFailure = () -> {};

  Pipeline(ServerConfig config, Executor executor, Counters counters) {
    this.policy = config.policy();
    this.hits = new java.util.concurrent.atomic.AtomicLongArray(policy.decisionSlots());
    dev.portcullis.policy.Limits l = config.limits();
    this.limiter = l.countsConnections() ? new Limiter(l) : null;
    this.maxPendingHandshakes = l.maxPendingHandshakes();
    this.handshakes = config.handshakes();
    this.relays = relays(handshakes);
    this.handshakeTimeoutNanos = config.handshakeTimeout().toNanos();
    this.handler = config.handler().orElse(null);
    this.loopHandler = config.loopHandler().orElse(null);
    this.executor = executor;
    this.counters = counters;
  }

  @Override
  public boolean admitIpv4(int address) {
    counters.accepted.incrementAndGet();
    dev.portcullis.policy.Decision d = policy.decideIpv4(address);
    count(d);
    if (!d.isAllowed()) {
      long n = counters.denied.incrementAndGet();
      if (refusals.due(RefusalLog.Kind.ADDRESS)) {
        refused.info("Denied {} by '{}' ({} denied so far)", IpAddresses.format(IpAddresses.ipv4(address)), d.reason(), n);
      }
      return false;
    }
    if (limiter == null) {
      return opened();
    }
    boolean relayed = relays != null && relays.decideIpv4(address).isAllowed();
    return withinLimits(relayed ? null : limiter.v4(address), () -> IpAddresses.format(IpAddresses.ipv4(address)));
  }

  @Override
  public boolean admitIpv6(long high, long low) {
    counters.accepted.incrementAndGet();
    dev.portcullis.policy.Decision d = policy.decideIpv6(high, low);
    count(d);
    if (!d.isAllowed()) {
      long n = counters.denied.incrementAndGet();
      if (refusals.due(RefusalLog.Kind.ADDRESS)) {
        refused.info("Denied {} by '{}' ({} denied so far)", IpAddresses.format(IpAddresses.ipv6(high, low)), d.reason(), n);
      }
      return false;
    }
    if (limiter == null) {
      return opened();
    }
    boolean relayed = relays != null && relays.decideIpv6(high, low).isAllowed();
    return withinLimits(relayed ? null : limiter.v6(high, low), () -> IpAddresses.format(IpAddresses.ipv6(high, low)));
  }

  private boolean opened() {
    counters.open.incrementAndGet();
    return true;
  }

  /**
   * The policy allowed the peer; now the limits decide. A null source takes a slot in the total
   * only: a local peer, or a trusted proxy whose relayed client is counted after its header.
   */
  private boolean withinLimits(Limiter.Source source, java.util.function.Supplier<String> peer) {
    if (limiter.tryAcquire(source, System.nanoTime())) {
      return opened();
    }
    long n = counters.limited.incrementAndGet();
    if (refusals.due(RefusalLog.Kind.LIMIT)) {
      refused.info("Refused {} by the {} limit ({} refused by limits so far)", peer.get(), refusal(), n);
    }
    return false;
  }

  private String refusal() {
    return limiter.lastRefusal().toString().toLowerCase(java.util.Locale.ROOT).replace('_', '-');
  }

  private static AccessPolicy relays(List<Handshake> chain) {
    if (chain.isEmpty() || chain.get(0).relaysFrom().isEmpty()) {
      return null;
    }
    List<dev.portcullis.policy.Rule> rules = new java.util.ArrayList<>();
    for (dev.portcullis.policy.Cidr c : chain.get(0).relaysFrom()) {
      rules.add(dev.portcullis.policy.Rule.allow(c));
    }
    return AccessPolicy.of(rules);
  }

  /** Whether this connection's per-source limits wait for (or were taken by) its relayed client. */
  private boolean relayed(Channel socket) {
    return relays != null && socket.remoteAddress() instanceof InetSocketAddress ip
        && relays.decide(ip.getAddress()).isAllowed();
  }

  @Override
  public void released(Channel channel) {
    counters.open.decrementAndGet();
    if (limiter != null) {
      // A relayed connection that never finished its handshake holds a slot in the total only.
      limiter.release(relayed(channel) ? relayedSources.remove(channel) : sourceOf(channel.remoteAddress()));
    }
  }

  private Limiter.Source sourceOf(java.net.SocketAddress address) {
    if (address instanceof InetSocketAddress ip) {
      byte[] b = ip.getAddress().getAddress();
      if (b.length == 4) {
        return limiter.v4(java.nio.ByteBuffer.wrap(b).getInt());
      }
      java.nio.ByteBuffer bb = java.nio.ByteBuffer.wrap(b);
      return limiter.v6(bb.getLong(), bb.getLong());
    }
    return null;
  }

  /** Replaces the policy; connections accepted from now on are decided by the new one. */
  void updatePolicy(AccessPolicy newPolicy) {
    // A decision made by the old policy in the meantime may land in the new array: a stale hit,
    // never a crash, since the slot is checked.
    this.hits = new java.util.concurrent.atomic.AtomicLongArray(newPolicy.decisionSlots());
    this.policy = newPolicy;
  }

  private void count(dev.portcullis.policy.Decision d) {
    java.util.concurrent.atomic.AtomicLongArray h = hits;
    int slot = d.slot();
    if (slot >= 0 && slot < h.length()) {
      h.incrementAndGet(slot);
    }
  }

  /** Hits per rule (and per default) of the current policy, in the policy's order; unhit defaults left out. */
  java.util.Map<String, Long> ruleHits() {
    AccessPolicy p = policy;
    java.util.concurrent.atomic.AtomicLongArray h = hits;
    java.util.Map<String, Long> out = new java.util.LinkedHashMap<>();
    for (int i = 0; i < Math.min(h.length(), p.decisionSlots()); i++) {
      String name = p.slotName(i);
      long n = h.get(i);
      if (n > 0 || !(name.startsWith("default") || name.startsWith("unreadable"))) {
        out.merge(name, n, Long::sum);
      }
    }
    return out;
  }

  @Override
  public boolean admitLocal(dev.portcullis.policy.PeerCredentials credentials) {
    counters.accepted.incrementAndGet();
    dev.portcullis.policy.Decision d = policy.decide(credentials);
    count(d);
    if (!d.isAllowed()) {
      long n = counters.denied.incrementAndGet();
      if (refusals.due(RefusalLog.Kind.ADDRESS)) {
        refused.info("Denied local peer {} by '{}' ({} denied so far)", credentials == null
            ? "with unreadable credentials" : "uid " + credentials.uid() + " pid " + credentials.pid(), d.reason(), n);
      }
      return false;
    }
    return limiter == null ? opened()
        : withinLimits(null, () -> "local peer uid " + credentials.uid() + " pid " + credentials.pid());
  }

  /** The server is closing: handlers that fail because their connection was closed are not failures. */
  void closing() {
    closing = true;
  }

  /** What to do when the transport's loop dies on its own. */
  void onListenerFailure(Runnable action) {
    onListenerFailure = action;
  }

  @Override
  public void listenerStopped(Throwable failure) {
    if (closing) {
      return;
    }
    if (failure != null) {
      log.error("The listener stopped on its own; the server closes", failure);
    }
    // Without a failure: an inherited single connection is done, and so is the server.
    onListenerFailure.run();
  }

  @Override
  public void accepted(Channel channel) {
    // A Unix domain socket peer is who the kernel says it is: that is its first identity.
    Identity identity = null;
    Attributes attributes = Attributes.NONE;
    java.util.Optional<dev.portcullis.policy.PeerCredentials> credentials = channel.peerCredentials();
    if (credentials.isPresent()) {
      identity = Identity.of("unix", credentials.get().toString());
      attributes = attributes.with(dev.portcullis.policy.PeerCredentials.class, credentials.get());
    }
    if (handshakes.isEmpty()) {
      dispatch(channel, new PeerFacts(channel, null, identity, attributes), null);
    } else if (maxPendingHandshakes > 0 && counters.pendingHandshakes.get() >= maxPendingHandshakes) {
      long n = counters.limited.incrementAndGet();
      if (refusals.due(RefusalLog.Kind.LIMIT)) {
        refused.info("Refused {} by the pending-handshakes limit of {} ({} refused by limits so far)",
            RefusalLog.describe(channel, null), maxPendingHandshakes, n);
      }
      channel.close();
    } else {
      counters.pendingHandshakes.incrementAndGet();
      new HandshakeRun(this, channel, identity, attributes).start();
    }
  }

  /**
   * Called when a connection's handshake chain finished: if a step replaced the peer, the policy
   * decides again on the new one; then, for a connection from a trusted proxy, the per-source
   * limits count the client it relays (or the proxy, if the step kept its address).
   *
   * @param socket the accepted channel, as the transport knows it (not a codec on top)
   * @param replaced the peer a step put in place of the socket's, or null
   */
  boolean admitAfterHandshake(Channel socket, InetSocketAddress replaced) {
    if (replaced != null) {
      dev.portcullis.policy.Decision d = policy.decide(replaced.getAddress());
      count(d);
      if (!d.isAllowed()) {
        long n = counters.deniedAfterHandshake.incrementAndGet();
        if (refusals.due(RefusalLog.Kind.AFTER_HANDSHAKE)) {
          refused.info("Denied {} after the handshake by '{}' ({} denied after the handshake so far)",
              RefusalLog.describe(socket, replaced), d.reason(), n);
        }
        return false;
      }
    }
    if (limiter != null && relayed(socket)) {
      Limiter.Source source = sourceOf(replaced != null ? replaced : socket.remoteAddress());
      if (!limiter.tryAcquireSource(source, System.nanoTime())) {
        long n = counters.limited.incrementAndGet();
        if (refusals.due(RefusalLog.Kind.LIMIT)) {
          refused.info("Refused {} after the handshake by the {} limit ({} refused by limits so far)",
              RefusalLog.describe(socket, replaced), refusal(), n);
        }
        return false;
      }
      relayedSources.put(socket, source);
    }
    return true;
  }

  /** A handshake failed or timed out: one INFO line a second per kind, naming the peer and why. */
  void handshakeRefused(Channel socket, InetSocketAddress replaced, String step, String why, boolean timedOut) {
    if (timedOut) {
      long n = counters.handshakeTimeouts.incrementAndGet();
      if (refusals.due(RefusalLog.Kind.HANDSHAKE_TIMEOUT)) {
        refused.info("Refused {}: the handshake timed out in step '{}' ({} timed out so far)",
            RefusalLog.describe(socket, replaced), step, n);
      }
    } else {
      long n = counters.handshakeFailures.incrementAndGet();
      if (refusals.due(RefusalLog.Kind.HANDSHAKE_FAILED)) {
        refused.info("Refused {}: handshake step '{}' failed: {} ({} failed so far)", RefusalLog.describe(socket, replaced),
            step, why, n);
      }
    }
  }

  void dispatch(Channel channel, PeerFacts facts, byte[] leftover) {
    if (loopHandler != null) {
      counters.handled.incrementAndGet();
      new LoopConnectionImpl(channel, facts, loopHandler, counters).open(leftover);
      return;
    }
    ChannelConnection connection = new ChannelConnection(channel, facts, leftover);
    try {
      executor.execute(() -> serve(connection));
    } catch (RejectedExecutionException e) {
      long n = counters.overloaded.incrementAndGet();
      if (refusals.due(RefusalLog.Kind.OVERLOAD)) {
        refused.warn("No handler thread free for {}; connection closed ({} refused so far)",
            RefusalLog.describe(channel, facts.peer()), n);
      }
      channel.close();
    }
  }

  private void serve(ChannelConnection connection) {
    counters.handled.incrementAndGet();
    try {
      handler.handle(connection);
    } catch (Throwable t) {
      handlerFailed(connection, t);
    } finally {
      connection.close();
    }
  }

  /**
   * A handler ended with an exception. The peer going away (a reset, a broken pipe) or the server
   * closing is the network's doing, logged at DEBUG; anything else is the handler's: one WARN with
   * the stack (at most one a second, with the running count). Nothing is rethrown: one
   * connection's failure, an {@code Error} included, never takes a thread or a loop down with it.
   */
  void handlerFailed(Connection connection, Throwable t) {
    if (t instanceof java.io.IOException && (closing || peerWentAway(t))) {
      log.debug("Connection with {} ended in the handler: {}", connection.peer(), t.toString());
      return;
    }
    long n = counters.handlerFailures.incrementAndGet();
    if (refusals.due(RefusalLog.Kind.HANDLER_FAILED)) {
      String who = connection.attribute(dev.portcullis.policy.PeerCredentials.class)
          .map(c -> "local peer uid " + c.uid() + " pid " + c.pid())
          .orElseGet(() -> RefusalLog.describe(connection.peer(), connection.socketPeer()));
      log.warn("Handler failed for {} ({} handler failures so far)", who, n, t);
    }
  }

  /** A reset, a broken pipe or a timed-out peer: the peer ended the connection, not the handler. */
  static boolean peerWentAway(Throwable t) {
    for (Throwable c = t; c != null; c = c.getCause()) {
      if (c instanceof dev.portcullis.NativeSocketException e) {
        String name = e.errnoName();
        if (name.equals("ECONNRESET") || name.equals("EPIPE") || name.equals("ETIMEDOUT")) {
          return true;
        }
      } else if (c instanceof java.net.SocketException && c.getMessage() != null
          && (c.getMessage().contains("reset") || c.getMessage().contains("Broken pipe"))) {
        return true;
      }
    }
    return false;
  }
}
