package dev.portcullis.examples.http;

import dev.portcullis.Connection;
import dev.portcullis.Server;
import dev.portcullis.examples.Options;
import dev.portcullis.examples.PolicyOptions;
import dev.portcullis.examples.Service;
import dev.portcullis.handshake.Handshakes;
import dev.portcullis.policy.AccessPolicy;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.PrintStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.HashSet;
import java.util.Set;

/**
 * A minimal HTTP/1.1 service for a health check and a greeting, meant to sit behind HAProxy (or
 * another load balancer) that sends the PROXY protocol v2: the policy then decides on the real
 * client, not on the proxy, and the greeting names the real client.
 *
 * <pre>
 * portcullis http --port 8080 --proxy-protocol 10.0.0.1/32 --allow 10.0.0.1 --allow 192.0.2.0/24
 * curl http://proxy:80/hello        # hello 192.0.2.7
 * curl http://proxy:80/health       # ok
 * </pre>
 *
 * One request per connection ({@code Connection: close}); {@code GET /health} and {@code GET
 * /hello} answer 200, other paths 404, other methods 405, a malformed or oversized request line
 * 400. Headers are read and ignored, up to 16 KiB.
 */
public final class HttpService {
  private HttpService() {}

  private static final int MAX_HEAD = 16 * 1024;
  private static final Set<String> VALUED;

  static {
    Set<String> v = new HashSet<>(PolicyOptions.VALUED);
    v.addAll(Set.of("--port", "--bind", "--proxy-protocol"));
    v.addAll(Service.THREAD_OPTIONS);
    VALUED = Set.copyOf(v);
  }

  /**
   * {@code java -cp portcullis-examples.jar dev.portcullis.examples.http.HttpService ...}.
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
   * Runs the service until the process is asked to stop; returns the exit status.
   *
   * @param args the command-line arguments, without the command name
   * @param out where results go
   * @param err where errors go
   * @return the exit status: 0 on success, 2 for a usage error, 1 otherwise
   */
  public static int run(String[] args, PrintStream out, PrintStream err) {
    Options o = Options.parse(args, VALUED, Set.of("--allow-all"));
    int port = o.integer("--port", 0, 65535, null);
    Service.Setup setup = () -> {
      AccessPolicy policy = PolicyOptions.policy(o, o.has("--allow-all"));
      if (policy.isEmpty()) {
        throw new IllegalStateException("no access rules; give --allow CIDR, --policy FILE, or --allow-all");
      }
      Server server = Server.on(port).policy(policy).handshakeTimeout(Duration.ofSeconds(5))
          .handle(HttpService::serve);
      if (!o.all("--proxy-protocol").isEmpty()) {
        server.handshake(Handshakes.proxyProtocol().trustedFrom(o.all("--proxy-protocol").toArray(new String[0])));
      }
      if (o.one("--bind") != null) {
        server.bindAddress(o.one("--bind"));
      }
      Service.threads(o, server);
      return server.start();
    };
    return Service.run("http", setup, Duration.ofSeconds(5), "", out, err);
  }

  /** Reads one request head and answers it. */
  static void serve(Connection conn) throws IOException {
    String head = readHead(conn.input());
    if (head == null && conn.isStopping()) {
      return; // released by the server's shutdown before a whole request came: nothing to answer
    }
    if (head == null) {
      respond(conn.output(), 400, "bad request: the head is malformed or over 16 KiB\n");
      return;
    }
    String[] requestLine = head.substring(0, head.indexOf("\r\n")).split(" ");
    if (requestLine.length != 3 || !requestLine[2].startsWith("HTTP/1.")) {
      respond(conn.output(), 400, "bad request line\n");
      return;
    }
    if (!requestLine[0].equals("GET") && !requestLine[0].equals("HEAD")) {
      respond(conn.output(), 405, "only GET\n");
      return;
    }
    switch (requestLine[1]) {
      case "/health" -> respond(conn.output(), 200, "ok\n");
      case "/hello" -> respond(conn.output(), 200, "hello "
          + ((InetSocketAddress) conn.peer()).getAddress().getHostAddress() + "\n");
      default -> respond(conn.output(), 404, "not found\n");
    }
  }

  /** The request head up to the blank line, or null if it is malformed or too long. */
  private static String readHead(InputStream in) throws IOException {
    byte[] buf = new byte[MAX_HEAD];
    int n = 0;
    while (n < buf.length) {
      int b = in.read();
      if (b < 0) {
        return null;
      }
      buf[n++] = (byte) b;
      if (n >= 4 && buf[n - 4] == '\r' && buf[n - 3] == '\n' && buf[n - 2] == '\r' && buf[n - 1] == '\n') {
        return new String(buf, 0, n, StandardCharsets.ISO_8859_1);
      }
    }
    return null;
  }

  private static void respond(OutputStream out, int status, String body) throws IOException {
    String reason = switch (status) {
      case 200 -> "OK";
      case 400 -> "Bad Request";
      case 404 -> "Not Found";
      default -> "Method Not Allowed";
    };
    byte[] b = body.getBytes(StandardCharsets.UTF_8);
    String headers = "HTTP/1.1 " + status + " " + reason + "\r\nContent-Type: text/plain; charset=utf-8\r\n"
        + "Content-Length: " + b.length + "\r\nConnection: close\r\n\r\n";
    out.write(headers.getBytes(StandardCharsets.ISO_8859_1));
    out.write(b);
    out.flush();
  }
}
