package dev.portcullis.internal;

import java.util.List;
import java.util.Set;
import java.util.concurrent.AbstractExecutorService;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.LinkedTransferQueue;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The default executor of blocking handlers on JDK 17 (and wherever platform threads are asked
 * for): a platform thread per running handler, with no cap, where no thread is ever made on the
 * thread that submits. Making a platform thread costs a {@code clone(2)}, a stack mapping and the
 * JVM's bookkeeping, which grows with the number of threads alive (a fraction of a millisecond with
 * 10,000 of them); made on the event loop, as a {@code ThreadPoolExecutor} does in {@code execute},
 * it held up every accept and handshake of that loop behind it.
 *
 * <p>Here {@link #execute} only queues: a parked spare thread takes the task at once, and one
 * spawner thread makes new threads off the loop, as long as the tasks waiting plus {@value #SPARES}
 * spares outnumber the idle threads. So a newcomer is served by a spare while its replacement is
 * made, and a burst waits only for the spawner, never for the loop. Every queued task gets a thread
 * (the spawner retries, with a line, when the system refuses one), so a connection past its
 * handshake is never dropped for want of one: capacity is refused at accept. Threads idle past the
 * keep-alive end, down to the spares. {@link #shutdown} runs what is queued and ends idle threads;
 * {@link #shutdownNow} interrupts every thread, as {@code ThreadPoolExecutor} does, but drops
 * nothing: each queued task is a connection that only its task closes, so it still gets a thread,
 * interrupted from its start.
 */
final class PlatformHandlerThreads extends AbstractExecutorService {
  private static final Logger log = LoggerFactory.getLogger(PlatformHandlerThreads.class);

  /** Idle threads kept parked beyond the tasks waiting, so a newcomer never waits for a thread's birth. */
  static final int SPARES = 4;

  /** Tells an idle thread to end at shutdown; never counted as a task. */
  private static final Runnable STOP = () -> {};

  private final ThreadFactory handlers;
  private final ThreadFactory spawners;
  private final long keepAliveNanos;
  private final LinkedTransferQueue<Runnable> queue = new LinkedTransferQueue<>();
  /** Tasks submitted and not yet taken by a thread. */
  private final AtomicInteger waiting = new AtomicInteger();
  /** Threads alive and not running a task (parked, or about to take one). */
  private final AtomicInteger idle = new AtomicInteger();
  private final Set<Thread> workers = ConcurrentHashMap.newKeySet();
  private final CountDownLatch terminated = new CountDownLatch(1);
  private final Object spawnerLock = new Object();
  /** Made with the first task, so a server that never runs a blocking handler has no thread here. */
  private volatile Thread spawner;
  private volatile boolean spawnerDone;
  private volatile boolean shutdown;
  private volatile boolean stopNow;

  /**
   * {@code handlers} makes the threads that run tasks, {@code spawners} the one thread that makes
   * them; a thread idle for {@code keepAlive} ends unless it is one of the spares.
   */
  PlatformHandlerThreads(ThreadFactory handlers, ThreadFactory spawners, long keepAlive, TimeUnit unit) {
    this.handlers = handlers;
    this.spawners = spawners;
    this.keepAliveNanos = unit.toNanos(keepAlive);
  }

  /**
   * Never blocks, and makes no thread but the spawner, once: a spare takes {@code task}, or it
   * waits for the spawner's next thread.
   */
  @Override
  public void execute(Runnable task) {
    java.util.Objects.requireNonNull(task, "task");
    waiting.incrementAndGet(); // before reading the flag: the spawner ends only once nothing waits
    if (shutdown) {
      waiting.decrementAndGet();
      throw new RejectedExecutionException("the handler threads are shut down");
    }
    queue.offer(task);
    wakeSpawnerIfShort();
  }

  /** How many threads are missing: tasks waiting and spares, less the idle threads. */
  private int shortfall() {
    return waiting.get() + (shutdown ? 0 : SPARES) - idle.get();
  }

  private void wakeSpawnerIfShort() {
    if (shortfall() > 0) {
      Thread s = spawner;
      if (s == null) {
        s = startSpawner();
      }
      LockSupport.unpark(s);
    }
  }

  private Thread startSpawner() {
    synchronized (spawnerLock) {
      if (spawner == null) {
        Thread s = spawners.newThread(this::spawn);
        s.setDaemon(true); // it holds no task of its own; the handler threads keep the JVM up
        spawner = s;
        s.start();
      }
      return spawner;
    }
  }

  /** The spawner: makes threads while some are missing, parks otherwise; ends at shutdown once nothing waits. */
  private void spawn() {
    long failingSince = 0; // a streak of refused threads is said once, and its end once
    try {
      while (true) {
        if (shortfall() > 0) {
          Throwable refused = startWorker();
          if (refused == null && failingSince != 0) {
            log.info("Handler threads can be started again, after {} ms", (System.nanoTime() - failingSince) / 1_000_000);
            failingSince = 0;
          } else if (refused != null) {
            if (failingSince == 0) {
              failingSince = System.nanoTime();
              log.warn("Could not start a handler thread ({} connections wait for one, {} threads run handlers);"
                  + " retrying every 100 ms until one starts: {}", waiting.get(), workers.size() - idle.get(),
                  refused.toString());
            }
            LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(100)); // a handler that ends frees room
          }
          continue;
        }
        if (shutdown && waiting.get() == 0) {
          return;
        }
        LockSupport.park(this);
      }
    } finally {
      spawnerDone = true;
      tryTerminate();
    }
  }

  /** Starts one thread, counted idle from now; what refused it, or null. */
  private Throwable startWorker() {
    idle.incrementAndGet();
    Thread t = null;
    try {
      t = handlers.newThread(this::work);
      workers.add(t);
      t.start();
      return null;
    } catch (OutOfMemoryError | RuntimeException e) {
      // "unable to create native thread": the tasks stay queued; a handler ending frees a thread
      idle.decrementAndGet();
      if (t != null) {
        workers.remove(t);
      }
      return e;
    }
  }

  private void work() {
    Thread me = Thread.currentThread();
    try {
      while (true) {
        Runnable task;
        try {
          task = shutdown ? queue.poll() : queue.poll(keepAliveNanos, TimeUnit.NANOSECONDS);
        } catch (InterruptedException e) {
          continue; // shutdownNow, or a handler's own interrupt left over: look again
        }
        if (task == null || task == STOP) {
          if (mayEnd()) {
            return;
          }
          continue;
        }
        waiting.decrementAndGet();
        idle.decrementAndGet();
        if (shutdown) {
          LockSupport.unpark(spawner); // it ends once nothing waits
        } else {
          wakeSpawnerIfShort();
        }
        Thread.interrupted(); // an interrupt meant for the last task, or for idleness, is not this one's
        if (stopNow) {
          me.interrupt();
        }
        try {
          task.run();
        } catch (Throwable t) {
          // the pipeline's tasks catch everything; anyone else's failure ends only the task
          Thread.UncaughtExceptionHandler h = me.getUncaughtExceptionHandler();
          h.uncaughtException(me, t);
        }
        idle.incrementAndGet();
      }
    } finally {
      workers.remove(me);
      tryTerminate();
    }
  }

  /**
   * Whether an idle thread with nothing to take may end (and, if so, it is no longer counted): at
   * shutdown always, else only beyond the tasks waiting and the spares.
   */
  private boolean mayEnd() {
    while (true) {
      int i = idle.get();
      if (!shutdown && i <= waiting.get() + SPARES) {
        return false;
      }
      if (idle.compareAndSet(i, i - 1)) {
        wakeSpawnerIfShort(); // a task may have come in between
        return true;
      }
    }
  }

  private void tryTerminate() {
    if (shutdown && spawnerDone && workers.isEmpty() && waiting.get() == 0) {
      terminated.countDown();
    }
  }

  @Override
  public void shutdown() {
    if (shutdown) {
      return;
    }
    shutdown = true;
    Thread s;
    synchronized (spawnerLock) {
      s = spawner;
      if (s == null) {
        spawnerDone = true; // never started: no thread to end
      }
    }
    if (s != null) {
      LockSupport.unpark(s);
    }
    for (int i = workers.size(); i > 0; i--) {
      queue.offer(STOP); // wakes a parked thread; one left over is dropped by the next poll
    }
    tryTerminate();
  }

  /** Interrupts every thread; the queued tasks still run (see the class comment), so none is returned. */
  @Override
  public List<Runnable> shutdownNow() {
    stopNow = true;
    shutdown();
    for (Thread t : workers) {
      t.interrupt();
    }
    Thread s = spawner;
    if (s != null) {
      LockSupport.unpark(s);
    }
    tryTerminate();
    return List.of();
  }

  @Override
  public boolean isShutdown() {
    return shutdown;
  }

  @Override
  public boolean isTerminated() {
    return terminated.getCount() == 0;
  }

  @Override
  public boolean awaitTermination(long timeout, TimeUnit unit) throws InterruptedException {
    return terminated.await(timeout, unit);
  }

  /** Threads alive to run tasks, for tests. */
  int threads() {
    return workers.size();
  }

  /** Threads alive and not running a task, for tests. */
  int idleThreads() {
    return idle.get();
  }
}
