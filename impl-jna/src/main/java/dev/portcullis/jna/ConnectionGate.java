package dev.portcullis.jna;

import com.sun.jna.Memory;
import com.sun.jna.Pointer;
import dev.portcullis.policy.PeerCredentials;
import dev.portcullis.spi.Acceptor;
import java.net.SocketAddress;
import java.net.SocketException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.concurrent.atomic.AtomicInteger;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Where each new connection of one listener is admitted or refused, and where its channel is
 * released again: the {@link Acceptor}'s side of the transport.
 *
 * <p>The peer's {@code sockaddr} lands in a preallocated native buffer ({@link #accept}) and is read
 * from there into ints and longs, and the acceptor decides on those before any per-connection
 * object exists, so a refused connection costs an {@code accept4}, a lookup and a {@code close}. An
 * admitted one becomes a {@link JnaChannel}, registered on the loop and handed to the acceptor.
 */
final class ConnectionGate implements JnaChannel.Origin {
  private static final Logger log = LoggerFactory.getLogger(ConnectionGate.class);

  final EventLoop loop;
  private final Acceptor acceptor;
  private final SocketAddress localAddress;
  private final Runnable whenAllReleased;

  private final Memory peer = new Memory(SockAddr.STORAGE_LENGTH + 8);
  private final ByteBuffer peerBigEndian = peer.getByteBuffer(0, peer.size()).order(ByteOrder.BIG_ENDIAN);
  private final ByteBuffer peerNative = peer.getByteBuffer(0, peer.size()).order(ByteOrder.nativeOrder());
  private final long peerAddress = Pointer.nativeValue(peer);
  private final long peerLengthAddress = peerAddress + SockAddr.STORAGE_LENGTH;

  private final AtomicInteger openChannels = new AtomicInteger();
  /** Connections accept(2) returned to this loop; written by the loop thread only. */
  private volatile long accepted;
  private final dev.portcullis.spi.LogThrottle admitFailureLog =
      dev.portcullis.spi.LogThrottle.every(1, java.util.concurrent.TimeUnit.SECONDS);
  private long admitFailures;

  /**
   * @param localAddress the listener's address, for its channels and the log
   * @param whenAllReleased run when the last open channel is released, or null
   */
  ConnectionGate(EventLoop loop, Acceptor acceptor, SocketAddress localAddress, Runnable whenAllReleased) {
    this.loop = loop;
    this.acceptor = acceptor;
    this.localAddress = localAddress;
    this.whenAllReleased = whenAllReleased;
  }

  @Override
  public SocketAddress localAddress() {
    return localAddress;
  }

  /**
   * {@code accept4} on {@code listenFd}, non-blocking and close-on-exec, the peer's address going
   * to the buffer {@link #admit} reads: the new descriptor, or -1 with errno set.
   */
  int accept(int listenFd) {
    peerNative.putInt(SockAddr.STORAGE_LENGTH, SockAddr.STORAGE_LENGTH);
    return LibC.accept4(listenFd, peerAddress, peerLengthAddress, LibC.SOCK_NONBLOCK | LibC.SOCK_CLOEXEC);
  }

  /** What {@link #acceptBatch} answers after a whole batch: more connections may be queued. */
  static final int MORE = Integer.MIN_VALUE;

  /**
   * Accepts and admits ({@link #admit}) the connections queued on {@code listenFd}, at most {@code
   * max}, passing over transient errors (a connection reset while queued, {@code EINTR}): {@link
   * Errors#AGAIN} once the queue ran dry, {@link #MORE} after {@code max}, or the errno that stops
   * accepting (out of descriptors or memory). On the loop thread.
   */
  int acceptBatch(int listenFd, int max) {
    for (int i = 0; i < max; i++) {
      int connection = accept(listenFd);
      if (connection >= 0) {
        admit(connection);
        continue;
      }
      int errno = Errors.ioErrno();
      if (errno == Errors.AGAIN) {
        return Errors.AGAIN;
      }
      if (errno != Errors.RETRY && !LinuxErrno.isTransientAcceptError(errno)) {
        return errno;
      }
    }
    return MORE;
  }

  /** Puts the peer address of the connected socket {@code fd} in the buffer {@link #admit} reads. */
  void readPeer(int fd) throws SocketException {
    byte[] sa = new byte[SockAddr.STORAGE_LENGTH];
    int[] length = {sa.length};
    if (LibC.getpeername(fd, sa, length) < 0) {
      throw Errors.exception("getpeername(fd " + fd + ")", Errors.lastErrno());
    }
    peer.write(0, sa, 0, sa.length);
  }

  /**
   * Decides on the connection {@code fd} whose peer {@code sockaddr} is in the buffer: closes it if
   * refused, otherwise opens its channel and hands it to the acceptor. True if admitted. On the
   * loop thread.
   */
  boolean admit(int fd) {
    accepted++; // one writer, the loop
    int family = peerNative.getShort(0);
    int port = peerBigEndian.getShort(2) & 0xFFFF;
    long high = 0;
    long low = 0;
    PeerCredentials credentials = null;
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
      if (admitFailureLog.due()) {
        log.error("Deciding on a connection to {} failed; it is closed ({} such failures so far)",
            dev.portcullis.policy.IpAddresses.format(localAddress),
            admitFailures, t);
      }
      admitted = false;
    }
    if (!admitted) {
      LibC.close(fd);
      return false;
    }
    int generation = loop.newGeneration();
    JnaChannel channel = new JnaChannel(this, loop, fd, generation, family, high, low, port);
    channel.credentials = credentials;
    loop.register(fd, generation, channel);
    openChannels.incrementAndGet();
    try {
      acceptor.accepted(channel);
    } catch (Throwable t) {
      channel.close(); // first: if the log line fails too, the descriptor is still not leaked
      log.error("Acceptor failed for {}; connection closed", channel, t);
    }
    return true;
  }

  /** Connections this gate has been given so far (any thread). */
  long accepted() {
    return accepted;
  }

  @Override
  public void released(JnaChannel channel) {
    try {
      acceptor.released(channel);
    } catch (Throwable t) {
      log.error("Acceptor failed on the release of {}", channel, t);
    }
    if (openChannels.decrementAndGet() == 0 && whenAllReleased != null) {
      whenAllReleased.run();
    }
  }

  /** The loop stopped, on request ({@code failure} null) or because it failed; on the loop thread. */
  void listenerStopped(Throwable failure) {
    try {
      acceptor.listenerStopped(failure);
    } catch (Throwable t) {
      log.error("Acceptor failed while the listener of {} stopped",
          dev.portcullis.policy.IpAddresses.format(localAddress), t);
    }
  }
}
