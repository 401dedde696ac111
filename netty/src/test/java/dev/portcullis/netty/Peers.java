package dev.portcullis.netty;

import java.io.IOException;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.function.BooleanSupplier;

/** Raw clients on loopback, bound to a source address of their own (127.0.0.2 is a second host). */
final class Peers {
  private Peers() {}

  /** A socket from {@code from} to 127.0.0.1:{@code port}, with a 10 s read timeout. */
  static Socket connect(String from, int port) throws IOException {
    Socket s = new Socket();
    s.setSoTimeout(10_000);
    s.bind(new InetSocketAddress(InetAddress.getByName(from), 0));
    s.connect(new InetSocketAddress("127.0.0.1", port), 5_000);
    return s;
  }

  /**
   * Sends {@code text} from {@code from} and reads until the server closes: what it answered, or
   * {@code ""} if it closed (or reset) without a byte.
   */
  static String exchange(String from, int port, String text) throws IOException {
    try (Socket s = connect(from, port)) {
      try {
        s.getOutputStream().write(text.getBytes(StandardCharsets.US_ASCII));
        s.getOutputStream().flush();
      } catch (SocketException e) {
        return ""; // closed before we wrote: refused
      }
      return readAll(s);
    }
  }

  /** Everything until end of stream; a reset counts as the end. */
  static String readAll(Socket s) throws IOException {
    InputStream in = s.getInputStream();
    StringBuilder out = new StringBuilder();
    byte[] buf = new byte[4096];
    try {
      for (int n; (n = in.read(buf)) > 0; ) {
        out.append(new String(buf, 0, n, StandardCharsets.US_ASCII));
      }
    } catch (SocketException e) {
      // connection reset: the server closed with our bytes unread
    }
    return out.toString();
  }

  /** One line of the server's, without its end; null if it closed (or reset) first. */
  static String readLine(Socket s) throws IOException {
    StringBuilder line = new StringBuilder();
    try {
      for (int c; (c = s.getInputStream().read()) >= 0; ) {
        if (c == '\n') {
          return line.toString();
        }
        line.append((char) c);
      }
    } catch (SocketException e) {
      // reset
    }
    return null;
  }

  /** A GET of {@code /} from {@code from}: the response, or {@code ""} if refused. */
  static String get(String from, int port) throws IOException {
    return exchange(from, port, "GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
  }

  static boolean await(BooleanSupplier condition, Duration timeout) throws InterruptedException {
    long end = System.nanoTime() + timeout.toNanos();
    while (!condition.getAsBoolean()) {
      if (System.nanoTime() > end) {
        return false;
      }
      Thread.sleep(10);
    }
    return true;
  }
}
