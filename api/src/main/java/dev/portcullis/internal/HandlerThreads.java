package dev.portcullis.internal;

import java.lang.reflect.Method;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.SynchronousQueue;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.ThreadPoolExecutor;
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
 *   <li>JDK 17: platform threads, created on demand, reused, and ended after 60 s idle. An idle
 *       connection holds one thread: its stack's address space (the JVM default, 1 MiB on
 *       x86-64, reserved, not touched) and the few pages it uses.
 * </ul>
 */
final class HandlerThreads {
  private HandlerThreads() {}

  /** Whether this JDK has virtual threads (21+), so {@link #newDefault} makes them. */
  static final boolean VIRTUAL = virtualFactory() != null;

  /**
   * The default executor: threads named {@code portcullis-handler-PORT-N}. The executor is made
   * before the socket is bound, so the port is read as each thread is made: a server on port 0
   * names its threads after the port the kernel picked, as its event loops are.
   */
  static ExecutorService newDefault(IntSupplier port) {
    AtomicInteger n = new AtomicInteger();
    ThreadFactory virtual = virtualFactory();
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
    ThreadFactory platform = r -> {
      Thread t = named.newThread(r);
      t.setDaemon(false);
      return t;
    };
    return new ThreadPoolExecutor(0, Integer.MAX_VALUE, 60, TimeUnit.SECONDS, new SynchronousQueue<>(), platform);
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
