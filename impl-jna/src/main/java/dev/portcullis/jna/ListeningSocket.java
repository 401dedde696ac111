package dev.portcullis.jna;

import dev.portcullis.spi.AcceptCounts;
import dev.portcullis.spi.Acceptor;
import dev.portcullis.spi.KernelFilterMode;
import dev.portcullis.spi.KernelFiltering;
import dev.portcullis.spi.KernelRules;
import dev.portcullis.spi.Listener;
import java.io.IOException;
import java.net.SocketAddress;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A listening socket, TCP or Unix domain, served by one or more event loops of its own.
 *
 * <p>Each loop has its own {@link Loop} view (its own {@link ConnectionGate} and peer buffer), and
 * a connection is registered on the loop that accepted it, for its whole life. With several loops
 * the socket is either one {@code SO_REUSEPORT} descriptor per loop (a TCP listener this transport
 * opened: the kernel hashes each connection to one loop's accept queue, so every loop accepts its
 * share) or one descriptor in every loop's epoll set with {@code EPOLLEXCLUSIVE} (an inherited or
 * Unix domain socket, which is one descriptor: a new connection wakes one idle loop rather than
 * all of them, and the first idle loop in the wait queue takes most of them).
 *
 * <p>When a loop's view is readable it accepts in batches until {@code EAGAIN}, each connection
 * going through its gate before any object is made for it. Transient accept errors are retried;
 * running out of descriptors or memory pauses that loop's accepting for a moment instead of
 * spinning on a listener that stays readable.
 *
 * <p>{@link #stopAccepting()} loses nothing the kernel queued: a TCP socket this transport opened
 * stops answering new handshakes (a socket filter drops SYNs) while those under way complete for
 * {@link #HANDSHAKE_LINGER_NANOS}, and every accept queue is accepted until {@code EAGAIN} (with
 * one shared descriptor the other loops let go and one loop drains it; with one descriptor per loop
 * each loop drains its own), and only then are the sockets closed. A connection the kernel hashed
 * to a busy loop's socket waits in that queue until the loop gets to it: it is never lost.
 */
final class ListeningSocket implements Listener {
  private static final Logger log = LoggerFactory.getLogger(ListeningSocket.class);

  private static final int ACCEPT_BATCH = 1024;
  private static final long ACCEPT_PAUSE_NANOS = TimeUnit.MILLISECONDS.toNanos(100);
  /**
   * How long a stopping TCP listener still accepts after it stopped answering new SYNs: time for
   * the handshakes under way (whose client may already be told it is connected) to complete.
   */
  static final long HANDSHAKE_LINGER_NANOS = TimeUnit.MILLISECONDS.toNanos(200);

  static {
    // Out of descriptors, the class loader cannot open a jar to load a class: everything the
    // EMFILE path touches is loaded now, while it still can (EventLoop loads its Timer).
    LinuxErrno.name(LinuxErrno.EMFILE);
    Errors.describe(LinuxErrno.EMFILE);
    dev.portcullis.policy.Durations.format(java.time.Duration.ofNanos(ACCEPT_PAUSE_NANOS)); // the warning's text
  }

  /** One descriptor for every loop, or one per loop ({@code SO_REUSEPORT}). */
  private final int[] fds;
  private final boolean shared;
  private final SocketAddress local;
  private final Acceptor acceptor;
  private final Loop[] loops;
  /** Whether stopAccepting may filter new handshakes: a TCP socket this process opened itself. */
  private final boolean ownSocket;
  private final Object fdLock = new Object();
  private volatile KernelFilter kernelFilter;
  private boolean fdClosed; // guarded by fdLock
  private boolean stopping; // guarded by fdLock: the policy filter is no longer replaced
  private final AtomicInteger openViews;
  private final AtomicInteger loopsRunning;
  private final AtomicBoolean stopReported = new AtomicBoolean();
  private final AtomicBoolean stopRequested = new AtomicBoolean();
  private final CountDownLatch socketClosed = new CountDownLatch(1);
  private final dev.portcullis.spi.LogThrottle exhaustionLog = dev.portcullis.spi.LogThrottle.every(10, TimeUnit.SECONDS);

  private ListeningSocket(int[] fds, SocketAddress local, Acceptor acceptor, int count, boolean ownSocket) {
    this.fds = fds.clone();
    this.shared = fds.length == 1;
    this.local = local;
    this.acceptor = acceptor;
    this.loops = new Loop[count];
    this.ownSocket = ownSocket;
    this.openViews = new AtomicInteger(count);
    this.loopsRunning = new AtomicInteger(count);
  }

  /**
   * Serves the listening socket {@code fd}, which it then owns, on {@code count} loops it starts,
   * reporting {@code local} as the address listened on. {@code ownSocket}: a TCP socket this
   * process opened, which {@link #stopAccepting()} may filter; not one it inherited, whose next
   * owner would get the filter too. On failure nothing is started and {@code fd} stays open.
   */
  static ListeningSocket start(int fd, int count, Acceptor acceptor, SocketAddress local, boolean ownSocket)
      throws IOException {
    return start(new int[] {fd}, count, acceptor, local, ownSocket);
  }

  /**
   * {@link #start(int, int, Acceptor, SocketAddress, boolean)} with {@code fds}: one descriptor that
   * every loop shares, or one per loop (a {@code SO_REUSEPORT} group: loop {@code i} accepts on
   * {@code fds[i]}). It owns them all; on failure nothing is started and they all stay open.
   */
  static ListeningSocket start(int[] fds, int count, Acceptor acceptor, SocketAddress local, boolean ownSocket)
      throws IOException {
    if (fds.length != 1 && fds.length != count) {
      throw new IllegalArgumentException(fds.length + " descriptors for " + count + " loops");
    }
    ListeningSocket socket = new ListeningSocket(fds, local, acceptor, count, ownSocket);
    int interest = count > 1 && socket.shared ? LibC.EPOLLIN | LibC.EPOLLEXCLUSIVE : LibC.EPOLLIN;
    try {
      for (int i = 0; i < count; i++) {
        EventLoop loop = EventLoop.open(local, i, count);
        int fd = socket.shared ? fds[0] : fds[i];
        Loop view = socket.new Loop(loop, i, fd, interest);
        socket.loops[i] = view;
        if (!socket.shared && count > 1) {
          loop.stallListener(view);
        }
        if (!loop.control(LibC.EPOLL_CTL_ADD, fd, interest, view.generation, view.event)) {
          throw Errors.exception("epoll_ctl(EPOLL_CTL_ADD, fd " + fd
              + ((interest & LibC.EPOLLEXCLUSIVE) != 0 ? ", EPOLLEXCLUSIVE)" : ")"), Errors.lastErrno());
        }
        loop.register(fd, view.generation, view);
      }
    } catch (IOException | RuntimeException e) {
      for (Loop view : socket.loops) {
        if (view != null) {
          view.loop.discard();
        }
      }
      throw e;
    }
    for (Loop view : socket.loops) {
      view.loop.start(socket::loopStopped);
    }
    return socket;
  }

  @Override
  public SocketAddress localAddress() {
    return local;
  }

  /** How many loops serve this socket. */
  int loopCount() {
    return loops.length;
  }

  /** How many connections each loop accepted, in loop order. */
  long[] acceptedPerLoop() {
    long[] counts = new long[loops.length];
    for (int i = 0; i < loops.length; i++) {
      counts[i] = loops[i].gate.accepted();
    }
    return counts;
  }

  /**
   * One loop's hold on the socket: its registration, its gate, its pause. Everything but the
   * constructor runs on its loop's thread.
   */
  private final class Loop implements EventLoop.Handler, EventLoop.StallListener {
    final EventLoop loop;
    final int index;
    /** The descriptor this loop accepts on: the shared one, or its own. */
    final int fd;
    final ConnectionGate gate;
    final int generation;
    final int interest;
    final int[] event = new int[4];
    /** Made up front, like every class the EMFILE path needs (see the static initializer). */
    final Runnable resumeAccepting = this::resumeAccepting;
    boolean closed;

    /** The other loops' sockets this loop accepts on while their loop is held, by their index. */
    final Borrowed[] borrowed;

    Loop(EventLoop loop, int index, int fd, int interest) {
      this.loop = loop;
      this.index = index;
      this.borrowed = new Borrowed[loops.length];
      this.fd = fd;
      this.gate = new ConnectionGate(loop, acceptor, local, null);
      this.generation = loop.newGeneration();
      this.interest = interest;
    }

    @Override
    public void onEvents(int events) {
      if (!closed) {
        acceptBatch();
      }
    }

    /** Accepts up to a batch; true if the queue ran dry ({@code EAGAIN}) or accepting paused. */
    boolean acceptBatch() {
      int stopped = gate.acceptBatch(fd, ACCEPT_BATCH);
      if (stopped == ConnectionGate.MORE) {
        return false;
      }
      if (stopped != Errors.AGAIN) {
        pauseAccepting(stopped);
      }
      return true;
    }

    /** Accepts until the queue is empty (or accepting pauses). */
    void drain() {
      while (!closed && !acceptBatch()) {
        // another batch
      }
    }

    /**
     * Out of descriptors or memory (or an error accept(2) does not list): the listener stays
     * readable, so accepting again at once would spin. Stop watching it for a moment, and say so
     * in the log at most every ten seconds. A descriptor added with {@code EPOLLEXCLUSIVE} cannot
     * be modified, only removed and added again.
     */
    private void pauseAccepting(int errno) {
      if (exhaustionLog.due()) {
        log.warn("accept4 on {} failed: {} ({}); pausing accepts for {}",
            dev.portcullis.policy.IpAddresses.format(local), LinuxErrno.name(errno), Errors.describe(errno),
            dev.portcullis.policy.Durations.format(java.time.Duration.ofNanos(ACCEPT_PAUSE_NANOS)));
      }
      loop.control(LibC.EPOLL_CTL_DEL, fd, 0, generation, event);
      loop.schedule(resumeAccepting, ACCEPT_PAUSE_NANOS);
    }

    private void resumeAccepting() {
      if (!closed) {
        loop.control(LibC.EPOLL_CTL_ADD, fd, interest, generation, event);
      }
    }

    /**
     * A handler holds this loop (watchdog thread): the next loop accepts on this loop's socket
     * until it lets go, so that the connections the kernel hashes to it do not wait for it.
     */
    @Override
    public void stalled() {
      Loop partner = loops[(index + 1) % loops.length];
      partner.loop.execute(() -> partner.borrow(this));
    }

    /** The handler let go (this loop's thread): the partner stops accepting on this loop's socket. */
    @Override
    public void released() {
      Loop partner = loops[(index + 1) % loops.length];
      partner.loop.execute(() -> partner.giveBack(this));
    }

    /** On this loop: accepts on {@code held}'s socket too, until {@link #giveBack}. */
    void borrow(Loop held) {
      if (closed || borrowed[held.index] != null) {
        return;
      }
      synchronized (fdLock) {
        if (fdClosed) {
          return;
        }
      }
      Borrowed b = new Borrowed(held.index, held.fd, loop.newGeneration());
      loop.register(held.fd, b.generation, b);
      if (loop.control(LibC.EPOLL_CTL_ADD, held.fd, LibC.EPOLLIN, b.generation, b.event)) {
        borrowed[held.index] = b;
        log.debug("{} accepts on the socket of held loop {} meanwhile", loop.thread().getName(),
            held.loop.thread().getName());
      }
    }

    /** On this loop: stops accepting on {@code held}'s socket. */
    void giveBack(Loop held) {
      Borrowed b = borrowed[held.index];
      if (b != null) {
        borrowed[held.index] = null;
        loop.control(LibC.EPOLL_CTL_DEL, b.fd, 0, b.generation, b.event);
      }
    }

    /** Another loop's socket, accepted on here while that loop is held; connections stay here. */
    private final class Borrowed implements EventLoop.Handler {
      final int heldIndex;
      final int fd;
      final int generation;
      final int[] event = new int[4];

      Borrowed(int heldIndex, int fd, int generation) {
        this.heldIndex = heldIndex;
        this.fd = fd;
        this.generation = generation;
      }

      @Override
      public void onEvents(int events) {
        if (closed || borrowed[heldIndex] != this) {
          return;
        }
        int stopped = gate.acceptBatch(fd, ACCEPT_BATCH);
        if (stopped != Errors.AGAIN && stopped != ConnectionGate.MORE) {
          // Out of descriptors or memory: leave the socket to its own loop, which pauses.
          giveBack(loops[heldIndex]);
        }
      }

      @Override
      public void loopStopping() {
        // Loop.close() lets go of it
      }
    }

    /** Lets go of the socket (and of any it accepts on for a held loop); the last loop to let go closes it. */
    void close() {
      if (!closed) {
        closed = true;
        for (Loop other : loops) {
          if (other != null) {
            giveBack(other);
          }
        }
        loop.control(LibC.EPOLL_CTL_DEL, fd, 0, generation, event);
        if (openViews.decrementAndGet() == 0) {
          closeSocket();
        }
      }
    }

    @Override
    public void loopStopping() {
      close();
    }

    /** On this loop: stops new handshakes on its descriptor, drains its queue, lingers, drains, lets go. */
    void stopAndDrain() {
      boolean filtered;
      synchronized (fdLock) {
        stopping = true;
        filtered = ownSocket && !fdClosed && !closed && KernelFilter.stopNewHandshakes(fd);
      }
      drain();
      if (!filtered) {
        close();
        return;
      }
      loop.schedule(() -> {
        drain();
        close();
      }, HANDSHAKE_LINGER_NANOS);
    }
  }

  private void closeSocket() {
    synchronized (fdLock) {
      fdClosed = true;
      for (int fd : fds) {
        LibC.close(fd);
      }
      if (kernelFilter != null) {
        kernelFilter.close();
      }
    }
    socketClosed.countDown();
  }

  /** A loop stopped: the first failure is reported (and stops the others), or else the last stop. */
  private void loopStopped(Throwable failure) {
    int left = loopsRunning.decrementAndGet();
    if (failure != null) {
      for (Loop view : loops) {
        view.loop.stop();
      }
    }
    if ((failure != null || left == 0) && stopReported.compareAndSet(false, true)) {
      loops[0].gate.listenerStopped(failure);
    }
  }

  @Override
  public <T> java.util.Optional<T> capability(Class<T> type) {
    if (type == AcceptCounts.class) {
      return java.util.Optional.of(type.cast((AcceptCounts) this::acceptedPerLoop));
    }
    if (type == KernelFiltering.class && kernelFilter != null) {
      return java.util.Optional.of(type.cast(new Filtering()));
    }
    return java.util.Optional.empty();
  }

  /** The kernel filter's controls, which do nothing once the socket is stopping or closed. */
  private final class Filtering implements KernelFiltering {
    @Override
    public void updateRules(KernelRules rules) {
      synchronized (fdLock) {
        if (!fdClosed && !stopping) {
          kernelFilter.update(rules); // replaces the old program, or switches its tries
        }
      }
    }

    @Override
    public void updateBans(java.util.List<dev.portcullis.policy.Cidr> bans) {
      synchronized (fdLock) {
        if (!fdClosed && !stopping) {
          kernelFilter.updateBans(bans);
        }
      }
    }

    @Override
    public KernelFilterMode mode() {
      return kernelFilter.mode();
    }
  }

  /** The filter {@code JnaTransport} attached before the loops started; the listener closes it. */
  void kernelFilter(KernelFilter filter) {
    if (filter == null) {
      return;
    }
    synchronized (fdLock) {
      if (fdClosed) {
        filter.close(); // the socket failed at once: nothing will use the maps
      } else {
        this.kernelFilter = filter;
      }
    }
  }

  /**
   * Stops accepting without losing what the kernel queued, and releases the address. One shared
   * descriptor: every loop but the first lets go of it, then the first stops new TCP handshakes (on
   * a socket opened here), accepts the queue until {@code EAGAIN}, still accepts for {@link
   * #HANDSHAKE_LINGER_NANOS} while handshakes under way complete, accepts once more and lets go.
   * One descriptor per loop: every loop does that on its own descriptor at once. The descriptors
   * are closed when the last loop has let go (closing one of a {@code SO_REUSEPORT} group would
   * reset the connections in its queue), so this returns once every queue is drained and closed
   * (at once when called on one of the loops).
   */
  @Override
  public void stopAccepting() {
    if (stopRequested.compareAndSet(false, true)) {
      if (shared) {
        for (int i = 1; i < loops.length; i++) {
          runAndWait(loops[i], loops[i]::close);
        }
        loops[0].loop.execute(loops[0]::stopAndDrain);
      } else {
        for (Loop view : loops) {
          view.loop.execute(view::stopAndDrain);
        }
      }
    }
    if (!onOneOfTheLoops()) {
      awaitUninterruptibly(socketClosed);
    }
  }

  private boolean onOneOfTheLoops() {
    for (Loop view : loops) {
      if (view.loop.inEventLoop()) {
        return true;
      }
    }
    return false;
  }

  /** Runs {@code task} on the view's loop and waits for it, unless on that loop (or another of ours). */
  private void runAndWait(Loop view, Runnable task) {
    if (view.loop.inEventLoop()) {
      task.run();
      return;
    }
    CountDownLatch done = new CountDownLatch(1);
    view.loop.execute(() -> {
      try {
        task.run();
      } finally {
        done.countDown();
      }
    });
    if (!onOneOfTheLoops()) {
      awaitUninterruptibly(done);
    }
  }

  private static void awaitUninterruptibly(CountDownLatch latch) {
    boolean interrupted = false;
    while (true) {
      try {
        latch.await();
        break;
      } catch (InterruptedException e) {
        interrupted = true;
      }
    }
    if (interrupted) {
      Thread.currentThread().interrupt();
    }
  }

  /** Stops every loop and waits until the port is released. Safe from any thread; idempotent. */
  @Override
  public void close() {
    for (Loop view : loops) {
      view.loop.stop();
    }
    for (Loop view : loops) {
      view.loop.close();
    }
  }

  /** On JDK 21+ with {@code java.lang} open to this module: see {@link LoopCarriers}. */
  @Override
  public boolean loopCarriedExecutors() {
    return LoopCarriers.offered();
  }
}
