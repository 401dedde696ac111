package dev.portcullis.jna;

import com.sun.jna.Native;
import com.sun.jna.NativeLibrary;
import com.sun.jna.Platform;

/**
 * The raw, direct-mapped ({@link Native#register}) binding of the libc calls the transport needs.
 * Arguments are primitives, primitive arrays, or raw addresses passed as {@code long}, so no call
 * allocates a {@code Structure}. Failures return -1 and leave errno for {@link
 * Native#getLastError()}; nothing here throws {@code LastErrorException}.
 *
 * <p>Assumes 64-bit Linux: {@code size_t}/{@code ssize_t} and pointers are mapped as {@code long}.
 */
final class LibC {
  private LibC() {}

  static {
    Native.register(LibC.class, NativeLibrary.getInstance(Platform.C_LIBRARY_NAME));
  }

  static final int AF_UNIX = 1;
  static final int AF_INET = 2;
  static final int AF_INET6 = 10;
  static final int SOCK_STREAM = 1;
  static final int SOCK_DGRAM = 2;
  static final int SOCK_NONBLOCK = 0x800;
  static final int SOCK_CLOEXEC = 0x80000;
  static final int SOL_SOCKET = 1;
  static final int SO_REUSEADDR = 2;
  static final int SO_REUSEPORT = 15;
  static final int SO_TYPE = 3;
  static final int SO_ACCEPTCONN = 30;
  static final int SO_DOMAIN = 39;
  static final int SO_PEERCRED = 17;
  static final int F_GETFD = 1;
  static final int F_SETFD = 2;
  static final int F_GETFL = 3;
  static final int F_SETFL = 4;
  static final int FD_CLOEXEC = 1;
  static final int O_NONBLOCK = 0x800;
  static final int IPPROTO_TCP = 6;
  static final int TCP_NODELAY = 1;
  static final int IPPROTO_IPV6 = 41;
  static final int IPV6_V6ONLY = 26;
  static final int SHUT_WR = 1;
  static final int SHUT_RD = 0;
  static final int SHUT_RDWR = 2;

  static final int EPOLL_CLOEXEC = 0x80000;
  static final int EPOLL_CTL_ADD = 1;
  static final int EPOLL_CTL_DEL = 2;
  static final int EPOLL_CTL_MOD = 3;
  static final int EPOLLIN = 0x001;
  static final int EPOLLOUT = 0x004;
  static final int EPOLLERR = 0x008;
  static final int EPOLLHUP = 0x010;
  static final int EPOLLRDHUP = 0x2000;
  static final int EPOLLONESHOT = 1 << 30;
  /** One listening socket in several epoll sets: wake one idle loop, not all (Linux 4.5+). */
  static final int EPOLLEXCLUSIVE = 1 << 28;
  static final int EPOLLET = 1 << 31;
  static final int EFD_NONBLOCK = 0x800;
  static final int EFD_CLOEXEC = 0x80000;

  // see socket(2)
  static native int socket(int domain, int type, int protocol);

  // see setsockopt(2), getsockopt(2)
  static native int setsockopt(int fd, int level, int name, int[] value, int length);

  static native int getsockopt(int fd, int level, int name, int[] value, int[] length);

  // see bind(2)
  static native int bind(int fd, byte[] address, int length);

  // see listen(2)
  static native int listen(int fd, int backlog);

  // see accept(2); addresses are raw pointers into preallocated native memory
  static native int accept4(int fd, long address, long lengthPointer, int flags);

  // see getsockname(2), getpeername(2)
  static native int getsockname(int fd, byte[] address, int[] length);

  static native int getpeername(int fd, byte[] address, int[] length);

  // see epoll_create1(2), epoll_ctl(2), epoll_wait(2); event is a struct epoll_event as ints
  static native int epoll_create1(int flags);

  static native int epoll_ctl(int epfd, int op, int fd, int[] event);

  static native int epoll_wait(int epfd, long events, int maxEvents, int timeoutMillis);

  // see read(2), write(2)
  static native long read(int fd, long buffer, long count);

  static native long write(int fd, long buffer, long count);

  // see send(2); MSG_NOSIGNAL turns a write to a closed peer into EPIPE instead of SIGPIPE
  static native long send(int fd, long buffer, long count, int flags);

  static final int MSG_NOSIGNAL = 0x4000;

  // see open(2); used for directories only
  static native int open(String path, int flags, int mode);

  static final int O_RDONLY = 0;
  static final int O_CLOEXEC = 0x80000;
  // asm-generic (arm64) and x86 disagree on these two
  static final int O_DIRECTORY = com.sun.jna.Platform.isIntel() ? 0x10000 : 0x4000;
  static final int O_NOFOLLOW = com.sun.jna.Platform.isIntel() ? 0x20000 : 0x8000;

  // see fcntl(2); only the commands that take an int (or nothing) are used
  static native int fcntl(int fd, int command, int argument);

  // see poll(2): fds is one struct pollfd as two ints, {fd, events | revents << 16} (little-endian)
  static native int poll(int[] fds, long nfds, int timeoutMillis);

  static final int POLLIN = 0x001;
  static final int POLLOUT = 0x004;
  static final int POLLRDHUP = 0x2000;

  // see close(2), shutdown(2)
  static native int close(int fd);

  static native int shutdown(int fd, int how);

  // see eventfd(2)
  static native int eventfd(int initialValue, int flags);

  // see strerror(3)
  static native String strerror(int errno);

  // see syscall(2): glibc has no bpf(2) wrapper, so Bpf calls it by number with a union bpf_attr
  static native long syscall(long number, long command, long attr, long size);

  /** The bpf(2) system call's number: x86-64 has its own table; arm64 uses the generic one. */
  static final long SYS_BPF = com.sun.jna.Platform.isIntel() ? 321 : 280;
  /** gettid(2), by number through syscall: the loop's thread id, for /proc/self/task/TID/stat. */
  static final long SYS_GETTID = com.sun.jna.Platform.isIntel() ? 186 : 178;
}
