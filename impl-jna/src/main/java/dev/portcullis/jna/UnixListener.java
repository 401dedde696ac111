package dev.portcullis.jna;

import dev.portcullis.AbstractSocketAddress;
import dev.portcullis.spi.Acceptor;
import dev.portcullis.spi.Listener;
import dev.portcullis.spi.Endpoint;
import java.io.IOException;
import java.net.BindException;
import java.net.SocketAddress;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.SecureRandom;
import java.util.EnumSet;
import java.util.Set;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A listening Unix domain socket: a file in the file system, or a name in the abstract namespace.
 *
 * <p>A socket file gets its permissions without a window: the socket is bound under a private
 * directory (mode 0700, so nobody else can reach it whatever the umask), given its mode, owner
 * and group there, and then hard-linked to the requested path, which fails rather than replace
 * anything that appeared there meanwhile. The private name is then removed. A file already at the
 * path is replaced only if it is a socket that refuses connections (stale); a live socket or
 * anything else makes the listener fail and is left alone. On close, the file is removed if it is
 * still the one this listener created.
 */
final class UnixListener implements Listener {
  private static final Logger log = LoggerFactory.getLogger(UnixListener.class);
  private static final int S_IFMT = 0170000;
  private static final int S_IFSOCK = 0140000;
  private static final SecureRandom RANDOM = new SecureRandom();

  private final ListeningSocket socket;
  private final Path path;
  private final Object fileKey;

  private UnixListener(ListeningSocket socket, Path path, Object fileKey) {
    this.socket = socket;
    this.path = path;
    this.fileKey = fileKey;
  }

  /** Listens on an {@link Endpoint.UnixPath} or an {@link Endpoint.UnixAbstract}, on {@code loops} loops. */
  static Listener open(Endpoint endpoint, int loops, Acceptor acceptor) throws IOException {
    int fd = LibC.socket(LibC.AF_UNIX, LibC.SOCK_STREAM | LibC.SOCK_NONBLOCK | LibC.SOCK_CLOEXEC, 0);
    if (fd < 0) {
      throw Errors.exception("socket(AF_UNIX, SOCK_STREAM)", Errors.lastErrno());
    }
    try {
      if (endpoint instanceof Endpoint.UnixAbstract abstractSocket) {
        String name = abstractSocket.name();
        byte[] sa = SockAddr.encodeUnix(name.getBytes(StandardCharsets.UTF_8), true);
        if (LibC.bind(fd, sa, sa.length) < 0) {
          int errno = Errors.lastErrno();
          String call = "bind(fd " + fd + ", @" + name + ")";
          if (errno == LinuxErrno.EADDRINUSE) {
            throw Errors.bindFailure("abstract socket @" + name + " is in use by another process", call, errno);
          }
          throw Errors.exception(call, errno);
        }
        Sockets.listen(fd, abstractSocket.backlog());
        return ListeningSocket.start(fd, loops, acceptor, new AbstractSocketAddress(name), false);
      }
      Endpoint.UnixPath options = (Endpoint.UnixPath) endpoint;
      Path target = options.path().toAbsolutePath();
      removeIfStale(target);
      Object key = bindPrivatelyAndLink(fd, target, options);
      try {
        ListeningSocket socket = ListeningSocket.start(fd, loops, acceptor, UnixDomainSocketAddress.of(target), false);
        return new UnixListener(socket, target, key);
      } catch (IOException | RuntimeException e) {
        Files.deleteIfExists(target);
        throw e;
      }
    } catch (IOException | RuntimeException e) {
      LibC.close(fd);
      throw e;
    }
  }

  /**
   * A socket nobody answers on, and that no socket in the kernel is bound to, is left over from a
   * server that died: remove it. Anything else stays.
   */
  private static void removeIfStale(Path target) throws IOException {
    if (!Files.exists(target, LinkOption.NOFOLLOW_LINKS)) {
      return;
    }
    int mode = (Integer) Files.getAttribute(target, "unix:mode", LinkOption.NOFOLLOW_LINKS);
    if ((mode & S_IFMT) != S_IFSOCK) {
      throw new FileAlreadyExistsException(target.toString(), null,
          "exists and is not a socket; it is left alone (remove it or choose another path)");
    }
    Object before = fileKey(target);
    try (SocketChannel probe = SocketChannel.open(StandardProtocolFamily.UNIX)) {
      probe.configureBlocking(false); // a live server with a full backlog must not hang start()
      probe.connect(UnixDomainSocketAddress.of(target));
      throw new BindException(target + ": a live socket answers there (is another server running?)");
    } catch (java.net.ConnectException refused) {
      // Refused: stale, or bound by a process that has not called listen() yet. The kernel knows.
      if (boundInKernel(target)) {
        throw new BindException(target + ": a socket is bound there but not listening yet; it is left alone");
      }
      if (!before.equals(fileKey(target))) {
        throw new BindException(target + " changed while the server was checking it; it is left alone");
      }
      log.info("Replacing stale socket file {} (nothing answers on it)", target);
      Files.delete(target);
    } catch (java.net.SocketException e) {
      if (e instanceof BindException) {
        throw e;
      }
      throw new BindException(target + ": cannot tell whether the socket there is live (" + e.getMessage()
          + "); it is left alone");
    }
  }

