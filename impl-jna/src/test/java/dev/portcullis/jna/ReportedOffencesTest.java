package dev.portcullis.jna;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.portcullis.RunningServer;
import dev.portcullis.Server;
import dev.portcullis.policy.Cidr;
import dev.portcullis.policy.Penalties;
import dev.portcullis.spi.LogCapture;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketException;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Offences the application reports, on real sockets: a handler that sees a wrong password reports
 * it with {@code conn.server().reportOffence}, and the client's next connection is refused at
 * accept; with the kernel filter, its SYN gets no answer. A range banned from outside is dropped in
 * the kernel too.
 */
@Timeout(60)
class ReportedOffencesTest {
  @RegisterExtension
  final LogCapture log = new LogCapture();

  /** A login service: "secret" is welcome; anything else is a bad login, reported with weight 5. */
  private static Server.TcpBuilder server() {
    return Server.on(0).bindAddress("127.0.0.1").allow("127.0.0.0/8")
        .penalties(Penalties.after(5, Duration.ofMinutes(1)).banFor(Duration.ofMinutes(10)))
        .handle(conn -> {
          String password = line(conn.input());
          if ("secret".equals(password)) {
            conn.output().write("welcome\n".getBytes(StandardCharsets.US_ASCII));
          } else {
            conn.server().reportOffence(((InetSocketAddress) conn.peer()).getAddress(), 5, "bad login");
            conn.output().write("denied\n".getBytes(StandardCharsets.US_ASCII));
          }
        });
  }

  /** Logs in from {@code from}: the server's answer, or null if it closed the connection first. */
  private static String login(String from, RunningServer server, String password) throws IOException {
    try (Socket s = Clients.connect(from, server.localAddress())) {
      s.setSoTimeout(5000);
      s.getOutputStream().write((password + "\n").getBytes(StandardCharsets.US_ASCII));
      String answer = line(s.getInputStream());
      return answer.isEmpty() ? null : answer;
    } catch (SocketException reset) {
      return null;
    }
  }

  private static String line(InputStream in) throws IOException {
    StringBuilder sb = new StringBuilder();
    for (int b; (b = in.read()) >= 0 && b != '\n'; ) {
      sb.append((char) b);
    }
    return sb.toString();
  }

  /** Whether a SYN from {@code from} goes unanswered (dropped in the kernel). */
  private static boolean synDropped(String from, RunningServer server) {
    try (Socket s = new Socket()) {
      s.bind(new InetSocketAddress(from, 0));
      s.connect(server.localAddress(), 300);
      return false;
    } catch (SocketTimeoutException e) {
      return true;
    } catch (IOException e) {
      return false;
    }
  }

  @Test
  void aBadLoginReportedByTheHandlerGetsTheClientRefused() throws Exception {
    try (RunningServer server = server().start()) {
      assertEquals("denied", login("127.0.0.2", server, "guess"));
      assertTrue(Clients.await(() -> !server.penalties().isEmpty(), Duration.ofSeconds(10)));
      long penalized = server.stats().penalized();
      assertEquals(null, login("127.0.0.2", server, "secret"), "refused at accept, before the handler");
      assertEquals(penalized + 1, server.stats().penalized());
      assertEquals("welcome", login("127.0.0.1", server, "secret"), "others are served");
      assertEquals("bad login", server.penalties().get(0).reason());
      assertTrue(log.lines("Penalized 127.0.0.2 until").get(0).contains("the last: bad login"), log.text());

      assertTrue(server.lift(Cidr.parse("127.0.0.2/32"), "reset the password"));
      assertEquals("welcome", login("127.0.0.2", server, "secret"));
      assertEquals(1, log.lines("Lifted the ban of 127.0.0.2/32: reset the password (banned for: bad login)").size(),
          log.text());
    }
  }

  @Test
  void withTheKernelFilterAReportedClientsSynGetsNoAnswer() throws Exception {
    try (RunningServer server = server().kernelFilter().start()) {
      assertEquals("denied", login("127.0.0.3", server, "guess"));
      assertTrue(Clients.await(() -> synDropped("127.0.0.3", server), Duration.ofSeconds(10)),
          "the banned client's SYNs are dropped in the kernel");
      assertEquals("welcome", login("127.0.0.1", server, "secret"), "others are served");

      server.ban(Cidr.parse("127.0.4.0/24"), Duration.ofMinutes(10), "crowdsec: ssh-bf");
      assertTrue(Clients.await(() -> synDropped("127.0.4.9", server), Duration.ofSeconds(10)),
          "an external ban of a range reaches the kernel too");
      assertEquals("welcome", login("127.0.5.1", server, "secret"), "outside the range: served");

      assertTrue(server.lift(Cidr.parse("127.0.4.0/24"), "decision deleted"));
      assertTrue(Clients.await(() -> {
        try {
          return "welcome".equals(login("127.0.4.9", server, "secret"));
        } catch (IOException e) {
          return false;
        }
      }, Duration.ofSeconds(10)), "lifted in the kernel too");
    }
  }
}
