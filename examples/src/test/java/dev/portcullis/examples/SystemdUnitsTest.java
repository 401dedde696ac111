package dev.portcullis.examples;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** The sample units in {@code examples/systemd} pass {@code systemd-analyze verify}. */
@Timeout(60)
class SystemdUnitsTest {
  @Test
  void sampleUnitsVerify(@TempDir Path dir) throws Exception {
    String analyze = Tools.require("systemd-analyze");
    String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    List<String> cmd = new ArrayList<>(List.of(analyze, "verify"));
    try (Stream<Path> units = Files.list(Path.of("systemd"))) {
      for (Path unit : units.sorted().toList()) {
        // The samples say /usr/bin/java; verify checks that the command exists, so use this JVM's.
        Path copy = dir.resolve(unit.getFileName());
        Files.writeString(copy, Files.readString(unit).replace("/usr/bin/java", java));
        cmd.add(copy.toString());
      }
    }
    assertEquals(6, cmd.size(), "four units: " + cmd);
    Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertTrue(p.waitFor(30, TimeUnit.SECONDS));
    assertEquals(0, p.exitValue(), out);
    assertEquals("", out.strip());
  }
}
