package dev.portcullis.netty.example;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.portcullis.spi.LogCapture;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/** The Netty example: its ready line from its own main, and bad logins that get a client banned. */
@Timeout(60)
class NettyHttpServiceTest {
  @RegisterExtension
  final LogCapture log = new LogCapture();

  @TempDir
  Path dir;

  private static String request(String from, int port, String request) throws Exception {
    try (Socket s = new Socket()) {
      s.setSoTimeout(10_000);
      s.bind(new InetSocketAddress(InetAddress.getByName(from), 0));
      s.connect(new InetSocketAddress("127.0.0.1", port), 5_000);
      try {
        s.getOutputStream().write(request.getBytes(StandardCharsets.US_ASCII));
        return new String(s.getInputStream().readAllBytes(), StandardCharsets.US_ASCII);
      } catch (SocketException e) {
        return ""; // closed or reset by the guard
      }
    }
  }

  private static String login(String from, int port, String credentials) throws Exception {
    return request(from, port, "POST /login HTTP/1.1\r\nHost: x\r\nContent-Length: " + credentials.length()
        + "\r\n\r\n" + credentials);
  }

  @Test
  void badLoginsBanTheClientAndOnlyIt() throws Exception {
    Path policy = Files.writeString(dir.resolve("policy.txt"), "allow 127.0.0.0/8\n");
    try (NettyHttpService service = NettyHttpService.start(policy, "127.0.0.1", 0)) {
      int port = service.localAddress().getPort();
      assertTrue(login("127.0.0.7", port, "admin:secret").startsWith("HTTP/1.1 200"));
      for (int i = 0; i < 3; i++) {
        assertTrue(login("127.0.0.7", port, "admin:guess" + i).startsWith("HTTP/1.1 401"));
      }
      assertEquals("", request("127.0.0.7", port, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"), "a banned client was served");
      assertTrue(request("127.0.0.8", port, "GET / HTTP/1.1\r\nHost: x\r\n\r\n").endsWith("hello 127.0.0.8\n"));
      assertEquals(1, service.guard().penalties().size());
      assertEquals(1, service.guard().stats().penalized());
      assertEquals(1, log.lines("bad login").stream().filter(l -> l.contains("Penalized 127.0.0.7")).count(),
          log.text());
    }
  }

  @Test
  void mainPrintsTheReadyLineAndServes() throws Exception {
    Path policy = Files.writeString(dir.resolve("policy.txt"), "allow 127.0.0.1/32\n");
    Process p = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
        "-cp", System.getProperty("java.class.path"), NettyHttpService.class.getName(), policy.toString(), "0")
        .redirectErrorStream(true).start();
    try {
      BufferedReader out = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8));
      String ready = null;
      for (String line; (line = out.readLine()) != null; ) {
        if (line.startsWith("listening on ")) {
          ready = line;
          break;
        }
      }
      assertTrue(ready != null && ready.matches("listening on 127\\.0\\.0\\.1:\\d+"), String.valueOf(ready));
      int port = Integer.parseInt(ready.substring(ready.lastIndexOf(':') + 1));
      assertTrue(request("127.0.0.1", port, "GET / HTTP/1.1\r\nHost: x\r\n\r\n").endsWith("hello 127.0.0.1\n"));
      assertEquals("", request("127.0.0.2", port, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
    } finally {
      p.destroy();
      assertTrue(p.waitFor(10, TimeUnit.SECONDS), "the service did not stop on SIGTERM");
    }
  }
}
