package dev.portcullis;

import dev.portcullis.handshake.Handshake;
import dev.portcullis.policy.AccessPolicy;
import dev.portcullis.policy.CredentialRule;
import dev.portcullis.policy.Durations;
import dev.portcullis.policy.IpAddresses;
import dev.portcullis.policy.Limits;
import dev.portcullis.spi.Endpoint;
import dev.portcullis.spi.Transport;
import java.io.IOException;
import java.net.InetAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.Executor;

/**
 * Declares an access-controlled server in one statement: where it listens, who may connect, which
 * handshake they must pass, and what serves them.
 *
 * <pre>{@code
 * try (RunningServer server = Server.on(7000)
 *         .backlog(512)
 *         .allow("10.0.0.0/8")
 *         .deny("10.66.0.0/16")
 *         .handle(conn -> conn.output().write(conn.input().readNBytes(5)))
 *         .start()) {
 *     server.awaitTermination();
 * }
 * }</pre>
 *
 * <p>Each connection goes through {@code accept -> address check -> handshake chain -> address
 * check again (if a step changed the peer) -> handler}. A denied peer is closed as soon as it is
 * accepted; nothing from it reaches application code.
 *
 * <p>Each entry point returns the builder of its kind of endpoint, and each builder has only the
 * settings that apply to it: {@link TcpBuilder} ({@link #on}: bind address, backlog, kernel
 * filter, address rules, penalties), {@link UnixBuilder} ({@link #onUnix}: the file's mode, owner
 * and group, credential rules), {@link UnixAbstractBuilder} ({@link #onAbstract}) and {@link
 * InheritedBuilder} ({@link #fromSystemd}, {@link #fromInetd}: no address or backlog, which are
 * whoever opened the socket's). What they share (rules, handshakes, limits, handlers, executor,
 * transport, event loops) is in {@link Builder}.
 *
 * <p>Each setter checks its argument at once and throws {@link IllegalArgumentException} naming
 * the bad value. {@link Builder#build()} checks the settings together (missing or conflicting ones
 * fail with {@link IllegalStateException}) and returns an immutable {@link ServerSpec}, which
 * {@link ServerSpec#start() starts}; {@link Builder#start()} does both. A server with no access
 * rules at all does not build: call {@link Builder#allowAll()} to run an open server on purpose.
 */
public final class Server {
  /** The default backlog ({@link TcpBuilder#backlog}, {@link LocalBuilder#backlog}). */
  public static final int DEFAULT_BACKLOG = Endpoint.DEFAULT_BACKLOG;

  /** The default {@link Builder#handshakeTimeout(Duration)}. */
  public static final Duration DEFAULT_HANDSHAKE_TIMEOUT = Duration.ofSeconds(10);

  /** The default {@link UnixBuilder#mode(int)} of a Unix socket file: read and write for its owner only. */
  public static final int DEFAULT_UNIX_MODE = Endpoint.DEFAULT_UNIX_MODE;

  private Server() {}

  /**
   * A server on a TCP port, listening on every local address (dual-stack {@code ::} where IPv6 is
   * available) unless {@link TcpBuilder#bindAddress(String)} says otherwise.
   *
   * @param port {@code 0..65535}; 0 lets the kernel pick a free port, which {@link
   *     RunningServer#localAddress()} then reports
   * @return a new builder for that port
   * @throws IllegalArgumentException if the port is out of range
   */
  public static TcpBuilder on(int port) {
    return new TcpBuilder(new Endpoint.Tcp(port));
  }

  /**
   * A server on a Unix domain socket at this path, with the same rules, handshakes and handlers
   * as a TCP server. Who may connect is decided twice: by the file's permissions ({@link
   * UnixBuilder#mode}, {@link UnixBuilder#owner}, {@link UnixBuilder#group}), which the kernel checks
   * at {@code connect}, and then by credential rules ({@link LocalBuilder#allowUid}, {@link
   * LocalBuilder#allowUser}, ...) on the peer's {@code SO_PEERCRED}.
   * Address rules never match a local peer. The file never exists with looser permissions than
   * asked, a stale socket file is replaced, a live socket or a file that is not a socket makes
   * {@code start()} fail, and the file is removed on close.
   *
   * @param path the socket file; its absolute UTF-8 form may be at most 107 bytes (the kernel's limit)
   * @return a new builder for that socket
   * @throws IllegalArgumentException if the path is empty or too long, naming it
   */
  public static UnixBuilder onUnix(java.nio.file.Path path) {
    return new UnixBuilder(new Endpoint.UnixPath(Objects.requireNonNull(path, "path")));
  }

  /**
   * A server on a Linux abstract Unix domain socket: a name, not a file, so there are no file
   * permissions, and {@code build()} refuses it without at least one credential rule ({@link
   * LocalBuilder#allowUid}, {@link LocalBuilder#allowUser}, ...). Abstract names belong to the
   * network namespace.
   *
   * @param name the name, without the leading NUL byte; at most 107 bytes of UTF-8
   * @return a new builder for that socket
   * @throws IllegalArgumentException if the name is empty, too long, or contains NUL
   */
  public static UnixAbstractBuilder onAbstract(String name) {
    return new UnixAbstractBuilder(
        new Endpoint.UnixAbstract(Objects.requireNonNull(name, "name"), DEFAULT_BACKLOG));
  }

  /**
   * A server on the listening socket that systemd passed (socket activation: a {@code .socket} unit,
   * or {@code systemd-socket-activate -l PORT}). Everything else is as for {@link #on}: rules,
   * handshakes and handlers apply to every connection, including those the kernel queued before
   * this process started. At {@link Builder#start()} the server checks that {@code LISTEN_PID} is this
   * process and {@code LISTEN_FDS} is exactly one socket, and the transport checks that it is a
   * listening TCP socket and makes it close-on-exec. The socket's address and backlog are systemd's
   * ({@code ListenStream=}, {@code Backlog=}), so the {@link InheritedBuilder} has no bind address
   * or backlog.
   *
   * @return a new builder for that socket
   */
  public static InheritedBuilder fromSystemd() {
    return new InheritedBuilder(new ServerSpec.Declared(false, Optional.empty()));
  }

