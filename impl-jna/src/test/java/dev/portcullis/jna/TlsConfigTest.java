package dev.portcullis.jna;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.portcullis.Handshakes;
import dev.portcullis.RunningServer;
import dev.portcullis.Server;
import dev.portcullis.handshake.tls.Tls;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.security.KeyStore;
import java.util.List;
import javax.net.ssl.SSLSocket;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.function.Executable;
import org.junit.jupiter.api.io.TempDir;

/** Configuring TLS: every bad file or rule is refused with a message that names it and says why. */
@Timeout(60)
class TlsConfigTest {
  @TempDir static Path dir;
  static TestPki pki;

  @BeforeAll
  static void makePki() throws Exception {
    pki = TestPki.create(dir);
  }

  private static void refused(Class<? extends Throwable> type, Executable call, String... parts) {
    Throwable t = assertThrows(type, call);
    for (String part : parts) {
      assertTrue(t.getMessage().contains(part), "'" + t.getMessage() + "' should say '" + part + "'");
    }
  }

  @Test
  void badPemFilesAreRefusedNamingTheFile() throws Exception {
    Path crt = pki.file("server.crt");
    Path key = pki.file("server.key");
    refused(NoSuchFileException.class, () -> Handshakes.tls(pki.file("missing.crt"), key), "missing.crt");
    refused(IllegalArgumentException.class, () -> Handshakes.tls(key, key), "server.key", "no '-----BEGIN CERTIFICATE-----'");
    refused(IllegalArgumentException.class, () -> Handshakes.tls(crt, crt), "server.crt", "no '-----BEGIN PRIVATE KEY-----'");
    refused(IllegalArgumentException.class, () -> Handshakes.tls(crt, pki.file("alice.key")), "alice.key",
        "does not belong", "CN=localhost");

    pki.run(ExternalTool.require("openssl"), "pkcs8", "-topk8", "-in", "alice.key", "-out", "encrypted.key",
        "-passout", "pass:secret");
    refused(IllegalArgumentException.class, () -> Handshakes.tls(pki.file("alice.crt"), pki.file("encrypted.key")),
        "encrypted.key", "encrypted");
    pki.run(ExternalTool.require("openssl"), "ec", "-in", "alice.key", "-out", "sec1.key");
    refused(IllegalArgumentException.class, () -> Handshakes.tls(pki.file("alice.crt"), pki.file("sec1.key")),
        "sec1.key", "openssl pkcs8 -topk8");

    List<String> lines = Files.readAllLines(crt);
    Path cut = Files.write(dir.resolve("cut.crt"), lines.subList(0, lines.size() - 1));
    refused(IllegalArgumentException.class, () -> Handshakes.tls(cut, key), "cut.crt", "no END line");
    Path garbled = Files.writeString(dir.resolve("garbled.crt"),
        "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n");
    refused(IllegalArgumentException.class, () -> Handshakes.tls(garbled, key), "garbled.crt", "not a valid X.509");
  }

  @Test
  void aMissingPemFileNamesItsRoleAndTheFlagOrMethod() throws Exception {
    Path crt = pki.file("server.crt");
    Path key = pki.file("server.key");
    refused(NoSuchFileException.class, () -> Handshakes.tls(pki.file("nope.crt"), key),
        "nope.crt", "server certificate chain", "--tls-cert");
    refused(NoSuchFileException.class, () -> Handshakes.tls(crt, pki.file("nope.key")),
        "nope.key", "private key", "--tls-key");
    refused(NoSuchFileException.class, () -> Handshakes.tls(crt, key).requireClientCertificate(pki.file("nope-ca.crt")),
        "nope-ca.crt", "client CA", "requireClientCertificate", "--tls-client-ca");
  }

  @Test
  void bothKeyForms() throws Exception {
    // server.key is PKCS#1 ("BEGIN RSA PRIVATE KEY"); alice.key is PKCS#8 EC.
    assertTrue(Files.readString(pki.file("server.key")).contains("BEGIN RSA PRIVATE KEY"));
    assertTrue(Files.readString(pki.file("alice.key")).contains("BEGIN PRIVATE KEY"));
    assertEquals(List.of("TLSv1.3", "TLSv1.2"), Handshakes.tls(pki.file("server.crt"), pki.file("server.key")).protocols());
    assertEquals("tls", Handshakes.tls(pki.file("alice.crt"), pki.file("alice.key")).name());
  }

