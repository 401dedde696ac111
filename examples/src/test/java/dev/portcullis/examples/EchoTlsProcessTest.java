package dev.portcullis.examples;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code portcullis echo --tls-cert --tls-key --tls-client-ca} in its own JVM, with {@code openssl
 * s_client} as the client: served with a certificate from the CA, refused without one.
 */
@Timeout(90)
class EchoTlsProcessTest {
  private static final String MAKE_PKI = String.join("\n",
      "set -eu",
      "ec='-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes'",
      "openssl req -x509 $ec -keyout ca.key -out ca.crt -days 2 -subj /CN=Echo-CA",
      "for who in server client; do",
      "  openssl req -new $ec -keyout $who.key -out $who.csr -subj /CN=$who",
      "  echo subjectAltName=IP:127.0.0.1 > $who.ext",
      "  openssl x509 -req -in $who.csr -CA ca.crt -CAkey ca.key -set_serial $RANDOM -days 2 -out $who.crt"
          + " -extfile $who.ext",
      "done",
      "");

  private static String sClient(Path dir, int port, String... extra) throws Exception {
    List<String> cmd = new ArrayList<>(List.of("openssl", "s_client", "-connect", "127.0.0.1:" + port, "-quiet",
        "-CAfile", "ca.crt", "-verify_return_error"));
    cmd.addAll(List.of(extra));
    Process p = new ProcessBuilder(cmd).directory(dir.toFile()).redirectError(ProcessBuilder.Redirect.DISCARD).start();
    try (OutputStream in = p.getOutputStream()) {
      in.write("over tls\n".getBytes(StandardCharsets.US_ASCII));
    }
    // The echo server keeps the connection open: read the one line back, or nothing if refused.
    BufferedReader out = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8));
    String line = out.readLine();
    p.destroy();
    assertTrue(p.waitFor(20, TimeUnit.SECONDS));
    return line;
  }

  @Test
  void echoOverTlsServesTheClientCertificateAndRefusesTheClientWithout(@TempDir Path dir) throws Exception {
    Tools.require("openssl");
    Process pki = new ProcessBuilder("bash", "-c", MAKE_PKI).directory(dir.toFile()).redirectErrorStream(true).start();
    String pkiLog = new String(pki.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertEquals(0, pki.waitFor(), pkiLog);

    String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    Process p = new ProcessBuilder(List.of(java, "-cp", System.getProperty("java.class.path"),
        Launcher.class.getName(), "echo", "--port", "0", "--bind", "127.0.0.1", "--allow", "127.0.0.1",
        "--tls-cert", "server.crt", "--tls-key", "server.key", "--tls-client-ca", "ca.crt",
        "--tls-allow-subject", "CN=client")).directory(dir.toFile())
        .redirectError(ProcessBuilder.Redirect.INHERIT).start();
    try (BufferedReader out = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
      String first = out.readLine();
      assertTrue(first != null && first.startsWith("listening on 127.0.0.1:"), String.valueOf(first));
      int port = Integer.parseInt(first.substring(first.lastIndexOf(':') + 1));

      assertEquals("over tls", sClient(dir, port, "-cert", "client.crt", "-key", "client.key"));
      assertEquals(null, sClient(dir, port));
      assertEquals(null, sClient(dir, port, "-cert", "server.crt", "-key", "server.key"), "CN=server is not allowed");
    } finally {
      p.toHandle().destroy();
      p.waitFor(20, TimeUnit.SECONDS);
      p.destroyForcibly();
    }
  }
}
