package dev.portcullis.jna;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.portcullis.spi.KernelFilterMode;
import dev.portcullis.RunningServer;
import dev.portcullis.Server;
import dev.portcullis.policy.AccessPolicy;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The policy in a socket filter, eBPF where this process may load it and classic BPF otherwise (or
 * when asked): denied peers never get a SYN-ACK, updates hold when {@code updatePolicy} returns,
 * and {@code stats()} says which mode is live.
 */
@Timeout(60)
class KernelFilterTest {
  private static void connectTimesOut(String from, RunningServer server) throws IOException {
    try (Socket s = new Socket()) {
      s.bind(new InetSocketAddress(InetAddress.getByName(from), 0));
      assertThrows(SocketTimeoutException.class, () -> s.connect(server.localAddress(), 700),
          from + ": the kernel dropped its SYN, so connect times out instead of being refused");
    }
  }

  /** Runs {@code body} with the kernel filter limited to classic BPF, as {@code -Dportcullis.kernelFilter=classic}. */
  static void classicOnly(ThrowingRunnable body) throws Exception {
    String before = System.setProperty(KernelFilter.MODE_PROPERTY, "classic");
    try {
      body.run();
    } finally {
      if (before == null) {
        System.clearProperty(KernelFilter.MODE_PROPERTY);
      } else {
        System.setProperty(KernelFilter.MODE_PROPERTY, before);
      }
    }
  }

  interface ThrowingRunnable {
    void run() throws Exception;
  }

  private static void dropsDeniedPeersAndFollowsUpdates(KernelFilterMode expected) throws Exception {
    try (RunningServer server = Server.on(0).bindAddress("127.0.0.1").allow("127.0.0.1").kernelFilter()
        .handle(conn -> conn.output().write("ok".getBytes(StandardCharsets.US_ASCII))).start()) {
      assertEquals(expected, server.stats().kernelFilter());
      assertEquals("ok", Clients.exchange("127.0.0.1", server.localAddress(), ""));
      connectTimesOut("127.0.0.2", server);
      assertEquals(1, server.stats().accepted(), "the denied peer never reached accept()");
      assertEquals(0, server.stats().denied());

      server.updatePolicy(AccessPolicy.parse("allow 127.0.0.2\n"));
      // No waiting: the kernel has the new policy when updatePolicy returns.
      assertEquals("ok", Clients.exchange("127.0.0.2", server.localAddress(), ""), "the new policy is in the kernel");
      connectTimesOut("127.0.0.1", server);
      assertEquals(expected, server.stats().kernelFilter());
    }
  }

  @Test
  void theKernelDropsDeniedPeersBeforeTheServerSeesThemAndFollowsPolicyUpdates() throws Exception {
    dropsDeniedPeersAndFollowsUpdates(EbpfFilterTest.ebpfAllowed() ? KernelFilterMode.EBPF : KernelFilterMode.CLASSIC);
  }

  @Test
  void classicBpfDropsDeniedPeersAndFollowsPolicyUpdatesToo() throws Exception {
    classicOnly(() -> dropsDeniedPeersAndFollowsUpdates(KernelFilterMode.CLASSIC));
  }

  @Test
  void aDeniedIpv4PeerAmong100000RulesGetsNoSynAckWithEbpf() throws Exception {
    assumeTrue(EbpfFilterTest.ebpfAllowed(), "the kernel refuses eBPF maps to this process");
    AccessPolicy blocked = KernelFilterMain.blockList("127.0.0.2", 100_000);
    assertNull(KernelFilter.compile(dev.portcullis.spi.KernelRules.of(blocked)), "far more than classic BPF holds");
    try (RunningServer server = Server.on(0).bindAddress("127.0.0.1").policy(blocked).kernelFilter()
        .handle(conn -> conn.output().write("ok".getBytes(StandardCharsets.US_ASCII))).start()) {
      assertEquals(KernelFilterMode.EBPF, server.stats().kernelFilter());
      assertEquals("ok", Clients.exchange("127.0.0.1", server.localAddress(), ""));
      connectTimesOut("127.0.0.2", server);
      assertEquals(1, server.stats().accepted(), "the denied peer never reached accept()");

      server.updatePolicy(KernelFilterMain.blockList("127.0.0.1", 100_000));
      assertEquals("ok", Clients.exchange("127.0.0.2", server.localAddress(), ""), "the new generation is live");
      connectTimesOut("127.0.0.1", server);
      assertEquals(2, server.stats().accepted());
      assertEquals(0, server.stats().denied(), "user space never saw a denied peer");
    }
  }

