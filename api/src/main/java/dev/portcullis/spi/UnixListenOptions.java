package dev.portcullis.spi;

import java.nio.file.Path;
import java.util.Objects;
import java.util.Optional;
import java.util.OptionalInt;

/**
 * Where and how a transport listens on a Unix domain socket: a path in the file system, or a name
 * in Linux's abstract namespace (no file, no permissions).
 *
 * @param path the socket file, or empty for an abstract socket
 * @param abstractName the abstract name (without the leading NUL), or empty for a path
 * @param mode the permission bits of the socket file ({@code 0660}); the file never has looser ones
 * @param owner the uid to give the file, or empty to keep the process's
 * @param group the gid to give the file, or empty to keep the process's
 * @param backlog passed to {@code listen(2)} as is
 */
public record UnixListenOptions(Optional<Path> path, Optional<String> abstractName, int mode, OptionalInt owner,
    OptionalInt group, int backlog) {
  /** The most bytes of a path or name the kernel takes ({@code sun_path} is 108 with its NUL). */
  public static final int MAX_PATH_BYTES = 107;

  /**
   * Checks the values.
   *
   * @param path the socket file, or empty
   * @param abstractName the abstract name, or empty
   * @param mode permission bits, {@code 0..0777}
   * @param owner a uid, or empty
   * @param group a gid, or empty
   * @param backlog at least 1
   * @throws IllegalArgumentException if not exactly one of path and name is given, or a value is out
   *     of range
   */
  public UnixListenOptions {
    Objects.requireNonNull(path, "path");
    Objects.requireNonNull(abstractName, "abstractName");
    Objects.requireNonNull(owner, "owner");
    Objects.requireNonNull(group, "group");
    if (path.isPresent() == abstractName.isPresent()) {
      throw new IllegalArgumentException("give either a path or an abstract name");
    }
    if (mode < 0 || mode > 0777) {
      throw new IllegalArgumentException("mode " + Integer.toOctalString(mode) + " is not within 0..0777");
    }
    if (backlog < 1) {
      throw new IllegalArgumentException("Backlog must be at least 1: " + backlog);
    }
  }
}
