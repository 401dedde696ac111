package dev.portcullis.examples;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.BufferedReader;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * {@code portcullis jetty-http} and {@code netty-http}, each in its own JVM on loopback, with a
 * policy file allowing {@code 127.0.0.0/8} but {@code 127.0.0.2}: the JDK {@code HttpClient} from
 * 127.0.0.1 is served, 127.0.0.2 is not, three wrong login tokens from 127.0.0.3 ban it (its next
 * connection is not served) while 127.0.0.1 still is. Run with the kernel guard (attached where
 * the kernel lets the process: eBPF as root, as in CI, else classic BPF; the test says which) and
 * without it ({@code --no-kernel-guard}: the guard in the JVM alone).
 */
@Timeout(60)
class GuardedHttpServicesTest {
  private static final String TOKEN = "s3cret-token";
  @RegisterExtension final StartedProcesses started = new StartedProcesses();

  /** What a connection from {@code from} got: the answer, or how it was turned away. */
  private record Outcome(String answer, boolean connectTimedOut) {
    boolean served() {
      return !answer.isEmpty();
    }
  }

  /** One raw HTTP/1.1 request from {@code from}; connect within 1 s, answer within 10 s. */
  private static Outcome request(String from, int port, String method, String path, String token) throws IOException {
    try (Socket s = new Socket()) {
      s.bind(new InetSocketAddress(from, 0));
      try {
        s.connect(new InetSocketAddress("127.0.0.1", port), 1000);
      } catch (SocketTimeoutException dropped) { // no SYN-ACK: the kernel dropped the SYN
        return new Outcome("", true);
      }
      s.setSoTimeout(10_000);
      String req = method + " " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n"
          + (token == null ? "" : "Authorization: Bearer " + token + "\r\n")
          + "Content-Length: 0\r\nConnection: close\r\n\r\n";
      try {
        s.getOutputStream().write(req.getBytes(StandardCharsets.US_ASCII));
        return new Outcome(new String(s.getInputStream().readAllBytes(), StandardCharsets.UTF_8), false);
      } catch (java.net.SocketException reset) { // closed under us by the guard in the JVM
        return new Outcome("", false);
      }
    }
  }

