package dev.portcullis.jna;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.portcullis.Handshakes;
import dev.portcullis.Penalty;
import dev.portcullis.RunningServer;
import dev.portcullis.Server;
import dev.portcullis.handshake.secret.SharedSecretClient;
import dev.portcullis.policy.Penalties;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketException;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The penalty box on real sockets: ten wrong shared-secret answers from 127.0.0.2 get it refused at
 * accept while 127.0.0.1 is served; the ban expires; an exempt source is never banned; a ban can
 * be lifted; with the kernel filter a banned source's SYN gets no answer at all.
 */
@Timeout(60)
class PenaltyBoxTest {
  private static final byte[] KEY = HexFormat.of().parseHex("8f2a5c7e1b3d4f6a8c0e2b4d6f8a1c3e");
  private static final byte[] WRONG = HexFormat.of().parseHex("000102030405060708090a0b0c0d0e0f");

  private static Server.TcpBuilder server() {
    return Server.on(0).bindAddress("127.0.0.1").allow("127.0.0.0/8")
        .handshake(Handshakes.sharedSecret(Map.of("app-1", KEY))).handshakeTimeout(Duration.ofSeconds(5))
        .handle(conn -> conn.output().write("welcome\n".getBytes(StandardCharsets.US_ASCII)));
  }

  /** Connects from {@code from} and answers the challenge with {@code key}: true if welcomed. */
  private static boolean authenticate(String from, RunningServer server, byte[] key) throws IOException {
    try (Socket s = Clients.connect(from, server.localAddress())) {
      s.setSoTimeout(5000);
      try {
        SharedSecretClient.authenticate(s.getInputStream(), s.getOutputStream(), "app-1", key);
      } catch (IOException e) {
        return false;
      }
      return "welcome".equals(line(s.getInputStream()));
    }
  }

  /** Whether a connection from {@code from} is closed before the server says anything. */
  private static boolean refusedAtAccept(String from, RunningServer server) throws IOException {
    try (Socket s = Clients.connect(from, server.localAddress())) {
      s.setSoTimeout(5000);
      try {
        return s.getInputStream().read() == -1;
      } catch (SocketException e) {
        return true; // reset
      }
    }
  }

  private static String line(InputStream in) throws IOException {
    StringBuilder sb = new StringBuilder();
    for (int b; (b = in.read()) >= 0 && b != '\n'; ) {
      sb.append((char) b);
    }
    return sb.toString();
  }

  @Test
  void tenWrongAnswersBanTheSourceUntilTheBanEnds() throws Exception {
    try (RunningServer server = server().penalties(Penalties.after(10, Duration.ofMinutes(1))
        .banFor(Duration.ofSeconds(2))).start()) {
      for (int i = 0; i < 10; i++) {
        assertFalse(authenticate("127.0.0.2", server, WRONG), "a wrong answer fails");
      }
      assertTrue(Clients.await(() -> server.stats().handshakeFailures() == 10, Duration.ofSeconds(5)));
      assertTrue(refusedAtAccept("127.0.0.2", server), "the eleventh is refused at accept, before any challenge");
      assertEquals(1, server.stats().penalized());
      assertTrue(authenticate("127.0.0.1", server, KEY), "another source is served meanwhile");
      assertFalse(authenticate("127.0.0.2", server, KEY), "even the right key is refused while banned");
      List<Penalty> bans = server.penalties();
      assertEquals(1, bans.size(), bans.toString());
      assertEquals("127.0.0.2/32", bans.get(0).source().toString());
      assertEquals(10, bans.get(0).offences());
      assertTrue(bans.get(0).direct());
      assertEquals(2L, server.ruleHits().get("penalty box"), "counted beside the rule hits");
      assertTrue(Clients.await(() -> server.penalties().isEmpty(), Duration.ofSeconds(10)), "the ban ends");
      assertTrue(authenticate("127.0.0.2", server, KEY), "served again after the ban");
      assertEquals(server.stats().accepted(), server.stats().outcomes(), "every connection counted once");
    }
  }

  @Test
  void anExemptSourceIsNeverBannedAndABanCanBeLifted() throws Exception {
    try (RunningServer server = server().penalties(Penalties.after(3, Duration.ofMinutes(1))
        .banFor(Duration.ofMinutes(10)).exempt("127.0.0.3")).start()) {
      for (int i = 0; i < 6; i++) {
        assertFalse(authenticate("127.0.0.3", server, WRONG));
        assertFalse(authenticate("127.0.0.4", server, WRONG));
      }
      assertTrue(authenticate("127.0.0.3", server, KEY), "exempt: still served");
      assertTrue(refusedAtAccept("127.0.0.4", server), "not exempt: banned");
      assertTrue(server.liftPenalty("127.0.0.4"));
      assertTrue(authenticate("127.0.0.4", server, KEY), "served once lifted");
      assertFalse(server.liftPenalty("127.0.0.4"), "nothing left to lift");
      assertThrows(IllegalArgumentException.class, () -> server.liftPenalty("not-an-address"));
    }
  }

  @Test
  void withTheKernelFilterABannedSourcesSynGetsNoAnswer() throws Exception {
    try (RunningServer server = server().kernelFilter().penalties(Penalties.after(2, Duration.ofMinutes(1))
        .banFor(Duration.ofMinutes(10))).start()) {
      assertFalse(authenticate("127.0.0.5", server, WRONG));
      assertFalse(authenticate("127.0.0.5", server, WRONG));
      assertTrue(Clients.await(() -> {
        try (Socket s = new Socket()) {
          s.bind(new InetSocketAddress("127.0.0.5", 0));
          s.connect(server.localAddress(), 300);
          return false; // answered: the filter is not in place yet
        } catch (SocketTimeoutException e) {
          return true; // no SYN-ACK: dropped in the kernel
        } catch (IOException e) {
          return false;
        }
      }, Duration.ofSeconds(10)), "the banned source's SYNs are dropped in the kernel");
      assertTrue(authenticate("127.0.0.1", server, KEY), "others are served");
      long accepted = server.stats().accepted();
      assertTrue(server.liftPenalty("127.0.0.5"));
      assertTrue(Clients.await(() -> {
        try {
          return authenticate("127.0.0.5", server, KEY);
        } catch (IOException e) {
          return false;
        }
      }, Duration.ofSeconds(10)), "lifted in the kernel too");
      assertTrue(server.stats().accepted() > accepted);
    }
  }
}
