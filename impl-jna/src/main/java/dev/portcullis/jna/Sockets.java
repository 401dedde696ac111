package dev.portcullis.jna;

import dev.portcullis.spi.InheritedSocket;
import dev.portcullis.spi.Endpoint;
import java.io.IOException;
import java.net.Inet6Address;
import java.net.InetAddress;
import java.net.SocketException;

/**
 * The Java-friendly layer over {@link LibC} for setting sockets up: each call checks its return
 * value and turns errno into an exception through {@link Errors}, closing what it opened on the
 * way out.
 */
final class Sockets {
  private Sockets() {}

  private static final InetAddress ANY6 = address(new byte[16]);
  private static final InetAddress ANY4 = address(new byte[4]);

  /**
   * {@code count} bound, non-blocking TCP sockets for these options, not listening yet (so that a
   * kernel filter can be attached first; see {@link #listen}). More than one: each has {@code
   * SO_REUSEPORT} and they share the port the first one got, so the kernel spreads new connections
   * over their accept queues by a hash of the peer's address and port. Only sockets of the same
   * effective user can join such a group (the kernel refuses others with {@code EADDRINUSE}). On
   * failure every socket opened is closed.
   */
  static int[] openTcpSockets(Endpoint.Tcp options, int count) throws IOException {
    int[] fds = new int[count];
    int opened = 0;
    try {
      fds[0] = openTcpSocket(options, options.port(), count > 1);
      opened = 1;
      if (count > 1) {
        int port = ((java.net.InetSocketAddress) localAddress(fds[0])).getPort();
        for (; opened < count; opened++) {
          fds[opened] = openTcpSocket(options, port, true);
        }
      }
      return fds;
    } catch (IOException | RuntimeException e) {
      for (int i = 0; i < opened; i++) {
        LibC.close(fds[i]);
      }
      throw e;
    }
  }

  /** A bound, non-blocking TCP socket for these options on {@code port}, not listening yet. */
  private static int openTcpSocket(Endpoint.Tcp options, int port, boolean reusePort) throws IOException {
    boolean wildcard = options.bindAddress().isEmpty();
    InetAddress bindTo = options.bindAddress().orElse(ANY6);
    int domain = bindTo instanceof Inet6Address ? LibC.AF_INET6 : LibC.AF_INET;
    int fd = LibC.socket(domain, LibC.SOCK_STREAM | LibC.SOCK_NONBLOCK | LibC.SOCK_CLOEXEC, 0);
    if (fd < 0 && wildcard && Errors.lastErrno() == LinuxErrno.EAFNOSUPPORT) {
      // No IPv6 on this machine: the default wildcard falls back to IPv4.
      bindTo = ANY4;
      domain = LibC.AF_INET;
      fd = LibC.socket(domain, LibC.SOCK_STREAM | LibC.SOCK_NONBLOCK | LibC.SOCK_CLOEXEC, 0);
    }
    if (fd < 0) {
      throw Errors.exception("socket(" + (domain == LibC.AF_INET6 ? "AF_INET6" : "AF_INET")
          + ", SOCK_STREAM)", Errors.lastErrno());
    }
    try {
      setInt(fd, LibC.SOL_SOCKET, LibC.SO_REUSEADDR, 1, "SO_REUSEADDR");
      if (reusePort) {
        setInt(fd, LibC.SOL_SOCKET, LibC.SO_REUSEPORT, 1, "SO_REUSEPORT");
      }
      if (domain == LibC.AF_INET6) {
        // Dual-stack only on the wildcard '::'; a specific IPv6 address is IPv6 only anyway.
        setInt(fd, LibC.IPPROTO_IPV6, LibC.IPV6_V6ONLY, bindTo.isAnyLocalAddress() ? 0 : 1, "IPV6_V6ONLY");
      }
      // Accepted sockets inherit TCP_NODELAY from the listener, saving a syscall per connection.
      setInt(fd, LibC.IPPROTO_TCP, LibC.TCP_NODELAY, 1, "TCP_NODELAY");
      byte[] sa = SockAddr.encode(bindTo, port);
      if (LibC.bind(fd, sa, sa.length) < 0) {
        throw Errors.bindException("bind(fd " + fd + ", " + SockAddr.describe(bindTo, port) + ")",
            Errors.lastErrno(), port);
      }
      return fd;
    } catch (IOException | RuntimeException e) {
      LibC.close(fd);
      throw e;
    }
  }

