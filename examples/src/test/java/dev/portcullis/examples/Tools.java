package dev.portcullis.examples;

import static org.junit.jupiter.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.File;

/**
 * Real tools the example tests drive. Missing on a developer machine: the test is skipped with a
 * message. Missing in CI ({@code CI} set, where {@code .ci/run} installs them): the test fails.
 */
final class Tools {
  private Tools() {}

  static String require(String name) {
    for (String dir : (System.getenv().getOrDefault("PATH", "/usr/bin:/bin") + ":/usr/sbin:/sbin").split(File.pathSeparator)) {
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
