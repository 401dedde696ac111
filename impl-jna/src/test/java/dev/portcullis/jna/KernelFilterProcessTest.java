package dev.portcullis.jna;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The kernel filter on real sockets, in a JVM of its own ({@link KernelFilterMain}) that the test
 * changes: in a network namespace the test creates ({@code unshare -n}) with loopback up and the
 * ULA addresses fd00::1 and fd00::2 (two IPv6 hosts; no packet leaves the namespace), and with the
 * capabilities eBPF needs dropped by {@code setpriv}. In each, a denied peer gets no SYN-ACK (the
 * server never sees it), an allowed one is served, an {@code updatePolicy} holds in the kernel as
 * soon as it returns (the next SYN is decided by it), and the mode in force is the one expected
 * and is said in the log.
 */
@Timeout(180)
class KernelFilterProcessTest {
  private static final List<String> BLOCKED_THEN_SWAPPED = List.of("second served", "first dropped", "seen 1",
      "after-update-second dropped", "after-update-first served", "seen 2");

  private static boolean root() throws Exception {
    return "0".equals(new String(new ProcessBuilder("id", "-u").start().getInputStream().readAllBytes(),
        StandardCharsets.US_ASCII).strip());
  }

  /** Runs {@link KernelFilterMain} under {@code wrapper} (a shell script ending in exec "$@"): its lines and log. */
  private static String[] run(List<String> wrapper, List<String> jvmFlags, String... args) throws Exception {
    List<String> command = new ArrayList<>(wrapper);
    command.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
    command.addAll(jvmFlags);
    command.addAll(List.of("-cp", System.getProperty("java.class.path"), KernelFilterMain.class.getName()));
    command.addAll(List.of(args));
    Path err = Files.createTempFile("kf", ".err");
    Process p = new ProcessBuilder(command).redirectError(err.toFile()).start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertTrue(p.waitFor(120, TimeUnit.SECONDS), "the JVM ends");
    String log = Files.readString(err);
    Files.deleteIfExists(err);
    assertEquals(0, p.exitValue(), out + log);
    return new String[] {out, log};
  }

  /** A namespace of its own with two IPv6 hosts on its loopback, then the command. */
  private static List<String> inNamespace() {
    String ip = ExternalTool.require("ip");
    String script = String.join(" && ", ip + " link set lo up", ip + " addr add fd00::1/128 dev lo nodad",
        ip + " addr add fd00::2/128 dev lo nodad", "exec \"$@\"");
    return List.of(ExternalTool.require("unshare"), "-n", "sh", "-c", script, "sh");
  }

  /** The command, without the two capabilities that allow eBPF (dropped for good by setpriv). */
  private static List<String> withoutCapBpf() {
    return List.of(ExternalTool.require("setpriv"), "--inh-caps=-bpf,-sys_admin", "--bounding-set=-bpf,-sys_admin");
  }

  private static void assertLines(List<String> expected, String mode, String[] outAndLog) {
    List<String> want = new ArrayList<>();
    want.add("mode " + mode);
    want.addAll(expected);
    want.add("mode " + mode);
    assertEquals(want, outAndLog[0].lines().toList(), outAndLog[1]);
  }

  @Test
  void aDeniedIpv6PeerAmong100000RulesGetsNoSynAckWithEbpf() throws Exception {
    assumeTrue(root(), "unshare -n needs root (CI runs as root)");
    assumeTrue(EbpfFilterTest.ebpfAllowed(), "the kernel refuses eBPF maps to this process");
    String[] r = run(inNamespace(), List.of(), "fd00::1", "fd00::2", "fd00::1", "100000");
    assertLines(BLOCKED_THEN_SWAPPED, "EBPF", r);
    // entries: allow 0.0.0.0/0 (it replaces the default); allow ::/0, deny fd00::2 and the 100,000
    assertTrue(r[1].contains("eBPF: the kernel looks sources up in 1 IPv4 and 100002 IPv6 entries (LPM tries,"
        + " 100003 rules)"), r[1]);
    assertTrue(r[1].contains("eBPF, generation 2"), "the update switched generations: " + r[1]);
  }

  @Test
  void classicBpfFiltersIpv6TooWhenEbpfIsNotWanted() throws Exception {
    assumeTrue(root(), "unshare -n needs root (CI runs as root)");
    String[] r = run(inNamespace(), List.of("-D" + KernelFilter.MODE_PROPERTY + "=classic"), "fd00::1", "fd00::2",
        "fd00::1", "0");
    assertLines(BLOCKED_THEN_SWAPPED, "CLASSIC", r);
    assertTrue(r[1].contains("eBPF not used (-Dportcullis.kernelFilter=classic); classic BPF: the kernel drops"
        + " packets from 0 denied IPv4 range(s) and 1 denied IPv6 prefix(es)"), r[1]);
  }

  @Test
  void withoutCapBpfClassicBpfIsUsedAndTheLogSaysWhy() throws Exception {
    assumeTrue(root(), "setpriv can drop capabilities only from a process that has them (CI runs as root)");
    String[] r = run(withoutCapBpf(), List.of(), "127.0.0.1", "127.0.0.2", "127.0.0.1", "0");
    assertLines(BLOCKED_THEN_SWAPPED, "CLASSIC", r);
    assertTrue(r[1].contains("eBPF not used (bpf(BPF_MAP_CREATE) failed: EPERM (Operation not permitted): portcullis_v4,"
        + " 1 entries, which needs CAP_BPF or root (and before Linux 5.11 a large enough RLIMIT_MEMLOCK)); classic"
        + " BPF"), r[1]);
  }

  @Test
  void withoutCapBpfA100000RuleBlockListIsCheckedInUserSpaceAndSaysSo() throws Exception {
    assumeTrue(root(), "setpriv can drop capabilities only from a process that has them (CI runs as root)");
    String[] r = run(withoutCapBpf(), List.of(), "127.0.0.1", "127.0.0.2", "127.0.0.1", "100000");
    List<String> lines = r[0].lines().toList();
    assertEquals("mode USER_SPACE", lines.get(0), r[1]);
    assertEquals("second served", lines.get(1), r[1]);
    assertTrue(!lines.get(2).equals("first dropped"), "the kernel did not drop it: user space refused it: " + lines);
    assertTrue(r[1].contains("more than one classic BPF program holds") && r[1].contains("filtering in user space"
        + " only"), r[1]);
  }
}
