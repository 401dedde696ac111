package dev.portcullis.netty;

import static org.junit.jupiter.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.File;

/**
 * Tests that need a real tool ({@code ss}, {@code setpriv}, ...) call {@link #require}. On a
 * developer machine without the tool the test is skipped with a message; in CI ({@code CI} set),
 * where {@code .ci/run} installs every tool, a missing tool fails the test instead.
 */
final class ExternalTool {
  private ExternalTool() {}

  static String require(String name) {
    String path = System.getenv().getOrDefault("PATH", "/usr/bin:/bin");
    for (String dir : path.split(File.pathSeparator)) {
      File f = new File(dir, name);
      if (f.canExecute()) {
        return f.getPath();
      }
    }
    for (String dir : new String[] {"/usr/sbin", "/sbin", "/usr/bin", "/bin"}) {
      File f = new File(dir, name);
      if (f.canExecute()) {
        return f.getPath();
      }
    }
    if (System.getenv("CI") != null) {
      fail(name + " is not installed; .ci/run must install it");
    }
    assumeTrue(false, name + " is not installed; skipping (CI installs it)");
    return null;
  }
}
