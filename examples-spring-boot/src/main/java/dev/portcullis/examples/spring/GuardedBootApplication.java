package dev.portcullis.examples.spring;

import dev.portcullis.Penalty;
import dev.portcullis.PenaltyListener;
import dev.portcullis.jetty.JettyGuard;
import dev.portcullis.jna.KernelGuard;
import dev.portcullis.policy.AccessPolicy;
import dev.portcullis.policy.Cidr;
import dev.portcullis.policy.IpAddresses;
import dev.portcullis.policy.Limits;
import dev.portcullis.policy.Penalties;
import jakarta.servlet.http.HttpServletRequest;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.SocketException;
import java.nio.channels.ServerSocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import org.eclipse.jetty.server.Connector;
import org.eclipse.jetty.server.ServerConnector;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.beans.factory.annotation.Value;
import org.springframework.boot.SpringApplication;
import org.springframework.boot.autoconfigure.SpringBootApplication;
import org.springframework.boot.jetty.servlet.JettyServletWebServerFactory;
import org.springframework.boot.web.server.WebServerFactoryCustomizer;
import org.springframework.boot.web.server.context.WebServerInitializedEvent;
import org.springframework.context.event.ContextClosedEvent;
import org.springframework.context.event.EventListener;
import org.springframework.http.HttpHeaders;
import org.springframework.http.HttpStatus;
import org.springframework.http.ResponseEntity;
import org.springframework.stereotype.Component;
import org.springframework.web.bind.annotation.GetMapping;
import org.springframework.web.bind.annotation.PostMapping;
import org.springframework.web.bind.annotation.RequestHeader;
import org.springframework.web.bind.annotation.RestController;

/**
 * A Spring Boot 4 service on embedded Jetty 12, guarded by Portcullis: {@link JettyGuard} on
 * Jetty's {@code ServerConnector}, put there by a {@link WebServerFactoryCustomizer} before the
 * connector starts (the policy, the penalty box, the limits, decided at accept before Jetty or
 * Spring sees the connection); the penalty box fed by failed logins from a {@code @RestController};
 * and {@link KernelGuard} on the connector's listening socket once the web server has started, so
 * that the kernel drops denied and banned peers before the TCP handshake.
 *
 * <pre>
 * java -jar examples-spring-boot/target/portcullis-spring-boot.jar --server.port=8080 \
 *     --server.address=127.0.0.1 --portcullis.policy=access.rules --portcullis.token-file=token
 * listening on 127.0.0.1:8080
 * curl http://127.0.0.1:8080/hello                                          # hello 127.0.0.1
 * curl -X POST -H 'Authorization: Bearer guess' http://127.0.0.1:8080/login    # 401; the fifth bans
 * </pre>
 *
 * Its settings are Spring properties (on the command line as {@code --name=value}):
 * {@code portcullis.policy} (the policy file, required), {@code portcullis.token-file} (the login
 * token, its first line; required), {@code portcullis.penalty} ({@code N:SECONDS}, default {@code
 * 5:60}), {@code portcullis.max-per-source} (default 64, 0 for none), {@code
 * portcullis.kernel-guard} (default true). Standard output carries the ready line ({@code listening
 * on ADDRESS}, as the launcher's services print it) and {@code stopped}; the log goes to standard
 * error.
 */
@SpringBootApplication
public class GuardedBootApplication {
  private static final Logger LOG = LoggerFactory.getLogger(GuardedBootApplication.class);

  /** The longest token file read, in bytes. */
  static final int MAX_TOKEN_FILE_BYTES = 4096;

  /** Spring makes the application through this constructor. */
  public GuardedBootApplication() {}

  /**
   * Runs the service until SIGTERM or Ctrl-C.
   *
   * @param args Spring Boot's command line: {@code --server.port=8080 --portcullis.policy=FILE ...}
   */
  public static void main(String[] args) {
    SpringApplication.run(GuardedBootApplication.class, args);
  }

  /**
   * The guards: the {@link JettyGuard} on each of Jetty's connectors (attached by {@link
   * #jettyGuards}), the kernel guard on its socket once it listens, and the login check.
   */
  @Component
  public static class Guards {
    private final AccessPolicy policy;
    private final Penalties penalties;
    private final Limits limits;
    private final boolean kernelGuard;
    private final byte[] token;
    private volatile JettyGuard jetty;
    private volatile KernelGuard kernel;

