package dev.portcullis.jna;

import dev.portcullis.RunningServer;
import dev.portcullis.Server;
import dev.portcullis.policy.AccessPolicy;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;

/**
 * Run in a JVM of its own by the kernel filter tests that change the process (a network namespace
 * with two IPv6 hosts, capabilities dropped by {@code setpriv}): serves on {@code SERVER} with a
 * block list that denies {@code FIRST} and {@code EXTRA} more addresses of its family, probes
 * {@code SECOND} (allowed) and {@code FIRST} (denied), then updates the policy to deny {@code
 * SECOND} instead and probes both again at once. Prints one line per finding for the test to check.
 *
 * <p>Arguments: {@code SERVER FIRST SECOND EXTRA}.
 */
public final class KernelFilterMain {
  private KernelFilterMain() {}

  /** "served", "dropped" (no SYN-ACK in time) or "refused: ..." for a client bound to {@code from}. */
  static String probe(String from, InetSocketAddress server) {
    try (Socket s = new Socket()) {
      s.bind(new InetSocketAddress(from, 0));
      s.connect(server, 700);
      s.setSoTimeout(5000);
      byte[] b = s.getInputStream().readAllBytes();
      return new String(b, StandardCharsets.US_ASCII).equals("ok") ? "served" : "closed";
    } catch (SocketTimeoutException e) {
      return "dropped";
    } catch (IOException e) {
      return "refused: " + e.getMessage();
    }
  }

  /**
   * A block list: everything allowed but {@code denied} and {@code extra} more addresses of its
   * family (every other host address of 10.0.0.0/8 for IPv4, every other /64 of fd01::/16 for
   * IPv6, so no two merge into one range), none of them on loopback.
   */
  static AccessPolicy blockList(String denied, int extra) throws IOException {
    boolean v4 = InetAddress.getByName(denied).getAddress().length == 4;
    StringBuilder text = new StringBuilder("allow 0.0.0.0/0\nallow ::/0\ndeny ").append(denied).append('\n');
    for (int i = 0; i < extra; i++) {
      if (v4) {
        text.append("deny 10.").append((i >>> 15) & 0xFF).append('.').append((i >>> 7) & 0xFF).append('.')
            .append((i & 0x7F) * 2).append('\n');
      } else {
        text.append("deny fd01:").append(Integer.toHexString(i >>> 15)).append(':')
            .append(Integer.toHexString((i & 0x7FFF) * 2)).append("::/64\n");
      }
    }
    return AccessPolicy.parse(text.toString());
  }

  public static void main(String[] args) throws Exception {
    String bind = args[0];
    String first = args[1];
    String second = args[2];
    int extra = Integer.parseInt(args[3]);
    try (RunningServer server = Server.on(0).bindAddress(bind).policy(blockList(first, extra)).kernelFilter()
        .handle(conn -> conn.output().write("ok".getBytes(StandardCharsets.US_ASCII))).start()) {
      InetSocketAddress to = new InetSocketAddress(bind, ((InetSocketAddress) server.localAddress()).getPort());
      System.out.println("mode " + server.stats().kernelFilter());
      System.out.println("second " + probe(second, to));
      System.out.println("first " + probe(first, to));
      System.out.println("seen " + server.stats().accepted());
      server.updatePolicy(blockList(second, extra));
      System.out.println("after-update-second " + probe(second, to));
      System.out.println("after-update-first " + probe(first, to));
      System.out.println("seen " + server.stats().accepted());
      System.out.println("mode " + server.stats().kernelFilter());
    }
  }
}
