package dev.portcullis.internal;

import dev.portcullis.Handler;
import dev.portcullis.LoopHandler;
import dev.portcullis.handshake.Handshake;
import dev.portcullis.handshake.Identity;
import dev.portcullis.policy.AccessPolicy;
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

  volatile AccessPolicy policy;
  /** Hits per decision slot of {@link #policy}; replaced with it. */
  private volatile java.util.concurrent.atomic.AtomicLongArray hits;
  private final Limiter limiter;
  private final int maxPendingHandshakes;
  private long lastLimitLog;
  final List<Handshake> handshakes;
  final long handshakeTimeoutNanos;
  final Counters counters;
  private final Handler handler;
  private final LoopHandler loopHandler;
  private final Executor executor;
  private volatile boolean closing;
  private volatile Runnable onListenerFailure = () -> {};
  private long lastOverloadLog;

  Pipeline(ServerConfig config, Executor executor, Counters counters) {
    this.policy = config.policy();
    this.hits = new java.util.concurrent.atomic.AtomicLongArray(policy.decisionSlots());
    ServerConfig.Limits l = config.limits();
    this.limiter = l.any() ? new Limiter(l.maxConnections(), l.maxPerSource(), l.perSecond(), l.burst(), l.v4Bits(),
        l.v6Bits()) : null;
    this.maxPendingHandshakes = l.maxPendingHandshakes();
    this.handshakes = config.handshakes();
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
      if (logDue()) {
        log.info("Denied {} by '{}' ({} denied so far)", ipv4(address), d.reason(), n);
      }
      return false;
    }
    return limiter == null ? opened() : withinLimits(limiter.v4(address), () -> ipv4(address));
  }

  @Override
  public boolean admitIpv6(long high, long low) {
    counters.accepted.incrementAndGet();
    dev.portcullis.policy.Decision d = policy.decideIpv6(high, low);
    count(d);
    if (!d.isAllowed()) {
      long n = counters.denied.incrementAndGet();
      if (logDue()) {
        log.info("Denied {} by '{}' ({} denied so far)", ipv6(high, low), d.reason(), n);
      }
      return false;
    }
    return limiter == null ? opened() : withinLimits(limiter.v6(high, low), () -> ipv6(high, low));
  }

  private boolean opened() {
    counters.open.incrementAndGet();
    return true;
  }

  /** The policy allowed the peer; now the limits decide (a null source is a local peer). */
  private boolean withinLimits(Limiter.Source source, java.util.function.Supplier<String> peer) {
    if (limiter.tryAcquire(source, System.nanoTime())) {
      return opened();
    }
    long n = counters.limited.incrementAndGet();
    if (logDue()) {
      log.info("Refused {} by the {} limit ({} refused by limits so far)", peer.get(),
          limiter.lastRefusal().toString().toLowerCase(java.util.Locale.ROOT).replace('_', '-'), n);
    }
    return false;
  }

  /**
   * At most one refusal line a second, so a flood does not flood the log; the counts in each line
   * say how many went unlogged. Runs on the loop thread only.
   */
  private boolean logDue() {
    long now = System.nanoTime();
    if (lastLimitLog != 0 && now - lastLimitLog < 1_000_000_000L) {
      return false;
    }
    lastLimitLog = now;
    return true;
  }

  private static String ipv4(int a) {
    return (a >>> 24) + "." + ((a >>> 16) & 0xFF) + "." + ((a >>> 8) & 0xFF) + "." + (a & 0xFF);
  }

  private static String ipv6(long high, long low) {
    byte[] b = java.nio.ByteBuffer.allocate(16).putLong(high).putLong(low).array();
    try {
      return java.net.InetAddress.getByAddress(b).getHostAddress();
    } catch (java.net.UnknownHostException e) {
      throw new AssertionError(e);
    }
  }

  @Override
  public void released(Channel channel) {
    counters.open.decrementAndGet();
    if (limiter != null) {
      limiter.release(sourceOf(channel.remoteAddress()));
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
      if (logDue()) {
        log.info("Denied local peer {} by '{}' ({} denied so far)",
            credentials == null ? "with unreadable credentials" : credentials, d.reason(), n);
      }
      return false;
    }
    return limiter == null ? opened() : withinLimits(null, () -> String.valueOf(credentials));
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
      counters.limited.incrementAndGet();
      channel.close();
    } else {
      counters.pendingHandshakes.incrementAndGet();
      new HandshakeRun(this, channel, identity, attributes).start();
    }
  }

  /** Called by a finished handshake whose peer address changed: the policy decides again. */
  boolean admitAfterHandshake(InetSocketAddress peer) {
    dev.portcullis.policy.Decision d = policy.decide(peer.getAddress());
    count(d);
    if (d.isAllowed()) {
      return true;
    }
    counters.deniedAfterHandshake.incrementAndGet();
    return false;
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
      counters.overloaded.incrementAndGet();
      long now = System.nanoTime();
      if (lastOverloadLog == 0 || now - lastOverloadLog > 1_000_000_000L) {
        lastOverloadLog = now;
        log.warn("No handler thread free for {}; connection closed ({} refused so far)", connection.peer(),
            counters.overloaded.get());
      }
      channel.close();
    }
  }

  private void serve(ChannelConnection connection) {
    counters.handled.incrementAndGet();
    try {
      handler.handle(connection);
    } catch (Throwable t) {
      if (closing && t instanceof java.io.IOException) {
        log.debug("Handler for {} ended as the server closed: {}", connection.peer(), t.toString());
        return;
      }
      counters.handlerFailures.incrementAndGet();
      log.warn("Handler failed for {}", connection.peer(), t);
      if (t instanceof Error e && !(t instanceof StackOverflowError)) {
        throw e;
      }
    } finally {
      connection.close();
    }
  }
}