    /**
     * Reads the settings; a bad one stops the application before the server starts.
     *
     * @param policyFile {@code portcullis.policy}
     * @param tokenFile {@code portcullis.token-file}
     * @param penalty {@code portcullis.penalty}
     * @param maxPerSource {@code portcullis.max-per-source}
     * @param kernelGuard {@code portcullis.kernel-guard}
     * @throws IOException if a file cannot be read (the message names it)
     * @throws IllegalArgumentException if a setting is malformed (the message names it)
     */
    public Guards(@Value("${portcullis.policy:}") String policyFile, @Value("${portcullis.token-file:}") String tokenFile,
        @Value("${portcullis.penalty:5:60}") String penalty, @Value("${portcullis.max-per-source:64}") int maxPerSource,
        @Value("${portcullis.kernel-guard:true}") boolean kernelGuard) throws IOException {
      if (policyFile.isBlank()) {
        throw new IllegalArgumentException("portcullis.policy is not set: give --portcullis.policy=FILE, the rules of"
            + " who may connect");
      }
      this.policy = AccessPolicy.load(Path.of(policyFile));
      if (policy.isEmpty()) {
        throw new IllegalArgumentException("portcullis.policy=" + policyFile + " has no rule");
      }
      try {
        this.penalties = Penalties.parse(penalty);
      } catch (IllegalArgumentException e) {
        throw new IllegalArgumentException("portcullis.penalty: " + e.getMessage(), e);
      }
      if (maxPerSource < 0) {
        throw new IllegalArgumentException("portcullis.max-per-source=" + maxPerSource + ": 0 (no limit) or more");
      }
      this.limits = maxPerSource == 0 ? Limits.NONE : Limits.NONE.withMaxPerSource(maxPerSource);
      this.kernelGuard = kernelGuard;
      this.token = token(tokenFile);
    }

    private static byte[] token(String file) throws IOException {
      if (file.isBlank()) {
        throw new IllegalArgumentException("portcullis.token-file is not set: give --portcullis.token-file=FILE");
      }
      Path path = Path.of(file);
      if (!Files.isRegularFile(path)) {
        throw new IllegalArgumentException("portcullis.token-file=" + file + " is not a regular file");
      }
      byte[] b;
      try (InputStream in = Files.newInputStream(path)) {
        b = in.readNBytes(MAX_TOKEN_FILE_BYTES + 1);
      }
      String t = new String(b, StandardCharsets.UTF_8).lines().findFirst().orElse("").strip();
      if (b.length > MAX_TOKEN_FILE_BYTES || t.isEmpty()) {
        throw new IllegalArgumentException("portcullis.token-file=" + file + ": want one short line, the token");
      }
      return t.getBytes(StandardCharsets.UTF_8);
    }

    /** Attaches a guard to a connector before it starts (one connector: Spring Boot's HTTP one). */
    void attach(ServerConnector connector) {
      if (jetty != null) {
        throw new IllegalStateException("this example guards one connector; Jetty has another: " + connector);
      }
      jetty = JettyGuard.builder(policy).limits(limits).penalties(penalties).attach(connector);
    }

    /**
     * The guard in front of the connector.
     *
     * @return the guard, or null before the web server is made
     */
    public JettyGuard jetty() {
      return jetty;
    }

    /** The connector listens: the kernel guard on its socket, fed the penalty box's bans. */
    void listening() {
      JettyGuard guard = jetty;
      InetSocketAddress local = (InetSocketAddress) guard.asRunningServer().localAddress();
      if (!kernelGuard) {
        LOG.info("No kernel guard on {}: portcullis.kernel-guard=false; the guard in the JVM decides alone",
            IpAddresses.format(local));
        return;
      }
      try {
        KernelGuard k = KernelGuard.attach((ServerSocketChannel) guard.connector().getTransport(), policy);
        kernel = k;
        LOG.info("Kernel guard on {}: {}; denied and banned peers are dropped before the TCP handshake",
            IpAddresses.format(local), k.mode());
        guard.asRunningServer().addPenaltyListener(new PenaltyListener() {
          @Override
          public void banned(Penalty p, String reason, boolean external) {
            k.updateBans(guard.chain().directBans());
          }

          @Override
          public void lifted(Cidr range, String reason) {
            k.updateBans(guard.chain().directBans());
          }
        });
      } catch (SocketException | RuntimeException | LinkageError e) {
        LOG.info("No kernel guard on {}: {}; the guard in the JVM decides alone", IpAddresses.format(local),
            e.getMessage());
      }
    }

