package dev.portcullis.examples.http;

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
import dev.portcullis.policy.AccessPolicy;
import java.io.BufferedInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.PrintStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A minimal HTTP/1.1 service for a health check and a greeting, meant to sit behind HAProxy (or
 * another load balancer) that sends the PROXY protocol v2: the policy then decides on the real
 * client, not on the proxy, and the greeting names the real client.
 *
 * <pre>
 * portcullis http --port 8080 --proxy-protocol 10.0.0.1/32 --allow 10.0.0.1 --allow 192.0.2.0/24
 * curl http://proxy:80/hello        # hello 192.0.2.7
 * curl http://proxy:80/health       # ok
 * </pre>
 *
 * One request per connection ({@code Connection: close}); {@code GET /health} and {@code GET
 * /hello} answer 200, other paths 404, other methods 405, a malformed request 400, a head over
 * {@link #MAX_HEAD} bytes 431. Headers are read and ignored.
 *
 * <p>What a client can hold is bounded: the whole head must arrive within {@code --head-timeout}
 * (default {@value #DEFAULT_HEAD_TIMEOUT_SECONDS} s, counted from when the handler starts and not
 * reset by arriving bytes, so dripping a byte at a time does not keep a connection), else the
 * connection is closed without an answer; at most {@code --max-connections} (default {@value
 * #DEFAULT_MAX_CONNECTIONS}) are open, and so at most that many handler threads run, and at most
 * {@code --max-per-source} (default {@value #DEFAULT_MAX_PER_SOURCE}) from one source. After an
 * error answer the service reads and discards what the client is still sending (at most 1 MiB, for
 * at most 2 s) before it closes, so that the client reads the answer rather than a TCP reset.
 * ({@link Connection} has no half-close, so the service cannot shut its side down first; the
 * {@code Content-Length} of every answer tells the client where it ends.)
 */
public final class HttpService {
  private HttpService() {}

  /** The longest request head read, in bytes, up to and including its blank line. */
  public static final int MAX_HEAD = 16 * 1024;

  /** How long the whole request head may take to arrive, by default ({@code --head-timeout}). */
  public static final int DEFAULT_HEAD_TIMEOUT_SECONDS = 10;

  /** Connections open at once, by default ({@code --max-connections}); one handler thread each. */
  public static final int DEFAULT_MAX_CONNECTIONS = 1024;

  /** Connections open at once from one source, by default ({@code --max-per-source}; 0 for none). */
  public static final int DEFAULT_MAX_PER_SOURCE = 64;

  /** After an error answer: how long, and how much, of what the client still sends is discarded. */
  private static final long LINGER_MILLIS = 2000;
  private static final long LINGER_BYTES = 1 << 20;

  private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(HttpService.class);
  private static final AtomicLong HEADS_TIMED_OUT = new AtomicLong();
  private static final AtomicLong LAST_TIMEOUT_LINE = new AtomicLong(System.nanoTime() - TimeUnit.SECONDS.toNanos(2));

  /** The command as {@code portcullis http --help} shows it; its options are what the parser accepts. */
  public static final Command COMMAND = new Command("http", List.of("--port P [OPTIONS]"),
      "HTTP/1.1 /health and /hello behind a PROXY-protocol proxy such as HAProxy",
      Option.concat(List.of(
          Option.valued("--port", "P", "the TCP port to listen on, 0..65535; 0 picks a free one (required)"),
          Option.valued("--bind", "ADDR", "the local address to listen on (default: every address, IPv4 and IPv6)"),
          Option.valued("--proxy-protocol", "CIDR", "read a PROXY protocol v1/v2 header from proxies in CIDR"
              + " (repeatable; default: no header read)")),
          PolicyOptions.RULES, List.of(PolicyOptions.ALLOW_ALL), List.of(
          Option.valued("--head-timeout", "SECONDS", "the whole request head must arrive within SECONDS, never reset,"
              + " 1..3600 (default " + DEFAULT_HEAD_TIMEOUT_SECONDS + ")"),
          Option.valued("--max-connections", "N", "connections open at once, one handler thread each (default "
              + DEFAULT_MAX_CONNECTIONS + ")"),
          Option.valued("--max-per-source", "N", "connections open at once from one source; 0: no limit (default "
              + DEFAULT_MAX_PER_SOURCE + ")")),
          Service.THREAD_OPTIONS, CrowdSecOptions.OPTIONS),
      List.of("Exit status: 0 stopped by SIGTERM or Ctrl-C, 1 the system refused (a port in use), 2 bad input."));

  /** Closes connections whose head is late and ends lingering ones; one daemon thread for the service. */
  private static final class Timer {
    static final ScheduledThreadPoolExecutor TIMER = new ScheduledThreadPoolExecutor(1, r -> {
      Thread t = new Thread(r, "portcullis-http-timer");
      t.setDaemon(true);
      return t;
    });

    static {
      TIMER.setRemoveOnCancelPolicy(true);
    }
  }

  /** A head longer than {@link #MAX_HEAD}. */
  private static final class HeadTooLargeException extends IOException {
    private static final long serialVersionUID = 1L;

    HeadTooLargeException() {
      super("request head over " + MAX_HEAD + " bytes");
    }
  }

  /**
   * {@code java -cp portcullis-examples.jar dev.portcullis.examples.http.HttpService ...}.
   *
   * @param args the command-line arguments, without the command name
   */
  public static void main(String[] args) {
    Service.main(args, HttpService::run);
  }

  /**
   * Runs the service until the process is asked to stop; returns the exit status.
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
    int port = o.integer("--port", 0, 65535, null);
    Duration headTimeout = Duration.ofSeconds(o.integer("--head-timeout", 1, 3600, DEFAULT_HEAD_TIMEOUT_SECONDS));
    int maxConnections = o.integer("--max-connections", 1, Integer.MAX_VALUE, DEFAULT_MAX_CONNECTIONS);
    int maxPerSource = o.integer("--max-per-source", 0, Integer.MAX_VALUE, DEFAULT_MAX_PER_SOURCE);
    for (String trusted : o.all("--proxy-protocol")) {
      PolicyOptions.cidr("--proxy-protocol", trusted); // a list or a typo in the command line's words
      if (maxPerSource > 0 && trusted.endsWith("/0")) {
        throw new UsageException("--proxy-protocol " + trusted + " trusts every address, so any peer could name its"
            + " own source and --max-per-source " + maxPerSource + " would not hold; trust only your proxies'"
            + " addresses, or give --max-per-source 0 (no per-source limit)");
      }
    }
    Service.Setup setup = () -> {
      CrowdSecOptions crowdsec = CrowdSecOptions.read(o, o.one("--penalty") != null);
      AccessPolicy policy = PolicyOptions.policy(o, o.has("--allow-all"));
      if (policy.isEmpty()) {
        throw new IllegalStateException("no access rules; give --allow CIDR, --policy FILE, or --allow-all");
      }
      Server.TcpBuilder server = Server.on(port).policy(policy).handshakeTimeout(Duration.ofSeconds(5))
          .maxConnections(maxConnections)
          .handle(conn -> serve(conn, headTimeout));
      if (maxPerSource > 0) {
        server.maxConnectionsPerSource(maxPerSource);
      }
      if (!o.all("--proxy-protocol").isEmpty()) {
        server.handshake(Handshakes.proxyProtocol().trustedFrom(o.all("--proxy-protocol").toArray(new String[0])));
      }
      if (o.one("--bind") != null) {
        server.bindAddress(o.one("--bind"));
      }
      Service.threads(o, server);
      return CrowdSecOptions.attach(crowdsec, server.start());
    };
    return Service.run("http", setup, Duration.ofSeconds(5), "", out, err);
  }

  /**
   * Reads one request head, within {@code headTimeout} from now, and answers it. A head still
   * incomplete then is cut off: the timer closes the connection under the blocked read.
   */
  static void serve(Connection conn, Duration headTimeout) throws IOException {
    InputStream in = new BufferedInputStream(conn.input(), 4096);
    AtomicBoolean late = new AtomicBoolean();
    ScheduledFuture<?> deadline = Timer.TIMER.schedule(() -> {
      late.set(true);
      conn.close();
    }, headTimeout.toMillis(), TimeUnit.MILLISECONDS);
    String head = null;
    boolean tooLarge = false;
    try {
      head = readHead(in);
    } catch (HeadTooLargeException e) {
      tooLarge = true;
    } catch (IOException e) {
      if (!deadline.cancel(false) && late.get()) {
        headTimedOut(conn, headTimeout);
        return;
      }
      throw e;
    }
    if (!deadline.cancel(false)) { // the timer ran, or is running: the connection is closed under us
      headTimedOut(conn, headTimeout);
      return;
    }
    if (tooLarge) {
      answerAndLinger(conn, in, 431, "request head over " + MAX_HEAD + " bytes\n");
      return;
    }
    if (head == null && conn.isStopping()) {
      return; // released by the server's shutdown before a whole request came: nothing to answer
    }
    if (head == null) {
      answerAndLinger(conn, in, 400, "bad request: the head ended before its blank line\n");
      return;
    }
    String[] requestLine = head.substring(0, head.indexOf("\r\n")).split(" ");
    if (requestLine.length != 3 || !requestLine[2].startsWith("HTTP/1.")) {
      answerAndLinger(conn, in, 400, "bad request line\n");
      return;
    }
    if (!requestLine[0].equals("GET") && !requestLine[0].equals("HEAD")) {
      answerAndLinger(conn, in, 405, "only GET\n");
      return;
    }
    switch (requestLine[1]) {
      case "/health" -> respond(conn.output(), 200, "ok\n");
      case "/hello" -> respond(conn.output(), 200, "hello "
          + dev.portcullis.policy.IpAddresses.format(((InetSocketAddress) conn.peer()).getAddress()) + "\n");
      default -> respond(conn.output(), 404, "not found\n");
    }
  }

  /** One INFO line a second at most, with the running count: a slowloris flood must not flood the log. */
  private static void headTimedOut(Connection conn, Duration headTimeout) {
    long n = HEADS_TIMED_OUT.incrementAndGet();
    long now = System.nanoTime();
    long last = LAST_TIMEOUT_LINE.get();
    if (now - last >= TimeUnit.SECONDS.toNanos(1) && LAST_TIMEOUT_LINE.compareAndSet(last, now)) {
      LOG.info("Closed {}: no complete request head within {} ({} so far)", Service.describe(conn.peer()),
          dev.portcullis.policy.Durations.format(headTimeout), n);
    }
  }

  /** The request head up to the blank line, or null if the stream ended first. */
  private static String readHead(InputStream in) throws IOException {
    byte[] buf = new byte[MAX_HEAD];
    int n = 0;
    while (n < buf.length) {
      int b = in.read();
      if (b < 0) {
        return null;
      }
      buf[n++] = (byte) b;
      if (n >= 4 && buf[n - 4] == '\r' && buf[n - 3] == '\n' && buf[n - 2] == '\r' && buf[n - 1] == '\n') {
        return new String(buf, 0, n, StandardCharsets.ISO_8859_1);
      }
    }
    throw new HeadTooLargeException();
  }

  /**
   * Answers, then discards what the client is still sending (the rest of an oversized head, a
   * body) for at most {@link #LINGER_MILLIS} and {@link #LINGER_BYTES}, or until it closes, before
   * the connection is closed: closing with unread bytes makes TCP send a reset, and a client still
   * writing then fails before it reads the answer.
   */
  private static void answerAndLinger(Connection conn, InputStream in, int status, String body) throws IOException {
    respond(conn.output(), status, body);
    ScheduledFuture<?> cut = Timer.TIMER.schedule(conn::close, LINGER_MILLIS, TimeUnit.MILLISECONDS);
    try {
      byte[] sink = new byte[8192];
      long left = LINGER_BYTES;
      for (int n; left > 0 && (n = in.read(sink, 0, (int) Math.min(sink.length, left))) > 0; ) {
        left -= n;
      }
    } catch (IOException e) {
      // closed by the timer, or by the client: either way, done
    } finally {
      cut.cancel(false);
      conn.close();
    }
  }

  private static void respond(OutputStream out, int status, String body) throws IOException {
    String reason = switch (status) {
      case 200 -> "OK";
      case 400 -> "Bad Request";
      case 404 -> "Not Found";
      case 405 -> "Method Not Allowed";
      default -> "Request Header Fields Too Large";
    };
    byte[] b = body.getBytes(StandardCharsets.UTF_8);
    String headers = "HTTP/1.1 " + status + " " + reason + "\r\nContent-Type: text/plain; charset=utf-8\r\n"
        + "Content-Length: " + b.length + "\r\nConnection: close\r\n\r\n";
    out.write(headers.getBytes(StandardCharsets.ISO_8859_1));
    out.write(b);
    out.flush();
  }
}
