package dev.portcullis.examples;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** {@code portcullis echo --unix PATH --mode 0660 --allow-uid N} in its own JVM, with {@code nc -U} and {@code stat}. */
@Timeout(60)
class EchoUnixProcessTest {
  private static String run(String stdin, String... command) throws Exception {
    Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
    try (java.io.OutputStream toClient = p.getOutputStream()) {
      toClient.write(stdin.getBytes(StandardCharsets.UTF_8));
    } catch (java.io.IOException exitedAlready) {
      // a client refused at once may be gone before it reads its input
    }
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertTrue(p.waitFor(20, TimeUnit.SECONDS));
    return out;
  }

  @Test
  void echoOnAUnixSocketHasTheModeServesTheAllowedUidAndRemovesItsFile(@TempDir Path dir) throws Exception {
    String nc = Tools.require("nc");
    String stat = Tools.require("stat");
    int uid = (Integer) Files.getAttribute(Path.of("/proc/self"), "unix:uid");
    Path sock = dir.resolve("echo-service.sock");
    String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    Process p = new ProcessBuilder(List.of(java, "-cp", System.getProperty("java.class.path"),
        Launcher.class.getName(), "echo", "--unix", sock.toString(), "--mode", "0660", "--allow-uid",
        String.valueOf(uid))).redirectError(ProcessBuilder.Redirect.INHERIT).start();
    try (BufferedReader out = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
      assertEquals("listening on " + sock.toAbsolutePath(), out.readLine());
      assertEquals("660\n", run("", stat, "-c", "%a", sock.toString()));
      assertEquals("over unix\n", run("over unix\n", nc, "-U", "-q", "1", sock.toString()));
      assertTrue(p.toHandle().destroy());
      assertTrue(p.waitFor(20, TimeUnit.SECONDS));
      assertEquals("stopped", out.readLine());
      assertFalse(Files.exists(sock, LinkOption.NOFOLLOW_LINKS), "the socket file is removed on stop");
    } finally {
      p.destroyForcibly();
    }
  }
}
