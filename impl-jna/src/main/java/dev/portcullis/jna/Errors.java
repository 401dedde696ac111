package dev.portcullis.jna;

import com.sun.jna.Native;
import dev.portcullis.NativeSocketException;
import java.net.BindException;
import java.net.SocketException;

/**
 * The one place where errno becomes an exception. Messages read like {@code listen(fd 12, backlog
 * 512) failed: EOPNOTSUPP (Operation not supported)}.
 */
final class Errors {
  private Errors() {}

  /** The errno of the calling thread's last failed native call. */
  static int lastErrno() {
    return Native.getLastError();
  }

  /** An exception for a failed call, {@code call} being the call with its arguments. */
  static SocketException exception(String call, int errno) {
    String message = call + " failed: " + LinuxErrno.name(errno) + " (" + describe(errno) + ")";
    if (errno == LinuxErrno.EADDRINUSE) {
      return new BindException(message);
    }
    return new NativeSocketException(call, errno, LinuxErrno.name(errno), describe(errno));
  }

  /** A failed {@code bind}: in-use and permission errors become {@link BindException}. */
  static SocketException bindException(String call, int errno, int port) {
    if (errno == LinuxErrno.EACCES) {
      return new BindException(call + " failed: EACCES (" + describe(errno) + "): port " + port
          + (port < 1024 ? " is below 1024 and needs root or CAP_NET_BIND_SERVICE" : " is not permitted"));
    }
    if (errno == LinuxErrno.EADDRINUSE) {
      return new BindException(call + " failed: EADDRINUSE (" + describe(errno) + "): port " + port
          + " is already in use");
    }
    return exception(call, errno);
  }

  static String describe(int errno) {
    String s = LibC.strerror(errno);
    return s == null ? "unknown error" : s;
  }
}