  /**
   * A server on the socket systemd passed under this name ({@code FileDescriptorName=} in the
   * {@code .socket} unit, {@code --fdname} for {@code systemd-socket-activate}); see {@link
   * #fromSystemd()}.
   *
   * @param name the socket's name
   * @return a new builder for that socket
   * @throws IllegalArgumentException if the name is empty or contains {@code :}
   */
  public static InheritedBuilder fromSystemd(String name) {
    return new InheritedBuilder(new ServerSpec.Declared(false, Optional.of(Objects.requireNonNull(name, "name"))));
  }

  /**
   * A server for one connection that was accepted for this process: inetd's {@code nowait} (the
   * connection is standard input) or systemd's {@code Accept=yes} (fd 3, with {@code LISTEN_FDS=1}).
   * The connection goes through the same policy, handshakes and handler; then the server
   * terminates by itself, so {@link RunningServer#awaitTermination()} returns and the process can
   * exit. Under classic inetd, standard input, output and error are all the connection: print
   * nothing and log to a file or syslog, never to the console. The socket is made non-blocking,
   * which descriptors sharing it share.
   *
   * @return a new builder for that connection
   */
  public static InheritedBuilder fromInetd() {
    return new InheritedBuilder(new ServerSpec.Declared(true, Optional.empty()));
  }

  /**
   * What every kind of server is declared with: the access rules, the handshake chain, the limits,
   * the handler and where it runs. The kinds add what only they have ({@link TcpBuilder}, {@link
   * UnixBuilder}, {@link UnixAbstractBuilder}, {@link InheritedBuilder}); each setter returns the
   * builder of its own kind, so a chain keeps them in reach.
   *
   * <p>A builder is mutable and not thread-safe. {@link #build()} takes a snapshot: later calls do
   * not change a built {@link ServerSpec}, and a builder may be built or started more than once.
   *
   * @param <B> the builder's own type, which every setter returns
   */
  public abstract static sealed class Builder<B extends Builder<B>> permits IpBuilder, LocalBuilder {
    // A field per setting, as the user gave it; build() checks them together and takes a snapshot.
    // Two settings come more than one way: the address policy (allow/deny calls gathered in
    // `rules`, with `anyRule`; a whole `policy`; `allowAll`) and the handler (`handler` or
    // `loopHandler`); build() refuses a mix. allow/deny and handshake add; every other setter replaces.
    private Limits limits = Limits.NONE;
    private final AccessPolicy.Builder rules = AccessPolicy.builder();
    private boolean anyRule;
    private boolean allowAll;
    private AccessPolicy policy;
    private final List<Handshake> handshakes = new ArrayList<>();
    private Duration handshakeTimeout = DEFAULT_HANDSHAKE_TIMEOUT;
    private Duration idleTimeout = Duration.ZERO;
    private Handler handler;
    private LoopHandler loopHandler;
    private Executor executor;
    private Transport transport;
    private int eventLoops; // 0: the default, decided at start()
    private dev.portcullis.policy.Penalties penalties;
    private boolean localSourceByGroup;

    Builder() {}

    /** A copy of {@code from}'s settings, for {@link ServerSpec#newBuilder()}. */
    Builder(Builder<?> from) {
      limits = from.limits;
      rules.rules(from.rules.build());
      anyRule = from.anyRule;
      allowAll = from.allowAll;
      policy = from.policy;
      handshakes.addAll(from.handshakes);
      handshakeTimeout = from.handshakeTimeout;
      idleTimeout = from.idleTimeout;
      handler = from.handler;
      loopHandler = from.loopHandler;
      executor = from.executor;
      transport = from.transport;
      eventLoops = from.eventLoops;
      penalties = from.penalties;
      localSourceByGroup = from.localSourceByGroup;
    }

    /** Where the server is, as messages say it: {@code on port 7000}, {@code from systemd}. */
    abstract String place();

    /** A new builder with these settings. */
    abstract B copy();

    /** What this kind of server needs of its rules, checked against the policy in force. */
    abstract void checkRules(AccessPolicy effective);

    /** The endpoint, or empty for a socket this process is given. */
    Optional<Endpoint> endpointToBind() {
      return Optional.empty();
    }

    /** For a socket this process is given, how it is passed. */
    Optional<ServerSpec.Declared> declared() {
      return Optional.empty();
    }

    /** Whether a kernel filter was asked for. */
    boolean kernelFilterAsked() {
      return false;
    }

    /** The endpoint's own settings, for {@link ServerSpec#toString()}: {@code port 7000, backlog 512}. */
    abstract String describeEndpoint();

    @SuppressWarnings("unchecked")
    final B self() {
      return (B) this;
    }

    final String where() {
      return "Server " + place();
    }

    final B addressRule(boolean allow, String cidr) {
      if (allow) {
        rules.allow(Objects.requireNonNull(cidr, "allow(cidr): cidr is null; give a prefix such as \"10.0.0.0/8\""));
      } else {
        rules.deny(Objects.requireNonNull(cidr, "deny(cidr): cidr is null; give a prefix such as \"10.66.0.0/16\""));
      }
      anyRule = true;
      return self();
    }

    final B credentialRule(CredentialRule rule) {
      rules.rule(rule);
      anyRule = true;
      return self();
    }

    final B setPenalties(dev.portcullis.policy.Penalties settings) {
      this.penalties = Objects.requireNonNull(settings, "Server.penalties(penalties): penalties");
      return self();
    }

    final B setSourcePrefix(int ipv4Bits, int ipv6Bits) {
      limits = limits.withSourcePrefix(ipv4Bits, ipv6Bits);
      return self();
    }

    final B setLocalSourceByGroup() {
      this.localSourceByGroup = true;
      return self();
    }

