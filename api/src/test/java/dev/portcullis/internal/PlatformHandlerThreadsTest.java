package dev.portcullis.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The JDK 17 handler threads: the submitting thread (the event loop) never waits for a thread to be
 * made, a newcomer takes a parked spare, every task gets a thread, and shutdown ends them all.
 * Thread birth is made slow on purpose with a factory that waits for the test's word.
 */
@Timeout(60)
class PlatformHandlerThreadsTest {
  private static final String PREFIX = "test-handler-";

  /** Released by the test when a thread may be born; open unless a test closes it. */
  private volatile CountDownLatch births = new CountDownLatch(0);
  private final AtomicInteger made = new AtomicInteger();
  private final ThreadFactory slowFactory = r -> {
    try {
      births.await();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    return new Thread(r, PREFIX + made.incrementAndGet());
  };
  private PlatformHandlerThreads threads;

  private PlatformHandlerThreads start(long keepAliveMillis) {
    threads = new PlatformHandlerThreads(slowFactory, r -> new Thread(r, PREFIX + "spawner"), keepAliveMillis,
        TimeUnit.MILLISECONDS);
    return threads;
  }

  @AfterEach
  void end() throws InterruptedException {
    births.countDown();
    if (threads != null) {
      threads.shutdownNow();
      assertTrue(threads.awaitTermination(20, TimeUnit.SECONDS), "the threads ended");
    }
  }

  @Test
  void submittingNeverWaitsForAThreadToBeMade() throws Exception {
    ExecutorService ex = start(60_000);
    births = new CountDownLatch(1);
    CountDownLatch ran = new CountDownLatch(1);
    CountDownLatch submitted = new CountDownLatch(1);
    Thread loop = new Thread(() -> {
      ex.execute(ran::countDown);
      submitted.countDown();
    }, "test-loop");
    loop.start();
    assertTrue(submitted.await(10, TimeUnit.SECONDS),
        "execute returned while no thread could be born (the event loop goes on accepting)");
    assertEquals(1, ran.getCount(), "the task waits for its thread");
    births.countDown();
    assertTrue(ran.await(10, TimeUnit.SECONDS), "and runs once the thread is made");
  }

  @Test
  void aNewcomerTakesAParkedSpareWhileItsReplacementIsMade() throws Exception {
    PlatformHandlerThreads ex = start(60_000);
    CountDownLatch release = new CountDownLatch(1);
    ex.execute(() -> await(release));
    assertTrue(await(() -> ex.idleThreads() == PlatformHandlerThreads.SPARES),
        () -> "spares are kept parked beside the running task: " + ex.idleThreads());
    births = new CountDownLatch(1); // from now on no thread can be born
    CountDownLatch served = new CountDownLatch(PlatformHandlerThreads.SPARES);
    for (int i = 0; i < PlatformHandlerThreads.SPARES; i++) {
      ex.execute(served::countDown);
    }
    assertTrue(served.await(10, TimeUnit.SECONDS), "the newcomers ran on the spares, no thread made for them");
    release.countDown();
  }

  @Test
  void everyTaskGetsAThreadAndIdleThreadsEndDownToTheSpares() throws Exception {
    PlatformHandlerThreads ex = start(50);
    int tasks = 200;
    CountDownLatch release = new CountDownLatch(1);
    CountDownLatch running = blockedTasks(ex, tasks, release);
    assertTrue(running.await(30, TimeUnit.SECONDS), () -> "every blocked task has its own thread: "
        + (tasks - running.getCount()) + " of " + tasks + " run");
    assertTrue(ex.threads() <= tasks + PlatformHandlerThreads.SPARES, () -> "threads: " + ex.threads());
    release.countDown();
    assertTrue(await(() -> ex.threads() == PlatformHandlerThreads.SPARES),
        () -> "idle past the keep-alive, the threads ended but the spares: " + ex.threads());
  }

  @Test
  void aTrickleOfWorkKeepsOneThreadBusyAndLetsTheOthersEnd() throws Exception {
    PlatformHandlerThreads ex = start(1000);
    CountDownLatch release = new CountDownLatch(1);
    assertTrue(blockedTasks(ex, 40, release).await(30, TimeUnit.SECONDS));
    release.countDown();
    assertTrue(await(() -> ex.idleThreads() == ex.threads()), "the burst is over");
    // A task at a time, often enough that handing work round every idle thread in turn would
    // keep all of them alive: the most recently idle thread takes each one, as a
    // ThreadPoolExecutor's does, so the rest pass their keep-alive and end.
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
    while (ex.threads() > 2 * PlatformHandlerThreads.SPARES && System.nanoTime() < deadline) {
      CountDownLatch done = new CountDownLatch(1);
      ex.execute(done::countDown);
      assertTrue(done.await(10, TimeUnit.SECONDS));
      Thread.sleep(1);
    }
    assertTrue(ex.threads() <= 2 * PlatformHandlerThreads.SPARES,
        () -> "threads left beside a trickle of work: " + ex.threads());
  }

  @Test
  void shutdownRunsWhatIsQueuedWaitsForItAndEndsEveryThread() throws Exception {
    PlatformHandlerThreads ex = start(60_000);
    births = new CountDownLatch(1);
    CountDownLatch release = new CountDownLatch(1);
    AtomicInteger done = new AtomicInteger();
    for (int i = 0; i < 3; i++) {
      ex.execute(() -> {
        await(release);
        done.incrementAndGet();
      });
    }
    ex.shutdown();
    assertThrows(RejectedExecutionException.class, () -> ex.execute(() -> { }), "nothing new after shutdown");
    births.countDown();
    assertFalse(ex.awaitTermination(200, TimeUnit.MILLISECONDS), "the running tasks hold the termination");
    release.countDown();
    assertTrue(ex.awaitTermination(20, TimeUnit.SECONDS));
    assertEquals(3, done.get(), "the tasks queued before shutdown all ran");
    assertTrue(await(() -> Thread.getAllStackTraces().keySet().stream()
        .noneMatch(t -> t.getName().startsWith(PREFIX))), "no thread is left behind");
  }

  @Test
  void shutdownNowInterruptsTheRunningTasks() throws Exception {
    PlatformHandlerThreads ex = start(60_000);
    CountDownLatch running = new CountDownLatch(1);
    CountDownLatch interrupted = new CountDownLatch(1);
    ex.execute(() -> {
      running.countDown();
      try {
        new CountDownLatch(1).await();
      } catch (InterruptedException e) {
        interrupted.countDown();
      }
    });
    assertTrue(running.await(10, TimeUnit.SECONDS));
    ex.shutdownNow();
    assertTrue(interrupted.await(10, TimeUnit.SECONDS), "the handler was interrupted, as the server's close asks");
    assertTrue(ex.awaitTermination(20, TimeUnit.SECONDS));
  }

  @Test
  void theSystemPropertyTakesOnlyPlatformAndSaysSo() {
    try {
      System.setProperty(HandlerThreads.PROPERTY, "platform");
      assertTrue(HandlerThreads.platformAsked());
      System.setProperty(HandlerThreads.PROPERTY, "Virtual");
      IllegalArgumentException e = assertThrows(IllegalArgumentException.class, HandlerThreads::platformAsked);
      assertEquals("system property portcullis.handlerThreads is 'Virtual': the only value is platform"
          + " (a platform thread per connection, the JDK 17 path, on any JDK)", e.getMessage());
    } finally {
      System.clearProperty(HandlerThreads.PROPERTY);
    }
    assertFalse(HandlerThreads.platformAsked(), "unset: the best the JDK offers");
  }

  /** Submits {@code n} tasks that wait for {@code release}; the latch counts those that started. */
  private static CountDownLatch blockedTasks(ExecutorService ex, int n, CountDownLatch release) {
    CountDownLatch running = new CountDownLatch(n);
    for (int i = 0; i < n; i++) {
      ex.execute(() -> {
        running.countDown();
        await(release);
      });
    }
    return running;
  }

  private static void await(CountDownLatch latch) {
    try {
      latch.await();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  private static boolean await(BooleanSupplier condition) throws InterruptedException {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
    while (!condition.getAsBoolean()) {
      if (System.nanoTime() > deadline) {
        return false;
      }
      Thread.sleep(5);
    }
    return true;
  }
}
