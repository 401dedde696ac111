package dev.portcullis;

import dev.portcullis.handshake.Handshake;
import dev.portcullis.internal.ServerConfig;
import dev.portcullis.internal.ServerInstance;
import dev.portcullis.internal.Transports;
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
  private final B template; // a copy of the builder, never handed out or changed
  private final ServerConfig config;
  private final Optional<Transport> transport;

  ServerSpec(B template, ServerConfig config, Optional<Transport> transport) {
    this.template = template;
    this.config = config;
    this.transport = transport;
  }

  /**
   * Where the server listens, as the transport will be given it; empty for {@code fromSystemd()} and
   * {@code fromInetd()}, whose socket is found in the process's environment when it starts ({@link
   * #toString()} names it).
   *
   * @return the endpoint, or empty
   */
  public Optional<Endpoint> endpoint() {
    return config.endpoint();
  }

  /**
   * Whether the listening TCP socket gets a kernel filter of the policy ({@code
   * TcpBuilder.kernelFilter()}).
   *
   * @return {@code true} if asked for
   */
  public boolean kernelFilter() {
    return config.kernelFilter();
  }

  /**
   * The access policy in force at start: the {@code policy(...)} given, or the rules added one by
   * one (with {@code allowAll()}).
   *
   * @return the policy; never empty
   */
  public AccessPolicy policy() {
    return config.policy();
  }

  /**
   * The handshake chain, in the order the steps run.
   *
   * @return an immutable list, possibly empty
   */
  public List<Handshake> handshakes() {
    return config.handshakes();
  }

  /**
   * The absolute deadline of the handshake chain.
   *
   * @return the deadline
   */
  public Duration handshakeTimeout() {
    return config.handshakeTimeout();
  }

  /**
   * How long a handled connection may move no byte before it is closed.
   *
   * @return the timeout; {@link Duration#ZERO} for none
   */
  public Duration idleTimeout() {
    return config.idleTimeout();
  }

  /**
   * The limits in force: those set on the builder over those the policy carries ({@link Limits#over}).
   *
   * @return the limits
   */
  public Limits limits() {
    return config.limits();
  }

  /**
   * The penalty box's settings, if one was asked for.
   *
   * @return the settings, or empty
   */
  public Optional<Penalties> penalties() {
    return config.penalties();
  }

  /**
   * How many event loops were asked for.
   *
   * @return the count, or empty for one per available processor, counted when the server starts
   */
  public OptionalInt eventLoops() {
    return config.eventLoops() > 0 ? OptionalInt.of(config.eventLoops()) : OptionalInt.empty();
  }

  /**
   * The blocking handler, if that style was chosen.
   *
   * @return the handler, or empty if {@link #loopHandler()} is present
   */
  public Optional<Handler> handler() {
    return config.handler();
  }

  /**
   * The event-loop handler, if that style was chosen.
   *
   * @return the handler, or empty if {@link #handler()} is present
   */
  public Optional<LoopHandler> loopHandler() {
    return config.loopHandler();
  }

  /**
   * The executor blocking handlers run on.
   *
   * @return the executor given, or empty for the server's own threads
   */
  public Optional<Executor> executor() {
    return config.executor();
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
    Transport t = transport.isPresent() ? transport.get() : Transports.load();
    if (!t.isAvailable()) {
      Throwable cause = t.unavailabilityCause().orElse(null);
      throw new IllegalStateException("Transport '" + t.name() + "' cannot run on this machine: "
          + (cause == null ? "no reason given" : cause), cause);
    }
    ServerConfig run = config.eventLoops() > 0 ? config
        : config.withEventLoops(Math.max(1, Runtime.getRuntime().availableProcessors()));
    return ServerInstance.start(run, t);
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
        .append(count(config.policy().rules().size(), "address rule"));
    if (!config.policy().credentialRules().isEmpty()) {
      sb.append(", ").append(count(config.policy().credentialRules().size(), "credential rule"));
    }
    if (!config.handshakes().isEmpty()) {
      sb.append("; handshakes ").append(config.handshakes().stream().map(Handshake::name)
          .collect(Collectors.joining(", ", "[", "]"))).append(" within ").append(seconds(config.handshakeTimeout()));
    }
    sb.append("; limits ").append(limits(config.limits()));
    config.penalties().ifPresent(p -> sb.append("; ").append(p));
    if (!config.idleTimeout().isZero()) {
      sb.append("; idle timeout ").append(seconds(config.idleTimeout()));
    }
    sb.append(config.loopHandler().isPresent() ? "; handler on the event loop"
        : config.executor().isPresent() ? "; blocking handler on the given executor"
        : "; blocking handler on the server's threads");
    sb.append("; event loops ").append(config.eventLoops() > 0 ? String.valueOf(config.eventLoops())
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
