package dev.portcullis.jna;

import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Notices an event loop held by a handler. A handler carried by a loop (see {@link
 * LoopCarriers}) that does not park, because it computes, spins, or blocks in a way the JDK cannot
 * unmount (a native call, file I/O, {@code synchronized} before JDK 24), keeps the loop's thread:
 * the loop's other connections wait. One daemon thread looks at every watched loop every {@code
 * bound / 2}; a continuation that has run longer than the bound ({@code
 * -Dportcullis.carrierStallMillis}, default 100) is reported once, with its thread's stack, and
 * until it lets go the loop's runnable continuations run on the fallback carriers ({@link
 * LoopCarriers#FALLBACK}) instead of waiting behind it. New connections need nothing: a loop that
 * is not waiting in {@code epoll_wait} is not woken by the kernel for the shared listening socket,
 * so the other loops accept them. What still waits for the loop: readiness of its own sockets, its
 * timers and handshakes, until the handler parks or returns.
 */
final class CarrierWatchdog {
  private static final Logger log = LoggerFactory.getLogger(CarrierWatchdog.class);
  static final long BOUND_NANOS = TimeUnit.MILLISECONDS.toNanos(bound());
  private static final Set<EventLoop> LOOPS = ConcurrentHashMap.newKeySet();
  private static final dev.portcullis.spi.LogThrottle REPORTS =
      dev.portcullis.spi.LogThrottle.every(1, TimeUnit.SECONDS);
  private static Thread thread; // guarded by LOOPS

  private CarrierWatchdog() {}

  private static long bound() {
    String v = System.getProperty("portcullis.carrierStallMillis", "100");
    try {
      long ms = Long.parseLong(v.trim());
      if (ms > 0) {
        return ms;
      }
    } catch (NumberFormatException e) {
      // below
    }
    log.warn("-Dportcullis.carrierStallMillis={} is not a positive number of milliseconds; using 100", v);
    return 100;
  }

  /**
   * Starts watching {@code loop} (its first carried handler is about to start); the thread runs
   * while some loop is watched, so a closed server leaves no thread behind.
   */
  static void watch(EventLoop loop) {
    synchronized (LOOPS) {
      LOOPS.add(loop);
      if (thread == null) {
        thread = new Thread(CarrierWatchdog::run, "portcullis-carrier-watchdog");
        thread.setDaemon(true);
        thread.start();
      }
    }
  }

  /** The loop stopped. */
  static void unwatch(EventLoop loop) {
    LOOPS.remove(loop);
  }

  /** The held loop let go (called on it). */
  static void released(EventLoop loop) {
    log.debug("The handler that held {} let go; its continuations run on it again", loop.thread().getName());
  }

  private static void run() {
    long sleepMillis = Math.max(1, TimeUnit.NANOSECONDS.toMillis(BOUND_NANOS) / 2);
    while (true) {
      try {
        Thread.sleep(sleepMillis);
        synchronized (LOOPS) {
          if (LOOPS.isEmpty()) {
            thread = null;
            return;
          }
        }
        long now = System.nanoTime();
        for (EventLoop loop : LOOPS) {
          long since = loop.continuationSince();
          if (since != 0 && now - since > BOUND_NANOS) {
            Runnable held = loop.markStalled(since);
            if (held != null) {
              report(loop, held, now - since);
            }
          }
        }
      } catch (InterruptedException e) {
        return;
      } catch (Throwable t) {
        log.error("The carrier watchdog failed; it goes on", t);
      }
    }
  }

  private static void report(EventLoop loop, Runnable held, long nanos) {
    if (!REPORTS.due()) {
      return;
    }
    Thread handler = loop.carriedThread(held);
    Throwable where = new Throwable("Stack of " + (handler == null ? "the handler (unknown)" : handler.getName()));
    if (handler != null) {
      where.setStackTrace(handler.getStackTrace());
    } else {
      where.setStackTrace(new StackTraceElement[0]);
    }
    log.warn("A handler has held event loop {} for {} ms without parking (a computation, a spin, or a call the JDK "
        + "cannot unmount): that loop's connections wait until it lets go; new connections go to the other loops and "
        + "its runnable handlers to other carriers meanwhile", loop.thread().getName(),
        TimeUnit.NANOSECONDS.toMillis(nanos), where);
  }
}
