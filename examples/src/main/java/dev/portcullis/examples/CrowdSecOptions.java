package dev.portcullis.examples;

import dev.portcullis.RunningServer;
import dev.portcullis.crowdsec.BanTarget;
import dev.portcullis.crowdsec.Bouncer;
import dev.portcullis.crowdsec.Watcher;
import java.io.IOException;
import java.net.URI;
import java.nio.file.Path;
import java.util.List;

/**
 * The CrowdSec options the serving commands share: {@code --crowdsec URL} with {@code
 * --crowdsec-key-file FILE} enforces the Local API's decisions (a bouncer), and machine credentials
 * ({@code --crowdsec-machine-file FILE}, or {@code --crowdsec-login ID --crowdsec-password-file
 * FILE}, or a client certificate: {@code --crowdsec-cert FILE --crowdsec-cert-key FILE}) push this
 * server's own bans to it (a watcher). Read and checked before the server starts
 * ({@link #read}), attached once it runs ({@link #attach}).
 */
public final class CrowdSecOptions {
  /** {@code --crowdsec URL}: the Local API. */
  public static final Option URL = Option.valued("--crowdsec", "URL", "a CrowdSec Local API, such as"
      + " http://127.0.0.1:8080: enforce its ban decisions (needs --penalty and a key or machine credentials)");
  /** {@code --crowdsec-key-file FILE}: the bouncer's key. */
  public static final Option KEY_FILE = Option.valued("--crowdsec-key-file", "FILE", "the bouncer key 'cscli"
      + " bouncers add NAME' printed, one per instance (or the environment's CROWDSEC_BOUNCER_KEY)");
  /** {@code --crowdsec-machine-file FILE}: the watcher's credentials. */
  public static final Option MACHINE_FILE = Option.valued("--crowdsec-machine-file", "FILE", "push this server's"
      + " own bans as alerts, as the machine 'cscli machines add NAME -f FILE' wrote");
  /** {@code --crowdsec-login ID}: the watcher's machine id. */
  public static final Option LOGIN = Option.valued("--crowdsec-login", "ID", "push this server's own bans as"
      + " alerts, as machine ID (with --crowdsec-password-file)");
  /** {@code --crowdsec-password-file FILE}: the watcher's password. */
  public static final Option PASSWORD_FILE = Option.valued("--crowdsec-password-file", "FILE", "the password of"
      + " --crowdsec-login");
  /** {@code --crowdsec-ca FILE}: the CA of an https LAPI. */
  public static final Option CA = Option.valued("--crowdsec-ca", "FILE", "trust the CA certificates of this PEM"
      + " file for an https Local API (default: the JDK's)");

  /** {@code --crowdsec-cert FILE}: the watcher's client certificate. */
  public static final Option CERT = Option.valued("--crowdsec-cert", "FILE", "push this server's own bans as"
      + " alerts, logging in with this client certificate chain (PEM; with --crowdsec-cert-key), for a LAPI"
      + " whose tls section lists its OU in agents_allowed_ou");
  /** {@code --crowdsec-cert-key FILE}: the key of {@code --crowdsec-cert}. */
  public static final Option CERT_KEY = Option.valued("--crowdsec-cert-key", "FILE", "the PKCS #8 private key"
      + " (PEM) of --crowdsec-cert");

  /** Every option above, for a command's list. */
  public static final List<Option> OPTIONS =
      List.of(URL, KEY_FILE, MACHINE_FILE, LOGIN, PASSWORD_FILE, CERT, CERT_KEY, CA);

  private final Bouncer bouncer;
  private final Watcher.Builder watcher;

  private CrowdSecOptions(Bouncer bouncer, Watcher.Builder watcher) {
    this.bouncer = bouncer;
    this.watcher = watcher;
  }

