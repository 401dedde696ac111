package dev.portcullis.spi;

/**
 * A socket this process was given open, rather than one a transport opens: a listening socket
 * from systemd socket activation, or one connection from inetd or systemd's {@code Accept=yes}.
 *
 * @param descriptor the file descriptor, 0 or more
 * @param connected {@code true} for one already-connected stream (inetd style), {@code false} for
 *     a listening socket
 * @param description where it came from, for messages: {@code fd 3 (systemd, name "web")}
 * @param alsoPassed the other descriptors passed with it and not served here; the transport marks
 *     them close-on-exec too, so processes the server starts do not inherit them
 */
public record InheritedSocket(int descriptor, boolean connected, String description, java.util.List<Integer> alsoPassed) {
  /**
   * Checks the values.
   *
   * @param descriptor 0 or more
   * @param connected whether it is one connection rather than a listener
   * @param description for messages, not null
   * @param alsoPassed the other passed descriptors
   * @throws IllegalArgumentException if the descriptor is negative
   */
  public InheritedSocket {
    if (descriptor < 0) {
      throw new IllegalArgumentException("A file descriptor is 0 or more: " + descriptor);
    }
    java.util.Objects.requireNonNull(description, "description");
    alsoPassed = java.util.List.copyOf(alsoPassed);
  }

  /**
   * A socket passed alone.
   *
   * @param descriptor the file descriptor, 0 or more
   * @param connected whether it is one connection rather than a listener
   * @param description for messages, not null
   */
  public InheritedSocket(int descriptor, boolean connected, String description) {
    this(descriptor, connected, description, java.util.List.of());
  }
}
