package dev.portcullis.jetty;

import static dev.portcullis.jetty.JettyServers.await;
import static dev.portcullis.jetty.JettyServers.connect;
import static dev.portcullis.jetty.JettyServers.get;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.portcullis.ServerStats;
import dev.portcullis.policy.AccessPolicy;
import dev.portcullis.policy.Limits;
import dev.portcullis.spi.LogCapture;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.eclipse.jetty.io.ConnectionStatistics;
import org.eclipse.jetty.server.HttpConnectionFactory;
import org.eclipse.jetty.server.ProxyConnectionFactory;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/** The guard in front of a real Jetty 12 server on loopback, with real clients from 127.0.0.1 and 127.0.0.2. */
@Timeout(60)
class JettyGuardTest {
  @RegisterExtension
  final LogCapture log = new LogCapture();

  @Test
  void allowedClientGets200AndADeniedPeerIsClosedBeforeJettyMakesAConnection() throws Exception {
    try (JettyServers jetty = new JettyServers()) {
      ConnectionStatistics jettyConnections = new ConnectionStatistics();
      jetty.connector.addBean(jettyConnections);
      JettyGuard guard = JettyGuard.attach(jetty.connector, AccessPolicy.parse("allow 127.0.0.1/32"));
      jetty.start();

      HttpResponse<String> ok = HttpClient.newHttpClient().send(
          HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + jetty.connector.getLocalPort() + "/")).build(),
          HttpResponse.BodyHandlers.ofString());
      assertEquals(200, ok.statusCode());
      assertEquals("127.0.0.1", ok.body().trim());
      assertEquals(1, jetty.handled.get());
      long jettyOpened = jettyConnections.getConnectionsTotal();

