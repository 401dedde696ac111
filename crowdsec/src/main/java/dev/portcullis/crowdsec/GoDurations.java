package dev.portcullis.crowdsec;

import java.math.BigDecimal;
import java.time.Duration;

/**
 * Durations as CrowdSec writes them (Go's {@code time.Duration} text): {@code 3h59m58.123456789s},
 * {@code -10.769664ms}, {@code 250us}, {@code 0s}; and as it reads them.
 */
final class GoDurations {
  private GoDurations() {}

  /** Longer than any ban we enforce (Go's own maximum is about 292 years). */
  private static final BigDecimal MAX_NANOS = BigDecimal.valueOf(Long.MAX_VALUE);

  /**
   * Parses a Go duration.
   *
   * @throws IllegalArgumentException naming the text and what is wrong
   */
  static Duration parse(String text) {
    if (text == null || text.isEmpty() || text.length() > 64) {
      throw new IllegalArgumentException("not a duration: \"" + text + "\" (expected such as 3h59m58.5s)");
    }
    int i = 0;
    boolean negative = false;
    if (text.charAt(0) == '-' || text.charAt(0) == '+') {
      negative = text.charAt(0) == '-';
      i = 1;
    }
    if (text.substring(i).equals("0")) {
      return Duration.ZERO;
    }
    BigDecimal nanos = BigDecimal.ZERO;
    boolean any = false;
    while (i < text.length()) {
      int start = i;
      while (i < text.length() && (Character.isDigit(text.charAt(i)) || text.charAt(i) == '.')) {
        i++;
      }
      String number = text.substring(start, i);
      int unitStart = i;
      while (i < text.length() && !Character.isDigit(text.charAt(i)) && text.charAt(i) != '.') {
        i++;
      }
      String unit = text.substring(unitStart, i);
      long scale = switch (unit) {
        case "ns" -> 1L;
        case "us", "µs", "μs" -> 1_000L;
        case "ms" -> 1_000_000L;
        case "s" -> 1_000_000_000L;
        case "m" -> 60_000_000_000L;
        case "h" -> 3_600_000_000_000L;
        default -> throw new IllegalArgumentException("not a duration: \"" + text + "\" ("
            + (unit.isEmpty() ? "a number without a unit" : "unknown unit \"" + unit + "\"") + ")");
      };
      if (number.isEmpty() || number.equals(".") || number.indexOf('.') != number.lastIndexOf('.')) {
        throw new IllegalArgumentException("not a duration: \"" + text + "\" (a unit without a number)");
      }
      nanos = nanos.add(new BigDecimal(number).multiply(BigDecimal.valueOf(scale)));
      if (nanos.compareTo(MAX_NANOS) > 0) {
        throw new IllegalArgumentException("not a duration: \"" + text + "\" (longer than Go's maximum)");
      }
      any = true;
    }
    if (!any) {
      throw new IllegalArgumentException("not a duration: \"" + text + "\" (expected such as 3h59m58.5s)");
    }
    Duration d = Duration.ofNanos(nanos.longValue());
    return negative ? d.negated() : d;
  }

  /** A duration as the Local API reads it: whole seconds, at least one ({@code 600s}). */
  static String format(Duration d) {
    long seconds = Math.max(1, d.getSeconds() + (d.getNano() > 0 ? 1 : 0));
    return seconds + "s";
  }
}
