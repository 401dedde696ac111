package dev.portcullis.jna;

import dev.portcullis.RunningServer;
import dev.portcullis.Server;
import dev.portcullis.policy.AccessPolicy;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;

/**
 * Run by {@link KernelFilterIpv6Test} inside a network namespace of its own whose loopback has
 * the ULA addresses fd00::1 and fd00::2 (two IPv6 hosts, and no traffic leaves the namespace).
 * Prints one line per finding for the test to check.
 */
public final class KernelFilterIpv6Main {
  private KernelFilterIpv6Main() {}

  /** "served", "dropped" (no SYN-ACK in time) or "refused: ..." for a client bound to {@code from}. */
  private static String probe(String from, int port) {
    try (Socket s = new Socket()) {
      s.bind(new InetSocketAddress(from, 0));
      s.connect(new InetSocketAddress("fd00::1", port), 700);
      s.setSoTimeout(5000);
      byte[] b = s.getInputStream().readAllBytes();
      return new String(b, StandardCharsets.US_ASCII).equals("ok") ? "served" : "closed";
    } catch (SocketTimeoutException e) {
      return "dropped";
    } catch (IOException e) {
      return "refused: " + e.getMessage();
    }
  }

  public static void main(String[] args) throws Exception {
    AccessPolicy policy = AccessPolicy.parse("allow fd00::/64\ndeny fd00::2\n");
    try (RunningServer server = Server.on(0).bindAddress("::").policy(policy).kernelFilter()
        .handle(conn -> conn.output().write("ok".getBytes(StandardCharsets.US_ASCII))).start()) {
      int port = ((InetSocketAddress) server.localAddress()).getPort();
      System.out.println("allowed " + probe("fd00::1", port));
      System.out.println("denied " + probe("fd00::2", port));
      System.out.println("seen " + server.stats().accepted());
      server.updatePolicy(AccessPolicy.parse("allow fd00::/64\ndeny fd00::1\n"));
      System.out.println("after-update-denied " + probe("fd00::1", port));
      System.out.println("after-update-allowed " + probe("fd00::2", port));
      System.out.println("seen " + server.stats().accepted());
    }
  }
}
