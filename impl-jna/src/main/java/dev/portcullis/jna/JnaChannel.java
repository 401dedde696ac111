package dev.portcullis.jna;

import com.sun.jna.Native;
import com.sun.jna.Pointer;
import dev.portcullis.spi.Channel;
import java.io.IOException;
import java.net.SocketAddress;
import java.net.SocketException;
import java.nio.ByteBuffer;
import java.util.Objects;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A connection on an {@link EventLoop}: one a TCP or Unix domain listener accepted, or the one
 * inherited from inetd.
 *
 * <p>The descriptor is guarded so that it is closed only when no call is using it: {@code state}
 * counts calls in flight, and its {@link #CLOSED} bit stops new ones. Whoever brings the count to
 * zero with the bit set closes the fd, so no thread ever reads a number the kernel has already
 * handed to a newer connection.
 *
 * <p>Readiness uses {@code EPOLLONESHOT}: the fd is armed only while someone waits, and each event
 * disarms it, so an idle connection costs the loop nothing.
 */
final class JnaChannel implements Channel, EventLoop.Handler, VirtualPoller.Waiter {
  private static final int CLOSED = 1 << 30;

  private final Origin origin;
  private final EventLoop loop;
  private final int fd;
  private final int generation;
  private final int family;
  private final long addressHigh;
  private final long addressLow;
  private final int port;
  private final AtomicInteger state = new AtomicInteger();
  private final int[] event = new int[4];
  /** The peer half-closed or the socket failed: reads end in -1 or an error, not in EAGAIN. */
  private volatile boolean hangup;
  private volatile SocketAddress remote;
  private volatile SocketAddress local;
  // Waits of virtual threads, on the loop (awaitOnLoop) or through its VirtualPoller (awaitVirtual).
  private final Readiness readable = new Readiness();
  private final Readiness writable = new Readiness();
  private volatile VirtualPoller poller;
  /** 0: not in the poller's set; 1: being added or added; -1: the poller refused it. */
  private final AtomicInteger pollerState = new AtomicInteger();
  /** A Unix domain socket peer's credentials, read at accept; set before the channel is shared. */
  dev.portcullis.policy.PeerCredentials credentials;

  // Guarded by this.
  private Runnable onReadable;
  private Runnable onWritable;
  private Runnable watcher;
  private boolean registered;
  /**
   * Loop-carried waits ({@link #awaitOnLoop}) keep the socket in the loop's set, edge-triggered
   * both ways, and each event goes to {@link #virtualReady}. Set under this.
   */
  private volatile boolean carriedWatch;
  private int armed;

  /**
   * Where a channel came from: its listener's side of the transport (a {@code ConnectionGate}),
   * which a channel names only through this, so the two types do not depend on each other.
   */
  interface Origin {
    /** The listener's address, which a channel reports until it has read its own. */
    SocketAddress localAddress();

    /** The channel's descriptor was closed; from whichever thread closed it, exactly once. */
    void released(JnaChannel channel);
  }

  JnaChannel(Origin origin, EventLoop loop, int fd, int generation, int family, long high, long low, int port) {
    this.origin = origin;
    this.loop = loop;
    this.fd = fd;
    this.generation = generation;
    this.family = family;
    this.addressHigh = high;
    this.addressLow = low;
    this.port = port;
  }

  @Override
  public SocketAddress remoteAddress() {
    SocketAddress r = remote;
    if (r == null) {
      if (family == LibC.AF_UNIX) {
        r = java.net.UnixDomainSocketAddress.of(""); // the client's own name, which clients rarely bind
        if (acquire()) {
          try {
            r = Sockets.peerAddress(fd);
          } catch (SocketException e) {
            // keep the unnamed address
          } finally {
            release();
          }
        }
      } else {
        r = SockAddr.of(family, addressHigh, addressLow, port);
      }
      remote = r;
    }
    return r;
  }

  @Override
  public java.util.Optional<dev.portcullis.policy.PeerCredentials> peerCredentials() {
    return java.util.Optional.ofNullable(credentials);
  }

  @Override
  public SocketAddress localAddress() {
    SocketAddress l = local;
    if (l == null) {
      l = origin.localAddress();
      // A Unix socket was bound under a private name and renamed: the listener knows its real path.
      if (family != LibC.AF_UNIX && acquire()) {
        try {
          l = Sockets.localAddress(fd);
        } catch (SocketException e) {
          // Keep the listener's address; the socket is going away anyway.
        } finally {
          release();
        }
      }
      local = l;
    }
    return l;
  }

  @Override
  public int read(byte[] dst, int offset, int length) throws IOException {
    Objects.checkFromIndexSize(offset, length, dst.length);
    if (!acquire()) {
      throw new SocketException("Connection closed");
    }
    Scratch s = Scratch.acquire();
    try {
      long n = readAt(s.address, Math.min(length, Scratch.SIZE));
      if (n > 0) {
        s.memory.read(0, dst, offset, (int) n);
      }
      return (int) n;
    } finally {
      Scratch.release(s);
      release();
    }
  }

  /** Reads straight into a direct buffer's memory: no copy. */
  @Override
  public int read(ByteBuffer dst) throws IOException {
    return dst.isDirect() ? direct(dst, false) : Channel.super.read(dst);
  }

  @Override
  public int write(byte[] src, int offset, int length) throws IOException {
    Objects.checkFromIndexSize(offset, length, src.length);
    if (!acquire()) {
      throw new SocketException("Connection closed");
    }
    Scratch s = Scratch.acquire();
    try {
      int chunk = Math.min(length, Scratch.SIZE);
      s.memory.write(0, src, offset, chunk);
      return (int) sendFrom(s.address, chunk);
    } finally {
      Scratch.release(s);
      release();
    }
  }

  /** Sends straight from a direct buffer's memory: no copy. */
  @Override
  public int write(ByteBuffer src) throws IOException {
    return src.isDirect() ? direct(src, true) : Channel.super.write(src);
  }

  /** Reads into ({@code send} false) or sends from a direct buffer's remaining bytes, moving its position. */
  private int direct(ByteBuffer buffer, boolean send) throws IOException {
    if (!acquire()) {
      throw new SocketException("Connection closed");
    }
    try {
      long address = Pointer.nativeValue(Native.getDirectBufferPointer(buffer)) + buffer.position();
      long n = send ? sendFrom(address, buffer.remaining()) : readAt(address, buffer.remaining());
      if (n > 0) {
        buffer.position(buffer.position() + (int) n);
      }
      return (int) n;
    } finally {
      release();
    }
  }

  /**
   * {@code read(2)} into native memory, the caller holding the descriptor: bytes read, 0 when
   * nothing is there now (EAGAIN), -1 at end of stream.
   */
  private long readAt(long address, long length) throws IOException {
    long n;
    do {
      n = LibC.read(fd, address, length);
      if (n == 0) {
        return length == 0 ? 0 : -1;
      }
      n = Errors.ioResult(n, "read", fd);
    } while (n == Errors.RETRY);
    if (n > 0 && n < length && hangup) {
      // A short read normally means drained, and an edge-triggered reader stops there. But the
      // peer's FIN (or an error) may have come with this data in the same event: the socket is
      // still readable and no new edge will come, so tell the reader once more.
      announceAgain();
    }
    return n;
  }

  /** {@code send(2)} from native memory without SIGPIPE: bytes sent, 0 when the buffer is full. */
  private long sendFrom(long address, long length) throws IOException {
    long n;
    do {
      n = Errors.ioResult(LibC.send(fd, address, length, LibC.MSG_NOSIGNAL), "send", fd);
    } while (n == Errors.RETRY);
    return n;
  }

  /** {@code shutdown(SHUT_WR)}: the peer reads the end of stream; this side still reads. */
  @Override
  public void shutdownOutput() throws IOException {
    if (!acquire()) {
      throw new SocketException("Connection closed");
    }
    try {
      if (LibC.shutdown(fd, LibC.SHUT_WR) < 0) {
        throw Errors.exception("shutdown(fd " + fd + ", SHUT_WR)", Errors.lastErrno());
      }
    } finally {
      release();
    }
  }

  /** One struct pollfd per waiting thread: platform threads only, so a thread-local costs little. */
  private static final ThreadLocal<int[]> POLL_FD = ThreadLocal.withInitial(() -> new int[2]);

  /**
   * Waits until the socket is readable: a platform thread in {@code poll(2)}, a virtual thread
   * parked until the loop's {@link VirtualPoller} sees the socket ready (false if there is none).
   */
  @Override
  public boolean awaitReadable() throws IOException {
    if (VirtualThreads.currentIsVirtual()) {
      return EventLoop.currentIsLoopCarried() ? awaitOnLoop(true) : awaitVirtual(true);
    }
    return awaitInKernel(LibC.POLLIN | LibC.POLLRDHUP);
  }

  @Override
  public boolean awaitWritable() throws IOException {
    if (VirtualThreads.currentIsVirtual()) {
      return EventLoop.currentIsLoopCarried() ? awaitOnLoop(false) : awaitVirtual(false);
    }
    return awaitInKernel(LibC.POLLOUT);
  }

  /** Virtual threads carried by this channel's loop, when the JDK allows it (see {@link LoopCarriers}). */
  @Override
  public java.util.Optional<java.util.concurrent.Executor> loopCarriedExecutor() {
    return LoopCarriers.AVAILABLE ? java.util.Optional.of(loop.handlerExecutor()) : java.util.Optional.empty();
  }

  private final Runnable readableOnLoop = () -> virtualReady(LibC.EPOLLIN);
  private final Runnable writableOnLoop = () -> virtualReady(LibC.EPOLLOUT);

  /**
   * Parks a virtual thread carried by an event loop until the loop sees the socket ready, and the
   * loop resumes it in the same round: no other thread and no second epoll set is involved. The
   * first wait puts the socket in the loop's own set for good, edge-triggered for reading and
   * writing ({@link #carriedWatch}), so a wait costs no {@code epoll_ctl}; as in {@link
   * #awaitVirtual} (the same {@link Readiness}, so whatever wakes one wakes the other), an edge
   * that came while nobody waited is remembered. A channel with a standing read watch keeps
   * one-shot arming instead ({@link #whenReadable} and park).
   */
  private boolean awaitOnLoop(boolean read) throws IOException {
    if (nothingToWaitFor(read)) {
      return true;
    }
    Readiness r = read ? readable : writable;
    if (!carriedWatch && !startCarriedWatch()) {
      r.ready = false; // one-shot: the arming reports what is ready now
      r.waiter = Thread.currentThread();
      if (read) {
        whenReadable(readableOnLoop);
      } else {
        whenWritable(writableOnLoop);
      }
    }
    r.await(this);
    return true;
  }

  /**
   * Before a virtual thread's wait: throws if the channel is closed; true if a read need not wait,
   * the end of stream (or an error) being there to read, since no edge will come again for it.
   */
  private boolean nothingToWaitFor(boolean read) throws IOException {
    if (!isOpen()) {
      throw new SocketException("Connection closed");
    }
    return read && hangup;
  }

  /** Arms the standing edge-triggered registration of loop-carried waits; false if it cannot be. */
  private boolean startCarriedWatch() {
    synchronized (this) {
      if (watcher != null) {
        return false;
      }
      readable.ready = false; // the registration reports what is ready now
      writable.ready = false;
      carriedWatch = true;
      if (rearm()) {
        return true;
      }
      carriedWatch = false;
      return false;
    }
  }

  @Override
  public int generation() {
    return generation;
  }

  /**
   * Parks the calling virtual thread until the poller reports the socket ready for {@code read}
   * (or writing), it hangs up, or the channel closes. The socket joins the poller's set on the
   * first wait and stays there, edge-triggered; each direction's {@link Readiness} remembers an
   * edge that came while nobody waited.
   */
  private boolean awaitVirtual(boolean read) throws IOException {
    int added = pollerState.get();
    if (added < 0) {
      return false;
    }
    if (added == 0 && pollerState.compareAndSet(0, 1)) {
      VirtualPoller p = loop.helper(VirtualPoller.class, VirtualPoller::start);
      if (p == null) {
        pollerState.set(-1);
        return false;
      }
      if (!acquire()) {
        throw new SocketException("Connection closed");
      }
      try {
        poller = p;
        if (!p.add(this, fd, generation, new int[4])) {
          p.remove(this, fd);
          pollerState.set(-1);
          virtualReady(LibC.EPOLLIN | LibC.EPOLLOUT); // a waiter in the other direction retries, then falls back
          return false;
        }
      } finally {
        release();
      }
    }
    if (!nothingToWaitFor(read)) {
      (read ? readable : writable).await(this);
    }
    return true;
  }

  @Override
  public void virtualReady(int events) {
    if ((events & (LibC.EPOLLRDHUP | LibC.EPOLLHUP | LibC.EPOLLERR)) != 0) {
      hangup = true;
    }
    if ((events & (LibC.EPOLLIN | LibC.EPOLLRDHUP | LibC.EPOLLERR | LibC.EPOLLHUP)) != 0) {
      readable.signal();
    }
    if ((events & (LibC.EPOLLOUT | LibC.EPOLLERR | LibC.EPOLLHUP)) != 0) {
      writable.signal();
    }
  }

  /**
   * One direction's wait of a virtual thread: a flag that remembers an edge that came while nobody
   * waited, so a wait that starts after it returns at once, and the thread to unpark. A wake may be
   * spurious (the caller's read finds nothing and waits again); it is never lost, since the waiter
   * is published before the flag is read, and the signaller sets the flag before it reads the waiter.
   */
  private static final class Readiness {
    volatile boolean ready;
    volatile Thread waiter;

    /** Parks the calling thread until signalled, {@code channel} closes or the thread is interrupted. */
    void await(JnaChannel channel) {
      Thread me = Thread.currentThread();
      waiter = me;
      while (!ready && channel.isOpen() && !me.isInterrupted()) {
        java.util.concurrent.locks.LockSupport.park(channel);
      }
      waiter = null;
      ready = false;
    }

    /** The socket is ready this way (any thread). */
    void signal() {
      ready = true;
      Thread t = waiter;
      if (t != null) {
        java.util.concurrent.locks.LockSupport.unpark(t);
      }
    }
  }

  /**
   * {@code poll(2)} on this descriptor from the calling thread: the kernel wakes it when the
   * socket is ready, with no event loop in between. The reference held meanwhile keeps the
   * descriptor from being closed (and its number reused) under the poll; {@link #close} shuts the
   * socket down to wake it.
   */
  private boolean awaitInKernel(int events) throws IOException {
    if (!acquire()) {
      throw new SocketException("Connection closed");
    }
    try {
      int[] pollfd = POLL_FD.get();
      pollfd[0] = fd;
      pollfd[1] = events; // revents, the high half, cleared
      int n;
      do {
        n = LibC.poll(pollfd, 1, -1);
      } while (n < 0 && Errors.lastErrno() == LinuxErrno.EINTR);
      if (n < 0) {
        throw Errors.exception("poll(fd " + fd + ")", Errors.lastErrno());
      }
      return true;
    } finally {
      release();
    }
  }

  /**
   * {@code shutdown(SHUT_RD)}: the kernel wakes a thread in {@code poll(2)} and reports the socket
   * readable to the loop and to the {@link VirtualPoller}, whose waiter is also woken here at once.
   */
  @Override
  public boolean shutdownInput() {
    if (!acquire()) {
      return true; // closed: waiters have been woken by the close
    }
    try {
      LibC.shutdown(fd, LibC.SHUT_RD); // ENOTCONN if the peer is gone: then it is readable already
    } finally {
      release();
    }
    virtualReady(LibC.EPOLLIN | LibC.EPOLLRDHUP);
    return true;
  }

  @Override
  public void whenReadable(Runnable task) {
    Objects.requireNonNull(task, "task");
    synchronized (this) {
      onReadable = task;
      if (rearm()) {
        return;
      }
      onReadable = null;
    }
    loop.execute(task);
  }

  @Override
  public void watchReadable(Runnable task) {
    synchronized (this) {
      watcher = task;
      if (rearm() || task == null) {
        return;
      }
      watcher = null;
    }
    loop.execute(task);
  }

  @Override
  public void whenWritable(Runnable task) {
    Objects.requireNonNull(task, "task");
    synchronized (this) {
      onWritable = task;
      if (rearm()) {
        return;
      }
      onWritable = null;
    }
    loop.execute(task);
  }

  /**
   * Arms epoll for the callbacks waiting; false if the channel is closed or epoll refused. With a
   * standing read watch the registration is edge-triggered and stays armed, so nothing is done
   * when the wanted events have not changed; otherwise it is one-shot and re-armed every time.
   */
  private boolean rearm() {
    if (!acquire()) {
      return false;
    }
    try {
      int events;
      if (watcher != null) {
        events = LibC.EPOLLIN | LibC.EPOLLRDHUP | LibC.EPOLLET
            | (onWritable != null || carriedWatch ? LibC.EPOLLOUT : 0);
        if (registered && events == armed) {
          return true;
        }
      } else if (carriedWatch) {
        // Standing; a one-shot callback asked for meanwhile re-arms it, which makes epoll report
        // what is ready now, so the callback does not wait for an edge that already passed.
        events = LibC.EPOLLIN | LibC.EPOLLOUT | LibC.EPOLLRDHUP | LibC.EPOLLET;
        if (registered && events == armed && onReadable == null && onWritable == null) {
          return true;
        }
      } else {
        events = LibC.EPOLLONESHOT;
        if (onReadable != null) {
          events |= LibC.EPOLLIN | LibC.EPOLLRDHUP;
        }
        if (onWritable != null) {
          events |= LibC.EPOLLOUT;
        }
      }
      int op = registered ? LibC.EPOLL_CTL_MOD : LibC.EPOLL_CTL_ADD;
      if (!loop.control(op, fd, events, generation, event)) {
        return false;
      }
      registered = true;
      armed = events;
      return true;
    } finally {
      release();
    }
  }

  private void announceAgain() {
    Runnable w;
    synchronized (this) {
      w = watcher;
    }
    if (w != null) {
      loop.execute(w);
    }
  }

  /** Called on the loop with the events epoll reported for this channel. */
  @Override
  public void onEvents(int events) {
    if ((events & (LibC.EPOLLRDHUP | LibC.EPOLLHUP | LibC.EPOLLERR)) != 0) {
      hangup = true;
    }
    Runnable r = null;
    Runnable w = null;
    Runnable watch = null;
    synchronized (this) {
      if ((events & (LibC.EPOLLIN | LibC.EPOLLRDHUP | LibC.EPOLLERR | LibC.EPOLLHUP)) != 0) {
        r = onReadable;
        onReadable = null;
        watch = watcher;
      }
      if ((events & (LibC.EPOLLOUT | LibC.EPOLLERR | LibC.EPOLLHUP)) != 0) {
        w = onWritable;
        onWritable = null;
      }
      if (watcher == null && (onReadable != null || onWritable != null)) {
        if (!rearm()) {
          r = r == null ? onReadable : r;
          w = w == null ? onWritable : w;
          onReadable = null;
          onWritable = null;
        }
      }
    }
    EventLoop.runSafely(r);
    EventLoop.runSafely(w);
    EventLoop.runSafely(watch);
    if (carriedWatch) {
      virtualReady(events); // unparks a loop-carried waiter: the loop runs it this round
    }
  }

  /** The loop is stopping: the connection is closed like any other. */
  @Override
  public void loopStopping() {
    close();
  }

  @Override
  public Cancellable schedule(Runnable task, long delay, TimeUnit unit) {
    return loop.schedule(task, unit.toNanos(delay));
  }

  @Override
  public void execute(Runnable task) {
    loop.execute(task);
  }

  @Override
  public boolean inEventLoop() {
    return loop.inEventLoop();
  }

  @Override
  public boolean isOpen() {
    return (state.get() & CLOSED) == 0;
  }

  private boolean acquire() {
    while (true) {
      int s = state.get();
      if ((s & CLOSED) != 0) {
        return false;
      }
      if (state.compareAndSet(s, s + 1)) {
        return true;
      }
    }
  }

  private void release() {
    if (state.decrementAndGet() == CLOSED) {
      destroy();
    }
  }

  @Override
  public void close() {
    while (true) {
      int s = state.get();
      if ((s & CLOSED) != 0) {
        return;
      }
      if (state.compareAndSet(s, s | CLOSED)) {
        if (s == 0) {
          destroy();
        } else {
          // In use, perhaps by a thread waiting in poll(2): shutting the socket down wakes it, and
          // the last user closes the descriptor.
          LibC.shutdown(fd, LibC.SHUT_RDWR);
        }
        break;
      }
    }
    // Virtual threads parked in awaitVirtual see the channel closed.
    virtualReady(LibC.EPOLLERR);
    Runnable r;
    Runnable w;
    Runnable watch;
    synchronized (this) {
      r = onReadable;
      w = onWritable;
      watch = watcher;
      onReadable = null;
      onWritable = null;
      watcher = null;
    }
    if (r != null) {
      loop.execute(r);
    }
    if (w != null) {
      loop.execute(w);
    }
    if (watch != null) {
      loop.execute(watch);
    }
  }

  private void destroy() {
    VirtualPoller p = poller;
    if (p != null) {
      p.remove(this, fd);
    }
    LibC.close(fd);
    origin.released(this);
  }

  @Override
  public String toString() {
    return "JnaChannel[fd " + fd + ", " + dev.portcullis.policy.IpAddresses.format(remoteAddress())
        + (isOpen() ? "" : ", closed") + "]";
  }
}
