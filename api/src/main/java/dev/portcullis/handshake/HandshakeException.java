package dev.portcullis.handshake;

/**
 * Thrown by a {@link HandshakeStep} to refuse a connection. The message says what the peer did
 * wrong; it is logged and never sent to the peer.
 */
public class HandshakeException extends Exception {
  private static final long serialVersionUID = 1L;

  /**
   * A refusal with a message that says what was wrong.
   *
   * @param message what the peer did wrong, for the log
   */
  public HandshakeException(String message) {
    super(message);
  }

  /**
   * A refusal caused by another exception.
   *
   * @param message what the peer did wrong, for the log
   * @param cause the exception that caused the refusal
   */
  public HandshakeException(String message, Throwable cause) {
    super(message, cause);
  }
}
