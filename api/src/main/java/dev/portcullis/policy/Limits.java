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
 * 0 means no limit. A server started with such a policy applies them unless its builder set the
 * same limit ({@code Server.maxConnections(...)} and its kin win). They are read when the server
 * starts; a policy swapped in later keeps its rules' effect but not its limits.
 *
 * @param maxConnections open connections in all, or 0
 * @param maxPerSource open connections per source, or 0
 * @param ratePerSecond new connections a second per source, or 0
 * @param burst the rate limit's bucket, or 0 when there is no rate limit
 * @param maxPendingHandshakes connections in their handshake at once, or 0
 */
public record Limits(int maxConnections, int maxPerSource, double ratePerSecond, int burst, int maxPendingHandshakes) {
  /** No limits at all. */
  public static final Limits NONE = new Limits(0, 0, 0, 0, 0);

  /**
   * Checks the values.
   *
   * @param maxConnections 0 or more
   * @param maxPerSource 0 or more
   * @param ratePerSecond 0 or a positive rate
   * @param burst 0 without a rate, at least 1 with one
   * @param maxPendingHandshakes 0 or more
   * @throws IllegalArgumentException for a negative value or a rate without a burst
   */
  public Limits {
    if (maxConnections < 0 || maxPerSource < 0 || maxPendingHandshakes < 0 || burst < 0
        || !(ratePerSecond >= 0) || Double.isInfinite(ratePerSecond)) {
      throw new IllegalArgumentException("limits cannot be negative");
    }
    if ((ratePerSecond > 0) != (burst > 0)) {
      throw new IllegalArgumentException("a rate limit needs both a rate and a burst");
    }
  }

  /** Whether any limit is set. */
  boolean any() {
    return !equals(NONE);
  }

  /** These limits, with {@code other}'s wherever it sets one. */
  Limits with(Limits other) {
    Objects.requireNonNull(other, "other");
    return new Limits(other.maxConnections > 0 ? other.maxConnections : maxConnections,
        other.maxPerSource > 0 ? other.maxPerSource : maxPerSource,
        other.ratePerSecond > 0 ? other.ratePerSecond : ratePerSecond,
        other.ratePerSecond > 0 ? other.burst : burst,
        other.maxPendingHandshakes > 0 ? other.maxPendingHandshakes : maxPendingHandshakes);
  }

  /** Parses one {@code limit ...} line into limits that set just that one. */
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
