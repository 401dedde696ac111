package dev.portcullis.jna;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.portcullis.RunningServer;
import dev.portcullis.Server;
import dev.portcullis.policy.AccessPolicy;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * A policy that could admit nobody the server can see (its allow rules are all of the other address
 * family, or all overridden) is refused at start and at every update, on real loopback sockets; a
 * dual-stack server sees both families and takes an IPv6-only policy.
 */
@Timeout(60)
class PolicyLockoutTest {
  private static Server.TcpBuilder greeter() {
    return Server.on(0).handle(conn -> conn.output().write("hi\n".getBytes(StandardCharsets.US_ASCII)));
  }

  /** Whether the server answered: a denied peer is closed unread. */
  private static boolean served(String from, InetSocketAddress to) throws IOException {
    try (Socket s = Clients.connect(from, to)) {
      s.setSoTimeout(5000);
      try {
        return s.getInputStream().read() == 'h';
      } catch (java.net.SocketException e) {
        return false;
      }
    }
  }

  private static InetSocketAddress at(RunningServer server, String host) {
    return new InetSocketAddress(host, ((InetSocketAddress) server.localAddress()).getPort());
  }

  @Test
  void anIpv4ServerWithOnlyIpv6AllowsDoesNotStartAndSaysWhy() {
    IllegalStateException e = assertThrows(IllegalStateException.class,
        () -> greeter().bindAddress("127.0.0.1").allow("::1").start());
    assertTrue(e.getMessage().contains("allows only IPv6 (allow ::1/128)"), e.getMessage());
    assertTrue(e.getMessage().contains("127.0.0.1:0 is IPv4"), e.getMessage());
    assertTrue(e.getMessage().contains("would deny every peer"), e.getMessage());
  }

  @Test
  void anIpv6ServerWithOnlyIpv4AllowsDoesNotStart() {
    assumeTrue(ipv6Loopback(), "no IPv6 loopback here");
    IllegalStateException e = assertThrows(IllegalStateException.class,
        () -> greeter().bindAddress("::1").allow("127.0.0.0/8").start());
    assertTrue(e.getMessage().contains("allows only IPv4 (allow 127.0.0.0/8)"), e.getMessage());
    assertTrue(e.getMessage().contains("[::1]:0 is IPv6"), e.getMessage());
  }

  @Test
  void anUpdateThatWouldDenyEveryPeerIsRefusedAndTheOldPolicyStays() throws Exception {
    AccessPolicy old = AccessPolicy.parse("allow 127.0.0.0/8\n");
    try (RunningServer server = greeter().bindAddress("127.0.0.1").policy(old).start()) {
      InetSocketAddress to = at(server, "127.0.0.1");
      assertTrue(served("127.0.0.1", to));
      IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
          () -> server.updatePolicy(AccessPolicy.parse("allow ::1\n")));
      assertTrue(e.getMessage().contains("The new policy allows only IPv6 (allow ::1/128)"), e.getMessage());
      assertTrue(e.getMessage().endsWith("the old policy stays"), e.getMessage());
      // Every IPv4 allow overridden by a deny of the same prefix: no IPv4 peer either.
      IllegalArgumentException shadowed = assertThrows(IllegalArgumentException.class,
          () -> server.updatePolicy(AccessPolicy.parse("allow 127.0.0.1\ndeny 127.0.0.1\nallow ::1\n")));
      assertTrue(shadowed.getMessage().contains("is overridden by a deny rule"), shadowed.getMessage());
      assertEquals(old, server.policy());
      assertTrue(served("127.0.0.1", to), "a client is still admitted by the old policy");
      assertEquals(0, server.stats().denied());
    }
  }

  @Test
  void aShadowThatWouldDenyEveryPeerIsRefusedToo() throws Exception {
    try (RunningServer server = greeter().bindAddress("127.0.0.1").allow("127.0.0.0/8").start()) {
      assertThrows(IllegalArgumentException.class, () -> server.shadow(AccessPolicy.parse("allow ::1\n")));
      assertTrue(server.shadowStats().isEmpty());
    }
  }

  @Test
  void aDenyOfTheWholeFamilyIsOnPurposeAndAccepted() throws Exception {
    try (RunningServer server = greeter().bindAddress("127.0.0.1").allow("127.0.0.0/8").start()) {
      InetSocketAddress to = at(server, "127.0.0.1");
      server.updatePolicy(AccessPolicy.parse("deny 0.0.0.0/0\nallow ::1\n"));
      assertEquals(false, served("127.0.0.1", to), "everyone out, as asked");
    }
  }

  @Test
  void aDualStackServerTakesAnIpv6OnlyPolicyAndAdmitsIpv6Peers() throws Exception {
    assumeTrue(ipv6Loopback(), "no IPv6 loopback here");
    try (RunningServer server = greeter().bindAddress("::").allow("127.0.0.0/8").start()) {
      server.updatePolicy(AccessPolicy.parse("allow ::1\n"));
      assertTrue(served("::1", at(server, "::1")), "an IPv6 peer is admitted");
      assertEquals(false, served("127.0.0.1", at(server, "127.0.0.1")), "an IPv4 peer (mapped) is decided as IPv4");
    }
    try (RunningServer server = greeter().bindAddress("::").allow("::1").start()) {
      assertTrue(served("::1", at(server, "::1")), "it starts with an IPv6-only policy");
    }
  }

  private static boolean ipv6Loopback() {
    try (ServerSocket probe = new ServerSocket()) {
      probe.bind(new InetSocketAddress(InetAddress.getByName("::1"), 0));
      return true;
    } catch (IOException e) {
      return false;
    }
  }
}
