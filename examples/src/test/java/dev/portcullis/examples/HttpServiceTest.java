package dev.portcullis.examples;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** {@code portcullis http} in its own JVM behind a real HAProxy sending PROXY v2, reached with {@code curl}. */
@Timeout(90)
class HttpServiceTest {
  private final List<Process> started = new ArrayList<>();

  @AfterEach
  void stop() throws InterruptedException {
    for (Process p : started) {
      p.toHandle().destroy();
      p.waitFor(10, TimeUnit.SECONDS);
      p.destroyForcibly();
    }
  }

  private static int freePort() throws Exception {
    try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getByName("127.0.0.1"))) {
      return s.getLocalPort();
    }
  }

  private static String[] curl(String from, int port, String path) throws Exception {
    Process p = new ProcessBuilder(Tools.require("curl"), "-s", "-S", "--max-time", "10", "--interface", from,
        "-w", "\n%{http_code}", "http://127.0.0.1:" + port + path).start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertTrue(p.waitFor(20, TimeUnit.SECONDS));
    return new String[] {String.valueOf(p.exitValue()), out};
  }

  @Test
  void behindHaproxyThePolicyAndTheGreetingSeeTheRealClient(@TempDir Path dir) throws Exception {
    String haproxy = Tools.require("haproxy");
    Process svc = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-cp",
        System.getProperty("java.class.path"), Launcher.class.getName(), "http", "--port", "0", "--bind", "127.0.0.1",
        "--proxy-protocol", "127.0.0.1/32", "--allow", "127.0.0.0/8", "--deny", "127.0.0.6")
        .redirectError(ProcessBuilder.Redirect.INHERIT).start();
    started.add(svc);
    String first = new BufferedReader(new InputStreamReader(svc.getInputStream(), StandardCharsets.UTF_8)).readLine();
    assertTrue(first != null && first.startsWith("listening on 127.0.0.1:"), String.valueOf(first));
    int backend = Integer.parseInt(first.substring(first.lastIndexOf(':') + 1));

    int frontend = freePort();
    Path cfg = Files.writeString(dir.resolve("haproxy.cfg"), String.join("\n",
        "global", "  maxconn 64",
        "defaults", "  mode tcp", "  timeout connect 5s", "  timeout client 10s", "  timeout server 10s",
        "frontend fe", "  bind 127.0.0.1:" + frontend, "  default_backend be",
        "backend be", "  server s1 127.0.0.1:" + backend + " send-proxy-v2", ""));
    Process hap = new ProcessBuilder(haproxy, "-db", "-f", cfg.toString()).redirectErrorStream(true)
        .redirectOutput(dir.resolve("haproxy.log").toFile()).start();
    started.add(hap);
    boolean up = false;
    for (int i = 0; i < 100 && !up; i++) {
      try (Socket probe = new Socket("127.0.0.1", frontend)) {
        up = true;
      } catch (java.io.IOException notYet) {
        Thread.sleep(100);
      }
    }
    assertTrue(up, "haproxy did not start: " + Files.readString(dir.resolve("haproxy.log")));

    assertEquals("0", curl("127.0.0.5", frontend, "/hello")[0]);
    assertEquals("hello 127.0.0.5\n\n200", curl("127.0.0.5", frontend, "/hello")[1], "the real client, not HAProxy");
    assertEquals("ok\n\n200", curl("127.0.0.5", frontend, "/health")[1]);
    assertEquals("not found\n\n404", curl("127.0.0.5", frontend, "/nope")[1]);
    String[] denied = curl("127.0.0.6", frontend, "/hello");
    assertNotEquals("0", denied[0], "127.0.0.6 is denied by its own rule although HAProxy is allowed: " + denied[1]);
    String[] direct = curl("127.0.0.5", backend, "/hello");
    assertNotEquals("0", direct[0], "straight to the service, without a PROXY header from a trusted proxy: refused");
  }
}
