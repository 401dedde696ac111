package dev.portcullis.jna;

import com.sun.jna.Memory;
import com.sun.jna.Platform;
import com.sun.jna.Pointer;
import dev.portcullis.spi.Channel;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.net.SocketException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.Map;
import java.util.Optional;
import java.util.PriorityQueue;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * An epoll loop on one thread: registers descriptors and tells their {@link Handler}s what epoll
 * reported, runs the tasks other threads hand it, and keeps the timers. It knows nothing of
 * sockets, listening or accepting.
 *
 * <p>A registered descriptor's epoll data is its number and a generation token, so an event still
 * queued for a descriptor that was closed and whose number now belongs to a newer one is dropped.
 * Other threads reach the loop through {@link #execute} (a queue and an {@code eventfd}). Timers
 * live in a heap owned by the loop.
 */
final class EventLoop implements Runnable {
  private static final Logger log = LoggerFactory.getLogger(EventLoop.class);

  /** x86-64 declares struct epoll_event packed (12 bytes); other 64-bit ABIs pad it to 16. */
  private static final boolean PACKED = Platform.isIntel();
  static final int EVENT_SIZE = PACKED ? 12 : 16;
  static final int DATA_OFFSET = PACKED ? 4 : 8;
  private static final int MAX_EVENTS = 256;
  private static final long WAKE_TOKEN = -1L;
  private static final Memory ONE = new Memory(8);
  private static final dev.portcullis.spi.LogThrottle TASK_FAILURE_LOG =
      dev.portcullis.spi.LogThrottle.every(1, java.util.concurrent.TimeUnit.SECONDS);
  private static final java.util.concurrent.atomic.AtomicLong TASK_FAILURES = new java.util.concurrent.atomic.AtomicLong();

  static {
    ONE.setLong(0, 1);
    // Out of descriptors, the class loader cannot open a jar to load a class: a listener pausing
    // its accepts then needs a Timer, so it is loaded now, while it still can be.
    try {
      Class.forName(Timer.class.getName(), true, EventLoop.class.getClassLoader());
    } catch (ClassNotFoundException e) {
      throw new ExceptionInInitializerError(e);
    }
  }

  /** A descriptor registered on the loop; both methods are called on the loop thread. */
  interface Handler {
    /** The events epoll reported for the descriptor. */
    void onEvents(int events);

    /** The loop is stopping: close the descriptor. */
    void loopStopping();
  }

  private final int epfd;
  private final int wakeFd;
  private final SocketAddress owner;
  private final Thread thread;

  private final Memory events = new Memory((long) MAX_EVENTS * EVENT_SIZE);
  private final ByteBuffer eventView = events.getByteBuffer(0, events.size()).order(ByteOrder.nativeOrder());
  private final Memory wakeBuffer = new Memory(8);

  private final ConcurrentLinkedQueue<Runnable> tasks = new ConcurrentLinkedQueue<>();
  /** Continuations of the virtual threads this loop carries (see {@link #handlerExecutor}). */
  private final ConcurrentLinkedQueue<Runnable> continuations = new ConcurrentLinkedQueue<>();
  private final AtomicBoolean wakePending = new AtomicBoolean();
  /** The loop is in (or about to enter) an {@code epoll_wait} that may block: a producer wakes it. */
  private volatile boolean sleeping;
  /** When the continuation running now started ({@link System#nanoTime()}), 0 between them. */
  private volatile long continuationSince;
  private volatile Runnable runningContinuation;
  /** Set by {@link CarrierWatchdog}: a continuation holds the loop; others run on the fallback. */
  private volatile boolean stalled;
  /** Told when a handler holds the loop and when it lets go; null if nobody asked. */
  private volatile StallListener stallListener;
  private volatile HandlerExecutor handlerExecutor;
  /** The loop thread's kernel id (gettid), 0 until it runs: the watchdog reads its state and CPU. */
  private volatile int tid;
  private final PriorityQueue<Timer> timers = new PriorityQueue<>();
  private final AtomicBoolean stopRequested = new AtomicBoolean();
  private final Object wakeLock = new Object();
  private final Map<Class<?>, Optional<Object>> helpers = new ConcurrentHashMap<>();
  private boolean wakeClosed; // guarded by wakeLock: nothing writes to wakeFd once it is closed
  private volatile boolean terminated;
  private volatile Throwable failure;
  private Consumer<Throwable> whenStopped;
  // Loop thread only (or before start): the handler and generation of each registered descriptor.
  private Handler[] handlers = new Handler[1024];
  private int[] generations = new int[1024];
  private int nextGeneration = 1;
  private long timerSequence;
  private int cancelledTimers;

  private EventLoop(int epfd, int wakeFd, SocketAddress owner, String suffix) {
    this.epfd = epfd;
    this.wakeFd = wakeFd;
    this.owner = owner;
    this.thread = new Thread(this,
        "portcullis-loop-" + (owner instanceof InetSocketAddress ip ? ip.getPort() : owner) + suffix);
  }

  /**
   * Creates a loop, not yet running, for the listener of {@code owner}: its thread is named after
   * the port (or the path), and its log lines name the address.
   */
  static EventLoop open(SocketAddress owner) throws SocketException {
    return open(owner, 0, 1);
  }

  /**
   * As {@link #open(SocketAddress)}, for loop {@code index} (from 0) of {@code count} serving one
   * listener: with more than one, the thread name ends in {@code -1}, {@code -2}...
   */
  static EventLoop open(SocketAddress owner, int index, int count) throws SocketException {
    int epfd = LibC.epoll_create1(LibC.EPOLL_CLOEXEC);
    if (epfd < 0) {
      throw Errors.exception("epoll_create1(EPOLL_CLOEXEC)", Errors.lastErrno());
    }
    int wakeFd = LibC.eventfd(0, LibC.EFD_NONBLOCK | LibC.EFD_CLOEXEC);
    if (wakeFd < 0) {
      int errno = Errors.lastErrno();
      LibC.close(epfd);
      throw Errors.exception("eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)", errno);
    }
    EventLoop loop = new EventLoop(epfd, wakeFd, owner, count > 1 ? "-" + (index + 1) : "");
    if (!loop.control(LibC.EPOLL_CTL_ADD, wakeFd, LibC.EPOLLIN, WAKE_TOKEN, new int[4])) {
      int errno = Errors.lastErrno();
      loop.discard();
      throw Errors.exception("epoll_ctl(EPOLL_CTL_ADD)", errno);
    }
    return loop;
  }

  /** Starts the thread; {@code whenStopped} is told, on it, why the loop stopped (null on request). */
  void start(Consumer<Throwable> whenStopped) {
    this.whenStopped = whenStopped;
    thread.start();
  }

  /** Releases a loop that is not to be started after all: setting up its listener failed. */
  void discard() {
    LibC.close(wakeFd);
    LibC.close(epfd);
  }

  boolean inEventLoop() {
    return Thread.currentThread() == thread;
  }

  /** A fresh generation token for a descriptor about to be registered. */
  int newGeneration() {
    return nextGeneration++ & 0x7FFF_FFFF;
  }

  /**
   * Has events with the token {@code (generation, fd)} go to {@code handler}, replacing whatever
   * held the number before. On the loop thread, or before the loop starts; epoll itself is told
   * with {@link #control}.
   */
  void register(int fd, int generation, Handler handler) {
    if (fd >= handlers.length) {
      int length = Math.max(fd + 1, handlers.length * 2);
      handlers = Arrays.copyOf(handlers, length);
      generations = Arrays.copyOf(generations, length);
    }
    generations[fd] = generation;
    handlers[fd] = handler;
  }

  /** {@code epoll_ctl} with the event encoded in {@code scratch}; token 0..n is a generation. */
  boolean control(int op, int fd, int eventMask, long token, int[] scratch) {
    return epollControl(epfd, op, fd, eventMask, token, scratch);
  }

  /**
   * As {@link #control}, from a thread that does not know whether the loop is still open: false,
   * and nothing done, once the loop's epoll descriptor is closed (its number may be reused).
   */
  boolean controlFromAnyThread(int op, int fd, int eventMask, long token, int[] scratch) {
    synchronized (wakeLock) {
      return !wakeClosed && control(op, fd, eventMask, token, scratch);
    }
  }

  /** {@code epoll_ctl} on any epoll set, with the data {@code (token, fd)} as this loop encodes it. */
  static boolean epollControl(int epfd, int op, int fd, int eventMask, long token, int[] scratch) {
    long data = token < 0 ? token : (token << 32) | (fd & 0xFFFF_FFFFL);
    scratch[0] = eventMask;
    if (PACKED) {
      scratch[1] = (int) data;
      scratch[2] = (int) (data >>> 32);
    } else {
      scratch[2] = (int) data;
      scratch[3] = (int) (data >>> 32);
    }
    if (LibC.epoll_ctl(epfd, op, fd, scratch) == 0) {
      return true;
    }
    log.debug("epoll_ctl(epfd {}, op {}, fd {}) failed: {}", epfd, op, fd, LinuxErrno.name(Errors.lastErrno()));
    return false;
  }

  /**
   * A helper this loop keeps, one per {@code kind}, made by {@code make} the first time it is asked
   * for (the virtual threads' poller); null if {@code make} could not make one (remembered: it is
   * not tried again) or the loop is stopping. The loop knows nothing of what it keeps: a helper that
   * must stop with the loop registers itself as a {@link Handler}.
   *
   * @param kind the helper's class, the key
   * @param make makes it for this loop, or returns null
   * @param <T> the helper's type
   * @return the helper, or null
   */
  <T> T helper(Class<T> kind, java.util.function.Function<EventLoop, T> make) {
    Optional<Object> h = helpers.get(kind);
    if (h == null) {
      synchronized (helpers) {
        h = helpers.get(kind);
        if (h == null) {
          if (stopRequested.get()) {
            return null;
          }
          h = Optional.ofNullable(make.apply(this));
          helpers.put(kind, h);
        }
      }
    }
    return kind.cast(h.orElse(null));
  }

  /** This loop's thread's name with {@code portcullis-loop} replaced by {@code role}, for its helpers' threads. */
  String threadName(String role) {
    return thread.getName().replace("portcullis-loop", role);
  }

  @Override
  public void run() {
    try {
      tid = (int) LibC.syscall(LibC.SYS_GETTID, 0, 0, 0);
      while (!stopRequested.get()) {
        int timeout = timeoutMillis();
        if (timeout != 0) {
          // Announce the sleep, then look again: a producer adds, then reads this flag, so either
          // it sees the loop asleep and wakes it, or the loop sees its work here and does not sleep.
          sleeping = true;
          if (!tasks.isEmpty() || !continuations.isEmpty() || stopRequested.get()) {
            timeout = 0;
          }
        }
        int n = LibC.epoll_wait(epfd, Pointer.nativeValue(events), MAX_EVENTS, timeout);
        sleeping = false;
        if (n < 0) {
          int errno = Errors.lastErrno();
          if (errno == LinuxErrno.EINTR) {
            continue;
          }
          failure = Errors.exception("epoll_wait(epfd " + epfd + ")", errno);
          log.error("Event loop of {} failed; the server stops",
              dev.portcullis.policy.IpAddresses.format(owner), failure);
          break;
        }
        for (int i = 0; i < n; i++) {
          int mask = eventView.getInt(i * EVENT_SIZE);
          long data = eventView.getLong(i * EVENT_SIZE + DATA_OFFSET);
          if (data == WAKE_TOKEN) {
            LibC.read(wakeFd, Pointer.nativeValue(wakeBuffer), 8);
            wakePending.set(false);
          } else {
            try {
              dispatch((int) data, (int) (data >>> 32), mask);
            } catch (Throwable t) {
              taskFailed(t);
            }
          }
        }
        runContinuations();
        runTasks();
        runTimers();
      }
    } catch (Throwable t) {
      failure = t;
      log.error("Event loop of {} failed; the server stops", dev.portcullis.policy.IpAddresses.format(owner), t);
    } finally {
      shutdown();
    }
  }

  private int timeoutMillis() {
    if (!tasks.isEmpty() || !continuations.isEmpty()) {
      return 0;
    }
    Timer first = timers.peek();
    if (first == null) {
      return -1;
    }
    long nanos = first.deadline - System.nanoTime();
    if (nanos <= 0) {
      return 0;
    }
    return (int) Math.min(Integer.MAX_VALUE, (nanos + 999_999) / 1_000_000);
  }

  private void dispatch(int fd, int generation, int mask) {
    Handler[] table = handlers;
    if (fd < 0 || fd >= table.length) {
      return;
    }
    Handler handler = table[fd];
    if (handler != null && generations[fd] == generation) {
      handler.onEvents(mask);
    }
  }

  void execute(Runnable task) {
    tasks.add(task);
    if (terminated) {
      runTasks();
      return;
    }
    wakeIfSleeping();
  }

  /** Wakes the loop only if it may block in {@code epoll_wait}; a running loop finds the work anyway. */
  private void wakeIfSleeping() {
    if (sleeping && wakePending.compareAndSet(false, true)) {
      wake();
    }
  }

  /**
   * The scheduler of the virtual threads this loop carries: the JDK hands it a thread's
   * continuation whenever the thread is to run (started, unparked, yielding), and the loop runs it
   * between its epoll waits. A continuation submitted on the loop (a handler unparked by a
   * readiness callback) runs in the same round; from elsewhere the loop is woken only if it sleeps.
   * A stopped loop or one held by a handler ({@link #stalled}) cannot run it: the fallback carriers do.
   */
  void executeContinuation(Runnable continuation) {
    if (stalled || terminated) {
      LoopCarriers.FALLBACK.execute(continuation);
      return;
    }
    continuations.add(continuation);
    if (terminated) {
      handOffContinuations(); // the loop ended between the check and the add
      return;
    }
    wakeIfSleeping();
  }

  /** Moves the continuations waiting for this loop to the fallback carriers (any thread). */
  void handOffContinuations() {
    Runnable c;
    while ((c = continuations.poll()) != null) {
      LoopCarriers.FALLBACK.execute(c);
    }
  }

  /**
   * Runs the continuations queued before this round, not those they queue (a yielding thread
   * would otherwise keep the loop from its epoll set); those run in the next round, which then
   * does not block.
   */
  private void runContinuations() {
    Runnable c;
    for (int budget = MAX_EVENTS * 4; budget > 0 && !stalled && (c = continuations.poll()) != null; budget--) {
      runningContinuation = c;
      continuationSince = System.nanoTime() | 1; // never 0, which means none
      try {
        runSafely(c);
      } finally {
        continuationSince = 0;
        runningContinuation = null;
        if (stalled) {
          stalled = false;
          CarrierWatchdog.released(this);
          StallListener l = stallListener;
          if (l != null) {
            l.released();
          }
        }
      }
    }
  }

  /** Since when the running continuation has run ({@link System#nanoTime()}), or 0 if none runs. */
  long continuationSince() {
    return continuationSince;
  }

  /**
   * Marks the loop held by the continuation that started at {@code since}, if it still runs:
   * until it returns, continuations go to the fallback carriers. Returns the continuation, or
   * null if it has returned meanwhile.
   */
  Runnable markStalled(long since) {
    Runnable c = runningContinuation;
    stalled = true;
    if (continuationSince != since) {
      stalled = false; // it returned: nothing is held (a continuation queued meanwhile is still there)
      return null;
    }
    handOffContinuations();
    StallListener l = stallListener;
    if (l != null) {
      l.stalled();
    }
    return c;
  }

  /**
   * What a listener does while a handler holds its loop: {@link #stalled()} on the watchdog's
   * thread once the hold is noticed, {@link #released()} on the loop when the handler lets go.
   */
  interface StallListener {
    /** A handler holds the loop (watchdog thread). */
    void stalled();

    /** The handler let go (loop thread). */
    void released();
  }

  /** Sets the one stall listener (a {@code SO_REUSEPORT} listener's view: see {@link ListeningSocket}). */
  void stallListener(StallListener listener) {
    this.stallListener = listener;
  }

  /** The loop thread's kernel id, 0 if unknown. */
  int tid() {
    return tid;
  }

  /** The loop's thread, for the stall report. */
  Thread thread() {
    return thread;
  }

  /**
   * The executor that starts each task on a new virtual thread carried by this loop, named after
   * it ({@code portcullis-handler-PORT[-LOOP]-N}); only when {@link LoopCarriers#AVAILABLE}.
   */
  java.util.concurrent.Executor handlerExecutor() {
    HandlerExecutor h = handlerExecutor;
    if (h == null) {
      synchronized (helpers) {
        h = handlerExecutor;
        if (h == null) {
          handlerExecutor = h = new HandlerExecutor(this, threadName("portcullis-handler") + "-");
          CarrierWatchdog.watch(this);
        }
      }
    }
    return h;
  }

  /** The thread that {@code continuation} runs, if it is one this loop carries; else null. */
  Thread carriedThread(Runnable continuation) {
    Thread t = LoopCarriers.threadOf(continuation);
    return t != null && LoopCarriers.schedulerOf(t) instanceof Scheduler s && s.loop == this ? t : null;
  }

  /** Whether the calling thread is a virtual thread carried by a loop (one its {@link #handlerExecutor} started). */
  static boolean currentIsLoopCarried() {
    return LoopCarriers.AVAILABLE && LoopCarriers.schedulerOf(Thread.currentThread()) instanceof Scheduler;
  }

  /** The scheduler the JDK hands a loop-carried thread's continuation: {@link #executeContinuation}. */
  private static final class Scheduler implements java.util.concurrent.Executor {
    final EventLoop loop;

    Scheduler(EventLoop loop) {
      this.loop = loop;
    }

    @Override
    public void execute(Runnable continuation) {
      loop.executeContinuation(continuation);
    }
  }

  /**
   * Starts each task on a new virtual thread carried by one loop. Nothing is recorded per thread:
   * whether a thread is carried, and by which loop, is its scheduler ({@link #currentIsLoopCarried}).
   */
  private static final class HandlerExecutor implements java.util.concurrent.Executor {
    final java.util.concurrent.ThreadFactory factory;

    HandlerExecutor(EventLoop loop, String prefix) {
      this.factory = LoopCarriers.factory(new Scheduler(loop), prefix);
    }

    @Override
    public void execute(Runnable task) {
      factory.newThread(task).start();
    }
  }

  private void wake() {
    synchronized (wakeLock) {
      if (!wakeClosed) {
        LibC.write(wakeFd, Pointer.nativeValue(ONE), 8);
      }
    }
  }

  private void runTasks() {
    Runnable task;
    while ((task = tasks.poll()) != null) {
      runSafely(task);
    }
  }

  /**
   * Runs a task or a descriptor's callback, and never throws: whatever it throws, an {@code
   * OutOfMemoryError} or a {@code StackOverflowError} included, is logged (at most once a second)
   * and the loop goes on with its other descriptors. An {@code OutOfMemoryError} is survived on the
   * bet that the memory was the failed connection's; if the whole heap is short, the next
   * allocations fail too, and {@code -XX:+ExitOnOutOfMemoryError} is the way to have the process
   * end instead.
   */
  static void runSafely(Runnable task) {
    if (task == null) {
      return;
    }
    try {
      task.run();
    } catch (Throwable t) {
      taskFailed(t);
    }
  }

  private static void taskFailed(Throwable t) {
    long n = TASK_FAILURES.incrementAndGet();
    try {
      if (TASK_FAILURE_LOG.due()) {
        log.error("Task on the event loop failed; the loop goes on ({} such failures so far)", n, t);
      }
    } catch (Throwable ignored) {
      // The line could not be built either (out of memory, most likely): the loop must go on.
    }
  }

  Channel.Cancellable schedule(Runnable task, long delayNanos) {
    Timer timer = new Timer(System.nanoTime() + Math.max(0, delayNanos), task);
    if (inEventLoop()) {
      timer.sequence = timerSequence++;
      timers.add(timer);
    } else {
      execute(() -> {
        timer.sequence = timerSequence++;
        timers.add(timer);
      });
    }
    return timer;
  }

  private void runTimers() {
    long now = System.nanoTime();
    Timer t;
    while ((t = timers.peek()) != null && (t.cancelled || t.deadline - now <= 0)) {
      timers.poll();
      if (t.cancelled) {
        cancelledTimers = Math.max(0, cancelledTimers - 1);
      } else {
        runSafely(t.task);
      }
    }
  }

  /** Whether the loop was asked to stop (it may still be running its last round). */
  boolean isStopping() {
    return stopRequested.get();
  }

  /** Asks the loop to stop, without waiting. Safe from any thread; idempotent. */
  void stop() {
    if (stopRequested.compareAndSet(false, true) && !inEventLoop()) {
      wake();
    }
  }

  /**
   * Stops the loop and, unless called on it, waits until it has closed every registered
   * descriptor. Safe from any thread; idempotent.
   */
  void close() {
    stop();
    if (!inEventLoop()) {
      try {
        thread.join();
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }
  }

  private void shutdown() {
    for (Handler handler : handlers) {
      if (handler != null) {
        handler.loopStopping();
      }
    }
    terminated = true;
    runTasks();
    handOffContinuations();
    CarrierWatchdog.unwatch(this);
    timers.clear();
    synchronized (wakeLock) {
      wakeClosed = true;
      LibC.close(wakeFd);
    }
    LibC.close(epfd);
    log.debug("Event loop of {} stopped", dev.portcullis.policy.IpAddresses.format(owner));
    whenStopped.accept(failure);
  }

  /** A task due at a {@link System#nanoTime()} deadline; cancelled ones are dropped when due. */
  private final class Timer implements Channel.Cancellable, Comparable<Timer> {
    final long deadline;
    final Runnable task;
    long sequence;
    volatile boolean cancelled;

    Timer(long deadline, Runnable task) {
      this.deadline = deadline;
      this.task = task;
    }

    @Override
    public void cancel() {
      if (cancelled) {
        return;
      }
      cancelled = true;
      if (inEventLoop()) {
        cancelledTimers++;
        if (cancelledTimers > 1024 && cancelledTimers > timers.size() / 2) {
          timers.removeIf(x -> x.cancelled);
          cancelledTimers = 0;
        }
      }
    }

    @Override
    public int compareTo(Timer o) {
      int c = Long.compare(deadline - o.deadline, 0);
      return c != 0 ? c : Long.compare(sequence, o.sequence);
    }
  }
}