  /**
   * Reads the options and the files they name; nothing starts yet.
   *
   * @param o the parsed options
   * @param hasPenaltyBox whether {@code --penalty} was given (the decisions are bans of its box)
   * @return the settings, or null without {@code --crowdsec}
   * @throws UsageException if an option is missing or given without {@code --crowdsec}
   * @throws IOException if a named file cannot be read
   */
  public static CrowdSecOptions read(Options o, boolean hasPenaltyBox) throws IOException {
    String url = o.one("--crowdsec");
    if (url == null) {
      for (Option opt : OPTIONS) {
        if (o.one(opt.name()) != null) {
          throw new UsageException(opt.name() + " needs --crowdsec URL");
        }
      }
      return null;
    }
    if (!hasPenaltyBox) {
      throw new UsageException("--crowdsec needs --penalty N:SECONDS: CrowdSec's decisions are bans of the penalty box");
    }
    URI lapi;
    try {
      lapi = URI.create(url);
      if (lapi.getHost() == null || !("http".equals(lapi.getScheme()) || "https".equals(lapi.getScheme()))) {
        throw new IllegalArgumentException("expected http://HOST:PORT or https://HOST:PORT");
      }
    } catch (IllegalArgumentException e) {
      throw new UsageException("--crowdsec " + url + ": " + e.getMessage());
    }
    Path ca = o.one("--crowdsec-ca") == null ? null : Path.of(o.one("--crowdsec-ca"));
    Bouncer bouncer = null;
    String env = System.getenv("CROWDSEC_BOUNCER_KEY");
    if (o.one("--crowdsec-key-file") != null || (env != null && !env.isBlank())) {
      Bouncer.Builder b = Bouncer.builder(lapi);
      if (o.one("--crowdsec-key-file") != null) {
        b.apiKeyFile(Path.of(o.one("--crowdsec-key-file")));
      } else {
        b.apiKeyFromEnvironment("CROWDSEC_BOUNCER_KEY");
      }
      if (ca != null) {
        b.caCertificate(ca);
      }
      bouncer = b.build();
    }
    Watcher.Builder w = null;
    String cert = o.one("--crowdsec-cert");
    if ((cert == null) != (o.one("--crowdsec-cert-key") == null)) {
      throw new UsageException(cert == null ? "--crowdsec-cert-key needs --crowdsec-cert FILE"
          : "--crowdsec-cert needs --crowdsec-cert-key FILE (its private key)");
    }
    if (cert != null && (o.one("--crowdsec-machine-file") != null || o.one("--crowdsec-login") != null)) {
      throw new UsageException("--crowdsec-cert is a watcher's credentials: give it, or --crowdsec-machine-file,"
          + " or --crowdsec-login, not several");
    }
    if (cert != null) {
      w = Watcher.builder(lapi).clientCertificate(ca, Path.of(cert), Path.of(o.one("--crowdsec-cert-key")));
    } else if (o.one("--crowdsec-machine-file") != null || o.one("--crowdsec-login") != null) {
      w = Watcher.builder(lapi);
      if (o.one("--crowdsec-machine-file") != null) {
        w.machineFile(Path.of(o.one("--crowdsec-machine-file")));
      } else {
        if (o.one("--crowdsec-password-file") == null) {
          throw new UsageException("--crowdsec-login needs --crowdsec-password-file FILE");
        }
        w.login(o.one("--crowdsec-login"), Path.of(o.one("--crowdsec-password-file")));
      }
      if (ca != null) {
        w.caCertificate(ca);
      }
    }
    if (bouncer == null && w == null) {
      throw new UsageException("--crowdsec needs --crowdsec-key-file FILE (bouncer) or machine credentials"
          + " (--crowdsec-machine-file FILE, --crowdsec-login ID --crowdsec-password-file FILE, or"
          + " --crowdsec-cert FILE --crowdsec-cert-key FILE)");
    }
    return new CrowdSecOptions(bouncer, w);
  }

  /**
   * {@link #attach} if there are settings.
   *
   * @param settings what {@link #read} returned, perhaps null
   * @param running the started server
   * @return {@code running}
   */
  public static RunningServer attach(CrowdSecOptions settings, RunningServer running) {
    if (settings != null) {
      settings.attach(running);
    }
    return running;
  }

  /**
   * Starts the bouncer and the watcher for {@code running}; they stop when it does ({@link
   * Service#run} closes them).
   *
   * @param running the started server
   */
  public void attach(RunningServer running) {
    if (bouncer != null) {
      bouncer.start(BanTarget.of(running));
      Service.closeWith(running, bouncer);
    }
    if (watcher != null) {
      Watcher started = watcher.build();
      running.addPenaltyListener(started);
      Service.closeWith(running, started);
    }
  }
}
