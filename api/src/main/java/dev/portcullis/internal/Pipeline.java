package dev.portcullis.internal;

import dev.portcullis.Connection;
import dev.portcullis.Handler;
import dev.portcullis.LoopHandler;
import dev.portcullis.handshake.Handshake;
import dev.portcullis.handshake.Identity;
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
 * Acceptor}.
 */
final class Pipeline implements Acceptor {
  private static final Logger log = LoggerFactory.getLogger(Pipeline.class);

  /** Who gets in: decides at accept and after the handshake, and counts. */
  final Admission admission;
  final List<Handshake> handshakes;
  final long handshakeTimeoutNanos;
  private final java.time.Duration idleTimeout;
  /** 0 for none. */
  private final long idleTimeoutNanos;
  final Counters counters;
  private final Handler handler;
  private final LoopHandler loopHandler;
  private final Executor executor;
  /** Blocking handlers start on the accepting loop's carrier ({@link Channel#loopCarriedExecutor}). */
  private volatile boolean loopCarried;
  /** The handler threads running on loop carriers, to interrupt at close. */
  final java.util.Set<Thread> carriedHandlers = java.util.concurrent.ConcurrentHashMap.newKeySet();
  private volatile boolean closing;
  private volatile Runnable onListenerFailure = () -> {};
  private final RefusalLog handlerFailures = new RefusalLog();
  /** Handshakes in progress per step of the chain. */
  private final java.util.concurrent.atomic.AtomicIntegerArray inStep;
  /** Told of every connection's close with how long it was open; empty until someone listens. */
  private final java.util.List<dev.portcullis.ConnectionListener> listeners =
      new java.util.concurrent.CopyOnWriteArrayList<>();
  /** When each connection was accepted, kept only while someone listens. */
  private final java.util.Map<Channel, Long> acceptedAt = new java.util.concurrent.ConcurrentHashMap<>();

  Pipeline(ServerConfig config, Executor executor, Counters counters) {
    this.admission = new Admission(config.policy(), config.limits(), config.handshakes(), counters,
        config.penalties().map(PenaltyBox::new).orElse(null), config.localSourceByGroup());
    this.handshakes = config.handshakes();
    this.inStep = new java.util.concurrent.atomic.AtomicIntegerArray(Math.max(1, handshakes.size()));
    this.handshakeTimeoutNanos = config.handshakeTimeout().toNanos();
    this.idleTimeout = config.idleTimeout();
    this.idleTimeoutNanos = idleTimeout.toNanos();
    this.handler = config.handler().orElse(null);
    this.loopHandler = config.loopHandler().orElse(null);
    this.executor = executor;
    this.counters = counters;
  }

  @Override
  public boolean admitIpv4(int address) {
    return admission.admitIpv4(address);
  }

  @Override
  public boolean admitIpv6(long high, long low) {
    return admission.admitIpv6(high, low);
  }

  @Override
  public boolean admitLocal(dev.portcullis.policy.PeerCredentials credentials) {
    return admission.admitLocal(credentials);
  }

  @Override
  public void released(Channel channel) {
    admission.released(channel);
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
    } else if (admission.beginHandshake(channel)) {
      new HandshakeRun(this, channel, new PeerFacts(channel, identity, attributes)).start();
    } else {
      channel.close();
    }
  }

  void dispatch(Channel accepted, PeerFacts facts, byte[] leftover) {
    Channel channel = idleTimeoutNanos == 0 ? accepted
        : new IdleChannel(accepted, idleTimeoutNanos, () -> admission.idle(accepted, facts.peer(), idleTimeout));
    if (loopHandler != null) {
      counters.handled.incrementAndGet();
      new LoopConnectionImpl(channel, facts, loopHandler, counters).open(leftover);
      return;
    }
    ChannelConnection connection = new ChannelConnection(channel, facts, leftover);
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
      admission.overloaded(channel, facts.peer());
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
  void handlerFailed(ChannelConnection connection, Throwable t) {
    if (t instanceof java.io.IOException && (closing || peerWentAway(t) || connection.closedForIdleness())) {
      log.debug("Connection with {} ended in the handler: {}", connection.peer(), t.toString());
      return;
    }
    long n = counters.handlerFailures.incrementAndGet();
    String more = handlerFailures.due(RefusalLog.Kind.HANDLER_FAILED, connection.attribute(
        dev.portcullis.policy.PeerCredentials.class).map(RefusalLog::key).orElseGet(() -> RefusalLog.key(connection.peer())));
    if (more != null) {
      try {
        String who = connection.attribute(dev.portcullis.policy.PeerCredentials.class)
            .map(c -> "local peer uid " + c.uid() + " pid " + c.pid())
            .orElseGet(() -> RefusalLog.describe(connection.peer(), connection.socketPeer()));
        log.warn("Handler failed for {} ({} handler failures so far{})", who, n, more, t);
      } catch (Throwable unloggable) {
        // Building the line failed too (out of memory, most likely); the count above still tells.
      }
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