  @Test
  void badRulesAreRefused() throws Exception {
    Tls tls = Handshakes.tls(pki.file("server.crt"), pki.file("server.key"));
    refused(IllegalStateException.class, () -> tls.allowSubject("CN=alice"), "requireClientCertificate");
    refused(IllegalArgumentException.class, () -> tls.protocols("TLSv1.1"), "'TLSv1.1'", "only TLSv1.3 and TLSv1.2");
    refused(IllegalArgumentException.class, () -> tls.protocols(new String[0]), "at least one");
    refused(IllegalArgumentException.class, () -> tls.requireClientCertificate(pki.file("server.key")),
        "server.key", "no '-----BEGIN CERTIFICATE-----'");
    Tls mutual = tls.requireClientCertificate(pki.file("ca.crt"));
    refused(IllegalArgumentException.class, () -> mutual.allowFingerprint("ab:cd"), "'ab:cd'", "64 hex digits");
    refused(IllegalArgumentException.class, () -> mutual.allowSubject("alice"), "'alice'", "distinguished name");
    refused(IllegalArgumentException.class, () -> mutual.allowSan(" "), "needs a name");
    mutual.allowFingerprint(pki.fingerprint("alice")); // the form openssl prints is accepted
  }

  @Test
  void aChainWithTwoTlsStepsIsRefusedAtStart() throws Exception {
    Tls tls = Handshakes.tls(pki.file("server.crt"), pki.file("server.key"));
    Server.TcpBuilder s = Server.on(0).bindAddress("127.0.0.1").allow("127.0.0.1").handshake(tls).handshake(tls)
        .handle(conn -> { });
    refused(IllegalStateException.class, s::start, "TLS twice", "steps 1 and 2");
  }

  @Test
  void aKeyStoreServesToo() throws Exception {
    pki.run(ExternalTool.require("openssl"), "pkcs12", "-export", "-in", "server.crt", "-inkey", "server.key",
        "-out", "server.p12", "-passout", "pass:changeit");
    KeyStore store = KeyStore.getInstance("PKCS12");
    try (var in = Files.newInputStream(pki.file("server.p12"))) {
      store.load(in, "changeit".toCharArray());
    }
    try (RunningServer server = Server.on(0).bindAddress("127.0.0.1").allow("127.0.0.1")
        .handshake(Handshakes.tls(store, "changeit".toCharArray()))
        .handle(conn -> conn.output().write("ok".getBytes(StandardCharsets.US_ASCII))).start();
        SSLSocket s = (SSLSocket) pki.clientContext(null).getSocketFactory()
            .createSocket("127.0.0.1", server.port())) {
      assertEquals("ok", new String(s.getInputStream().readAllBytes(), StandardCharsets.US_ASCII));
    }
    KeyStore empty = KeyStore.getInstance("PKCS12");
    empty.load(null, null);
    refused(IllegalArgumentException.class, () -> Handshakes.tls(empty, new char[0]), "no private key entry");
  }

  @Test
  void aClientTooSlowForTheDeadlineIsCut() throws Exception {
    try (RunningServer server = Server.on(0).bindAddress("127.0.0.1").allow("127.0.0.1")
        .handshakeTimeout(java.time.Duration.ofMillis(500))
        .handshake(Handshakes.tls(pki.file("server.crt"), pki.file("server.key")))
        .handle(conn -> { }).start();
        java.net.Socket s = Clients.connect("127.0.0.1", server.localAddress())) {
      s.getOutputStream().write(0x16); // the first byte of a ClientHello, and nothing more
      assertEquals(-1, s.getInputStream().read(), "closed at the deadline");
      assertEquals(1, server.stats().handshakeTimeouts());
    } catch (IOException reset) {
      throw new AssertionError("expected a clean close, got " + reset);
    }
  }
}
