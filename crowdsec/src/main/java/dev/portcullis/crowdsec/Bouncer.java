package dev.portcullis.crowdsec;

import dev.portcullis.policy.Cidr;
import java.io.IOException;
import java.io.InputStream;
import java.math.BigDecimal;
import java.net.URI;
import java.net.http.HttpRequest;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import javax.net.ssl.SSLContext;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A CrowdSec bouncer: takes the decisions of a Local API (LAPI) in stream mode and enforces its
 * {@code ban} decisions of scope {@code Ip} and {@code Range} (IPv4 and IPv6) as bans of a server
 * for their duration, lifting one when the LAPI deletes it. Register it with {@code cscli bouncers
 * add NAME} (one key per instance: the LAPI remembers per key what it already sent).
 *
 * <pre>{@code
 * RunningServer server = Server.on(7000).allowAll().penalties(Penalties.after(5, Duration.ofMinutes(1)))
 *     .handle(h).start();
 * Bouncer bouncer = Bouncer.builder(URI.create("http://127.0.0.1:8080"))
 *     .apiKeyFile(Path.of("/etc/portcullis/crowdsec.key"))
 *     .build()
 *     .start(BanTarget.of(server));
 * }</pre>
 *
 * <p>Nothing on the accept path waits for the LAPI: one daemon thread polls ({@code GET
 * /v1/decisions/stream?startup=true}, then every {@link Builder#pollInterval poll interval} without
 * {@code startup}) and gives the server bans, which accept reads as it reads the penalty box's own.
 * When the LAPI is unreachable or answers garbage, the bans in force stay, the failure is logged
 * once (and the recovery once), counted ({@link #stats}), and the poll retried with a doubling
 * delay up to {@link Builder#maxBackoff}. An answer is read as it arrives and refused past {@link
 * Builder#maxResponseBytes}; at most {@link Builder#maxDecisions} decisions are held, and the newest
 * past that are dropped and counted. Decisions of another type ({@code captcha}) or scope ({@code
 * Country}, {@code AS}) are counted and ignored.
 */
public final class Bouncer implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(Bouncer.class);

  private final Lapi lapi;
  private final String apiKey;
  private final Duration pollInterval;
  private final Duration maxBackoff;
  private final int maxDecisions;
  private final long maxResponseBytes;

  // Held by the poll thread; read under the lock by decisions() and stats().
  private final Map<Long, Held> byId = new HashMap<>();
  private final Map<Cidr, Map<Long, Held>> byRange = new HashMap<>();

  private final AtomicLong polls = new AtomicLong();
  private final AtomicLong failures = new AtomicLong();
  private final AtomicLong dropped = new AtomicLong();
  private final AtomicLong refused = new AtomicLong();
  /** The most distinct {@code type/scope} kinds of ignored decisions counted apart; the rest are {@code other/other}. */
  static final int MAX_IGNORED_KINDS = 64;
  private final Map<String, AtomicLong> ignored = new ConcurrentHashMap<>();
  private volatile boolean failing;
  private boolean droppingLogged;
  private boolean refusalLogged;

  private final Object sleep = new Object();
  private volatile boolean closed;
  private Thread thread;
  private BanTarget target;

  private record Held(CrowdSecDecision decision, Cidr range) {}

  private Bouncer(Builder b) {
    this.lapi = new Lapi(b.url, b.sslContext, b.requestTimeout);
    this.apiKey = b.apiKey;
    this.pollInterval = b.pollInterval;
    this.maxBackoff = b.maxBackoff;
    this.maxDecisions = b.maxDecisions;
    this.maxResponseBytes = b.maxResponseBytes;
  }

  /**
   * A builder for a bouncer of the Local API at {@code url}, such as {@code http://127.0.0.1:8080}.
   *
   * @param url the LAPI's base URL ({@code http} or {@code https})
   * @return a new builder
   */
  public static Builder builder(URI url) {
    return new Builder(url);
  }

  /**
   * Starts polling on a daemon thread ({@code portcullis-crowdsec-bouncer}) and giving the
   * decisions to {@code target}. Returns at once: the first decisions arrive after the first poll.
   *
   * @param target where the bans go, such as {@link BanTarget#of(dev.portcullis.RunningServer)}
   * @return this bouncer
   * @throws IllegalStateException if it was started already
   */
  public synchronized Bouncer start(BanTarget target) {
    Objects.requireNonNull(target, "target");
    if (thread != null) {
      throw new IllegalStateException("the bouncer of " + lapi.base + " is started already");
    }
    this.target = target;
    thread = new Thread(this::run, "portcullis-crowdsec-bouncer");
    thread.setDaemon(true);
    thread.start();
    return this;
  }

  /**
   * The decisions the LAPI holds now, asked once ({@code GET /v1/decisions}), for a report: nothing
   * is enforced. Use a key of its own ({@code cscli bouncers add portcullis-check}): the LAPI may
   * count this as the key's last pull.
   *
   * @return the decisions, enforced or not, soonest to end first
   * @throws IOException if the LAPI cannot be reached or its answer is refused
   */
  public List<CrowdSecDecision> fetchDecisions() throws IOException {
    List<CrowdSecDecision> out = new ArrayList<>();
    try (InputStream in = lapi.send(lapi.request("v1/decisions").header("X-Api-Key", apiKey).GET().build(), 200)) {
      JsonReader r = reader(in);
      if (!r.nextIsNull()) {
        r.beginArray();
        while (r.hasNext()) {
          if (out.size() >= maxDecisions) {
            throw new IOException("more than " + maxDecisions + " decisions in the answer of " + lapi.base);
          }
          out.add(decision(r.readValue(), Instant.now()));
        }
        r.endArray();
      }
      r.end();
    }
    out.sort(Comparator.comparing(CrowdSecDecision::until));
    return out;
  }

  /**
   * The decisions enforced now, soonest to end first.
   *
   * @return a new list
   */
  public List<CrowdSecDecision> decisions() {
    List<CrowdSecDecision> out = new ArrayList<>();
    synchronized (byId) {
      for (Held h : byId.values()) {
        out.add(h.decision);
      }
    }
    out.sort(Comparator.comparing(CrowdSecDecision::until));
    return out;
  }

  /**
   * A snapshot of the counters.
   *
   * @return the counters now
   */
  public CrowdSecStats stats() {
    Map<String, Long> ign = new LinkedHashMap<>();
    ignored.forEach((k, v) -> ign.put(k, v.get()));
    int held;
    synchronized (byId) {
      held = byId.size();
    }
    return new CrowdSecStats(polls.get(), failures.get(), held, ign, dropped.get(), refused.get(), failing);
  }

  /** Stops polling; the bans already given stay until they end. Idempotent. */
  @Override
  public void close() {
    closed = true;
    synchronized (sleep) {
      sleep.notifyAll();
    }
    Thread t;
    synchronized (this) {
      t = thread;
    }
    if (t != null && t != Thread.currentThread()) {
      t.interrupt();
      try {
        t.join(lapi.timeout.toMillis() + 1000);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }
  }

  private void run() {
    boolean startup = true;
    Duration delay = pollInterval;
    while (!closed) {
      try {
        poll(startup);
        startup = false;
        polls.incrementAndGet();
        if (failing) {
          failing = false;
          LOG.info("CrowdSec LAPI {} answers again; {} decisions in force", lapi.base, stats().decisionsInForce());
        }
        delay = pollInterval;
      } catch (IOException | RuntimeException e) {
        if (closed) {
          break;
        }
        failures.incrementAndGet();
        if (!failing) {
          failing = true;
          LOG.warn("CrowdSec LAPI {} failed: {}; the {} decisions in force stay, retrying (logged once until it"
              + " recovers)", lapi.base, Lapi.describe(e), stats().decisionsInForce());
        }
        delay = delay.multipliedBy(2).compareTo(maxBackoff) > 0 ? maxBackoff : delay.multipliedBy(2);
      }
      synchronized (sleep) {
        if (!closed) {
          try {
            sleep.wait(Math.max(1, delay.toMillis()));
          } catch (InterruptedException e) {
            if (closed) {
              break;
            }
          }
        }
      }
    }
  }

  private JsonReader reader(InputStream in) {
    return new JsonReader(new java.io.BufferedInputStream(in, 8192),
        new JsonReader.Limits(maxResponseBytes, 16, 4096, Math.max(1024, maxResponseBytes / 2)));
  }

  /** One poll: the whole answer is read and checked before anything is applied. */
  void poll(boolean startup) throws IOException {
    HttpRequest req = lapi.request("v1/decisions/stream" + (startup ? "?startup=true" : ""))
        .header("X-Api-Key", apiKey).GET().build();
    List<CrowdSecDecision> added = new ArrayList<>();
    List<Long> deleted = new ArrayList<>();
    long droppedNow = 0;
    Instant now = Instant.now();
    try (InputStream in = lapi.send(req, 200)) {
      JsonReader r = reader(in);
      r.beginObject();
      while (r.hasNext()) {
        String name = r.nextName();
        if (!name.equals("new") && !name.equals("deleted")) {
          r.skipValue();
          continue;
        }
        if (r.nextIsNull()) {
          continue;
        }
        r.beginArray();
        while (r.hasNext()) {
          CrowdSecDecision d = decision(r.readValue(), now);
          if (name.equals("deleted")) {
            if (isHeld(d.id())) {
              deleted.add(d.id());
            }
          } else if (added.size() < maxDecisions) {
            added.add(d);
          } else {
            droppedNow++;
          }
        }
        r.endArray();
      }
      r.endObject();
      r.end();
    } catch (JsonReader.JsonException e) {
      throw new IOException("refused the answer of " + lapi.base + "v1/decisions/stream: " + e.getMessage(), e);
    }
    dropped.addAndGet(droppedNow);
    apply(added, deleted, now);
  }

  private boolean isHeld(long id) {
    synchronized (byId) {
      return byId.containsKey(id);
    }
  }

  private static String text(Map<?, ?> m, String key, boolean required) throws JsonReader.JsonException {
    Object v = m.get(key);
    if (v == null && !required) {
      return "";
    }
    if (!(v instanceof String s)) {
      throw new JsonReader.JsonException("a decision's \"" + key + "\" is " + (v == null ? "missing" : "not a string")
          + ": " + m);
    }
    return s;
  }

  private static CrowdSecDecision decision(Object value, Instant now) throws JsonReader.JsonException {
    if (!(value instanceof Map<?, ?> m)) {
      throw new JsonReader.JsonException("a decision is not an object: " + value);
    }
    if (!(m.get("id") instanceof BigDecimal idNumber)) {
      throw new JsonReader.JsonException("a decision's \"id\" is missing or not a number: " + m);
    }
    long id;
    try {
      id = idNumber.longValueExact();
    } catch (ArithmeticException e) {
      throw new JsonReader.JsonException("a decision's \"id\" is not an integer: " + idNumber);
    }
    Duration d;
    try {
      d = GoDurations.parse(text(m, "duration", true));
    } catch (IllegalArgumentException e) {
      throw new JsonReader.JsonException("decision " + id + ": " + e.getMessage());
    }
    return new CrowdSecDecision(id, text(m, "type", true), text(m, "scope", true), text(m, "value", true),
        text(m, "scenario", false), text(m, "origin", false), now.plus(d));
  }

  private void apply(List<CrowdSecDecision> added, List<Long> deleted, Instant now) {
    List<Cidr> touched = new ArrayList<>();
    synchronized (byId) {
      for (Long id : deleted) {
        Held h = byId.remove(id);
        if (h != null) {
          Map<Long, Held> same = byRange.get(h.range);
          same.remove(id);
          touched.add(h.range);
        }
      }
      // Decisions past their end go without a word: the server's ban ended with them.
      for (Iterator<Held> it = byId.values().iterator(); it.hasNext();) {
        Held h = it.next();
        if (!h.decision.until().isAfter(now)) {
          it.remove();
          Map<Long, Held> same = byRange.get(h.range);
          same.remove(h.decision.id());
          if (same.isEmpty()) {
            byRange.remove(h.range);
          }
        }
      }
    }
    for (CrowdSecDecision d : added) {
      Cidr range = enforced(d);
      if (range == null || !d.until().isAfter(now)) {
        continue;
      }
      synchronized (byId) {
        if (!byId.containsKey(d.id()) && byId.size() >= maxDecisions) {
          dropped.incrementAndGet();
          if (!droppingLogged) {
            droppingLogged = true;
            LOG.warn("CrowdSec: {} decisions held (the bound); newer ones are dropped and counted until some end",
                maxDecisions);
          }
          continue;
        }
        Held h = new Held(d, range);
        Held old = byId.put(d.id(), h);
        if (old != null && !old.range.equals(range)) {
          byRange.get(old.range).remove(d.id());
          touched.add(old.range);
        }
        byRange.computeIfAbsent(range, k -> new HashMap<>()).put(d.id(), h);
      }
      touched.add(range);
    }
    synchronized (byId) {
      if (byId.size() < maxDecisions) {
        droppingLogged = false;
      }
    }
    for (Cidr range : new java.util.LinkedHashSet<>(touched)) {
      enforce(range, now);
    }
  }

  /** Gives the range the longest ban its held decisions ask for, or lifts it if none is left. */
  private void enforce(Cidr range, Instant now) {
    CrowdSecDecision longest = null;
    synchronized (byId) {
      Map<Long, Held> same = byRange.get(range);
      if (same != null) {
        for (Held h : same.values()) {
          if (longest == null || h.decision.until().isAfter(longest.until())) {
            longest = h.decision;
          }
        }
        if (same.isEmpty()) {
          byRange.remove(range);
        }
      }
    }
    try {
      if (longest == null) {
        target.lift(range, "crowdsec: decision deleted");
      } else {
        target.ban(range, Duration.between(now, longest.until()), "crowdsec: " + longest.scenario());
      }
    } catch (RuntimeException e) {
      refused.incrementAndGet();
      if (!refusalLogged) {
        refusalLogged = true;
        LOG.warn("CrowdSec: the server refused the ban of {}: {} (logged once; counted in the bouncer's stats)",
            range, e.getMessage());
      }
    }
  }

  /** The range a decision bans, or null (counted) if Portcullis does not enforce it. */
  private Cidr enforced(CrowdSecDecision d) {
    boolean ip = d.scope().equalsIgnoreCase("Ip");
    if (!d.type().equalsIgnoreCase("ban") || !(ip || d.scope().equalsIgnoreCase("Range"))) {
      String key = d.type() + "/" + d.scope();
      // The keys come from the LAPI: past MAX_IGNORED_KINDS distinct ones, the rest count as
      // "other/other", so a hostile stream cannot grow this map without bound.
      AtomicLong count = ignored.get(key);
      if (count == null) {
        count = ignored.size() < MAX_IGNORED_KINDS ? ignored.computeIfAbsent(key, k -> new AtomicLong())
            : ignored.computeIfAbsent("other/other", k -> new AtomicLong());
      }
      count.incrementAndGet();
      return null;
    }
    try {
      Cidr c = Cidr.parse(d.value());
      if (ip && c.prefixLength() != (c.isIpv4() ? 32 : 128)) {
        throw new IllegalArgumentException("a decision of scope Ip names a range: " + d.value());
      }
      return c;
    } catch (IllegalArgumentException e) {
      ignored.computeIfAbsent("invalid", k -> new AtomicLong()).incrementAndGet();
      return null;
    }
  }

  /** Settings of a {@link Bouncer}; {@link #build} checks them together. */
  public static final class Builder {
    private final URI url;
    private String apiKey;
    private Duration pollInterval = Duration.ofSeconds(10);
    private Duration maxBackoff = Duration.ofMinutes(5);
    private Duration requestTimeout = Duration.ofSeconds(10);
    private int maxDecisions = 100_000;
    private long maxResponseBytes = 64L << 20;
    private SSLContext sslContext;

    private Builder(URI url) {
      this.url = Objects.requireNonNull(url, "url");
    }

    /**
     * The bouncer's API key, as {@code cscli bouncers add NAME} printed it.
     *
     * @param key the key
     * @return this builder
     * @throws IllegalArgumentException if it is empty or not printable ASCII
     */
    public Builder apiKey(String key) {
      if (key == null || key.isBlank() || key.strip().chars().anyMatch(c -> c < 0x21 || c > 0x7e)) {
        throw new IllegalArgumentException("a CrowdSec API key is one word of printable ASCII");
      }
      this.apiKey = key.strip();
      return this;
    }

    /**
     * Reads the API key from a file now (its only word; at most 64 KiB).
     *
     * @param file the file
     * @return this builder
     * @throws IOException naming the file if it cannot be read or holds no key
     */
    public Builder apiKeyFile(Path file) throws IOException {
      this.apiKey = Lapi.secret(file);
      return this;
    }

    /**
     * Reads the API key from an environment variable now.
     *
     * @param variable the variable's name, such as {@code CROWDSEC_BOUNCER_KEY}
     * @return this builder
     * @throws IllegalArgumentException if it is not set or holds no key
     */
    public Builder apiKeyFromEnvironment(String variable) {
      String v = System.getenv(variable);
      if (v == null || v.isBlank()) {
        throw new IllegalArgumentException("the environment variable " + variable + " holds no CrowdSec API key");
      }
      return apiKey(v);
    }

    /**
     * How long between two polls (default 10 s). A decision reaches the server within about this.
     *
     * @param interval at least 100 ms
     * @return this builder
     * @throws IllegalArgumentException if shorter
     */
    public Builder pollInterval(Duration interval) {
      if (interval.compareTo(Duration.ofMillis(100)) < 0) {
        throw new IllegalArgumentException("a poll interval is at least 100ms: "
            + dev.portcullis.policy.Durations.format(interval));
      }
      this.pollInterval = interval;
      return this;
    }

    /**
     * The longest delay between two polls while the LAPI fails (default 5 min); the delay doubles
     * from the poll interval up to this.
     *
     * @param max at least the poll interval (checked at {@link #build})
     * @return this builder
     */
    public Builder maxBackoff(Duration max) {
      this.maxBackoff = Objects.requireNonNull(max, "max");
      return this;
    }

    /**
     * How long one request may take, connection included (default 10 s).
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
     * How many decisions are held at most (default 100,000); past it the newest are dropped and
     * counted ({@link CrowdSecStats#dropped}), logged once.
     *
     * @param max 1 to 10,000,000
     * @return this builder
     * @throws IllegalArgumentException if out of range
     */
    public Builder maxDecisions(int max) {
      if (max < 1 || max > 10_000_000) {
        throw new IllegalArgumentException("maxDecisions is 1..10000000: " + max);
      }
      this.maxDecisions = max;
      return this;
    }

    /**
     * The largest answer read (default 64 MiB, about 300,000 decisions); a longer one is refused
     * while it is read, as a failed poll.
     *
     * @param max at least 1 KiB
     * @return this builder
     * @throws IllegalArgumentException if smaller
     */
    public Builder maxResponseBytes(long max) {
      if (max < 1024) {
        throw new IllegalArgumentException("maxResponseBytes is at least 1024: " + max);
      }
      this.maxResponseBytes = max;
      return this;
    }

    /**
     * Trusts the CA certificates of a PEM file for an {@code https} LAPI (default: the JDK's trusted
     * CAs).
     *
     * @param caPem the PEM file
     * @return this builder
     * @throws IOException naming the file if it holds no certificate
     */
    public Builder caCertificate(Path caPem) throws IOException {
      this.sslContext = Lapi.tls(caPem, null, null);
      return this;
    }

    /**
     * The TLS context for an {@code https} LAPI, for trust stores and client certificates set up
     * elsewhere; replaces {@link #caCertificate}.
     *
     * @param context the context
     * @return this builder
     */
    public Builder sslContext(SSLContext context) {
      this.sslContext = Objects.requireNonNull(context, "context");
      return this;
    }

    /**
     * A bouncer with these settings, not started yet.
     *
     * @return the bouncer
     * @throws IllegalStateException if no API key was given, or the backoff is shorter than the poll
     *     interval
     * @throws IllegalArgumentException if the URL is not {@code http} or {@code https}
     */
    public Bouncer build() {
      if (apiKey == null) {
        throw new IllegalStateException("a CrowdSec bouncer needs an API key (cscli bouncers add NAME)");
      }
      if (maxBackoff.compareTo(pollInterval) < 0) {
        throw new IllegalStateException("maxBackoff " + maxBackoff + " is shorter than the poll interval "
            + pollInterval);
      }
      return new Bouncer(this);
    }
  }
}
