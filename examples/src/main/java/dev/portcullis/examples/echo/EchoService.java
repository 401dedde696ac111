package dev.portcullis.examples.echo;

import dev.portcullis.RunningServer;
import dev.portcullis.Server;
import dev.portcullis.examples.Options;
import dev.portcullis.examples.PolicyOptions;
import dev.portcullis.examples.Service;
import dev.portcullis.examples.UsageException;
import dev.portcullis.handshake.Handshakes;
import dev.portcullis.handshake.secret.SharedSecret;
import dev.portcullis.handshake.tls.Tls;
import dev.portcullis.policy.AccessPolicy;
import java.io.IOException;
import java.io.PrintStream;
import java.util.HashSet;
import java.util.Set;

/**
 * An access-controlled echo microservice: every allowed client gets its bytes back.
 *
 * <pre>
 * portcullis echo --port 7000 --allow 10.0.0.0/8 --deny 10.66.0.0/16
 * portcullis echo --port 0 --bind 127.0.0.1 --policy office.policy
 * portcullis echo --port 7000 --allow 10.0.0.1 --allow 192.0.2.0/24 --proxy-protocol 10.0.0.1/32
 * portcullis echo --port 8443 --allow 10.0.0.0/8 --tls-cert server.crt --tls-key server.key --tls-client-ca ca.crt
 * </pre>
 *
 * With {@code --proxy-protocol CIDR} (repeatable) the service sits behind HAProxy or another proxy
 * that sends the PROXY protocol (v1 or v2) and trusts headers only from those proxies; with {@code
 * --proxy-optional} as well, the port is mixed: a header from those proxies is honoured when one
 * comes (their health checks send none) and everyone else connects directly, a header of theirs
 * being data ({@code ProxyProtocol.optional()}). With {@code
 * --secret-file FILE} ({@code KEY_ID:HEXKEY} lines) clients must pass the shared-secret challenge
 * first; {@code portcullis connect} is such a client. With {@code --tls-cert PEM --tls-key PEM} it
 * speaks TLS 1.3/1.2; {@code --tls-client-ca PEM} then requires a client certificate issued by that
 * CA, and {@code --tls-allow-subject DN} (repeatable) narrows who of those is served. The chain runs
 * PROXY header, then TLS, then the shared secret (inside TLS).
 *
 * Prints {@code listening on HOST:PORT} once ready. On SIGTERM or Ctrl-C it closes the server
 * (releasing the port and closing open connections) and prints {@code stopped}.
 */
public final class EchoService {
  private EchoService() {}

  private static final Set<String> FLAGS = Set.of("--allow-all", "--systemd", "--inetd", "--watch", "--kernel-filter",
      "--proxy-optional");
  private static final Set<String> VALUED;

  static {
    Set<String> v = new HashSet<>(PolicyOptions.VALUED);
    v.addAll(Set.of("--port", "--bind", "--backlog", "--proxy-protocol", "--secret-file", "--tls-cert", "--tls-key",
        "--tls-client-ca", "--tls-allow-subject", "--systemd-name", "--unix", "--abstract", "--mode",
        "--max-connections", "--max-per-source", "--rate-per-source", "--max-pending-handshakes", "--grace",
        "--idle-timeout", "--loops", "--penalty", "--shadow"));
    VALUED = Set.copyOf(v);
  }

