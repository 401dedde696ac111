package dev.portcullis.jna;

import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;

/**
 * Virtual threads, found at run time: the jar is built for Java 17, where they do not exist. On
 * JDK 21+ {@link #AVAILABLE} is true; on 17-20 nothing here is used.
 */
final class VirtualThreads {
  private VirtualThreads() {}

  private static final MethodHandle IS_VIRTUAL;
  private static final MethodHandle OF_VIRTUAL;
  private static final MethodHandle NAME;
  private static final MethodHandle UNSTARTED;
  static final boolean AVAILABLE;

  static {
    MethodHandle isVirtual = null;
    MethodHandle ofVirtual = null;
    MethodHandle name = null;
    MethodHandle unstarted = null;
    try {
      MethodHandles.Lookup lookup = MethodHandles.publicLookup();
      Class<?> builder = Class.forName("java.lang.Thread$Builder");
      isVirtual = lookup.findVirtual(Thread.class, "isVirtual", MethodType.methodType(boolean.class));
      ofVirtual = lookup.findStatic(Thread.class, "ofVirtual",
          MethodType.methodType(Class.forName("java.lang.Thread$Builder$OfVirtual")));
      name = lookup.findVirtual(builder, "name", MethodType.methodType(builder, String.class));
      unstarted = lookup.findVirtual(builder, "unstarted", MethodType.methodType(Thread.class, Runnable.class));
    } catch (ReflectiveOperationException | RuntimeException e) {
      isVirtual = null; // JDK 17-20
    }
    IS_VIRTUAL = isVirtual;
    OF_VIRTUAL = ofVirtual;
    NAME = name;
    UNSTARTED = unstarted;
    AVAILABLE = isVirtual != null;
  }

  /** Whether the calling thread is a virtual thread (never on JDK 17-20). */
  static boolean currentIsVirtual() {
    if (!AVAILABLE) {
      return false;
    }
    try {
      return (boolean) IS_VIRTUAL.invokeExact(Thread.currentThread());
    } catch (Throwable t) {
      throw new AssertionError("Thread.isVirtual failed", t);
    }
  }

  /** {@code Thread.ofVirtual().name(name).unstarted(task)}; only when {@link #AVAILABLE}. */
  static Thread unstarted(String name, Runnable task) {
    try {
      Object builder = OF_VIRTUAL.invoke();
      builder = NAME.invoke(builder, name);
      return (Thread) UNSTARTED.invoke(builder, task);
    } catch (Throwable t) {
      throw new IllegalStateException("Thread.ofVirtual() failed", t);
    }
  }
}
