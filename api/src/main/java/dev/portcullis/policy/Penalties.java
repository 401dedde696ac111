package dev.portcullis.policy;

import java.time.Duration;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * A penalty box: sources that misbehave are refused for a while, in the process, without an
 * external fail2ban (OpenSSH 9.8's {@code PerSourcePenalties} is the model). Immutable; each
 * method returns a changed copy.
 *
 * <pre>{@code
 * Server.on(7000).allow("0.0.0.0/0")
 *     .handshake(Handshakes.sharedSecret(keys))
 *     .penalties(Penalties.after(10, Duration.ofMinutes(1))   // 10 failures within a minute...
 *         .banFor(Duration.ofSeconds(30))                     // ...earn 30 s of refusal,
 *         .upTo(Duration.ofHours(1))                          // doubling on each repeat, to 1 h
 *         .exempt("10.0.0.0/8"))                              // never for the office
 * }</pre>
 *
 * <p><b>What earns a penalty.</b> Each {@link Offence} the source commits adds its weight (1 by
 * default) to the source's count: by default a failed handshake and a handshake timeout; the rate
 * limit's refusals can be added with {@link #counting}. When the count reaches the threshold within
 * the window, the source is banned and its count starts again.
 *
 * <p><b>How long.</b> The first ban lasts {@link #banFor} (60 s by default); each further ban of
 * the same source doubles, up to {@link #upTo} (1 h by default). A source that commits no offence
 * and is not banned for {@link #forgetAfter} (10 min by default) is forgotten: its next ban is a
 * first one again.
 *
 * <p><b>Who.</b> A source is an IPv4 address or an IPv6 /64 ({@link #sourcePrefix}). Behind a
 * trusted proxy (the PROXY protocol), it is the client the proxy names; a failure before the proxy
 * named anyone is not counted, so that a trusted proxy is never banned. {@link #exempt} sources are
 * never banned. Unix domain socket peers are not penalized.
 *
 * <p><b>Memory.</b> At most {@link #maxSources} sources (65,536 by default) are remembered, about
 * 100 bytes each. When the table is full, sources that are not banned are forgotten first, the
 * longest quiet first; if every remembered source is banned, the ban that ends soonest is dropped.
 * A flood of distinct failing sources costs bounded memory, at the price of forgetting some.
 *
 * <p><b>What it cannot do.</b> It is only as good as the address: behind a NAT or a proxy that is
 * not trusted, one bad client gets everyone behind that address banned, and an attacker with many
 * addresses (an IPv6 /48, a botnet) spreads his failures under the threshold.
 */
public final class Penalties {
  /** What a source can do that counts towards a ban. */
  public enum Offence {
    /** A handshake step refused the peer (a wrong shared-secret answer, a bad PROXY header, a TLS failure). */
    HANDSHAKE_FAILED,
    /**
     * The handshake did not finish before its deadline, or, at the cap on pending handshakes, was
     * the slowest and was closed to make room for a newcomer.
     */
    HANDSHAKE_TIMEOUT,
    /** The per-source rate limit refused a connection. */
    RATE_LIMITED
  }

  private final int threshold;
  private final Duration window;
  private final Duration firstBan;
  private final Duration maxBan;
  private final Duration forgetAfter;
  private final List<Cidr> exempt;
  private final Map<Offence, Integer> weights;
  private final int ipv4Bits;
  private final int ipv6Bits;
  private final int maxSources;

  private Penalties(int threshold, Duration window, Duration firstBan, Duration maxBan, Duration forgetAfter,
      List<Cidr> exempt, Map<Offence, Integer> weights, int ipv4Bits, int ipv6Bits, int maxSources) {
    this.threshold = threshold;
    this.window = window;
    this.firstBan = firstBan;
    this.maxBan = maxBan;
    this.forgetAfter = forgetAfter;
    this.exempt = List.copyOf(exempt);
    this.weights = Map.copyOf(weights);
    this.ipv4Bits = ipv4Bits;
    this.ipv6Bits = ipv6Bits;
    this.maxSources = maxSources;
  }

  /**
   * A source is banned once it has committed {@code offences} offences within {@code window}.
   *
   * @param offences the threshold, at least 1
   * @param window how long the offences may take, positive
   * @return the penalty box with the other settings at their defaults
   * @throws IllegalArgumentException if either is out of range
   */
  public static Penalties after(int offences, Duration window) {
    if (offences < 1) {
      throw new IllegalArgumentException("Penalties.after(offences, window): offences must be at least 1, not "
          + offences);
    }
    positive(window, "Penalties.after(offences, window): window");
    Map<Offence, Integer> weights = new EnumMap<>(Offence.class);
    weights.put(Offence.HANDSHAKE_FAILED, 1);
    weights.put(Offence.HANDSHAKE_TIMEOUT, 1);
    return new Penalties(offences, window, Duration.ofSeconds(60), Duration.ofHours(1), Duration.ofMinutes(10),
        List.of(), weights, 32, 64, 65_536);
  }

  /**
   * How long the first ban lasts; each later ban of the same source doubles, up to {@link #upTo}.
   *
   * @param duration positive; 60 s by default
   * @return a changed copy
   */
  public Penalties banFor(Duration duration) {
    positive(duration, "Penalties.banFor(duration)");
    return new Penalties(threshold, window, duration, maxBan.compareTo(duration) < 0 ? duration : maxBan,
        forgetAfter, exempt, weights, ipv4Bits, ipv6Bits, maxSources);
  }

  /**
   * The longest a ban may last, however often the source repeats.
   *
   * @param duration at least {@link #banDuration()}; 1 h by default
   * @return a changed copy
   */
  public Penalties upTo(Duration duration) {
    positive(duration, "Penalties.upTo(duration)");
    if (duration.compareTo(firstBan) < 0) {
      throw new IllegalArgumentException("Penalties.upTo(" + Durations.format(duration)
          + ") is shorter than the first ban ("
          + Durations.format(firstBan) + "); give banFor(...) first, or a longer cap");
    }
    return new Penalties(threshold, window, firstBan, duration, forgetAfter, exempt, weights, ipv4Bits, ipv6Bits,
        maxSources);
  }

  /**
   * How long a source must stay out of trouble (no offence, no ban) to be forgotten, so that its
   * next ban is a first one again.
   *
   * @param duration positive; 10 min by default
   * @return a changed copy
   */
  public Penalties forgetAfter(Duration duration) {
    positive(duration, "Penalties.forgetAfter(duration)");
    return new Penalties(threshold, window, firstBan, maxBan, duration, exempt, weights, ipv4Bits, ipv6Bits,
        maxSources);
  }

  /**
   * Sources that are never banned, in addition to any given before.
   *
   * @param cidrs CIDR blocks or addresses, such as {@code "10.0.0.0/8"} or {@code "::1"}
   * @return a changed copy
   * @throws IllegalArgumentException if one does not parse; the message names it
   */
  public Penalties exempt(String... cidrs) {
    Objects.requireNonNull(cidrs, "Penalties.exempt(cidrs): cidrs");
    List<Cidr> all = new ArrayList<>(exempt);
    for (String c : cidrs) {
      Objects.requireNonNull(c, "Penalties.exempt(cidrs): a CIDR is null");
      all.add(Cidr.parse(c));
    }
    return new Penalties(threshold, window, firstBan, maxBan, forgetAfter, all, weights, ipv4Bits, ipv6Bits,
        maxSources);
  }

  /**
   * Counts {@code offence} with this weight towards the threshold (0 stops counting it).
   *
   * @param offence what the source did
   * @param weight 0 to {@code threshold}; 1 by default for a failed or timed-out handshake, 0 for
   *     a rate-limit refusal
   * @return a changed copy
   */
  public Penalties counting(Offence offence, int weight) {
    Objects.requireNonNull(offence, "Penalties.counting(offence, weight): offence");
    if (weight < 0 || weight > threshold) {
      throw new IllegalArgumentException("Penalties.counting(" + offence + ", " + weight + "): the weight must be "
          + "within 0.." + threshold + " (the threshold)");
    }
    Map<Offence, Integer> w = new EnumMap<>(Offence.class);
    w.putAll(weights);
    if (weight == 0) {
      w.remove(offence);
    } else {
      w.put(offence, weight);
    }
    return new Penalties(threshold, window, firstBan, maxBan, forgetAfter, exempt, w, ipv4Bits, ipv6Bits,
        maxSources);
  }

  /**
   * How much of an address is one source: an IPv4 prefix length (32 by default) and an IPv6 one
   * (64 by default, the size of one subnet; a single host is often given a whole /64).
   *
   * @param ipv4 1..32
   * @param ipv6 1..128
   * @return a changed copy
   */
  public Penalties sourcePrefix(int ipv4, int ipv6) {
    if (ipv4 < 1 || ipv4 > 32 || ipv6 < 1 || ipv6 > 128) {
      throw new IllegalArgumentException("Penalties.sourcePrefix(" + ipv4 + ", " + ipv6 + "): the IPv4 length must "
          + "be within 1..32 and the IPv6 one within 1..128");
    }
    return new Penalties(threshold, window, firstBan, maxBan, forgetAfter, exempt, weights, ipv4, ipv6, maxSources);
  }

  /**
   * The most sources remembered at once (the memory bound).
   *
   * @param n at least 16; 65,536 by default
   * @return a changed copy
   */
  public Penalties maxSources(int n) {
    if (n < 16) {
      throw new IllegalArgumentException("Penalties.maxSources(" + n + "): at least 16");
    }
    return new Penalties(threshold, window, firstBan, maxBan, forgetAfter, exempt, weights, ipv4Bits, ipv6Bits, n);
  }

  private static void positive(Duration d, String what) {
    Objects.requireNonNull(d, what);
    if (d.isNegative() || d.isZero()) {
      throw new IllegalArgumentException(what + " must be positive, not " + Durations.format(d));
    }
  }

  /**
   * The offences that earn a ban.
   *
   * @return at least 1
   */
  public int threshold() {
    return threshold;
  }

  /**
   * How long the offences may take.
   *
   * @return positive
   */
  public Duration window() {
    return window;
  }

  /**
   * The first ban's length.
   *
   * @return positive
   */
  public Duration banDuration() {
    return firstBan;
  }

  /**
   * The longest ban.
   *
   * @return at least {@link #banDuration()}
   */
  public Duration maxBan() {
    return maxBan;
  }

  /**
   * How long a source stays remembered without offence or ban.
   *
   * @return positive
   */
  public Duration forgetting() {
    return forgetAfter;
  }

  /**
   * The sources never banned.
   *
   * @return an unmodifiable list
   */
  public List<Cidr> exemptions() {
    return exempt;
  }

  /**
   * The weight of {@code offence}: 0 if it is not counted.
   *
   * @param offence what the source did
   * @return its weight
   */
  public int weight(Offence offence) {
    return weights.getOrDefault(offence, 0);
  }

  /**
   * The IPv4 prefix length of a source.
   *
   * @return 1..32
   */
  public int ipv4Bits() {
    return ipv4Bits;
  }

  /**
   * The IPv6 prefix length of a source.
   *
   * @return 1..128
   */
  public int ipv6Bits() {
    return ipv6Bits;
  }

  /**
   * The most sources remembered at once.
   *
   * @return at least 16
   */
  public int maxSourceCount() {
    return maxSources;
  }

  /**
   * The launcher's form {@code N:SECONDS}: N offences within a minute earn SECONDS of refusal,
   * doubling on each repeat up to an hour (or SECONDS, if longer).
   *
   * @param text such as {@code "10:30"}
   * @return the penalty box
   * @throws IllegalArgumentException if the text is not {@code N:SECONDS} with positive numbers
   */
  public static Penalties parse(String text) {
    Objects.requireNonNull(text, "Penalties.parse(text): text");
    int colon = text.indexOf(':');
    try {
      if (colon > 0) {
        int n = Integer.parseInt(text.substring(0, colon).strip());
        long seconds = Long.parseLong(text.substring(colon + 1).strip());
        if (n >= 1 && seconds >= 1) {
          Penalties p = after(n, Duration.ofMinutes(1)).banFor(Duration.ofSeconds(seconds));
          return seconds > 3600 ? p : p.upTo(Duration.ofHours(1));
        }
      }
    } catch (NumberFormatException e) {
      // fall through to the message
    }
    throw new IllegalArgumentException("penalty '" + text + "' is not N:SECONDS (N failures within a minute earn "
        + "SECONDS of refusal), such as 10:30");
  }

  @Override
  public String toString() {
    return "Penalties[" + threshold + " offences within " + Durations.format(window) + ": banned "
        + Durations.format(firstBan) + ", doubling up to " + Durations.format(maxBan) + ", forgotten after "
        + Durations.format(forgetAfter) + ", counting " + weights + ", exempt " + exempt + ", sources /"
        + ipv4Bits + " and /" + ipv6Bits + ", at most " + maxSources + "]";
  }
}
