package dev.portcullis.crowdsec;

import dev.portcullis.Penalty;
import dev.portcullis.PenaltyListener;
import dev.portcullis.policy.Cidr;
import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.net.http.HttpRequest;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import javax.net.ssl.SSLContext;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A CrowdSec watcher: pushes the penalty box's own bans (handshake failures, rate-limit offences,
 * offences the application reports) to a Local API as alerts, each with its ban as a decision, so
 * that the LAPI hands them to every bouncer: other Portcullis instances, a firewall. Bans that came
 * from outside ({@code external}, such as a CrowdSec decision) are not pushed back.
 *
 * <pre>{@code
 * Watcher watcher = Watcher.builder(URI.create("http://127.0.0.1:8080"))
 *     .machineFile(Path.of("/etc/portcullis/crowdsec-machine.yaml"))  // cscli machines add NAME -f FILE
 *     .build();
 * server.addPenaltyListener(watcher);
 * }</pre>
 *
 * <p>An alert's scenario is {@code portcullis/REASON} ({@code portcullis/handshake-failed}), its
 * source the banned address (scope {@code Ip}) or range ({@code Range}), its events count the
 * offences, and its decision a {@code ban} for the ban's remaining time. Pushing never blocks the
 * caller: alerts wait in a bounded queue ({@link Builder#maxQueue}; past it they are dropped,
 * counted and the count logged) and a daemon thread pushes them in batches ({@code POST
 * /v1/alerts}), logging in first ({@code POST /v1/watchers/login}) and again when the token is
 * refused; a failed push is retried, with a doubling delay up to {@link Builder#maxBackoff}.
 */
public final class Watcher implements PenaltyListener, AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(Watcher.class);

  private final Lapi lapi;
  private final String machineId;
  private final String password;
  private final int batchSize;
  private final Duration maxBackoff;
  private final BlockingQueue<String> queue;
  private final AtomicLong pushed = new AtomicLong();
  private final AtomicLong failures = new AtomicLong();
  private final AtomicLong dropped = new AtomicLong();
  private long droppedLogged;
  private String token;
  private volatile boolean closed;
  private final Thread thread;

  private Watcher(Builder b) {
    this.lapi = new Lapi(b.url, b.sslContext, b.requestTimeout);
    this.machineId = b.machineId;
    this.password = b.password;
    this.batchSize = b.batchSize;
    this.maxBackoff = b.maxBackoff;
    this.queue = new ArrayBlockingQueue<>(b.maxQueue);
    this.thread = new Thread(this::run, "portcullis-crowdsec-watcher");
    thread.setDaemon(true);
    thread.start();
  }

  /**
   * A builder for a watcher of the Local API at {@code url}.
   *
   * @param url the LAPI's base URL, such as {@code http://127.0.0.1:8080}
   * @return a new builder
   */
  public static Builder builder(URI url) {
    return new Builder(url);
  }

  /** Queues the penalty box's own bans; external ones (CrowdSec's among them) are not sent back. */
  @Override
  public void banned(Penalty penalty, String reason, boolean external) {
    if (!external) {
      report(penalty.source(), Duration.between(Instant.now(), penalty.until()), penalty.offences(), reason);
    }
  }

  /**
   * Queues an alert: {@code source} was banned for {@code duration} after {@code events} offences.
   * Never blocks.
   *
   * @param source the banned address or range
   * @param duration how long
   * @param events how many offences led to it (at least 1 is sent)
   * @param reason why; the scenario is {@code portcullis/} and the reason in lower case, words
   *     joined by {@code -}
   * @return false if the queue was full (the alert is dropped and counted)
   */
  public boolean report(Cidr source, Duration duration, int events, String reason) {
    if (closed || !queue.offer(alert(source, duration, events, reason, Instant.now()))) {
      dropped.incrementAndGet();
      return false;
    }
    return true;
  }

  /**
   * The scenario an alert for {@code reason} carries.
   *
   * @param reason a reason, such as {@code handshake failed}
   * @return such as {@code portcullis/handshake-failed}
   */
  public static String scenario(String reason) {
    String slug = reason == null ? "" : reason.toLowerCase(java.util.Locale.ROOT).replaceAll("[^a-z0-9_.]+", "-")
        .replaceAll("^-+|-+$", "");
    if (slug.length() > 64) {
      slug = slug.substring(0, 64);
    }
    return "portcullis/" + (slug.isEmpty() ? "ban" : slug);
  }

  static String alert(Cidr source, Duration duration, int events, String reason, Instant now) {
    boolean host = source.prefixLength() == (source.isIpv4() ? 32 : 128);
    String scope = host ? "Ip" : "Range";
    String value = host ? source.network().getHostAddress() : source.toString();
    String scenario = scenario(reason);
    String at = Lapi.quote(now.truncatedTo(ChronoUnit.SECONDS).toString());
    String why = reason == null ? "" : reason;
    return "{\"scenario\":" + Lapi.quote(scenario) + ",\"scenario_hash\":\"\",\"scenario_version\":\"\""
        + ",\"message\":" + Lapi.quote("Portcullis banned " + value + " for " + GoDurations.format(duration) + ": "
        + why)
        + ",\"events_count\":" + Math.max(1, events) + ",\"start_at\":" + at + ",\"stop_at\":" + at
        + ",\"capacity\":0,\"leakspeed\":\"0\",\"simulated\":false,\"remediation\":true,\"events\":[]"
        + ",\"source\":{\"scope\":\"" + scope + "\",\"value\":" + Lapi.quote(value) + ","
        + (host ? "\"ip\":" : "\"range\":") + Lapi.quote(value) + "}"
        + ",\"decisions\":[{\"origin\":\"crowdsec\",\"type\":\"ban\",\"scope\":\"" + scope + "\",\"value\":"
        + Lapi.quote(value) + ",\"duration\":" + Lapi.quote(GoDurations.format(duration)) + ",\"scenario\":"
        + Lapi.quote(scenario) + "}]}";
  }

  /**
   * A snapshot of the counters.
   *
   * @return the counters now
   */
  public WatcherStats stats() {
    return new WatcherStats(pushed.get(), failures.get(), dropped.get(), queue.size());
  }

  /**
   * Stops pushing. Alerts still queued are not sent: their count is logged. Idempotent.
   */
  @Override
  public void close() {
    if (closed) {
      return;
    }
    closed = true;
    thread.interrupt();
    try {
      thread.join(lapi.timeout.toMillis() + 1000);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    int left = queue.size();
    if (left > 0) {
      LOG.warn("CrowdSec watcher closed with {} alerts not pushed to {}", left, lapi.base);
    }
  }

  private void run() {
    List<String> batch = new ArrayList<>();
    Duration delay = Duration.ofSeconds(1);
    boolean failing = false;
    while (!closed) {
      try {
        if (batch.isEmpty()) {
          String first = queue.poll(1, TimeUnit.SECONDS);
          if (first == null) {
            continue;
          }
          batch.add(first);
          queue.drainTo(batch, batchSize - 1);
        }
        logDropped();
        push(batch);
        pushed.addAndGet(batch.size());
        batch.clear();
        delay = Duration.ofSeconds(1);
        if (failing) {
          failing = false;
          LOG.info("CrowdSec LAPI {} takes alerts again", lapi.base);
        }
      } catch (InterruptedException e) {
        if (closed) {
          break;
        }
      } catch (IOException | RuntimeException e) {
        if (closed) {
          break;
        }
        failures.incrementAndGet();
        if (!failing) {
          failing = true;
          LOG.warn("CrowdSec watcher: pushing {} alerts to {} failed: {}; retrying (logged once until it works)",
              batch.size(), lapi.base, Lapi.describe(e));
        }
        try {
          Thread.sleep(delay.toMillis());
        } catch (InterruptedException stop) {
          if (closed) {
            break;
          }
        }
        delay = delay.multipliedBy(2).compareTo(maxBackoff) > 0 ? maxBackoff : delay.multipliedBy(2);
      }
    }
    queue.addAll(batch.subList(0, Math.min(batch.size(), queue.remainingCapacity()))); // counted at close
  }

  private void logDropped() {
    long d = dropped.get();
    if (d != droppedLogged) {
      LOG.warn("CrowdSec watcher: {} alerts dropped so far, the queue of {} being full", d,
          queue.size() + queue.remainingCapacity());
      droppedLogged = d;
    }
  }

  private void push(List<String> batch) throws IOException {
    if (token == null) {
      login();
    }
    String body = "[" + String.join(",", batch) + "]";
    try {
      post(body);
    } catch (Lapi.StatusException e) {
      if (e.status != 401) {
        throw e;
      }
      token = null; // expired or revoked: log in again, once
      login();
      post(body);
    }
  }

  private void post(String body) throws IOException {
    HttpRequest.Builder r = lapi.request("v1/alerts").header("Content-Type", "application/json")
        .POST(HttpRequest.BodyPublishers.ofString(body, StandardCharsets.UTF_8));
    if (token != null && !token.isEmpty()) {
      r.header("Authorization", "Bearer " + token);
    }
    try (InputStream in = lapi.send(r.build(), 201)) {
      in.readNBytes(64 * 1024); // the new alerts' ids, not needed
    }
  }

  private void login() throws IOException {
    String body = "{\"machine_id\":" + Lapi.quote(machineId) + ",\"password\":" + Lapi.quote(password)
        + ",\"scenarios\":[\"portcullis/ban\"]}";
    HttpRequest req = lapi.request("v1/watchers/login").header("Content-Type", "application/json")
        .POST(HttpRequest.BodyPublishers.ofString(body, StandardCharsets.UTF_8)).build();
    try (InputStream in = lapi.send(req, 200)) {
      Object v = new JsonReader(in, new JsonReader.Limits(64 * 1024, 4, 16 * 1024, 64)).readValue();
      if (!(v instanceof Map<?, ?> m) || !(m.get("token") instanceof String t) || t.isEmpty()) {
        throw new IOException("login to " + lapi.base + " as " + machineId + ": no token in the answer");
      }
      token = t;
    }
  }

  /** Settings of a {@link Watcher}. */
  public static final class Builder {
    private final URI url;
    private String machineId;
    private String password;
    private SSLContext sslContext;
    private Path caPem; // kept so that clientCertificate and caCertificate combine in either order
    private Path certPem;
    private Path keyPem;
    private Duration requestTimeout = Duration.ofSeconds(10);
    private Duration maxBackoff = Duration.ofMinutes(5);
    private int maxQueue = 10_000;
    private int batchSize = 100;

    private Builder(URI url) {
      this.url = Objects.requireNonNull(url, "url");
    }

    /**
     * The machine's credentials, as {@code cscli machines add NAME --password PASSWORD} made them.
     *
     * @param machineId the machine's name
     * @param password its password
     * @return this builder
     * @throws IllegalArgumentException if either is blank
     */
    public Builder login(String machineId, String password) {
      if (machineId == null || machineId.isBlank() || password == null || password.isBlank()) {
        throw new IllegalArgumentException("a CrowdSec machine login needs a machine id and a password");
      }
      this.machineId = machineId.strip();
      this.password = password.strip();
      return this;
    }

    /**
     * The machine's name, and its password read now from a file (its only word).
     *
     * @param machineId the machine's name
     * @param passwordFile the file holding its password
     * @return this builder
     * @throws IOException naming the file if it cannot be read or holds no password
     */
    public Builder login(String machineId, Path passwordFile) throws IOException {
      return login(machineId, Lapi.secret(passwordFile));
    }

    /**
     * Reads the credentials from the file {@code cscli machines add NAME -f FILE} writes ({@code
     * login:} and {@code password:} lines; its {@code url:} is ignored, the builder's URL is used).
     *
     * @param file the file
     * @return this builder
     * @throws IOException naming the file if it cannot be read or lacks a login or password
     */
    public Builder machineFile(Path file) throws IOException {
      if (!Files.isRegularFile(file) || Files.size(file) > Lapi.MAX_SECRET_FILE) {
        throw new IOException(file + ": not a regular file of at most " + Lapi.MAX_SECRET_FILE + " bytes");
      }
      String login = null;
      String pass = null;
      for (String line : Files.readAllLines(file, StandardCharsets.UTF_8)) {
        int colon = line.indexOf(':');
        if (colon < 0 || line.startsWith("#")) {
          continue;
        }
        String key = line.substring(0, colon).strip();
        String value = line.substring(colon + 1).strip();
        if (value.length() >= 2 && (value.startsWith("\"") && value.endsWith("\"")
            || value.startsWith("'") && value.endsWith("'"))) {
          value = value.substring(1, value.length() - 1);
        }
        if (key.equals("login")) {
          login = value;
        } else if (key.equals("password")) {
          pass = value;
        }
      }
      if (login == null || login.isEmpty() || pass == null || pass.isEmpty()) {
        throw new IOException(file + ": expected login: and password: lines (cscli machines add NAME -f FILE)");
      }
      return login(login, pass);
    }

    /**
     * Authenticates with a client certificate instead of a password (the LAPI's {@code tls} section
     * with {@code agents_allowed_ou}: its OU must be one listed there; the LAPI makes the machine
     * {@code CN@ADDRESS} at the first login), trusting the CAs of {@code caPem} (null: those of an
     * earlier {@link #caCertificate}, else the JDK's). A later {@link #caCertificate} keeps the
     * certificate; {@link #sslContext} replaces both.
     *
     * @param caPem the LAPI's CA certificates, or null
     * @param certPem the machine's certificate chain, PEM
     * @param keyPem its PKCS #8 private key, PEM
     * @return this builder
     * @throws IOException naming a file that cannot be read or used
     */
    public Builder clientCertificate(Path caPem, Path certPem, Path keyPem) throws IOException {
      Path ca = caPem != null ? caPem : this.caPem;
      this.sslContext = Lapi.tls(ca, Objects.requireNonNull(certPem, "certPem"), keyPem);
      this.caPem = ca;
      this.certPem = certPem;
      this.keyPem = keyPem;
      if (machineId == null) {
        machineId = "";
        password = "";
      }
      return this;
    }

    /**
     * Trusts the CA certificates of a PEM file for an {@code https} LAPI (keeping a
     * {@link #clientCertificate} given before).
     *
     * @param caPem the PEM file
     * @return this builder
     * @throws IOException naming the file if it holds no certificate
     */
    public Builder caCertificate(Path caPem) throws IOException {
      this.sslContext = Lapi.tls(Objects.requireNonNull(caPem, "caPem"), certPem, keyPem);
      this.caPem = caPem;
      return this;
    }

    /**
     * The TLS context for an {@code https} LAPI, set up elsewhere.
     *
     * @param context the context
     * @return this builder
     */
    public Builder sslContext(SSLContext context) {
      this.sslContext = Objects.requireNonNull(context, "context");
      this.caPem = null;
      this.certPem = null;
      this.keyPem = null;
      return this;
    }

    /**
     * How many alerts may wait at most (default 10,000); past it new ones are dropped, counted
     * ({@link WatcherStats#dropped}) and the count logged.
     *
     * @param max 1 to 1,000,000
     * @return this builder
     * @throws IllegalArgumentException if out of range
     */
    public Builder maxQueue(int max) {
      if (max < 1 || max > 1_000_000) {
        throw new IllegalArgumentException("maxQueue is 1..1000000: " + max);
      }
      this.maxQueue = max;
      return this;
    }

    /**
     * How many alerts one push carries at most (default 100).
     *
     * @param size 1 to 1,000
     * @return this builder
     * @throws IllegalArgumentException if out of range
     */
    public Builder batchSize(int size) {
      if (size < 1 || size > 1000) {
        throw new IllegalArgumentException("batchSize is 1..1000: " + size);
      }
      this.batchSize = size;
      return this;
    }

    /**
     * The longest delay between two tries of a failed push (default 5 min; it doubles from 1 s).
     *
     * @param max at least 1 s
     * @return this builder
     * @throws IllegalArgumentException if shorter
     */
    public Builder maxBackoff(Duration max) {
      if (max.compareTo(Duration.ofSeconds(1)) < 0) {
        throw new IllegalArgumentException("maxBackoff is at least 1s: "
            + dev.portcullis.policy.Durations.format(max));
      }
      this.maxBackoff = max;
      return this;
    }

    /**
     * How long one request may take (default 10 s).
     *
     * @param timeout positive
     * @return this builder
     * @throws IllegalArgumentException if not positive
     */
    public Builder requestTimeout(Duration timeout) {
      if (timeout.isNegative() || timeout.isZero()) {
        throw new IllegalArgumentException("a request timeout is positive: "
            + dev.portcullis.policy.Durations.format(timeout));
      }
      this.requestTimeout = timeout;
      return this;
    }

    /**
     * Starts the watcher's daemon thread ({@code portcullis-crowdsec-watcher}); add it to a server
     * with {@code addPenaltyListener}.
     *
     * @return the watcher
     * @throws IllegalStateException without credentials ({@link #login}, {@link #machineFile} or
     *     {@link #clientCertificate})
     */
    public Watcher build() {
      if (machineId == null) {
        throw new IllegalStateException("a CrowdSec watcher needs machine credentials (cscli machines add NAME)");
      }
      return new Watcher(this);
    }
  }
}
