package dev.portcullis.examples;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** The launcher's commands in-process, with captured streams. */
@Timeout(60)
class LauncherTest {
  private final ByteArrayOutputStream out = new ByteArrayOutputStream();
  private final ByteArrayOutputStream err = new ByteArrayOutputStream();

  private int run(String stdin, String... args) {
    return Launcher.run(args, new ByteArrayInputStream(stdin.getBytes(StandardCharsets.UTF_8)),
        new PrintStream(out, true, StandardCharsets.UTF_8), new PrintStream(err, true, StandardCharsets.UTF_8));
  }

  private String out() {
    return out.toString(StandardCharsets.UTF_8);
  }

  private String err() {
    return err.toString(StandardCharsets.UTF_8);
  }

  @Test
  void demoServesTheAllowedClientAndRefusesTheOther() {
    assertEquals(0, run("", "demo"), err());
    assertTrue(out().contains("client  127.0.0.1: sent \"hello\", received \"echo: hello\""), out());
    assertTrue(out().contains("server  decided 127.0.0.2: deny (default)"), out());
    assertTrue(out().contains("denied 1, handled 1"), out());
  }

  @Test
  void checkDiffPrintsOnlyWhatTheNewPolicyChanges(@TempDir Path dir) throws Exception {
    Path old = Files.writeString(dir.resolve("old.policy"), "allow 10.0.0.0/8\ndeny 10.66.0.0/16\n");
    Path neu = Files.writeString(dir.resolve("new.policy"), "allow 10.0.0.0/8\ndeny 10.66.0.0/16\nallow 10.66.1.0/24\n"
        + "deny 10.1.0.0/16\n");
    assertEquals(1, run("", "check", "--policy", old.toString(), "--diff", neu.toString(), "10.1.2.3", "10.2.0.1",
        "10.66.1.9"), "changes exit 1, as diff(1): " + err());
    assertEquals(String.join("\n",
        "10.1.2.3 allow -> deny (was 'allow 10.0.0.0/8', now 'deny 10.1.0.0/16')",
        "10.66.1.9 deny -> allow (was 'deny 10.66.0.0/16', now 'allow 10.66.1.0/24')", ""), out(),
        "10.2.0.1 does not change, so it is not printed");
    out.reset();
    err.reset();
    assertEquals(1, run("", "check", "--policy", old.toString(), "--diff", neu.toString()), err());
    assertEquals(String.join("\n",
        "10.1.0.0/16 allow -> deny (was 'allow 10.0.0.0/8', now 'deny 10.1.0.0/16')",
        "10.66.1.0/24 deny -> allow (was 'deny 10.66.0.0/16', now 'allow 10.66.1.0/24')", ""), out());
    assertTrue(err().contains("2 ranges change"), err());
  }

  @Test
  void aMalformedPenaltyIsAUsageErrorThatSaysTheForm() {
    assertEquals(2, run("", "echo", "--port", "0", "--allow", "127.0.0.1", "--penalty", "ten"));
    assertTrue(err().contains("--penalty: penalty 'ten' is not N:SECONDS"), err());
  }

  @Test
  void checkDecidesEachArgumentNamingTheRule() {
    assertEquals(0, run("", "check", "--allow", "10.0.0.0/8", "--deny", "10.66.0.0/16",
        "10.66.1.1", "10.1.1.1", "192.0.2.1", "::ffff:10.1.1.1"), err());
    assertEquals(String.join("\n",
        "10.66.1.1 deny deny 10.66.0.0/16",
        "10.1.1.1 allow allow 10.0.0.0/8",
        "192.0.2.1 deny default",
        "::ffff:10.1.1.1 allow allow 10.0.0.0/8", ""), out());
  }

