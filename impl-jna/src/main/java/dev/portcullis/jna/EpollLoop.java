package dev.portcullis.jna;

import com.sun.jna.Memory;
import com.sun.jna.Platform;
import com.sun.jna.Pointer;
import dev.portcullis.spi.Acceptor;
import dev.portcullis.spi.Channel;
import dev.portcullis.spi.Listener;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.PriorityQueue;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One listening socket and the epoll loop that serves it, on one thread.
 *
 * <p>The loop accepts in batches until {@code EAGAIN}, reads the peer address straight from the
 * preallocated {@code sockaddr} buffer, and asks the {@link Acceptor} before any per-connection
 * object exists, so a denied connection costs an {@code accept4}, a lookup and a {@code close}.
 * Transient accept errors are retried; running out of descriptors pauses accepting for a moment
 * instead of spinning on a listener that stays readable.
 *
 * <p>Other threads reach the loop through {@link #execute} (a queue and an {@code eventfd}). Timers
 * live in a heap owned by the loop.
 */
final class EpollLoop implements Listener, Runnable {
  private static final Logger log = LoggerFactory.getLogger(EpollLoop.class);

  /** x86-64 declares struct epoll_event packed (12 bytes); other 64-bit ABIs pad it to 16. */
  private static final boolean PACKED = Platform.isIntel();
  private static final int EVENT_SIZE = PACKED ? 12 : 16;
  private static final int DATA_OFFSET = PACKED ? 4 : 8;
  private static final int MAX_EVENTS = 256;
  private static final int ACCEPT_BATCH = 1024;
  private static final long ACCEPT_PAUSE_NANOS = TimeUnit.MILLISECONDS.toNanos(100);
  private static final long WAKE_TOKEN = -1L;
  private static final long LISTEN_TOKEN = -2L;
  private static final Memory ONE = new Memory(8);

  static {
    ONE.setLong(0, 1);
    // Out of descriptors, the class loader cannot open a jar to load a class: everything the
    // EMFILE path touches is loaded now, while it still can.
    LinuxErrno.name(LinuxErrno.EMFILE);
    Errors.describe(LinuxErrno.EMFILE);
    try {
      Class.forName(Timer.class.getName(), true, EpollLoop.class.getClassLoader());
    } catch (ClassNotFoundException e) {
      throw new ExceptionInInitializerError(e);
    }
  }

  private final int listenFd;
  private final int epfd;
  private final int wakeFd;
  private final Acceptor acceptor;
  private final SocketAddress localAddress;
  private final Thread thread;

  private final Memory events = new Memory((long) MAX_EVENTS * EVENT_SIZE);
  private final ByteBuffer eventView = events.getByteBuffer(0, events.size()).order(ByteOrder.nativeOrder());
  private final Memory peer = new Memory(SockAddr.STORAGE_LENGTH + 8);
  private final ByteBuffer peerBigEndian = peer.getByteBuffer(0, peer.size()).order(ByteOrder.BIG_ENDIAN);
  private final ByteBuffer peerNative = peer.getByteBuffer(0, peer.size()).order(ByteOrder.nativeOrder());
  private final long peerAddress = Pointer.nativeValue(peer);
  private final long peerLengthAddress = peerAddress + SockAddr.STORAGE_LENGTH;
  private final Memory wakeBuffer = new Memory(8);
  private final int[] loopEvent = new int[4];

  private final ConcurrentLinkedQueue<Runnable> tasks = new ConcurrentLinkedQueue<>();
  private final AtomicBoolean wakePending = new AtomicBoolean();
  private final PriorityQueue<Timer> timers = new PriorityQueue<>();
  private final AtomicInteger openChannels = new AtomicInteger();
  private final AtomicBoolean stopRequested = new AtomicBoolean();
  private final Object wakeLock = new Object();
  private boolean wakeClosed; // guarded by wakeLock: nothing writes to wakeFd once it is closed
  private volatile boolean terminated;
  private volatile Throwable failure;
  private JnaChannel[] channels = new JnaChannel[1024];
  private int nextGeneration = 1;
  private long timerSequence;
  private int cancelledTimers;
  private long lastExhaustionLog;
  private long lastAdmitFailureLog;
  private long admitFailures;

  private boolean singleConnection;
  private boolean listenerClosed; // loop thread only

  private EpollLoop(int listenFd, int epfd, int wakeFd, Acceptor acceptor, SocketAddress local) {
    this.listenFd = listenFd;
    this.epfd = epfd;
    this.wakeFd = wakeFd;
    this.acceptor = acceptor;
    this.localAddress = local;
    this.thread = new Thread(this, "portcullis-loop-" + (local instanceof InetSocketAddress ip ? ip.getPort() : local));
  }

  /** Creates the loop around a listening socket, which it then owns, and starts its thread. */
  static EpollLoop start(int listenFd, Acceptor acceptor) throws IOException {
    return start(listenFd, acceptor, Sockets.localAddress(listenFd));
  }

  /** As {@link #start(int, Acceptor)}, reporting {@code local} as the address listened on. */
  static EpollLoop start(int listenFd, Acceptor acceptor, SocketAddress local) throws IOException {
    EpollLoop loop = create(listenFd, local, acceptor);
    loop.thread.start();
    return loop;
  }

  /**
   * Creates a loop for one connection this process inherited (inetd style), which it then owns:
   * the acceptor decides on its peer as on any accepted one, and the loop stops by itself once the
   * connection is refused or closed.
   */
  static EpollLoop startConnected(int connectedFd, Acceptor acceptor) throws IOException {
    EpollLoop loop = create(-1, Sockets.localAddress(connectedFd), acceptor);
    byte[] sa = new byte[SockAddr.STORAGE_LENGTH];
    int[] length = {sa.length};
    if (LibC.getpeername(connectedFd, sa, length) < 0) {
      int errno = Errors.lastErrno();
      loop.releaseLoopDescriptors();
      throw Errors.exception("getpeername(fd " + connectedFd + ")", errno);
    }
    loop.peer.write(0, sa, 0, sa.length);
    loop.singleConnection = true;
    loop.tasks.add(() -> {
      if (loop.stopRequested.get()) {
        LibC.close(connectedFd); // closed before the loop ever ran: nobody will serve it
        return;
      }
      if (!loop.admitAndOpen(connectedFd)) {
        loop.stopRequested.set(true);
      }
    });
    loop.thread.start();
    return loop;
  }

  private static EpollLoop create(int listenFd, SocketAddress local, Acceptor acceptor) throws IOException {
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
    EpollLoop loop = new EpollLoop(listenFd, epfd, wakeFd, acceptor, local);
    int[] ev = new int[4];
    if (!loop.control(LibC.EPOLL_CTL_ADD, wakeFd, LibC.EPOLLIN, WAKE_TOKEN, ev)
        || (listenFd >= 0 && !loop.control(LibC.EPOLL_CTL_ADD, listenFd, LibC.EPOLLIN, LISTEN_TOKEN, ev))) {
      int errno = Errors.lastErrno();
      loop.releaseLoopDescriptors();
      throw Errors.exception("epoll_ctl(EPOLL_CTL_ADD)", errno);
    }
    return loop;
  }

  private void releaseLoopDescriptors() {
    LibC.close(wakeFd);
    LibC.close(epfd);
  }

  @Override
  public SocketAddress localAddress() {
    return localAddress;
  }

  boolean inEventLoop() {
    return Thread.currentThread() == thread;
  }

  /** {@code epoll_ctl} with the event encoded in {@code scratch}; token 0..n is a generation. */
  boolean control(int op, int fd, int eventMask, long token, int[] scratch) {
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
    log.debug("epoll_ctl(op {}, fd {}) failed: {}", op, fd, LinuxErrno.name(Errors.lastErrno()));
    return false;
  }

  @Override
  public void run() {
    try {
      while (!stopRequested.get()) {
        int n = LibC.epoll_wait(epfd, Pointer.nativeValue(events), MAX_EVENTS, timeoutMillis());
        if (n < 0) {
          int errno = Errors.lastErrno();
          if (errno == LinuxErrno.EINTR) {
            continue;
          }
          failure = Errors.exception("epoll_wait(epfd " + epfd + ")", errno);
          log.error("Event loop of {} failed; the server stops", localAddress, failure);
          break;
        }
        for (int i = 0; i < n; i++) {
          int mask = eventView.getInt(i * EVENT_SIZE);
          long data = eventView.getLong(i * EVENT_SIZE + DATA_OFFSET);
          if (data == LISTEN_TOKEN) {
            acceptBatch();
          } else if (data == WAKE_TOKEN) {
            LibC.read(wakeFd, Pointer.nativeValue(wakeBuffer), 8);
            wakePending.set(false);
          } else {
            dispatch((int) data, (int) (data >>> 32), mask);
          }
        }
        runTasks();
        runTimers();
      }
    } catch (Throwable t) {
      failure = t;
      log.error("Event loop of {} failed; the server stops", localAddress, t);
    } finally {
      shutdown();
    }
  }

  private int timeoutMillis() {
    if (!tasks.isEmpty()) {
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

  private void acceptBatch() {
    if (listenerClosed) {
      return;
    }
    for (int i = 0; i < ACCEPT_BATCH; i++) {
      peerNative.putInt(SockAddr.STORAGE_LENGTH, SockAddr.STORAGE_LENGTH);
      int fd = LibC.accept4(listenFd, peerAddress, peerLengthAddress, LibC.SOCK_NONBLOCK | LibC.SOCK_CLOEXEC);
      if (fd < 0) {
        int errno = Errors.lastErrno();
        if (errno == LinuxErrno.EAGAIN) {
          return;
        }
        if (LinuxErrno.isTransientAcceptError(errno)) {
          continue;
        }
        pauseAccepting(errno);
        return;
      }
      admitAndOpen(fd);
    }
  }

  /**
   * Decides on the connection {@code fd} whose peer {@code sockaddr} is in the peer buffer: closes
   * it if refused, otherwise opens its channel and hands it to the acceptor. True if admitted.
   */
  private boolean admitAndOpen(int fd) {
    int family = peerNative.getShort(0);
    int port = peerBigEndian.getShort(2) & 0xFFFF;
    long high = 0;
    long low = 0;
    dev.portcullis.policy.PeerCredentials credentials = null;
    boolean admitted = false;
    try {
      if (family == LibC.AF_INET) {
        low = peerBigEndian.getInt(4) & 0xFFFF_FFFFL;
        admitted = acceptor.admitIpv4((int) low);
      } else if (family == LibC.AF_INET6) {
        high = peerBigEndian.getLong(8);
        low = peerBigEndian.getLong(16);
        admitted = acceptor.admitIpv6(high, low);
      } else if (family == LibC.AF_UNIX) {
        credentials = Sockets.peerCredentials(fd);
        admitted = acceptor.admitLocal(credentials);
      }
    } catch (Throwable t) {
      admitFailures++;
      long now = System.nanoTime();
      if (lastAdmitFailureLog == 0 || now - lastAdmitFailureLog > 1_000_000_000L) {
        lastAdmitFailureLog = now;
        log.error("Deciding on a connection to {} failed; it is closed ({} such failures so far)", localAddress,
            admitFailures, t);
      }
      admitted = false;
    }
    if (!admitted) {
      LibC.close(fd);
      return false;
    }
    JnaChannel channel = new JnaChannel(this, fd, nextGeneration++ & 0x7FFF_FFFF, family, high, low, port);
    channel.credentials = credentials;
    if (fd >= channels.length) {
      channels = java.util.Arrays.copyOf(channels, Math.max(fd + 1, channels.length * 2));
    }
    channels[fd] = channel;
    openChannels.incrementAndGet();
    try {
      acceptor.accepted(channel);
    } catch (Throwable t) {
      log.error("Acceptor failed for {}; connection closed", channel, t);
      channel.close();
    }
    return true;
  }

  /**
   * Out of descriptors or memory (or an error accept(2) does not list): the listener stays
   * readable, so accepting again at once would spin. Stop watching it for a moment, and say so in
   * the log at most every ten seconds.
   */
  private void pauseAccepting(int errno) {
    long now = System.nanoTime();
    if (now - lastExhaustionLog > TimeUnit.SECONDS.toNanos(10) || lastExhaustionLog == 0) {
      lastExhaustionLog = now;
      log.warn("accept4 on {} failed: {} ({}); pausing accepts for {} ms", localAddress,
          LinuxErrno.name(errno), Errors.describe(errno), TimeUnit.NANOSECONDS.toMillis(ACCEPT_PAUSE_NANOS));
    }
    control(LibC.EPOLL_CTL_MOD, listenFd, 0, LISTEN_TOKEN, loopEvent);
    schedule(resumeAccepting, ACCEPT_PAUSE_NANOS);
  }

  /** Made up front, like every class the EMFILE path needs (see the static initializer). */
  private final Runnable resumeAccepting = this::resumeAccepting;

  private void resumeAccepting() {
    if (!listenerClosed) {
      control(LibC.EPOLL_CTL_MOD, listenFd, LibC.EPOLLIN, LISTEN_TOKEN, loopEvent);
    }
  }

  private void dispatch(int fd, int generation, int mask) {
    JnaChannel[] table = channels;
    if (fd < 0 || fd >= table.length) {
      return;
    }
    JnaChannel channel = table[fd];
    if (channel != null && channel.generation == generation) {
      channel.onEvents(mask);
    }
  }

  void channelClosed(JnaChannel channel) {
    try {
      acceptor.released(channel);
    } catch (Throwable t) {
      log.error("Acceptor failed on the release of {}", channel, t);
    }
    if (openChannels.decrementAndGet() == 0 && singleConnection && stopRequested.compareAndSet(false, true)
        && !inEventLoop()) {
      wake(); // the one inherited connection is done, and so is this loop
    }
  }

  /** Connections accepted and not yet closed. */
  int openChannels() {
    return openChannels.get();
  }

  void execute(Runnable task) {
    tasks.add(task);
    if (terminated) {
      runTasks();
      return;
    }
    if (!inEventLoop() && wakePending.compareAndSet(false, true)) {
      wake();
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

  static void runSafely(Runnable task) {
    if (task == null) {
      return;
    }
    try {
      task.run();
    } catch (Throwable t) {
      log.error("Task on the event loop failed", t);
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

  /** Closes the listening socket on the loop thread; accepted connections go on. */
  private void closeListener() {
    if (listenFd >= 0 && !listenerClosed) {
      listenerClosed = true;
      control(LibC.EPOLL_CTL_DEL, listenFd, 0, LISTEN_TOKEN, loopEvent);
      LibC.close(listenFd);
    }
  }

  @Override
  public void updateKernelFilter(dev.portcullis.policy.AccessPolicy policy) {
    execute(() -> {
      if (listenFd >= 0 && !listenerClosed) {
        KernelFilter.attach(listenFd, policy, String.valueOf(localAddress)); // replaces the old program
      }
    });
  }

  /** Stops accepting and releases the address; returns once the listening socket is closed. */
  @Override
  public void stopAccepting() {
    if (inEventLoop()) {
      closeListener();
      return;
    }
    java.util.concurrent.CountDownLatch done = new java.util.concurrent.CountDownLatch(1);
    execute(() -> {
      closeListener();
      done.countDown();
    });
    try {
      done.await();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  /** Stops the loop and waits until the port is released. Safe from any thread; idempotent. */
  @Override
  public void close() {
    if (stopRequested.compareAndSet(false, true)) {
      if (!inEventLoop()) {
        wake();
      }
    }
    if (!inEventLoop()) {
      try {
        thread.join();
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }
  }

  private void shutdown() {
    closeListener();
    JnaChannel[] table = channels;
    for (JnaChannel c : table) {
      if (c != null) {
        c.close();
      }
    }
    terminated = true;
    runTasks();
    timers.clear();
    synchronized (wakeLock) {
      wakeClosed = true;
      LibC.close(wakeFd);
    }
    LibC.close(epfd);
    log.debug("Event loop of {} stopped", localAddress);
    try {
      acceptor.listenerStopped(failure);
    } catch (Throwable t) {
      log.error("Acceptor failed while the listener of {} stopped", localAddress, t);
    }
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
