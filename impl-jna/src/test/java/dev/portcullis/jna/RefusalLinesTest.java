package dev.portcullis.jna;

import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.portcullis.RunningServer;
import dev.portcullis.Server;
import dev.portcullis.spi.LogCapture;
import java.io.IOException;
import java.net.Socket;
import java.time.Duration;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * The refusal lines stay at one a second per kind, but what they hold back is not lost: each
 * denial is either a line of its own or counted, with its distinct sources, in the next line.
 */
@Timeout(60)
class RefusalLinesTest {
  private static final Pattern MORE = Pattern.compile("; (\\d+) more since the last line, from (at least )?(\\d+) sources?\\)");

  @RegisterExtension
  final LogCapture log = new LogCapture();

  @Test
  void everyDenialIsALineOrCountedWithItsSourcesInTheNext() throws Exception {
    try (RunningServer server = Server.on(0).bindAddress("127.0.0.1").allow("127.0.0.1").handle(c -> {}).start()) {
      // A burst from three hosts, faster than one line a second.
      for (int i = 0; i < 30; i++) {
        deniedFrom("127.0.0." + (2 + i % 3), server);
      }
      // A fourth host now and then, until a line has told of every denial.
      long deadline = System.nanoTime() + Duration.ofSeconds(20).toNanos();
      boolean told = false;
      while (!told && System.nanoTime() < deadline) {
        Thread.sleep(200);
        long denied = server.stats().denied();
        told = denied > 30 && told(denied);
        if (!told) {
          deniedFrom("127.0.0.5", server);
        }
      }
      List<String> lines = log.lines("Denied 127.0.0.");
      assertTrue(told, "lines and what they held back add up to the denials: " + server.stats().denied() + "\n"
          + String.join("\n", lines));
      int most = 0;
      for (String l : lines) {
        Matcher m = MORE.matcher(l);
        if (m.find()) {
          int sources = Integer.parseInt(m.group(3));
          assertTrue(sources <= Math.min(4, Long.parseLong(m.group(1))), l);
          most = Math.max(most, sources);
        }
      }
      assertTrue(most >= 2, "the burst's held-back denials came from several hosts:\n" + String.join("\n", lines));
    }
  }

  /** Whether the lines so far, each with the denials it says it held back, account for {@code denied}. */
  private boolean told(long denied) {
    long accounted = 0;
    for (String l : log.lines("Denied 127.0.0.")) {
      Matcher m = MORE.matcher(l);
      accounted += 1 + (m.find() ? Long.parseLong(m.group(1)) : 0);
    }
    return accounted == denied;
  }

  private static void deniedFrom(String host, RunningServer server) throws IOException {
    try (Socket s = Clients.connect(host, server.localAddress())) {
      s.setSoTimeout(5000);
      try {
        s.getInputStream().read(); // the server closes a denied peer at once
      } catch (IOException reset) {
        // closed with unread data: a reset, as good as an end of stream here
      }
    }
  }
}
