package dev.portcullis.jna;

import dev.portcullis.spi.ListenOptions;
import java.io.IOException;
import java.net.Inet6Address;
import java.net.InetAddress;
import java.net.InetSocketAddress;
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

  /** A bound, listening, non-blocking TCP socket for these options. */
  static int openTcpListener(ListenOptions options) throws IOException {
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
      if (domain == LibC.AF_INET6) {
        // Dual-stack only on the wildcard '::'; a specific IPv6 address is IPv6 only anyway.
        setInt(fd, LibC.IPPROTO_IPV6, LibC.IPV6_V6ONLY, bindTo.isAnyLocalAddress() ? 0 : 1, "IPV6_V6ONLY");
      }
      // Accepted sockets inherit TCP_NODELAY from the listener, saving a syscall per connection.
      setInt(fd, LibC.IPPROTO_TCP, LibC.TCP_NODELAY, 1, "TCP_NODELAY");
      byte[] sa = SockAddr.encode(bindTo, options.port());
      if (LibC.bind(fd, sa, sa.length) < 0) {
        throw Errors.bindException("bind(fd " + fd + ", " + SockAddr.describe(bindTo, options.port()) + ")",
            Errors.lastErrno(), options.port());
      }
      listen(fd, options.backlog());
      return fd;
    } catch (IOException | RuntimeException e) {
      LibC.close(fd);
      throw e;
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

  static InetSocketAddress localAddress(int fd) throws SocketException {
    byte[] sa = new byte[SockAddr.STORAGE_LENGTH];
    if (LibC.getsockname(fd, sa, new int[] {sa.length}) < 0) {
      throw Errors.exception("getsockname(fd " + fd + ")", Errors.lastErrno());
    }
    return SockAddr.decode(sa);
  }

  static InetSocketAddress peerAddress(int fd) throws SocketException {
    byte[] sa = new byte[SockAddr.STORAGE_LENGTH];
    if (LibC.getpeername(fd, sa, new int[] {sa.length}) < 0) {
      throw Errors.exception("getpeername(fd " + fd + ")", Errors.lastErrno());
    }
    return SockAddr.decode(sa);
  }

  private static InetAddress address(byte[] raw) {
    try {
      return InetAddress.getByAddress(raw);
    } catch (java.net.UnknownHostException e) {
      throw new AssertionError(e);
    }
  }
}
