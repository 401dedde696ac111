package dev.portcullis;

import java.net.SocketException;

/**
 * A socket call failed with an operating-system error. Carries the call, the errno number and its
 * symbolic name, and reads like {@code listen(fd 12, backlog 512) failed: EOPNOTSUPP (Operation not
 * supported)}.
 */
public class NativeSocketException extends SocketException {
  private static final long serialVersionUID = 1L;

  private final String call;
  private final int errno;
  private final String errnoName;

  /**
   * @param call the call and its arguments, such as {@code listen(fd 12, backlog 512)}
   * @param errno the error number
   * @param errnoName its symbolic name, such as {@code EOPNOTSUPP}
   * @param description the system's description of the error
   */
  public NativeSocketException(String call, int errno, String errnoName, String description) {
    super(call + " failed: " + errnoName + " (" + description + ")");
    this.call = call;
    this.errno = errno;
    this.errnoName = errnoName;
  }

  /** The call and its arguments, such as {@code listen(fd 12, backlog 512)}. */
  public String call() {
    return call;
  }

  /** The error number (the platform's value). */
  public int errno() {
    return errno;
  }

  /** The error's symbolic name, such as {@code EOPNOTSUPP}. */
  public String errnoName() {
    return errnoName;
  }
}