    /**
     * Allows every peer not denied by a more specific rule ({@code allow 0.0.0.0/0} and {@code allow
     * ::/0}). Without this or some rule, {@link #build()} refuses an open server.
     *
     * @return this builder
     */
    public B allowAll() {
      this.allowAll = true;
      return self();
    }

    /**
     * Uses a prepared policy (for example {@link AccessPolicy#load}) instead of {@code allow}/{@code
     * deny} calls. Combining it with those calls or with {@link #allowAll()} fails at {@link
     * #build()}.
     *
     * @param policy the policy to enforce
     * @return this builder
     */
    public B policy(AccessPolicy policy) {
      this.policy = Objects.requireNonNull(policy, "policy");
      return self();
    }

    /**
     * Adds a step to the handshake chain. Steps run in the order they were added, after the address
     * check and before the handler; see {@link Handshake}.
     *
     * @param step the step to append to the chain
     * @return this builder
     */
    public B handshake(Handshake step) {
      handshakes.add(Objects.requireNonNull(step, "step"));
      return self();
    }

    /**
     * The absolute deadline for the whole handshake chain, counted from accept and not reset when
     * bytes arrive. A connection still in its handshake then is closed. Default 10 seconds.
     *
     * @param timeout the deadline for the whole chain, positive and at most a day
     * @return this builder
     * @throws IllegalArgumentException if not positive, or longer than a day
     */
    public B handshakeTimeout(Duration timeout) {
      Objects.requireNonNull(timeout, "timeout");
      if (timeout.isNegative() || timeout.isZero()) {
        throw new IllegalArgumentException("Handshake timeout must be positive: " + Durations.format(timeout));
      }
      if (timeout.compareTo(Duration.ofDays(1)) > 0) {
        throw new IllegalArgumentException("Handshake timeout " + Durations.format(timeout)
            + " is longer than a day; a handshake that slow is an attack, not a client");
      }
      this.handshakeTimeout = timeout;
      return self();
    }

    /**
     * The most connections open at once; over it, a new connection is closed as soon as it is
     * accepted (counted in {@code stats().limited()}), never queued. Checked after the policy, so
     * denied peers never take a slot. Default: no limit (the descriptor limit and the executor bound
     * what the server holds).
     *
     * @param n at least 1
     * @return this builder
     * @throws IllegalArgumentException if {@code n < 1}
     */
    public B maxConnections(int n) {
      limits = limits.withMaxConnections(n);
      return self();
    }

    /**
     * The most connections open at once from one source: an IPv4 address or an IPv6 /64 (see {@link
     * IpBuilder#sourcePrefix}). One source cannot take every slot. Unix socket peers are not counted per
     * source. Default: no limit.
     *
     * <p>Which address is the source: the socket peer, checked at accept; but for a connection from
     * a proxy trusted by a PROXY protocol step ({@link dev.portcullis.handshake.Handshake#relaysFrom}),
     * the client its header names, checked once the header is read (a {@code LOCAL} header, such as
     * a health check, counts the proxy itself). So behind HAProxy each client has its own limit, and
     * the proxy's address is never one shared source. The total ({@link #maxConnections}) counts every
     * connection at accept. {@code start()} refuses per-source limits behind a proxy trusted from
     * every address ({@code 0.0.0.0/0} or {@code ::/0}): any peer could then name its own source.
     *
     * @param n at least 1
     * @return this builder
     * @throws IllegalArgumentException if {@code n < 1}
     */
    public B maxConnectionsPerSource(int n) {
      limits = limits.withMaxPerSource(n);
      return self();
    }

    /**
     * A token bucket per source: {@code burst} connections at once, refilled at {@code perSecond}.
     * The source is the same as for {@link #maxConnectionsPerSource}: the relayed client behind a
     * trusted proxy, else the socket peer. Over it, only that source is refused (counted in {@code
     * stats().limited()}); other sources and
     * the service itself go on, unlike xinetd's {@code cps}, which switches the whole service off.
     * Memory is bounded: at most 65,536 sources are remembered, refilled buckets are forgotten first,
     * and under a flood of distinct sources the oldest are forgotten rather than memory growing.
     *
     * @param perSecond the refill rate, above 0
     * @param burst the bucket size, at least 1
     * @return this builder
     * @throws IllegalArgumentException for a rate that is not a positive number, or {@code burst < 1}
     */
    public B rateLimitPerSource(double perSecond, int burst) {
      limits = limits.withRate(perSecond, burst);
      return self();
    }

    /**
     * The most connections in their handshake at once. With the handshake deadline this bounds what
     * peers that start a handshake and stop can cost: each pending one holds no thread, only its
     * state on the event loop (a TLS one, before its ClientHello is whole, no more than the bytes it
     * sent, in a buffer of at most one record).
     *
     * <p>At the cap, a new connection takes the place of the oldest pending handshake if that one has
     * been pending for a second or more (or half the {@link #handshakeTimeout}, if shorter): that one
     * is closed, counted in {@code stats().limited()}, and, with {@link IpBuilder#penalties}, counted as a
     * handshake timeout of its source. Otherwise the new connection is closed when accepted (counted in
     * {@code stats().limited()}). So a burst of peers that stall in their handshake is pushed out by
     * the clients that come next, rather than shutting everyone out until its deadline, while a flood
     * of more than the cap a second refuses the newest and leaves handshakes that just began alone.
     *
     * <p>Default: {@link Limits#defaultMaxPendingHandshakes()}, from the heap: an eighth of {@link
     * Runtime#maxMemory()} divided by {@value Limits#PENDING_HANDSHAKE_BYTES} bytes a pending
     * handshake may hold, within {@value Limits#MIN_DEFAULT_PENDING_HANDSHAKES}..{@value
     * Limits#MAX_DEFAULT_PENDING_HANDSHAKES} (1,024 with {@code -Xmx256m}). A server without
     * handshake steps has no pending handshakes and is not affected. A {@code limit
     * pending-handshakes} line of the policy sets it too; this setter wins over it.
     *
     * @param n at least 1
     * @return this builder
     * @throws IllegalArgumentException if {@code n < 1}
     */
    public B maxPendingHandshakes(int n) {
      limits = limits.withMaxPendingHandshakes(n);
      return self();
    }