  @ParameterizedTest(name = "{0} {1}")
  @CsvSource({"jetty-http, kernel", "jetty-http, jvm", "netty-http, kernel", "netty-http, jvm"})
  void theGuardedServiceServesTheAllowedRefusesTheDeniedAndBansAfterWrongTokens(String command, String guard,
      @TempDir Path dir) throws Exception {
    Path policy = Files.writeString(dir.resolve("access.rules"), "allow 127.0.0.0/8\ndeny 127.0.0.2\n");
    Path log = dir.resolve("service.log");
    int port = start(dir, command, log, guard.equals("jvm") ? List.of("--no-kernel-guard") : List.of());
    String logText = Files.readString(log);
    boolean inKernel = logText.contains("Kernel guard on 127.0.0.1:" + port + ": ");
    assertTrue(inKernel || logText.contains("No kernel guard on 127.0.0.1:" + port + ": "), logText);
    if (guard.equals("jvm")) {
      assertTrue(!inKernel && logText.contains("--no-kernel-guard"), logText);
    }
    String mode = inKernel ? logText.substring(logText.indexOf("Kernel guard on")).lines().findFirst().orElse("")
        : "the guard in the JVM alone";
    System.out.println(command + " (" + guard + "): " + mode); // which guard ran, for the build's log

    HttpClient client = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
    HttpResponse<String> hello = client.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/hello"))
        .timeout(Duration.ofSeconds(10)).build(), HttpResponse.BodyHandlers.ofString());
    assertEquals(200, hello.statusCode());
    assertEquals("hello 127.0.0.1\n", hello.body());
    HttpResponse<String> login = client.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/login"))
        .header("Authorization", "Bearer " + TOKEN).POST(HttpRequest.BodyPublishers.noBody())
        .timeout(Duration.ofSeconds(10)).build(), HttpResponse.BodyHandlers.ofString());
    assertEquals(200, login.statusCode(), login.body());
    assertEquals("welcome\n", login.body());

    Outcome denied = request("127.0.0.2", port, "GET", "/hello", null);
    assertTrue(!denied.served(), "127.0.0.2 is denied by the policy file, yet got: " + denied.answer());
    assertEquals(inKernel, denied.connectTimedOut(), inKernel ? "the kernel drops the denied SYN"
        : "the guard in the JVM accepts and closes");

    for (int i = 1; i <= 3; i++) {
      Outcome wrong = request("127.0.0.3", port, "POST", "/login", "guess-" + i);
      assertTrue(wrong.answer().startsWith("HTTP/1.1 401"), "wrong token " + i + ": " + wrong.answer());
    }
    Outcome banned = request("127.0.0.3", port, "GET", "/hello", null);
    assertTrue(!banned.served(), "127.0.0.3 sent three wrong tokens and is banned, yet got: " + banned.answer());
    if (inKernel) {
      // The ban reaches the kernel from a penalty listener, a moment after the offence: wait for it, bounded.
      for (int i = 0; i < 20 && !banned.connectTimedOut(); i++) {
        assertTrue(!banned.served(), banned.answer());
        Thread.sleep(100);
        banned = request("127.0.0.3", port, "GET", "/hello", null);
      }
      assertTrue(banned.connectTimedOut(), "the ban of 127.0.0.3 reached the kernel");
    }
    Outcome other = request("127.0.0.1", port, "GET", "/hello", null);
    assertTrue(other.answer().startsWith("HTTP/1.1 200") && other.answer().endsWith("hello 127.0.0.1\n"),
        "another source is still served: " + other.answer());
  }

  /** Starts {@code command} on 127.0.0.1 with {@code dir/access.rules}, its log in {@code log}; returns its port. */
  private int start(Path dir, String command, Path log, List<String> more) throws IOException {
    Path token = Files.writeString(dir.resolve("token"), TOKEN + "\n");
    List<String> args = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
        "-cp", System.getProperty("java.class.path"), Launcher.class.getName(), command, "--port", "0", "--bind",
        "127.0.0.1", "--policy", dir.resolve("access.rules").toString(), "--token-file", token.toString(),
        "--penalty", "3:60"));
    args.addAll(more);
    Process svc = new ProcessBuilder(args).redirectError(log.toFile()).start();
    started.add(svc);
    String ready = new BufferedReader(new InputStreamReader(svc.getInputStream(), StandardCharsets.UTF_8)).readLine();
    assertTrue(ready != null && ready.startsWith("listening on 127.0.0.1:"), ready + "\n" + Files.readString(log));
    return Integer.parseInt(ready.substring(ready.lastIndexOf(':') + 1));
  }

  /**
   * {@code --watch}: a policy file renamed into place is in force for the next connection, in the
   * guard in the JVM and, where it is attached, in the kernel (127.0.0.4's SYN dropped).
   */
  @ParameterizedTest
  @ValueSource(strings = {"jetty-http", "netty-http"})
  void watchPutsTheNewPolicyInTheJvmAndTheKernel(String command, @TempDir Path dir) throws Exception {
    Path policy = Files.writeString(dir.resolve("access.rules"), "allow 127.0.0.0/8\n");
    Path log = dir.resolve("service.log");
    int port = start(dir, command, log, List.of("--watch"));
    boolean inKernel = Files.readString(log).contains("Kernel guard on 127.0.0.1:" + port + ": ");
    assertTrue(request("127.0.0.4", port, "GET", "/hello", null).answer().endsWith("hello 127.0.0.4\n"));
    Path next = Files.writeString(dir.resolve("access.rules.tmp"), "allow 127.0.0.0/8\ndeny 127.0.0.4\n");
    Files.move(next, policy, java.nio.file.StandardCopyOption.ATOMIC_MOVE);
    Outcome denied = request("127.0.0.4", port, "GET", "/hello", null);
    for (int i = 0; i < 50 && (denied.served() || inKernel && !denied.connectTimedOut()); i++) { // 5 s at most
      Thread.sleep(100);
      denied = request("127.0.0.4", port, "GET", "/hello", null);
    }
    assertTrue(!denied.served() && denied.connectTimedOut() == inKernel, "127.0.0.4 denied after the reload"
        + (inKernel ? ", in the kernel" : "") + ": " + denied + "\n" + Files.readString(log));
    assertTrue(request("127.0.0.1", port, "GET", "/hello", null).answer().endsWith("hello 127.0.0.1\n"));
  }

  private static int launch(PrintStream err, String... args) {
    return Launcher.run(args, new java.io.ByteArrayInputStream(new byte[0]), new PrintStream(
        new java.io.ByteArrayOutputStream(), true, StandardCharsets.UTF_8), err);
  }

  @ParameterizedTest
  @ValueSource(strings = {"jetty-http", "netty-http"})
  void aPortInUseIsStatus1NamingTheAddressAndAMissingTokenIsAUsageError(String command, @TempDir Path dir)
      throws Exception {
    Path token = Files.writeString(dir.resolve("token"), TOKEN + "\n");
    ByteArrayOutputStream err = new ByteArrayOutputStream();
    try (ServerSocket taken = new ServerSocket(0, 1, InetAddress.getByName("127.0.0.1"))) {
      int port = taken.getLocalPort();
      assertEquals(1, launch(new PrintStream(err, true, StandardCharsets.UTF_8), command, "--port",
          String.valueOf(port), "--bind", "127.0.0.1", "--allow-all", "--token-file", token.toString()));
      assertTrue(err.toString(StandardCharsets.UTF_8).startsWith("portcullis " + command + ": cannot listen on 127.0.0.1:"
          + port + ": "), err.toString(StandardCharsets.UTF_8));
    }
    err.reset();
    assertEquals(2, launch(new PrintStream(err, true, StandardCharsets.UTF_8), command, "--port", "0", "--allow-all",
        "--token-file", dir.resolve("missing").toString()));
    assertTrue(err.toString(StandardCharsets.UTF_8).startsWith("portcullis " + command + ": --token-file "
        + dir.resolve("missing") + " is not a regular file"), err.toString(StandardCharsets.UTF_8));
    err.reset();
    Files.writeString(token, "\n");
    assertEquals(2, launch(new PrintStream(err, true, StandardCharsets.UTF_8), command, "--port", "0", "--allow-all",
        "--token-file", token.toString()));
    assertTrue(err.toString(StandardCharsets.UTF_8).contains("has no token on its first line"),
        err.toString(StandardCharsets.UTF_8));
  }
}
