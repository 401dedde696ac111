package dev.portcullis.examples;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code check --diff} as a script runs it, in a JVM of its own: the exit status says, as {@code
 * diff(1)}'s does, whether anything changes (0 no, 1 yes) or there was trouble (2).
 */
@Timeout(60)
class CheckDiffProcessTest {
  private record Run(int status, String out, String err) {}

  private static Run check(Path dir, String... args) throws IOException, InterruptedException {
    List<String> command = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
        "-cp", System.getProperty("java.class.path"), Launcher.class.getName(), "check"));
    command.addAll(List.of(args));
    Path err = dir.resolve("err.txt");
    Process p = new ProcessBuilder(command).redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")))
        .redirectError(err.toFile()).start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertTrue(p.waitFor(30, TimeUnit.SECONDS), String.join(" ", command));
    return new Run(p.exitValue(), out, Files.readString(err));
  }

  @Test
  void exitsZeroWhenNothingChangesOneWhenSomethingDoesAndTwoForTrouble(@TempDir Path dir) throws Exception {
    Path old = Files.writeString(dir.resolve("old.policy"), "allow 10.0.0.0/8\n");
    Path same = Files.writeString(dir.resolve("same.policy"), "# the same rule, written again\nallow 10.0.0.0/8\n");
    Path neu = Files.writeString(dir.resolve("new.policy"), "allow 10.0.0.0/8\ndeny 10.1.0.0/16\n");

    Run none = check(dir, "--policy", old.toString(), "--diff", same.toString());
    assertEquals(0, none.status(), none.err());
    assertEquals("", none.out());

    Run ranges = check(dir, "--policy", old.toString(), "--diff", neu.toString());
    assertEquals(1, ranges.status(), ranges.err());
    assertTrue(ranges.out().startsWith("10.1.0.0/16 allow -> deny"), ranges.out());

    Run unchangedAddress = check(dir, "--policy", old.toString(), "--diff", neu.toString(), "10.2.0.1");
    assertEquals(0, unchangedAddress.status(), "the address given does not change: " + unchangedAddress.err());
    Run changedAddress = check(dir, "--policy", old.toString(), "--diff", neu.toString(), "10.2.0.1", "10.1.2.3");
    assertEquals(1, changedAddress.status(), changedAddress.err());
    assertEquals("10.1.2.3 allow -> deny (was 'allow 10.0.0.0/8', now 'deny 10.1.0.0/16')\n", changedAddress.out());

    Run missing = check(dir, "--policy", old.toString(), "--diff", dir.resolve("missing.policy").toString());
    assertEquals(2, missing.status());
    assertTrue(missing.err().contains("missing.policy: no such file"), missing.err());
    Run badAddress = check(dir, "--policy", old.toString(), "--diff", neu.toString(), "10.1.2.3", "10.1.2");
    assertEquals(2, badAddress.status(), "trouble wins over a change, as in diff(1): " + badAddress.err());
    Run usage = check(dir, "--policy", old.toString(), "--diff");
    assertEquals(2, usage.status());
    assertTrue(usage.err().contains("option --diff NEW_POLICY needs a value"), usage.err());
  }
}