    /**
     * Sets every limit at once, as a value: the same {@link Limits} that policy text's {@code limit}
     * lines make. Each limit set here wins over the policy's; see {@link Limits#over}. Replaces what
     * {@link #maxConnections} and its kin set before.
     *
     * @param limits the limits
     * @return this builder
     */
    public B limits(Limits limits) {
      this.limits = Objects.requireNonNull(limits, "limits");
      return self();
    }

    /**
     * Closes a connection that has moved no byte, either way, for this long after its handshake (a
     * read or a write that moves bytes counts; a handler blocked in a read does not). The handler
     * then sees its streams fail, which is logged at DEBUG; the close is one INFO line on {@code
     * dev.portcullis.refusals} ({@code Closed 192.0.2.7: no bytes either way for 30s}), at most one a
     * second. The handshake has its own deadline ({@link #handshakeTimeout}).
     *
     * <p>Default: none. How long a legitimate connection may be quiet depends on its protocol (a
     * database session, a long poll, an SSH-like console), so a library cannot pick it without
     * cutting some user's clients; and an idle connection costs no thread on JDK 21+ or with {@link
     * #handleOnLoop}. Bound the number of connections with {@link #maxConnections} and set an idle
     * timeout for protocols that have a natural one.
     *
     * @param timeout positive, at most a day; {@link Duration#ZERO} for none
     * @return this builder
     * @throws IllegalArgumentException if negative or longer than a day
     */
    public B idleTimeout(Duration timeout) {
      Objects.requireNonNull(timeout, "timeout");
      if (timeout.isNegative()) {
        throw new IllegalArgumentException("idleTimeout must not be negative: " + Durations.format(timeout));
      }
      if (timeout.compareTo(Duration.ofDays(1)) > 0) {
        throw new IllegalArgumentException("idleTimeout " + Durations.format(timeout)
            + " is longer than a day; use Duration.ZERO for none");
      }
      this.idleTimeout = timeout;
      return self();
    }

    /**
     * The application code that serves each allowed connection, with blocking streams, on the
     * {@link #executor}. The simplest style, and the right one for request/response code that calls
     * other blocking APIs. This or {@link #handleOnLoop} is required.
     *
     * @param handler the blocking handler
     * @return this builder
     */
    public B handle(Handler handler) {
      this.handler = Objects.requireNonNull(handler, "handler");
      return self();
    }

    /**
     * The application code that serves each allowed connection, as callbacks on the event loop:
     * no thread is held while a connection waits, and no thread hand-off is paid per message. The
     * right style for many idle connections, proxies and small fast protocols; callbacks must never
     * block. See {@link LoopHandler}. This or {@link #handle} is required.
     *
     * @param handler the event-loop handler
     * @return this builder
     */
    public B handleOnLoop(LoopHandler handler) {
      this.loopHandler = Objects.requireNonNull(handler, "handler");
      return self();
    }

    /**
     * Where handlers run. Default: the server's own threads, with no cap, so a connection that
     * passed its handshake always gets one (bound the load at accept with {@link #maxConnections}):
     * on JDK 21 and later a virtual thread per connection (a handler waiting on its streams holds no
     * platform thread; found at run time, the jar is built for Java 17); on JDK 17 platform threads,
     * one per open connection, reused and ended after 60 s idle, made by a spawner thread (never by
     * an event loop) that keeps a few parked spares for newcomers (each reserves its stack's address
     * space, 1 MiB on x86-64, and touches a few pages). An executor passed here is
     * not shut down by the server; if it refuses a task, the connection is closed and counted as
     * {@link ServerStats#overloaded()}.
     *
     * @param executor the executor that runs {@link Handler}s
     * @return this builder
     */
    public B executor(Executor executor) {
      this.executor = Objects.requireNonNull(executor, "executor");
      return self();
    }

    /**
     * The transport to run on. Default: the first available one found with {@link
     * java.util.ServiceLoader}.
     *
     * @param transport the transport to use instead of the discovered one
     * @return this builder
     */
    public B transport(Transport transport) {
      this.transport = Objects.requireNonNull(transport, "transport");
      return self();
    }

    /**
     * How many event loops accept and serve connections, each on a thread of its own named {@code
     * portcullis-loop-...}. Every connection lives on the loop that accepted it for its whole life
     * (its handshake and, with {@link #handleOnLoop}, its handler), so a loop count near the number
     * of cores spreads the work without any connection moving between threads. A TCP port the server
     * binds itself gets one {@code SO_REUSEPORT} socket per loop (the kernel spreads new connections
     * evenly; each socket has its own accept queue of {@link TcpBuilder#backlog} and the kernel
     * filter attached), while a Unix or systemd socket is one descriptor every loop accepts from; the
     * limits, the statistics and {@code updatePolicy} are the server's, exact across loops. Default: {@link Runtime#availableProcessors()} at {@code start()} (which follows
     * the CPU affinity and container limits the JVM sees). An inetd connection is served on one loop.
     *
     * @param loops the number of loops, at least 1
     * @return this builder
     * @throws IllegalArgumentException if {@code loops < 1}
     */
    public B eventLoops(int loops) {
      if (loops < 1) {
        throw new IllegalArgumentException("eventLoops must be at least 1, not " + loops);
      }
      this.eventLoops = loops;
      return self();
    }

