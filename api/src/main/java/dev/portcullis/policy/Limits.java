package dev.portcullis.policy;

import java.util.Objects;

/**
 * Connection limits written in policy text, beside the rules:
 *
 * <pre>
 * limit connections 1000          # open connections in all
 * limit per-source 20             # open connections per source (IPv4 address, IPv6 /64)
 * limit rate 10/s burst 50        # new connections per source: a token bucket
 * limit pending-handshakes 500    # connections in their handshake at once
 * </pre>
 *
 * 0 means no limit, except for pending handshakes: there 0 means the default, {@link
 * #defaultMaxPendingHandshakes()}, which every server with a handshake step has. The same value is what {@code Server.maxConnections(...)} and its kin set on
 * a builder: a server merges its builder's limits over its policy's once, at start ({@link
 * #over}), so a limit set on the builder wins. A policy swapped in later ({@code
 * RunningServer.updatePolicy}) brings its limits the same way, under the builder's; only the source
 * prefix stays as it was at start, since the open connections are counted under it.
 *
 * <p>Which address is a "source": the socket peer, or, for a connection from a proxy trusted by a
 * PROXY protocol step, the client its header names; an IPv4 address and an IPv6 /64 by default
 * ({@link #sourceIpv4Bits}, {@link #sourceIpv6Bits}).
 *
 * @param maxConnections open connections in all, or 0
 * @param maxPerSource open connections per source, or 0
 * @param ratePerSecond new connections a second per source, or 0
 * @param burst the rate limit's bucket, or 0 when there is no rate limit
 * @param maxPendingHandshakes connections in their handshake at once, or 0 for {@link
 *     #defaultMaxPendingHandshakes()}
 * @param sourceIpv4Bits how much of an IPv4 address is one source, 1..32, or 0 for the default 32
 * @param sourceIpv6Bits how much of an IPv6 address is one source, 1..128, or 0 for the default 64
 */
