package dev.portcullis.jetty;

import static dev.portcullis.jetty.JettyServers.await;
import static dev.portcullis.jetty.JettyServers.get;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.portcullis.jna.KernelGuard;
import dev.portcullis.policy.AccessPolicy;
import dev.portcullis.policy.Cidr;
import dev.portcullis.policy.Limits;
import dev.portcullis.policy.Penalties;
import dev.portcullis.spi.LogCapture;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.channels.ServerSocketChannel;
import java.time.Duration;
import java.util.List;
import org.eclipse.jetty.io.ConnectionStatistics;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * The kernel guard on a Jetty connector's own listening socket: a denied SYN is dropped, so the
 * connect never completes and neither Jetty nor the guard in front of it sees an accept; and the
 * penalty box's bans reach the kernel.
 */
@Timeout(60)
class JettyKernelGuardTest {
  @RegisterExtension
  final LogCapture log = new LogCapture();

  /** Connects from {@code from} with a short connect timeout: true if the TCP handshake completed. */
  private static boolean handshakeCompletes(String from, InetSocketAddress to) throws Exception {
    try (Socket s = new Socket()) {
      s.bind(new InetSocketAddress(from, 0));
      s.connect(to, 400);
      return true;
    } catch (SocketTimeoutException e) {
      return false; // no SYN-ACK came
    }
  }

  @Test
  void aDeniedSynIsDroppedInTheKernelAndJettySeesNoAccept() throws Exception {
    AccessPolicy policy = AccessPolicy.parse("allow 127.0.0.0/8\ndeny 127.0.0.2/32");
    try (JettyServers jetty = new JettyServers()) {
      ConnectionStatistics jettyConnections = new ConnectionStatistics();
      jetty.connector.addBean(jettyConnections);
      JettyGuard guard = JettyGuard.attach(jetty.connector, policy);
      jetty.start();
      try (KernelGuard kernel = KernelGuard.attach((ServerSocketChannel) jetty.connector.getTransport(), policy)) {
        assertEquals("127.0.0.1", get("127.0.0.1", jetty.address()));
        long accepted = guard.stats().accepted();
        long jettyOpened = jettyConnections.getConnectionsTotal();

        assertTrue(!handshakeCompletes("127.0.0.2", jetty.address()), "no SYN-ACK for a denied peer (" + kernel.mode() + ")");
        assertEquals(accepted, guard.stats().accepted(), "nothing was accepted");
        assertEquals(jettyOpened, jettyConnections.getConnectionsTotal(), "Jetty made no connection");
        assertEquals(1, jetty.handled.get());

        AccessPolicy open = AccessPolicy.parse("allow 127.0.0.0/8");
        kernel.updatePolicy(open);
        guard.updatePolicy(open);
        assertEquals("127.0.0.2", get("127.0.0.2", jetty.address()), "let through once both policies allow it");
      }
      assertEquals(2, jetty.handled.get());
    }
  }

  @Test
  void thePenaltyBoxBansReachTheKernelFilterOfTheJettySocket() throws Exception {
    AccessPolicy policy = AccessPolicy.parse("allow 127.0.0.0/8");
    try (JettyServers jetty = new JettyServers()) {
      JettyGuard guard = JettyGuard.builder(policy).limits(Limits.NONE.withRate(0.1, 1))
          .penalties(Penalties.after(2, Duration.ofMinutes(1)).counting(Penalties.Offence.RATE_LIMITED, 1))
          .attach(jetty.connector);
      jetty.start();
      try (KernelGuard kernel = KernelGuard.attach((ServerSocketChannel) jetty.connector.getTransport(), policy)) {
        guard.onDirectBansChanged(kernel::updateBans);
        assertEquals("127.0.0.4", get("127.0.0.4", jetty.address()));
        assertNull(get("127.0.0.4", jetty.address()), "over its rate: an offence");
        assertNull(get("127.0.0.4", jetty.address()), "over its rate again: banned");
        assertEquals(1, guard.penalties().size(), () -> "" + guard.penalties());
        assertTrue(await(() -> kernel.bans().contains(Cidr.parse("127.0.0.4/32")), Duration.ofSeconds(5)),
            () -> "the ban reached the kernel guard: " + kernel.bans());
        long accepted = guard.stats().accepted();
        assertTrue(!handshakeCompletes("127.0.0.4", jetty.address()), "the banned source's SYN is dropped");
        assertEquals(accepted, guard.stats().accepted(), "nothing was accepted");
        assertEquals("127.0.0.5", get("127.0.0.5", jetty.address()), "others are served");

        assertTrue(guard.liftPenalty("127.0.0.4"));
        assertTrue(await(() -> kernel.bans().isEmpty(), Duration.ofSeconds(5)), () -> "lifted: " + kernel.bans());
        assertEquals(List.of(), guard.penalties());
        assertTrue(handshakeCompletes("127.0.0.4", jetty.address()), "its SYN passes again");
      }
    }
  }

  @Test
  void liftPenaltyNamesABadAddress() throws Exception {
    try (JettyServers jetty = new JettyServers()) {
      JettyGuard guard = JettyGuard.builder(AccessPolicy.parse("allow 127.0.0.0/8"))
          .penalties(Penalties.after(2, Duration.ofMinutes(1))).attach(jetty.connector);
      IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> guard.liftPenalty("127.0.0.x"));
      assertTrue(e.getMessage().contains("127.0.0.x"), e.getMessage());
    }
  }
}
