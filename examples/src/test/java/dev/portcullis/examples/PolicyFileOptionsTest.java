package dev.portcullis.examples;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** {@code --policy FILE} with {@code --policy-max-bytes N}, through the launcher's {@code check}. */
@Timeout(60)
class PolicyFileOptionsTest {
  private final ByteArrayOutputStream out = new ByteArrayOutputStream();
  private final ByteArrayOutputStream err = new ByteArrayOutputStream();

  private int run(String... args) {
    return Launcher.run(args, new ByteArrayInputStream(new byte[0]), new PrintStream(out, true, StandardCharsets.UTF_8),
        new PrintStream(err, true, StandardCharsets.UTF_8));
  }

  @Test
  void aPolicyFileOverPolicyMaxBytesIsRefusedNamingTheOption(@TempDir Path dir) throws Exception {
    Path policy = Files.writeString(dir.resolve("p.policy"), "allow 10.0.0.0/8\n"); // 17 bytes
    assertEquals(2, run("check", "--policy", policy.toString(), "--policy-max-bytes", "16", "10.1.2.3"));
    String e = err.toString(StandardCharsets.UTF_8);
    assertTrue(e.contains("portcullis check: " + policy + ": 17 bytes, more than the limit of 16 bytes"
        + " (--policy-max-bytes N sets it)"), e);
    assertEquals(0, run("check", "--policy", policy.toString(), "--policy-max-bytes", "17", "10.1.2.3"),
        err.toString(StandardCharsets.UTF_8));
    assertTrue(out.toString(StandardCharsets.UTF_8).contains("10.1.2.3 allow"), out.toString(StandardCharsets.UTF_8));
  }

  @Test
  void aPolicyPathThatIsADirectoryIsRefusedSayingSo(@TempDir Path dir) {
    assertEquals(2, run("check", "--policy", dir.toString(), "10.1.2.3"));
    String e = err.toString(StandardCharsets.UTF_8);
    assertTrue(e.contains("portcullis check: " + dir + ": not a regular file but a directory"), e);
  }
}