    /**
     * Checks the settings together and freezes them: the handler, the handshake chain, the rules
     * and what this kind of endpoint needs of them, the limits. Nothing is opened, and the
     * transport is not looked for yet ({@link ServerSpec#start()} does that).
     *
     * @return the immutable description of this server, which {@link ServerSpec#start()} runs
     * @throws IllegalStateException if the handler is missing, there are no access rules, or
     *     settings conflict; the message names the server and the fix
     */
    public ServerSpec<B> build() {
      if (handler == null && loopHandler == null) {
        throw new IllegalStateException(where()
            + " has no handler: call .handle(connection -> ...) or .handleOnLoop(...) before start()");
      }
      if (handler != null && loopHandler != null) {
        throw new IllegalStateException(where()
            + " has both .handle(...) and .handleOnLoop(...); choose one handler style");
      }
      checkChain();
      if (policy != null && (anyRule || allowAll)) {
        throw new IllegalStateException(where()
            + " has both .policy(...) and .allow/.deny/.allowAll rules; put every rule in one place");
      }
      AccessPolicy effective = policy;
      if (effective == null) {
        AccessPolicy.Builder all = AccessPolicy.builder().rules(rules.build());
        if (allowAll) {
          all.rules(AccessPolicy.allowAll());
        }
        effective = all.build();
      }
      if (effective.isEmpty()) {
        throw new IllegalStateException(where()
            + " has no access rules, so anyone on any machine could connect. Say who may connect with"
            + " .allow(\"10.0.0.0/8\") (or .policy(...)), or call .allowAll() to run an open server on purpose.");
      }
      checkRules(effective);
      Limits merged = limits.over(effective.limits());
      checkRelayedLimits(merged);
      return new ServerSpec<>(copy(), endpointToBind(), declared(), kernelFilterAsked(), effective, handshakes,
          handshakeTimeout, idleTimeout, Optional.ofNullable(handler), Optional.ofNullable(loopHandler),
          Optional.ofNullable(executor), merged, eventLoops, Optional.ofNullable(penalties), localSourceByGroup,
          Optional.ofNullable(transport));
    }

    /**
     * Builds and starts: {@code build().start()}. Validates the settings, opens the listening
     * socket and starts accepting.
     *
     * @return the running server
     * @throws IllegalStateException if the handler is missing, there are no access rules, or
     *     settings conflict; or if no transport is available
     * @throws java.net.BindException if the address is in use or the port needs privileges
     * @throws IOException if another socket call fails
     */
    public RunningServer start() throws IOException {
      return build().start();
    }

    /** What a Unix socket server needs of its rules, checked at build. */
    final void checkLocal(AccessPolicy effective) {
      boolean specificCredentialRule = effective.credentialRules().stream()
          .anyMatch(r -> r.kind() != CredentialRule.Kind.ANY);
      if (this instanceof UnixAbstractBuilder && !specificCredentialRule) {
        throw new IllegalStateException(where() + " has no credential rule: an abstract socket has no file"
            + " permissions, so anyone in the network namespace could connect; say who may with allowUid(...),"
            + " allowUser(...), allowGid(...) or allowGroup(...)");
      }
      if (effective.credentialRules().isEmpty()) {
        throw new IllegalStateException(where() + " has only address rules, which never match a local peer;"
            + " add credential rules (allowUid, allowUser, allowGid, allowGroup), or allowAll() to let the file's"
            + " permissions alone decide");
      }
      for (Handshake h : handshakes) {
        if (!h.relaysFrom().isEmpty()) {
          throw new IllegalStateException(where() + " has step '" + h.name() + "', which trusts TCP proxies by"
              + " address; a Unix domain socket peer has none");
        }
      }
    }

    /**
     * Per-source limits behind a proxy trusted from everywhere would count whatever source each peer
     * names for itself: a limit that means nothing, so it is refused rather than guessed at.
     */
    private void checkRelayedLimits(Limits limits) {
      if (handshakes.isEmpty() || (limits.maxPerSource() == 0 && limits.ratePerSecond() == 0)) {
        return;
      }
      for (dev.portcullis.policy.Cidr c : handshakes.get(0).relaysFrom()) {
        if (c.prefixLength() == 0) {
          throw new IllegalStateException(where() + " counts per-source limits for the clients that step '"
              + handshakes.get(0).name() + "' relays, but it trusts " + c + ", so every peer could name its own"
              + " source and no per-source limit would hold; trust only your proxies' addresses (such as"
              + " trustedFrom(\"10.0.0.1/32\")), or drop the per-source limits");
        }
      }
    }

    private void checkChain() {
      java.util.Map<String, Integer> seenAt = new java.util.HashMap<>();
      for (int i = 0; i < handshakes.size(); i++) {
        Handshake h = handshakes.get(i);
        h.validate();
        Integer first = h.oncePerChain() ? seenAt.putIfAbsent(h.name(), i + 1) : null;
        if (first != null) {
          throw new IllegalStateException("The chain has " + h.name().toUpperCase(java.util.Locale.ROOT) + " twice"
              + " (steps " + first + " and " + (i + 1) + "); step '" + h.name() + "' may appear only once, keep one");
        }
        if (!h.relaysFrom().isEmpty() && i > 0) {
          throw new IllegalStateException("Handshake step '" + h.name() + "' is step " + (i + 1) + " of the chain"
              + " but relays for other clients, so it must come first: the steps before it would run before anyone"
              + " knew whose connection it is");
        }
        if (h.mustRunFirst() && i > 0) {
          throw new IllegalStateException("Handshake step '" + h.name() + "' is step " + (i + 1) + " of the chain"
              + " but must come first: its bytes precede every other byte on the connection");
        }
      }
    }
  }