  /**
   * {@code java -cp portcullis-examples.jar dev.portcullis.examples.echo.EchoService --port ...}.
   *
   * @param args the command-line arguments, without the command name
   */
  public static void main(String[] args) {
    Service.handleSignals();
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
    Options o = Options.parse(systemdName(args), VALUED, FLAGS);
    if (!o.positional().isEmpty()) {
      throw new UsageException("unexpected argument '" + o.positional().get(0) + "'");
    }
    boolean systemd = o.has("--systemd");
    boolean inetd = o.has("--inetd");
    String unix = o.one("--unix");
    String abstractName = o.one("--abstract");
    int sources = (systemd ? 1 : 0) + (inetd ? 1 : 0) + (unix != null ? 1 : 0) + (abstractName != null ? 1 : 0);
    if (sources > 1) {
      throw new UsageException("choose one of --systemd, --inetd, --unix and --abstract");
    }
    if (o.one("--mode") != null && unix == null) {
      throw new UsageException("--mode sets the socket file's permissions; it needs --unix PATH");
    }
    if ((unix != null || abstractName != null) && (o.one("--port") != null || o.one("--bind") != null)) {
      throw new UsageException("--port and --bind are for TCP; a Unix domain socket has a path or a name");
    }
    if (systemd || inetd) {
      for (String conflicting : new String[] {"--port", "--bind", "--backlog"}) {
        if (o.one(conflicting) != null) {
          throw new UsageException(conflicting + " cannot go with " + (systemd ? "--systemd" : "--inetd")
              + ": the inherited socket's address and backlog are set by whoever opened it");
        }
      }
      if (systemd && inetd) {
        throw new UsageException("choose one of --systemd (a listening socket) and --inetd (one connection)");
      }
    }
    int port = sources > 0 ? 0 : o.integer("--port", 0, 65535, null);
    int backlog = o.integer("--backlog", 1, Integer.MAX_VALUE, Server.DEFAULT_BACKLOG);
    int grace = o.integer("--grace", 0, 3600, 10);
    Integer loops = o.one("--loops") == null ? null : o.integer("--loops", 1, 1024, null);
    if (o.has("--proxy-optional") && o.all("--proxy-protocol").isEmpty()) {
      throw new UsageException("--proxy-optional makes the PROXY header of trusted proxies optional; name them with"
          + " --proxy-protocol TRUSTED_CIDR");
    }
    if (o.has("--watch") && o.one("--policy") == null) {
      throw new UsageException("--watch reloads the --policy FILE; give one");
    }
    if (o.one("--shadow") != null && !o.has("--watch")) {
      throw new UsageException("--shadow SECONDS shadows each policy --watch reloads; give --watch");
    }
    java.time.Duration shadow = o.one("--shadow") == null ? null : java.time.Duration.ofSeconds(o.integer("--shadow", 1, 86_400, null));
    Service.Setup setup = () -> {
      AccessPolicy policy = PolicyOptions.policy(o, o.has("--allow-all"));
      if (policy.isEmpty()) {
        if (unix != null || abstractName != null) {
          throw new IllegalStateException("no access rules for local peers; give --allow-uid N, --allow-user NAME,"
              + " --allow-gid N or --allow-group NAME" + (unix != null ? ", or --allow-all to let the file's mode alone"
              + " decide" : " (an abstract socket has no file mode to fall back on)"));
        }
        throw new IllegalStateException("no access rules, so anyone on any machine could connect; give --allow CIDR,"
            + " --policy FILE, or --allow-all to run an open server on purpose");
      }
      Server server;
      if (systemd) {
        server = o.one("--systemd-name") != null ? Server.fromSystemd(o.one("--systemd-name")) : Server.fromSystemd();
      } else if (inetd) {
        if (System.getenv("LISTEN_FDS") == null && System.getProperty("org.slf4j.simpleLogger.defaultLogLevel") == null) {
          // Classic inetd: standard error is the connection too; a log line would reach the client.
          System.setProperty("org.slf4j.simpleLogger.defaultLogLevel", "off");
        }
        server = Server.fromInetd();
      } else if (unix != null) {
        server = Server.onUnix(java.nio.file.Path.of(unix)).backlog(backlog);
        if (o.one("--mode") != null) {
          server.mode(mode(o.one("--mode")));
        }
      } else if (abstractName != null) {
        server = Server.onAbstract(abstractName).backlog(backlog);
      } else {
        server = Server.on(port).backlog(backlog);
      }
      server.policy(policy).handle(conn -> conn.input().transferTo(conn.output()));
      if (loops != null) {
        server.eventLoops(loops);
      }
      applyLimits(o, server);
      Service.penalty(o, server);
      if (!o.all("--proxy-protocol").isEmpty()) {
        dev.portcullis.handshake.proxy.ProxyProtocol proxy =
            Handshakes.proxyProtocol().trustedFrom(o.all("--proxy-protocol").toArray(new String[0]));
        server.handshake(o.has("--proxy-optional") ? proxy.optional() : proxy);
      }
      Tls tls = tls(o);
      if (tls != null) {
        server.handshake(tls);
      }
      String secrets = o.one("--secret-file");
      if (secrets != null) {
        server.handshake(Handshakes.sharedSecret(SharedSecret.loadKeys(java.nio.file.Path.of(secrets))));
      }
      String bind = o.one("--bind");
      if (bind != null) {
        server.bindAddress(bind);
      }
      RunningServer running = server.start();
      if (o.has("--watch")) {
        java.util.function.Consumer<AccessPolicy> apply = shadow == null ? running::updatePolicy
            : new ShadowThenPromote(running, shadow, err);
        PolicyWatcher.start(java.nio.file.Path.of(o.one("--policy")), () -> PolicyOptions.policy(o, o.has("--allow-all")),
            apply, err);
      }
      return running;
    };
    // Under inetd, standard output is the connection: print nothing, serve it, exit.
    return inetd ? Service.runQuietly("echo", setup, err)
        : Service.run("echo", setup, java.time.Duration.ofSeconds(grace), "", out, err);
  }


