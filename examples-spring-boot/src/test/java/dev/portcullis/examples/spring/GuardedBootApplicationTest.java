package dev.portcullis.examples.spring;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.InetSocketAddress;
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
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The Spring Boot example in its own JVM on loopback, with a policy file allowing {@code
 * 127.0.0.0/8} but {@code 127.0.0.2}: the JDK {@code HttpClient} from 127.0.0.1 is served,
 * 127.0.0.2 is not, three wrong login tokens from 127.0.0.3 ban it while 127.0.0.1 is still
 * served; with the kernel guard (the test says whether it attached) and without it.
 */
@Timeout(90)
class GuardedBootApplicationTest {
  private static final String TOKEN = "boot-token";
  private final List<Process> started = new ArrayList<>();

  @AfterEach
  void stop() throws InterruptedException {
    for (Process p : started) {
      p.toHandle().destroy();
      p.waitFor(10, TimeUnit.SECONDS);
      p.destroyForcibly();
    }
  }

  /** The answer to one raw request from {@code from}, "" if closed unanswered, null if the SYN was dropped. */
  private static String request(String from, int port, String method, String path, String token) throws IOException {
    try (Socket s = new Socket()) {
      s.bind(new InetSocketAddress(from, 0));
      try {
        s.connect(new InetSocketAddress("127.0.0.1", port), 1000);
      } catch (SocketTimeoutException dropped) {
        return null;
      }
      s.setSoTimeout(10_000);
      String req = method + " " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n"
          + (token == null ? "" : "Authorization: Bearer " + token + "\r\n")
          + "Content-Length: 0\r\nConnection: close\r\n\r\n";
      try {
        s.getOutputStream().write(req.getBytes(StandardCharsets.US_ASCII));
        return new String(s.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
      } catch (java.net.SocketException reset) {
        return "";
      }
    }
  }

  @ParameterizedTest(name = "kernel guard {0}")
  @ValueSource(booleans = {true, false})
  void servesTheAllowedRefusesTheDeniedAndBansAfterWrongTokens(boolean kernelGuard, @TempDir Path dir)
      throws Exception {
    Path policy = Files.writeString(dir.resolve("access.rules"), "allow 127.0.0.0/8\ndeny 127.0.0.2\n");
    Path token = Files.writeString(dir.resolve("token"), TOKEN + "\n");
    Path log = dir.resolve("service.log");
    // C1 only: Spring's start is mostly class loading and one-off code, which C1 alone gets through sooner.
    Process svc = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
        "-XX:TieredStopAtLevel=1", "-cp", System.getProperty("java.class.path"), GuardedBootApplication.class.getName(),
        "--server.port=0",
        "--server.address=127.0.0.1", "--portcullis.policy=" + policy, "--portcullis.token-file=" + token,
        "--portcullis.penalty=3:60", "--portcullis.kernel-guard=" + kernelGuard).redirectError(log.toFile()).start();
    started.add(svc);
    String ready = new BufferedReader(new InputStreamReader(svc.getInputStream(), StandardCharsets.UTF_8)).readLine();
    assertTrue(ready != null && ready.startsWith("listening on 127.0.0.1:"), ready + "\n" + Files.readString(log));
    int port = Integer.parseInt(ready.substring(ready.lastIndexOf(':') + 1));
    String logText = Files.readString(log);
    boolean inKernel = logText.contains("Kernel guard on 127.0.0.1:" + port + ": ");
    assertTrue(inKernel || logText.contains("No kernel guard on 127.0.0.1:" + port + ": "), logText);
    assertTrue(kernelGuard || !inKernel, logText);
    System.out.println("spring boot (kernel guard " + kernelGuard + "): "
        + (inKernel ? "attached" : "not attached, the guard in the JVM alone"));

    HttpClient client = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
    HttpResponse<String> hello = client.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/hello"))
        .timeout(Duration.ofSeconds(10)).build(), HttpResponse.BodyHandlers.ofString());
    assertEquals(200, hello.statusCode());
    assertEquals("hello 127.0.0.1\n", hello.body());

    String denied = request("127.0.0.2", port, "GET", "/hello", null);
    assertTrue(inKernel ? denied == null : "".equals(denied), "127.0.0.2 is denied: " + denied);
    for (int i = 1; i <= 3; i++) {
      String wrong = request("127.0.0.3", port, "POST", "/login", "guess-" + i);
      assertTrue(wrong != null && wrong.startsWith("HTTP/1.1 401"), "wrong token " + i + ": " + wrong);
    }
    String banned = request("127.0.0.3", port, "GET", "/hello", null);
    for (int i = 0; i < 20 && inKernel && banned != null; i++) { // the kernel hears of the ban a moment later
      assertEquals("", banned);
      Thread.sleep(100);
      banned = request("127.0.0.3", port, "GET", "/hello", null);
    }
    assertTrue(inKernel ? banned == null : "".equals(banned), "127.0.0.3 is banned: " + banned);
    String other = request("127.0.0.1", port, "POST", "/login", TOKEN);
    assertTrue(other != null && other.startsWith("HTTP/1.1 200") && other.endsWith("welcome\n"), other);
  }
}
