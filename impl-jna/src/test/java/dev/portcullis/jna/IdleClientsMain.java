package dev.portcullis.jna;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * A child process for {@link TenThousandIdleTest}: opens N connections to 127.0.0.1:PORT from
 * 127.0.5.x sources, passes each one's handshake ({@code HELLO}), prints {@code ready N}, and holds
 * them silently until its standard input closes. In its own process so that the client side's
 * descriptors do not count against the server's limit.
 */
public final class IdleClientsMain {
  private IdleClientsMain() {}

  public static void main(String[] args) throws Exception {
    int port = Integer.parseInt(args[0]);
    int n = Integer.parseInt(args[1]);
    List<Socket> held = new ArrayList<>(n);
    byte[] hello = "HELLO\n".getBytes(StandardCharsets.US_ASCII);
    for (int i = 0; i < n; i++) {
      Socket s = new Socket();
      s.bind(new InetSocketAddress(InetAddress.getByName("127.0.5." + (1 + i % 250)), 0));
      s.connect(new InetSocketAddress("127.0.0.1", port), 10_000);
      s.getOutputStream().write(hello);
      held.add(s);
    }
    System.out.println("ready " + held.size());
    System.out.flush();
    while (System.in.read() >= 0) {
      // hold until the test closes our stdin
    }
    for (Socket s : held) {
      s.close();
    }
  }
}