  /**
   * What a server whose peers have IP addresses adds: address rules, the penalty box and how much
   * of an address is one source. Shared by {@link TcpBuilder} and {@link InheritedBuilder}.
   *
   * @param <B> the builder's own type, which every setter returns
   */
  public abstract static sealed class IpBuilder<B extends IpBuilder<B>> extends Builder<B>
      permits TcpBuilder, InheritedBuilder {
    IpBuilder() {}

    IpBuilder(IpBuilder<?> from) {
      super(from);
    }

    /**
     * Allows peers in this prefix ({@code 10.0.0.0/8}, {@code 2001:db8::/32}, or a bare address for
     * one host). The most specific matching rule wins; see {@link AccessPolicy}.
     *
     * @param cidr a prefix such as {@code 10.0.0.0/8}, or a bare address
     * @return this builder
     * @throws IllegalArgumentException if the prefix is malformed; the message quotes it
     */
    public B allow(String cidr) {
      return addressRule(true, cidr);
    }

    /**
     * Denies peers in this prefix; see {@link #allow(String)}.
     *
     * @param cidr a prefix such as {@code 10.66.0.0/16}, or a bare address
     * @return this builder
     * @throws IllegalArgumentException if the prefix is malformed; the message quotes it
     */
    public B deny(String cidr) {
      return addressRule(false, cidr);
    }

    /**
     * A penalty box: sources that fail their handshake (or time out, or hit the rate limit, as
     * configured) too often are refused at accept for a while, before any handshake work, counted in
     * {@link ServerStats#penalized()}, listed by {@link RunningServer#penalties()}, and dropped in the
     * kernel too with {@link TcpBuilder#kernelFilter()} (IPv4 sources that connect directly). Behind a trusted
     * proxy the relayed client is the source. See {@link dev.portcullis.policy.Penalties} for what
     * counts, how long, the exemptions and the memory bound. TCP servers only.
     *
     * @param penalties the settings, such as {@code Penalties.after(10, Duration.ofMinutes(1))}
     * @return this builder
     */
    public B penalties(dev.portcullis.policy.Penalties penalties) {
      return setPenalties(penalties);
    }

    /**
     * How much of an address is one source for the per-source limits. Default: 32 and 64 (an IPv4
     * address, an IPv6 /64, which is what one customer usually holds).
     *
     * @param ipv4Bits 1..32
     * @param ipv6Bits 1..128
     * @return this builder
     * @throws IllegalArgumentException if out of range
     */
    public B sourcePrefix(int ipv4Bits, int ipv6Bits) {
      return setSourcePrefix(ipv4Bits, ipv6Bits);
    }
  }

  /**
   * What a server on a Unix domain socket adds: credential rules on the peer's {@code SO_PEERCRED},
   * per-source limits by uid or gid, and the backlog. Shared by {@link UnixBuilder} and {@link
   * UnixAbstractBuilder}. Address rules never match a local peer, so there are none here.
   *
   * @param <B> the builder's own type, which every setter returns
   */
  public abstract static sealed class LocalBuilder<B extends LocalBuilder<B>> extends Builder<B>
      permits UnixBuilder, UnixAbstractBuilder {
    LocalBuilder() {}

    LocalBuilder(LocalBuilder<?> from) {
      super(from);
    }

    /** This endpoint with another backlog; checks it. */
    abstract void setBacklog(int backlog);

    /**
     * The length of the queue of connections the kernel has completed but the server has not yet
     * accepted, passed to {@code listen(2)} as is. The kernel silently caps it at {@code
     * /proc/sys/net/core/somaxconn} (4096 on current Linux). Default {@value #DEFAULT_BACKLOG}.
     *
     * @param backlog the queue length, at least 1
     * @return this builder
     * @throws IllegalArgumentException if {@code backlog < 1}
     */
    public B backlog(int backlog) {
      setBacklog(backlog);
      return self();
    }

    /**
     * Allows Unix domain socket peers running as this user id.
     *
     * @param uid a user id
     * @return this builder
     */
    public B allowUid(int uid) {
      return credentialRule(CredentialRule.allowUid(uid));
    }

    /**
     * Denies Unix domain socket peers running as this user id.
     *
     * @param uid a user id
     * @return this builder
     */
    public B denyUid(int uid) {
      return credentialRule(CredentialRule.denyUid(uid));
    }

    /**
     * Allows Unix domain socket peers whose primary group is this id.
     *
     * @param gid a group id
     * @return this builder
     */
    public B allowGid(int gid) {
      return credentialRule(CredentialRule.allowGid(gid));
    }

    /**
     * Denies Unix domain socket peers whose primary group is this id.
     *
     * @param gid a group id
     * @return this builder
     */
    public B denyGid(int gid) {
      return credentialRule(CredentialRule.denyGid(gid));
    }

    /**
     * Allows Unix domain socket peers running as this local user.
     *
     * @param user a name from {@code /etc/passwd}
     * @return this builder
     * @throws IllegalArgumentException if there is no such user
     */
    public B allowUser(String user) {
      return credentialRule(CredentialRule.allowUser(user));
    }

    /**
     * Denies Unix domain socket peers running as this local user.
     *
     * @param user a name from {@code /etc/passwd}
     * @return this builder
     * @throws IllegalArgumentException if there is no such user
     */
    public B denyUser(String user) {
      return credentialRule(CredentialRule.denyUser(user));
    }

    /**
     * Allows Unix domain socket peers whose primary group is this local group.
     *
     * @param group a name from {@code /etc/group}
     * @return this builder
     * @throws IllegalArgumentException if there is no such group
     */
    public B allowGroup(String group) {
      return credentialRule(CredentialRule.allowGroup(group));
    }

    /**
     * Denies Unix domain socket peers whose primary group is this local group.
     *
     * @param group a name from {@code /etc/group}
     * @return this builder
     * @throws IllegalArgumentException if there is no such group
     */
    public B denyGroup(String group) {
      return credentialRule(CredentialRule.denyGroup(group));
    }

    /**
     * On a Unix domain socket, count the per-source limits ({@link #maxConnectionsPerSource}, {@link
     * #rateLimitPerSource}) per primary gid of the peer instead of per uid (the default: each local
     * user is one source, as systemd's {@code MaxConnectionsPerSource=} counts {@code AF_UNIX} peers).
     *
     * @return this builder
     */
    public B perSourceByGroup() {
      return setLocalSourceByGroup();
    }
  }

  /**
   * A TCP server that opens its own listening socket: {@link Server#on(int)}. Adds the bind
   * address, the backlog and the kernel filter to what every IP server has.
   */
  public static final class TcpBuilder extends IpBuilder<TcpBuilder> {
    private Endpoint.Tcp endpoint;
    private boolean kernelFilter;

    TcpBuilder(Endpoint.Tcp endpoint) {
      this.endpoint = endpoint;
    }

    private TcpBuilder(TcpBuilder from) {
      super(from);
      this.endpoint = from.endpoint;
      this.kernelFilter = from.kernelFilter;
    }

