package dev.portcullis.netty;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.portcullis.RunningServer;
import dev.portcullis.Server;
import dev.portcullis.admission.Refusal;
import dev.portcullis.policy.AccessPolicy;
import dev.portcullis.policy.Cidr;
import dev.portcullis.policy.Rule;
import dev.portcullis.spi.LogCapture;
import java.net.InetAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The guard decides as a Portcullis server does: the same random policies, real connections from
 * random loopback addresses to both, the same outcome; and the guard's chain against {@link
 * AccessPolicy#decide} on many more addresses, IPv6 among them.
 */
@Timeout(60)
class DifferentialTest {
  @RegisterExtension
  final LogCapture log = new LogCapture();

  private static final long SEED = Long.getLong("portcullis.seed", System.nanoTime());

  /** Up to 6 rules in 127.0.0.0/8, prefixes /8 to /32. */
  private static AccessPolicy randomLoopbackPolicy(Random r, List<Cidr> ranges) {
    List<Rule> rules = new ArrayList<>();
    int n = 1 + r.nextInt(6);
    for (int i = 0; i < n; i++) {
      int bits = 8 + r.nextInt(25);
      int address = 0x7F00_0000 | (r.nextInt() & 0x00FF_FFFF);
      int mask = bits == 32 ? -1 : ~(-1 >>> bits);
      Cidr c = Cidr.parse(dotted(address & mask) + "/" + bits);
      ranges.add(c);
      rules.add(r.nextBoolean() ? Rule.allow(c) : Rule.deny(c));
    }
    return AccessPolicy.of(rules);
  }

  /** An address to connect from: inside one of the ranges half the time; never a .0 or .255 host. */
  private static String randomLoopbackAddress(Random r, List<Cidr> ranges) {
    int address;
    if (r.nextBoolean()) {
      Cidr c = ranges.get(r.nextInt(ranges.size()));
      int base = java.nio.ByteBuffer.wrap(c.network().getAddress()).getInt();
      int hostBits = 32 - c.prefixLength();
      address = base | (hostBits == 0 ? 0 : r.nextInt() >>> (32 - hostBits));
    } else {
      address = 0x7F00_0000 | (r.nextInt() & 0x00FF_FFFF);
    }
    int last = address & 0xFF;
    if (last == 0 || last == 255) {
      address = (address & ~0xFF) | 1;
    }
    return dotted(address);
  }

  private static String dotted(int a) {
    return (a >>> 24) + "." + ((a >>> 16) & 0xFF) + "." + ((a >>> 8) & 0xFF) + "." + (a & 0xFF);
  }

  private static boolean served(String from, int port) throws Exception {
    try (Socket s = Peers.connect(from, port)) {
      String line = Peers.readLine(s);
      return line != null && line.startsWith("ok");
    }
  }

  @ParameterizedTest
  @EnumSource(value = TestServer.Usage.class, names = {"CHILD", "SERVER"})
  void sameDecisionsAsAPortcullisServerOnRandomPolicies(TestServer.Usage usage) throws Exception {
    Random r = new Random(SEED);
    int compared = 0;
    try (PortcullisNetty guard = PortcullisNetty.guard(AccessPolicy.parse("allow 127.0.0.1/32"));
        TestServer netty = TestServer.greeter(TestServer.Kind.NIO, usage, guard);
        RunningServer portcullis = Server.on(0).bindAddress("127.0.0.1").allow("127.0.0.1/32")
            .handle(conn -> conn.output().write("ok\n".getBytes(StandardCharsets.US_ASCII))).start()) {
      for (int round = 0; round < 6; round++) {
        List<Cidr> ranges = new ArrayList<>();
        AccessPolicy policy = randomLoopbackPolicy(r, ranges);
        try {
          portcullis.updatePolicy(policy);
        } catch (IllegalArgumentException lockout) {
          continue; // a policy that would lock out every peer: refused by the server, not a decision
        }
        guard.updatePolicy(policy);
        for (int i = 0; i < 12; i++) {
          String from = randomLoopbackAddress(r, ranges);
          boolean byServer = served(from, portcullis.port());
          boolean byGuard = served(from, netty.port());
          String what = "seed " + SEED + ", policy " + policy.rules() + ", peer " + from;
          assertEquals(byServer, byGuard, what);
          assertEquals(policy.decide(InetAddress.getByName(from)).isAllowed(), byGuard, what);
          compared++;
        }
      }
      assertTrue(compared >= 12, "seed " + SEED + ": too few policies were usable");
      long served = portcullis.stats().handled();
      assertTrue(Peers.await(() -> guard.stats().handled() == served, Duration.ofSeconds(10)));
      assertEquals(portcullis.stats().denied(), guard.stats().denied(), "seed " + SEED);
    }
  }

  @Test
  void chainDecidesAsThePolicyOnRandomAddressesOfBothFamilies() throws Exception {
    Random r = new Random(SEED);
    for (int round = 0; round < 20; round++) {
      List<Rule> rules = new ArrayList<>();
      for (int i = 0, n = 1 + r.nextInt(20); i < n; i++) {
        boolean v4 = r.nextBoolean();
        byte[] a = new byte[v4 ? 4 : 16];
        r.nextBytes(a);
        Cidr c = maskedCidr(a, r.nextInt(a.length * 8 + 1));
        rules.add(r.nextBoolean() ? Rule.allow(c) : Rule.deny(c));
      }
      AccessPolicy policy = AccessPolicy.of(rules);
      try (PortcullisNetty guard = PortcullisNetty.guard(policy)) {
        for (int i = 0; i < 500; i++) {
          byte[] a = new byte[r.nextBoolean() ? 4 : 16];
          r.nextBytes(a);
          if (r.nextBoolean()) { // inside a rule's range, often
            Cidr near = policy.rules().get(r.nextInt(policy.rules().size())).cidr();
            byte[] n = near.network().getAddress();
            if (n.length == a.length) {
              int keep = near.prefixLength();
              for (int b = 0; b < keep; b++) {
                int bit = 0x80 >>> (b % 8);
                a[b / 8] = (byte) ((a[b / 8] & ~bit) | (n[b / 8] & bit));
              }
            }
          }
          InetAddress peer = InetAddress.getByAddress(a);
          Refusal decided = guard.chain().admit(peer);
          assertEquals(policy.decide(peer).isAllowed(), !decided.refused(), "seed " + SEED + ", policy "
              + policy.rules() + ", peer " + peer);
          if (!decided.refused()) {
            guard.chain().released(peer, new java.net.InetSocketAddress(peer, 1), null);
          }
        }
      }
    }
  }

  private static byte[] mask(byte[] a, int bits) {
    byte[] m = a.clone();
    for (int b = bits; b < m.length * 8; b++) {
      m[b / 8] &= (byte) ~(0x80 >>> (b % 8));
    }
    return m;
  }

  private static Cidr maskedCidr(byte[] a, int bits) throws Exception {
    return Cidr.of(InetAddress.getByAddress(mask(a, bits)), bits);
  }
}
