package dev.portcullis.jna;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.portcullis.AbstractSocketAddress;
import dev.portcullis.Handler;
import dev.portcullis.RunningServer;
import dev.portcullis.Server;
import dev.portcullis.handshake.Identity;
import dev.portcullis.policy.PeerCredentials;
import java.io.IOException;
import java.net.BindException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Unix domain sockets on the real kernel: file permissions, peer credentials, stale and live
 * files, and clients we did not write ({@code socat}, {@code nc -U}), one of them run as another
 * user by {@code setpriv}.
 */
@Timeout(60)
class UnixSocketTest {
  @TempDir Path dir;

  private static final int MY_UID = uid();

  private static int uid() {
    try {
      return (Integer) Files.getAttribute(Path.of("/proc/self"), "unix:uid");
    } catch (IOException e) {
      throw new IllegalStateException(e);
    }
  }

  /** Says who the server thinks the peer is, then echoes one line. */
  private static final Handler WHO = conn -> {
    String who = conn.identity().map(Identity::name).orElse("-");
    conn.output().write((who + "\n").getBytes(StandardCharsets.UTF_8));
    byte[] line = new byte[64];
    int n = conn.input().read(line);
    if (n > 0) {
      conn.output().write(line, 0, n);
    }
  };

  private static String jdkClient(Path socket, String send) throws IOException {
    try (SocketChannel ch = SocketChannel.open(UnixDomainSocketAddress.of(socket))) {
      ch.write(ByteBuffer.wrap(send.getBytes(StandardCharsets.UTF_8)));
      ByteBuffer buf = ByteBuffer.allocate(256);
      while (ch.read(buf) >= 0) {
        if (!buf.hasRemaining()) {
          break;
        }
      }
      return new String(buf.array(), 0, buf.position(), StandardCharsets.UTF_8);
    }
  }

  private static String run(String stdin, String... command) throws Exception {
    Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
    try (java.io.OutputStream in = p.getOutputStream()) {
      in.write(stdin.getBytes(StandardCharsets.UTF_8));
    } catch (IOException exitedAlready) {
      // a client refused at once (the file's mode, a rule) may be gone before it reads its input
    }
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertTrue(p.waitFor(20, TimeUnit.SECONDS), String.join(" ", command));
    return out;
  }

  @Test
  void theKernelsCredentialsAreTheIdentityAndTheFileHasTheModeAndGoesAwayOnClose() throws Exception {
    Path sock = dir.resolve("identity-test.sock");
    long pid = ProcessHandle.current().pid();
    try (RunningServer server = Server.onUnix(sock).mode(0660).allowUid(MY_UID).handle(conn -> {
      PeerCredentials c = conn.attribute(PeerCredentials.class).orElseThrow();
      conn.output().write((conn.identity().orElseThrow() + " " + c.pid() + " " + conn.localAddress() + "\n")
          .getBytes(StandardCharsets.UTF_8));
    }).start()) {
      assertEquals(UnixDomainSocketAddress.of(sock.toAbsolutePath()), server.localAddress());
      assertEquals("660\n", run("", ExternalTool.require("stat"), "-c", "%a", sock.toString()));
      String reply = jdkClient(sock, "");
      assertTrue(reply.startsWith("unix:uid=" + MY_UID + " gid="), reply);
      assertTrue(reply.contains(" pid=" + pid + " " + pid + " " + sock.toAbsolutePath()), reply);
      assertEquals(1, server.stats().handled());
      assertThrows(IllegalStateException.class, server::port, "a Unix socket has no port");
    }
    assertFalse(Files.exists(sock, LinkOption.NOFOLLOW_LINKS), "removed on close");
  }

  @Test
  void ownerAndGroupAreGivenBeforeTheFileAppears() throws Exception {
    assumeTrue(MY_UID == 0, "giving the file to another user needs root");
    Path sock = dir.resolve("owned-file.sock");
    try (RunningServer server = Server.onUnix(sock).mode(0660).owner("nobody").group("nogroup").allowUid(MY_UID)
        .handle(WHO).start()) {
      assertEquals("660 nobody nogroup\n", run("", ExternalTool.require("stat"), "-c", "%a %U %G", sock.toString()));
    }
  }

