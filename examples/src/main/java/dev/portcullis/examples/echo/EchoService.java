package dev.portcullis.examples.echo;

import dev.portcullis.Handshakes;
import dev.portcullis.RunningServer;
import dev.portcullis.Server;
import dev.portcullis.examples.Command;
import dev.portcullis.examples.CrowdSecOptions;
import dev.portcullis.examples.Option;
import dev.portcullis.examples.Options;
import dev.portcullis.examples.PolicyOptions;
import dev.portcullis.examples.Service;
import dev.portcullis.examples.UsageException;
import dev.portcullis.handshake.secret.SharedSecret;
import dev.portcullis.handshake.tls.Tls;
import dev.portcullis.policy.AccessPolicy;
import java.io.IOException;
import java.io.PrintStream;
import java.util.List;

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

  /** The command as {@code portcullis echo --help} shows it; its options are what the parser accepts. */
  public static final Command COMMAND = new Command("echo",
      List.of("--port P [OPTIONS]", "--unix PATH | --abstract NAME | --systemd [NAME] | --inetd [OPTIONS]"),
      "an access-controlled echo service; prints 'listening on HOST:PORT' when ready",
      Option.concat(List.of(
          Option.valued("--port", "P", "the TCP port to listen on, 0..65535; 0 picks a free one (required, unless"
              + " --unix, --abstract, --systemd or --inetd)"),
          Option.valued("--bind", "ADDR", "the local address to listen on (default: every address, IPv4 and IPv6)"),
          Option.valued("--backlog", "N", "the listen(2) backlog; the kernel caps it at somaxconn (default "
              + Server.DEFAULT_BACKLOG + ")"),
          Option.valued("--unix", "PATH", "listen on a Unix domain socket file instead of --port; rules are then"
              + " --allow-uid and its like"),
          Option.valued("--mode", "MODE", "the --unix socket file's permissions, octal (default 0"
              + Integer.toOctalString(Server.DEFAULT_UNIX_MODE) + ")"),
          Option.valued("--abstract", "NAME", "listen on an abstract Unix socket (no file) instead of --port"),
          Option.optionalValue("--systemd", "NAME", "serve the listening socket systemd passed (NAME: its"
              + " FileDescriptorName; default: the only one) instead of --port"),
          Option.flag("--inetd", "serve the one connection inetd or Accept=yes passed on stdin, then exit; print"
              + " nothing")),
          PolicyOptions.RULES, List.of(PolicyOptions.ALLOW_ALL), PolicyOptions.CREDENTIAL_RULES, List.of(
          Option.flag("--watch", "reload --policy FILE when it changes, once it has stopped changing (default: read"
              + " once)"),
          Option.valued("--shadow", "SECONDS", "with --watch: decide beside the live policy for SECONDS, logging"
              + " what would flip, then promote (default: at once)"),
          Option.valued("--proxy-protocol", "CIDR", "read a PROXY protocol v1/v2 header from proxies in CIDR"
              + " (repeatable; default: no header read)"),
          Option.flag("--proxy-optional", "with --proxy-protocol: the trusted proxies' header may be absent (health"
              + " checks); others connect directly"),
          Option.valued("--secret-file", "FILE", "require the shared-secret handshake with the keys in FILE,"
              + " KEY_ID:HEXKEY lines (default: none)"),
          Option.valued("--tls-cert", "PEM", "speak TLS 1.3/1.2 with this certificate chain, with --tls-key"
              + " (default: no TLS)"),
          Option.valued("--tls-key", "PEM", "the private key of --tls-cert"),
          Option.valued("--tls-client-ca", "PEM", "require a client certificate issued by this CA (default: none"
              + " asked)"),
          Option.valued("--tls-allow-subject", "DN", "with --tls-client-ca: serve only this subject (repeatable;"
              + " default: any the CA issued)"),
          Option.valued("--max-connections", "N", "connections open at once; more are closed at accept (default: no"
              + " limit)"),
          Option.valued("--max-per-source", "N", "connections open at once from one address or IPv6 /64 (default:"
              + " no limit)"),
          Option.valued("--rate-per-source", "RATE[:BURST]", "new connections a second from one source, BURST at"
              + " once (default: no limit; BURST: RATE, at least 1)"),
          Option.valued("--max-pending-handshakes", "N", "connections in their handshake at once (default "
              + dev.portcullis.policy.Limits.defaultMaxPendingHandshakes()
              + ": an eighth of the heap at 32 KiB a handshake)"),
          Service.IDLE_TIMEOUT,
          Option.flag("--kernel-filter", "have the kernel drop denied peers with a socket filter (default: off)"),
          Service.LOOPS,
          Service.PENALTY,
          Option.valued("--grace", "SECONDS", "on SIGTERM or Ctrl-C, how long open connections may finish, 0..3600"
              + " (default " + EchoService.DEFAULT_GRACE_SECONDS + ")")), CrowdSecOptions.OPTIONS),
      List.of("Rules from --policy, --allow, --deny and --allow-all are combined; with none it refuses to start.",
          "Exit status: 0 stopped by SIGTERM or Ctrl-C, 1 the system refused (a port in use), 2 bad input."));

  /** How long open connections may finish on SIGTERM, by default ({@code --grace}). */
  public static final int DEFAULT_GRACE_SECONDS = 10;

  /**
   * {@code java -cp portcullis-examples.jar dev.portcullis.examples.echo.EchoService --port ...}.
   *
   * @param args the command-line arguments, without the command name
   */
  public static void main(String[] args) {
    Service.main(args, EchoService::run);
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
    Options o = Options.parse(args, COMMAND.options());
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
    if (o.has("--kernel-filter") && sources > 0) {
      throw new UsageException("--kernel-filter filters the TCP listener echo opens itself (--port); it cannot go with"
          + " --systemd, --inetd, --unix or --abstract");
    }
    if (o.one("--penalty") != null && (unix != null || abstractName != null)) {
      throw new UsageException("--penalty counts offences per source address, and a Unix domain socket's peers have"
          + " none; limit local peers with --max-per-source");
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
    int grace = o.integer("--grace", 0, 3600, DEFAULT_GRACE_SECONDS);
    Integer loops = o.one("--loops") == null ? null : o.integer("--loops", 1, 1024, null);
    for (String trusted : o.all("--proxy-protocol")) {
      PolicyOptions.cidr("--proxy-protocol", trusted); // a list or a typo in the command line's words
    }
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
      CrowdSecOptions crowdsec = CrowdSecOptions.read(o, o.one("--penalty") != null);
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
      Server.Builder<?> server;
      if (systemd || inetd) {
        if (inetd && System.getenv("LISTEN_FDS") == null
            && System.getProperty("org.slf4j.simpleLogger.defaultLogLevel") == null) {
          // Classic inetd: standard error is the connection too; a log line would reach the client.
          System.setProperty("org.slf4j.simpleLogger.defaultLogLevel", "off");
        }
        Server.InheritedBuilder inherited = inetd ? Server.fromInetd()
            : o.one("--systemd").isEmpty() ? Server.fromSystemd() : Server.fromSystemd(o.one("--systemd"));
        Service.penalty(o, inherited);
        server = inherited;
      } else if (unix != null) {
        Server.UnixBuilder file = Server.onUnix(java.nio.file.Path.of(unix)).backlog(backlog);
        if (o.one("--mode") != null) {
          file.mode(mode(o.one("--mode")));
        }
        server = file;
      } else if (abstractName != null) {
        server = Server.onAbstract(abstractName).backlog(backlog);
      } else {
        Server.TcpBuilder tcp = Server.on(port).backlog(backlog);
        if (o.has("--kernel-filter")) {
          tcp.kernelFilter();
        }
        String bind = o.one("--bind");
        if (bind != null) {
          tcp.bindAddress(bind);
        }
        Service.penalty(o, tcp);
        server = tcp;
      }
      server.policy(policy).handle(conn -> conn.input().transferTo(conn.output()));
      if (loops != null) {
        server.eventLoops(loops);
      }
      applyLimits(o, server);
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
      RunningServer running = server.start();
      if (crowdsec != null) {
        crowdsec.attach(running);
      }
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
  private static void applyLimits(Options o, Server.Builder<?> server) {
    if (o.one("--idle-timeout") != null) {
      server.idleTimeout(java.time.Duration.ofSeconds(o.integer("--idle-timeout", 1, 86_400, null)));
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
      } catch (IllegalArgumentException e) { // not numbers, or numbers the server refuses (its message names a method)
        throw new UsageException("--rate-per-source '" + rate + "' is not RATE or RATE:BURST (a rate above 0, a"
            + " burst of at least 1), such as 10 or 10:50");
      }
    }
  }
}
