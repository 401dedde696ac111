package dev.portcullis.jna;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.function.BooleanSupplier;
import java.util.stream.Stream;

/** Loopback clients and waiting helpers for the transport tests. */
final class Clients {
  private Clients() {}

  /** A client socket bound to {@code from} (any 127.x.y.z plays another host) and connected. */
  static Socket connect(String from, java.net.SocketAddress to) throws IOException {
    Socket s = new Socket();
    try {
      s.bind(new InetSocketAddress(InetAddress.getByName(from), 0));
      s.connect(to, 5000);
      s.setSoTimeout(5000);
      return s;
    } catch (IOException e) {
      s.close();
      throw e;
    }
  }

  /** Sends {@code text}, half-closes, and returns everything the server sent, or null if refused. */
  static String exchange(String from, java.net.SocketAddress to, String text) throws IOException {
    try (Socket s = connect(from, to)) {
      s.getOutputStream().write(text.getBytes(StandardCharsets.UTF_8));
      s.shutdownOutput();
      byte[] reply = s.getInputStream().readAllBytes();
      return reply.length == 0 ? null : new String(reply, StandardCharsets.UTF_8);
    } catch (SocketException e) {
      return null; // reset by the server: refused
    }
  }

  /** Sends {@code payload} from one thread while reading everything back on this one; returns what came back. */
  static byte[] echo(java.net.SocketAddress to, byte[] payload) throws IOException, InterruptedException {
    Socket s = connect("127.0.0.1", to);
    // Megabytes through a busy 2-core machine: a stall of seconds is slowness; the test's own
    // @Timeout still catches a connection that never moves again.
    s.setSoTimeout(30_000);
    return echo(s, payload);
  }

  /** {@link #echo(InetSocketAddress, byte[])} over a socket already connected (a TLS one, say); closes it. */
  static byte[] echo(Socket socket, byte[] payload) throws IOException, InterruptedException {
    try (Socket s = socket) {
      Thread writer = new Thread(() -> {
        try {
          s.getOutputStream().write(payload);
          s.shutdownOutput();
        } catch (IOException e) {
          throw new IllegalStateException(e);
        }
      });
      writer.start();
      byte[] back = s.getInputStream().readAllBytes();
      writer.join();
      return back;
    }
  }

  /** The number of descriptors this process has open. */
  static long openDescriptors() throws IOException {
    try (Stream<Path> fds = Files.list(Path.of("/proc/self/fd"))) {
      return fds.count();
    }
  }

  /** Polls until the condition holds or the timeout passes; returns whether it held. */
  static boolean await(BooleanSupplier condition, Duration timeout) throws InterruptedException {
    long deadline = System.nanoTime() + timeout.toNanos();
    while (!condition.getAsBoolean()) {
      if (System.nanoTime() > deadline) {
        return false;
      }
      Thread.sleep(5);
    }
    return true;
  }

  static InetSocketAddress loopback(int port) {
    return new InetSocketAddress(InetAddress.getLoopbackAddress(), port);
  }

  /** This process's soft limit on open descriptors ({@code ulimit -n}). */
  static long softFdLimit() throws IOException {
    for (String line : java.nio.file.Files.readAllLines(java.nio.file.Path.of("/proc/self/limits"))) {
      if (line.startsWith("Max open files")) {
        String v = line.substring(26).trim().split("\\s+")[0];
        return v.equals("unlimited") ? Long.MAX_VALUE : Long.parseLong(v);
      }
    }
    return 1024;
  }
}
