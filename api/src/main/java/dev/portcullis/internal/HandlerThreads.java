package dev.portcullis.internal;

import java.lang.reflect.Method;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.IntSupplier;

/**
 * The server's own executor for blocking handlers, when the user passes none. Neither kind has a
 * cap, so a connection that passed its handshake always gets a thread: capacity is refused at
 * accept ({@code maxConnections}), never after the handshake.
 *
 * <ul>
 *   <li>JDK 21 and later: a virtual thread per connection. A handler waiting on its streams parks,
 *       and an idle connection holds no platform thread. Found at run time (the jar is built for
 *       Java 17), so the same jar does the right thing on both.
 *   <li>JDK 17 (or {@code -Dportcullis.handlerThreads=platform} on any JDK): platform threads,
 *       {@link PlatformHandlerThreads}: made off the event loop by a spawner thread, a few spares
 *       kept parked, reused, and ended after 60 s idle. An idle connection holds one thread: its
 *       stack's address space (the JVM's {@code -Xss}, 1 MiB on x86-64 by default, reserved, not
 *       touched) and the few pages it uses.
 * </ul>
 */
final class HandlerThreads {
  private HandlerThreads() {}

  /** Whether this JDK has virtual threads (21+), so {@link #newDefault} makes them. */
  static final boolean VIRTUAL = virtualFactory() != null;

  /** The system property that asks for platform threads on any JDK: {@code platform}, the only value. */
  static final String PROPERTY = "portcullis.handlerThreads";

  /**
   * Whether {@link #PROPERTY} asks for platform threads; read at each server's start.
   *
   * @throws IllegalArgumentException if it is set to anything else
   */
  static boolean platformAsked() {
    String v = System.getProperty(PROPERTY);
    if (v == null) {
      return false;
    }
    if (!v.equals("platform")) {
      throw new IllegalArgumentException("system property " + PROPERTY + " is '" + v
          + "': the only value is platform (a platform thread per connection, the JDK 17 path, on any JDK)");
    }
    return true;
  }

  /**
   * The default executor: threads named {@code portcullis-handler-PORT-N}, platform ones when
   * {@code platform} or when this JDK has no virtual threads. The executor is made
   * before the socket is bound, so the port is read as each thread is made: a server on port 0
   * names its threads after the port the kernel picked, as its event loops are.
   */
  static ExecutorService newDefault(IntSupplier port, boolean platform) {
    AtomicInteger n = new AtomicInteger();
    ThreadFactory virtual = platform ? null : virtualFactory();
    ThreadFactory named = r -> {
      Thread t = virtual != null ? virtual.newThread(r) : new Thread(r);
      t.setName("portcullis-handler-" + port.getAsInt() + "-" + n.incrementAndGet());
      return t;
    };
    if (virtual != null) {
      try {
        return (ExecutorService) Executors.class.getMethod("newThreadPerTaskExecutor", ThreadFactory.class)
            .invoke(null, named);
      } catch (ReflectiveOperationException e) {
        throw new IllegalStateException("JDK 21+ without Executors.newThreadPerTaskExecutor", e);
      }
    }
    ThreadFactory handlers = r -> {
      Thread t = named.newThread(r);
      t.setDaemon(false);
      return t;
    };
    return new PlatformHandlerThreads(handlers, r -> new Thread(r, "portcullis-spawner-" + port.getAsInt()),
        60, TimeUnit.SECONDS);
  }

  /** {@code Thread.ofVirtual().factory()} on JDK 21+, else null. */
  private static ThreadFactory virtualFactory() {
    try {
      Method ofVirtual = Thread.class.getMethod("ofVirtual");
      Class<?> builder = Class.forName("java.lang.Thread$Builder");
      return (ThreadFactory) builder.getMethod("factory").invoke(ofVirtual.invoke(null));
    } catch (ReflectiveOperationException | RuntimeException e) {
      return null; // JDK 17-20: no virtual threads (or not without --enable-preview)
    }
  }
}
