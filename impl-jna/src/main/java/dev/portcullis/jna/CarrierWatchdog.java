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
 * -Dportcullis.carrierStallMillis}, default 100) while the loop's thread used CPU (20 ms at
 * least) or slept in the kernel (the thread's state in {@code /proc/self/task/TID/stat}) is
 * reported once, with its thread's stack, and
 * until it lets go the loop's runnable continuations run on the fallback carriers ({@link
 * LoopCarriers#FALLBACK}) instead of waiting behind it, and the loop's {@link
 * EventLoop.StallListener} is told: a {@code SO_REUSEPORT} listener's next loop then accepts on the
 * held loop's socket (a loop that is not waiting in {@code epoll_wait} is not woken by the kernel
 * for a shared {@code EPOLLEXCLUSIVE} socket, so there the other loops accept anyway). What still waits for the loop: readiness of its own sockets, its
 * timers and handshakes, until the handler parks or returns. A loop thread that was only waiting
 * for a CPU (runnable, little CPU used: an overloaded machine) is not reported.
 */
final class CarrierWatchdog {
  private static final Logger log = LoggerFactory.getLogger(CarrierWatchdog.class);
  static final long BOUND_NANOS = TimeUnit.MILLISECONDS.toNanos(bound());
  private static final Set<EventLoop> LOOPS = ConcurrentHashMap.newKeySet();
  /** Per loop: the continuation's start it was first seen at, and then the thread's CPU and the time. */
  private static final java.util.Map<EventLoop, long[]> SEEN = new ConcurrentHashMap<>();
  /** Kernel clock ticks per second of /proc's utime and stime (USER_HZ, 100 on Linux). */
  private static final long TICK_NANOS = 10_000_000L;
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
    SEEN.remove(loop);
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
          if (since == 0) {
            SEEN.remove(loop);
            continue;
          }
          long[] stat = stat(loop.tid()); // {state, cpu nanos}, or null
          long[] seen = SEEN.get(loop);
          if (seen == null || seen[0] != since) {
            SEEN.put(loop, new long[] {since, stat == null ? 0 : stat[1], now});
            continue;
          }
          if (now - since > BOUND_NANOS && holds(stat, seen, now)) {
            Runnable held = loop.markStalled(since);
            if (held != null) {
              report(loop, held, now - since);
            }
            SEEN.remove(loop);
          }
        }
      } catch (InterruptedException e) {
        return;
      } catch (Throwable t) {
        log.error("The carrier watchdog failed; it goes on", t);
      }
    }
  }

  /**
   * Whether the loop thread is held, not merely waiting for a CPU: asleep in the kernel (a call the
   * JDK could not unmount), or it used 20 ms of CPU within this one continuation since it was first
   * seen, which a continuation that only waited for a CPU does not (it would have finished). Without
   * /proc, yes.
   */
  private static boolean holds(long[] stat, long[] seen, long now) {
    if (stat == null) {
      return true;
    }
    char state = (char) stat[0];
    if (state == 'S' || state == 'D') {
      return true;
    }
    return stat[1] - seen[1] >= 2 * TICK_NANOS;
  }

  /** The thread's state letter and CPU time (utime + stime) from /proc/self/task/TID/stat, or null. */
  static long[] stat(int tid) {
    if (tid <= 0) {
      return null;
    }
    try {
      String s = java.nio.file.Files.readString(java.nio.file.Path.of("/proc/self/task/" + tid + "/stat"));
      String[] f = s.substring(s.lastIndexOf(')') + 2).split(" ");
      return new long[] {f[0].charAt(0), (Long.parseLong(f[11]) + Long.parseLong(f[12])) * TICK_NANOS};
    } catch (java.io.IOException | RuntimeException e) {
      return null;
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
