package dev.portcullis.policy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.common.net.InetAddresses;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Optional;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** TCP Wrappers files: what is read, what is refused, and that the policy decides as tcpd would. */
class HostsFilesTest {
  private static HostsFiles files(String allow, String deny) {
    return HostsFiles.parse(allow, deny, "sshd");
  }

  private static void refused(String allow, String... parts) {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> files(allow, ""));
    for (String part : parts) {
      assertTrue(e.getMessage().contains(part), "'" + e.getMessage() + "' should say '" + part + "'");
    }
  }

  @Test
  void allowWinsOverDenyWhateverTheLengthsAndTheDefaultIsGranted() {
    HostsFiles f = files("# office\nsshd: 10.0.0.0/255.0.0.0 EXCEPT 10.66.\nALL: [2001:db8::]/32\n",
        "ALL: ALL\n");
    AccessPolicy p = f.toPolicy();
    for (String granted : new String[] {"10.1.2.3", "2001:db8::7"}) {
      assertTrue(p.decide(granted).isAllowed(), granted);
      assertTrue(f.explain(InetAddresses.forString(granted)).granted(), granted);
    }
    for (String denied : new String[] {"10.66.1.1", "192.0.2.1", "2001:db9::1"}) {
      assertFalse(p.decide(denied).isAllowed(), denied);
    }
    assertEquals(Optional.of("hosts.deny:1: ALL: ALL"), f.explain(InetAddresses.forString("10.66.1.1")).line());
    assertEquals(Optional.of("hosts.allow:2: sshd: 10.0.0.0/255.0.0.0 EXCEPT 10.66."),
        f.explain(InetAddresses.forString("10.1.2.3")).line());
    HostsFiles open = files("", "");
    assertTrue(open.explain(InetAddresses.forString("192.0.2.1")).granted(), "no match: granted");
    assertTrue(open.toPolicy().decide("192.0.2.1").isAllowed());
  }

  @Test
  void linesForOtherDaemonsAreIgnoredAndLocalIsLoopback() {
    HostsFiles f = files("in.ftpd: 192.0.2.\nsshd, in.telnetd: LOCAL\n", "ALL: ALL\n");
    assertFalse(f.toPolicy().decide("192.0.2.1").isAllowed(), "the ftpd line is not sshd's");
    assertTrue(f.toPolicy().decide("127.0.0.1").isAllowed());
    assertTrue(f.toPolicy().decide("::1").isAllowed());
    assertTrue(f.toPolicy().decide("::ffff:127.0.0.1").isAllowed(), "mapped addresses count as IPv4");
  }

  @Test
  void whatIsNotAnAddressRuleIsRefusedWithFileAndLine() {
    refused("sshd: .example.com", "hosts.allow:1:", "host or domain name");
    refused("\nsshd: 10.0.0.1 : spawn /bin/echo %a", "hosts.allow:2:", "option field", "spawn");
    refused("sshd: @trusted", "netgroup");
    refused("sshd: KNOWN", "name lookups");
    IllegalArgumentException forAll = assertThrows(IllegalArgumentException.class,
        () -> HostsFiles.parse("sshd: 10.0.0.1\n", "", "ALL"));
    assertTrue(forAll.getMessage().contains("for [sshd] only") && forAll.getMessage().contains("--daemon sshd"),
        forAll.getMessage());
    refused("sshd: 10.0.0.*", "wildcard");
    refused("sshd: 10.0.0.0/255.0.255.0", "not contiguous");
    refused("sshd: 10.0.0.0/8", "is not n.n.n.n");
    refused("sshd: [2001:db8::]/129", "/0 to /128");
    refused("ALL EXCEPT sshd: 10.0.0.1", "EXCEPT in the daemon list");
    refused("sshd 10.0.0.1", "not 'DAEMONS : CLIENTS'");
    refused("sshd: 10.0.0.1 EXCEPT", "EXCEPT ends the client list");
  }

  @Test
  void aZeroPaddedAddressIsRefusedSinceTcpdComparesItAsTextAndItMatchesNoClient() {
    // tcpd compares an address pattern with the client's address as text: 192.168.001.010 is
    // never equal to "192.168.1.10" (nor to "192.168.1.8"), so the line matches no client.
    refused("# office\n\nALL: 10.0.0.1 192.168.001.010", "hosts.allow:3:", "'192.168.001.010'",
        "zero-padded octet (001)", "as text", "matches no client", "192.168.1.10", "192.168.1.8");
    refused("sshd: 010.1.2.3", "hosts.allow:1:", "'010.1.2.3'", "zero-padded octet (010)", "10.1.2.3");
    refused("sshd: 10.0.0.0007", "hosts.allow:1:", "'10.0.0.0007'", "(0007)", "matches no client");
    IllegalArgumentException deny = assertThrows(IllegalArgumentException.class,
        () -> HostsFiles.parse("", "ALL: ALL EXCEPT \\\n 192.168.001.010\n", "sshd"));
    assertTrue(deny.getMessage().startsWith("hosts.deny:1: ") && deny.getMessage().contains("'192.168.001.010'"),
        deny.getMessage());
  }

  @Test
  void aZeroPaddedPrefixIsRefusedSinceTcpdComparesItAsText() {
    refused("\nsshd: 010.", "hosts.allow:2:", "'010.'", "zero-padded octet (010)", "as text",
        "matches no client", "10.", "8.");
    refused("sshd: 192.168.01.", "hosts.allow:1:", "'192.168.01.'", "(01)", "192.168.1.");
  }

  @Test
  void aZeroPaddedNetIsRefusedWithTcpdsOctalReading() {
    // tcpd reads net/mask with inet_addr(): 010 is octal, 8.
    refused("\n\nsshd: 010.0.0.0/255.0.0.0", "hosts.allow:3:", "'010.0.0.0/255.0.0.0'", "zero-padded octet (010)",
        "octal", "means 8.0.0.0/255.0.0.0");
    refused("sshd: 192.168.001.010/255.255.255.254", "'192.168.001.010/255.255.255.254'", "(001)",
        "means 192.168.1.8/255.255.255.254");
    refused("sshd: 0x0a.0.0.0/255.0.0.0", "'0x0a.0.0.0/255.0.0.0'", "hexadecimal octet (0x0a)",
        "means 10.0.0.0/255.0.0.0");
    refused("sshd: 08.0.0.0/255.0.0.0", "'08.0.0.0/255.0.0.0'", "(08)", "cannot read", "matches no client");
    refused("sshd: 010.0.0.1/255.0.0.0", "means 8.0.0.1/255.0.0.0", "matches no client", "bits outside the mask");
    refused("sshd: 10.0.0/255.0.0.0", "'10.0.0/255.0.0.0'", "a net without four parts (10.0.0)",
        "matches no client");
  }

  @Test
  void aZeroPaddedMaskIsRefusedWithTcpdsOctalReading() {
    refused("\nALL: 10.0.0.0/255.255.0377.0", "hosts.allow:2:", "'10.0.0.0/255.255.0377.0'",
        "zero-padded octet (0377) in the mask", "octal", "means 10.0.0.0/255.255.255.0");
    refused("sshd: 10.0.0.0/255.0.0.00", "(00)", "means 10.0.0.0/255.0.0.0");
    refused("sshd: 10.0.0.0/0xff.0.0.0", "hexadecimal octet (0xff)", "means 10.0.0.0/255.0.0.0");
  }

  @Test
  void netMasksTcpdNeverMatchesAreRefused() {
    // (client & mask) == net never holds when the net has bits outside the mask.
    refused("sshd: 10.0.0.1/255.0.0.0", "hosts.allow:1:", "'10.0.0.1/255.0.0.0'", "bits outside the mask",
        "matches no client", "10.0.0.0/255.0.0.0");
    // inet_addr() returns 255.255.255.255 as its error value, so tcpd cannot read that mask.
    refused("sshd: 10.1.2.3/255.255.255.255", "'10.1.2.3/255.255.255.255'", "255.255.255.255",
        "matches no client", "write the address alone, 10.1.2.3");
  }

  @Test
  void plainZerosAndOctetsEndingInZeroAreStillRead() {
    HostsFiles f = files("sshd: 10.0.0.0/255.0.0.0 100. 0.0.10.0 200.100.0.0/255.255.0.0\n", "ALL: ALL\n");
    AccessPolicy p = f.toPolicy();
    for (String granted : new String[] {"10.200.0.1", "100.0.0.1", "0.0.10.0", "200.100.7.7"}) {
      assertTrue(p.decide(granted).isAllowed(), granted);
    }
    for (String denied : new String[] {"8.0.0.1", "0.0.8.0", "0.0.10.1", "200.101.0.0"}) {
      assertFalse(p.decide(denied).isAllowed(), denied);
    }
  }

  @Test
  void thePolicyAgreesWithTcpdOnRandomFilesAndAddresses() throws Exception {
    Random rnd = new Random(11);
    String[] patterns = {"ALL", "LOCAL", "10.", "10.1.", "10.1.2.", "10.1.2.3", "192.168.0.0/255.255.0.0",
        "0.0.0.0/0.0.0.0", "[::1]", "[2001:db8::]/32", "[2001:db8:1::]/48", "172.16.0.0/255.240.0.0"};
    for (int round = 0; round < 300; round++) {
      StringBuilder allow = new StringBuilder();
      StringBuilder deny = new StringBuilder();
      for (StringBuilder sb : new StringBuilder[] {allow, deny}) {
        int lines = rnd.nextInt(4);
        for (int l = 0; l < lines; l++) {
          sb.append(rnd.nextBoolean() ? "ALL" : "sshd").append(": ").append(patterns[rnd.nextInt(patterns.length)]);
          if (rnd.nextInt(3) == 0) {
            sb.append(" EXCEPT ").append(patterns[rnd.nextInt(patterns.length)]);
          }
          sb.append('\n');
        }
      }
      HostsFiles f = files(allow.toString(), deny.toString());
      AccessPolicy p = f.toPolicy();
      for (int i = 0; i < 200; i++) {
        byte[] a = new byte[rnd.nextBoolean() ? 4 : 16];
        rnd.nextBytes(a);
        if (rnd.nextInt(3) == 0) {
          a[0] = (byte) (a.length == 4 ? 10 : 0x20);
          if (a.length == 16) {
            a[1] = 0x01;
            a[2] = 0x0d;
            a[3] = (byte) 0xb8;
          }
        }
        java.net.InetAddress addr = InetAddresses.fromLittleEndianByteArray(reverse(a));
        assertEquals(f.explain(addr).granted(), p.decide(addr).isAllowed(),
            addr + " under\n" + allow + "---\n" + deny + "=> " + p);
      }
    }
  }

  private static byte[] reverse(byte[] a) {
    byte[] r = new byte[a.length];
    for (int i = 0; i < a.length; i++) {
      r[i] = a[a.length - 1 - i];
    }
    return r;
  }

  @Test
  void aFifoIsRefusedWithoutBlocking(@TempDir Path dir) throws Exception {
    Path fifo = dir.resolve("hosts.allow");
    AccessPolicyFileTest.mkfifo(fifo);
    Path deny = Files.writeString(dir.resolve("hosts.deny"), "ALL: ALL\n");
    IOException e = org.junit.jupiter.api.Assertions.assertTimeoutPreemptively(Duration.ofSeconds(10),
        () -> assertThrows(IOException.class, () -> HostsFiles.read(fifo, deny)));
    assertTrue(e.getMessage().contains(fifo + ": not a regular file but a FIFO"), e.getMessage());
  }

  @Test
  void aLongPatternIsQuotedOnlyAsAShortPrefix() {
    String word = "x".repeat(100_000) + ".example.com";
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> files("sshd: " + word + "\n", ""));
    assertTrue(e.getMessage().length() < 400, "a long message: " + e.getMessage().length() + " characters");
    assertTrue(e.getMessage().contains("(100012 characters)"), e.getMessage());
  }
}
