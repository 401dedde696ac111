package dev.portcullis.jna;

import java.lang.reflect.Constructor;
import java.lang.reflect.Field;
import java.lang.reflect.Method;
import java.util.concurrent.Executor;
import java.util.concurrent.SynchronousQueue;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Virtual threads whose carrier is an {@link EventLoop} (JDK 21+): the JDK's builder that takes a
 * scheduler ({@code java.lang.ThreadBuilders$VirtualThreadBuilder(Executor)}) is not public, so it
 * is found here at run time, and it can be used only when {@code java.base} opens {@code java.lang}
 * to this module ({@code --add-opens java.base/java.lang=ALL-UNNAMED} on the class path, {@code
 * =dev.portcullis.jna} on the module path, or the launcher jar's {@code Add-Opens} entry). Without
 * it, or on JDK 17-20, {@link #AVAILABLE} is false and handlers keep the JDK's own scheduler; the
 * system property {@code portcullis.loopCarriers=false} turns the mode off on purpose.
 */
final class LoopCarriers {
  private static final Logger log = LoggerFactory.getLogger(LoopCarriers.class);

  private static final Constructor<?> BUILDER;
  private static final Method NAME;
  private static final Method FACTORY;
  /** {@code VirtualThread.runContinuation}: the Runnable its scheduler is given, to name a stalled thread. */
  private static final Field RUN_CONTINUATION;
  private static final String CAUSE;
  /** Whether handlers can run as virtual threads carried by the loops. */
  static final boolean AVAILABLE;

  static {
    Constructor<?> builder = null;
    Method name = null;
    Method factory = null;
    Field runContinuation = null;
    String cause = null;
    if (Runtime.version().feature() < 21) {
      cause = "JDK " + Runtime.version().feature() + " has no virtual threads";
    } else {
      try {
        Class<?> type = Class.forName("java.lang.ThreadBuilders$VirtualThreadBuilder");
        builder = type.getDeclaredConstructor(Executor.class);
        builder.setAccessible(true); // throws InaccessibleObjectException unless java.lang is open to us
        Class<?> ofVirtual = Class.forName("java.lang.Thread$Builder$OfVirtual");
        name = ofVirtual.getMethod("name", String.class, long.class);
        factory = ofVirtual.getMethod("factory");
        try {
          runContinuation = Class.forName("java.lang.VirtualThread").getDeclaredField("runContinuation");
          runContinuation.setAccessible(true);
        } catch (ReflectiveOperationException | RuntimeException e) {
          runContinuation = null; // only the stall report's stack depends on it
        }
      } catch (ReflectiveOperationException | RuntimeException e) {
        builder = null;
        cause = e.getClass().getSimpleName().equals("InaccessibleObjectException")
            ? "java.base does not open java.lang to " + moduleName()
            : "this JDK has no java.lang.ThreadBuilders$VirtualThreadBuilder(Executor) (" + e + ")";
      }
    }
    if (builder != null && "false".equals(System.getProperty("portcullis.loopCarriers"))) {
      builder = null;
      cause = "-Dportcullis.loopCarriers=false";
    }
    BUILDER = builder;
    NAME = name;
    FACTORY = factory;
    RUN_CONTINUATION = runContinuation;
    CAUSE = cause;
    AVAILABLE = builder != null;
  }

  private LoopCarriers() {}

  /** The module the flag must open {@code java.lang} to: this one's name, or the class path's. */
  static String moduleName() {
    Module m = LoopCarriers.class.getModule();
    return m.isNamed() ? m.getName() : "ALL-UNNAMED";
  }

  /** The exact option that opens the way, for the log line. */
  static String flag() {
    return "--add-opens java.base/java.lang=" + moduleName();
  }

  /** Why {@link #AVAILABLE} is false (null when it is true). */
  static String unavailableCause() {
    return CAUSE;
  }

  private static final AtomicInteger LOGGED = new AtomicInteger();

  /**
   * Whether handlers can run on the loops; when they cannot on a JDK that has virtual threads, logs
   * once per process the flag that would allow it.
   */
  static boolean offered() {
    if (!AVAILABLE && Runtime.version().feature() >= 21 && LOGGED.getAndIncrement() == 0) {
      if (CAUSE.startsWith("-D")) {
        log.info("Handlers run as virtual threads on the JDK's scheduler: the event loops do not carry them ({})", CAUSE);
        return false;
      }
      log.info("Handlers run as virtual threads on the JDK's scheduler, a thread hand-off per wait, because {}; "
          + "add {} to the java command (the portcullis launcher jar declares it) to run them on the event loops",
          CAUSE, flag());
    }
    return AVAILABLE;
  }

  /**
   * A factory of virtual threads whose scheduler is {@code scheduler}, named {@code prefix1},
   * {@code prefix2}...; only when {@link #AVAILABLE}.
   */
  static ThreadFactory factory(Executor scheduler, String prefix) {
    try {
      Object b = BUILDER.newInstance(scheduler);
      b = NAME.invoke(b, prefix, 1L);
      return (ThreadFactory) FACTORY.invoke(b);
    } catch (ReflectiveOperationException e) {
      throw new IllegalStateException("VirtualThreadBuilder(Executor) failed", e);
    }
  }

  /** The Runnable the JDK hands the scheduler for {@code virtual}, or null if unknown. */
  static Runnable continuationOf(Thread virtual) {
    try {
      return RUN_CONTINUATION == null ? null : (Runnable) RUN_CONTINUATION.get(virtual);
    } catch (ReflectiveOperationException | RuntimeException e) {
      return null;
    }
  }

  /**
   * Where continuations run when their loop cannot: it has stopped, or a handler holds it (see
   * {@link EventLoop}). Platform threads made on demand and ended after 1 s idle: a virtual
   * thread's continuation must run on a platform thread, and these may be held by a handler that
   * blocks its carrier without harming anyone else.
   */
  static final Executor FALLBACK = new ThreadPoolExecutor(0, Integer.MAX_VALUE, 1, TimeUnit.SECONDS,
      new SynchronousQueue<>(), fallbackThreads());

  private static ThreadFactory fallbackThreads() {
    AtomicInteger n = new AtomicInteger();
    return r -> {
      Thread t = new Thread(r, "portcullis-carrier-" + n.incrementAndGet());
      t.setDaemon(true);
      return t;
    };
  }
}
