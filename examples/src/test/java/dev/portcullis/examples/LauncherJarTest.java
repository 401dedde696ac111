package dev.portcullis.examples;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The built artifacts, as a user runs them (this class runs at {@code verify}, after {@code
 * package}): the {@code portcullis} command next to the jar, and the jar's {@code
 * Enable-Native-Access} manifest entry, which keeps JDK 22+ from warning that JNA loads native
 * code. Run on whichever JDK runs the build; CI runs it on 17 and on the newest installed.
 */
@Timeout(60)
class LauncherJarTest {
  private static final Path TARGET = Path.of("target").toAbsolutePath();

  private record Run(int status, String out, String err) {}

  private static Run run(List<String> command) throws IOException, InterruptedException {
    ProcessBuilder pb = new ProcessBuilder(command);
    pb.environment().put("JAVA_HOME", System.getProperty("java.home"));
    pb.environment().remove("JAVA_OPTS");
    Path err = Files.createTempFile("portcullis-err", ".txt");
    try {
      Process p = pb.redirectError(err.toFile()).start();
      String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
      assertTrue(p.waitFor(30, TimeUnit.SECONDS), String.join(" ", command));
      return new Run(p.exitValue(), out, Files.readString(err));
    } finally {
      Files.deleteIfExists(err);
    }
  }

  @Test
  void thePortcullisCommandRunsTheLauncher() throws Exception {
    Path command = TARGET.resolve("portcullis");
    assertTrue(Files.isExecutable(command), command + " is built and executable");
    Run help = run(List.of(command.toString(), "--help"));
    assertEquals(0, help.status(), help.err());
    assertTrue(help.out().startsWith("usage: portcullis COMMAND"), help.out());
    Run echoHelp = run(List.of(command.toString(), "echo", "--help"));
    assertTrue(echoHelp.out().startsWith("usage: portcullis echo --port P"), echoHelp.out());
    Run bad = run(List.of(command.toString(), "echo", "--frob"));
    assertEquals(2, bad.status());
    assertTrue(bad.err().contains("see 'portcullis echo --help'"), bad.err());
  }

  @Test
  void theJarStartsWithoutTheNativeAccessWarning() throws Exception {
    Run demo = run(List.of(TARGET.resolve("portcullis").toString(), "demo"));
    assertEquals(0, demo.status(), demo.err());
    assertTrue(demo.out().contains("denied 1, handled 1"), demo.out());
    assertFalse(demo.err().contains("restricted method") || demo.err().contains("enable-native-access"),
        "no native-access warning on JDK " + Runtime.version().feature() + ": " + demo.err());
  }
}