  /**
   * Checks that an inherited descriptor is what it should be (a TCP socket, listening or
   * connected), then makes it non-blocking and close-on-exec, so it is not leaked to children.
   */
  static void adopt(InheritedSocket socket) throws IOException {
    int fd = socket.descriptor();
    String what = socket.description();
    int[] value = new int[1];
    if (LibC.getsockopt(fd, LibC.SOL_SOCKET, LibC.SO_TYPE, value, new int[] {4}) < 0) {
      int errno = Errors.lastErrno();
      if (errno == LinuxErrno.EBADF) {
        throw new SocketException(what + " is not an open descriptor");
      }
      if (errno == LinuxErrno.ENOTSOCK) {
        throw new SocketException(what + " is not a socket"
            + (socket.connected() ? " (run under inetd or systemd Accept=yes)" : ""));
      }
      throw Errors.exception("getsockopt(" + what + ", SO_TYPE)", errno);
    }
    if (value[0] != LibC.SOCK_STREAM) {
      throw new SocketException(what + " is not a stream socket (SO_TYPE " + value[0] + "); use ListenStream=");
    }
    int domain = getInt(fd, LibC.SOL_SOCKET, LibC.SO_DOMAIN, "SO_DOMAIN");
    if (domain != LibC.AF_INET && domain != LibC.AF_INET6 && domain != LibC.AF_UNIX) {
      throw new SocketException(what + " is of family " + domain
          + "; this transport serves TCP (AF_INET, AF_INET6) and Unix domain (AF_UNIX) sockets");
    }
    boolean listening = getInt(fd, LibC.SOL_SOCKET, LibC.SO_ACCEPTCONN, "SO_ACCEPTCONN") != 0;
    if (listening == socket.connected()) {
      throw new SocketException(what + (listening ? " is a listening socket, not one connection (Accept=no?)"
          : " is not listening (SO_ACCEPTCONN is 0); a connection passed with Accept=yes needs the inetd mode"));
    }
    int flags = LibC.fcntl(fd, LibC.F_GETFL, 0);
    if (flags < 0 || LibC.fcntl(fd, LibC.F_SETFL, flags | LibC.O_NONBLOCK) < 0) {
      throw Errors.exception("fcntl(" + what + ", F_SETFL, O_NONBLOCK)", Errors.lastErrno());
    }
    int fdFlags = LibC.fcntl(fd, LibC.F_GETFD, 0);
    if (fdFlags < 0 || LibC.fcntl(fd, LibC.F_SETFD, fdFlags | LibC.FD_CLOEXEC) < 0) {
      throw Errors.exception("fcntl(" + what + ", F_SETFD, FD_CLOEXEC)", Errors.lastErrno());
    }
    // The sockets passed beside it are not served here, but no child should inherit them either.
    for (int other : socket.alsoPassed()) {
      int otherFlags = LibC.fcntl(other, LibC.F_GETFD, 0);
      if (otherFlags >= 0) {
        LibC.fcntl(other, LibC.F_SETFD, otherFlags | LibC.FD_CLOEXEC);
      }
    }
  }

  /** {@code listen(fd, backlog)}, the backlog passed as is. */
  static void listen(int fd, int backlog) throws SocketException {
    if (LibC.listen(fd, backlog) < 0) {
      throw Errors.exception("listen(fd " + fd + ", backlog " + backlog + ")", Errors.lastErrno());
    }
  }

  static void setInt(int fd, int level, int option, int value, String name) throws SocketException {
    if (LibC.setsockopt(fd, level, option, new int[] {value}, 4) < 0) {
      throw Errors.exception("setsockopt(fd " + fd + ", " + name + ", " + value + ")", Errors.lastErrno());
    }
  }

  static int getInt(int fd, int level, int option, String name) throws SocketException {
    int[] value = new int[1];
    if (LibC.getsockopt(fd, level, option, value, new int[] {4}) < 0) {
      throw Errors.exception("getsockopt(fd " + fd + ", " + name + ")", Errors.lastErrno());
    }
    return value[0];
  }

  static java.net.SocketAddress localAddress(int fd) throws SocketException {
    byte[] sa = new byte[SockAddr.STORAGE_LENGTH];
    int[] length = {sa.length};
    if (LibC.getsockname(fd, sa, length) < 0) {
      throw Errors.exception("getsockname(fd " + fd + ")", Errors.lastErrno());
    }
    return SockAddr.decodeAny(sa, length[0]);
  }

  static java.net.SocketAddress peerAddress(int fd) throws SocketException {
    byte[] sa = new byte[SockAddr.STORAGE_LENGTH];
    int[] length = {sa.length};
    if (LibC.getpeername(fd, sa, length) < 0) {
      throw Errors.exception("getpeername(fd " + fd + ")", Errors.lastErrno());
    }
    return SockAddr.decodeAny(sa, length[0]);
  }

  /** The kernel's record of a Unix domain socket peer, or null if it cannot be read. */
  static dev.portcullis.policy.PeerCredentials peerCredentials(int fd) {
    int[] ucred = new int[3];
    int[] length = {12};
    if (LibC.getsockopt(fd, LibC.SOL_SOCKET, LibC.SO_PEERCRED, ucred, length) < 0 || length[0] < 12) {
      return null;
    }
    return new dev.portcullis.policy.PeerCredentials(ucred[0], ucred[1], ucred[2]);
  }

  private static InetAddress address(byte[] raw) {
    return dev.portcullis.policy.IpAddresses.fromBytes(raw);
  }
}