    /**
     * Listens only on this local address. {@code "::"} is dual-stack (IPv4 clients appear as
     * IPv4-mapped addresses and are matched against IPv4 rules); {@code "0.0.0.0"} is IPv4 only.
     * Default: all addresses, dual-stack.
     *
     * @param address an IP address literal such as {@code 127.0.0.1} or {@code ::1}; never resolved
     * @return this builder
     * @throws IllegalArgumentException if it is not an IP address literal
     */
    public TcpBuilder bindAddress(String address) {
      Objects.requireNonNull(address, "address");
      InetAddress parsed;
      try {
        parsed = IpAddresses.parse(address);
      } catch (IllegalArgumentException e) {
        throw new IllegalArgumentException("Bind address '" + address
            + "' is not an IP address literal (hostnames are not resolved)", e);
      }
      return bindAddress(parsed);
    }

    /**
     * Listens only on this local address; see {@link #bindAddress(String)}.
     *
     * @param address the local address to bind
     * @return this builder
     */
    public TcpBuilder bindAddress(InetAddress address) {
      endpoint = endpoint.withBindAddress(Objects.requireNonNull(address, "address"));
      return this;
    }

    /**
     * The length of the queue of connections the kernel has completed but the server has not yet
     * accepted, passed to {@code listen(2)} as is. The kernel silently caps it at {@code
     * /proc/sys/net/core/somaxconn} (4096 on current Linux). Default {@value #DEFAULT_BACKLOG}.
     *
     * @param backlog the queue length, at least 1
     * @return this builder
     * @throws IllegalArgumentException if {@code backlog < 1}
     */
    public TcpBuilder backlog(int backlog) {
      endpoint = endpoint.withBacklog(backlog);
      return this;
    }

    /**
     * Also filters in the kernel: the policy goes into a socket filter attached to the listening
     * socket, so the kernel drops packets from denied IPv4 and IPv6 addresses and a flood of denied
     * peers never wakes the process. The user-space check still runs for every connection (defence
     * in depth). The trade-off: a denied client then times out, retrying its SYN, instead of being
     * refused at once, and it no longer shows in {@code stats()}.
     *
     * <p>The best filter the process may use is chosen, in this order (see {@link dev.portcullis.spi.KernelFilterMode}):
     * <ol>
     *   <li><b>eBPF</b> where the process may load it (root or {@code CAP_BPF}, Linux 5.11+): the
     *       source is looked up in longest-prefix-match tries, one per family, so a policy of any
     *       size (100,000 rules and more) is decided in the kernel. Policy updates and bans switch to
     *       a new generation of tries at once, with no moment where neither applies.
     *   <li><b>classic BPF</b> ({@code SO_ATTACH_FILTER}, no privilege): one program of at most 4,096
     *       instructions; where both families do not fit, IPv4 alone is filtered (IPv6 in user
     *       space).
     *   <li><b>user space only</b>, where the kernel refuses both or IPv4 alone has too many denied
     *       ranges for classic BPF (about 1,300).
     * </ol>
     * One log line names the mode in force and why a better one was not used; {@link
     * ServerStats#kernelFilter()} says which is live. The system property {@code
     * portcullis.kernelFilter=classic} skips eBPF. The filter follows {@link
     * RunningServer#updatePolicy}, shadow promotion and the {@link #penalties penalty box}. TCP
     * servers opened with {@link #on} only.
     *
     * @return this builder
     */
    public TcpBuilder kernelFilter() {
      this.kernelFilter = true;
      return this;
    }

    @Override
    String place() {
      return "on " + endpoint.describe();
    }

    @Override
    Optional<Endpoint> endpointToBind() {
      return Optional.of(endpoint);
    }

    @Override
    TcpBuilder copy() {
      return new TcpBuilder(this);
    }

    @Override
    void checkRules(AccessPolicy effective) {
      if (effective.rules().isEmpty() && !effective.credentialRules().isEmpty()) {
        throw new IllegalStateException(where() + " has only credential rules (uid, gid, user, group), which never"
            + " match a TCP peer; add address rules such as allow(\"10.0.0.0/8\")");
      }
    }

    @Override
    boolean kernelFilterAsked() {
      return kernelFilter;
    }

    @Override
    String describeEndpoint() {
      return endpoint.describe() + endpoint.bindAddress().map(a -> " on " + IpAddresses.format(a)).orElse("")
          + ", backlog " + endpoint.backlog() + (kernelFilter ? ", kernel filter" : "");
    }
  }

  /**
   * A server on a socket this process was given open: {@link Server#fromSystemd()} (a listening
   * socket) or {@link Server#fromInetd()} (one connection). Its address and backlog are whoever
   * opened it's, so there is no setter for them. The socket may be TCP or Unix, so both address
   * rules and credential rules may be given.
   */
  public static final class InheritedBuilder extends IpBuilder<InheritedBuilder> {
    private final ServerSpec.Declared declared;

    InheritedBuilder(ServerSpec.Declared declared) {
      this.declared = declared;
    }

    private InheritedBuilder(InheritedBuilder from) {
      super(from);
      this.declared = from.declared;
    }

    /**
     * Allows Unix domain socket peers running as this user id.
     *
     * @param uid a user id
     * @return this builder
     */
    public InheritedBuilder allowUid(int uid) {
      return credentialRule(CredentialRule.allowUid(uid));
    }

    /**
     * Denies Unix domain socket peers running as this user id.
     *
     * @param uid a user id
     * @return this builder
     */
    public InheritedBuilder denyUid(int uid) {
      return credentialRule(CredentialRule.denyUid(uid));
    }

    /**
     * Allows Unix domain socket peers whose primary group is this id.
     *
     * @param gid a group id
     * @return this builder
     */
    public InheritedBuilder allowGid(int gid) {
      return credentialRule(CredentialRule.allowGid(gid));
    }