  /** Whether {@code /proc/net/unix} lists a socket bound to this path. */
  private static boolean boundInKernel(Path target) {
    String wanted = " " + target;
    try {
      for (String line : Files.readAllLines(Path.of("/proc/net/unix"), StandardCharsets.UTF_8)) {
        if (line.endsWith(wanted)) {
          return true;
        }
      }
      return false;
    } catch (IOException e) {
      return true; // cannot tell: do not delete
    }
  }

  private static Object fileKey(Path path) throws IOException {
    return Files.readAttributes(path, java.nio.file.attribute.BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS)
        .fileKey();
  }

  /**
   * Binds under a private directory beside the target, sets mode and owner, links into place. Every
   * step after the directory is made goes through a descriptor of it ({@code /proc/self/fd/N/s}),
   * so renaming the directory or planting a symlink in the parent cannot redirect the bind, the
   * chmod or the chown to another file.
   */
  private static Object bindPrivatelyAndLink(int fd, Path target, Endpoint.UnixPath options) throws IOException {
    Path parent = target.getParent();
    Path dir = null;
    for (int attempt = 0; dir == null; attempt++) {
      Path candidate = parent.resolve(".pcl" + Integer.toHexString(0x10000 + RANDOM.nextInt(0xF0000)));
      try {
        dir = Files.createDirectory(candidate,
            PosixFilePermissions.asFileAttribute(EnumSet.of(PosixFilePermission.OWNER_READ,
                PosixFilePermission.OWNER_WRITE, PosixFilePermission.OWNER_EXECUTE)));
      } catch (FileAlreadyExistsException taken) {
        if (attempt > 16) {
          throw taken;
        }
      }
    }
    int dirFd = LibC.open(dir.toString(), LibC.O_RDONLY | LibC.O_DIRECTORY | LibC.O_NOFOLLOW | LibC.O_CLOEXEC, 0);
    if (dirFd < 0) {
      int errno = Errors.lastErrno();
      Files.deleteIfExists(dir);
      throw Errors.exception("open(" + dir + ", O_DIRECTORY | O_NOFOLLOW)", errno);
    }
    Path anchored = Path.of("/proc/self/fd/" + dirFd);
    Path temp = anchored.resolve("s");
    try {
      // Ours and private, or someone swapped it before it was opened: then stop.
      int owner = (Integer) Files.getAttribute(anchored, "unix:uid");
      int mode = (Integer) Files.getAttribute(anchored, "unix:mode");
      if (owner != (Integer) Files.getAttribute(Path.of("/proc/self"), "unix:uid") || (mode & 0777) != 0700) {
        throw new IOException(dir + " was replaced while the server was starting (owner " + owner + ", mode 0"
            + Integer.toOctalString(mode & 0777) + "); is " + parent + " writable by others?");
      }
      byte[] sa = SockAddr.encodeUnix(temp.toString().getBytes(StandardCharsets.UTF_8), false);
      if (LibC.bind(fd, sa, sa.length) < 0) {
        throw Errors.exception("bind(fd " + fd + ", " + dir + "/s)", Errors.lastErrno());
      }
      Sockets.listen(fd, options.backlog());
      Files.setPosixFilePermissions(temp, permissions(options.mode()));
      if (options.owner().isPresent()) {
        Files.setAttribute(temp, "unix:uid", options.owner().getAsInt(), LinkOption.NOFOLLOW_LINKS);
      }
      if (options.group().isPresent()) {
        Files.setAttribute(temp, "unix:gid", options.group().getAsInt(), LinkOption.NOFOLLOW_LINKS);
      }
      Object key = fileKey(temp);
      try {
        Files.createLink(target, temp);
      } catch (FileAlreadyExistsException raced) {
        throw new BindException(target + " appeared while the server was starting; it is left alone");
      }
      return key;
    } finally {
      Files.deleteIfExists(temp);
      LibC.close(dirFd);
      Files.deleteIfExists(dir);
    }
  }

  private static Set<PosixFilePermission> permissions(int mode) {
    StringBuilder sb = new StringBuilder();
    String letters = "rwxrwxrwx";
    for (int bit = 8; bit >= 0; bit--) {
      sb.append((mode & (1 << bit)) != 0 ? letters.charAt(8 - bit) : '-');
    }
    return PosixFilePermissions.fromString(sb.toString());
  }

  @Override
  public SocketAddress localAddress() {
    return socket.localAddress();
  }

  /**
   * Removes the socket file if it is still the one created here, then stops accepting. The file
   * goes first, while the socket still listens, so a server starting meanwhile sees a live socket
   * rather than a stale one it would replace, and so no new client can reach the socket while the
   * connections already queued are accepted.
   */
  @Override
  public void stopAccepting() {
    removeFile();
    socket.stopAccepting();
  }

  @Override
  public void close() {
    removeFile();
    socket.close();
  }

  private void removeFile() {
    try {
      if (fileKey.equals(fileKey(path))) {
        Files.delete(path);
      } else {
        log.warn("{} is no longer the socket this server created; left alone", path);
      }
    } catch (java.nio.file.NoSuchFileException gone) {
      // removed by someone else, or by an earlier close
    } catch (IOException e) {
      log.warn("Could not remove socket file {}: {}", path, e.toString());
    }
  }

  /** On JDK 21+ with {@code java.lang} open to this module: see {@link LoopCarriers}. */
  @Override
  public boolean loopCarriedExecutors() {
    return LoopCarriers.offered();
  }
}
