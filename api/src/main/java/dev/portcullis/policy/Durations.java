package dev.portcullis.policy;

import java.time.Duration;
import java.util.Objects;

/**
 * Durations as people write them: {@code 5s}, {@code 1m}, {@code 1m30s}, {@code 250ms}, not
 * {@code PT5S}. The one form every log line, exception message and {@code toString()} of the
 * library uses for a duration.
 *
 * <p>{@link #format} writes the largest units that keep the value exact, largest first, each unit
 * at most once and none that is zero: days {@code d}, hours {@code h}, minutes {@code m}, seconds
 * {@code s}, milliseconds {@code ms}, microseconds {@code us}, nanoseconds {@code ns}. So 90
 * seconds is {@code 1m30s} (not {@code 90s}), 1.5 seconds is {@code 1s500ms}, 48 hours is
 * {@code 2d} (a day is 24 hours here, as in {@link Duration#ofDays}), zero is {@code 0s} and a
 * negative duration is its length with a {@code -}. {@link #parse} reads that form back, and also
 * amounts above a unit's range ({@code 90s}, {@code 1500ms}).
 *
 * <pre>{@code
 * Durations.format(Duration.ofSeconds(90));     // "1m30s"
 * Durations.format(Duration.ofMillis(250));     // "250ms"
 * Durations.parse("1h");                        // PT1H
 * Durations.parse("5 s");                       // IllegalArgumentException: '5 s' is not a duration ...
 * }</pre>
 */
public final class Durations {
  private Durations() {}

  private static final String[] UNITS = {"d", "h", "m", "s", "ms", "us", "ns"};
  /** Nanoseconds per unit above, for the units below a second; seconds per unit for the others. */
  private static final long[] SECONDS = {86_400, 3_600, 60, 1};
  private static final long[] NANOS = {1_000_000, 1_000, 1};

  /**
   * The text of a duration: {@code 1m30s}, {@code 250ms}, {@code 2d}, {@code 0s}, {@code -5s}.
   *
   * @param duration the duration
   * @return its text, which {@link #parse} reads back to an equal duration
   * @throws NullPointerException if {@code duration} is null
   */
  public static String format(Duration duration) {
    Objects.requireNonNull(duration, "duration");
    if (duration.isZero()) {
      return "0s";
    }
    long seconds = duration.getSeconds();
    long nanos = duration.getNano();
    boolean negative = seconds < 0;
    if (negative) {
      // The length, with seconds read as unsigned: -Long.MIN_VALUE seconds does not fit a long.
      seconds = nanos == 0 ? -seconds : -(seconds + 1);
      nanos = nanos == 0 ? 0 : 1_000_000_000 - nanos;
    }
    StringBuilder sb = new StringBuilder(negative ? "-" : "");
    for (int i = 0; i < SECONDS.length; i++) {
      long n = Long.divideUnsigned(seconds, SECONDS[i]);
      seconds = Long.remainderUnsigned(seconds, SECONDS[i]);
      if (n != 0) {
        sb.append(Long.toUnsignedString(n)).append(UNITS[i]);
      }
    }
    for (int i = 0; i < NANOS.length; i++) {
      long n = nanos / NANOS[i];
      nanos %= NANOS[i];
      if (n != 0) {
        sb.append(n).append(UNITS[SECONDS.length + i]);
      }
    }
    return sb.toString();
  }

  /**
   * Reads a duration written as {@link #format} writes it: one or more whole amounts, each followed
   * by its unit ({@code d h m s ms us ns}), the units largest first and each at most once, with no
   * spaces; a leading {@code -} for a negative one. An amount may exceed its unit's range
   * ({@code 90s}); a bare {@code 0} is zero.
   *
   * @param text such as {@code 1m30s}, {@code 250ms}, {@code 10s}
   * @return the duration
   * @throws IllegalArgumentException if the text is not such a duration, quoting it and saying why
   * @throws NullPointerException if {@code text} is null
   */
  public static Duration parse(String text) {
    Objects.requireNonNull(text, "text");
    String usage = "a duration such as 10s, 1m30s or 250ms (units d, h, m, s, ms, us, ns, largest first)";
    boolean negative = text.startsWith("-");
    int i = negative ? 1 : 0;
    if (text.substring(i).equals("0")) {
      return Duration.ZERO;
    }
    if (i == text.length()) {
      throw new IllegalArgumentException("'" + text + "' is not " + usage);
    }
    Duration d = Duration.ZERO;
    int last = -1;
    try {
      while (i < text.length()) {
        int start = i;
        while (i < text.length() && text.charAt(i) >= '0' && text.charAt(i) <= '9') {
          i++;
        }
        int unitStart = i;
        while (i < text.length() && text.charAt(i) >= 'a' && text.charAt(i) <= 'z') {
          i++;
        }
        String digits = text.substring(start, unitStart);
        String unit = text.substring(unitStart, i);
        int u = java.util.Arrays.asList(UNITS).indexOf(unit);
        if (digits.isEmpty() || u < 0) {
          throw new IllegalArgumentException("'" + text + "' is not " + usage);
        }
        if (u <= last) {
          throw new IllegalArgumentException("'" + text + "': '" + unit + "' comes after a smaller or the same unit; "
              + "write " + usage);
        }
        last = u;
        long n = Long.parseLong(digits);
        Duration part = u < SECONDS.length ? Duration.ofSeconds(Math.multiplyExact(n, SECONDS[u]))
            : Duration.ofNanos(Math.multiplyExact(n, NANOS[u - SECONDS.length]));
        d = negative ? d.minus(part) : d.plus(part); // so the most negative duration reads back too
      }
    } catch (NumberFormatException | ArithmeticException e) {
      throw new IllegalArgumentException("'" + text + "' is too long a duration", e);
    }
    return d;
  }
}