  @Test
  void socatAndNcConnectAndAUidRuleDecides() throws Exception {
    Path sock = dir.resolve("socat-test.sock");
    try (RunningServer server = Server.onUnix(sock).allowUid(MY_UID).handle(WHO).start()) {
      String socat = run("ping\n", ExternalTool.require("socat"), "-t", "5", "-", "UNIX-CONNECT:" + sock);
      assertTrue(socat.startsWith("uid=" + MY_UID + " ") && socat.endsWith("ping\n"), socat);
      String nc = run("pong\n", ExternalTool.require("nc"), "-U", "-q", "2", sock.toString());
      assertTrue(nc.startsWith("uid=" + MY_UID + " ") && nc.endsWith("pong\n"), nc);
    }
    try (RunningServer server = Server.onUnix(sock).allowAll().denyUid(MY_UID).handle(WHO).start()) {
      String out = run("ping\n", ExternalTool.require("socat"), "-t", "5", "-", "UNIX-CONNECT:" + sock);
      assertFalse(out.contains("uid="), "closed at once, nothing served: " + out);
      assertEquals(1, server.stats().denied());
      assertEquals(0, server.stats().handled());
    }
  }

  @Test
  void anotherUserIsRefusedByUidAndServedWhenItsUidIsAllowed() throws Exception {
    assumeTrue(MY_UID == 0, "setpriv needs root to run the client as uid 65534");
    String setpriv = ExternalTool.require("setpriv");
    String socat = ExternalTool.require("socat");
    Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwxr-xr-x"));
    Path sock = dir.resolve("other-user.sock");
    List<String> asNobody = List.of(setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", socat, "-t", "5", "-",
        "UNIX-CONNECT:" + sock);
    try (RunningServer server = Server.onUnix(sock).mode(0666).allowUid(0).handle(WHO).start()) {
      String out = run("hi\n", asNobody.toArray(new String[0]));
      assertFalse(out.contains("uid="), "closed at once, nothing served: " + out);
      assertEquals(1, server.stats().denied());
    }
    try (RunningServer server = Server.onUnix(sock).mode(0666).allowUid(65534).handle(WHO).start()) {
      String out = run("hi\n", asNobody.toArray(new String[0]));
      assertTrue(out.startsWith("uid=65534 gid=65534 pid=") && out.endsWith("hi\n"), out);
    }
    try (RunningServer server = Server.onUnix(sock).mode(0600).allowUid(65534).handle(WHO).start()) {
      String out = run("hi\n", asNobody.toArray(new String[0]));
      assertTrue(out.contains("Permission denied"), "the file's mode stops it before any rule: " + out);
      assertEquals(0, server.stats().accepted());
    }
  }