      assertNull(get("127.0.0.2", jetty.address()), "a denied peer gets no response");
      assertEquals(1, jetty.handled.get(), "its request never reached the handler");
      assertEquals(jettyOpened, jettyConnections.getConnectionsTotal(), "Jetty made no connection for it");
      ServerStats stats = guard.stats();
      assertEquals(1, stats.denied());
      assertEquals(2, stats.accepted());
      assertEquals(stats.accepted(), stats.outcomes(), "every connection has one outcome");
      assertEquals(1, log.lines("Denied 127.0.0.2").size(), log::text);
      assertEquals(1L, guard.ruleHits().get("default (address)"), () -> "" + guard.ruleHits());
    }
  }

  @Test
  void perSourceLimitRefusesTheThirdConnectionOfOneSourceAndServesOthers() throws Exception {
    try (JettyServers jetty = new JettyServers()) {
      JettyGuard guard = JettyGuard.builder(AccessPolicy.parse("allow 127.0.0.0/8"))
          .limits(Limits.NONE.withMaxPerSource(2)).attach(jetty.connector);
      jetty.start();
      List<Socket> held = new ArrayList<>();
      try {
        for (int i = 0; i < 2; i++) {
          held.add(connect("127.0.0.3", jetty.address()));
        }
        assertTrue(await(() -> guard.stats().openConnections() == 2, Duration.ofSeconds(10)));
        assertNull(get("127.0.0.3", jetty.address()), "the third from 127.0.0.3 is refused");
        assertEquals("127.0.0.4", get("127.0.0.4", jetty.address()), "another source is served");
        assertEquals(1, guard.stats().limited());
        assertEquals(1, log.lines("Refused 127.0.0.3 by the per-source limit").size(), log::text);
        held.remove(0).close();
        assertTrue(await(() -> guard.stats().openConnections() == 1, Duration.ofSeconds(10)),
            "Jetty's close releases the slot");
        assertEquals("127.0.0.3", get("127.0.0.3", jetty.address()), "a freed slot is taken again");
      } finally {
        for (Socket s : held) {
          s.close();
        }
      }
    }
  }

  @Test
  void updatePolicyFlipsTheDecisionLive() throws Exception {
    try (JettyServers jetty = new JettyServers()) {
      JettyGuard guard = JettyGuard.attach(jetty.connector, AccessPolicy.parse("allow 127.0.0.0/8"));
      List<AccessPolicy> told = new ArrayList<>();
      guard.addPolicyListener(told::add);
      jetty.start();
      assertEquals("127.0.0.2", get("127.0.0.2", jetty.address()));

      AccessPolicy stricter = AccessPolicy.parse("allow 127.0.0.0/8\ndeny 127.0.0.2/32");
      guard.updatePolicy(stricter);
      assertNull(get("127.0.0.2", jetty.address()), "denied by the new policy");
      assertEquals("127.0.0.1", get("127.0.0.1", jetty.address()));
      assertEquals(List.of(stricter), told);
      assertEquals(1L, guard.ruleHits().get("deny 127.0.0.2/32"), () -> "" + guard.ruleHits());

      guard.updatePolicy(AccessPolicy.parse("allow 127.0.0.0/8"));
      assertEquals("127.0.0.2", get("127.0.0.2", jetty.address()), "allowed again");
      assertEquals(2, jetty.handled.get() - 1, "the two allowed after the first");
    }
  }

  /** The adapter's decisions over random policies and peers are the policy's own. */
  @Test
  void decisionsEqualTheAccessPolicyOverRandomPoliciesAndPeers() throws Exception {
    Random random = new Random(24);
    try (JettyServers jetty = new JettyServers()) {
      JettyGuard guard = JettyGuard.attach(jetty.connector, AccessPolicy.parse("allow 127.0.0.0/8"));
      jetty.start();
      int served = 0;
      for (int round = 0; round < 6; round++) {
        StringBuilder text = new StringBuilder();
        int rules = 1 + random.nextInt(5);
        int[] networks = new int[rules];
        int[] lengths = new int[rules];
        for (int r = 0; r < rules; r++) {
          lengths[r] = 8 + random.nextInt(25);
          int address = 0x7F00_0000 | random.nextInt(1 << 24);
          networks[r] = lengths[r] == 32 ? address : address & (int) (0xFFFF_FFFFL << (32 - lengths[r]));
          text.append(random.nextBoolean() ? "allow " : "deny ").append(dotted(networks[r])).append('/')
              .append(lengths[r]).append('\n');
        }
        AccessPolicy policy = AccessPolicy.parse(text.toString());
        guard.updatePolicy(policy);
        for (int p = 0; p < 6; p++) {
          // Anywhere in 127/8, or inside one of the rules' networks.
          int peer;
          if (random.nextBoolean()) {
            peer = 0x7F00_0000 | random.nextInt(1 << 24);
          } else {
            int r = random.nextInt(rules);
            int hostBits = Math.min(32 - lengths[r], 24);
            peer = networks[r] | (hostBits == 0 ? 0 : random.nextInt(1 << hostBits));
          }
          if ((peer & 0xFF) == 0 || (peer & 0xFF) == 0xFF) {
            peer = (peer & 0xFFFF_FF00) | 1; // a host address, not a network's first or broadcast
          }
          String from = dotted(peer);
          boolean allowed = policy.decide(from).isAllowed();
          String answer = get(from, jetty.address());
          assertEquals(allowed, answer != null, () -> from + " under\n" + policy);
          if (allowed) {
            served++;
            assertEquals(from, answer);
          }
        }
      }
      assertEquals(served, jetty.handled.get());
    }
  }

  @Test
  void attachRefusesAStartedConnectorAndAProxyFactoryWithoutTrustedProxies() throws Exception {
    try (JettyServers jetty = new JettyServers(new ProxyConnectionFactory(), new HttpConnectionFactory())) {
      IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
          () -> JettyGuard.attach(jetty.connector, AccessPolicy.parse("allow 127.0.0.0/8")));
      assertTrue(e.getMessage().contains("trustedProxies"), e.getMessage());
    }
    try (JettyServers jetty = new JettyServers()) {
      IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
          () -> JettyGuard.builder(AccessPolicy.parse("allow 127.0.0.0/8")).trustedProxies("127.0.0.1/32")
              .attach(jetty.connector));
      assertTrue(e.getMessage().contains("no ProxyConnectionFactory"), e.getMessage());
      jetty.start();
      IllegalStateException started = assertThrows(IllegalStateException.class,
          () -> JettyGuard.attach(jetty.connector, AccessPolicy.parse("allow 127.0.0.0/8")));
      assertTrue(started.getMessage().contains("before the connector starts"), started.getMessage());
      assertFalse(jetty.connector.getProtocols().contains(JettyGuard.PROTOCOL));
    }
  }

  static String dotted(int a) {
    return (a >>> 24) + "." + ((a >>> 16) & 0xFF) + "." + ((a >>> 8) & 0xFF) + "." + (a & 0xFF);
  }
}