    /** Detaches the kernel guard before Jetty closes its socket. */
    void closing() {
      KernelGuard k = kernel;
      if (k != null) {
        k.close();
      }
    }

    /**
     * Whether {@code authorization} is {@code Bearer TOKEN} with the right token; if not, an offence
     * of {@code client} of weight 1 in the penalty box.
     *
     * @param authorization the request's {@code Authorization} header, or null
     * @param client the client's address, as the servlet request gives it
     * @return true for the right token
     */
    public boolean login(String authorization, String client) {
      boolean ok = authorization != null && authorization.regionMatches(true, 0, "Bearer ", 0, 7)
          && MessageDigest.isEqual(token, authorization.substring(7).strip().getBytes(StandardCharsets.UTF_8));
      if (!ok) {
        try {
          // A literal from the socket: no name lookup.
          jetty.asRunningServer().reportOffence(InetAddress.getByName(client), 1, "bad login token");
        } catch (java.net.UnknownHostException e) {
          throw new UncheckedIOException(e);
        }
      }
      return ok;
    }
  }

  /**
   * Puts a {@link JettyGuard} on each connector of the embedded Jetty, when Spring Boot makes the
   * server and before it starts it.
   *
   * @param guards the guards
   * @return the customizer
   */
  @org.springframework.context.annotation.Bean
  public WebServerFactoryCustomizer<JettyServletWebServerFactory> jettyGuards(Guards guards) {
    return factory -> factory.addServerCustomizers(server -> {
      for (Connector c : server.getConnectors()) {
        if (c instanceof ServerConnector connector) {
          guards.attach(connector);
        }
      }
    });
  }

  /** Prints the ready line once the web server listens, and {@code stopped} when the context closes. */
  @Component
  public static class Lifecycle {
    private final Guards guards;

    /**
     * The lifecycle of the guards.
     *
     * @param guards the guards
     */
    public Lifecycle(Guards guards) {
      this.guards = guards;
    }

    /**
     * The web server listens: the kernel guard, then the ready line.
     *
     * @param event Spring Boot's event
     */
    @EventListener
    public void listening(WebServerInitializedEvent event) {
      guards.listening();
      System.out.println("listening on " + IpAddresses.format(guards.jetty().asRunningServer().localAddress()));
      System.out.flush();
    }

    /**
     * The application stops.
     *
     * @param event Spring's event
     */
    @EventListener
    public void closing(ContextClosedEvent event) {
      guards.closing();
      System.out.println("stopped");
      System.out.flush();
    }
  }

  /** {@code GET /health}, {@code GET /hello}, {@code POST /login}. */
  @RestController
  public static class Endpoints {
    private final Guards guards;

    /**
     * The endpoints.
     *
     * @param guards the guards, for the login check
     */
    public Endpoints(Guards guards) {
      this.guards = guards;
    }

    /**
     * A health check.
     *
     * @return {@code ok}
     */
    @GetMapping(value = "/health", produces = "text/plain")
    public String health() {
      return "ok\n";
    }

    /**
     * A greeting naming the client.
     *
     * @param request the request
     * @return {@code hello ADDRESS}
     */
    @GetMapping(value = "/hello", produces = "text/plain")
    public String hello(HttpServletRequest request) {
      return "hello " + request.getRemoteAddr() + "\n";
    }

    /**
     * A login with {@code Authorization: Bearer TOKEN}: 200, or 401 and an offence in the penalty box.
     *
     * @param authorization the header
     * @param request the request
     * @return the answer
     */
    @PostMapping(value = "/login", produces = "text/plain")
    public ResponseEntity<String> login(@RequestHeader(value = HttpHeaders.AUTHORIZATION, required = false)
        String authorization, HttpServletRequest request) {
      if (guards.login(authorization, request.getRemoteAddr())) {
        return ResponseEntity.ok("welcome\n");
      }
      return ResponseEntity.status(HttpStatus.UNAUTHORIZED).header(HttpHeaders.WWW_AUTHENTICATE, "Bearer")
          .body("wrong token\n");
    }
  }
}