  /**
   * {@code maxConnectionsPerSource(2)} on a Unix socket counts peers by uid: root's third
   * connection is refused while root holds two, and a client running as uid 65534 is served; with
   * {@code perSourceByGroup()} the count is by gid, so uid 65534 in group 0 is refused too, and in
   * group 65534 served. Closing one of root's connections frees its slot.
   */
  @Test
  void perSourceLimitsCountUnixPeersByUidOrByGid() throws Exception {
    assumeTrue(MY_UID == 0, "setpriv needs root to run clients as other users");
    String setpriv = ExternalTool.require("setpriv");
    String socat = ExternalTool.require("socat");
    Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwxr-xr-x"));
    Path sock = dir.resolve("per-uid.sock");
    java.util.function.BiFunction<Integer, Integer, String[]> as = (uid, gid) -> new String[] {setpriv,
        "--reuid=" + uid, "--regid=" + gid, "--clear-groups", socat, "-t", "5", "-", "UNIX-CONNECT:" + sock};
    Handler hold = conn -> {
      conn.output().write((conn.identity().map(Identity::name).orElse("-") + "\n").getBytes(StandardCharsets.UTF_8));
      conn.input().read(); // until the client sends a byte or closes
    };
    for (boolean byGroup : new boolean[] {false, true}) {
      Server.UnixBuilder builder = Server.onUnix(sock).mode(0666).allowUid(0).allowUid(65534).maxConnectionsPerSource(2)
          .handle(hold);
      if (byGroup) {
        builder.perSourceByGroup();
      }
      try (RunningServer server = builder.start();
          SocketChannel a = SocketChannel.open(UnixDomainSocketAddress.of(sock));
          SocketChannel b = SocketChannel.open(UnixDomainSocketAddress.of(sock))) {
        assertTrue(Clients.await(() -> server.stats().handled() == 2, java.time.Duration.ofSeconds(5)));
        String third = jdkClient(sock, "");
        assertEquals("", third, "root's third connection is refused at accept (" + (byGroup ? "gid" : "uid") + ")");
        assertEquals(1, server.stats().limited());
        String otherUser = run("x", as.apply(65534, 65534));
        assertTrue(otherUser.startsWith("uid=65534 gid=65534"), "another user and group is its own source: "
            + otherUser);
        String sameGroup = run("x", as.apply(65534, 0));
        if (byGroup) {
          assertFalse(sameGroup.contains("uid="), "by gid, uid 65534 in group 0 shares root's budget: " + sameGroup);
        } else {
          assertTrue(sameGroup.startsWith("uid=65534 gid=0"), "by uid, group 0 does not matter: " + sameGroup);
        }
        a.close();
        assertTrue(Clients.await(() -> server.stats().openConnections() == 1, java.time.Duration.ofSeconds(5)));
        assertTrue(run("x", socat, "-t", "5", "-", "UNIX-CONNECT:" + sock).startsWith("uid=0 "),
            "a closed connection frees its slot");
      }
    }
  }

  @Test
  void theFileIsNeverSeenWithLooserPermissionsThanAsked() throws Exception {
    Path sock = dir.resolve("watched-file.sock");
    AtomicBoolean watching = new AtomicBoolean(true);
    AtomicInteger seen = new AtomicInteger();
    List<String> loose = new ArrayList<>();
    Thread watcher = new Thread(() -> {
      while (watching.get()) {
        try {
          int mode = (Integer) Files.getAttribute(sock, "unix:mode", LinkOption.NOFOLLOW_LINKS);
          seen.incrementAndGet();
          if ((mode & 0777 & ~0600) != 0) {
            loose.add(Integer.toOctalString(mode & 0777));
          }
        } catch (IOException notThereYet) {
          // keep watching
        }
      }
    });
    watcher.start();
    for (int i = 0; i < 20; i++) {
      try (RunningServer server = Server.onUnix(sock).allowUid(MY_UID).handle(WHO).start()) {
        assertTrue(Files.exists(sock, LinkOption.NOFOLLOW_LINKS));
      }
    }
    watching.set(false);
    watcher.join();
    assertTrue(seen.get() > 0, "the watcher saw the file");
    assertEquals(List.of(), loose);
    try (var entries = Files.list(dir)) {
      assertEquals(List.of(), entries.toList(), "no private directory or file is left behind");
    }
  }

