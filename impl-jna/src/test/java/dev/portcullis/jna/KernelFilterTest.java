package dev.portcullis.jna;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.portcullis.RunningServer;
import dev.portcullis.Server;
import dev.portcullis.policy.AccessPolicy;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** The policy compiled to a BPF socket filter: denied peers never get a SYN-ACK. */
@Timeout(60)
class KernelFilterTest {
  private static void connectTimesOut(String from, RunningServer server) throws IOException {
    try (Socket s = new Socket()) {
      s.bind(new InetSocketAddress(InetAddress.getByName(from), 0));
      assertThrows(SocketTimeoutException.class, () -> s.connect(server.localAddress(), 700),
          from + ": the kernel dropped its SYN, so connect times out instead of being refused");
    }
  }

  @Test
  void theKernelDropsDeniedPeersBeforeTheServerSeesThemAndFollowsPolicyUpdates() throws Exception {
    try (RunningServer server = Server.on(0).bindAddress("127.0.0.1").allow("127.0.0.1").kernelFilter()
        .handle(conn -> conn.output().write("ok".getBytes(StandardCharsets.US_ASCII))).start()) {
      assertEquals("ok", Clients.exchange("127.0.0.1", server.localAddress(), ""));
      connectTimesOut("127.0.0.2", server);
      assertEquals(1, server.stats().accepted(), "the denied peer never reached accept()");
      assertEquals(0, server.stats().denied());

      server.updatePolicy(AccessPolicy.parse("allow 127.0.0.2\n"));
      assertTrue(Clients.await(() -> {
        try {
          return "ok".equals(Clients.exchange("127.0.0.2", server.localAddress(), ""));
        } catch (IOException e) {
          return false;
        }
      }, Duration.ofSeconds(10)), "the new policy reaches the kernel");
      connectTimesOut("127.0.0.1", server);
    }
  }

  @Test
  void withoutTheFilterADeniedPeerIsAcceptedAndReset() throws Exception {
    try (RunningServer server = Server.on(0).bindAddress("127.0.0.1").allow("127.0.0.1")
        .handle(conn -> conn.output().write("ok".getBytes(StandardCharsets.US_ASCII))).start()) {
      assertNull(Clients.exchange("127.0.0.2", server.localAddress(), ""));
      assertEquals(1, server.stats().denied(), "the contrast: user space saw and refused it");
    }
  }

  @Test
  void deniedRangesComeFromThePolicysOwnDecisions() {
    AccessPolicy p = AccessPolicy.parse("allow 10.0.0.0/8\ndeny 10.66.0.0/16\nallow 10.66.1.1\n");
    List<long[]> denied = KernelFilter.deniedIpv4(p);
    long ten = 10L << 24;
    long sixtySix = ten | (66L << 16);
    long[][] expected = {
        {0, ten - 1},                               // below 10.0.0.0/8: default deny
        {sixtySix, sixtySix + 256},                 // 10.66.0.0 .. 10.66.1.0
        {sixtySix + 258, sixtySix + 0xFFFF},        // 10.66.1.2 .. 10.66.255.255 (10.66.1.1 allowed)
        {ten + (1L << 24), 0xFFFF_FFFFL}};          // above 10.255.255.255
    assertEquals(expected.length, denied.size());
    for (int i = 0; i < expected.length; i++) {
      assertEquals(expected[i][0], denied.get(i)[0], "range " + i + " start");
      assertEquals(expected[i][1], denied.get(i)[1], "range " + i + " end");
    }
    assertEquals(List.of("::/0"), KernelFilter.deniedIpv6Prefixes(p).stream().map(Object::toString).toList(),
        "no IPv6 rule: the default denies every IPv6 peer");
    assertEquals(6 + (1 + 3 * 4 + 1) + (1 + 1), KernelFilter.compile(p).length / 2,
        "six to dispatch on the version; the IPv4 block, three instructions a range; ::/0 is one drop");
  }

  @Test
  void aPolicyTooLargeForOneProgramFallsBackToUserSpace() throws Exception {
    AccessPolicy.Builder b = AccessPolicy.builder().allow("127.0.0.1");
    for (int i = 0; i < 2000; i++) {
      b.allow("10." + (i >> 8) + "." + (i & 0xFF) + ".1"); // every allowed /32 splits the denied space
    }
    AccessPolicy big = b.build();
    assertNull(KernelFilter.compile(big));
    try (RunningServer server = Server.on(0).bindAddress("127.0.0.1").policy(big).kernelFilter()
        .handle(conn -> conn.output().write("ok".getBytes(StandardCharsets.US_ASCII))).start()) {
      assertEquals("ok", Clients.exchange("127.0.0.1", server.localAddress(), ""));
      assertNull(Clients.exchange("127.0.0.2", server.localAddress(), ""), "still denied, in user space");
      assertEquals(1, server.stats().denied());
    }
  }
}