    /**
     * Denies Unix domain socket peers whose primary group is this id.
     *
     * @param gid a group id
     * @return this builder
     */
    public InheritedBuilder denyGid(int gid) {
      return credentialRule(CredentialRule.denyGid(gid));
    }

    /**
     * Allows Unix domain socket peers running as this local user.
     *
     * @param user a name from {@code /etc/passwd}
     * @return this builder
     * @throws IllegalArgumentException if there is no such user
     */
    public InheritedBuilder allowUser(String user) {
      return credentialRule(CredentialRule.allowUser(user));
    }

    /**
     * Denies Unix domain socket peers running as this local user.
     *
     * @param user a name from {@code /etc/passwd}
     * @return this builder
     * @throws IllegalArgumentException if there is no such user
     */
    public InheritedBuilder denyUser(String user) {
      return credentialRule(CredentialRule.denyUser(user));
    }

    /**
     * Allows Unix domain socket peers whose primary group is this local group.
     *
     * @param group a name from {@code /etc/group}
     * @return this builder
     * @throws IllegalArgumentException if there is no such group
     */
    public InheritedBuilder allowGroup(String group) {
      return credentialRule(CredentialRule.allowGroup(group));
    }

    /**
     * Denies Unix domain socket peers whose primary group is this local group.
     *
     * @param group a name from {@code /etc/group}
     * @return this builder
     * @throws IllegalArgumentException if there is no such group
     */
    public InheritedBuilder denyGroup(String group) {
      return credentialRule(CredentialRule.denyGroup(group));
    }

    @Override
    String place() {
      return "from " + declared.describe();
    }

    @Override
    InheritedBuilder copy() {
      return new InheritedBuilder(this);
    }

    @Override
    void checkRules(AccessPolicy effective) {
      // TCP or Unix: both kinds of rule may apply, and the socket says which at start
    }

    @Override
    Optional<ServerSpec.Declared> declared() {
      return Optional.of(declared);
    }

    @Override
    String describeEndpoint() {
      return declared.describe();
    }
  }

  /**
   * A server on a Unix domain socket file: {@link Server#onUnix}. Adds the file's mode, owner and
   * group to what every local server has.
   */
  public static final class UnixBuilder extends LocalBuilder<UnixBuilder> {
    private Endpoint.UnixPath endpoint;

    UnixBuilder(Endpoint.UnixPath endpoint) {
      this.endpoint = endpoint;
    }

    private UnixBuilder(UnixBuilder from) {
      super(from);
      this.endpoint = from.endpoint;
    }

    /**
     * The permission bits of the Unix socket file, such as {@code 0660} (connecting needs write
     * permission). Default {@value #DEFAULT_UNIX_MODE} (octal 600): the owner only.
     *
     * @param mode {@code 0..0777}, usually written in octal
     * @return this builder
     * @throws IllegalArgumentException if out of range
     */
    public UnixBuilder mode(int mode) {
      endpoint = endpoint.withMode(mode);
      return this;
    }

    /**
     * Gives the Unix socket file to this user (needs the privilege to chown).
     *
     * @param user a local user name
     * @return this builder
     * @throws IllegalArgumentException if there is no such local user
     */
    public UnixBuilder owner(String user) {
      endpoint = endpoint.withOwner(dev.portcullis.policy.Accounts.uid(Objects.requireNonNull(user, "user")));
      return this;
    }

    /**
     * Gives the Unix socket file to this group, so that with {@code mode(0660)} its members may connect.
     *
     * @param group a local group name
     * @return this builder
     * @throws IllegalArgumentException if there is no such local group
     */
    public UnixBuilder group(String group) {
      endpoint = endpoint.withGroup(dev.portcullis.policy.Accounts.gid(Objects.requireNonNull(group, "group")));
      return this;
    }

    @Override
    void setBacklog(int backlog) {
      endpoint = endpoint.withBacklog(backlog);
    }

    @Override
    String place() {
      return "on " + endpoint.describe();
    }

    @Override
    Optional<Endpoint> endpointToBind() {
      return Optional.of(endpoint);
    }

    @Override
    UnixBuilder copy() {
      return new UnixBuilder(this);
    }

    @Override
    void checkRules(AccessPolicy effective) {
      checkLocal(effective);
      java.nio.file.Path parent = endpoint.path().toAbsolutePath().getParent();
      if (parent == null || !java.nio.file.Files.isDirectory(parent)) {
        throw new IllegalStateException(where() + ": the directory " + parent + " does not exist");
      }
    }

    @Override
    String describeEndpoint() {
      return endpoint.describe() + ", mode 0" + Integer.toOctalString(endpoint.mode())
          + (endpoint.owner().isPresent() ? ", owner uid " + endpoint.owner().getAsInt() : "")
          + (endpoint.group().isPresent() ? ", group gid " + endpoint.group().getAsInt() : "")
          + ", backlog " + endpoint.backlog();
    }
  }

  /**
   * A server on a name in Linux's abstract socket namespace: {@link Server#onAbstract}. There is no
   * file, so no mode, owner or group; credential rules are required.
   */
  public static final class UnixAbstractBuilder extends LocalBuilder<UnixAbstractBuilder> {
    private Endpoint.UnixAbstract endpoint;

    UnixAbstractBuilder(Endpoint.UnixAbstract endpoint) {
      this.endpoint = endpoint;
    }

    private UnixAbstractBuilder(UnixAbstractBuilder from) {
      super(from);
      this.endpoint = from.endpoint;
    }

    @Override
    void setBacklog(int backlog) {
      endpoint = endpoint.withBacklog(backlog);
    }

    @Override
    String place() {
      return "on " + endpoint.describe();
    }

    @Override
    Optional<Endpoint> endpointToBind() {
      return Optional.of(endpoint);
    }

    @Override
    UnixAbstractBuilder copy() {
      return new UnixAbstractBuilder(this);
    }

    @Override
    void checkRules(AccessPolicy effective) {
      checkLocal(effective);
    }

    @Override
    String describeEndpoint() {
      return endpoint.describe() + ", backlog " + endpoint.backlog();
    }
  }
}
