package dev.portcullis.examples;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The launcher's services, stopped with an idle client connected: the client is released at once
 * with an end of stream, and the process exits 0 long before its grace period (30 s here: a
 * service that waited it out would miss the 20 s bound of {@code waitFor}). Ctrl-C is SIGINT, an
 * init system's stop SIGTERM; both stop the same way.
 */
@Timeout(60)
class IdleClientShutdownTest {

  private static Process start(String... args) throws Exception {
    String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    List<String> command = new ArrayList<>(List.of(java, "-cp", System.getProperty("java.class.path"),
        Launcher.class.getName()));
    command.addAll(List.of(args));
    return new ProcessBuilder(command).redirectError(ProcessBuilder.Redirect.INHERIT).start();
  }

  private static int port(BufferedReader out) throws Exception {
    String first = out.readLine();
    assertTrue(first != null && first.startsWith("listening on 127.0.0.1:"), String.valueOf(first));
    return Integer.parseInt(first.substring(first.lastIndexOf(':') + 1).split(" ")[0]);
  }

  private static void signal(Process p, String name) throws Exception {
    Process kill = new ProcessBuilder("kill", "-" + name, String.valueOf(p.pid())).inheritIO().start();
    assertTrue(kill.waitFor(10, TimeUnit.SECONDS) && kill.exitValue() == 0, "kill -" + name);
  }

  @ParameterizedTest
  @CsvSource({"TERM, true", "INT, true", "TERM, false"})
  void echoWithAnIdleClientStopsAtOnce(String signal, boolean spoke) throws Exception {
    Process p = start("echo", "--port", "0", "--bind", "127.0.0.1", "--allow", "127.0.0.0/8", "--grace", "30");
    try (BufferedReader out = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
      int port = port(out);
      try (Socket s = new Socket("127.0.0.1", port)) {
        s.setSoTimeout(20_000);
        if (spoke) {
          s.getOutputStream().write("hi".getBytes(StandardCharsets.US_ASCII));
          assertEquals("hi", new String(s.getInputStream().readNBytes(2), StandardCharsets.US_ASCII));
        }
        signal(p, signal);
        assertEquals(-1, s.getInputStream().read(), "the idle client gets an end of stream");
        assertTrue(p.waitFor(20, TimeUnit.SECONDS), "echo stopped without waiting out its 30 s grace");
      }
      assertEquals("stopped", out.readLine());
      assertEquals(0, p.exitValue(), "a graceful stop is a success");
    } finally {
      p.destroyForcibly();
    }
  }

  @ParameterizedTest
  @CsvSource({"TERM"})
  void httpWithAConnectedClientThatSentNothingStopsWithoutAnAnswer(String signal) throws Exception {
    Process p = start("http", "--port", "0", "--bind", "127.0.0.1", "--allow", "127.0.0.0/8");
    try (BufferedReader out = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
      int port = port(out);
      try (Socket s = new Socket("127.0.0.1", port)) {
        s.setSoTimeout(20_000);
        signal(p, signal);
        assertEquals(-1, s.getInputStream().read(), "released with no answer (no 400 for a request never sent)");
        assertTrue(p.waitFor(20, TimeUnit.SECONDS), "http stopped");
      }
      assertEquals("stopped", out.readLine());
      assertEquals(0, p.exitValue());
    } finally {
      p.destroyForcibly();
    }
  }
}