  @Test
  void checkReadsAddressesFromStdinWithAPolicyFile(@TempDir Path dir) throws Exception {
    Path policy = dir.resolve("office.policy");
    Files.writeString(policy, "# office\nallow 192.168.10.0/24\ndeny 192.168.10.66\nallow 2001:db8::/32\n");
    assertEquals(0, run("192.168.10.7\n\n192.168.10.66\n2001:db8::1\n", "check", "--policy", policy.toString()));
    assertEquals(String.join("\n",
        "192.168.10.7 allow allow 192.168.10.0/24",
        "192.168.10.66 deny deny 192.168.10.66/32",
        "2001:db8::1 allow allow 2001:db8::/32", ""), out());
  }

  @Test
  void checkSkipsCommentsAndBlankLinesOnStdinAsPolicyFilesDo() {
    assertEquals(0, run("# who is in the office\n10.0.0.1   # the printer\n\n   \n10.9.9.9\n", "check", "--allow",
        "10.0.0.0/8"), err());
    assertEquals("10.0.0.1 allow allow 10.0.0.0/8\n10.9.9.9 allow allow 10.0.0.0/8\n", out());
  }

  @Test
  void checkWithMalformedAddressStillDecidesTheOthersAndExits2() {
    assertEquals(2, run("10.0.0.1\nexample.com\n10.1.2\n10.0.0.2\n", "check", "--allow", "10.0.0.0/8"));
    assertEquals("10.0.0.1 allow allow 10.0.0.0/8\n10.0.0.2 allow allow 10.0.0.0/8\n", out());
    assertTrue(err().contains("'example.com'") && err().contains("'10.1.2'"), err());
  }

  @Test
  void checkWithMalformedRuleStopsWithStatus2NamingIt() {
    assertEquals(2, run("", "check", "--allow", "10.1.2.3/8", "10.0.0.1"));
    assertEquals("", out());
    assertTrue(err().contains("'10.1.2.3/8'") && err().contains("10.0.0.0/8"), err());
  }

  @Test
  void checkPolicyFileErrorNamesTheLine(@TempDir Path dir) throws Exception {
    Path policy = dir.resolve("bad.policy");
    Files.writeString(policy, "allow 10.0.0.0/8\npermit 10.1.0.0/16\n");
    assertEquals(2, run("", "check", "--policy", policy.toString(), "10.0.0.1"));
    assertTrue(err().contains(policy + ":2:") && err().contains("'permit'"), err());
  }

  @Test
  void checkWithoutRulesIsAUsageError() {
    assertEquals(2, run("", "check", "10.0.0.1"));
    assertTrue(err().contains("no rules"), err());
  }

  @Test
  void unknownCommandOrOptionIsOneLineAndAPointerToHelpAndExits2() {
    assertEquals(2, run("", "serve"));
    assertEquals("portcullis: unknown command 'serve'; see 'portcullis --help'\n", err());
    err.reset();
    assertEquals(2, run("", "check", "--frobnicate", "x"));
    assertTrue(err().contains("unknown option '--frobnicate'"), err());
    assertTrue(err().endsWith("see 'portcullis check --help'\n"), err());
    assertEquals(2, err().lines().count(), "a message and a pointer, not the whole usage: " + err());
    err.reset();
    assertEquals(2, run(""));
    assertTrue(err().contains("usage: portcullis"), err());
  }

  @Test
  void echoRejectsBadPortAndMissingRulesBeforeListening() {
    assertEquals(2, run("", "echo", "--port", "70000", "--allow-all"));
    assertTrue(err().contains("--port 70000 is out of range"), err());
    err.reset();
    assertEquals(2, run("", "echo", "--port", "0", "--bind", "127.0.0.1"));
    assertTrue(err().contains("no access rules") && err().contains("--allow-all") && !err().contains(".allow("),
        err());
    err.reset();
    assertEquals(2, run("", "echo", "--port", "99999999999", "--allow-all"));
    assertTrue(err().contains("out of range"), err());
  }

  @Test
  void unreadablePolicyFileIsNamedWithTheReason(@TempDir Path dir) {
    String missing = dir.resolve("missing.policy").toString();
    assertEquals(2, run("", "check", "--policy", missing, "10.0.0.1"));
    assertTrue(err().contains("portcullis check: " + missing + ": no such file"), err());
    err.reset();
    assertEquals(2, run("", "echo", "--port", "0", "--policy", missing));
    assertTrue(err().contains("portcullis echo: " + missing + ": no such file"), err());
  }

