package dev.portcullis.examples;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.sun.net.httpserver.HttpsConfigurator;
import com.sun.net.httpserver.HttpsExchange;
import com.sun.net.httpserver.HttpsParameters;
import com.sun.net.httpserver.HttpsServer;
import java.io.BufferedReader;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.io.PrintStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyStore;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLParameters;
import javax.net.ssl.TrustManagerFactory;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The launcher's watcher logs in to an {@code https} Local API with a client certificate ({@code
 * --crowdsec-cert}, {@code --crowdsec-cert-key}): a JDK HTTPS server on loopback that requires one
 * (certificates made with openssl) sees the certificate at login and receives the ban the server
 * made. The real LAPI's certificate login is tested in the crowdsec module.
 */
@Timeout(90)
class CrowdSecCertOptionTest {
  @Test
  void theWatcherLogsInWithTheClientCertificateAndPushesTheBan(@TempDir Path dir) throws Exception {
    assumeTrue(openssl(dir, "version"), "openssl is not installed");
    openssl(dir, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "ca.key",
        "-out", "ca.pem", "-days", "1", "-subj", "/CN=test LAPI CA");
    cert(dir, "lapi", "/CN=127.0.0.1", "subjectAltName=IP:127.0.0.1\n");
    cert(dir, "agent", "/OU=agent-ou/CN=portcullis-a", "extendedKeyUsage=clientAuth\n");
    assertTrue(openssl(dir, "pkcs12", "-export", "-in", "lapi.pem", "-inkey", "lapi.key", "-out", "lapi.p12",
        "-passout", "pass:changeit"));

    LinkedBlockingQueue<String> seen = new LinkedBlockingQueue<>();
    HttpsServer lapi = HttpsServer.create(new InetSocketAddress("127.0.0.1", 0), 8);
    SSLContext tls = serverContext(dir);
    lapi.setHttpsConfigurator(new HttpsConfigurator(tls) {
      @Override
      public void configure(HttpsParameters params) {
        SSLParameters p = tls.getDefaultSSLParameters();
        p.setNeedClientAuth(true);
        params.setSSLParameters(p);
      }
    });
    lapi.createContext("/v1/watchers/login", ex -> {
      X509Certificate peer = (X509Certificate) ((HttpsExchange) ex).getSSLSession().getPeerCertificates()[0];
      seen.add("login " + peer.getSubjectX500Principal().getName());
      answer(ex, 200, "{\"code\":200,\"expire\":\"2030-01-01T00:00:00Z\",\"token\":\"tok\"}");
    });
    lapi.createContext("/v1/alerts", ex -> {
      String body = new String(ex.getRequestBody().readAllBytes(), StandardCharsets.UTF_8);
      seen.add("alerts " + ex.getRequestHeaders().getFirst("Authorization") + " " + body);
      answer(ex, 201, "[\"1\"]");
    });
    lapi.start();
    Path secret = Files.writeString(dir.resolve("secret"), "k1:" + "ab".repeat(32) + "\n");
    String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    Process p = new ProcessBuilder(List.of(java, "-cp", System.getProperty("java.class.path"),
        Launcher.class.getName(), "kv", "--port", "0", "--bind", "127.0.0.1", "--allow", "127.0.0.0/8",
        "--secret-file", secret.toString(), "--penalty", "1:60",
        "--crowdsec", "https://127.0.0.1:" + lapi.getAddress().getPort(), "--crowdsec-ca", dir.resolve("ca.pem").toString(),
        "--crowdsec-cert", dir.resolve("agent.pem").toString(), "--crowdsec-cert-key", dir.resolve("agent.key").toString()))
        .redirectError(dir.resolve("kv.err").toFile()).start();
    try (BufferedReader out = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
      String first = out.readLine();
      assertNotNull(first, () -> "kv printed nothing: " + read(dir.resolve("kv.err")));
      int port = Integer.parseInt(first.substring(first.lastIndexOf(':') + 1).trim());
      try (Socket s = new Socket()) { // a failed handshake: with --penalty 1:60 the source is banned
        s.bind(new InetSocketAddress("127.0.0.2", 0));
        s.connect(new InetSocketAddress("127.0.0.1", port), 5000);
        s.setSoTimeout(5000);
        s.getOutputStream().write("not the handshake\n".getBytes(StandardCharsets.US_ASCII));
        s.getInputStream().readAllBytes();
      } catch (IOException e) {
        // a reset is a refusal too
      }
      String login = seen.poll(30, TimeUnit.SECONDS);
      assertNotNull(login, () -> "no login reached the LAPI: " + read(dir.resolve("kv.err")));
      assertEquals("login CN=portcullis-a,OU=agent-ou", login);
      String alerts = seen.poll(30, TimeUnit.SECONDS);
      assertNotNull(alerts, () -> "no alert reached the LAPI: " + read(dir.resolve("kv.err")));
      assertTrue(alerts.startsWith("alerts Bearer tok ["), alerts);
      assertTrue(alerts.contains("\"value\":\"127.0.0.2\""), alerts);
    } finally {
      p.destroy();
      if (!p.waitFor(20, TimeUnit.SECONDS)) {
        p.destroyForcibly();
      }
      lapi.stop(0);
    }
  }

