package dev.portcullis;

import java.net.SocketException;

/**
 * A socket call failed with an operating-system error. Carries the call, the errno number and its
 * symbolic name, and reads like {@code listen(fd 12, backlog 512) failed: EOPNOTSUPP (Operation not
 * supported)}.
 */
public class NativeSocketException extends SocketException {
  private static final long serialVersionUID = 1L;

  /** The call and its arguments. */
  private final String call;
  /** The error number. */
  private final int errno;
  /** The error's symbolic name. */
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

  /**
   * The call and its arguments, such as {@code listen(fd 12, backlog 512)}.
   *
   * @return the failed call, as given to the constructor
   */
  public String call() {
    return call;
  }

  /**
   * The error number (the platform's value).
   *
   * @return the errno value
   */
  public int errno() {
    return errno;
  }

  /**
   * The error's symbolic name, such as {@code EOPNOTSUPP}.
   *
   * @return the symbolic name, as given to the constructor
   */
  public String errnoName() {
    return errnoName;
  }

  /**
   * Whether the peer ended the connection rather than anything on this side failing: a reset
   * ({@code ECONNRESET}), a write after the peer closed ({@code EPIPE}) or a peer that stopped
   * answering ({@code ETIMEDOUT}). Decided on the errno's name, never on the message.
   *
   * <pre>{@code
   * new NativeSocketException("recv(fd 9)", 104, "ECONNRESET", "Connection reset by peer").isPeerGone(); // true
   * }</pre>
   *
   * @return {@code true} if the peer went away
   */
  public boolean isPeerGone() {
    return errnoName.equals("ECONNRESET") || errnoName.equals("EPIPE") || errnoName.equals("ETIMEDOUT");
  }
}
