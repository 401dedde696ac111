package dev.portcullis.spi;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.stream.Collectors;
import org.junit.jupiter.api.extension.AfterEachCallback;
import org.junit.jupiter.api.extension.BeforeEachCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * The log lines a test provokes, kept out of the build's console: the tests log through
 * slf4j-simple, which writes each line to whatever {@code System.err} is at that moment, so this
 * extension points {@code System.err} at a buffer for the length of each test. A test asserts the
 * lines it expects ({@link #lines(String)}); a test that fails has everything it logged replayed to
 * the real {@code System.err}, so nothing is lost for diagnosis.
 *
 * <pre>{@code
 * @RegisterExtension
 * final LogCapture log = new LogCapture();
 * ...
 * assertEquals(1, log.lines("Task on the event loop failed").size());
 * }</pre>
 *
 * Lines of other threads written during the test (a server of an earlier test still closing) are
 * captured too; look for the lines you expect, never assert that nothing else was logged.
 */
public final class LogCapture implements BeforeEachCallback, AfterEachCallback {
  private final ByteArrayOutputStream buffer = new ByteArrayOutputStream();
  private PrintStream original;

  /** A capture, started by JUnit before each test of the class that registers it. */
  public LogCapture() {}

  @Override
  public void beforeEach(ExtensionContext context) {
    synchronized (buffer) {
      buffer.reset();
    }
    original = System.err;
    System.setErr(new PrintStream(buffer, true, StandardCharsets.UTF_8));
  }

  @Override
  public void afterEach(ExtensionContext context) {
    System.err.flush();
    System.setErr(original);
    if (context.getExecutionException().isPresent()) {
      original.print(text());
      original.flush();
    }
  }

  /**
   * Everything written to {@code System.err} since the test began.
   *
   * @return the text
   */
  public String text() {
    synchronized (buffer) {
      return buffer.toString(StandardCharsets.UTF_8);
    }
  }

  /**
   * The lines written so far that contain {@code part} (stack trace lines included).
   *
   * @param part the text to look for
   * @return the lines, in the order written
   */
  public List<String> lines(String part) {
    return text().lines().filter(l -> l.contains(part)).collect(Collectors.toList());
  }
}
