package dev.portcullis.spi;

import java.net.InetAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Objects;
import java.util.Optional;
import java.util.OptionalInt;

/**
 * Where a server listens: one value for every kind, each checking itself where it is built. The
 * {@code Server} factories ({@code on}, {@code onUnix}, {@code onAbstract}) make one (and {@code
 * fromSystemd}, {@code fromInetd} one {@link Inherited} at start), and a transport switches on it in {@link Transport#open}, as
 * Netty's {@code Socket.bind} switches on the {@code SocketAddress} type.
 *
 * <pre>{@code
 * if (endpoint instanceof Endpoint.Tcp tcp) {
 *     return openTcp(tcp);              // (a pattern switch on JDK 21+)
 * } else if (endpoint instanceof Endpoint.UnixPath unix) {
 *     return openUnix(unix);
 * } ...
 * }</pre>
 *
 * The SPI says what is bound, not what the server decides: a systemd or inetd declaration stays in
 * the builder, and the server resolves it against the process's environment into an {@link
 * Inherited} endpoint before a transport sees it; a kernel filter is an {@link OpenOptions} of its
 * own.
 */
public sealed interface Endpoint
    permits Endpoint.Tcp, Endpoint.UnixPath, Endpoint.UnixAbstract, Endpoint.Inherited {
  /** The most bytes of a Unix socket path or abstract name the kernel takes ({@code sun_path} is 108 with its NUL). */
  int MAX_UNIX_PATH_BYTES = 107;

  /** The default backlog, as {@code Server.DEFAULT_BACKLOG}. */
  int DEFAULT_BACKLOG = 1024;

  /** The default mode of a Unix socket file: read and write for its owner only. */
  int DEFAULT_UNIX_MODE = 0600;

  /**
   * How messages name this endpoint: {@code port 7000}, {@code /run/app.sock}, {@code abstract
   * socket @app}, {@code systemd socket 'web'}, {@code inetd}.
   *
   * @return a short description
   */
  String describe();

  /**
   * Whether peers come over a Unix domain socket (a path or an abstract name), so they are decided
   * by their credentials rather than an address. An {@link Inherited} socket answers {@code false}:
   * its family is known from the address it is bound to.
   *
   * @return {@code true} for {@link UnixPath} and {@link UnixAbstract}
   */
  default boolean isLocal() {
    return false;
  }

  /**
   * A TCP port on one local address or all of them.
   *
   * @param bindAddress the local address; empty means the wildcard, dual-stack {@code ::} where
   *     IPv6 is available and {@code 0.0.0.0} where it is not. An explicit {@code ::} is dual-stack
   *     too ({@code IPV6_V6ONLY} off); {@code 0.0.0.0} is IPv4 only.
   * @param port {@code 0..65535}; 0 lets the kernel pick a free port
   * @param backlog passed to {@code listen(2)} as is; the kernel caps it at {@code somaxconn}
   */
  record Tcp(Optional<InetAddress> bindAddress, int port, int backlog)
      implements Endpoint {
    /**
     * Checks the values.
     *
     * @param bindAddress the local address, or empty for the wildcard
     * @param port {@code 0..65535}
     * @param backlog at least 1
     * @throws IllegalArgumentException if the port or backlog is out of range
     */
    public Tcp {
      Objects.requireNonNull(bindAddress, "bindAddress");
      if (port < 0 || port > 65535) {
        throw new IllegalArgumentException("Port out of range: " + port + " (expected 0..65535; 0 picks a free port)");
      }
      checkBacklog(backlog);
    }

    /**
     * All local addresses, the default backlog.
     *
     * @param port {@code 0..65535}
     * @throws IllegalArgumentException if the port is out of range
     */
    public Tcp(int port) {
      this(Optional.empty(), port, DEFAULT_BACKLOG);
    }

    /**
     * This endpoint on one local address.
     *
     * @param address the address to bind
     * @return the new endpoint
     */
    public Tcp withBindAddress(InetAddress address) {
      return new Tcp(Optional.of(Objects.requireNonNull(address, "address")), port, backlog);
    }

    /**
     * This endpoint with another backlog.
     *
     * @param n at least 1
     * @return the new endpoint
     * @throws IllegalArgumentException if {@code n < 1}
     */
    public Tcp withBacklog(int n) {
      return new Tcp(bindAddress, port, n);
    }

    @Override
    public String describe() {
      return "port " + port;
    }

    /**
     * The endpoint with its address as people write it: {@code Tcp[127.0.0.1:7000, backlog 512]},
     * {@code Tcp[*:0, backlog 4096]} for all local addresses.
     *
     * @return the text
     */
    @Override
    public String toString() {
      String where = bindAddress
          .map(a -> dev.portcullis.policy.IpAddresses.format(new java.net.InetSocketAddress(a, port)))
          .orElse("*:" + port);
      return "Tcp[" + where + ", backlog " + backlog + "]";
    }
  }

  /**
   * A Unix domain socket file.
   *
   * @param path the socket file; its absolute UTF-8 form at most {@value #MAX_UNIX_PATH_BYTES} bytes
   * @param mode the permission bits of the socket file ({@code 0660}); the file never has looser ones
   * @param owner the uid to give the file, or empty to keep the process's
   * @param group the gid to give the file, or empty to keep the process's
   * @param backlog passed to {@code listen(2)} as is
   */
  record UnixPath(Path path, int mode, OptionalInt owner, OptionalInt group, int backlog) implements Endpoint {
    /**
     * Checks the values.
     *
     * @param path the socket file
     * @param mode {@code 0..0777}
     * @param owner a uid, or empty
     * @param group a gid, or empty
     * @param backlog at least 1
     * @throws IllegalArgumentException if the path is empty or too long, or a value is out of range
     */
    public UnixPath {
      Objects.requireNonNull(path, "path");
      Objects.requireNonNull(owner, "owner");
      Objects.requireNonNull(group, "group");
      if (path.toString().isEmpty()) {
        throw new IllegalArgumentException("A Unix socket path cannot be empty");
      }
      // Measured as it will be bound and reported: a relative path is resolved against the cwd.
      String text = path.toAbsolutePath().toString();
      int bytes = text.getBytes(StandardCharsets.UTF_8).length;
      if (bytes > MAX_UNIX_PATH_BYTES) {
        throw new IllegalArgumentException("Unix socket path '" + text + "' is " + bytes + " bytes; the kernel takes"
            + " at most " + MAX_UNIX_PATH_BYTES + " (sun_path): use a shorter path");
      }
      if (mode < 0 || mode > 0777) {
        throw new IllegalArgumentException("Mode 0" + Integer.toOctalString(mode) + " is not within 0..0777"
            + likelyOctal(mode));
      }
      checkBacklog(backlog);
    }

    /**
     * The default mode ({@code 0600}), owner, group and backlog.
     *
     * @param path the socket file
     * @throws IllegalArgumentException if the path is empty or too long
     */
    public UnixPath(Path path) {
      this(path, DEFAULT_UNIX_MODE, OptionalInt.empty(), OptionalInt.empty(), DEFAULT_BACKLOG);
    }

    /**
     * This endpoint with another mode.
     *
     * @param newMode {@code 0..0777}
     * @return the new endpoint
     * @throws IllegalArgumentException if out of range
     */
    public UnixPath withMode(int newMode) {
      return new UnixPath(path, newMode, owner, group, backlog);
    }

    /**
     * This endpoint with the file given to this uid.
     *
     * @param uid the owner
     * @return the new endpoint
     */
    public UnixPath withOwner(int uid) {
      return new UnixPath(path, mode, OptionalInt.of(uid), group, backlog);
    }

    /**
     * This endpoint with the file given to this gid.
     *
     * @param gid the group
     * @return the new endpoint
     */
    public UnixPath withGroup(int gid) {
      return new UnixPath(path, mode, owner, OptionalInt.of(gid), backlog);
    }

    /**
     * This endpoint with another backlog.
     *
     * @param n at least 1
     * @return the new endpoint
     * @throws IllegalArgumentException if {@code n < 1}
     */
    public UnixPath withBacklog(int n) {
      return new UnixPath(path, mode, owner, group, n);
    }

    @Override
    public String describe() {
      return path.toString();
    }

    @Override
    public boolean isLocal() {
      return true;
    }
  }

  /**
   * A name in Linux's abstract socket namespace: no file, no permissions, so a server on one needs
   * credential rules.
   *
   * @param name the name, without the leading NUL; 1 to {@value #MAX_UNIX_PATH_BYTES} bytes of UTF-8
   * @param backlog passed to {@code listen(2)} as is
   */
  record UnixAbstract(String name, int backlog) implements Endpoint {
    /**
     * Checks the values.
     *
     * @param name the name
     * @param backlog at least 1
     * @throws IllegalArgumentException if the name is empty, too long or contains NUL, or the
     *     backlog is below 1
     */
    public UnixAbstract {
      Objects.requireNonNull(name, "name");
      int bytes = name.getBytes(StandardCharsets.UTF_8).length;
      if (name.isEmpty() || name.indexOf('\0') >= 0 || bytes > MAX_UNIX_PATH_BYTES) {
        throw new IllegalArgumentException("Abstract socket name '" + name + "' must be 1 to "
            + MAX_UNIX_PATH_BYTES + " bytes without NUL (it is " + bytes + ")");
      }
      checkBacklog(backlog);
    }

    /**
     * This endpoint with another backlog.
     *
     * @param n at least 1
     * @return the new endpoint
     * @throws IllegalArgumentException if {@code n < 1}
     */
    public UnixAbstract withBacklog(int n) {
      return new UnixAbstract(name, n);
    }

    @Override
    public String describe() {
      return "abstract socket @" + name;
    }

    @Override
    public boolean isLocal() {
      return true;
    }

    /**
     * The endpoint with its name as {@code ss -x} shows it: {@code UnixAbstract[@name, backlog 4096]}.
     *
     * @return the text
     */
    @Override
    public String toString() {
      return "UnixAbstract[@" + name + ", backlog " + backlog + "]";
    }
  }

  /**
   * A socket this process was given open ({@code Server.fromSystemd()}, {@code fromInetd()}),
   * resolved by the server from its environment before the transport sees it.
   *
   * @param socket the descriptor and what it is
   */
  record Inherited(InheritedSocket socket) implements Endpoint {
    /**
     * Checks the value.
     *
     * @param socket not null
     */
    public Inherited {
      Objects.requireNonNull(socket, "socket");
    }

    @Override
    public String describe() {
      return socket.description();
    }
  }

  /**
   * {@code mode(600)} is decimal 600; the permission bits were almost surely meant in octal: say
   * so when the decimal digits read as an octal mode in range.
   */
  private static String likelyOctal(int mode) {
    String digits = Integer.toString(mode);
    if (mode > 0 && digits.chars().allMatch(c -> c >= '0' && c <= '7') && Integer.parseInt(digits, 8) <= 0777) {
      return " (it is decimal " + mode + "); did you mean 0" + digits + "? In Java an octal literal starts with 0:"
          + " mode(0" + digits + ")";
    }
    return "";
  }

  private static void checkBacklog(int backlog) {
    if (backlog < 1) {
      throw new IllegalArgumentException("Backlog must be at least 1: " + backlog);
    }
  }
}
