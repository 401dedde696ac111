package dev.portcullis.policy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.google.common.net.InetAddresses;
import java.io.File;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Differential test against the real {@code tcpdmatch -d} (Debian's {@code tcpd} package): over
 * random {@code hosts.allow}/{@code hosts.deny} pairs with zero-padded, octal, hexadecimal and
 * short octets, nets with bits outside the mask and all-ones masks, Portcullis either refuses the
 * pair (naming the file and line) or decides every client exactly as {@code tcpdmatch} does.
 *
 * <p>Without {@code tcpdmatch} the test is skipped with a message; in CI ({@code CI} set) it fails.
 * {@code LOCAL}, names and IPv6 clients are left out: {@code tcpdmatch} decides those from name
 * lookups or an IPv6 socket, not from the files alone.
 */
class HostsFilesAgainstTcpdmatchTest {
  private static final int FILE_PAIRS = 100;
  private static final int CLIENTS_PER_PAIR = 6;

  @TempDir Path dir;

  @Test
  void decidesAsTcpdmatchOrRefuses() throws Exception {
    String tcpdmatch = requireTcpdmatch();
    Random rnd = new Random(9);
    int compared = 0;
    int refused = 0;
    for (int pair = 0; pair < FILE_PAIRS; pair++) {
      List<Long> interesting = new ArrayList<>();
      String allow = file(rnd, interesting);
      String deny = rnd.nextInt(4) == 0 ? file(rnd, interesting) : "ALL: ALL\n";
      HostsFiles files;
      try {
        files = HostsFiles.parse(allow, deny, "sshd");
      } catch (IllegalArgumentException e) {
        assertTrue(e.getMessage().matches("(?s)hosts\\.(allow|deny):[0-9]+: '.*"), e.getMessage());
        refused++;
        continue;
      }
      Files.writeString(dir.resolve("hosts.allow"), allow, StandardCharsets.UTF_8);
      Files.writeString(dir.resolve("hosts.deny"), deny, StandardCharsets.UTF_8);
      AccessPolicy policy = files.toPolicy();
      for (long client : clients(rnd, interesting)) {
        String address = dotted(client);
        boolean tcpd = tcpdmatch(tcpdmatch, address);
        String context = address + " under\n" + allow + "---\n" + deny;
        assertEquals(tcpd, files.explain(InetAddresses.forString(address)).granted(), "explain: " + context);
        assertEquals(tcpd, policy.decide(address).isAllowed(), "policy " + policy + ": " + context);
        compared++;
      }
    }
    // Both outcomes must have been exercised, or the test proves nothing.
    assertTrue(compared >= 250, compared + " decisions compared");
    assertTrue(refused >= 20, refused + " file pairs refused");
  }

  /** One to three lines of random address patterns; the addresses they are about go to {@code interesting}. */
  private static String file(Random rnd, List<Long> interesting) {
    StringBuilder sb = new StringBuilder();
    int lines = 1 + rnd.nextInt(2);
    for (int l = 0; l < lines; l++) {
      sb.append(rnd.nextBoolean() ? "ALL" : "sshd").append(": ").append(pattern(rnd, interesting));
      if (rnd.nextInt(3) == 0) {
        sb.append(' ').append(pattern(rnd, interesting));
      }
      if (rnd.nextInt(4) == 0) {
        sb.append(" EXCEPT ").append(pattern(rnd, interesting));
      }
      sb.append('\n');
    }
    return sb.toString();
  }

  private static final long[] BASES = {10L << 24 | 1 << 16 | 2 << 8 | 3, 8L << 24 | 1 << 16 | 1 << 8 | 1,
      192L << 24 | 168 << 16 | 1 << 8 | 10, 192L << 24 | 168 << 16 | 1 << 8 | 8, 10L << 24 | 8 << 8 | 10};

  private static String pattern(Random rnd, List<Long> interesting) {
    // Most patterns are plain decimal; about one in eight spells one octet another way.
    int odd = rnd.nextInt(8) == 0 ? rnd.nextInt(8) : -1;
    long base = rnd.nextInt(4) == 0 ? rnd.nextLong() & 0xFFFF_FFFFL : BASES[rnd.nextInt(BASES.length)];
    interesting.add(base);
    int[] o = {(int) (base >>> 24), (int) (base >>> 16) & 255, (int) (base >>> 8) & 255, (int) base & 255};
    switch (rnd.nextInt(7)) {
      case 0:
        return "ALL";
      case 1, 2: { // n.n.n.n
        return octet(rnd, o[0], odd == 0) + "." + octet(rnd, o[1], odd == 1) + "." + octet(rnd, o[2], odd == 2) + "."
            + octet(rnd, o[3], odd == 3);
      }
      case 3: { // n. to n.n.n.
        int parts = 1 + rnd.nextInt(3);
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < parts; i++) {
          sb.append(octet(rnd, o[i], odd == i)).append('.');
        }
        return sb.toString();
      }
      default: { // net/mask, the net with or without bits outside the mask
        int[] lengths = {0, 8, 16, 24, 30, 31, 32};
        int len = lengths[rnd.nextInt(lengths.length)];
        long mask = len == 0 ? 0 : (0xFFFF_FFFFL << (32 - len)) & 0xFFFF_FFFFL;
        long net = rnd.nextInt(8) == 0 ? base : base & mask;
        interesting.add((net | ~mask) & 0xFFFF_FFFFL); // the last address of the net
        interesting.add((net + (1L << (32 - len))) & 0xFFFF_FFFFL); // just past it
        int[] m = {(int) (mask >>> 24), (int) (mask >>> 16) & 255, (int) (mask >>> 8) & 255, (int) mask & 255};
        int[] n = {(int) (net >>> 24), (int) (net >>> 16) & 255, (int) (net >>> 8) & 255, (int) net & 255};
        return octet(rnd, n[0], odd == 0) + "." + octet(rnd, n[1], odd == 1) + "." + octet(rnd, n[2], odd == 2) + "."
            + octet(rnd, n[3], odd == 3) + "/" + octet(rnd, m[0], odd == 4) + "." + octet(rnd, m[1], odd == 5) + "."
            + octet(rnd, m[2], odd == 6) + "." + octet(rnd, m[3], odd == 7);
      }
    }
  }

  /** Plain decimal, or when {@code odd} zero-padded, octal (as tcpd's inet_addr() reads it) or hexadecimal. */
  private static String octet(Random rnd, int v, boolean odd) {
    if (!odd) {
      return Integer.toString(v);
    }
    switch (rnd.nextInt(3)) {
      case 0:
        return "0" + v; // zero-padded decimal: octal to inet_addr(), or unreadable when it has an 8 or 9
      case 1:
        return "00" + Integer.toOctalString(v); // octal, so inet_addr() reads v
      case 2:
        return "0x" + Integer.toHexString(v);
      default:
        return Integer.toString(v);
    }
  }

  /** The interesting addresses (as written in decimal, and with the padded octets read as octal), and random ones. */
  private static Set<Long> clients(Random rnd, List<Long> interesting) {
    Set<Long> out = new LinkedHashSet<>();
    while (out.size() < CLIENTS_PER_PAIR) {
      long a = rnd.nextInt(3) == 0 || interesting.isEmpty()
          ? rnd.nextLong() & 0xFFFF_FFFFL : interesting.get(rnd.nextInt(interesting.size()));
      if (rnd.nextInt(3) == 0) {
        a ^= 1L << rnd.nextInt(32); // a neighbour in some prefix
      }
      if (rnd.nextInt(4) == 0) { // an octet 10 the octal reading turns into 8
        int shift = 8 * rnd.nextInt(4);
        a = a & ~(255L << shift) | 8L << shift;
      }
      out.add(a & 0xFFFF_FFFFL);
    }
    return out;
  }

  private static String dotted(long a) {
    return (a >>> 24) + "." + (a >>> 16 & 255) + "." + (a >>> 8 & 255) + "." + (a & 255);
  }

  private boolean tcpdmatch(String tool, String address) throws Exception {
    Process p = new ProcessBuilder(tool, "-d", "sshd", address).directory(dir.toFile()).redirectErrorStream(true)
        .start();
    p.getOutputStream().close();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    if (!p.waitFor(60, TimeUnit.SECONDS)) {
      p.destroyForcibly();
      fail("tcpdmatch did not finish for " + address);
    }
    for (String line : out.split("\n")) {
      if (line.startsWith("access:")) {
        String verdict = line.substring("access:".length()).strip();
        if (verdict.equals("granted") || verdict.equals("denied")) {
          return verdict.equals("granted");
        }
      }
    }
    return fail("no 'access: granted|denied' from tcpdmatch -d sshd " + address + ":\n" + out);
  }

  /** The path of {@code tcpdmatch}; skips the test without it, or fails it in CI ({@code CI} set). */
  private static String requireTcpdmatch() {
    String path = System.getenv().getOrDefault("PATH", "/usr/bin:/bin") + ":/usr/sbin:/sbin";
    for (String d : path.split(File.pathSeparator)) {
      File f = new File(d, "tcpdmatch");
      if (f.canExecute()) {
        return f.getPath();
      }
    }
    if (System.getenv("CI") != null) {
      fail("tcpdmatch is not installed; .ci/run must install it (Debian package tcpd)");
    }
    assumeTrue(false, "tcpdmatch is not installed (Debian package tcpd); skipping");
    return null;
  }
}
