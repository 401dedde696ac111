package dev.portcullis.internal;

import java.util.List;
import java.util.Set;
import java.util.concurrent.AbstractExecutorService;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ConcurrentLinkedDeque;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.SynchronousQueue;
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
 * <p>Here {@link #execute} hands the task to an idle thread if one waits (the one idle the
 * shortest, as a {@code ThreadPoolExecutor}'s {@code SynchronousQueue} does, so under a trickle of
 * work the other idle threads reach their keep-alive and end), else queues it for the one spawner
 * thread, which gives it to a thread that became idle meanwhile or to a new thread, off the loop.
 * The spawner also keeps {@value #SPARES} idle threads parked, so a newcomer is served by a spare
 * while its replacement is made, and a burst waits only for the spawner, never for the loop. Every
 * queued task gets a thread (the spawner retries, with a line, when the system refuses one), so a
 * connection past its handshake is never dropped for want of one: capacity is refused at accept.
 * Threads idle past the keep-alive end, down to the spares. {@link #shutdown} runs what is queued and ends idle threads;
 * {@link #shutdownNow} interrupts every thread, as {@code ThreadPoolExecutor} does, but drops
 * nothing: each queued task is a connection that only its task closes, so it still gets a thread,
 * interrupted from its start.
 */
final class PlatformHandlerThreads extends AbstractExecutorService {
  private static final Logger log = LoggerFactory.getLogger(PlatformHandlerThreads.class);

  /** Idle threads kept parked, so a newcomer never waits for a thread's birth. */
  static final int SPARES = 4;

  /** Wakes an idle thread at shutdown, so it ends; never counted as a task. */
  private static final Runnable STOP = () -> {};

  private final ThreadFactory handlers;
  private final ThreadFactory spawners;
  private final long keepAliveNanos;
  /** From a submitter (or the spawner) straight to a waiting idle thread, the last one to wait first. */
  private final SynchronousQueue<Runnable> handoff = new SynchronousQueue<>();
  /** Tasks no idle thread took: the spawner's to place. */
  private final ConcurrentLinkedDeque<Runnable> backlog = new ConcurrentLinkedDeque<>();
  /** Tasks submitted and not yet given to a thread. */
  private final AtomicInteger pending = new AtomicInteger();
  /** Threads alive and not running a task (waiting for one, or about to). */
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
   * Never blocks, and makes no thread but the spawner, once: an idle thread takes {@code task}, or
   * the spawner places it.
   */
  @Override
  public void execute(Runnable task) {
    java.util.Objects.requireNonNull(task, "task");
    pending.incrementAndGet(); // before reading the flag: the spawner ends only once nothing is pending
    if (shutdown) {
      pending.decrementAndGet();
      throw new RejectedExecutionException("the handler threads are shut down");
    }
    if (handoff.offer(task)) {
      pending.decrementAndGet();
      return;
    }
    backlog.offer(task);
    wakeSpawner();
  }

  private void wakeSpawner() {
    Thread s = spawner;
    if (s == null) {
      s = startSpawner();
    }
    LockSupport.unpark(s);
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

  /**
   * The spawner: places the backlog (an idle thread, else a new one), keeps the spares, parks
   * otherwise; at shutdown it wakes idle threads until every thread has ended, then ends.
   */
  private void spawn() {
    long failingSince = 0; // a streak of refused threads is said once, and its end once
    try {
      while (true) {
        Runnable task = backlog.poll();
        boolean spare = task == null && !shutdown && idle.get() < SPARES;
        if (task != null && handoff.offer(task)) {
          pending.decrementAndGet(); // a thread became idle meanwhile
          continue;
        }
        if (task != null || spare) {
          Throwable refused = startWorker(task);
          if (refused == null) {
            if (task != null) {
              pending.decrementAndGet();
            }
            if (failingSince != 0) {
              log.info("Handler threads can be started again, after {} ms", (System.nanoTime() - failingSince) / 1_000_000);
              failingSince = 0;
            }
            continue;
          }
          if (task != null) {
            backlog.offerFirst(task);
          }
          if (failingSince == 0) {
            failingSince = System.nanoTime();
            log.warn("Could not start a handler thread ({} connections wait for one, {} threads run handlers);"
                + " retrying every 100 ms until one starts: {}", pending.get(), workers.size() - idle.get(),
                refused.toString());
          }
          LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(100)); // a handler that ends frees room
          continue;
        }
        if (shutdown) {
          if (pending.get() == 0 && workers.isEmpty()) {
            return;
          }
          while (handoff.offer(STOP)) {
            // each offer wakes one idle thread, which ends
          }
          LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(20)); // until the running handlers end
          continue;
        }
        LockSupport.park(this);
      }
    } finally {
      spawnerDone = true;
      tryTerminate();
    }
  }

  /** Starts one thread, with {@code first} to run (else idle from now); what refused it, or null. */
  private Throwable startWorker(Runnable first) {
    if (first == null) {
      idle.incrementAndGet();
    }
    Thread t = null;
    try {
      t = handlers.newThread(() -> work(first));
      workers.add(t);
      t.start();
      return null;
    } catch (OutOfMemoryError | RuntimeException e) {
      // "unable to create native thread": the task stays in the backlog; a handler ending frees a thread
      if (first == null) {
        idle.decrementAndGet();
      }
      if (t != null) {
        workers.remove(t);
      }
      return e;
    }
  }

  private void work(Runnable first) {
    Thread me = Thread.currentThread();
    try {
      Runnable task = first;
      while (true) {
        if (task == null) {
          try {
            task = shutdown ? null : handoff.poll(keepAliveNanos, TimeUnit.NANOSECONDS);
          } catch (InterruptedException e) {
            continue; // shutdownNow, or a handler's own interrupt left over: look again
          }
          if (task == null || task == STOP) {
            task = null;
            if (mayEnd()) {
              return;
            }
            continue;
          }
          if (idle.decrementAndGet() < SPARES && !shutdown) {
            LockSupport.unpark(spawner); // a spare was taken: make its replacement
          }
        }
        Thread.interrupted(); // an interrupt meant for the last task, or for idleness, is not this one's
        if (stopNow) {
          me.interrupt();
        }
        try {
          task.run();
        } catch (Throwable t) {
          // the pipeline's tasks catch everything; anyone else's failure ends only the task
          me.getUncaughtExceptionHandler().uncaughtException(me, t);
        }
        task = null;
        idle.incrementAndGet();
      }
    } finally {
      workers.remove(me);
      if (shutdown) {
        LockSupport.unpark(spawner);
      }
      tryTerminate();
    }
  }

  /**
   * Whether an idle thread with nothing to take may end (and, if so, it is no longer counted): at
   * shutdown always, else only beyond the spares.
   */
  private boolean mayEnd() {
    while (true) {
      int i = idle.get();
      if (!shutdown && i <= SPARES) {
        return false;
      }
      if (idle.compareAndSet(i, i - 1)) {
        return true;
      }
    }
  }

  private void tryTerminate() {
    if (shutdown && spawnerDone && workers.isEmpty() && pending.get() == 0) {
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
