package dev.portcullis.spi;

import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * At most one log line per interval for one kind of event, so a flood of it does not flood the
 * log: the library's refusal lines, a transport's accept errors. Safe from any thread, and {@link
 * #due()} allocates nothing, so it can sit on a hot reject path. Put a running count in the line
 * itself so that readers know how many went unlogged.
 *
 * <pre>{@code
 * private final LogThrottle acceptErrors = LogThrottle.every(10, TimeUnit.SECONDS);
 * ...
 * if (acceptErrors.due()) {
 *     log.warn("accept4 failed: {} ({} so far)", errno, count);
 * }
 * }</pre>
 */
public final class LogThrottle {
  private final long intervalNanos;
  /** When the last line was let through; 0 means never, so the first event always logs. */
  private final AtomicLong last = new AtomicLong();

  private LogThrottle(long intervalNanos) {
    this.intervalNanos = intervalNanos;
  }

  /**
   * A throttle that lets one line through per interval.
   *
   * @param interval the interval, positive
   * @param unit its unit
   * @return a new throttle that has let nothing through yet
   * @throws IllegalArgumentException if the interval is not positive
   */
  public static LogThrottle every(long interval, TimeUnit unit) {
    if (interval <= 0) {
      throw new IllegalArgumentException("A log throttle's interval must be positive: " + interval + " " + unit);
    }
    return new LogThrottle(unit.toNanos(interval));
  }

  /**
   * Whether a line may be written now: true for the first call, then at most once per interval.
   *
   * @return {@code true} if the caller should write its line
   */
  public boolean due() {
    long now = System.nanoTime();
    long before = last.get();
    return (before == 0 || now - before >= intervalNanos) && last.compareAndSet(before, now == 0 ? 1 : now);
  }
}
