package dev.portcullis.jna;

import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;
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
  /**
   * {@code VirtualThread.scheduler} as {@code (Thread) -> Executor}: whether the calling virtual
   * thread is one a loop carries is whether its scheduler is a loop's ({@link #schedulerOf}).
   */
  private static final MethodHandle SCHEDULER;
  private static final String CAUSE;
  /** Whether handlers can run as virtual threads carried by the loops. */
  static final boolean AVAILABLE;

  static {
    Constructor<?> builder = null;
    Method name = null;
    Method factory = null;
    MethodHandle scheduler = null;
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
        Class<?> virtual = Class.forName("java.lang.VirtualThread");
        scheduler = MethodHandles.privateLookupIn(virtual, MethodHandles.lookup())
            .findGetter(virtual, "scheduler", Executor.class)
            .asType(MethodType.methodType(Executor.class, Thread.class));
      } catch (ReflectiveOperationException | RuntimeException e) {
        builder = null;
        cause = e.getClass().getSimpleName().equals("InaccessibleObjectException")
            ? "java.base does not open java.lang to " + moduleName()
            : "this JDK has no java.lang.ThreadBuilders$VirtualThreadBuilder(Executor) or VirtualThread.scheduler ("
                + e + ")";
      }
    }
    if (builder != null && "false".equals(System.getProperty("portcullis.loopCarriers"))) {
      builder = null;
      cause = "-Dportcullis.loopCarriers=false";
    }
    BUILDER = builder;
    NAME = name;
    FACTORY = factory;
    SCHEDULER = scheduler;
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

  /**
   * The scheduler of {@code thread} (null for a platform thread), when {@link #AVAILABLE}: one field read, so
   * that a wait can tell a loop-carried thread from any other without a thread-local.
   */
  static Executor schedulerOf(Thread thread) {
    try {
      return (Executor) SCHEDULER.invokeExact(thread);
    } catch (ClassCastException e) {
      return null; // a platform thread
    } catch (Throwable t) {
      throw new AssertionError("VirtualThread.scheduler could not be read", t);
    }
  }

  /**
   * The virtual thread whose continuation is {@code continuation} (the Runnable the JDK hands a
   * scheduler: on JDK 21-25 {@code VirtualThread::runContinuation} bound to its thread), or null if
   * it cannot be found. Only the stall report asks, so nothing is recorded per thread for it.
   */
  static Thread threadOf(Runnable continuation) {
    if (continuation == null) {
      return null;
    }
    try {
      for (Field f : continuation.getClass().getDeclaredFields()) {
        if (Thread.class.isAssignableFrom(f.getType()) && !java.lang.reflect.Modifier.isStatic(f.getModifiers())) {
          f.setAccessible(true);
          return (Thread) f.get(continuation);
        }
      }
    } catch (ReflectiveOperationException | RuntimeException e) {
      // not a shape we know: the report goes without the stack
    }
    return null;
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
