package dev.portcullis;

import dev.portcullis.handshake.Handshake;
import dev.portcullis.policy.AccessPolicy;
import dev.portcullis.policy.Limits;
import dev.portcullis.policy.Penalties;
import dev.portcullis.spi.Endpoint;
import dev.portcullis.spi.Transport;
import java.io.IOException;
import java.time.Duration;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.OptionalInt;
import java.util.ServiceConfigurationError;
import java.util.ServiceLoader;
import java.util.concurrent.Executor;
import java.util.stream.Collectors;

/**
 * The immutable description of a server, as {@link Server.Builder#build()} checked it: what it
 * listens on, the policy in force, the handshake chain, the limits, the handler. It can be
 * inspected, logged ({@link #toString()} reads as one line), started any number of times, and
 * turned back into a builder to make a variant:
 *
 * <pre>{@code
 * ServerSpec<Server.TcpBuilder> spec = Server.on(7000)
 *         .allow("10.0.0.0/8")
 *         .handle(conn -> conn.input().transferTo(conn.output()))
 *         .build();                                 // every setting checked, nothing opened
 * log.info("Starting {}", spec);
 * try (RunningServer server = spec.start()) {
 *     ...
 * }
 * ServerSpec<Server.TcpBuilder> local = spec.newBuilder().bindAddress("127.0.0.1").build();
 * }</pre>
 *
 * <p>What the builder was given stays as given (an executor, a handler, a transport are the same
 * objects); the spec never changes after it is built. It has no {@code equals}: handlers compare
 * by identity.
 *
 * @param <B> the builder of this kind of server, which {@link #newBuilder()} returns
 */
public final class ServerSpec<B extends Server.Builder<B>> {
  private static volatile ServerRuntime runtime; // found on the first start()

  private final B template; // a copy of the builder, never handed out or changed
  private final Optional<Endpoint> endpoint;
  private final Optional<Declared> declared;
  private final boolean kernelFilter;
  private final AccessPolicy policy;
  private final List<Handshake> handshakes;
  private final Duration handshakeTimeout;
  private final Duration idleTimeout;
  private final Optional<Handler> handler;
  private final Optional<LoopHandler> loopHandler;
  private final Optional<Executor> executor;
  private final Limits limits;
  private final int eventLoops; // 0: one per available processor, counted at start
  private final Optional<Penalties> penalties;
  private final boolean localSourceByGroup;
  private final Optional<Transport> transport;

  /** The settings {@code template.build()} checked: exactly one of {@code endpoint} and {@code declared}. */
  ServerSpec(B template, Optional<Endpoint> endpoint, Optional<Declared> declared, boolean kernelFilter,
      AccessPolicy policy, List<Handshake> handshakes, Duration handshakeTimeout, Duration idleTimeout,
      Optional<Handler> handler, Optional<LoopHandler> loopHandler, Optional<Executor> executor, Limits limits,
      int eventLoops, Optional<Penalties> penalties, boolean localSourceByGroup, Optional<Transport> transport) {
    this.template = template;
    this.endpoint = endpoint;
    this.declared = declared;
    this.kernelFilter = kernelFilter;
    this.policy = policy;
    this.handshakes = List.copyOf(handshakes);
    this.handshakeTimeout = handshakeTimeout;
    this.idleTimeout = idleTimeout;
    this.handler = handler;
    this.loopHandler = loopHandler;
    this.executor = executor;
    this.limits = limits;
    this.eventLoops = eventLoops;
    this.penalties = penalties;
    this.localSourceByGroup = localSourceByGroup;
    this.transport = transport;
  }

  /**
   * A socket this process is given rather than one it opens ({@link Server#fromSystemd()}, {@link
   * Server#fromSystemd(String)}, {@link Server#fromInetd()}): only the process's environment turns it
   * into a descriptor, when the server starts. A transport never sees it; it is given the {@link
   * Endpoint.Inherited} it resolves to.
   *
   * @param inetd the one connection inetd ({@code nowait}) or systemd's {@code Accept=yes} accepted
   * @param systemdName for systemd, the {@code FileDescriptorName=}, or empty for the only socket
   */
  public record Declared(boolean inetd, Optional<String> systemdName) {
    /**
     * Checks the name.
     *
     * @param inetd inetd rather than systemd
     * @param systemdName empty, or a non-empty name without {@code :}; always empty for inetd
     * @throws IllegalArgumentException if the name is empty or contains {@code :} or NUL
     */
    public Declared {
      Objects.requireNonNull(systemdName, "systemdName");
      systemdName.ifPresent(n -> {
        if (n.isEmpty() || n.contains(":") || n.contains("\0")) {
          throw new IllegalArgumentException("'" + n + "' is not a socket name systemd can pass (non-empty, no ':')");
        }
      });
    }