public record Limits(int maxConnections, int maxPerSource, double ratePerSecond, int burst, int maxPendingHandshakes,
    int sourceIpv4Bits, int sourceIpv6Bits) {
  /** No limits set: none on connections, and the default cap on pending handshakes. */
  public static final Limits NONE = new Limits(0, 0, 0, 0, 0);

  /**
   * The most heap one pending handshake is counted as holding when the default cap is chosen: a
   * TLS handshake past its ClientHello (the engine and its handshake state, a record of input, the
   * server's flight until it is sent). A peer that sent only part of a ClientHello holds far less:
   * its bytes so far, in a buffer no larger than one record (16 KiB), and no engine.
   */
  public static final int PENDING_HANDSHAKE_BYTES = 32 * 1024;

  /** The share of the heap the default cap gives pending handshakes: one eighth. */
  public static final int PENDING_HANDSHAKES_HEAP_DIVISOR = 8;

  /** The least the default cap on pending handshakes is, however small the heap. */
  public static final int MIN_DEFAULT_PENDING_HANDSHAKES = 64;

  /** The most the default cap on pending handshakes is, however large the heap. */
  public static final int MAX_DEFAULT_PENDING_HANDSHAKES = 16_384;

  /**
   * The cap on connections in their handshake that a server has when none is set: an eighth of
   * the heap ({@link Runtime#maxMemory()}) divided by what a pending handshake may hold ({@value
   * #PENDING_HANDSHAKE_BYTES} bytes), kept within {@value #MIN_DEFAULT_PENDING_HANDSHAKES}..{@value
   * #MAX_DEFAULT_PENDING_HANDSHAKES}. With {@code -Xmx256m} that is 1,024; with 1 GiB, 4,096; from
   * 4 GiB up, 16,384. So however many peers start a handshake and stop, they cannot take more than
   * an eighth of the heap, and at the cap the slowest of them gives its place to a newcomer.
   *
   * @return the default cap for this JVM's heap
   */
  public static int defaultMaxPendingHandshakes() {
    return defaultMaxPendingHandshakes(Runtime.getRuntime().maxMemory());
  }

  /**
   * The default cap on pending handshakes for a heap of {@code maxHeapBytes}; see {@link
   * #defaultMaxPendingHandshakes()}.
   *
   * @param maxHeapBytes the heap's size, as {@link Runtime#maxMemory()} reports it ({@link
   *     Long#MAX_VALUE} when the JVM has no limit)
   * @return the cap
   */
  public static int defaultMaxPendingHandshakes(long maxHeapBytes) {
    long n = Math.max(0, maxHeapBytes) / PENDING_HANDSHAKES_HEAP_DIVISOR / PENDING_HANDSHAKE_BYTES;
    return (int) Math.max(MIN_DEFAULT_PENDING_HANDSHAKES, Math.min(MAX_DEFAULT_PENDING_HANDSHAKES, n));
  }

  /**
   * The cap on pending handshakes in force: {@link #maxPendingHandshakes}, or the default when it
   * is 0.
   *
   * @return at least 1
   */
  public int effectiveMaxPendingHandshakes() {
    return maxPendingHandshakes > 0 ? maxPendingHandshakes : defaultMaxPendingHandshakes();
  }

  /**
   * Checks the values.
   *
   * @param maxConnections 0 or more
   * @param maxPerSource 0 or more
   * @param ratePerSecond 0 or a positive rate
   * @param burst 0 without a rate, at least 1 with one
   * @param maxPendingHandshakes 0 (the default) or more
   * @param sourceIpv4Bits 0 (the default) or 1..32
   * @param sourceIpv6Bits 0 (the default) or 1..128
   * @throws IllegalArgumentException for a negative value, a rate without a burst, or a source
   *     prefix out of range
   */
  public Limits {
    if (maxConnections < 0 || maxPerSource < 0 || maxPendingHandshakes < 0 || burst < 0
        || !(ratePerSecond >= 0) || Double.isInfinite(ratePerSecond)) {
      throw new IllegalArgumentException("limits cannot be negative");
    }
    if ((ratePerSecond > 0) != (burst > 0)) {
      throw new IllegalArgumentException("a rate limit needs both a rate and a burst");
    }
    if (sourceIpv4Bits < 0 || sourceIpv4Bits > 32 || sourceIpv6Bits < 0 || sourceIpv6Bits > 128) {
      throw new IllegalArgumentException("source prefix /" + sourceIpv4Bits + " and /" + sourceIpv6Bits
          + ": expected 1..32 and 1..128 (0 for the defaults)");
    }
  }

  /**
   * Limits with the default source prefixes.
   *
   * @param maxConnections 0 or more
   * @param maxPerSource 0 or more
   * @param ratePerSecond 0 or a positive rate
   * @param burst 0 without a rate, at least 1 with one
   * @param maxPendingHandshakes 0 or more
   */
  public Limits(int maxConnections, int maxPerSource, double ratePerSecond, int burst, int maxPendingHandshakes) {
    this(maxConnections, maxPerSource, ratePerSecond, burst, maxPendingHandshakes, 0, 0);
  }

  /**
   * These limits with another total.
   *
   * @param n at least 1
   * @return the new limits
   * @throws IllegalArgumentException if {@code n < 1}
   */
  public Limits withMaxConnections(int n) {
    return new Limits(atLeastOne(n, "maxConnections"), maxPerSource, ratePerSecond, burst, maxPendingHandshakes,
        sourceIpv4Bits, sourceIpv6Bits);
  }

  /**
   * These limits with another per-source limit.
   *
   * @param n at least 1
   * @return the new limits
   * @throws IllegalArgumentException if {@code n < 1}
   */
  public Limits withMaxPerSource(int n) {
    return new Limits(maxConnections, atLeastOne(n, "maxConnectionsPerSource"), ratePerSecond, burst,
        maxPendingHandshakes, sourceIpv4Bits, sourceIpv6Bits);
  }

  /**
   * These limits with another rate limit per source.
   *
   * @param perSecond the refill rate, above 0
   * @param burst the bucket size, at least 1
   * @return the new limits
   * @throws IllegalArgumentException for a rate that is not a positive number, or {@code burst < 1}
   */
  public Limits withRate(double perSecond, int burst) {
    if (!(perSecond > 0) || Double.isInfinite(perSecond)) {
      throw new IllegalArgumentException("rateLimitPerSource: perSecond must be a positive number: " + perSecond);
    }
    return new Limits(maxConnections, maxPerSource, perSecond, atLeastOne(burst, "rateLimitPerSource burst"),
        maxPendingHandshakes, sourceIpv4Bits, sourceIpv6Bits);
  }

  /**
   * These limits with another cap on connections in their handshake.
   *
   * @param n at least 1
   * @return the new limits
   * @throws IllegalArgumentException if {@code n < 1}
   */
  public Limits withMaxPendingHandshakes(int n) {
    return new Limits(maxConnections, maxPerSource, ratePerSecond, burst, atLeastOne(n, "maxPendingHandshakes"),
        sourceIpv4Bits, sourceIpv6Bits);
  }

  /**
   * These limits with another source prefix.
   *
   * @param ipv4Bits 1..32
   * @param ipv6Bits 1..128
   * @return the new limits
   * @throws IllegalArgumentException if out of range
   */
  public Limits withSourcePrefix(int ipv4Bits, int ipv6Bits) {
    if (ipv4Bits < 1 || ipv4Bits > 32 || ipv6Bits < 1 || ipv6Bits > 128) {
      throw new IllegalArgumentException("sourcePrefix(" + ipv4Bits + ", " + ipv6Bits + "): expected 1..32 and 1..128");
    }
    return new Limits(maxConnections, maxPerSource, ratePerSecond, burst, maxPendingHandshakes, ipv4Bits, ipv6Bits);
  }

  /**
   * These limits, and {@code base}'s wherever these set none: how a server merges its builder's
   * limits (these) over its policy's (the base), once, at start.
   *
   * @param base the limits under these
   * @return the merged limits
   */
  public Limits over(Limits base) {
    return Objects.requireNonNull(base, "base").with(this);
  }

  /**
   * Whether any limit on connections (total, per source or rate) is set: then a server counts
   * connections at all.
   *
   * @return {@code true} if connections are counted
   */
  public boolean countsConnections() {
    return maxConnections > 0 || maxPerSource > 0 || ratePerSecond > 0;
  }

  /**
   * The IPv4 prefix length of one source in force.
   *
   * @return {@link #sourceIpv4Bits}, or 32 when it is 0
   */
  public int effectiveIpv4Bits() {
    return sourceIpv4Bits == 0 ? 32 : sourceIpv4Bits;
  }

  /**
   * The IPv6 prefix length of one source in force.
   *
   * @return {@link #sourceIpv6Bits}, or 64 when it is 0
   */
  public int effectiveIpv6Bits() {
    return sourceIpv6Bits == 0 ? 64 : sourceIpv6Bits;
  }

  private static int atLeastOne(int n, String what) {
    if (n < 1) {
      throw new IllegalArgumentException(what + " must be at least 1: " + n);
    }
    return n;
  }

  /** These limits, with {@code other}'s wherever it sets one. */
  Limits with(Limits other) {
    Objects.requireNonNull(other, "other");
    return new Limits(other.maxConnections > 0 ? other.maxConnections : maxConnections,
        other.maxPerSource > 0 ? other.maxPerSource : maxPerSource,
        other.ratePerSecond > 0 ? other.ratePerSecond : ratePerSecond,
        other.ratePerSecond > 0 ? other.burst : burst,
        other.maxPendingHandshakes > 0 ? other.maxPendingHandshakes : maxPendingHandshakes,
        other.sourceIpv4Bits > 0 ? other.sourceIpv4Bits : sourceIpv4Bits,
        other.sourceIpv6Bits > 0 ? other.sourceIpv6Bits : sourceIpv6Bits);
  }

  static Limits parseLine(String text) {
    String[] w = text.strip().split("[ \t]+");
    String usage = "expected 'limit connections N', 'limit per-source N', 'limit rate R/s burst B'"
        + " or 'limit pending-handshakes N'";
    if (w.length < 3) {
      throw new IllegalArgumentException("'" + text + "' is not a limit: " + usage);
    }
    switch (w[1]) {
      case "connections", "per-source", "pending-handshakes" -> {
        if (w.length != 3) {
          throw new IllegalArgumentException("'" + text + "' is not a limit: " + usage);
        }
        int n = count(w[2], text);
        return switch (w[1]) {
          case "connections" -> new Limits(n, 0, 0, 0, 0);
          case "per-source" -> new Limits(0, n, 0, 0, 0);
          default -> new Limits(0, 0, 0, 0, n);
        };
      }
      case "rate" -> {
        if (w.length != 5 || !w[2].endsWith("/s") || !w[3].equals("burst")) {
          throw new IllegalArgumentException("'" + text + "' is not a rate limit: expected 'limit rate R/s burst B'");
        }
        double rate;
        try {
          rate = Double.parseDouble(w[2].substring(0, w[2].length() - 2));
        } catch (NumberFormatException e) {
          throw new IllegalArgumentException("'" + text + "': '" + w[2] + "' is not a rate such as 10/s");
        }
        if (!(rate > 0) || Double.isInfinite(rate)) {
          throw new IllegalArgumentException("'" + text + "': the rate must be above 0");
        }
        return new Limits(0, 0, rate, count(w[4], text), 0);
      }
      default -> throw new IllegalArgumentException("'" + text + "': '" + w[1] + "' is not a limit; " + usage);
    }
  }

  private static int count(String v, String text) {
    if (!v.matches("[0-9]{1,9}") || Integer.parseInt(v) < 1) {
      throw new IllegalArgumentException("'" + text + "': '" + v + "' is not a whole number from 1");
    }
    return Integer.parseInt(v);
  }

  /** The {@code limit ...} lines for these limits, each ending in a newline. */
  String toText() {
    StringBuilder sb = new StringBuilder();
    if (maxConnections > 0) {
      sb.append("limit connections ").append(maxConnections).append('\n');
    }
    if (maxPerSource > 0) {
      sb.append("limit per-source ").append(maxPerSource).append('\n');
    }
    if (ratePerSecond > 0) {
      String r = ratePerSecond == Math.rint(ratePerSecond) ? String.valueOf((long) ratePerSecond)
          : String.valueOf(ratePerSecond);
      sb.append("limit rate ").append(r).append("/s burst ").append(burst).append('\n');
    }
    if (maxPendingHandshakes > 0) {
      sb.append("limit pending-handshakes ").append(maxPendingHandshakes).append('\n');
    }
    return sb.toString();
  }
}