  @Test
  void aStaleSocketIsReplacedALiveOneAndOtherFilesAreNot() throws Exception {
    Path sock = dir.resolve("stale-or-live.sock");
    try (ServerSocketChannel other = ServerSocketChannel.open(StandardProtocolFamily.UNIX)) {
      other.bind(UnixDomainSocketAddress.of(sock));
      BindException live = assertThrows(BindException.class,
          () -> Server.onUnix(sock).allowUid(MY_UID).handle(WHO).start());
      assertTrue(live.getMessage().contains(sock.toString()) && live.getMessage().contains("live socket"),
          live.getMessage());
    } // closed without unlinking: the file is stale now
    assertTrue(Files.exists(sock, LinkOption.NOFOLLOW_LINKS));
    try (RunningServer server = Server.onUnix(sock).allowUid(MY_UID).handle(WHO).start()) {
      assertTrue(jdkClient(sock, "x").startsWith("uid=" + MY_UID + " "));
    }

    Path bound = dir.resolve("bound-not-listening.sock");
    int fd = LibC.socket(LibC.AF_UNIX, LibC.SOCK_STREAM, 0);
    try {
      byte[] sa = SockAddr.encodeUnix(bound.toString().getBytes(StandardCharsets.UTF_8), false);
      assertEquals(0, LibC.bind(fd, sa, sa.length)); // refuses connections, yet is not stale
      BindException notYet = assertThrows(BindException.class,
          () -> Server.onUnix(bound).allowUid(MY_UID).handle(WHO).start());
      assertTrue(notYet.getMessage().contains("bound there but not listening"), notYet.getMessage());
      assertTrue(Files.exists(bound, LinkOption.NOFOLLOW_LINKS), "left alone");
    } finally {
      LibC.close(fd);
    }

    Path file = Files.writeString(dir.resolve("not-a-socket"), "precious");
    FileAlreadyExistsException e = assertThrows(FileAlreadyExistsException.class,
        () -> Server.onUnix(file).allowUid(MY_UID).handle(WHO).start());
    assertTrue(e.getMessage().contains("not a socket"), e.getMessage());
    assertEquals("precious", Files.readString(file));
  }

  @Test
  void badPathsAndRulesAreRefusedBeforeAnythingIsCreated() throws Exception {
    String longName = "x".repeat(120);
    IllegalArgumentException tooLong = assertThrows(IllegalArgumentException.class,
        () -> Server.onUnix(dir.resolve(longName)));
    assertTrue(tooLong.getMessage().contains("the kernel takes at most 107"), tooLong.getMessage());
    String relative = "r".repeat(107 - Path.of("").toAbsolutePath().toString().length());
    IllegalArgumentException relativeTooLong = assertThrows(IllegalArgumentException.class,
        () -> Server.onUnix(Path.of(relative)));
    assertTrue(relativeTooLong.getMessage().contains(Path.of(relative).toAbsolutePath().toString()),
        "measured as bound, from the working directory: " + relativeTooLong.getMessage());
    Path sock = dir.resolve("rules.sock");
    IllegalStateException onlyCidr = assertThrows(IllegalStateException.class,
        () -> Server.onUnix(sock).policy(dev.portcullis.policy.AccessPolicy.parse("allow 127.0.0.1")).handle(WHO)
            .start());
    assertTrue(onlyCidr.getMessage().contains("never match a local peer"), onlyCidr.getMessage());
    IllegalStateException noDir = assertThrows(IllegalStateException.class,
        () -> Server.onUnix(dir.resolve("missing/x.sock")).allowAll().handle(WHO).start());
    assertTrue(noDir.getMessage().contains("does not exist"), noDir.getMessage());
    assertFalse(Files.exists(sock));
  }

  @Test
  void anAbstractSocketNeedsACredentialRuleAndServesByIt() throws Exception {
    String name = "portcullis-test-" + ProcessHandle.current().pid();
    IllegalStateException open = assertThrows(IllegalStateException.class,
        () -> Server.onAbstract(name).allowAll().handle(WHO).start());
    assertTrue(open.getMessage().contains("no credential rule"), open.getMessage());
    try (RunningServer viaPolicy = Server.onAbstract(name + "-p")
        .policy(dev.portcullis.policy.AccessPolicy.parse("allow uid " + MY_UID)).handle(WHO).start()) {
      assertEquals(new AbstractSocketAddress(name + "-p"), viaPolicy.localAddress(), "rules from a policy count too");
    }
    try (RunningServer server = Server.onAbstract(name).allowUid(MY_UID).handle(WHO).start()) {
      assertEquals(new AbstractSocketAddress(name), server.localAddress());
      String out = run("abs\n", ExternalTool.require("socat"), "-t", "5", "-", "ABSTRACT-CONNECT:" + name);
      assertTrue(out.startsWith("uid=" + MY_UID + " ") && out.endsWith("abs\n"), out);
      BindException taken = assertThrows(BindException.class,
          () -> Server.onAbstract(name).allowUid(MY_UID).handle(WHO).start());
      assertTrue(taken.getMessage().contains("@" + name), taken.getMessage());
    }
  }
}
