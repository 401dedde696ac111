package dev.portcullis.jna;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.portcullis.HandlerMode;
import dev.portcullis.RunningServer;
import dev.portcullis.Server;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.io.PrintStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The default executor of a blocking handler on JDK 21+ with {@code java.lang} open (the tests run
 * with {@code --add-opens java.base/java.lang=ALL-UNNAMED}): each connection's virtual thread is
 * carried by the event loop that accepted it, before and after every wait; without the option (a
 * JVM of its own, {@link Main}) handlers keep the JDK's scheduler and one log line names the option.
 */
@Timeout(60)
class LoopCarrierTest {
  /** A handler that answers each line with {@code Thread.currentThread()}, which names a virtual thread's carrier. */
  static RunningServer whereServer(int loops) throws Exception {
    return Server.on(0).bindAddress("127.0.0.1").allow("127.0.0.0/8").eventLoops(loops).handle(conn -> {
      BufferedReader in = new BufferedReader(new InputStreamReader(conn.input(), StandardCharsets.US_ASCII));
      OutputStream out = conn.output();
      for (String line; (line = in.readLine()) != null; ) {
        out.write((line + " " + Thread.currentThread() + "\n").getBytes(StandardCharsets.US_ASCII));
      }
    }).start();
  }

  @Test
  void handlersRunAndResumeOnTheCarrierOfTheLoopThatAcceptedThem() throws Exception {
    assumeTrue(Runtime.version().feature() >= 21, "virtual threads need JDK 21+");
    try (RunningServer server = whereServer(2)) {
      assertEquals(HandlerMode.LOOP_CARRIER, server.handlerMode());
      Set<String> loopsSeen = new HashSet<>();
      List<Socket> clients = new ArrayList<>();
      try {
        for (int c = 0; c < 8; c++) {
          Socket s = Clients.connect("127.0.0.1", server.localAddress());
          s.setSoTimeout(10_000);
          clients.add(s);
        }
        for (Socket s : clients) {
          BufferedReader in = new BufferedReader(new InputStreamReader(s.getInputStream(), StandardCharsets.US_ASCII));
          String carrier = null;
          for (int i = 0; i < 5; i++) { // each line after the first is read after a park: the resume
            s.getOutputStream().write(("ping" + i + "\n").getBytes(StandardCharsets.US_ASCII));
            String reply = in.readLine();
            assertTrue(reply.startsWith("ping" + i + " VirtualThread["), reply);
            assertTrue(reply.contains(",portcullis-handler-" + server.port() + "-"), reply);
            String at = reply.substring(reply.lastIndexOf('@') + 1);
            assertTrue(at.startsWith("portcullis-loop-" + server.port() + "-"), "carried by a loop: " + reply);
            if (carrier == null) {
              carrier = at;
            }
            assertEquals(carrier, at, "one connection, one loop");
          }
          loopsSeen.add(carrier);
        }
      } finally {
        for (Socket s : clients) {
          s.close();
        }
      }
      assertFalse(loopsSeen.isEmpty());
    }
  }

  @Test
  void withoutJavaLangOpenHandlersKeepTheJdkSchedulerAndOneLineNamesTheFlag() throws Exception {
    List<String> command = List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
        "-cp", System.getProperty("java.class.path"), Main.class.getName());
    Path err = Files.createTempFile("carrier", ".err");
    try {
      Process p = new ProcessBuilder(command).redirectError(err.toFile()).start();
      String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
      assertTrue(p.waitFor(60, TimeUnit.SECONDS), "the JVM ends");
      String log = Files.readString(err);
      assertEquals(0, p.exitValue(), out + log);
      List<String> lines = out.lines().toList();
      String flagLine = "add --add-opens java.base/java.lang=ALL-UNNAMED to the java command";
      if (Runtime.version().feature() >= 21) {
        assertEquals("mode VIRTUAL", lines.get(0), out + log);
        assertFalse(lines.get(1).contains("@portcullis-loop-"), lines.get(1));
        assertEquals(1, log.lines().filter(l -> l.contains(flagLine)).count(), log);
        assertTrue(log.contains("because java.base does not open java.lang to ALL-UNNAMED"), log);
      } else {
        assertEquals("mode PLATFORM", lines.get(0), out + log);
        assertFalse(log.contains(flagLine), log);
      }
      assertTrue(lines.get(1).startsWith("hello "), out);
    } finally {
      Files.deleteIfExists(err);
    }
  }

  /** A server without the option: prints its mode and one answer of its handler. */
  public static final class Main {
    public static void main(String[] args) throws Exception {
      PrintStream out = System.out;
      try (RunningServer server = whereServer(1);
          Socket s = Clients.connect("127.0.0.1", server.localAddress())) {
        s.setSoTimeout(10_000);
        out.println("mode " + server.handlerMode());
        s.getOutputStream().write("hello\n".getBytes(StandardCharsets.US_ASCII));
        out.println(new BufferedReader(new InputStreamReader(s.getInputStream(), StandardCharsets.US_ASCII)).readLine());
      }
    }
  }
}
