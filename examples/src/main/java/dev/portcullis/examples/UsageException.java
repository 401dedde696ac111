package dev.portcullis.examples;

/** A bad command line: the launcher prints the message and the usage, and exits with status 2. */
public final class UsageException extends RuntimeException {
  private static final long serialVersionUID = 1L;

  /**
   * A usage error that says what was wrong.
   *
   * @param message what is wrong with the command line
   */
  public UsageException(String message) {
    super(message);
  }
}
