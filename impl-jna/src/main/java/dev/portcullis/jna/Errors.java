package dev.portcullis.jna;

import com.sun.jna.Native;
import dev.portcullis.NativeSocketException;
import java.net.BindException;
import java.net.SocketException;

/**
 * The one place where errno becomes an exception. Messages read like {@code listen(fd 12, backlog
 * 512) failed: EOPNOTSUPP (Operation not supported)}, and every exception made here carries the
 * errno: as a {@link NativeSocketException}, or for a {@link BindException} as its cause.
 */
final class Errors {
  private Errors() {}

  /** {@link #ioErrno()} for {@code EAGAIN}: nothing can be done now; wait for readiness. */
  static final int AGAIN = 0;
  /** {@link #ioErrno()} for {@code EINTR}: a signal came before the call did anything; call again. */
  static final int RETRY = -1;

  /** The errno of the calling thread's last failed native call. */
  static int lastErrno() {
    return Native.getLastError();
  }

  /**
   * The errno of the non-blocking {@code read}, {@code send} or {@code accept4} that just failed,
   * with the two that are not failures mapped, as Netty's {@code Errors.ioResult} does: {@link
   * #AGAIN} for {@code EAGAIN}, {@link #RETRY} for {@code EINTR}; anything else is the errno itself,
   * always positive. Reads the errno as JNA saved it ({@link Native#getLastError()}), so it neither
   * throws nor allocates: the accept path, which must not do either, uses it as it is.
   */
  static int ioErrno() {
    int errno = Native.getLastError();
    return errno == LinuxErrno.EAGAIN ? AGAIN : errno == LinuxErrno.EINTR ? RETRY : errno;
  }

  /**
   * What a non-blocking {@code read} or {@code send} on {@code fd} that returned {@code result}
   * means to its caller: the result itself when it is 0 or more, else {@link #ioErrno()}'s {@link
   * #AGAIN} (0) or {@link #RETRY}; any other errno is thrown. The message, {@code call(fd N)
   * failed: ...}, is built only then.
   *
   * @throws SocketException a {@link NativeSocketException} with the errno
   */
  static long ioResult(long result, String call, int fd) throws SocketException {
    if (result >= 0) {
      return result;
    }
    int errno = ioErrno();
    if (errno == AGAIN || errno == RETRY) {
      return errno;
    }
    throw exception(call + "(fd " + fd + ")", errno);
  }

  /** An exception for a failed call, {@code call} being the call with its arguments. */
  static SocketException exception(String call, int errno) {
    NativeSocketException e = nativeException(call, errno);
    return errno == LinuxErrno.EADDRINUSE ? withCause(new BindException(e.getMessage()), e) : e;
  }

  /** A failed {@code bind}: in-use and permission errors become {@link BindException}. */
  static SocketException bindException(String call, int errno, int port) {
    if (errno == LinuxErrno.EACCES) {
      return bindFailure(call + " failed: EACCES (" + describe(errno) + "): port " + port
          + (port < 1024 ? " is below 1024 and needs root or CAP_NET_BIND_SERVICE" : " is not permitted"), call, errno);
    }
    if (errno == LinuxErrno.EADDRINUSE) {
      return bindFailure(call + " failed: EADDRINUSE (" + describe(errno) + "): port " + port
          + " is already in use", call, errno);
    }
    return exception(call, errno);
  }

  /**
   * A {@link BindException} saying {@code message}, for a failed {@code call}: the {@link
   * NativeSocketException} it would have thrown, with the errno, is the cause.
   */
  static BindException bindFailure(String message, String call, int errno) {
    return withCause(new BindException(message), nativeException(call, errno));
  }

  /**
   * The one message format of a failed call: {@code listen(fd 12, backlog 512) failed: EOPNOTSUPP
   * (Operation not supported)}, as {@link NativeSocketException} writes it.
   */
  static String message(String call, int errno) {
    return nativeException(call, errno).getMessage();
  }

  private static NativeSocketException nativeException(String call, int errno) {
    return new NativeSocketException(call, errno, LinuxErrno.name(errno), describe(errno));
  }

  private static BindException withCause(BindException e, NativeSocketException cause) {
    e.initCause(cause);
    return e;
  }

  static String describe(int errno) {
    String s = LibC.strerror(errno);
    return s == null ? "unknown error" : s;
  }
}