  @Test
  void aCertificateWithoutItsKeyOrBesideAPasswordIsAUsageError(@TempDir Path dir) throws Exception {
    Path f = Files.writeString(dir.resolve("f"), "x\n");
    assertEquals("--crowdsec-cert needs --crowdsec-cert-key FILE (its private key)",
        usageError("--crowdsec-cert", f.toString()));
    assertEquals("--crowdsec-cert-key needs --crowdsec-cert FILE", usageError("--crowdsec-cert-key", f.toString()));
    assertEquals("--crowdsec-cert is a watcher's credentials: give it, or --crowdsec-machine-file, or"
        + " --crowdsec-login, not several", usageError("--crowdsec-cert", f.toString(), "--crowdsec-cert-key",
        f.toString(), "--crowdsec-login", "m", "--crowdsec-password-file", f.toString()));
  }

  /** The launcher's stderr message for echo with these CrowdSec options, after "portcullis echo: ". */
  private static String usageError(String... crowdsec) {
    List<String> args = new ArrayList<>(List.of("echo", "--port", "0", "--allow-all", "--penalty", "5:60",
        "--crowdsec", "http://127.0.0.1:9"));
    args.addAll(List.of(crowdsec));
    ByteArrayOutputStream err = new ByteArrayOutputStream();
    int code = Launcher.run(args.toArray(String[]::new), new ByteArrayInputStream(new byte[0]),
        new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8),
        new PrintStream(err, true, StandardCharsets.UTF_8));
    assertEquals(2, code, err.toString(StandardCharsets.UTF_8));
    String first = err.toString(StandardCharsets.UTF_8).lines().findFirst().orElse("");
    return first.substring(first.indexOf(": ") + 2);
  }

  private static SSLContext serverContext(Path dir) throws Exception {
    KeyStore keys = KeyStore.getInstance("PKCS12");
    try (InputStream in = Files.newInputStream(dir.resolve("lapi.p12"))) {
      keys.load(in, "changeit".toCharArray());
    }
    KeyManagerFactory kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
    kmf.init(keys, "changeit".toCharArray());
    KeyStore trust = KeyStore.getInstance(KeyStore.getDefaultType());
    trust.load(null, null);
    try (InputStream in = Files.newInputStream(dir.resolve("ca.pem"))) {
      trust.setCertificateEntry("ca", CertificateFactory.getInstance("X.509").generateCertificate(in));
    }
    TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
    tmf.init(trust);
    SSLContext tls = SSLContext.getInstance("TLS");
    tls.init(kmf.getKeyManagers(), tmf.getTrustManagers(), null);
    return tls;
  }

  private static void cert(Path dir, String name, String subject, String extensions) throws Exception {
    assertTrue(openssl(dir, "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout",
        name + ".key", "-out", name + ".csr", "-subj", subject));
    Files.writeString(dir.resolve(name + ".ext"), extensions);
    assertTrue(openssl(dir, "x509", "-req", "-in", name + ".csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-CAcreateserial", "-out", name + ".pem", "-days", "1", "-extfile", name + ".ext"));
  }

  private static boolean openssl(Path dir, String... args) throws Exception {
    List<String> cmd = new ArrayList<>(List.of("openssl"));
    cmd.addAll(List.of(args));
    try {
      Process p = new ProcessBuilder(cmd).directory(dir.toFile()).redirectErrorStream(true)
          .redirectOutput(dir.resolve("openssl.log").toFile()).start();
      return p.waitFor(30, TimeUnit.SECONDS) && p.exitValue() == 0;
    } catch (IOException e) {
      return false; // not installed
    }
  }

  private static void answer(com.sun.net.httpserver.HttpExchange ex, int status, String body) throws IOException {
    byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
    ex.sendResponseHeaders(status, bytes.length);
    try (OutputStream out = ex.getResponseBody()) {
      out.write(bytes);
    }
  }

  private static String read(Path file) {
    try {
      return Files.readString(file);
    } catch (IOException e) {
      return e.toString();
    }
  }
}
