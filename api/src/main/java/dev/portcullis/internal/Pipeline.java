package dev.portcullis.internal;

import dev.portcullis.Connection;
import dev.portcullis.Handler;
import dev.portcullis.LoopHandler;
import dev.portcullis.admission.AdmissionChain;
import dev.portcullis.admission.Counters;
import dev.portcullis.admission.Refusal;
import dev.portcullis.handshake.Handshake;
import dev.portcullis.handshake.Identity;
import dev.portcullis.policy.Limits;
import dev.portcullis.spi.Acceptor;
import dev.portcullis.spi.Channel;
import java.util.List;
import java.util.concurrent.Executor;
import java.util.concurrent.RejectedExecutionException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The connection pipeline behind a running server: address check, handshake chain, second address
 * check, hand-off to the handler. Transport-independent; the transport drives it through {@link
 * Acceptor}. It also keeps the connections that have a handler, to tell them when the graceful
 * shutdown begins ({@link #stopping}).
 */
final class Pipeline implements Acceptor {
  private static final Logger log = LoggerFactory.getLogger(Pipeline.class);

  /** Who gets in: decides at accept and after the handshake, counts and reports. */
  private final AdmissionChain admission;
  private final List<Handshake> handshakes;
  private final long handshakeTimeoutNanos;
  private final java.time.Duration idleTimeout;
  /** 0 for none. */
  private final long idleTimeoutNanos;
  private final Counters counters;
  private final Handler handler;
  private final LoopHandler loopHandler;
  private final Executor executor;
  /** Blocking handlers start on the accepting loop's carrier ({@link Channel#loopCarriedExecutor}). */
  private volatile boolean loopCarried;
  /** The handler threads running on loop carriers, to interrupt at close. */
  final java.util.Set<Thread> carriedHandlers = java.util.concurrent.ConcurrentHashMap.newKeySet();
  private volatile boolean closing;
  private volatile Runnable onListenerFailure = () -> {};
  /** Handshakes in progress per step of the chain. */
  private final java.util.concurrent.atomic.AtomicIntegerArray inStep;
  /** Told of every connection's close with how long it was open; empty until someone listens. */
  private final java.util.List<dev.portcullis.ConnectionListener> listeners =
      new java.util.concurrent.CopyOnWriteArrayList<>();
  /** When each connection was accepted, kept only while someone listens. */
  private final java.util.Map<Channel, Long> acceptedAt = new java.util.concurrent.ConcurrentHashMap<>();

  /** The server, for {@code Connection.server()}. */
  final dev.portcullis.RunningServer server;
  /** The connections with a handler now, told when the server starts stopping. */
  private final java.util.Set<Stoppable> live = java.util.concurrent.ConcurrentHashMap.newKeySet();
  private volatile boolean stopping;

  /** A connection with a handler, told once when the graceful shutdown begins. */
  interface Stoppable {
    /** The server started stopping. Idempotent; any thread. */
    void stop();
  }

  Pipeline(dev.portcullis.ServerSpec<?> config, Executor executor, Counters counters, dev.portcullis.RunningServer server) {
    this.server = server;
    this.handshakes = config.handshakes();
    this.admission = AdmissionChain.builder()
        .policy(config.policy())
        .limits(ownLimits(config.limits(), config.policy().limits()))
        .penalties(config.penalties().orElse(null))
        .relaysFrom(handshakes.isEmpty() ? List.of() : handshakes.get(0).relaysFrom())
        .handshakeTimeout(config.handshakeTimeout())
        .localSourceByGroup(config.localSourceByGroup())
        .counters(counters)
        .build();
    this.inStep = new java.util.concurrent.atomic.AtomicIntegerArray(Math.max(1, handshakes.size()));
    this.handshakeTimeoutNanos = config.handshakeTimeout().toNanos();
    this.idleTimeout = config.idleTimeout();
    this.idleTimeoutNanos = idleTimeout.toNanos();
    this.handler = config.handler().orElse(null);
    this.loopHandler = config.loopHandler().orElse(null);
    this.executor = executor;
    this.counters = counters;
  }

  /**
   * The limits set on the server's builder, from the merge of them over the policy's that the
   * settings carry: each value that is not the policy's (so that a replacement policy's limits
   * apply wherever the builder set none).
   */
  static Limits ownLimits(Limits merged, Limits policy) {
    boolean rate = merged.ratePerSecond() != policy.ratePerSecond() || merged.burst() != policy.burst();
    return new Limits(merged.maxConnections() != policy.maxConnections() ? merged.maxConnections() : 0,
        merged.maxPerSource() != policy.maxPerSource() ? merged.maxPerSource() : 0,
        rate ? merged.ratePerSecond() : 0, rate ? merged.burst() : 0,
        merged.maxPendingHandshakes() != policy.maxPendingHandshakes() ? merged.maxPendingHandshakes() : 0,
        merged.sourceIpv4Bits() != policy.sourceIpv4Bits() ? merged.sourceIpv4Bits() : 0,
        merged.sourceIpv6Bits() != policy.sourceIpv6Bits() ? merged.sourceIpv6Bits() : 0);
  }

  /** The admission chain this pipeline runs: its policy, stats, penalties and hits. */
  AdmissionChain chain() {
    return admission;
  }

  /** The handshake deadline, in nanoseconds. */
  long handshakeTimeoutNanos() {
    return handshakeTimeoutNanos;
  }

  /** Steps in the handshake chain. */
  int handshakeCount() {
    return handshakes.size();
  }

  /** The handshake step at {@code index}. */
  Handshake handshake(int index) {
    return handshakes.get(index);
  }

  @Override
  public boolean admitIpv4(int address) {
    return admission.admitIpv4(address) == Refusal.NONE;
  }

  @Override
  public boolean admitIpv6(long high, long low) {
    return admission.admit(high, low) == Refusal.NONE;
  }

  @Override
  public boolean admitLocal(dev.portcullis.policy.PeerCredentials credentials) {
    return admission.admitLocal(credentials) == Refusal.NONE;
  }

  @Override
  public void released(Channel channel) {
    admission.released(channel, channel.remoteAddress(), channel.peerCredentials().orElse(null));
    if (!listeners.isEmpty()) {
      Long at = acceptedAt.remove(channel);
      if (at != null) {
        java.time.Duration open = java.time.Duration.ofNanos(System.nanoTime() - at);
        for (dev.portcullis.ConnectionListener l : listeners) {
          try {
            l.closed(open);
          } catch (RuntimeException e) {
            log.warn("A connection listener failed", e);
          }
        }
      }
    }
  }

  void addListener(dev.portcullis.ConnectionListener listener) {
    listeners.add(java.util.Objects.requireNonNull(listener, "listener"));
  }

  void enterStep(int index) {
    inStep.incrementAndGet(index);
  }

  void leaveStep(int index) {
    inStep.decrementAndGet(index);
  }

  /** Handshakes in progress per step name, in chain order. */
  java.util.Map<String, Integer> handshakesByStep() {
    java.util.Map<String, Integer> out = new java.util.LinkedHashMap<>();
    for (int i = 0; i < handshakes.size(); i++) {
      out.merge(handshakes.get(i).name(), inStep.get(i), Integer::sum);
    }
    return out;
  }

  /**
   * The graceful shutdown began: every connection with a handler is told, and so is each one handed
   * to its handler from now on ({@link #track}).
   */
  void stopping() {
    stopping = true;
    for (Stoppable c : live) {
      c.stop();
    }
  }

  /** A connection's handler starts: it is told of the shutdown, at once if it has begun. */
  void track(Stoppable connection) {
    live.add(connection);
    if (stopping) {
      connection.stop();
    }
  }

  /** A connection's handler is done. */
  void forget(Stoppable connection) {
    live.remove(connection);
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
    if (!listeners.isEmpty()) {
      acceptedAt.put(channel, System.nanoTime());
    }
    // A Unix domain socket peer is who the kernel says it is: that is its first identity.
    Identity identity = null;
    Attributes attributes = Attributes.NONE;
    java.util.Optional<dev.portcullis.policy.PeerCredentials> credentials = channel.peerCredentials();
    if (credentials.isPresent()) {
      identity = Identity.of("unix", credentials.get().toString());
      attributes = attributes.with(dev.portcullis.policy.PeerCredentials.class, credentials.get());
    }
    if (handshakes.isEmpty()) {
      dispatch(channel, new PeerFacts(channel, identity, attributes), null);
    } else {
      HandshakeRun run = new HandshakeRun(this, channel, new PeerFacts(channel, identity, attributes),
          credentials.orElse(null));
      if (admission.beginHandshake(run.pendingHandshake) == Refusal.NONE) {
        run.start();
      } else {
        channel.close();
      }
    }
  }

  void dispatch(Channel accepted, PeerFacts facts, byte[] leftover) {
    Channel channel = idleTimeoutNanos == 0 ? accepted
        : new IdleChannel(accepted, idleTimeoutNanos, () -> admission.idle(accepted.remoteAddress(),
            accepted.peerCredentials().orElse(null), facts.peer(), idleTimeout));
    if (loopHandler != null) {
      counters.handled.incrementAndGet();
      LoopConnectionImpl connection = new LoopConnectionImpl(channel, facts, loopHandler, counters, this);
      connection.open(leftover);
      if (connection.isOpen()) {
        track(connection);
      }
      return;
    }
    ChannelConnection connection = new ChannelConnection(channel, facts, leftover, server);
    try {
      if (loopCarried) {
        java.util.Optional<Executor> carrier = channel.loopCarriedExecutor();
        if (carrier.isPresent()) {
          carrier.get().execute(() -> serveCarried(connection));
          return;
        }
      }
      executor.execute(() -> serve(connection));
    } catch (RejectedExecutionException e) {
      admission.overloaded(channel.remoteAddress(), channel.peerCredentials().orElse(null), facts.peer());
      channel.close();
    }
  }

  /** Has blocking handlers start on their loop's carrier from now on (the server's own executor only). */
  void useLoopCarriers() {
    loopCarried = true;
  }

  private void serveCarried(ChannelConnection connection) {
    Thread me = Thread.currentThread();
    carriedHandlers.add(me);
    try {
      serve(connection);
    } finally {
      carriedHandlers.remove(me);
    }
  }

  private void serve(ChannelConnection connection) {
    counters.handled.incrementAndGet();
    track(connection);
    try {
      handler.handle(connection);
    } catch (Throwable t) {
      handlerFailed(connection, t);
    } finally {
      forget(connection);
      connection.close();
    }
  }

  /**
   * A handler ended with an exception. The peer going away (a reset, a broken pipe) or the server
   * closing is the network's doing, logged at DEBUG; anything else is the handler's: one WARN with
   * the stack (at most one a second, with the running count). Nothing is rethrown: one
   * connection's failure, an {@code Error} included, never takes a thread or a loop down with it.
   */
  void handlerFailed(ChannelConnection connection, Throwable t) {
    // An interrupt while the server closes is the close's doing too: close() interrupts the
    // default executor's threads, and a handler waiting on anything of its own then throws.
    if (t instanceof InterruptedException && closing) {
      log.debug("Handler for {} interrupted by the server's close", connection.who());
      return;
    }
    if (t instanceof java.io.IOException && (closing || peerWentAway(t) || connection.closedForIdleness())) {
      log.debug("Connection with {} ended in the handler: {}", connection.who(), t.toString());
      return;
    }
    admission.handlerFailed(log, connection.peer(), connection.socketPeer(),
        connection.attribute(dev.portcullis.policy.PeerCredentials.class).orElse(null), t);
  }

  /**
   * A reset, a broken pipe or a timed-out peer, by its errno ({@link
   * dev.portcullis.NativeSocketException#isPeerGone()}): the peer ended the connection, not the handler.
   */
  static boolean peerWentAway(Throwable t) {
    for (Throwable c = t; c != null; c = c.getCause()) {
      if (c instanceof dev.portcullis.NativeSocketException e && e.isPeerGone()) {
        return true;
      }
    }
    return false;
  }
}