  @Test
  void theEbpfMapsAndProgramAreClosedWithTheServer() throws Exception {
    assumeTrue(EbpfFilterTest.ebpfAllowed(), "the kernel refuses eBPF maps to this process");
    long before = Clients.openDescriptors();
    for (int i = 0; i < 5; i++) {
      try (RunningServer server = Server.on(0).bindAddress("127.0.0.1").allow("127.0.0.1").kernelFilter()
          .handle(conn -> { }).start()) {
        assertEquals(KernelFilterMode.EBPF, server.stats().kernelFilter());
        server.updatePolicy(AccessPolicy.parse("allow 127.0.0.2\n")); // a generation's tries: closed once switched
        server.updatePolicy(AccessPolicy.parse("allow 127.0.0.1\n"));
      }
    }
    assertTrue(Clients.openDescriptors() <= before, "no descriptor left behind: " + before + " before, "
        + Clients.openDescriptors() + " after");
  }

  @Test
  void withoutAKernelFilterTheModeIsOff() throws Exception {
    try (RunningServer server = Server.on(0).bindAddress("127.0.0.1").allow("127.0.0.1")
        .handle(conn -> conn.output().write("ok".getBytes(StandardCharsets.US_ASCII))).start()) {
      assertEquals(KernelFilterMode.OFF, server.stats().kernelFilter());
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
    List<long[]> denied = KernelFilter.deniedIpv4(dev.portcullis.spi.KernelRules.of(p));
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
    assertEquals(List.of("::/0"), KernelFilter.deniedIpv6Prefixes(dev.portcullis.spi.KernelRules.of(p)).stream().map(Object::toString).toList(),
        "no IPv6 rule: the default denies every IPv6 peer");
    assertEquals(6 + (1 + 3 * 4 + 1) + (1 + 1), KernelFilter.compile(dev.portcullis.spi.KernelRules.of(p)).length / 2,
        "six to dispatch on the version; the IPv4 block, three instructions a range; ::/0 is one drop");
  }

  @Test
  void aPolicyTooLargeForOneClassicProgramFallsBackToUserSpace() throws Exception {
    classicOnly(KernelFilterTest::tooLargeForClassic);
  }

  private static void tooLargeForClassic() throws Exception {
    AccessPolicy.Builder b = AccessPolicy.builder().allow("127.0.0.1");
    for (int i = 0; i < 2000; i++) {
      b.allow("10." + (i >> 8) + "." + (i & 0xFF) + ".1"); // every allowed /32 splits the denied space
    }
    AccessPolicy big = b.build();
    assertNull(KernelFilter.compile(dev.portcullis.spi.KernelRules.of(big)));
    try (RunningServer server = Server.on(0).bindAddress("127.0.0.1").policy(big).kernelFilter()
        .handle(conn -> conn.output().write("ok".getBytes(StandardCharsets.US_ASCII))).start()) {
      assertEquals("ok", Clients.exchange("127.0.0.1", server.localAddress(), ""));
      assertNull(Clients.exchange("127.0.0.2", server.localAddress(), ""), "still denied, in user space");
      assertEquals(1, server.stats().denied());
      assertEquals(KernelFilterMode.USER_SPACE, server.stats().kernelFilter());

      // A policy that fits again gets a program again; one that does not removes it, so the old
      // policy never stays in the kernel.
      server.updatePolicy(AccessPolicy.parse("allow 127.0.0.1\n"));
      assertEquals(KernelFilterMode.CLASSIC, server.stats().kernelFilter());
      connectTimesOut("127.0.0.2", server);
      server.updatePolicy(AccessPolicy.builder().rules(big).allow("127.0.0.2").build());
      assertEquals(KernelFilterMode.USER_SPACE, server.stats().kernelFilter());
      assertEquals("ok", Clients.exchange("127.0.0.2", server.localAddress(), ""), "the old program is gone");
    }
  }
}
