package dev.portcullis.crowdsec;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.portcullis.RunningServer;
import dev.portcullis.Server;
import dev.portcullis.policy.Penalties;
import java.net.InetAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The watcher's client-certificate login against a real CrowdSec LAPI serving HTTPS with a test CA
 * (made with openssl) and {@code agents_allowed_ou}: an instance's ban reaches the LAPI as a
 * decision, which a bouncer over TLS with an API key then enforces on another instance; a
 * certificate whose OU is not allowed gets no login and pushes nothing.
 */
@Timeout(120)
class TlsLapiTest {
  @TempDir
  static Path dir;

  static LocalApi lapi;

  @BeforeAll
  static void startLapi() throws Exception {
    LocalApi.require("crowdsec", "crowdsec");
    ca("ca");
    cert("lapi", "/CN=127.0.0.1", "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n");
    cert("agent", "/OU=agent-ou/CN=portcullis-agent", "extendedKeyUsage=clientAuth\n");
    cert("stranger", "/OU=other-ou/CN=portcullis-stranger", "extendedKeyUsage=clientAuth\n");
    lapi = LocalApi.start(dir.resolve("lapi"),
        new LocalApi.Tls(dir.resolve("lapi.pem"), dir.resolve("lapi.key"), dir.resolve("ca.pem")));
  }

  @AfterAll
  static void stopLapi() throws Exception {
    if (lapi != null) {
      lapi.close();
    }
  }

  private static void ca(String name) throws Exception {
    HttpsLapiTest.openssl(dir, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", name + ".key", "-out", name + ".pem", "-days", "1", "-subj", "/CN=test LAPI CA");
  }

  /** A key (PKCS #8, as openssl 3 writes it) and a certificate the test CA signed. */
  private static void cert(String name, String subject, String extensions) throws Exception {
    HttpsLapiTest.openssl(dir, "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout",
        name + ".key", "-out", name + ".csr", "-subj", subject);
    Files.writeString(dir.resolve(name + ".ext"), extensions);
    HttpsLapiTest.openssl(dir, "x509", "-req", "-in", name + ".csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-CAcreateserial", "-out", name + ".pem", "-days", "1", "-extfile", name + ".ext");
  }

  private static Server.TcpBuilder server() {
    return Server.on(0).bindAddress("127.0.0.1").allow("127.0.0.0/8")
        .penalties(Penalties.after(3, Duration.ofMinutes(1)).banFor(Duration.ofMinutes(1)))
        .handle(conn -> conn.output().write("ok\n".getBytes(StandardCharsets.US_ASCII)));
  }

  private static Watcher watcher(String cert) throws Exception {
    return Watcher.builder(lapi.url())
        .clientCertificate(dir.resolve("ca.pem"), dir.resolve(cert + ".pem"), dir.resolve(cert + ".key"))
        .requestTimeout(Duration.ofSeconds(5)).maxBackoff(Duration.ofSeconds(1)).build();
  }

  @Test
  void aWatcherWithAClientCertificatePushesABanThatABouncerOverTlsEnforces() throws Exception {
    try (RunningServer a = server().start(); RunningServer b = server().start(); Watcher watcher = watcher("agent");
        Bouncer bb = Bouncer.builder(lapi.url()).apiKey(lapi.bouncerKey("tls-instance-b"))
            .caCertificate(dir.resolve("ca.pem")).pollInterval(Duration.ofMillis(300))
            .maxBackoff(Duration.ofSeconds(1)).requestTimeout(Duration.ofSeconds(5)).build()
            .start(BanTarget.of(b))) {
      a.addPenaltyListener(watcher);
      assertTrue(CrowdSecLapiTest.served("127.0.0.12", b), "served before the ban");
      assertTrue(a.reportOffence(InetAddress.getByName("127.0.0.12"), 3, "credential stuffing"), "banned on a");

      assertTrue(CrowdSecLapiTest.await(() -> watcher.stats().pushed() == 1, Duration.ofSeconds(15)),
          watcher.stats().toString());
      String decisions = lapi.cscli("decisions", "list", "-o", "json");
      assertTrue(decisions.contains("\"value\": \"127.0.0.12\"") || decisions.contains("\"value\":\"127.0.0.12\""),
          decisions);
      assertTrue(decisions.contains("portcullis/credential-stuffing"), decisions);
      String machines = lapi.cscli("machines", "list", "-o", "json");
      assertTrue(machines.contains("portcullis-agent@127.0.0.1"), "the LAPI made the machine from the certificate: "
          + machines);

      assertTrue(CrowdSecLapiTest.await(() -> {
        try {
          return !CrowdSecLapiTest.served("127.0.0.12", b);
        } catch (java.io.IOException e) {
          return false;
        }
      }, Duration.ofSeconds(15)), "the bouncer over TLS refuses it on b: " + bb.stats());
      assertEquals(0, watcher.stats().failures(), watcher.stats().toString());
      assertEquals(0, bb.stats().failures(), bb.stats().toString());
      lapi.cscli("decisions", "delete", "--ip", "127.0.0.12");
    }
  }

  @Test
  void theCaFileGivenAfterTheClientCertificateKeepsTheCertificate() throws Exception {
    try (RunningServer a = server().start();
        Watcher watcher = Watcher.builder(lapi.url())
            .clientCertificate(null, dir.resolve("agent.pem"), dir.resolve("agent.key"))
            .caCertificate(dir.resolve("ca.pem")).requestTimeout(Duration.ofSeconds(5))
            .maxBackoff(Duration.ofSeconds(1)).build()) {
      a.addPenaltyListener(watcher);
      assertTrue(a.reportOffence(InetAddress.getByName("127.0.0.14"), 3, "credential stuffing"), "banned on a");
      assertTrue(CrowdSecLapiTest.await(() -> watcher.stats().pushed() == 1, Duration.ofSeconds(15)),
          watcher.stats().toString());
      assertTrue(lapi.cscli("decisions", "list", "-o", "json").contains("127.0.0.14"));
      lapi.cscli("decisions", "delete", "--ip", "127.0.0.14");
    }
  }

  @Test
  void aCertificateWhoseOuIsNotAllowedPushesNothing() throws Exception {
    try (RunningServer a = server().start(); Watcher watcher = watcher("stranger")) {
      a.addPenaltyListener(watcher);
      assertTrue(a.reportOffence(InetAddress.getByName("127.0.0.13"), 3, "credential stuffing"), "banned on a");
      assertTrue(CrowdSecLapiTest.await(() -> watcher.stats().failures() >= 1, Duration.ofSeconds(15)),
          watcher.stats().toString());
      assertEquals(0, watcher.stats().pushed(), watcher.stats().toString());
      String decisions = lapi.cscli("decisions", "list", "-o", "json");
      assertTrue(!decisions.contains("127.0.0.13"), decisions);
    }
  }
}
