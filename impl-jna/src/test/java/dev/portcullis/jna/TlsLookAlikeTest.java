package dev.portcullis.jna;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.portcullis.Handler;
import dev.portcullis.Handshakes;
import dev.portcullis.RunningServer;
import dev.portcullis.Server;
import dev.portcullis.handshake.Identity;
import dev.portcullis.handshake.tls.Tls;
import dev.portcullis.handshake.tls.TlsSession;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import javax.net.ssl.SSLSocket;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code allowSubject("CN=admin,O=Example")} through real TLS handshakes: clients whose
 * certificates, issued by {@code openssl} from the trusted CA, hold names that only look like the
 * allowed one are refused; the allowed name in other ASCII case or RDN order is served.
 */
@Timeout(120)
class TlsLookAlikeTest {
  @TempDir static Path dir;
  static TestPki pki;

  /** Client certificate name -> its subject, as {@code openssl req -utf8 -subj} takes it. */
  private static final Map<String, String> LOOK_ALIKES = Map.of(
      "dotless", "/O=Example/CN=adm\u0131n",
      "fullwidth", "/O=Example/CN=\uFF41\uFF44\uFF4D\uFF49\uFF4E",
      "modifier", "/O=Example/CN=\u1D43dmin",
      "fullwidth-o", "/O=\uFF25xample/CN=admin",
      "nbsp", "/O=Example\u00A0/CN=admin");
  private static final Map<String, String> SAME_NAME = Map.of(
      "upper", "/O=EXAMPLE/CN=Admin",
      "reversed", "/CN=admin/O=Example");

  @BeforeAll
  static void makePki() throws Exception {
    pki = TestPki.create(dir);
    String openssl = ExternalTool.require("openssl");
    for (Map<String, String> m : List.of(LOOK_ALIKES, SAME_NAME)) {
      for (Map.Entry<String, String> e : m.entrySet()) {
        String name = e.getKey();
        pki.run(openssl, "req", "-new", "-utf8", "-subj", e.getValue(), "-newkey", "ec", "-pkeyopt",
            "ec_paramgen_curve:P-256", "-nodes", "-keyout", name + ".key", "-out", name + ".csr");
        pki.run(openssl, "x509", "-req", "-in", name + ".csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-set_serial",
            String.valueOf(System.nanoTime() & 0xFFFFFFFL), "-days", "2", "-out", name + ".crt");
      }
    }
  }

  /** Replies with the protocol and the client's name, then closes. */
  private static final Handler REPORT = conn -> {
    String line = new BufferedReader(new InputStreamReader(conn.input(), StandardCharsets.UTF_8)).readLine();
    String who = conn.identity().map(Identity::name).orElse("-");
    String protocol = conn.attribute(TlsSession.class).map(TlsSession::protocol).orElse("plaintext");
    conn.output().write((protocol + " " + who + " " + line + "\n").getBytes(StandardCharsets.UTF_8));
  };

  /** The server's reply to a client with this certificate, or null if the handshake refused it. */
  private static String exchange(int port, String client, String protocol) throws Exception {
    try (SSLSocket s = (SSLSocket) pki.clientContext(client).getSocketFactory().createSocket("127.0.0.1", port)) {
      s.setSoTimeout(10_000);
      s.setEnabledProtocols(new String[] {protocol});
      s.startHandshake(); // TLS 1.3: the client is done before the server has checked its certificate
      s.getOutputStream().write("hello\n".getBytes(StandardCharsets.UTF_8));
      s.getOutputStream().flush();
      return new BufferedReader(new InputStreamReader(s.getInputStream(), StandardCharsets.UTF_8)).readLine();
    } catch (IOException refused) {
      return null;
    }
  }

  @Test
  void lookAlikesOfAnAllowedSubjectFailTheHandshakeAndTheSameNameIsServed() throws Exception {
    // What openssl wrote is what the test means: the look-alike bytes, in a UTF8String.
    String printed = pki.run(ExternalTool.require("openssl"), "x509", "-in", "dotless.crt", "-noout", "-subject",
        "-nameopt", "RFC2253,-esc_msb,utf8");
    assertEquals("subject=CN=adm\u0131n,O=Example", printed.strip());
    Tls tls = Handshakes.tls(pki.file("server.crt"), pki.file("server.key"))
        .requireClientCertificate(pki.file("ca.crt")).allowSubject("CN=admin,O=Example");
    try (RunningServer server = Server.on(0).bindAddress("127.0.0.1").allow("127.0.0.1")
        .handshakeTimeout(Duration.ofSeconds(10)).handshake(tls).handle(REPORT).start()) {
      int port = server.port();
      int refused = 0;
      for (String client : LOOK_ALIKES.keySet()) {
        for (String protocol : new String[] {"TLSv1.3", "TLSv1.2"}) {
          assertNull(exchange(port, client, protocol), client + " over " + protocol);
          refused++;
        }
      }
      assertEquals("TLSv1.3 CN=Admin,O=EXAMPLE hello", exchange(port, "upper", "TLSv1.3"));
      assertEquals("TLSv1.2 O=Example,CN=admin hello", exchange(port, "reversed", "TLSv1.2"));
      int expected = refused;
      assertTrue(Clients.await(() -> server.stats().handshakeFailures() == expected, Duration.ofSeconds(10)),
          server.stats().toString());
      assertEquals(2, server.stats().handled());
    }
  }
}
