package dev.portcullis.examples.jetty;

import dev.portcullis.examples.Command;
import dev.portcullis.examples.GuardedService;
import dev.portcullis.examples.Service;
import dev.portcullis.jetty.JettyGuard;
import dev.portcullis.policy.AccessPolicy;
import dev.portcullis.policy.IpAddresses;
import java.io.PrintStream;
import java.net.InetSocketAddress;
import java.nio.channels.ServerSocketChannel;
import java.time.Duration;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.http.HttpStatus;
import org.eclipse.jetty.io.Content;
import org.eclipse.jetty.server.Handler;
import org.eclipse.jetty.server.HttpConfiguration;
import org.eclipse.jetty.server.HttpConnectionFactory;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import org.eclipse.jetty.util.Callback;
import org.eclipse.jetty.util.thread.QueuedThreadPool;

/**
 * An HTTP service on Jetty 12, guarded by Portcullis as a Jetty user would guard their own: {@link
 * JettyGuard} in front of the {@code ServerConnector} (the policy, the penalty box, the limits,
 * decided at accept before Jetty registers the connection), the penalty box fed by failed logins,
 * and {@code KernelGuard} on the connector's own listening socket, so that the kernel drops denied
 * and banned peers before the TCP handshake.
 *
 * <pre>
 * echo s3cret &gt; token; printf 'allow 127.0.0.0/8\ndeny 127.0.0.2\n' &gt; access.rules
 * portcullis jetty-http --port 8080 --bind 127.0.0.1 --policy access.rules --watch --token-file token
 * curl http://127.0.0.1:8080/hello                                         # hello 127.0.0.1
 * curl -X POST -H 'Authorization: Bearer s3cret' http://127.0.0.1:8080/login  # welcome
 * curl -X POST -H 'Authorization: Bearer guess' http://127.0.0.1:8080/login   # 401; the fifth bans
 * </pre>
 *
 * The endpoints, the options and their defaults are {@link GuardedService}'s. What a client can
 * hold is bounded: Jetty's threads ({@value #MAX_THREADS}), connections open at once and per
 * source (the guard's limits), a quiet connection ({@value GuardedService#IDLE_TIMEOUT_SECONDS} s),
 * a request head ({@value #MAX_HEAD_BYTES} bytes, else 431); no request body is read.
 */
public final class JettyHttpService {
  private JettyHttpService() {}

  /** Jetty's worker threads at most. */
  public static final int MAX_THREADS = 64;

  /** The longest request head Jetty reads, in bytes; a longer one is answered 431. */
  public static final int MAX_HEAD_BYTES = 8192;

  /** The command as {@code portcullis jetty-http --help} shows it. */
  public static final Command COMMAND = GuardedService.command("jetty-http",
      "HTTP on Jetty 12 behind JettyGuard and the kernel guard; failed logins feed the penalty box");

  /**
   * {@code java -cp portcullis-examples.jar dev.portcullis.examples.jetty.JettyHttpService ...}.
   *
   * @param args the command-line arguments, without the command name
   */
  public static void main(String[] args) {
    Service.main(args, JettyHttpService::run);
  }

  /**
   * Runs the service until the process is asked to stop; returns the exit status.
   *
   * @param args the command-line arguments, without the command name
   * @param out where the ready line goes
   * @param err where errors go
   * @return the exit status: 0 on success, 2 for a usage error, 1 otherwise
   * @throws dev.portcullis.examples.UsageException for a bad command line
   */
  public static int run(String[] args, PrintStream out, PrintStream err) {
    GuardedService.Settings settings = GuardedService.settings(args, COMMAND);
    Service.Setup setup = () -> {
      AccessPolicy policy = settings.policy();
      QueuedThreadPool threads = new QueuedThreadPool(MAX_THREADS, 4);
      threads.setName("jetty-http");
      Server server = new Server(threads);
      HttpConfiguration http = new HttpConfiguration();
      http.setRequestHeaderSize(MAX_HEAD_BYTES);
      http.setSendServerVersion(false);
      ServerConnector connector = new ServerConnector(server, 1, 1, new HttpConnectionFactory(http));
      connector.setHost(settings.bind());
      connector.setPort(settings.port());
      connector.setIdleTimeout(GuardedService.IDLE_TIMEOUT_SECONDS * 1000L);
      server.addConnector(connector);
      JettyGuard guard = JettyGuard.builder(policy).limits(settings.limits()).penalties(settings.penalties())
          .attach(connector); // the one line: before the connector starts
      server.setHandler(new App(settings, guard));
      try {
        server.start();
      } catch (RuntimeException e) {
        stopQuietly(server);
        throw e;
      } catch (Exception e) { // a port in use: Jetty's IOException around the BindException
        stopQuietly(server);
        throw GuardedService.bindFailed(settings.address(), e);
      }
      InetSocketAddress local = settings.bind() == null ? new InetSocketAddress(connector.getLocalPort())
          : new InetSocketAddress(settings.bind(), connector.getLocalPort());
      return GuardedService.started(settings, guard, (ServerSocketChannel) connector.getTransport(), local,
          grace -> {
            server.setStopTimeout(grace.toMillis());
            server.stop();
          }, err);
    };
    return Service.run("jetty-http", setup, Duration.ofSeconds(5), "", out, err);
  }

  private static void stopQuietly(Server server) {
    try {
      server.stop();
    } catch (Exception ignored) {
      // it did not start: nothing more to release
    }
  }

  /** {@code GET /health}, {@code GET /hello}, {@code POST /login}; 404 for anything else. */
  private static final class App extends Handler.Abstract {
    private final GuardedService.Settings settings;
    private final JettyGuard guard;

    App(GuardedService.Settings settings, JettyGuard guard) {
      this.settings = settings;
      this.guard = guard;
    }

    @Override
    public boolean handle(Request request, Response response, Callback callback) {
      String path = Request.getPathInContext(request);
      String method = request.getMethod();
      if (method.equals("GET") && path.equals("/health")) {
        Content.Sink.write(response, true, "ok\n", callback);
      } else if (method.equals("GET") && path.equals("/hello")) {
        Content.Sink.write(response, true, "hello " + IpAddresses.format(
            ((InetSocketAddress) request.getConnectionMetaData().getRemoteSocketAddress()).getAddress()) + "\n",
            callback);
      } else if (method.equals("POST") && path.equals("/login")) {
        if (settings.loginMatches(request.getHeaders().get(HttpHeader.AUTHORIZATION))) {
          Content.Sink.write(response, true, "welcome\n", callback);
        } else {
          // The application's offence: the penalty box counts it, bans at the threshold, and the
          // kernel guard (told by a PenaltyListener) drops the source's next SYNs.
          guard.reportOffence(request, GuardedService.BAD_LOGIN_WEIGHT, GuardedService.BAD_LOGIN_REASON);
          response.setStatus(HttpStatus.UNAUTHORIZED_401);
          response.getHeaders().put(HttpHeader.WWW_AUTHENTICATE, "Bearer");
          Content.Sink.write(response, true, "wrong token\n", callback);
        }
      } else {
        Response.writeError(request, response, callback, HttpStatus.NOT_FOUND_404);
      }
      return true;
    }
  }
}
