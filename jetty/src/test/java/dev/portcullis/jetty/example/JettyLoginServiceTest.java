package dev.portcullis.jetty.example;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.portcullis.spi.LogCapture;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.eclipse.jetty.server.Server;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/** The example as a person runs it: a policy file, its ready line, failed logins that end in a ban in the kernel. */
@Timeout(60)
class JettyLoginServiceTest {
  @RegisterExtension
  final LogCapture log = new LogCapture();

  @TempDir
  Path dir;

  /** One HTTP/1.1 request from {@code from}; the status code, or -1 if no TCP handshake completed. */
  private static int request(String from, InetSocketAddress to, String method, String path, String body) throws Exception {
    try (Socket s = new Socket()) {
      s.bind(new InetSocketAddress(from, 0));
      try {
        s.connect(to, 400);
      } catch (SocketTimeoutException e) {
        return -1;
      }
      s.setSoTimeout(10_000);
      s.getOutputStream().write((method + " " + path + " HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
          + "Content-Length: " + body.length() + "\r\n\r\n" + body).getBytes(StandardCharsets.US_ASCII));
      byte[] head = s.getInputStream().readNBytes(12);
      return head.length < 12 ? 0 : Integer.parseInt(new String(head, 9, 3, StandardCharsets.US_ASCII));
    }
  }

  @Test
  void failedLoginsBanTheClientDownToTheKernel() throws Exception {
    Path policy = Files.writeString(dir.resolve("policy.txt"), "allow 127.0.0.0/8\ndeny 127.0.0.66/32\n");
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    Server server = JettyLoginService.start(new String[] {"--policy", policy.toString(), "--port", "0"},
        new PrintStream(out, true, StandardCharsets.UTF_8));
    try {
      String ready = out.toString(StandardCharsets.UTF_8).trim();
      assertTrue(ready.matches("listening on 127\\.0\\.0\\.1:\\d+"), ready);
      InetSocketAddress to = new InetSocketAddress("127.0.0.1", Integer.parseInt(ready.substring(ready.lastIndexOf(':') + 1)));

      assertEquals(200, request("127.0.0.1", to, "GET", "/health", ""));
      assertEquals(200, request("127.0.0.8", to, "POST", "/login", "demo:demo"));
      for (int i = 0; i < 5; i++) {
        assertEquals(401, request("127.0.0.8", to, "POST", "/login", "demo:guess" + i));
      }
      assertEquals(1, log.lines("Penalized 127.0.0.8").size(), log::text);
      int banned = -2;
      for (int i = 0; i < 100 && banned != -1; i++) { // until the ban is in the kernel (bounded: 100 tries)
        banned = request("127.0.0.8", to, "GET", "/health", "");
        Thread.sleep(20);
      }
      assertEquals(-1, banned, "the banned client's SYN is dropped");
      assertEquals(-1, request("127.0.0.66", to, "GET", "/health", ""), "the policy file's deny, in the kernel too");
      assertEquals(200, request("127.0.0.9", to, "GET", "/health", ""), "others are served");
    } finally {
      server.stop();
    }
  }
}
