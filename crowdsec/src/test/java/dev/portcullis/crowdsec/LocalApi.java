package dev.portcullis.crowdsec;

import static org.junit.jupiter.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.File;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * A real CrowdSec Local API on loopback for one test class: Debian's {@code crowdsec} run with a
 * configuration of its own (LAPI only, {@code -no-cs -no-capi}, no online client, a SQLite database
 * in a temporary directory, a free port), and {@code cscli -c} that configuration to add bouncers,
 * machines and decisions. Missing on a developer machine: the test is skipped with a message;
 * missing in CI ({@code CI} set, where {@code .ci/run} installs it): the test fails.
 */
final class LocalApi implements AutoCloseable {
  final Path dir;
  final int port;
  private final Path config;
  private final boolean tls;
  private Process process;

  /**
   * The LAPI's TLS files: its certificate and key, and the CA its clients' certificates must chain
   * to (agents with OU {@code agent-ou}, bouncers with OU {@code bouncer-ou}).
   */
  record Tls(Path certFile, Path keyFile, Path caFile) {}

  private LocalApi(Path dir, Tls tls) throws IOException {
    this.dir = dir;
    this.tls = tls != null;
    try (ServerSocket s = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
      this.port = s.getLocalPort();
    }
    this.config = dir.resolve("config.yaml");
    Files.createDirectories(dir.resolve("data"));
    Files.createDirectories(dir.resolve("hub"));
    Files.writeString(dir.resolve("hub/.index.json"), "{}");
    Files.writeString(dir.resolve("simulation.yaml"), "simulation: false\n");
    Files.writeString(dir.resolve("profiles.yaml"), String.join("\n",
        "name: default_ip_remediation",
        "filters:",
        " - Alert.Remediation == true && Alert.GetScope() == \"Ip\"",
        "decisions:",
        " - type: ban",
        "   duration: 4h",
        "on_success: break", ""));
    Files.writeString(config, String.join("\n",
        "common:",
        "  daemonize: false",
        "  log_media: stdout",
        "  log_level: info",
        "  working_dir: .",
        "config_paths:",
        "  config_dir: " + dir + "/",
        "  data_dir: " + dir + "/data/",
        "  simulation_path: " + dir + "/simulation.yaml",
        "  hub_dir: " + dir + "/hub/",
        "  index_path: " + dir + "/hub/.index.json",
        "  notification_dir: " + dir + "/notifications/",
        "  plugin_dir: " + dir + "/plugins/",
        "crowdsec_service:",
        "  acquisition_path: " + dir + "/acquis.yaml",
        "  parser_routines: 1",
        "cscli:",
        "  output: human",
        "db_config:",
        "  log_level: info",
        "  type: sqlite",
        "  db_path: " + dir + "/data/crowdsec.db",
        "  use_wal: false",
        "api:",
        "  client:",
        // cscli's own client (decisions add/list): our test CA is not in the system's store
        "    insecure_skip_verify: " + (tls != null),
        "    credentials_path: " + dir + "/local_api_credentials.yaml",
        "  server:",
        "    log_level: info",
        "    listen_uri: 127.0.0.1:" + port,
        "    profiles_path: " + dir + "/profiles.yaml",
        "    trusted_ips:",
        "      - 127.0.0.1",
        tls == null ? "" : String.join("\n",
            "    tls:",
            "      cert_file: " + tls.certFile(),
            "      key_file: " + tls.keyFile(),
            "      ca_cert_path: " + tls.caFile(),
            "      client_verification: VerifyClientCertIfGiven",
            "      agents_allowed_ou:",
            "        - agent-ou",
            "      bouncers_allowed_ou:",
            "        - bouncer-ou"),
        "prometheus:",
        "  enabled: false", ""));
  }

  /** Starts a LAPI in {@code dir}, with a machine for cscli's own decisions. */
  static LocalApi start(Path dir) throws Exception {
    return start(dir, null);
  }

  /** Starts a LAPI in {@code dir} serving HTTPS with {@code tls} (plain HTTP when null). */
  static LocalApi start(Path dir, Tls tls) throws Exception {
    require("crowdsec", "crowdsec");
    require("cscli", "crowdsec");
    LocalApi api = new LocalApi(dir, tls);
    api.startProcess();
    api.cscli("machines", "add", "cscli", "--auto", "--force", "-f", dir + "/local_api_credentials.yaml",
        "--url", api.url().toString());
    return api;
  }

  URI url() {
    return URI.create((tls ? "https" : "http") + "://127.0.0.1:" + port);
  }

  /** Starts the process (again, after {@link #stop}) and waits until it listens. */
  void startProcess() throws Exception {
    process = new ProcessBuilder("crowdsec", "-c", config.toString(), "-no-cs", "-no-capi")
        .redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.appendTo(dir.resolve("crowdsec.log").toFile()))
        .start();
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
    while (System.nanoTime() < deadline) {
      if (!process.isAlive()) {
        fail("crowdsec exited " + process.exitValue() + ": " + Files.readString(dir.resolve("crowdsec.log")));
      }
      try (Socket s = new Socket()) {
        s.connect(new InetSocketAddress("127.0.0.1", port), 500);
        return;
      } catch (IOException notYet) {
        Thread.sleep(100);
      }
    }
    fail("crowdsec did not listen on " + port + " within 30 s: " + Files.readString(dir.resolve("crowdsec.log")));
  }

  /** Starts the process again if it is not running (after a test that stopped it failed). */
  void ensureRunning() throws Exception {
    if (process == null || !process.isAlive()) {
      startProcess();
    }
  }

  /** Stops the process (the database stays). */
  void stop() throws InterruptedException {
    if (process != null) {
      process.destroy();
      if (!process.waitFor(10, TimeUnit.SECONDS)) {
        process.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
      }
    }
  }

  /** Runs {@code cscli -c CONFIG args...}; its standard output, or a failure with what it said. */
  String cscli(String... args) throws Exception {
    List<String> cmd = new ArrayList<>(List.of("cscli", "-c", config.toString()));
    cmd.addAll(List.of(args));
    Path out = Files.createTempFile(dir, "cscli", ".out");
    Path err = Files.createTempFile(dir, "cscli", ".err");
    Process p = new ProcessBuilder(cmd).redirectOutput(out.toFile()).redirectError(err.toFile()).start();
    if (!p.waitFor(30, TimeUnit.SECONDS)) {
      p.destroyForcibly();
      fail(cmd + " did not finish within 30 s");
    }
    if (p.exitValue() != 0) {
      fail(cmd + " exited " + p.exitValue() + ": " + Files.readString(err, StandardCharsets.UTF_8));
    }
    return Files.readString(out, StandardCharsets.UTF_8);
  }

  /** A new bouncer's API key ({@code cscli bouncers add NAME -o raw}). */
  String bouncerKey(String name) throws Exception {
    return cscli("bouncers", "add", name, "-o", "raw").strip();
  }

  @Override
  public void close() throws InterruptedException {
    stop();
  }

  static void require(String name, String debianPackage) {
    for (String d : (System.getenv().getOrDefault("PATH", "/usr/bin:/bin") + ":/usr/sbin:/sbin").split(File.pathSeparator)) {
      if (new File(d, name).canExecute()) {
        return;
      }
    }
    if (System.getenv("CI") != null) {
      fail(name + " is not installed; .ci/run must install it (Debian's " + debianPackage + " package)");
    }
    assumeTrue(false, name + " is not installed; skipping (CI installs Debian's " + debianPackage + " package)");
  }
}
