package dev.portcullis.jna;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyStore;
import java.security.cert.CertificateFactory;
import java.util.ArrayList;
import java.util.List;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManagerFactory;

/**
 * A throw-away PKI made by the real {@code openssl}: a CA, a server certificate for 127.0.0.1 (RSA,
 * its key in the traditional PKCS#1 form), two client certificates from that CA ({@code
 * CN=alice,O=Example} with SAN {@code alice.example}, and {@code CN=mallory}), a rogue CA that
 * issued a second {@code CN=alice,O=Example}, and {@code rt}: a client made with {@code -subj
 * /CN=alice/O=RT}, its RDNs in the opposite order to alice's ({@code O=RT,CN=alice} in RFC 2253).
 */
final class TestPki {
  final Path dir;

  private TestPki(Path dir) {
    this.dir = dir;
  }

  static TestPki create(Path dir) throws Exception {
    String openssl = ExternalTool.require("openssl");
    TestPki pki = new TestPki(dir);
    pki.run(openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", "ca.key", "-out", "ca.crt", "-days", "2", "-subj", "/CN=Portcullis Test CA");
    pki.run(openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", "rogue-ca.key", "-out", "rogue-ca.crt", "-days", "2", "-subj", "/CN=Rogue CA");
    pki.run(openssl, "genrsa", "-traditional", "-out", "server.key", "2048");
    pki.issue(openssl, "server", "ca", "/CN=localhost", "subjectAltName=DNS:localhost,IP:127.0.0.1", false);
    pki.issue(openssl, "alice", "ca", "/O=Example/CN=alice", "subjectAltName=DNS:alice.example", true);
    pki.issue(openssl, "mallory", "ca", "/CN=mallory", "subjectAltName=DNS:mallory.example", true);
    pki.issue(openssl, "eve", "rogue-ca", "/O=Example/CN=alice", "subjectAltName=DNS:alice.example", true);
    pki.issue(openssl, "rt", "ca", "/CN=alice/O=RT", "subjectAltName=DNS:rt.example", true);
    return pki;
  }

  Path file(String name) {
    return dir.resolve(name);
  }

  /** The SHA-256 fingerprint of a certificate, as {@code openssl x509 -fingerprint} prints it. */
  String fingerprint(String name) throws Exception {
    String out = run(ExternalTool.require("openssl"), "x509", "-in", name + ".crt", "-noout", "-fingerprint", "-sha256");
    return out.strip().substring(out.indexOf('=') + 1);
  }

  /** A JDK client context that trusts the test CA and, if given, presents a client certificate. */
  SSLContext clientContext(String clientName) throws Exception {
    KeyStore trust = KeyStore.getInstance("PKCS12");
    trust.load(null, null);
    try (var in = Files.newInputStream(file("ca.crt"))) {
      trust.setCertificateEntry("ca", CertificateFactory.getInstance("X.509").generateCertificate(in));
    }
    TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
    tmf.init(trust);
    KeyManagerFactory kmf = null;
    if (clientName != null) {
      run(ExternalTool.require("openssl"), "pkcs12", "-export", "-in", clientName + ".crt", "-inkey",
          clientName + ".key", "-out", clientName + ".p12", "-passout", "pass:test");
      KeyStore ks = KeyStore.getInstance("PKCS12");
      try (var in = Files.newInputStream(file(clientName + ".p12"))) {
        ks.load(in, "test".toCharArray());
      }
      kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
      kmf.init(ks, "test".toCharArray());
    }
    SSLContext c = SSLContext.getInstance("TLS");
    c.init(kmf == null ? null : kmf.getKeyManagers(), tmf.getTrustManagers(), null);
    return c;
  }

  private void issue(String openssl, String name, String ca, String subject, String ext, boolean newKey)
      throws Exception {
    Files.writeString(file(name + ".ext"), ext + "\n");
    List<String> req = new ArrayList<>(List.of(openssl, "req", "-new", "-subj", subject, "-out", name + ".csr"));
    if (newKey) {
      req.addAll(List.of("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", name + ".key"));
    } else {
      req.addAll(List.of("-key", name + ".key"));
    }
    run(req.toArray(new String[0]));
    run(openssl, "x509", "-req", "-in", name + ".csr", "-CA", ca + ".crt", "-CAkey", ca + ".key", "-set_serial",
        String.valueOf(System.nanoTime() & 0xFFFFFFFL), "-days", "2", "-out", name + ".crt", "-extfile", name + ".ext");
  }

  String run(String... command) throws IOException, InterruptedException {
    Process p = new ProcessBuilder(command).directory(dir.toFile()).redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertEquals(0, p.waitFor(), () -> String.join(" ", command) + " failed:\n" + out);
    return out;
  }
}