    /**
     * How messages name it: {@code systemd socket 'web'}, {@code systemd}, {@code inetd}.
     *
     * @return the text
     */
    public String describe() {
      return inetd ? "inetd" : systemdName.map(n -> "systemd socket '" + n + "'").orElse("systemd");
    }
  }

  /**
   * Where the server listens, as the transport will be given it; empty for {@code fromSystemd()} and
   * {@code fromInetd()}, whose socket is found in the process's environment when it starts ({@link
   * #toString()} names it).
   *
   * @return the endpoint, or empty
   */
  public Optional<Endpoint> endpoint() {
    return endpoint;
  }

  /**
   * The socket this process is to be given, for {@code fromSystemd()} and {@code fromInetd()}.
   *
   * @return what was declared, or empty when {@link #endpoint()} is present
   */
  public Optional<Declared> declared() {
    return declared;
  }

  /**
   * Whether the listening TCP socket gets a kernel filter of the policy ({@code
   * TcpBuilder.kernelFilter()}).
   *
   * @return {@code true} if asked for
   */
  public boolean kernelFilter() {
    return kernelFilter;
  }

  /**
   * The access policy in force at start: the {@code policy(...)} given, or the rules added one by
   * one (with {@code allowAll()}).
   *
   * @return the policy; never empty
   */
  public AccessPolicy policy() {
    return policy;
  }

  /**
   * The handshake chain, in the order the steps run.
   *
   * @return an immutable list, possibly empty
   */
  public List<Handshake> handshakes() {
    return handshakes;
  }

  /**
   * The absolute deadline of the handshake chain.
   *
   * @return the deadline
   */
  public Duration handshakeTimeout() {
    return handshakeTimeout;
  }

  /**
   * How long a handled connection may move no byte before it is closed.
   *
   * @return the timeout; {@link Duration#ZERO} for none
   */
  public Duration idleTimeout() {
    return idleTimeout;
  }

  /**
   * The limits in force: those set on the builder over those the policy carries ({@link Limits#over}).
   *
   * @return the limits
   */
  public Limits limits() {
    return limits;
  }

  /**
   * The penalty box's settings, if one was asked for.
   *
   * @return the settings, or empty
   */
  public Optional<Penalties> penalties() {
    return penalties;
  }

  /**
   * How many event loops were asked for.
   *
   * @return the count, or empty for one per available processor, counted when the server starts
   */
  public OptionalInt eventLoops() {
    return eventLoops > 0 ? OptionalInt.of(eventLoops) : OptionalInt.empty();
  }

  /**
   * On a Unix socket, whether per-source limits and the penalty box count a peer by its group id
   * ({@code LocalBuilder.perSourceByGroup()}) rather than its user id.
   *
   * @return {@code true} if counted by gid
   */
  public boolean localSourceByGroup() {
    return localSourceByGroup;
  }

  /**
   * The blocking handler, if that style was chosen.
   *
   * @return the handler, or empty if {@link #loopHandler()} is present
   */
  public Optional<Handler> handler() {
    return handler;
  }

  /**
   * The event-loop handler, if that style was chosen.
   *
   * @return the handler, or empty if {@link #handler()} is present
   */
  public Optional<LoopHandler> loopHandler() {
    return loopHandler;
  }

  /**
   * The executor blocking handlers run on.
   *
   * @return the executor given, or empty for the server's own threads
   */
  public Optional<Executor> executor() {
    return executor;
  }

  /**
   * The transport given to the builder.
   *
   * @return the transport, or empty for the one {@link java.util.ServiceLoader} finds at start
   */
  public Optional<Transport> transport() {
    return transport;
  }

  /**
   * A new builder with these settings, to change some and build a variant; this spec is not
   * affected. The rules come back as they were given ({@code allow}, {@code deny}, {@code
   * allowAll()} or one {@code policy(...)}), and so do the limits, so changing the policy of the
   * new builder does not keep the old policy's limits.
   *
   * @return a new builder of this kind of server
   */
  public B newBuilder() {
    return template.copy();
  }