  @Test
  void singleDashOptionIsAUsageErrorNotAnAddress() {
    assertEquals(2, run("", "check", "--allow", "10.0.0.0/8", "-x"));
    assertTrue(err().contains("unknown option '-x'") && err().contains("see 'portcullis check --help'"), err());
  }

  @Test
  void echoTlsOptionsAreCheckedBeforeListening(@TempDir Path dir) throws Exception {
    assertEquals(2, run("", "echo", "--port", "0", "--allow-all", "--tls-key", "k.pem"));
    assertTrue(err().contains("TLS needs both --tls-cert PEM and --tls-key PEM"), err());
    err.reset();
    assertEquals(2, run("", "echo", "--port", "0", "--allow-all", "--tls-client-ca", "ca.pem"));
    assertTrue(err().contains("--tls-client-ca and --tls-allow-subject need --tls-cert and --tls-key"), err());
    err.reset();
    String missing = dir.resolve("missing.crt").toString();
    assertEquals(2, run("", "echo", "--port", "0", "--allow-all", "--tls-cert", missing, "--tls-key", missing));
    assertTrue(err().contains(missing + ": no such file"), err());
    err.reset();
    Path notPem = Files.writeString(dir.resolve("server.crt"), "hello\n");
    assertEquals(2, run("", "echo", "--port", "0", "--allow-all", "--tls-cert", notPem.toString(), "--tls-key",
        notPem.toString()));
    assertTrue(err().contains(notPem + ": no '-----BEGIN CERTIFICATE-----' block found"), err());
  }

  @Test
  void echoUnixOptionsAreCheckedBeforeListening(@TempDir Path dir) {
    assertEquals(2, run("", "echo", "--port", "0", "--allow-all", "--mode", "0600"));
    assertTrue(err().contains("--mode sets the socket file's permissions; it needs --unix PATH"), err());
    err.reset();
    String sock = dir.resolve("x.sock").toString();
    assertEquals(2, run("", "echo", "--unix", sock, "--port", "7000", "--allow-uid", "0"));
    assertTrue(err().contains("--port and --bind are for TCP"), err());
    err.reset();
    assertEquals(2, run("", "echo", "--unix", sock, "--kernel-filter", "--allow-uid", "0"));
    assertTrue(err().contains("--kernel-filter filters the TCP listener echo opens itself"), err());
    err.reset();
    assertEquals(2, run("", "echo", "--abstract", "x", "--penalty", "3:30", "--allow-uid", "0"));
    assertTrue(err().contains("--penalty counts offences per source address"), err());
    err.reset();
    assertEquals(2, run("", "echo", "--unix", sock, "--mode", "999", "--allow-uid", "0"));
    assertTrue(err().contains("--mode '999' is not an octal mode"), err());
    err.reset();
    assertEquals(2, run("", "echo", "--unix", sock, "--allow-user", "no-such-user-here"));
    assertTrue(err().contains("no user 'no-such-user-here' in /etc/passwd"), err());
    err.reset();
    assertEquals(2, run("", "echo", "--abstract", "portcullis-launcher-test", "--allow-all"));
    assertTrue(err().contains("no credential rule"), err());
  }

