package dev.portcullis.examples;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** {@code portcullis admin} in its own JVM, driven by {@code socat} as the owner and as another user. */
@Timeout(60)
class AdminConsoleTest {
  private static String socat(List<String> prefix, Path socket, String input) throws Exception {
    List<String> cmd = new java.util.ArrayList<>(prefix);
    cmd.addAll(List.of(Tools.require("socat"), "-t", "5", "-", "UNIX-CONNECT:" + socket));
    Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
    try (java.io.OutputStream toClient = p.getOutputStream()) {
      toClient.write(input.getBytes(StandardCharsets.UTF_8));
    } catch (java.io.IOException exitedAlready) {
      // a client refused at once may be gone before it reads its input
    }
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertTrue(p.waitFor(20, TimeUnit.SECONDS));
    return out;
  }

  @Test
  void onlyTheOwningUserGetsTheConsole(@TempDir Path dir) throws Exception {
    int uid = (Integer) Files.getAttribute(Path.of("/proc/self"), "unix:uid");
    Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwxr-xr-x"));
    Path socket = dir.resolve("admin-console.sock");
    // --mode 0666 lets any user reach the file, so the uid rule alone keeps others out
    Process p = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-cp",
        System.getProperty("java.class.path"), Launcher.class.getName(), "admin", "--socket", socket.toString(),
        "--mode", "0666").redirectError(ProcessBuilder.Redirect.INHERIT).start();
    try (BufferedReader out = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
      assertEquals("listening on " + socket.toAbsolutePath() + " for uid " + uid, out.readLine());
      String owner = socat(List.of(), socket, "whoami\nfrobnicate\nquit\n");
      assertTrue(owner.startsWith("portcullis admin; 'help' lists the commands\nuid=" + uid + " gid="), owner);
      assertTrue(owner.contains("unknown command 'frobnicate'") && owner.endsWith("bye\n"), owner);

      assumeTrue(uid == 0, "running a client as another user needs root");
      String nobody = socat(List.of(Tools.require("setpriv"), "--reuid=65534", "--regid=65534", "--clear-groups"),
          socket, "whoami\n");
      assertFalse(nobody.contains("portcullis admin"), "uid 65534 is refused by its credentials: " + nobody);
      String stats = socat(List.of(), socket, "stats\nquit\n");
      assertTrue(stats.contains("denied=1"), stats);
    } finally {
      p.toHandle().destroy();
      p.waitFor(10, TimeUnit.SECONDS);
      p.destroyForcibly();
    }
    assertFalse(Files.exists(socket), "the socket file goes away with the console");
  }
}
