package dev.portcullis.examples;

import java.util.ArrayList;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.extension.AfterEachCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * The processes a test started (services in their own JVM, HAProxy, backends), each asked to stop
 * after the test and killed if it has not within 10 s. Register with {@code @RegisterExtension}.
 */
final class StartedProcesses extends ArrayList<Process> implements AfterEachCallback {
  private static final long serialVersionUID = 1L;

  @Override
  public void afterEach(ExtensionContext context) throws InterruptedException {
    for (Process p : this) {
      p.toHandle().destroy();
      p.waitFor(10, TimeUnit.SECONDS);
      p.destroyForcibly();
    }
    clear();
  }
}