  @Test
  void checkReadsTcpWrappersFilesNamesTheDecidingLineAndPrintsTheEquivalentPolicy(@TempDir Path dir)
      throws Exception {
    Path allow = Files.writeString(dir.resolve("hosts.allow"), "# trusted\nsshd: 10.0.0.0/255.0.0.0 EXCEPT 10.66.\n");
    Path deny = Files.writeString(dir.resolve("hosts.deny"), "ALL: ALL\n");
    assertEquals(0, run("", "check", "--hosts-allow", allow.toString(), "--hosts-deny", deny.toString(), "--daemon",
        "sshd", "10.1.1.1", "10.66.0.1"));
    assertEquals("10.1.1.1 allow " + allow + ":2: sshd: 10.0.0.0/255.0.0.0 EXCEPT 10.66.\n"
        + "10.66.0.1 deny " + deny + ":1: ALL: ALL\n", out());
    out.reset();
    assertEquals(0, run("", "check", "--hosts-allow", allow.toString(), "--hosts-deny", deny.toString(), "--daemon",
        "sshd", "--print-policy"));
    dev.portcullis.policy.AccessPolicy printed = dev.portcullis.policy.AccessPolicy.parse(out());
    assertTrue(printed.decide("10.1.1.1").isAllowed() && !printed.decide("10.66.0.1").isAllowed()
        && !printed.decide("192.0.2.1").isAllowed(), out());
    assertEquals(2, run("", "check", "--hosts-allow", allow.toString(), "--hosts-deny", deny.toString(), "1.2.3.4"));
    assertTrue(err().contains("for [sshd] only"), "no daemon given: the sshd line is not silently dropped: " + err());
    err.reset();
    Files.writeString(allow, "ALL: host.example.com\n");
    assertEquals(2, run("", "check", "--hosts-allow", allow.toString(), "--hosts-deny", deny.toString(), "1.2.3.4"));
    assertTrue(err().contains(allow + ":1:") && err().contains("host or domain name"), err());
    err.reset();
    out.reset();
    // tcpdmatch denies 192.168.1.10 here (the pattern, compared as text, matches no client): check
    // must not allow it, so it refuses the line and says why.
    Files.writeString(allow, "ALL: 192.168.001.010\n");
    assertEquals(2, run("", "check", "--hosts-allow", allow.toString(), "--hosts-deny", deny.toString(),
        "192.168.1.10"));
    assertTrue(err().contains(allow + ":1: '192.168.001.010' has a zero-padded octet (001)")
        && err().contains("matches no client"), err());
    assertEquals("", out());
  }

  @Test
  void helpAfterACommandPrintsThatCommandsOwnUsage() {
    assertEquals(0, run("", "guard", "--help"));
    assertTrue(out().startsWith("usage: portcullis guard --listen PORT --backend HOST:PORT"), out());
    assertTrue(!out().contains("commands:") && !out().contains("kv-client"), "only guard's usage: " + out());
    out.reset();
    assertEquals(0, run("", "echo", "--help"));
    assertTrue(out().startsWith("usage: portcullis echo --port P") && out().contains("--idle-timeout SECONDS"), out());
  }

  @Test
  void echoHelpShowsTheDefaultCapOnPendingHandshakesOfThisHeap() {
    assertEquals(0, run("", "echo", "--help"));
    assertTrue(out().contains("--max-pending-handshakes N")
        && out().contains("connections in their handshake at once (default "
        + dev.portcullis.policy.Limits.defaultMaxPendingHandshakes() + ": an eighth of the heap"), out());
  }

  @Test
  void theReadyLineWritesAddressesAsPeopleDo() throws Exception {
    assertEquals("[::]:7000", Service.describe(new java.net.InetSocketAddress(java.net.InetAddress.getByName("::"), 7000)));
    assertEquals("[2001:db8::1]:443",
        Service.describe(new java.net.InetSocketAddress(java.net.InetAddress.getByName("2001:db8:0:0:0:0:0:1"), 443)));
    assertEquals("127.0.0.1:80", Service.describe(new java.net.InetSocketAddress("127.0.0.1", 80)));
  }

  @Test
  void aListGivenToOneOptionIsToldAsTheCommandLineWritesItNotAsJava() {
    assertEquals(2, run("", "echo", "--port", "0", "--allow", "10.0.0.1,10.0.0.2"));
    assertTrue(err().contains("--allow '10.0.0.1,10.0.0.2' is a list") && err().contains("--allow 10.0.0.1 --allow 10.0.0.2")
        && !err().contains(".allow("), err());
    err.reset();
    assertEquals(2, run("", "guard", "--listen", "0", "--backend", "127.0.0.1:1", "--deny", "10.0.0.1 10.0.0.2 10.0.0.3"));
    assertTrue(err().contains("--deny 10.0.0.1 --deny 10.0.0.2 ...") && !err().contains(".allow("), err());
    err.reset();
    assertEquals(2, run("", "http", "--port", "0", "--allow-all", "--proxy-protocol", "10.0.0.1;10.0.0.2"));
    assertTrue(err().contains("--proxy-protocol 10.0.0.1 --proxy-protocol 10.0.0.2") && !err().contains(".allow("),
        err());
    err.reset();
    assertEquals(2, run("", "check", "--allow", "10.1.2.3/8", "10.0.0.1"));
    assertTrue(err().startsWith("portcullis check: --allow: '10.1.2.3/8' has host bits set"), err());
  }

