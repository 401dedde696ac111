package dev.portcullis.jna;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import javax.net.ssl.SSLSocket;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * A burst of connections that each send part of a ClientHello and then nothing, against a TLS echo
 * server with default settings in a JVM of its own with a small heap ({@code -Xmx64m}, whose
 * default cap on pending handshakes is 256): a TLS client is served during the burst, and once the
 * burst's peers leave, nothing pending, open or held as a descriptor is left of them.
 */
@Timeout(150)
class TlsHandshakeBurstTest {
  private static final int MOST_ATTACKERS = 3_000;
  @TempDir static Path dir;
  static TestPki pki;

  @BeforeAll
  static void makePki() throws Exception {
    pki = TestPki.create(dir);
  }

  /** The server JVM: its port, and its stats on demand. */
  private static final class ServerProcess implements AutoCloseable {
    final Process process;
    final BufferedReader out;
    final OutputStream in;
    final int port;
    final int cap;

    ServerProcess() throws IOException {
      String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
      process = new ProcessBuilder(java, "-Xmx64m", "-XX:+ExitOnOutOfMemoryError", "-cp",
          System.getProperty("java.class.path"), TlsPeerMain.class.getName(), "echo-server",
          pki.file("server.crt").toString(), pki.file("server.key").toString())
          .redirectError(ProcessBuilder.Redirect.INHERIT).start();
      out = new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.US_ASCII));
      in = process.getOutputStream();
      String[] first = String.valueOf(out.readLine()).split(" ");
      assertEquals("port", first[0], "the server started: " + String.join(" ", first));
      port = Integer.parseInt(first[1]);
      cap = Integer.parseInt(first[3]);
    }

    /** The server's counters and its open descriptors, by name; fails if the server has gone. */
    Map<String, Long> stats() throws IOException {
      in.write("stats\n".getBytes(StandardCharsets.US_ASCII));
      in.flush();
      String line = out.readLine();
      assertNotNull(line, "the server is still running");
      String[] w = line.split(" ");
      Map<String, Long> m = new HashMap<>();
      for (int i = 0; i + 1 < w.length; i += 2) {
        m.put(w[i], Long.parseLong(w[i + 1]));
      }
      return m;
    }

    InetSocketAddress address() {
      return new InetSocketAddress("127.0.0.1", port);
    }

    @Override
    public void close() throws Exception {
      in.close();
      if (!process.waitFor(30, TimeUnit.SECONDS)) {
        process.destroyForcibly();
      }
    }
  }

  /** A TLS client's round trip: true if the handshake passed and "ping" came back. */
  private static boolean echoOverTls(InetSocketAddress to) {
    try (SSLSocket s = (SSLSocket) pki.clientContext(null).getSocketFactory().createSocket()) {
      s.connect(to, 5000);
      s.setSoTimeout(5000);
      s.startHandshake();
      s.getOutputStream().write("ping".getBytes(StandardCharsets.US_ASCII));
      return "ping".equals(new String(s.getInputStream().readNBytes(4), StandardCharsets.US_ASCII));
    } catch (Exception refusedOrSlow) {
      return false;
    }
  }

  /** Tries a TLS client until one is served or {@code seconds} pass (a refused one tries again). */
  private static boolean servedWithin(InetSocketAddress to, int seconds) throws InterruptedException {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
    while (System.nanoTime() < deadline) {
      if (echoOverTls(to)) {
        return true;
      }
      Thread.sleep(200);
    }
    return false;
  }

  @Test
  void aBurstOfUnfinishedClientHellosNeitherShutsOutAClientNorOutlivesItsPeers() throws Exception {
    long room = Clients.softFdLimit() - Clients.openDescriptors() - 500;
    assumeTrue(room >= 1_500, "needs 1,500 descriptors for the burst, the limit leaves " + room);
    int attackers = (int) Math.min(MOST_ATTACKERS, room);
    // Part of a ClientHello: a handshake record header that promises 512 bytes, and 100 of them.
    byte[] partial = new byte[105];
    partial[0] = 0x16;
    partial[1] = 0x03;
    partial[2] = 0x01;
    partial[3] = 0x02;
    partial[4] = 0x00;
    partial[5] = 0x01; // ClientHello
    try (ServerProcess server = new ServerProcess()) {
      assertEquals(256, server.cap, "the default cap of a 64 MiB heap");
      assertTrue(echoOverTls(server.address()), "served before the burst");
      long fdsBefore = server.stats().get("fds");

      List<Socket> burst = new ArrayList<>();
      try {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        for (int i = 0; i < attackers && System.nanoTime() < deadline; i++) {
          Socket s = Clients.connect("127.0.0." + (2 + i % 250), server.address());
          burst.add(s);
          s.getOutputStream().write(partial);
        }
        assertEquals(attackers, burst.size(), "the burst connected within 30 s");
        Map<String, Long> during = server.stats();
        assertTrue(during.get("pending") <= server.cap, "pending handshakes stay within the cap: " + during);

        assertTrue(servedWithin(server.address(), 20), "a TLS client is served while the burst's peers stay: "
            + server.stats());
        Map<String, Long> after = server.stats();
        assertTrue(after.get("pending") <= server.cap, after.toString());
        System.out.printf("TlsHandshakeBurstTest: %d peers with part of a ClientHello; server (-Xmx64m, cap %d): %s%n",
            attackers, server.cap, after);
      } finally {
        for (Socket s : burst) {
          s.close();
        }
      }

      Map<String, Long> settled = null;
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
      while (System.nanoTime() < deadline) {
        settled = server.stats();
        if (settled.get("pending") == 0 && settled.get("open") == 0 && settled.get("fds") <= fdsBefore + 10) {
          break;
        }
        Thread.sleep(200);
      }
      assertEquals(0, settled.get("pending"), "nothing pending once the peers left: " + settled);
      assertEquals(0, settled.get("open"), "nothing open: " + settled);
      assertTrue(settled.get("fds") <= fdsBefore + 10, "descriptors back to " + fdsBefore + ": " + settled);
      assertEquals(settled.get("accepted"), settled.get("outcomes"), "every connection has one outcome: " + settled);
      assertTrue(echoOverTls(server.address()), "served at once after the burst");
    }
  }
}
