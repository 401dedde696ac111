package dev.portcullis.jna;

import dev.portcullis.policy.AccessPolicy;
import dev.portcullis.spi.Acceptor;
import dev.portcullis.spi.Listener;
import java.io.IOException;
import java.net.SocketAddress;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A listening socket, TCP or Unix domain, registered on an event loop of its own.
 *
 * <p>When the socket is readable it accepts in batches until {@code EAGAIN}, each connection going
 * through the {@link ConnectionGate} before any object is made for it. Transient accept errors
 * are retried; running out of descriptors or memory pauses accepting for a moment instead of
 * spinning on a listener that stays readable. The kernel filter is replaced on the loop thread.
 */
final class ListeningSocket implements Listener, EventLoop.Handler {
  private static final Logger log = LoggerFactory.getLogger(ListeningSocket.class);

  private static final int ACCEPT_BATCH = 1024;
  private static final long ACCEPT_PAUSE_NANOS = TimeUnit.MILLISECONDS.toNanos(100);

  static {
    // Out of descriptors, the class loader cannot open a jar to load a class: everything the
    // EMFILE path touches is loaded now, while it still can (EventLoop loads its Timer).
    LinuxErrno.name(LinuxErrno.EMFILE);
    Errors.describe(LinuxErrno.EMFILE);
  }

  private final int fd;
  private final EventLoop loop;
  private final ConnectionGate gate;
  private final int generation;
  private final int[] event = new int[4];
  /** Made up front, like every class the EMFILE path needs (see the static initializer). */
  private final Runnable resumeAccepting = this::resumeAccepting;
  private boolean closed; // loop thread only
  private final dev.portcullis.spi.LogThrottle exhaustionLog = dev.portcullis.spi.LogThrottle.every(10, TimeUnit.SECONDS);

  private ListeningSocket(int fd, EventLoop loop, Acceptor acceptor, SocketAddress local) {
    this.fd = fd;
    this.loop = loop;
    this.gate = new ConnectionGate(loop, acceptor, local, null);
    this.generation = loop.newGeneration();
  }

  /** Serves the listening socket {@code fd}, which it then owns, on a loop it starts. */
  static ListeningSocket start(int fd, Acceptor acceptor) throws IOException {
    return start(fd, acceptor, Sockets.localAddress(fd));
  }

  /** As {@link #start(int, Acceptor)}, reporting {@code local} as the address listened on. */
  static ListeningSocket start(int fd, Acceptor acceptor, SocketAddress local) throws IOException {
    EventLoop loop = EventLoop.open(local);
    ListeningSocket socket = new ListeningSocket(fd, loop, acceptor, local);
    if (!loop.control(LibC.EPOLL_CTL_ADD, fd, LibC.EPOLLIN, socket.generation, socket.event)) {
      int errno = Errors.lastErrno();
      loop.discard();
      throw Errors.exception("epoll_ctl(EPOLL_CTL_ADD)", errno);
    }
    loop.register(fd, socket.generation, socket);
    loop.start(socket.gate::listenerStopped);
    return socket;
  }

  @Override
  public SocketAddress localAddress() {
    return gate.localAddress();
  }

  @Override
  public void onEvents(int events) {
    if (closed) {
      return;
    }
    for (int i = 0; i < ACCEPT_BATCH; i++) {
      int connection = gate.accept(fd);
      if (connection >= 0) {
        gate.admit(connection);
        continue;
      }
      int errno = Errors.ioErrno();
      if (errno == Errors.AGAIN) {
        return;
      }
      if (errno == Errors.RETRY || LinuxErrno.isTransientAcceptError(errno)) {
        continue;
      }
      pauseAccepting(errno);
      return;
    }
  }

  /**
   * Out of descriptors or memory (or an error accept(2) does not list): the listener stays
   * readable, so accepting again at once would spin. Stop watching it for a moment, and say so in
   * the log at most every ten seconds.
   */
  private void pauseAccepting(int errno) {
    if (exhaustionLog.due()) {
      log.warn("accept4 on {} failed: {} ({}); pausing accepts for {} ms", localAddress(),
          LinuxErrno.name(errno), Errors.describe(errno), TimeUnit.NANOSECONDS.toMillis(ACCEPT_PAUSE_NANOS));
    }
    loop.control(LibC.EPOLL_CTL_MOD, fd, 0, generation, event);
    loop.schedule(resumeAccepting, ACCEPT_PAUSE_NANOS);
  }

  private void resumeAccepting() {
    if (!closed) {
      loop.control(LibC.EPOLL_CTL_MOD, fd, LibC.EPOLLIN, generation, event);
    }
  }

  /** Closes the listening socket, on the loop thread; accepted connections go on. */
  private void closeSocket() {
    if (!closed) {
      closed = true;
      loop.control(LibC.EPOLL_CTL_DEL, fd, 0, generation, event);
      LibC.close(fd);
    }
  }

  @Override
  public void loopStopping() {
    closeSocket();
  }

  @Override
  public void updateKernelFilter(AccessPolicy policy) {
    loop.execute(() -> {
      if (!closed) {
        KernelFilter.attach(fd, policy, String.valueOf(localAddress())); // replaces the old program
      }
    });
  }

  /** Stops accepting and releases the address; returns once the listening socket is closed. */
  @Override
  public void stopAccepting() {
    if (loop.inEventLoop()) {
      closeSocket();
      return;
    }
    CountDownLatch done = new CountDownLatch(1);
    loop.execute(() -> {
      closeSocket();
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
    loop.close();
  }
}