  @Test
  void usageErrorsNameTheOptionNotTheLibraryMethodOrPolicyText(@TempDir Path dir) {
    assertEquals(2, run("", "echo", "--port", "0", "--allow-all", "--rate-per-source", "0"));
    assertTrue(err().contains("--rate-per-source '0' is not RATE or RATE:BURST") && !err().contains("rateLimitPerSource"),
        err());
    err.reset();
    assertEquals(2, run("", "echo", "--unix", dir.resolve("x.sock").toString(), "--allow-user", "no-such-user-here"));
    assertTrue(err().contains("--allow-user: no user 'no-such-user-here'") && err().contains("use --allow-uid N")
        && !err().contains("'uid N'"), err());
    err.reset();
    assertEquals(2, run("", "echo", "--unix", dir.resolve("x.sock").toString(), "--deny-gid", "abc"));
    assertTrue(err().contains("--deny-gid: 'abc' is not a numeric id") && !err().contains("'deny gid abc'"), err());
  }

  @Test
  void everyMessageAboutAFilePrintsThePathAsGivenThenWhatIsWrong(@TempDir Path dir) throws Exception {
    String missing = "no-such-dir/missing.file"; // relative, as a user types it: never made absolute
    Path policy = Files.writeString(dir.resolve("p.policy"), "allow 10.0.0.0/8\n");
    Path keys = Files.writeString(dir.resolve("keys"), "app-1:00112233445566778899aabbccddeeff\n");
    String[][] runs = {
        {"check", "--policy", missing, "10.0.0.1"},
        {"check", "--policy", policy.toString(), "--diff", missing},
        {"check", "--hosts-allow", missing, "--hosts-deny", missing, "10.0.0.1"},
        {"echo", "--port", "0", "--allow", "127.0.0.1", "--policy", missing},
        {"echo", "--port", "0", "--allow", "127.0.0.1", "--secret-file", missing},
        {"echo", "--port", "0", "--allow", "127.0.0.1", "--tls-cert", missing, "--tls-key", missing},
        {"kv", "--port", "0", "--allow", "127.0.0.1", "--secret-file", missing},
        {"guard", "--listen", "0", "--backend", "127.0.0.1:1", "--allow", "127.0.0.1", "--secret-file", missing},
        {"connect", "127.0.0.1:1", "--secret-file", missing, "--key-id", "app-1"},
        {"kv-client", "127.0.0.1:1", "--secret-file", missing, "--key-id", "app-1", "GET", "k"}};
    for (String[] args : runs) {
      err.reset();
      assertEquals(2, run("", args), String.join(" ", args) + ": " + err());
      assertEquals("portcullis " + args[0] + ": " + missing + ": no such file", err().lines().findFirst().orElse(""),
          String.join(" ", args));
    }
    for (String command : new String[] {"connect", "kv-client"}) {
      err.reset();
      String[] request = command.equals("kv-client") ? new String[] {"GET", "k"} : new String[0];
      String[] args = java.util.stream.Stream.concat(java.util.stream.Stream.of(command, "127.0.0.1:1", "--secret-file",
          keys.toString(), "--key-id", "nope"), java.util.Arrays.stream(request)).toArray(String[]::new);
      assertEquals(2, run("", args), err());
      assertEquals("portcullis " + command + ": " + keys + ": no key id 'nope'", err().lines().findFirst().orElse(""));
    }
  }
}
