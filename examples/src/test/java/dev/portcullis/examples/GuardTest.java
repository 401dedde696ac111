package dev.portcullis.examples;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.ByteBuffer;
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

/**
 * {@code portcullis guard} in its own JVM in front of real backends: Python's {@code http.server}
 * reached with {@code curl}, and a backend that reads the PROXY v2 header the guard sends.
 */
@Timeout(90)
class GuardTest {
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

  private int startGuard(String... args) throws Exception {
    List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
        "-cp", System.getProperty("java.class.path"), Launcher.class.getName(), "guard", "--listen", "0", "--bind",
        "127.0.0.1"));
    cmd.addAll(List.of(args));
    Process p = new ProcessBuilder(cmd).redirectError(ProcessBuilder.Redirect.INHERIT).start();
    started.add(p);
    String first = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8)).readLine();
    assertTrue(first != null && first.startsWith("listening on 127.0.0.1:") && first.contains(" -> "),
        String.valueOf(first));
    return Integer.parseInt(first.substring("listening on 127.0.0.1:".length(), first.indexOf(" -> ")));
  }

  private static String[] curl(String from, int port, String path) throws Exception {
    Process p = new ProcessBuilder(Tools.require("curl"), "-s", "-S", "--max-time", "10", "--interface", from,
        "http://127.0.0.1:" + port + path).start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertTrue(p.waitFor(20, TimeUnit.SECONDS));
    return new String[] {String.valueOf(p.exitValue()), out};
  }

  @Test
  void guardsAnHttpServerThatHasNoAccessControl(@TempDir Path dir) throws Exception {
    Files.writeString(dir.resolve("hello.txt"), "hello from behind the guard\n");
    int backend = freePort();
    Process http = new ProcessBuilder(Tools.require("python3"), "-m", "http.server", "--bind", "127.0.0.1",
        String.valueOf(backend)).directory(dir.toFile()).redirectErrorStream(true)
        .redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
    started.add(http);
    for (int i = 0; i < 100; i++) { // wait until Python listens
      try (Socket s = new Socket("127.0.0.1", backend)) {
        break;
      } catch (java.io.IOException notYet) {
        Thread.sleep(100);
      }
    }
    int guard = startGuard("--backend", "127.0.0.1:" + backend, "--allow", "127.0.0.0/8", "--deny", "127.0.0.2");
    String[] ok = curl("127.0.0.1", guard, "/hello.txt");
    assertEquals("0", ok[0]);
    assertEquals("hello from behind the guard\n", ok[1]);
    String[] denied = curl("127.0.0.2", guard, "/hello.txt");
    assertNotEquals("0", denied[0], "127.0.0.2 is refused before the backend is reached");
    assertEquals("", denied[1]);
  }

  @Test
  void withProxyV2TheBackendLearnsTheRealClient() throws Exception {
    try (ServerSocket backend = new ServerSocket(0, 5, InetAddress.getByName("127.0.0.1"))) {
      int guard = startGuard("--backend", "127.0.0.1:" + backend.getLocalPort(), "--allow", "127.0.0.0/8",
          "--proxy-v2");
      try (Socket client = new Socket()) {
        client.bind(new InetSocketAddress(InetAddress.getByName("127.0.0.3"), 0));
        client.connect(new InetSocketAddress("127.0.0.1", guard), 5000);
        client.setSoTimeout(10_000);
        try (Socket b = backend.accept()) {
          b.setSoTimeout(10_000);
          byte[] header = b.getInputStream().readNBytes(28);
          ByteBuffer h = ByteBuffer.wrap(header);
          assertEquals(0x21, header[12] & 0xFF, "version 2, PROXY");
          assertEquals(0x11, header[13] & 0xFF, "TCP over IPv4");
          assertEquals(12, h.getShort(14));
          byte[] src = new byte[4];
          h.position(16);
          h.get(src);
          assertEquals("127.0.0.3", InetAddress.getByAddress(src).getHostAddress());
          assertEquals(client.getLocalPort(), h.getShort(24) & 0xFFFF);
          assertEquals(guard, h.getShort(26) & 0xFFFF);
          OutputStream toClient = b.getOutputStream();
          toClient.write("welcome 127.0.0.3\n".getBytes(StandardCharsets.US_ASCII));
          toClient.flush();
          assertEquals("welcome 127.0.0.3",
              new BufferedReader(new InputStreamReader(client.getInputStream(), StandardCharsets.US_ASCII)).readLine());
        }
      }
    }
  }
}
