package dev.portcullis.examples.guard;

import dev.portcullis.Connection;
import dev.portcullis.Server;
import dev.portcullis.examples.Options;
import dev.portcullis.examples.PolicyOptions;
import dev.portcullis.examples.Service;
import dev.portcullis.examples.UsageException;
import dev.portcullis.handshake.Handshakes;
import dev.portcullis.handshake.secret.SharedSecret;
import dev.portcullis.policy.AccessPolicy;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.PrintStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashSet;
import java.util.Set;

/**
 * An access-controlled TCP forwarder, for a service that has no access control of its own (what
 * {@code tcpd} and {@code spiped} are used for): it listens, applies a policy, limits and optional
 * handshakes, and forwards every admitted connection to the backend, byte for byte.
 *
 * <pre>
 * portcullis guard --listen 8080 --backend 127.0.0.1:8000 --policy office.policy --max-per-source 20
 * portcullis guard --listen 8080 --backend 127.0.0.1:8000 --allow 10.0.0.0/8 --proxy-v2
 * </pre>
 *
 * With {@code --proxy-v2} it begins every backend connection with a PROXY protocol v2 header
 * naming the real client, so a backend that reads it (HAProxy's {@code accept-proxy}, nginx's
 * {@code proxy_protocol}, a Portcullis server with {@code Handshakes.proxyProtocol()}) still
 * learns who connected. {@code --secret-file FILE} requires the shared-secret handshake first.
 * Prints {@code listening on HOST:PORT -> BACKEND} when ready; stops gracefully on SIGTERM.
 */
public final class Guard {
  private Guard() {}

  private static final Set<String> VALUED;

  static {
    Set<String> v = new HashSet<>(PolicyOptions.VALUED);
    v.addAll(Set.of("--listen", "--bind", "--backend", "--max-connections", "--max-per-source", "--secret-file",
        "--connect-timeout", "--loops", "--penalty"));
    VALUED = Set.copyOf(v);
  }

  /**
   * {@code java -cp portcullis-examples.jar dev.portcullis.examples.guard.Guard ...}.
   *
   * @param args the command-line arguments, without the command name
   */
  public static void main(String[] args) {
    dev.portcullis.examples.Service.handleSignals();
    int status = run(args, System.out, System.err);
    if (status != 0) {
      System.exit(status);
    }
  }

  /**
   * Runs the forwarder until the process is asked to stop; returns the exit status.
   *
   * @param args the command-line arguments, without the command name
   * @param out where results go
   * @param err where errors go
   * @return the exit status: 0 on success, 2 for a usage error, 1 otherwise
   */
  public static int run(String[] args, PrintStream out, PrintStream err) {
    Options o = Options.parse(args, VALUED, Set.of("--proxy-v2", "--allow-all"));
    int port = o.integer("--listen", 0, 65535, null);
    String backendText = o.one("--backend");
    if (backendText == null) {
      throw new UsageException("option --backend HOST:PORT is required");
    }
    InetSocketAddress backend = hostPort(backendText);
    int connectTimeout = o.integer("--connect-timeout", 1, 600_000, 5_000);
    boolean proxyV2 = o.has("--proxy-v2");
    Service.Setup setup = () -> {
      AccessPolicy policy = PolicyOptions.policy(o, o.has("--allow-all"));
      if (policy.isEmpty()) {
        throw new IllegalStateException("no access rules; give --allow CIDR, --policy FILE, or --allow-all");
      }
      Server server = Server.on(port).policy(policy)
          .handle(conn -> forward(conn, backend, connectTimeout, proxyV2));
      if (o.one("--bind") != null) {
        server.bindAddress(o.one("--bind"));
      }
      if (o.one("--max-connections") != null) {
        server.maxConnections(o.integer("--max-connections", 1, Integer.MAX_VALUE, null));
      }
      if (o.one("--max-per-source") != null) {
        server.maxConnectionsPerSource(o.integer("--max-per-source", 1, Integer.MAX_VALUE, null));
      }
      if (o.one("--loops") != null) {
        server.eventLoops(o.integer("--loops", 1, 1024, null));
      }
      dev.portcullis.examples.Service.penalty(o, server);
      if (o.one("--secret-file") != null) {
        server.handshake(Handshakes.sharedSecret(SharedSecret.loadKeys(Path.of(o.one("--secret-file")))));
      }
      return server.start();
    };
    return Service.run("guard", setup, Duration.ofSeconds(10), " -> " + backendText, out, err);
  }

