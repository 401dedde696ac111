package dev.portcullis.examples;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.sun.net.httpserver.HttpServer;
import java.io.BufferedReader;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.io.PrintStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The launcher's CrowdSec options against a fake Local API on loopback (the real one is exercised
 * in the crowdsec module): {@code check --decisions} lists what it holds, {@code echo --crowdsec}
 * refuses a client it bans, and the options are checked before anything starts.
 */
@Timeout(60)
class CrowdSecOptionsTest {
  private static final String DECISIONS = "[{\"duration\":\"3h59m58.5s\",\"id\":1,\"origin\":\"cscli\","
      + "\"scenario\":\"manual 'ban' from 'cli'\",\"scope\":\"Ip\",\"type\":\"ban\",\"value\":\"127.0.0.2\"},"
      + "{\"duration\":\"10m\",\"id\":2,\"origin\":\"cscli\",\"scenario\":\"test\",\"scope\":\"Country\","
      + "\"type\":\"ban\",\"value\":\"FR\"}]";

  private HttpServer lapi;
  private volatile String keySeen;

  @BeforeEach
  void start() throws IOException {
    lapi = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 8);
    lapi.createContext("/v1/decisions", ex -> {
      keySeen = ex.getRequestHeaders().getFirst("X-Api-Key");
      String path = ex.getRequestURI().getPath();
      String body = path.endsWith("/stream") ? "{\"new\":" + DECISIONS + ",\"deleted\":null}" : DECISIONS;
      byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
      ex.sendResponseHeaders(200, bytes.length);
      try (OutputStream out = ex.getResponseBody()) {
        out.write(bytes);
      }
    });
    lapi.start();
  }

  @AfterEach
  void stop() {
    lapi.stop(0);
  }

  private String url() {
    return "http://127.0.0.1:" + lapi.getAddress().getPort();
  }

  private static int run(ByteArrayOutputStream out, ByteArrayOutputStream err, String... args) {
    return Launcher.run(args, new ByteArrayInputStream(new byte[0]), new PrintStream(out, true, StandardCharsets.UTF_8),
        new PrintStream(err, true, StandardCharsets.UTF_8));
  }

  @Test
  void checkListsTheDecisionsTheLapiHolds(@TempDir Path dir) throws Exception {
    Path key = Files.writeString(dir.resolve("key"), "check-key\n");
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    ByteArrayOutputStream err = new ByteArrayOutputStream();
    assertEquals(0, run(out, err, "check", "--crowdsec", url(), "--crowdsec-key-file", key.toString(), "--decisions"),
        err.toString(StandardCharsets.UTF_8));
    List<String> lines = out.toString(StandardCharsets.UTF_8).lines().toList();
    assertEquals(2, lines.size(), lines.toString());
    assertTrue(lines.get(0).matches("ban Country FR \\d+m\\d+s test \\(cscli\\) ignored"), lines.get(0));
    assertTrue(lines.get(1).matches("ban Ip 127\\.0\\.0\\.2 3h5\\d+m\\d+s manual 'ban' from 'cli' \\(cscli\\) enforced"),
        lines.get(1));
    assertEquals("check-key", keySeen);
  }

  @Test
  void optionsAreCheckedBeforeAnythingStarts(@TempDir Path dir) throws Exception {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    ByteArrayOutputStream err = new ByteArrayOutputStream();
    Path key = Files.writeString(dir.resolve("key"), "k\n");
    assertEquals(2, run(out, err, "echo", "--port", "0", "--allow-all", "--crowdsec", url(), "--crowdsec-key-file",
        key.toString()));
    assertTrue(err.toString(StandardCharsets.UTF_8).contains("--crowdsec needs --penalty N:SECONDS"), err.toString());
    err.reset();
    assertEquals(2, run(out, err, "kv", "--port", "0", "--allow-all", "--secret-file", key.toString(),
        "--crowdsec-key-file", key.toString()));
    assertTrue(err.toString(StandardCharsets.UTF_8).contains("--crowdsec-key-file needs --crowdsec URL"),
        err.toString());
    err.reset();
    assertEquals(2, run(out, err, "http", "--port", "0", "--allow-all", "--penalty", "5:60", "--crowdsec", url(),
        "--crowdsec-key-file", dir.resolve("missing").toString()));
    assertTrue(err.toString(StandardCharsets.UTF_8).contains("missing"), err.toString());
  }

  @Test
  void echoRefusesAClientTheLapiBans(@TempDir Path dir) throws Exception {
    Path key = Files.writeString(dir.resolve("key"), "echo-key\n");
    String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    Process p = new ProcessBuilder(List.of(java, "-cp", System.getProperty("java.class.path"),
        Launcher.class.getName(), "echo", "--port", "0", "--bind", "127.0.0.1", "--allow", "127.0.0.0/8",
        "--penalty", "5:60", "--crowdsec", url(), "--crowdsec-key-file", key.toString()))
        .redirectError(ProcessBuilder.Redirect.DISCARD).start();
    try (BufferedReader out = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
      String first = out.readLine();
      int port = Integer.parseInt(first.substring(first.lastIndexOf(':') + 1));
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(15);
      while (exchange("127.0.0.2", port) != null && System.nanoTime() < deadline) {
        Thread.sleep(100);
      }
      assertNull(exchange("127.0.0.2", port), "the banned client is refused");
      assertEquals("hi", exchange("127.0.0.1", port), "others are served");
      assertEquals("echo-key", keySeen);
    } finally {
      p.destroy();
      if (!p.waitFor(20, TimeUnit.SECONDS)) {
        p.destroyForcibly();
      }
    }
  }

  private static String exchange(String from, int port) throws IOException {
    try (Socket s = new Socket()) {
      s.bind(new InetSocketAddress(InetAddress.getByName(from), 0));
      s.connect(new InetSocketAddress("127.0.0.1", port), 5000);
      s.setSoTimeout(5000);
      s.getOutputStream().write("hi".getBytes(StandardCharsets.UTF_8));
      s.shutdownOutput();
      byte[] reply = s.getInputStream().readAllBytes();
      return reply.length == 0 ? null : new String(reply, StandardCharsets.UTF_8);
    } catch (SocketException e) {
      return null;
    }
  }
}
