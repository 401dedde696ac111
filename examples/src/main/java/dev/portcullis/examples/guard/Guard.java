package dev.portcullis.examples.guard;

import dev.portcullis.Connection;
import dev.portcullis.Handshakes;
import dev.portcullis.Server;
import dev.portcullis.examples.Command;
import dev.portcullis.examples.CrowdSecOptions;
import dev.portcullis.examples.Option;
import dev.portcullis.examples.Options;
import dev.portcullis.examples.PolicyOptions;
import dev.portcullis.examples.Service;
import dev.portcullis.examples.UsageException;
import dev.portcullis.handshake.secret.SharedSecret;
import dev.portcullis.policy.AccessPolicy;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.PrintStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * An access-controlled TCP forwarder, for a service that has no access control of its own (what
 * {@code tcpd} and {@code spiped} are used for): it listens, applies a policy, limits and optional
 * handshakes, and forwards every admitted connection to the backend, byte for byte.
 *
 * <pre>
 * portcullis guard --listen 8080 --backend 127.0.0.1:8000 --policy office.policy --max-per-source 20
 * portcullis guard --listen 8080 --backend 127.0.0.1:8000 --allow 10.0.0.0/8 --proxy-v2
 * </pre>
 *
 * With {@code --proxy-v2} it begins every backend connection with a PROXY protocol v2 header
 * naming the real client, so a backend that reads it (HAProxy's {@code accept-proxy}, nginx's
 * {@code proxy_protocol}, a Portcullis server with {@code Handshakes.proxyProtocol()}) still
 * learns who connected. {@code --secret-file FILE} requires the shared-secret handshake first.
 * Prints {@code listening on HOST:PORT -> BACKEND} when ready; stops gracefully on SIGTERM.
 *
 * <p>It is transparent as a proxy should be: when one side ends its stream, the other side's
 * stream is ended ({@code shutdownOutput}) and the opposite direction goes on until it ends too,
 * as over a direct connection. What a stalled peer can hold is bounded: {@code --max-connections}
 * (default {@value #DEFAULT_MAX_CONNECTIONS}) pairs at once, each closed whole when nothing has
 * moved either way for {@code --idle-timeout} (default {@value #DEFAULT_IDLE_TIMEOUT} s) or one
 * write to either side has not finished within {@code --write-timeout} (default {@value
 * #DEFAULT_WRITE_TIMEOUT} s); the backend must accept within {@code --connect-timeout} (default
 * {@value #DEFAULT_CONNECT_TIMEOUT} s).
 */
public final class Guard {
  private Guard() {}

  /** Client connections (each with its backend connection and two threads) at once, by default. */
  public static final int DEFAULT_MAX_CONNECTIONS = 1000;
  /** Seconds the backend has to accept a connection, by default. */
  public static final int DEFAULT_CONNECT_TIMEOUT = 5;
  /** Seconds with no byte moved either way before a pair is closed, by default. */
  public static final int DEFAULT_IDLE_TIMEOUT = 300;
  /** Seconds one write (of at most 16 KiB) to either side may take, by default. */
  public static final int DEFAULT_WRITE_TIMEOUT = 30;
  /** The bytes one read takes and one write gives. */
  static final int CHUNK = 16 * 1024;

  /** The command as {@code portcullis guard --help} shows it; its options are what the parser accepts. */
  public static final Command COMMAND = new Command("guard", List.of("--listen PORT --backend HOST:PORT [OPTIONS]"),
      "an access-controlled TCP forwarder in front of a service without access control",
      Option.concat(List.of(
          Option.valued("--listen", "PORT", "the TCP port to listen on, 0..65535; 0 picks a free one (required)"),
          Option.valued("--backend", "HOST:PORT", "where each admitted connection is forwarded (required)"),
          Option.valued("--bind", "ADDR", "the local address to listen on (default: every address, IPv4 and IPv6)")),
          PolicyOptions.RULES, List.of(PolicyOptions.ALLOW_ALL), List.of(
          Option.flag("--proxy-v2", "begin each backend connection with a PROXY v2 header naming the client"
              + " (default: off)"),
          Option.valued("--secret-file", "FILE", "require the shared-secret handshake with the keys in FILE,"
              + " KEY_ID:HEXKEY lines (default: none)"),
          Option.valued("--max-connections", "N", "client connections at once, two threads each (default "
              + DEFAULT_MAX_CONNECTIONS + ")"),
          Option.valued("--max-per-source", "N", "client connections at once from one address or IPv6 /64 (default:"
              + " no limit)"),
          Option.valued("--connect-timeout", "SECONDS", "how long the backend has to accept, 1..600 (default "
              + DEFAULT_CONNECT_TIMEOUT + ")"),
          Option.valued("--idle-timeout", "SECONDS", "close both sides when nothing moved either way for SECONDS,"
              + " 1..86400 (default " + DEFAULT_IDLE_TIMEOUT + ")"),
          Option.valued("--write-timeout", "SECONDS", "close both sides when one write to either side takes SECONDS,"
              + " 1..86400 (default " + DEFAULT_WRITE_TIMEOUT + ")"),
          Service.LOOPS,
          Service.PENALTY), CrowdSecOptions.OPTIONS),
      List.of("Exit status: 0 stopped by SIGTERM or Ctrl-C, 1 the system refused (a port in use), 2 bad input."));

  /**
   * The forwarder's timeouts.
   *
   * @param connect how long the backend has to accept
   * @param idle how long a pair may move no byte either way
   * @param write how long one write to either side may take
   */
  record Timeouts(Duration connect, Duration idle, Duration write) {}

  /**
   * {@code java -cp portcullis-examples.jar dev.portcullis.examples.guard.Guard ...}.
   *
   * @param args the command-line arguments, without the command name
   */
  public static void main(String[] args) {
    Service.main(args, Guard::run);
  }

  /**
   * Runs the forwarder until the process is asked to stop; returns the exit status.
   *
   * @param args the command-line arguments, without the command name
   * @param out where results go
   * @param err where errors go
   * @return the exit status: 0 on success, 2 for a usage error, 1 otherwise
   */
  public static int run(String[] args, PrintStream out, PrintStream err) {
    Options o = Options.parse(args, COMMAND.options());
    if (!o.positional().isEmpty()) {
      throw new UsageException("unexpected argument '" + o.positional().get(0) + "'");
    }
    int port = o.integer("--listen", 0, 65535, null);
    String backendText = o.one("--backend");
    if (backendText == null) {
      throw new UsageException("option --backend HOST:PORT is required");
    }
    InetSocketAddress backend = hostPort(backendText);
    Timeouts timeouts = new Timeouts(
        Duration.ofSeconds(o.integer("--connect-timeout", 1, 600, DEFAULT_CONNECT_TIMEOUT)),
        Duration.ofSeconds(o.integer("--idle-timeout", 1, 86_400, DEFAULT_IDLE_TIMEOUT)),
        Duration.ofSeconds(o.integer("--write-timeout", 1, 86_400, DEFAULT_WRITE_TIMEOUT)));
    int maxConnections = o.integer("--max-connections", 1, Integer.MAX_VALUE, DEFAULT_MAX_CONNECTIONS);
    boolean proxyV2 = o.has("--proxy-v2");
    Watchdog watchdog = new Watchdog(timeouts);
    Service.Setup setup = () -> {
      CrowdSecOptions crowdsec = CrowdSecOptions.read(o, o.one("--penalty") != null);
      AccessPolicy policy = PolicyOptions.policy(o, o.has("--allow-all"));
      if (policy.isEmpty()) {
        throw new IllegalStateException("no access rules; give --allow CIDR, --policy FILE, or --allow-all");
      }
      Server.TcpBuilder server = Server.on(port).policy(policy).maxConnections(maxConnections)
          .handle(conn -> forward(conn, backend, timeouts, proxyV2, watchdog));
      if (o.one("--bind") != null) {
        server.bindAddress(o.one("--bind"));
      }
      if (o.one("--max-per-source") != null) {
        server.maxConnectionsPerSource(o.integer("--max-per-source", 1, Integer.MAX_VALUE, null));
      }
      if (o.one("--loops") != null) {
        server.eventLoops(o.integer("--loops", 1, 1024, null));
      }
      dev.portcullis.examples.Service.penalty(o, server);
      if (o.one("--secret-file") != null) {
        server.handshake(Handshakes.sharedSecret(SharedSecret.loadKeys(Path.of(o.one("--secret-file")))));
      }
      return CrowdSecOptions.attach(crowdsec, server.start());
    };
    try {
      return Service.run("guard", setup, Duration.ofSeconds(10), " -> " + backendText, out, err);
    } finally {
      watchdog.close();
    }
  }

  /**
   * Connects to the backend and copies both ways: the end of one side's stream ends the other
   * side's ({@code shutdownOutput}) and the opposite direction goes on; both connections are closed
   * once both directions have ended, or at once when either fails or the watchdog gives up on them.
   * This thread copies from the client; one more thread copies from the backend.
   */
  static void forward(Connection conn, InetSocketAddress backend, Timeouts timeouts, boolean proxyV2,
      Watchdog watchdog) {
    Socket upstream = new Socket();
    Pair pair = new Pair(conn, upstream);
    try {
      try {
        upstream.connect(backend, (int) timeouts.connect().toMillis());
        upstream.setTcpNoDelay(true);
      } catch (IOException down) {
        // The client gets a closed connection; the operator gets one line, not a stack trace.
        org.slf4j.LoggerFactory.getLogger(Guard.class).warn("backend {} unreachable for {}: {}",
            dev.portcullis.policy.IpAddresses.format(backend), dev.portcullis.policy.IpAddresses.format(conn.peer()),
            down.getMessage());
        return;
      }
      watchdog.watch(pair);
      Thread back = new Thread(() -> {
        try {
          copy(upstream.getInputStream(), conn.output(), pair, false);
          conn.shutdownOutput(); // the backend has finished; the client may still be sending
        } catch (IOException | RuntimeException e) {
          pair.close(); // a side failed, or the watchdog closed the pair under the copy
        }
      }, "guard-back-" + dev.portcullis.policy.IpAddresses.format(conn.peer()));
      back.setDaemon(true);
      try {
        OutputStream toBackend = upstream.getOutputStream();
        if (proxyV2) {
          byte[] header = proxyV2Header((InetSocketAddress) conn.peer(), (InetSocketAddress) conn.localAddress());
          pair.write(true, toBackend, header, header.length);
        }
        back.start();
        copy(conn.input(), toBackend, pair, true);
        upstream.shutdownOutput(); // the client has finished; let the backend answer and close
        if (conn.isStopping()) {
          // The server is stopping and the client had nothing in flight: give the backend a moment
          // to finish an answer, then close the pair, whether or not the backend closes on our EOF.
          back.join(dev.portcullis.Connection.FIRST_BYTES_WAIT.toMillis());
          pair.close();
        }
      } catch (IOException | RuntimeException e) {
        pair.close();
      }
      back.join(); // at once if it never started
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt(); // the server is stopping
    } finally {
      watchdog.forget(pair);
      pair.close();
    }
  }

  private static void copy(InputStream in, OutputStream out, Pair pair, boolean toBackend) throws IOException {
    byte[] buf = new byte[CHUNK];
    int n;
    while ((n = in.read(buf)) > 0) {
      pair.moved();
      pair.write(toBackend, out, buf, n);
    }
  }

  /**
   * A client connection and its backend connection, with what the {@link Watchdog} needs to see
   * that they are stuck: when a byte last moved, and since when each direction's write has waited.
   */
  static final class Pair {
    private final Connection client;
    private final Socket backend;
    private final AtomicBoolean closed = new AtomicBoolean();
    private volatile long lastMoved = System.nanoTime();
    /** {@code System.nanoTime()} when the write in progress to each side began; 0 when none is. */
    private volatile long writingToBackendSince;
    private volatile long writingToClientSince;

    Pair(Connection client, Socket backend) {
      this.client = client;
      this.backend = backend;
    }

    void moved() {
      lastMoved = System.nanoTime();
    }

    /** Writes {@code n} bytes toward one side, the watchdog seeing how long it takes. */
    void write(boolean toBackend, OutputStream out, byte[] b, int n) throws IOException {
      long since = nonZero(System.nanoTime());
      if (toBackend) {
        writingToBackendSince = since;
      } else {
        writingToClientSince = since;
      }
      try {
        out.write(b, 0, n);
      } finally {
        if (toBackend) {
          writingToBackendSince = 0;
        } else {
          writingToClientSince = 0;
        }
      }
      moved();
    }

    private static long nonZero(long t) {
      return t == 0 ? 1 : t;
    }

    /** Why the pair should be closed now, or null if it may go on. */
    String stuck(long now, Timeouts timeouts) {
      if (now - lastMoved > timeouts.idle().toNanos()) {
        return "idle for " + dev.portcullis.policy.Durations.format(timeouts.idle());
      }
      long toBackend = writingToBackendSince;
      if (toBackend != 0 && now - toBackend > timeouts.write().toNanos()) {
        return "a write to the backend took over " + dev.portcullis.policy.Durations.format(timeouts.write());
      }
      long toClient = writingToClientSince;
      if (toClient != 0 && now - toClient > timeouts.write().toNanos()) {
        return "a write to the client took over " + dev.portcullis.policy.Durations.format(timeouts.write());
      }
      return null;
    }

    /** Closes both connections, which ends both copies (a blocked read or write fails). Idempotent. */
    void close() {
      if (closed.compareAndSet(false, true)) {
        client.close();
        try {
          backend.close();
        } catch (IOException e) {
          // closed all the same
        }
      }
    }

    @Override
    public String toString() {
      return dev.portcullis.policy.IpAddresses.format(client.peer()) + " -> "
          + dev.portcullis.policy.IpAddresses.format(backend.getRemoteSocketAddress());
    }
  }

  /**
   * One thread that closes stuck pairs: idle longer than the idle timeout, or with a write pending
   * longer than the write timeout. It looks at every open pair a few times per shorter timeout (at
   * most {@value #DEFAULT_MAX_CONNECTIONS} by default), so a pair is closed within a quarter of
   * that timeout (at most a second) after it is due.
   */
  static final class Watchdog implements AutoCloseable {
    private final Timeouts timeouts;
    private final Set<Pair> pairs = ConcurrentHashMap.newKeySet();
    private final ScheduledExecutorService timer = Executors.newSingleThreadScheduledExecutor(r -> {
      Thread t = new Thread(r, "portcullis-guard-timeouts");
      t.setDaemon(true);
      return t;
    });

    Watchdog(Timeouts timeouts) {
      this.timeouts = timeouts;
      long shorter = Math.min(timeouts.idle().toMillis(), timeouts.write().toMillis());
      long tick = Math.max(50, Math.min(1000, shorter / 4));
      timer.scheduleWithFixedDelay(this::sweep, tick, tick, TimeUnit.MILLISECONDS);
    }

    void watch(Pair pair) {
      pairs.add(pair);
    }

    void forget(Pair pair) {
      pairs.remove(pair);
    }

    private void sweep() {
      long now = System.nanoTime();
      for (Pair pair : pairs) {
        try {
          String why = pair.stuck(now, timeouts);
          if (why != null) {
            pairs.remove(pair);
            pair.close();
            org.slf4j.LoggerFactory.getLogger(Guard.class).debug("closed {}: {}", pair, why);
          }
        } catch (RuntimeException e) { // a periodic task that throws is never run again
          org.slf4j.LoggerFactory.getLogger(Guard.class).warn("closing {} failed", pair, e);
        }
      }
    }

    /** Stops watching and closes every pair still open. */
    @Override
    public void close() {
      timer.shutdownNow();
      for (Pair pair : pairs) {
        pair.close();
      }
      pairs.clear();
    }
  }

  /** A PROXY protocol v2 header (PROXY command, TCP over IPv4 or IPv6) for this client and address. */
  static byte[] proxyV2Header(InetSocketAddress client, InetSocketAddress local) {
    byte[] src = client.getAddress().getAddress();
    byte[] dst = local.getAddress().getAddress();
    if (src.length != dst.length) { // an IPv4 client on a dual-stack socket: both as IPv6
      src = v6(src);
      dst = v6(dst);
    }
    boolean v4 = src.length == 4;
    int length = (v4 ? 8 : 32) + 4;
    ByteBuffer b = ByteBuffer.allocate(16 + length);
    b.put(new byte[] {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A});
    b.put((byte) 0x21); // version 2, PROXY
    b.put((byte) (v4 ? 0x11 : 0x21)); // TCP over INET or INET6
    b.putShort((short) length);
    b.put(src).put(dst);
    b.putShort((short) client.getPort()).putShort((short) local.getPort());
    return b.array();
  }

  private static byte[] v6(byte[] a) {
    if (a.length == 16) {
      return a;
    }
    byte[] m = new byte[16];
    m[10] = (byte) 0xFF;
    m[11] = (byte) 0xFF;
    System.arraycopy(a, 0, m, 12, 4);
    return m;
  }

  private static InetSocketAddress hostPort(String text) {
    int colon = text.lastIndexOf(':');
    if (colon <= 0) {
      throw new UsageException("--backend '" + text + "' is not HOST:PORT");
    }
    String host = text.substring(0, colon).replace("[", "").replace("]", "");
    int p;
    try {
      p = Integer.parseInt(text.substring(colon + 1));
    } catch (NumberFormatException e) {
      throw new UsageException("--backend '" + text + "': '" + text.substring(colon + 1) + "' is not a port");
    }
    if (p < 1 || p > 65535) {
      throw new UsageException("--backend '" + text + "': port " + p + " is out of range 1..65535");
    }
    return new InetSocketAddress(host, p);
  }
}