  /** Connects to the backend and copies both ways until either side is done. */
  static void forward(Connection conn, InetSocketAddress backend, int connectTimeout, boolean proxyV2)
      throws IOException {
    try (Socket upstream = new Socket()) {
      try {
        upstream.connect(backend, connectTimeout);
      } catch (IOException down) {
        // The client gets a closed connection; the operator gets one line, not a stack trace.
        org.slf4j.LoggerFactory.getLogger(Guard.class).warn("backend {} unreachable for {}: {}", backend, conn.peer(),
            down.getMessage());
        return;
      }
      upstream.setTcpNoDelay(true);
      OutputStream toBackend = upstream.getOutputStream();
      if (proxyV2) {
        toBackend.write(proxyV2Header((InetSocketAddress) conn.peer(), (InetSocketAddress) conn.localAddress()));
      }
      java.util.concurrent.atomic.AtomicBoolean backendDone = new java.util.concurrent.atomic.AtomicBoolean();
      Thread back = new Thread(() -> {
        try {
          upstream.getInputStream().transferTo(conn.output());
        } catch (IOException closed) {
          // the client or the backend went away
        } finally {
          backendDone.set(true);
          conn.close();
        }
      }, "guard-back-" + conn.peer());
      back.setDaemon(true);
      back.start();
      try {
        copy(conn.input(), toBackend);
        upstream.shutdownOutput(); // the client finished sending; let the backend answer and close
        if (conn.isStopping()) {
          // The server is stopping and the client had nothing in flight: give the backend a moment
          // to finish an answer, then close its side too, whether or not it closes on our EOF.
          back.join(dev.portcullis.Connection.FIRST_BYTES_WAIT.toMillis());
          upstream.close();
        }
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      } catch (IOException e) {
        if (!backendDone.get()) {
          throw e; // a real failure on the client's side
        }
        // The backend answered and closed first, which closed the client connection under the
        // copy: the normal end of an HTTP/1.0-style exchange, not a failure.
      }
      try {
        back.join();
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }
  }

  private static void copy(InputStream in, OutputStream out) throws IOException {
    byte[] buf = new byte[16 * 1024];
    int n;
    while ((n = in.read(buf)) > 0) {
      out.write(buf, 0, n);
    }
  }

  /** A PROXY protocol v2 header (PROXY command, TCP over IPv4 or IPv6) for this client and address. */
  static byte[] proxyV2Header(InetSocketAddress client, InetSocketAddress local) {
    byte[] src = client.getAddress().getAddress();
    byte[] dst = local.getAddress().getAddress();
    if (src.length != dst.length) { // an IPv4 client on a dual-stack socket: both as IPv6
      src = v6(src);
      dst = v6(dst);
    }
    boolean v4 = src.length == 4;
    int length = (v4 ? 8 : 32) + 4;
    ByteBuffer b = ByteBuffer.allocate(16 + length);
    b.put(new byte[] {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A});
    b.put((byte) 0x21); // version 2, PROXY
    b.put((byte) (v4 ? 0x11 : 0x21)); // TCP over INET or INET6
    b.putShort((short) length);
    b.put(src).put(dst);
    b.putShort((short) client.getPort()).putShort((short) local.getPort());
    return b.array();
  }

  private static byte[] v6(byte[] a) {
    if (a.length == 16) {
      return a;
    }
    byte[] m = new byte[16];
    m[10] = (byte) 0xFF;
    m[11] = (byte) 0xFF;
    System.arraycopy(a, 0, m, 12, 4);
    return m;
  }

  private static InetSocketAddress hostPort(String text) {
    int colon = text.lastIndexOf(':');
    if (colon <= 0) {
      throw new UsageException("--backend '" + text + "' is not HOST:PORT");
    }
    String host = text.substring(0, colon).replace("[", "").replace("]", "");
    int p;
    try {
      p = Integer.parseInt(text.substring(colon + 1));
    } catch (NumberFormatException e) {
      throw new UsageException("--backend '" + text + "': '" + text.substring(colon + 1) + "' is not a port");
    }
    if (p < 1 || p > 65535) {
      throw new UsageException("--backend '" + text + "': port " + p + " is out of range 1..65535");
    }
    return new InetSocketAddress(host, p);
  }
}
