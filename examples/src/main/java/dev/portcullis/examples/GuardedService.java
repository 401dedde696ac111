package dev.portcullis.examples;

import dev.portcullis.Penalty;
import dev.portcullis.PenaltyListener;
import dev.portcullis.RunningServer;
import dev.portcullis.admission.AdapterServerView;
import dev.portcullis.jna.KernelGuard;
import dev.portcullis.policy.AccessPolicy;
import dev.portcullis.policy.Cidr;
import dev.portcullis.policy.Limits;
import dev.portcullis.policy.Penalties;
import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.net.SocketAddress;
import java.net.SocketException;
import java.nio.channels.ServerSocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * What the examples in front of a server that Portcullis did not open ({@code jetty-http} on Jetty
 * 12, {@code netty-http} on Netty 4.2) share: their options (the policy, the login token, the
 * penalty box, the limits), the login check whose failures feed the penalty box, the kernel guard
 * on the server's own listening socket, and the guard as the {@link RunningServer} that {@link
 * Service#run} prints, stops and waits for.
 *
 * <p>Each of them serves {@code GET /health} ({@code ok}), {@code GET /hello} ({@code hello
 * ADDRESS}) and {@code POST /login} with {@code Authorization: Bearer TOKEN}: the right token is
 * 200, a wrong or missing one 401 and one offence of weight {@value #BAD_LOGIN_WEIGHT} in the penalty box
 * (reason {@value #BAD_LOGIN_REASON}); by default {@value #DEFAULT_PENALTY} (five within a minute)
 * bans the source for a minute, doubling on repeat up to an hour. A banned source is refused at
 * accept, and with the kernel guard its SYNs are dropped in the kernel.
 */
public final class GuardedService {
  private GuardedService() {}

  private static final Logger LOG = LoggerFactory.getLogger(GuardedService.class);

  /** The environment variable read for the login token when {@code --token-file} is not given. */
  public static final String TOKEN_ENV = "PORTCULLIS_LOGIN_TOKEN";

  /** The longest token file read, in bytes: a token is one short line. */
  public static final int MAX_TOKEN_FILE_BYTES = 4096;

  /** {@code --penalty} unless given: five bad logins within a minute ban the source for a minute. */
  public static final String DEFAULT_PENALTY = "5:60";

  /** How many offences one wrong token counts as. */
  public static final int BAD_LOGIN_WEIGHT = 1;

  /** The reason a wrong token gives the penalty box, which its ban line repeats. */
  public static final String BAD_LOGIN_REASON = "bad login token";

  /** Connections open at once, by default ({@code --max-connections}). */
  public static final int DEFAULT_MAX_CONNECTIONS = 1024;

  /** Connections open at once from one source, by default ({@code --max-per-source}; 0 for none). */
  public static final int DEFAULT_MAX_PER_SOURCE = 64;

  /** How long a connection may stay quiet before the server closes it, in seconds. */
  public static final int IDLE_TIMEOUT_SECONDS = 30;

  /** The longest request body read ({@code POST /login} needs none), and the longest head, in bytes. */
  public static final int MAX_BODY_BYTES = 1024;

  /** The options every such command accepts, in the order its help lists them. */
  public static final List<Option> OPTIONS = Option.concat(List.of(
      Option.valued("--port", "P", "the TCP port to listen on, 0..65535; 0 picks a free one (required)"),
      Option.valued("--bind", "ADDR", "the local address to listen on (default: every address, IPv4 and IPv6)")),
      PolicyOptions.RULES, List.of(PolicyOptions.ALLOW_ALL,
      Option.flag("--watch", "reload --policy FILE when it changes, in the JVM and in the kernel (default: read once)"),
      Option.valued("--token-file", "FILE", "the login token: the first line of FILE (default: the environment"
          + " variable " + TOKEN_ENV + "; one of them is required)"),
      Option.valued("--penalty", "N:SECONDS", "ban a source for SECONDS once it sent N wrong tokens within a minute,"
          + " doubling on repeat up to an hour (default " + DEFAULT_PENALTY + ")"),
      Option.valued("--max-connections", "N", "connections open at once (default " + DEFAULT_MAX_CONNECTIONS + ")"),
      Option.valued("--max-per-source", "N", "connections open at once from one source; 0: no limit (default "
          + DEFAULT_MAX_PER_SOURCE + ")"),
      Option.flag("--no-kernel-guard", "do not attach the policy and the bans to the listening socket in the kernel"
          + " (default: attach them where the kernel lets the process)")));

  /**
   * A command of this kind, as its {@code --help} shows it.
   *
   * @param name the command, such as {@code jetty-http}
   * @param summary what it does, in one line
   * @return the command, with {@link #OPTIONS}
   */
  public static Command command(String name, String summary) {
    return new Command(name, List.of("--port P (--policy FILE | --allow CIDR ...) [--token-file FILE] [OPTIONS]"),
        summary, OPTIONS, List.of(
            "GET /health: ok; GET /hello: hello ADDRESS; POST /login with 'Authorization: Bearer TOKEN': 200, or 401",
            "and an offence in the penalty box. A banned or denied source is refused at accept, and with the kernel",
            "guard its SYNs are dropped before the TCP handshake. Connections quiet for " + IDLE_TIMEOUT_SECONDS
                + " s are closed.",
            "Exit status: 0 stopped by SIGTERM or Ctrl-C, 1 the system refused (a port in use), 2 bad input."));
  }

  /**
   * What the command line asks for, checked before anything starts.
   *
   * @param port the port
   * @param bind the local address, or null for every address
   * @param token the login token's bytes
   * @param penalties the penalty box
   * @param limits the connection limits
   * @param kernelGuard whether to attach the kernel guard
   * @param options the parsed options, for the policy (read, and re-read on {@code --watch}, at start)
   */
  public record Settings(int port, String bind, byte[] token, Penalties penalties, Limits limits, boolean kernelGuard,
      Options options) {
    /**
     * The policy the options describe.
     *
     * @return the policy, never empty
     * @throws IOException if the policy file cannot be read
     * @throws IllegalStateException if no rule was given
     */
    public AccessPolicy policy() throws IOException {
      AccessPolicy policy = PolicyOptions.policy(options, options.has("--allow-all"));
      if (policy.isEmpty()) {
        throw new IllegalStateException("no access rules, so anyone on any machine could connect; give --allow CIDR,"
            + " --policy FILE, or --allow-all to run an open server on purpose");
      }
      return policy;
    }

    /**
     * The address to listen on.
     *
     * @return {@code --bind}'s address and {@code --port}, or the wildcard
     */
    public java.net.InetSocketAddress address() {
      return bind == null ? new java.net.InetSocketAddress(port) : new java.net.InetSocketAddress(bind, port);
    }

    /**
     * Whether {@code authorization}, a request's {@code Authorization} header, is {@code Bearer TOKEN}
     * with the right token (compared in constant time).
     *
     * @param authorization the header, or null
     * @return true for the right token
     */
    public boolean loginMatches(String authorization) {
      if (authorization == null || !authorization.regionMatches(true, 0, "Bearer ", 0, 7)) {
        return false;
      }
      return MessageDigest.isEqual(token, authorization.substring(7).strip().getBytes(StandardCharsets.UTF_8));
    }
  }

  /**
   * Reads and checks the options of a command of this kind.
   *
   * @param args the command-line arguments, without the command name
   * @param command the command, for its options
   * @return the settings
   * @throws UsageException for a bad option, in the command line's words (a token file that cannot
   *     be read among them)
   */
  public static Settings settings(String[] args, Command command) {
    Options o = Options.parse(args, command.options());
    if (!o.positional().isEmpty()) {
      throw new UsageException("unexpected argument '" + o.positional().get(0) + "'");
    }
    int port = o.integer("--port", 0, 65535, null);
    if (o.has("--watch") && o.one("--policy") == null) {
      throw new UsageException("--watch reloads the --policy FILE; give one");
    }
    Penalties penalties;
    try {
      penalties = Penalties.parse(o.one("--penalty") != null ? o.one("--penalty") : DEFAULT_PENALTY);
    } catch (IllegalArgumentException e) {
      throw new UsageException("--penalty: " + e.getMessage());
    }
    Limits limits = Limits.NONE.withMaxConnections(
        o.integer("--max-connections", 1, Integer.MAX_VALUE, DEFAULT_MAX_CONNECTIONS));
    int perSource = o.integer("--max-per-source", 0, Integer.MAX_VALUE, DEFAULT_MAX_PER_SOURCE);
    if (perSource > 0) {
      limits = limits.withMaxPerSource(perSource);
    }
    return new Settings(port, o.one("--bind"), token(o.one("--token-file")), penalties, limits,
        !o.has("--no-kernel-guard"), o);
  }

  /** The token: the first line of the file, else the environment variable; never empty. */
  private static byte[] token(String file) {
    String token;
    if (file != null) {
      Path path = Path.of(file);
      if (!Files.isRegularFile(path)) {
        throw new UsageException("--token-file " + file + " is not a regular file");
      }
      try (InputStream in = Files.newInputStream(path)) {
        byte[] b = in.readNBytes(MAX_TOKEN_FILE_BYTES + 1);
        if (b.length > MAX_TOKEN_FILE_BYTES) {
          throw new UsageException("--token-file " + file + " is over " + MAX_TOKEN_FILE_BYTES
              + " bytes; a token is one short line");
        }
        token = new String(b, StandardCharsets.UTF_8).lines().findFirst().orElse("").strip();
      } catch (IOException e) {
        throw new UsageException("--token-file " + FileProblem.message(e));
      }
      if (token.isEmpty()) {
        throw new UsageException("--token-file " + file + " has no token on its first line");
      }
    } else {
      token = System.getenv(TOKEN_ENV) == null ? "" : System.getenv(TOKEN_ENV).strip();
      if (token.isEmpty()) {
        throw new UsageException("no login token; give --token-file FILE or set " + TOKEN_ENV);
      }
    }
    return token.getBytes(StandardCharsets.UTF_8);
  }

  /**
   * The exception to throw when the server could not listen on {@code address}: a {@link
   * java.net.BindException} (exit status 1) that names the address, if {@code e} or a cause of it is
   * one (Jetty wraps it in an {@link IOException}); else {@code e} as an {@link IOException}.
   *
   * @param address where the server was to listen
   * @param e what the server threw
   * @return the exception to throw
   */
  public static IOException bindFailed(SocketAddress address, Exception e) {
    for (Throwable t = e; t != null; t = t.getCause()) {
      if (t instanceof java.net.BindException) {
        java.net.BindException b = new java.net.BindException("cannot listen on " + Service.describe(address) + ": "
            + t.getMessage());
        b.initCause(e);
        return b;
      }
    }
    return e instanceof IOException io ? io : new IOException(e.getMessage(), e);
  }

  /** Stops the guarded server, letting connections in flight finish within {@code grace}. */
  @FunctionalInterface
  public interface Stop {
    /**
     * Stops the server.
     *
     * @param grace how long connections in flight may take
     * @throws Exception if stopping failed (logged; the service still ends)
     */
    void stop(Duration grace) throws Exception;
  }

  /**
   * The guarded server has started: attaches the kernel guard to its listening socket (unless
   * {@code --no-kernel-guard}; when it cannot, one INFO line says why and the guard in the JVM
   * decides alone), starts the policy watcher on {@code --watch}, and returns the guard as the
   * {@link RunningServer} that {@link Service#run} prints and stops. The guard's bans reach the
   * kernel through a {@link PenaltyListener} (told off the server's threads), its policy updates
   * through a policy listener.
   *
   * @param settings the command's settings
   * @param guard the adapter's guard in front of the server
   * @param socket the server's listening socket, bound
   * @param local the address it listens on
   * @param stop stops the server and its guard
   * @param err where the policy watcher's messages go
   * @return the service, running
   * @throws IOException if {@code --watch} cannot watch the policy's directory
   */
  public static RunningServer started(Settings settings, AdapterServerView.Guard guard, ServerSocketChannel socket,
      SocketAddress local, Stop stop, PrintStream err) throws IOException {
    Running running = new Running(guard, local, stop);
    try {
      if (settings.kernelGuard()) {
        running.kernel = kernelGuard(socket, running, local);
      } else {
        LOG.info("No kernel guard on {}: --no-kernel-guard; the guard in the JVM decides alone",
            Service.describe(local));
      }
      if (settings.options().has("--watch")) {
        AutoCloseable watcher = dev.portcullis.examples.echo.PolicyWatcher.start(
            Path.of(settings.options().one("--policy")), settings::policy, running::updatePolicy, err);
        Service.closeWith(running, watcher);
      }
    } catch (IOException | RuntimeException e) {
      running.close();
      throw e;
    }
    return running;
  }

  /** The kernel guard on {@code socket}, fed the guard's bans and policies; null (and one line) if refused. */
  private static KernelGuard kernelGuard(ServerSocketChannel socket, Running running, SocketAddress local) {
    KernelGuard kernel;
    try {
      kernel = KernelGuard.attach(socket, running.policy());
    } catch (SocketException | RuntimeException | LinkageError e) {
      LOG.info("No kernel guard on {}: {}; the guard in the JVM decides alone", Service.describe(local),
          e.getMessage());
      return null;
    }
    LOG.info("Kernel guard on {}: {}; denied and banned peers are dropped before the TCP handshake",
        Service.describe(local), kernel.mode());
    running.addPenaltyListener(new PenaltyListener() {
      @Override
      public void banned(Penalty penalty, String reason, boolean external) {
        kernel.updateBans(running.chain.directBans());
      }

      @Override
      public void lifted(Cidr range, String reason) {
        kernel.updateBans(running.chain.directBans());
      }
    });
    running.addPolicyListener(policy -> {
      try {
        kernel.updatePolicy(policy);
      } catch (SocketException e) {
        LOG.warn("The kernel guard on {} could not take the new policy, so it filters nothing now (the guard in the"
            + " JVM has it): {}", Service.describe(local), e.getMessage());
      }
    });
    return kernel;
  }

  /** The guard as a {@link RunningServer} whose stop stops the server behind it, and the kernel guard. */
  private static final class Running extends AdapterServerView {
    private final dev.portcullis.admission.AdmissionChain chain;
    private final SocketAddress local;
    private final Stop stop;
    private final AtomicBoolean stopping = new AtomicBoolean();
    private final CountDownLatch ended = new CountDownLatch(1);
    volatile KernelGuard kernel;

    Running(AdapterServerView.Guard guard, SocketAddress local, Stop stop) {
      super(guard);
      this.chain = guard.chain();
      this.local = local;
      this.stop = stop;
    }

    @Override
    public SocketAddress localAddress() {
      return local;
    }

    @Override
    public Map<String, Integer> handshakesInProgress() {
      return Map.of();
    }

    @Override
    protected String stopMessage(String method) {
      return method; // never said: this view stops the server
    }

    @Override
    public boolean shutdown(Duration grace) {
      if (stopping.compareAndSet(false, true)) {
        try {
          stop.stop(grace);
        } catch (Exception e) {
          LOG.warn("Stopping {} failed", Service.describe(local), e);
        } finally {
          KernelGuard k = kernel;
          if (k != null) {
            k.close();
          }
          ended.countDown();
        }
      }
      return true;
    }

    @Override
    public void close() {
      shutdown(Duration.ZERO);
    }

    /** Waits until the server has stopped; an interrupted wait stops it (the view cannot throw the interrupt). */
    @Override
    public void awaitTermination() {
      awaitTermination(Duration.ofNanos(Long.MAX_VALUE));
    }

    @Override
    public boolean awaitTermination(Duration timeout) {
      try {
        return ended.await(timeout.toNanos(), TimeUnit.NANOSECONDS);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        shutdown(Duration.ZERO);
        return true;
      }
    }
  }
}
