package dev.portcullis.jna;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.portcullis.RunningServer;
import dev.portcullis.Server;
import dev.portcullis.ShadowStats;
import dev.portcullis.policy.AccessPolicy;
import java.io.IOException;
import java.net.Socket;
import java.net.SocketException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * A shadow policy on a live server under concurrent load: it counts exactly the flips the two
 * policies predict for the sources that connected, changes nothing for the connections, and
 * {@code promote()} makes it live.
 */
@Timeout(60)
class ShadowPolicyTest {
  private static final AccessPolicy LIVE = AccessPolicy.parse("allow 127.0.0.0/8\ndeny 127.0.0.9\n");
  private static final AccessPolicy CANDIDATE = AccessPolicy.parse(
      "allow 127.0.0.0/8\ndeny 127.0.0.2\ndeny 127.0.0.4/31\n");

  /** Whether the server answered: the handler writes a line, a denied peer is closed unread. */
  private static boolean served(String from, RunningServer server) throws IOException {
    try (Socket s = Clients.connect(from, server.localAddress())) {
      s.setSoTimeout(5000);
      try {
        return s.getInputStream().read() == 'h';
      } catch (SocketException e) {
        return false;
      }
    }
  }

  @Test
  void aShadowCountsExactlyThePredictedFlipsUnderLoadAndPromotes() throws Exception {
    List<String> sources = List.of("127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5", "127.0.0.9");
    int perSource = 50;
    long predictedDeny = 0;
    long predictedAllow = 0;
    for (String s : sources) {
      boolean live = LIVE.decide(s).isAllowed();
      boolean candidate = CANDIDATE.decide(s).isAllowed();
      predictedDeny += live && !candidate ? perSource : 0;
      predictedAllow += !live && candidate ? perSource : 0;
    }
    assertEquals(3 * perSource, predictedDeny, "127.0.0.2, .4 and .5");
    assertEquals(perSource, predictedAllow, "127.0.0.9");
    ExecutorService clients = Executors.newFixedThreadPool(12);
    try (RunningServer server = Server.on(0).bindAddress("127.0.0.1").policy(LIVE).eventLoops(2)
        .handle(conn -> conn.output().write("hi\n".getBytes(StandardCharsets.US_ASCII))).start()) {
      server.shadow(CANDIDATE);
      List<Future<Boolean>> results = new ArrayList<>();
      List<String> order = new ArrayList<>();
      for (int i = 0; i < perSource; i++) {
        for (String s : sources) {
          order.add(s);
          results.add(clients.submit(() -> served(s, server)));
        }
      }
      for (int i = 0; i < results.size(); i++) {
        assertEquals(LIVE.decide(order.get(i)).isAllowed(), results.get(i).get(),
            "the live policy decides, not the shadow: " + order.get(i));
      }
      ShadowStats stats = server.shadowStats().orElseThrow();
      assertEquals(sources.size() * perSource, stats.decided());
      assertEquals(predictedDeny, stats.wouldDeny());
      assertEquals(predictedAllow, stats.wouldAllow());

      ShadowStats atPromotion = server.promote().orElseThrow();
      assertEquals(stats.flips(), atPromotion.flips());
      assertTrue(server.shadowStats().isEmpty(), "promoted: no shadow left");
      assertFalse(served("127.0.0.2", server), "the candidate is live");
      assertTrue(served("127.0.0.9", server), "the candidate is live");
      assertTrue(server.promote().isEmpty(), "nothing to promote");

      server.shadow(LIVE);
      assertTrue(served("127.0.0.1", server));
      server.clearShadow();
      assertTrue(server.shadowStats().isEmpty());
      assertThrows(IllegalArgumentException.class, () -> server.shadow(AccessPolicy.parse("allow uid 0")),
          "a candidate that could not be live is refused now, not at promotion");
    } finally {
      clients.shutdownNow();
    }
  }
}
