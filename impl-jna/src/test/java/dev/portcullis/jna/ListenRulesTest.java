package dev.portcullis.jna;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.portcullis.NativeSocketException;
import dev.portcullis.RunningServer;
import dev.portcullis.Server;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** The libc manual's listening rules, proved on real sockets: what reaches listen(2), and each errno. */
@Timeout(60)
class ListenRulesTest {

  @Test
  void requestedBacklogReachesListenAndShowsAsSendQ() throws Exception {
    String ss = ExternalTool.require("ss");
    try (RunningServer server = Server.on(0).bindAddress("127.0.0.1").backlog(37).allowAll()
        .handle(c -> {}).start()) {
      int port = server.port();
      Process p = new ProcessBuilder(ss, "-Hltn", "sport = :" + port).redirectErrorStream(true).start();
      String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
      assertTrue(p.waitFor(10, TimeUnit.SECONDS));
      // State Recv-Q Send-Q Local-Address:Port Peer-Address:Port
      String[] columns = out.split("\\s+");
      assertEquals("LISTEN", columns[0], out);
      assertEquals("37", columns[2], "Send-Q of a listening socket is its backlog: " + out);
    }
  }

  @Test
  void listenOnDatagramSocketFailsWithEopnotsupp() {
    int fd = LibC.socket(LibC.AF_INET, LibC.SOCK_DGRAM | LibC.SOCK_CLOEXEC, 0);
    assertTrue(fd >= 0);
    try {
      NativeSocketException e = assertThrows(NativeSocketException.class, () -> Sockets.listen(fd, 5));
      assertEquals("EOPNOTSUPP", e.errnoName());
      assertEquals(LinuxErrno.EOPNOTSUPP, e.errno());
      assertEquals("listen(fd " + fd + ", backlog 5) failed: EOPNOTSUPP (Operation not supported)", e.getMessage());
    } finally {
      LibC.close(fd);
    }
  }

  @Test
  void listenOnNonSocketFailsWithEnotsock() {
    int fd = LibC.eventfd(0, LibC.EFD_CLOEXEC);
    assertTrue(fd >= 0);
    try {
      NativeSocketException e = assertThrows(NativeSocketException.class, () -> Sockets.listen(fd, 5));
      assertEquals("ENOTSOCK", e.errnoName());
      assertTrue(e.getMessage().startsWith("listen(fd " + fd + ", backlog 5) failed: ENOTSOCK ("), e.getMessage());
    } finally {
      LibC.close(fd);
    }
  }

  @Test
  void listenOnClosedDescriptorFailsWithEbadf() {
    int fd = LibC.socket(LibC.AF_INET, LibC.SOCK_STREAM | LibC.SOCK_CLOEXEC, 0);
    LibC.close(fd);
    NativeSocketException e = assertThrows(NativeSocketException.class, () -> Sockets.listen(fd, 5));
    assertEquals("EBADF", e.errnoName());
    assertEquals(LinuxErrno.EBADF, e.errno());
  }

  @Test
  void privilegedPortWithoutCapabilityIsBindExceptionNamingThePort() throws Exception {
    int port = 81;
    Path unprivilegedStart = Path.of("/proc/sys/net/ipv4/ip_unprivileged_port_start");
    if (Files.exists(unprivilegedStart)) {
      // Files.readString sees only the first byte of this zero-size procfs file on JDK 17; lines work.
      int start = Integer.parseInt(Files.readAllLines(unprivilegedStart).get(0).strip());
      assumeTrue(start > port, "this kernel lets anyone bind port " + port + " (ip_unprivileged_port_start="
          + start + ")");
    }
    List<String> command = new ArrayList<>();
    if ("root".equals(System.getProperty("user.name"))) {
      // Root has CAP_NET_BIND_SERVICE; drop it from the child's bounding set to be refused as anyone else is.
      command.addAll(List.of(ExternalTool.require("setpriv"), "--bounding-set", "-net_bind_service",
          "--inh-caps", "-net_bind_service"));
    }
    command.addAll(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
        "-cp", System.getProperty("java.class.path"), BindProbe.class.getName(), String.valueOf(port)));
    Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertTrue(p.waitFor(30, TimeUnit.SECONDS));
    assertTrue(out.contains("java.net.BindException"), out);
    assertTrue(out.contains("EACCES") && out.contains("port 81"), out);
    assertTrue(out.contains("CAP_NET_BIND_SERVICE"), out);
  }

  @Test
  void errnoNamesComeFromTheLinuxTable() throws IOException {
    assertEquals("EADDRINUSE", LinuxErrno.name(98));
    assertEquals("EAGAIN", LinuxErrno.name(11));
    assertEquals("errno 9999", LinuxErrno.name(9999));
    assertEquals("Address already in use", Errors.describe(LinuxErrno.EADDRINUSE));
  }
}