  /** The TLS step the options ask for, or null for none. */
  private static Tls tls(Options o) throws IOException {
    String cert = o.one("--tls-cert");
    String key = o.one("--tls-key");
    String ca = o.one("--tls-client-ca");
    if (cert == null && key == null) {
      if (ca != null || !o.all("--tls-allow-subject").isEmpty()) {
        throw new UsageException("--tls-client-ca and --tls-allow-subject need --tls-cert and --tls-key");
      }
      return null;
    }
    if (cert == null || key == null) {
      throw new UsageException("TLS needs both --tls-cert PEM and --tls-key PEM");
    }
    Tls tls = Handshakes.tls(java.nio.file.Path.of(cert), java.nio.file.Path.of(key));
    if (ca != null) {
      tls = tls.requireClientCertificate(java.nio.file.Path.of(ca));
      for (String subject : o.all("--tls-allow-subject")) {
        tls = tls.allowSubject(subject);
      }
    } else if (!o.all("--tls-allow-subject").isEmpty()) {
      throw new UsageException("--tls-allow-subject is a rule on client certificates; give --tls-client-ca too");
    }
    return tls;
  }

  /** {@code --systemd NAME} becomes {@code --systemd --systemd-name NAME}; a bare {@code --systemd} stays. */
  private static String[] systemdName(String[] args) {
    java.util.List<String> out = new java.util.ArrayList<>();
    for (int i = 0; i < args.length; i++) {
      out.add(args[i]);
      if (args[i].equals("--systemd") && i + 1 < args.length && !args[i + 1].startsWith("-")) {
        out.add("--systemd-name");
        out.add(args[++i]);
      }
    }
    return out.toArray(new String[0]);
  }

  /** An octal mode such as {@code 0660} or {@code 660}. */
  private static int mode(String text) {
    if (!text.matches("0?[0-7]{3}")) {
      throw new UsageException("--mode '" + text + "' is not an octal mode such as 0660");
    }
    return Integer.parseInt(text, 8);
  }

  /**
   * --max-connections, --max-per-source, --rate-per-source RATE[:BURST], --max-pending-handshakes,
   * --idle-timeout SECONDS.
   */
  private static void applyLimits(Options o, Server server) {
    if (o.one("--idle-timeout") != null) {
      server.idleTimeout(java.time.Duration.ofSeconds(o.integer("--idle-timeout", 1, 86_400, null)));
    }
    if (o.has("--kernel-filter")) {
      server.kernelFilter();
    }
    if (o.one("--max-connections") != null) {
      server.maxConnections(o.integer("--max-connections", 1, Integer.MAX_VALUE, null));
    }
    if (o.one("--max-per-source") != null) {
      server.maxConnectionsPerSource(o.integer("--max-per-source", 1, Integer.MAX_VALUE, null));
    }
    if (o.one("--max-pending-handshakes") != null) {
      server.maxPendingHandshakes(o.integer("--max-pending-handshakes", 1, Integer.MAX_VALUE, null));
    }
    String rate = o.one("--rate-per-source");
    if (rate != null) {
      String[] parts = rate.split(":", -1);
      try {
        double perSecond = Double.parseDouble(parts[0]);
        int burst = parts.length > 1 ? Integer.parseInt(parts[1]) : Math.max(1, (int) Math.ceil(perSecond));
        if (parts.length > 2) {
          throw new NumberFormatException();
        }
        server.rateLimitPerSource(perSecond, burst);
      } catch (NumberFormatException e) {
        throw new UsageException("--rate-per-source '" + rate + "' is not RATE or RATE:BURST, such as 10 or 10:50");
      }
    }
  }
}