  /**
   * Opens the listening socket and starts accepting, on the transport given or else the first
   * available one {@link java.util.ServiceLoader} finds. Each call starts a new server.
   *
   * @return the running server
   * @throws IllegalStateException if no transport is available (the message says why), or if the
   *     policy would refuse every peer of the address family bound
   * @throws java.net.BindException if the address is in use or the port needs privileges
   * @throws IOException if another socket call fails; nothing stays open then
   */
  public RunningServer start() throws IOException {
    return runtime().start(this);
  }

  /** The api's own {@link ServerRuntime}, found once (a race finds it twice, harmlessly). */
  private static ServerRuntime runtime() {
    ServerRuntime r = runtime;
    if (r == null) {
      try {
        r = ServiceLoader.load(ServerRuntime.class, ServerRuntime.class.getClassLoader()).findFirst()
            .orElseThrow(() -> new IllegalStateException("No dev.portcullis.ServerRuntime found: the api jar's"
                + " META-INF/services/dev.portcullis.ServerRuntime is missing (a shaded jar must merge service files)"));
      } catch (ServiceConfigurationError e) {
        throw new IllegalStateException("The Portcullis server runtime could not be loaded: " + e.getMessage(), e);
      }
      runtime = r;
    }
    return r;
  }

  /**
   * One line for a log: the endpoint and its settings, the rules counted (a policy may hold many
   * thousands), the handshake steps by name, the limits set, and where handlers run, such as
   * {@code Server on port 7000 on 127.0.0.1, backlog 512: 2 address rules; handshakes [proxy,
   * shared-secret] within 10s; limits connections 100; blocking handler on the server's threads;
   * event loops one per processor; transport found at start}.
   *
   * @return the description
   */
  @Override
  public String toString() {
    StringBuilder sb = new StringBuilder("Server ").append(template.describeEndpoint()).append(": ")
        .append(count(policy().rules().size(), "address rule"));
    if (!policy().credentialRules().isEmpty()) {
      sb.append(", ").append(count(policy().credentialRules().size(), "credential rule"));
    }
    if (!handshakes().isEmpty()) {
      sb.append("; handshakes ").append(handshakes().stream().map(Handshake::name)
          .collect(Collectors.joining(", ", "[", "]"))).append(" within ").append(seconds(handshakeTimeout()));
    }
    sb.append("; limits ").append(limits(limits()));
    penalties().ifPresent(p -> sb.append("; ").append(p));
    if (!idleTimeout().isZero()) {
      sb.append("; idle timeout ").append(seconds(idleTimeout()));
    }
    sb.append(loopHandler().isPresent() ? "; handler on the event loop"
        : executor().isPresent() ? "; blocking handler on the given executor"
        : "; blocking handler on the server's threads");
    sb.append("; event loops ").append(eventLoops > 0 ? String.valueOf(eventLoops)
        : "one per processor");
    sb.append("; transport ").append(transport.map(Transport::name).orElse("found at start"));
    return sb.toString();
  }

  /** {@code connections 100, per-source 5, rate 10/s burst 20, pending-handshakes 512, source /24 /48}. */
  private static String limits(Limits l) {
    List<String> set = new java.util.ArrayList<>();
    if (l.maxConnections() > 0) {
      set.add("connections " + l.maxConnections());
    }
    if (l.maxPerSource() > 0) {
      set.add("per-source " + l.maxPerSource());
    }
    if (l.ratePerSecond() > 0) {
      set.add("rate " + (l.ratePerSecond() == Math.rint(l.ratePerSecond()) ? String.valueOf((long) l.ratePerSecond())
          : String.valueOf(l.ratePerSecond())) + "/s burst " + l.burst());
    }
    if (l.maxPendingHandshakes() > 0) {
      set.add("pending-handshakes " + l.maxPendingHandshakes());
    }
    if (l.sourceIpv4Bits() > 0 || l.sourceIpv6Bits() > 0) {
      set.add("source /" + (l.sourceIpv4Bits() > 0 ? l.sourceIpv4Bits() : 32) + " /"
          + (l.sourceIpv6Bits() > 0 ? l.sourceIpv6Bits() : 64));
    }
    return set.isEmpty() ? "none" : String.join(", ", set);
  }

  private static String count(int n, String noun) {
    return n + " " + noun + (n == 1 ? "" : "s");
  }

  /** {@code 10s}, {@code 1m30s}, {@code 0.5s}: a duration as people write it. */
  private static String seconds(Duration d) {
    return Objects.requireNonNull(d).toString().substring(2).toLowerCase(java.util.Locale.ROOT);
  }
}
