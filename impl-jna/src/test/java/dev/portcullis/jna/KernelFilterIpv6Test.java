package dev.portcullis.jna;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The kernel filter drops a denied IPv6 peer's SYNs, on real sockets, in a network namespace the
 * test creates ({@code unshare -n}), with loopback up and the ULA addresses fd00::1 and fd00::2:
 * two IPv6 hosts, and no packet leaves the namespace. A denied peer gets no SYN-ACK (the server
 * never sees it), an allowed one is served, and {@code updatePolicy} moves the filter too.
 */
@Timeout(120)
class KernelFilterIpv6Test {
  @Test
  void aDeniedIpv6PeersSynGetsNoAnswerAndUpdatesFollow() throws Exception {
    assumeTrue("0".equals(new String(new ProcessBuilder("id", "-u").start().getInputStream().readAllBytes(),
        StandardCharsets.US_ASCII).strip()), "unshare -n needs root (CI runs as root)");
    String unshare = ExternalTool.require("unshare");
    String ip = ExternalTool.require("ip");
    String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    String script = String.join(" && ",
        ip + " link set lo up",
        ip + " addr add fd00::1/128 dev lo nodad",
        ip + " addr add fd00::2/128 dev lo nodad",
        "exec \"$0\" -cp \"$1\" " + KernelFilterIpv6Main.class.getName());
    Path err = Files.createTempFile("kf6", ".err");
    Process p = new ProcessBuilder(unshare, "-n", "sh", "-c", script, java, System.getProperty("java.class.path"))
        .redirectError(err.toFile()).start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertTrue(p.waitFor(60, TimeUnit.SECONDS), "the namespace's JVM ends");
    String log = Files.readString(err);
    Files.deleteIfExists(err);
    assertEquals(0, p.exitValue(), out + log);
    assertEquals(List.of("allowed served", "denied dropped", "seen 1", "after-update-denied dropped",
        "after-update-allowed served", "seen 2"), out.lines().toList(), log);
    assertTrue(log.contains("denied IPv6 prefix(es)"), "the filter says it covers IPv6: " + log);
  }
}
