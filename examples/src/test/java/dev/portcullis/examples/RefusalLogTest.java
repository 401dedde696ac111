package dev.portcullis.examples;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.portcullis.Handshakes;
import dev.portcullis.RunningServer;
import dev.portcullis.Server;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * What an operator sees at the default log level (slf4j-simple, INFO): a server in its own JVM,
 * real clients, and its standard error read line by line. Every refusal gets one INFO line naming
 * the peer, the socket peer when a PROXY header replaced it, the reason and the rule.
 */
@Timeout(90)
class RefusalLogTest {
  /**
   * The server under test: PROXY protocol from 127.0.0.1, a deny rule, a per-source limit of one,
   * a short handshake deadline; and a Unix socket server that allows only another uid.
   */
  public static final class ServerMain {
    public static void main(String[] args) throws Exception {
      Path unix = Path.of(args[0]);
      RunningServer tcp = Server.on(0).bindAddress("127.0.0.1")
          .allow("127.0.0.0/8").allow("192.0.2.0/24").deny("127.0.0.9").deny("192.0.2.66")
          .maxConnectionsPerSource(1)
          .handshake(Handshakes.proxyProtocol().trustedFrom("127.0.0.1/32"))
          .handshakeTimeout(Duration.ofMillis(300))
          .handle(conn -> {
            byte[] command = conn.input().readNBytes(4);
            String c = new String(command, StandardCharsets.US_ASCII);
            if (c.equals("boom")) {
              throw new IllegalStateException("the handler's own bug");
            }
            if (c.equals("hold")) {
              conn.output().write("ok".getBytes(StandardCharsets.US_ASCII));
              conn.output().flush();
              conn.input().read();
              return;
            }
            // "spam": write until the peer's reset breaks the pipe
            byte[] chunk = new byte[64 * 1024];
            for (int i = 0; i < 10_000; i++) {
              conn.output().write(chunk);
            }
          }).start();
      RunningServer local = Server.onUnix(unix).allowUid(54_321).handle(conn -> { }).start();
      System.out.println("port " + tcp.port());
      System.out.flush();
      tcp.awaitTermination();
      local.close();
    }
  }

  private static final class Stderr {
    private final StringBuffer text = new StringBuffer();

    Stderr(Process p) {
      Thread t = new Thread(() -> {
        try (BufferedReader r = new BufferedReader(new InputStreamReader(p.getErrorStream(), StandardCharsets.UTF_8))) {
          for (String line; (line = r.readLine()) != null; ) {
            text.append(line).append('\n');
          }
        } catch (IOException ignored) {
          // the process ended
        }
      }, "stderr-reader");
      t.setDaemon(true);
      t.start();
    }

    boolean awaitLine(String... parts) throws InterruptedException {
      return await(() -> text.toString().lines().anyMatch(l -> List.of(parts).stream().allMatch(l::contains)),
          Duration.ofSeconds(10));
    }

    @Override
    public String toString() {
      return text.toString();
    }
  }

  private static boolean await(BooleanSupplier condition, Duration timeout) throws InterruptedException {
    long end = System.nanoTime() + timeout.toNanos();
    while (System.nanoTime() < end) {
      if (condition.getAsBoolean()) {
        return true;
      }
      Thread.sleep(20);
    }
    return condition.getAsBoolean();
  }

  private static Socket connect(String from, int port) throws IOException {
    Socket s = new Socket();
    s.bind(new InetSocketAddress(InetAddress.getByName(from), 0));
    s.connect(new InetSocketAddress("127.0.0.1", port), 2000);
    s.setSoTimeout(5000);
    return s;
  }

  /** Sends bytes and waits until the server closes the connection (or 5 s pass). */
  private static void sendAndWaitForClose(String from, int port, String bytes) throws IOException {
    try (Socket s = connect(from, port)) {
      s.getOutputStream().write(bytes.getBytes(StandardCharsets.US_ASCII));
      try {
        while (s.getInputStream().read() >= 0) {
          // drain
        }
      } catch (IOException reset) {
        // closed by the server
      }
    }
  }

  private static String header(String client) {
    return "PROXY TCP4 " + client + " 127.0.0.1 40000 7000\r\n";
  }

