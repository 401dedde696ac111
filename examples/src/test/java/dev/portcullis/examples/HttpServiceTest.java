package dev.portcullis.examples;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
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
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/** {@code portcullis http} in its own JVM behind a real HAProxy sending PROXY v2, reached with {@code curl}. */
@Timeout(90)
class HttpServiceTest {
  @RegisterExtension final StartedProcesses started = new StartedProcesses();

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

  /**
   * A client that drips one header byte every 0.3 s, each well inside the 2 s idle timeout, is
   * still closed once the whole head has taken longer than {@code --head-timeout 1}; it never got
   * an answer, and the service goes on serving.
   */
  @Test
  void aSlowlorisClientIsClosedByTheHeadDeadlineThoughEachByteBeatsTheIdleTimeout() throws Exception {
    int port = startHttp("--head-timeout", "1", "--idle-timeout", "2");
    try (Socket slow = from("127.0.0.1", port)) {
      slow.getOutputStream().write("GET /health HTTP/1.1\r\nX-Slow: ".getBytes(StandardCharsets.US_ASCII));
      slow.setSoTimeout(300);
      int drips = 0;
      boolean closed = false;
      for (; drips < 50 && !closed; drips++) { // 50 drips: 15 s, far past the 1 s deadline
        try {
          slow.getOutputStream().write('a');
          int b = slow.getInputStream().read();
          assertEquals(-1, b, "no answer to a head that never ended");
          closed = true;
        } catch (java.net.SocketTimeoutException stillOpen) {
          // the byte went in; drip again
        } catch (java.net.SocketException reset) {
          closed = true; // a reset: the server closed while bytes were on their way
        }
      }
      assertTrue(closed, "still open after " + drips + " drips, each inside the idle timeout");
      assertTrue(drips > 1, "closed by the deadline, not at once");
    }
    assertEquals("HTTP/1.1 200 OK", get(from("127.0.0.1", port), "/health"));
  }

  /**
   * {@code --max-per-source 2}: a third connection from 127.0.0.1 is refused while two are open,
   * and 127.0.0.2 still gets in; {@code --max-connections 3} then refuses a fourth from anywhere.
   */
  @Test
  void theConnectionLimitsRefuseTheNewcomerWhileOtherSourcesGetIn() throws Exception {
    int port = startHttp("--max-per-source", "2", "--max-connections", "3", "--loops", "1");
    List<Socket> held = new ArrayList<>();
    try {
      for (int i = 0; i < 2; i++) {
        held.add(from("127.0.0.1", port));
        held.get(i).getOutputStream().write("GET /health HTTP/1.1\r\n".getBytes(StandardCharsets.US_ASCII));
      }
      assertNull(get(from("127.0.0.1", port), "/health"), "a third from 127.0.0.1 is refused");
      Socket second = from("127.0.0.2", port);
      held.add(second);
      second.getOutputStream().write("GET /health HTTP/1.1\r\n".getBytes(StandardCharsets.US_ASCII));
      assertNull(get(from("127.0.0.3", port), "/health"), "a fourth in all is refused");
      for (Socket s : held) {
        s.getOutputStream().write("\r\n".getBytes(StandardCharsets.US_ASCII));
        assertEquals("HTTP/1.1 200 OK", statusLine(s), "the two from 127.0.0.1 and the one from 127.0.0.2 are served");
      }
    } finally {
      for (Socket s : held) {
        s.close();
      }
    }
  }

