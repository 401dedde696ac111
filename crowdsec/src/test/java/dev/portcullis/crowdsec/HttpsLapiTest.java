package dev.portcullis.crowdsec;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.sun.net.httpserver.HttpsConfigurator;
import com.sun.net.httpserver.HttpsServer;
import dev.portcullis.policy.Cidr;
import dev.portcullis.spi.LogCapture;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyStore;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * The bouncer over TLS to a fake LAPI whose certificate a test CA (made with openssl) signed: it
 * trusts the CA file it is given, and without it refuses the server, as a failed poll with the
 * reason in its line.
 */
@Timeout(60)
class HttpsLapiTest {
  @RegisterExtension
  final LogCapture log = new LogCapture();

  static void openssl(Path dir, String... args) throws Exception {
    LocalApi.require("openssl", "openssl");
    List<String> cmd = new java.util.ArrayList<>(List.of("openssl"));
    cmd.addAll(List.of(args));
    Process p = new ProcessBuilder(cmd).directory(dir.toFile()).redirectErrorStream(true)
        .redirectOutput(dir.resolve("openssl.log").toFile()).start();
    assertTrue(p.waitFor(30, TimeUnit.SECONDS) && p.exitValue() == 0, cmd + ": " + Files.readString(dir.resolve("openssl.log")));
  }

  @Test
  void trustsTheCaFileItIsGivenAndRefusesAnUnknownServer(@TempDir Path dir) throws Exception {
    openssl(dir, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout",
        "ca.key", "-out", "ca.pem", "-days", "1", "-subj", "/CN=test LAPI CA");
    openssl(dir, "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "lapi.key",
        "-out", "lapi.csr", "-subj", "/CN=127.0.0.1");
    Files.writeString(dir.resolve("san.ext"), "subjectAltName=IP:127.0.0.1\n");
    openssl(dir, "x509", "-req", "-in", "lapi.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out",
        "lapi.pem", "-days", "1", "-extfile", "san.ext");
    openssl(dir, "pkcs12", "-export", "-in", "lapi.pem", "-inkey", "lapi.key", "-out", "lapi.p12", "-passout",
        "pass:test");

    KeyStore ks = KeyStore.getInstance("PKCS12");
    try (InputStream in = Files.newInputStream(dir.resolve("lapi.p12"))) {
      ks.load(in, "test".toCharArray());
    }
    KeyManagerFactory kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
    kmf.init(ks, "test".toCharArray());
    SSLContext serverTls = SSLContext.getInstance("TLS");
    serverTls.init(kmf.getKeyManagers(), null, null);
    HttpsServer https = HttpsServer.create(new InetSocketAddress("127.0.0.1", 0), 8);
    https.setHttpsConfigurator(new HttpsConfigurator(serverTls));
    byte[] body = ("{\"new\":[{\"duration\":\"1h\",\"id\":1,\"origin\":\"cscli\",\"scenario\":\"tls\","
        + "\"scope\":\"Ip\",\"type\":\"ban\",\"value\":\"192.0.2.9\"}],\"deleted\":null}").getBytes(StandardCharsets.UTF_8);
    https.createContext("/v1/decisions/stream", ex -> {
      ex.sendResponseHeaders(200, body.length);
      try (OutputStream out = ex.getResponseBody()) {
        out.write(body);
      }
    });
    https.start();
    Map<Cidr, String> banned = new ConcurrentHashMap<>();
    BanTarget target = new BanTarget() {
      @Override
      public void ban(Cidr range, Duration duration, String reason) {
        banned.put(range, reason);
      }

      @Override
      public boolean lift(Cidr range, String reason) {
        return banned.remove(range) != null;
      }
    };
    URI url = URI.create("https://127.0.0.1:" + https.getAddress().getPort());
    try {
      try (Bouncer untrusting = Bouncer.builder(url).apiKey("k").pollInterval(Duration.ofMillis(200))
          .maxBackoff(Duration.ofMillis(400)).build().start(target)) {
        assertTrue(CrowdSecLapiTest.await(() -> untrusting.stats().failures() >= 1, Duration.ofSeconds(15)));
        assertTrue(banned.isEmpty(), "nothing from a server it does not trust");
        List<String> lines = log.lines("CrowdSec LAPI " + url + "/ failed");
        assertEquals(1, lines.size(), log.text());
      }
      try (Bouncer trusting = Bouncer.builder(url).apiKey("k").caCertificate(dir.resolve("ca.pem"))
          .pollInterval(Duration.ofMillis(200)).build().start(target)) {
        assertTrue(CrowdSecLapiTest.await(() -> banned.size() == 1, Duration.ofSeconds(15)), trusting.stats().toString());
        assertEquals("crowdsec: tls", banned.get(Cidr.parse("192.0.2.9/32")));
      }
    } finally {
      https.stop(0);
    }
  }
}