  @Test
  void everyRefusalIsOneInfoLineNamingPeerReasonAndRule(@TempDir Path dir) throws Exception {
    String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    Path unix = dir.resolve("local.sock");
    Process p = new ProcessBuilder(List.of(java, "-cp", System.getProperty("java.class.path"),
        ServerMain.class.getName(), unix.toString())).start();
    Stderr err = new Stderr(p);
    try (BufferedReader out = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
      String first = out.readLine();
      assertTrue(first != null && first.startsWith("port "), first + "\n" + err);
      int port = Integer.parseInt(first.substring(5));

      assertTrue(err.awaitLine("INFO", "Listening on 127.0.0.1:" + port, "4 address rules", "0 credential rules",
          "1 handshake step,"), err::toString);
      assertTrue(err.awaitLine("INFO", "Listening on " + unix, "0 address rules", "1 credential rule,",
          "0 handshake steps"), err::toString);

      // The address check at accept.
      sendAndWaitForClose("127.0.0.9", port, "");
      assertTrue(err.awaitLine("INFO", "Denied 127.0.0.9 by 'deny 127.0.0.9/32'"), err::toString);

      // A malformed PROXY line: a handshake failure with its reason.
      sendAndWaitForClose("127.0.0.1", port, "PROXY TCP4 nonsense\r\n");
      assertTrue(err.awaitLine("INFO", "Refused 127.0.0.1: handshake step 'proxy-protocol' failed: malformed PROXY v1"),
          err::toString);

      // A relayed client the policy denies: both addresses and the rule.
      sendAndWaitForClose("127.0.0.1", port, header("192.0.2.66"));
      assertTrue(err.awaitLine("INFO", "Denied 192.0.2.66 (socket peer 127.0.0.1) after the handshake by"
          + " 'deny 192.0.2.66/32'"), err::toString);

      // A silent client: the handshake deadline.
      sendAndWaitForClose("127.0.0.1", port, "");
      assertTrue(err.awaitLine("INFO", "Refused 127.0.0.1: the handshake timed out in step 'proxy-protocol'"),
          err::toString);

      // A relayed client over its per-source limit.
      try (Socket held = connect("127.0.0.1", port)) {
        held.getOutputStream().write((header("192.0.2.5") + "hold").getBytes(StandardCharsets.US_ASCII));
        assertEquals("ok", new String(held.getInputStream().readNBytes(2), StandardCharsets.US_ASCII),
            "the first connection of 192.0.2.5 is served");
        sendAndWaitForClose("127.0.0.1", port, header("192.0.2.5"));
        assertTrue(err.awaitLine("INFO", "Refused 192.0.2.5 (socket peer 127.0.0.1) after the handshake by the"
            + " per-source limit"), err::toString);
      }

      // A local peer the credential rules deny: named by uid and pid.
      try (SocketChannel c = SocketChannel.open(StandardProtocolFamily.UNIX)) {
        c.connect(UnixDomainSocketAddress.of(unix));
        c.read(ByteBuffer.allocate(1));
      } catch (IOException closed) {
        // refused
      }
      int uid = (Integer) Files.getAttribute(Path.of("/proc/self"), "unix:uid");
      assertTrue(err.awaitLine("INFO", "Denied local peer uid " + uid + " pid " + ProcessHandle.current().pid()),
          err::toString);

      // A peer that resets while the handler writes: not a warning.
      try (Socket s = connect("127.0.0.1", port)) {
        s.getOutputStream().write((header("192.0.2.7") + "spam").getBytes(StandardCharsets.US_ASCII));
        s.getInputStream().readNBytes(1000);
        s.setSoLinger(true, 0); // close with a reset
      }
      // A handler that throws: one warning, with the stack.
      sendAndWaitForClose("127.0.0.1", port, header("192.0.2.8") + "boom");
      assertTrue(err.awaitLine("WARN", "Handler failed for 192.0.2.8 (socket peer 127.0.0.1)"), err::toString);
      // The stack follows the WARN line; wait for it rather than race the reader thread.
      assertTrue(err.awaitLine("java.lang.IllegalStateException: the handler's own bug"), err::toString);
      assertTrue(err.awaitLine("\tat dev.portcullis.examples.RefusalLogTest$ServerMain"), err::toString);
      // slf4j-simple writes "WARN Logger - ..."; the JVM's own "WARNING:" lines (native access on
      // JDK 22+) are not the library's.
      assertEquals(1, err.toString().lines().filter(l -> l.startsWith("WARN ")).count(),
          () -> "only the handler's bug is a warning, not the reset:\n" + err);
      assertFalse(err.toString().contains("192.0.2.7"), err::toString);
    } finally {
      p.destroy();
      p.waitFor(20, TimeUnit.SECONDS);
      p.destroyForcibly();
    }
  }
}