  /**
   * A head over 16 KiB is answered {@code 431}, and a {@code POST} with a body {@code 405}, and the
   * answer arrives: the service reads what the client is still sending before it closes, so a client
   * that writes its whole request before it reads gets the status line, not a reset.
   */
  @Test
  void anOversizedHeadGetsA431ThatArrives(@TempDir Path dir) throws Exception {
    int port = startHttp();
    Process p = new ProcessBuilder(Tools.require("curl"), "-s", "-S", "--max-time", "10", "-o", "/dev/null",
        "-w", "%{http_code}", "-H", "X-Big: " + "a".repeat(20_000), "http://127.0.0.1:" + port + "/health")
        .redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertTrue(p.waitFor(20, TimeUnit.SECONDS));
    assertEquals("431", out, "curl exit " + p.exitValue());

    // 1 MiB of head through a 16 KiB send buffer, all written before reading: the old service closed
    // after 16 KiB, so the client's write failed with a reset and it never read the answer.
    for (int i = 0; i < 2; i++) {
      try (Socket s = new Socket()) {
        s.setSendBufferSize(16 * 1024);
        s.connect(new java.net.InetSocketAddress("127.0.0.1", port), 5000);
        s.setSoTimeout(10_000);
        s.getOutputStream().write(("GET /health HTTP/1.1\r\nX-Big: " + "b".repeat(1 << 20) + "\r\n\r\n")
            .getBytes(StandardCharsets.US_ASCII));
        assertEquals("HTTP/1.1 431 Request Header Fields Too Large", statusLine(s));
      }
    }

    Path body = Files.write(dir.resolve("body"), new byte[512 * 1024]);
    Process post = new ProcessBuilder(Tools.require("curl"), "-s", "-S", "--max-time", "10", "-o", "/dev/null",
        "-w", "%{http_code}", "-H", "Expect:", "--data-binary", "@" + body, "http://127.0.0.1:" + port + "/health")
        .redirectErrorStream(true).start();
    String posted = new String(post.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertTrue(post.waitFor(20, TimeUnit.SECONDS));
    assertEquals("405", posted, "curl exit " + post.exitValue());
    assertEquals("HTTP/1.1 200 OK", get(from("127.0.0.1", port), "/health"));
  }

  /** The default per-source limit cannot hold behind a proxy trusted from everywhere: a usage error that says what to do. */
  @Test
  void aProxyTrustedFromEverywhereNeedsThePerSourceLimitOff() {
    java.io.ByteArrayOutputStream err = new java.io.ByteArrayOutputStream();
    int status = Launcher.run(new String[] {"http", "--port", "0", "--allow-all", "--proxy-protocol", "0.0.0.0/0"},
        java.io.InputStream.nullInputStream(), new java.io.PrintStream(new java.io.ByteArrayOutputStream()),
        new java.io.PrintStream(err, true, StandardCharsets.UTF_8));
    assertEquals(2, status);
    assertTrue(err.toString(StandardCharsets.UTF_8).contains("give --max-per-source 0"), err.toString(StandardCharsets.UTF_8));
  }

  /** Starts {@code portcullis http} allowing 127.0.0.0/8 with {@code options}; returns its port. */
  private int startHttp(String... options) throws Exception {
    List<String> command = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
        "-cp", System.getProperty("java.class.path"), Launcher.class.getName(), "http", "--port", "0", "--bind",
        "127.0.0.1", "--allow", "127.0.0.0/8"));
    command.addAll(List.of(options));
    Process svc = new ProcessBuilder(command).redirectError(ProcessBuilder.Redirect.INHERIT).start();
    started.add(svc);
    String first = new BufferedReader(new InputStreamReader(svc.getInputStream(), StandardCharsets.UTF_8)).readLine();
    assertTrue(first != null && first.startsWith("listening on 127.0.0.1:"), String.valueOf(first));
    return Integer.parseInt(first.substring(first.lastIndexOf(':') + 1));
  }

  private static Socket from(String source, int port) throws java.io.IOException {
    Socket s = new Socket();
    s.bind(new java.net.InetSocketAddress(source, 0));
    s.connect(new java.net.InetSocketAddress("127.0.0.1", port), 5000);
    s.setSoTimeout(10_000);
    return s;
  }

  /** Sends {@code GET path} on {@code s}, closes it, and returns the status line, or null if it was refused. */
  private static String get(Socket s, String path) throws java.io.IOException {
    try (s) {
      s.getOutputStream().write(("GET " + path + " HTTP/1.1\r\nHost: x\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
      return statusLine(s);
    } catch (java.net.SocketException refused) {
      return null; // reset: closed at accept, before our request was read
    }
  }

  /** The first line the server sent, or null if it closed (or reset) without one. */
  private static String statusLine(Socket s) throws java.io.IOException {
    StringBuilder line = new StringBuilder();
    try {
      for (int b; (b = s.getInputStream().read()) != '\n'; ) {
        if (b == -1) {
          return line.length() == 0 ? null : line.toString();
        }
        line.append((char) b);
        if (line.length() > 200) {
          break;
        }
      }
    } catch (java.net.SocketException reset) {
      if (line.length() == 0) {
        return null;
      }
      throw reset;
    }
    return line.toString().strip();
  }
}
