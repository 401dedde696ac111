package dev.portcullis.jetty.example;

import dev.portcullis.jetty.JettyGuard;
import dev.portcullis.jna.KernelGuard;
import dev.portcullis.policy.AccessPolicy;
import dev.portcullis.policy.IpAddresses;
import dev.portcullis.policy.Penalties;
import java.io.PrintStream;
import java.net.SocketException;
import java.nio.channels.ServerSocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import org.eclipse.jetty.http.HttpStatus;
import org.eclipse.jetty.io.Content;
import org.eclipse.jetty.server.Handler;
import org.eclipse.jetty.server.HttpConnectionFactory;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import org.eclipse.jetty.util.Callback;
import org.eclipse.jetty.util.thread.QueuedThreadPool;

/**
 * An HTTP service on Jetty 12 guarded by Portcullis: a policy file decides who may connect, failed
 * logins feed the penalty box (five within a minute ban the client for a minute, doubling on each
 * repeat), and the kernel guard on Jetty's own listening socket drops the SYNs of denied and banned
 * clients, when the process may attach a socket filter (else the guard in front of the connector
 * still refuses them, one {@code accept} later).
 *
 * <pre>
 * java ... dev.portcullis.jetty.example.JettyLoginService --policy policy.txt --port 8080
 * listening on 127.0.0.1:8080
 * curl -d 'demo:wrong' http://127.0.0.1:8080/login      # 401; the fifth bans the client
 * curl http://127.0.0.1:8080/health                      # ok
 * </pre>
 *
 * {@code POST /login} takes {@code user:password} (the one account is {@code demo:demo}; a body
 * over 256 bytes is a failed login), {@code GET /health} answers {@code ok}; anything else is 404.
 * It lives in the test sources of {@code portcullis-jetty}, so that neither the published adapter
 * nor the examples module depends on Jetty or on the kernel transport for it.
 */
public final class JettyLoginService {
  private JettyLoginService() {}

  /** The longest login body read. */
  static final int MAX_BODY = 256;

  /**
   * Starts the service: {@code --policy FILE} (required), {@code --port P} (default 8080, 0 for any),
   * {@code --host H} (default 127.0.0.1).
   *
   * @param args the options
   * @throws Exception if it cannot start
   */
  public static void main(String[] args) throws Exception {
    Server server = start(args, System.out);
    server.join();
  }

  /** Starts it and prints the ready line on {@code out}; the caller stops the returned server. */
  static Server start(String[] args, PrintStream out) throws Exception {
    Path policyFile = null;
    int port = 8080;
    String host = "127.0.0.1";
    for (int i = 0; i < args.length; i++) {
      String value = i + 1 < args.length ? args[i + 1] : null;
      switch (args[i]) {
        case "--policy" -> policyFile = Path.of(required(args[i], value));
        case "--port" -> port = Integer.parseInt(required(args[i], value));
        case "--host" -> host = required(args[i], value);
        default -> throw new IllegalArgumentException("Unknown option " + args[i]
            + "; usage: --policy FILE [--port P] [--host H]");
      }
      i++;
    }
    if (policyFile == null) {
      throw new IllegalArgumentException("--policy FILE is required: the rules of who may connect");
    }
    AccessPolicy policy = AccessPolicy.load(policyFile);

    QueuedThreadPool threads = new QueuedThreadPool(64, 4); // bounded: Jetty's threads
    threads.setName("login");
    Server server = new Server(threads);
    ServerConnector connector = new ServerConnector(server, 1, 1, new HttpConnectionFactory());
    connector.setHost(host);
    connector.setPort(port);
    connector.setIdleTimeout(30_000);
    server.addConnector(connector);

    JettyGuard guard = JettyGuard.builder(policy)
        .penalties(Penalties.after(5, Duration.ofMinutes(1)).banFor(Duration.ofMinutes(1)))
        .attach(connector);
    server.setHandler(new LoginHandler(guard));
    server.start();

    try {
      KernelGuard kernel = KernelGuard.attach((ServerSocketChannel) connector.getTransport(), policy);
      guard.onDirectBansChanged(kernel::updateBans);
      guard.addPolicyListener(p -> {
        try {
          kernel.updatePolicy(p);
        } catch (SocketException e) {
          org.slf4j.LoggerFactory.getLogger(JettyLoginService.class).warn("The kernel kept its old policy", e);
        }
      });
      server.addEventListener(new org.eclipse.jetty.util.component.LifeCycle.Listener() {
        @Override
        public void lifeCycleStopping(org.eclipse.jetty.util.component.LifeCycle event) {
          kernel.close();
        }
      });
    } catch (SocketException | RuntimeException e) {
      org.slf4j.LoggerFactory.getLogger(JettyLoginService.class)
          .warn("No kernel guard on the Jetty socket ({}); the guard in front of the connector still decides", e.getMessage());
    }
    out.println("listening on " + IpAddresses.format(new java.net.InetSocketAddress(host, connector.getLocalPort())));
    out.flush();
    return server;
  }

  private static String required(String option, String value) {
    if (value == null) {
      throw new IllegalArgumentException(option + " needs a value");
    }
    return value;
  }

  /** {@code POST /login} and {@code GET /health}. */
  static final class LoginHandler extends Handler.Abstract {
    private final JettyGuard guard;

    LoginHandler(JettyGuard guard) {
      this.guard = guard;
    }

    @Override
    public boolean handle(Request request, Response response, Callback callback) throws Exception {
      String path = Request.getPathInContext(request);
      if (path.equals("/health") && request.getMethod().equals("GET")) {
        Content.Sink.write(response, true, "ok\n", callback);
        return true;
      }
      if (!path.equals("/login") || !request.getMethod().equals("POST")) {
        Response.writeError(request, response, callback, HttpStatus.NOT_FOUND_404);
        return true;
      }
      long length = request.getLength();
      String body = length < 0 || length > MAX_BODY ? ""
          : Content.Source.asString(request, StandardCharsets.UTF_8);
      if (body.trim().equals("demo:demo")) {
        Content.Sink.write(response, true, "welcome\n", callback);
      } else {
        guard.reportOffence(request, 1, "bad login");
        Response.writeError(request, response, callback, HttpStatus.UNAUTHORIZED_401);
      }
      return true;
    }
  }
}
