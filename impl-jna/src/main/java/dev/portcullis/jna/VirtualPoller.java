package dev.portcullis.jna;

import com.sun.jna.Memory;
import com.sun.jna.Pointer;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReferenceArray;
import java.util.concurrent.locks.LockSupport;
import java.util.concurrent.locks.ReentrantLock;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Where virtual threads wait for their sockets (JDK 21+), one per {@link EventLoop}, made the first
 * time a virtual thread waits on one of its channels (kept as the loop's helper: {@link
 * EventLoop#helper}, so the loop never names it).
 *
 * <p>A waiting virtual thread parks; the wake has to come from a thread that sees the socket
 * ready. Through the event loop, that is a hand-off per message: the loop thread wakes, unparks
 * the handler, and the scheduler wakes a carrier, microseconds each on a busy CPU. Here the
 * sockets are in an epoll set of their own, polled (never blocking) by a virtual thread on the
 * same carriers as the handlers: while handlers are busy it finds their sockets ready and unparks
 * them in turn, and nothing leaves user space but the reads, the writes and the poll. Only when a
 * poll finds nothing does it hand the set to the loop (the set's own descriptor, one-shot in the
 * loop's epoll) and park; the loop unparks it when something is ready. The JDK's own sockets wait
 * the same way ({@code jdk.pollerMode} 2).
 *
 * <p>A socket is added once, edge-triggered for reading and writing; an edge sets the channel's
 * ready flag and unparks its waiter, so a wait that starts after the edge does not park. If the
 * poller's thread could not run (before JDK 24, every carrier held by a handler parked inside
 * {@code synchronized}), the loop also polls the set itself when it fires and keeps watching it, so
 * a wake is late at worst, never lost; from JDK 24 on, that cannot happen and the loop only wakes
 * the poller.
 */
final class VirtualPoller implements EventLoop.Handler {
  private static final Logger log = LoggerFactory.getLogger(VirtualPoller.class);

  /** A socket's waiters, which this poller wakes (a {@code JnaChannel}, named only through this). */
  interface Waiter {
    /** The generation the socket was registered under: an event for an older one is dropped. */
    int generation();

    /** The poller saw these events for this socket (any thread). */
    void virtualReady(int events);
  }
  private static final int MAX_EVENTS = 128;
  private static final int RUNNING = 0;
  private static final int PARKED = 1;
  private static final int STOPPED = 2;
  /**
   * Before JDK 24 a virtual thread parked inside {@code synchronized} holds its carrier, and if every
   * carrier is held so, this poller's thread cannot run: the loop then keeps polling the set itself.
   * From JDK 24 on that cannot happen, and the loop stays out of the way while the poller runs.
   */
  private static final boolean LOOP_BACKSTOP = Runtime.version().feature() < 24;

  private final EventLoop loop;
  private final int epfd;
  private final Memory events = new Memory((long) MAX_EVENTS * EventLoop.EVENT_SIZE);
  private final ByteBuffer eventView = events.getByteBuffer(0, events.size()).order(ByteOrder.nativeOrder());
  /** Events drained by the loop thread, when it polls the set itself. */
  private final Memory loopEvents = new Memory((long) MAX_EVENTS * EventLoop.EVENT_SIZE);
  private final ByteBuffer loopEventView = loopEvents.getByteBuffer(0, loopEvents.size()).order(ByteOrder.nativeOrder());
  private final int[] armScratch = new int[4];
  private final int[] loopScratch = new int[4];
  private final ReentrantLock tableLock = new ReentrantLock();
  private volatile AtomicReferenceArray<Waiter> channels = new AtomicReferenceArray<>(1024);
  private final AtomicInteger state = new AtomicInteger(RUNNING);
  private final Thread thread;
  /** Set on the loop before the thread starts. */
  private int generation;

  private VirtualPoller(EventLoop loop, int epfd, String name) {
    this.loop = loop;
    this.epfd = epfd;
    this.thread = VirtualThreads.unstarted(name, this::run);
  }

  /**
   * A new poller for {@code loop}, registered with it and running; null if it cannot be made (no
   * virtual threads, or out of descriptors): the channel then waits through the loop.
   */
  static VirtualPoller start(EventLoop loop) {
    String name = loop.threadName("portcullis-poller");
    if (!VirtualThreads.AVAILABLE) {
      return null;
    }
    int epfd = LibC.epoll_create1(LibC.EPOLL_CLOEXEC);
    if (epfd < 0) {
      log.debug("epoll_create1 for the virtual-thread poller failed: {}", LinuxErrno.name(Errors.lastErrno()));
      return null;
    }
    VirtualPoller p;
    try {
      p = new VirtualPoller(loop, epfd, name);
    } catch (RuntimeException e) {
      LibC.close(epfd);
      log.debug("No virtual thread for the poller", e);
      return null;
    }
    loop.execute(() -> {
      if (loop.isStopping()) {
        p.state.set(STOPPED);
        LibC.close(epfd); // never started: nothing else will close it
        return;
      }
      p.generation = loop.newGeneration();
      loop.register(epfd, p.generation, p);
      p.thread.start();
    });
    return p;
  }

  /** Adds {@code channel}'s descriptor (the caller holds it open), edge-triggered; false if refused. */
  boolean add(Waiter channel, int fd, int channelGeneration, int[] scratch) {
    tableLock.lock();
    try {
      AtomicReferenceArray<Waiter> table = channels;
      if (fd >= table.length()) {
        AtomicReferenceArray<Waiter> bigger = new AtomicReferenceArray<>(Math.max(fd + 1, table.length() * 2));
        for (int i = 0; i < table.length(); i++) {
          bigger.set(i, table.get(i));
        }
        channels = table = bigger;
      }
      table.set(fd, channel);
    } finally {
      tableLock.unlock();
    }
    int mask = LibC.EPOLLIN | LibC.EPOLLOUT | LibC.EPOLLRDHUP | LibC.EPOLLET;
    return EventLoop.epollControl(epfd, LibC.EPOLL_CTL_ADD, fd, mask, channelGeneration, scratch);
  }

  /** The channel on {@code fd} is closing: forget it (the kernel drops the fd from the set at close). */
  void remove(Waiter channel, int fd) {
    AtomicReferenceArray<Waiter> table = channels;
    if (fd < table.length()) {
      table.compareAndSet(fd, channel, null);
    }
  }

  private void run() {
    boolean added = false;
    try {
      while (state.get() != STOPPED) {
        int n = poll(events, eventView);
        if (n > 0) {
          Thread.yield(); // let the handlers just unparked run before polling again
          continue;
        }
        if (n < 0) {
          break;
        }
        // Nothing is ready: the loop watches the set until something is, then unparks this thread.
        if (!state.compareAndSet(RUNNING, PARKED)) {
          break; // stopped
        }
        int mask = LibC.EPOLLIN | LibC.EPOLLONESHOT;
        if (!loop.controlFromAnyThread(added ? LibC.EPOLL_CTL_MOD : LibC.EPOLL_CTL_ADD, epfd, mask, generation,
            armScratch)) {
          break; // the loop's epoll set is closed: the loop is stopping
        }
        added = true;
        LockSupport.park(this);
        if (!state.compareAndSet(PARKED, RUNNING) && state.get() == STOPPED) {
          break;
        }
      }
    } catch (Throwable t) {
      log.error("The virtual-thread poller of {} failed", thread.getName(), t);
    } finally {
      state.set(STOPPED);
      LibC.close(epfd);
    }
  }

  /** Polls the set without blocking and wakes each channel it reports: events found, or -1. */
  private int poll(Memory buffer, ByteBuffer view) {
    int n = LibC.epoll_wait(epfd, Pointer.nativeValue(buffer), MAX_EVENTS, 0);
    if (n < 0) {
      int errno = Errors.lastErrno();
      if (errno == LinuxErrno.EINTR) {
        return 0;
      }
      if (state.get() != STOPPED) {
        log.error("epoll_wait on the virtual-thread poller failed: {}", LinuxErrno.name(errno));
      }
      return -1;
    }
    AtomicReferenceArray<Waiter> table = channels;
    for (int i = 0; i < n; i++) {
      int mask = view.getInt(i * EventLoop.EVENT_SIZE);
      long data = view.getLong(i * EventLoop.EVENT_SIZE + EventLoop.DATA_OFFSET);
      int fd = (int) data;
      if (fd >= 0 && fd < table.length()) {
        Waiter c = table.get(fd);
        if (c != null && c.generation() == (int) (data >>> 32)) {
          c.virtualReady(mask);
        }
      }
    }
    return n;
  }

  /**
   * The loop saw the set ready while this poller was parked: wake its thread, and in case that
   * thread cannot run soon, wake the waiting channels too and keep watching until it does.
   */
  @Override
  public void onEvents(int events) {
    if (state.get() != PARKED) {
      return; // it is running already (the wake was spurious) or stopped
    }
    LockSupport.unpark(thread);
    if (LOOP_BACKSTOP) {
      poll(loopEvents, loopEventView);
      loop.controlFromAnyThread(LibC.EPOLL_CTL_MOD, epfd, LibC.EPOLLIN | LibC.EPOLLONESHOT, generation, loopScratch);
    }
  }

  /**
   * The loop is stopping: the thread ends and closes the set (waited for, up to a second, so that
   * a closed server holds no descriptor of it); its channels are closed by the loop.
   */
  @Override
  public void loopStopping() {
    state.set(STOPPED);
    LockSupport.unpark(thread);
    try {
      thread.join(1000);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
