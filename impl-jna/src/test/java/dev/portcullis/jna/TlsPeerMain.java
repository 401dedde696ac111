package dev.portcullis.jna;

import dev.portcullis.Handshakes;
import dev.portcullis.RunningServer;
import dev.portcullis.Server;
import dev.portcullis.handshake.tls.TlsSession;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyStore;
import java.security.Security;
import java.security.cert.CertificateFactory;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLSocket;
import javax.net.ssl.TrustManagerFactory;

/**
 * TLS peers that need a JVM of their own, because what they need is a JVM-wide setting. Each ends
 * when its standard input does.
 *
 * <ul>
 *   <li>{@code server CERT KEY}: a TLS server on 127.0.0.1 that answers any request with an HTTP
 *       response whose body is {@code sni=NAME}, the connection's {@link TlsSession#serverName};
 *       prints {@code port N}. Run it with {@code -Djdk.tls.server.disableExtensions=server_name}.
 *   <li>{@code keyupdate-flood PORT CA RECORDS}: a TLS 1.3 client whose key usage limit is one
 *       byte, so the JDK sends a KeyUpdate that requests the peer's after every record; it writes
 *       RECORDS records of 16 bytes and never reads; prints {@code connected}, then {@code sent}.
 *   <li>{@code echo-server CERT KEY}: a TLS echo server on 127.0.0.1 with the default settings
 *       (the default cap on pending handshakes, so the heap given with {@code -Xmx} decides it);
 *       prints {@code port N cap N}; then, for every {@code stats} line on its input, one line
 *       {@code pending P open O accepted A outcomes C handled H limited L fds F}.
 * </ul>
 */
public final class TlsPeerMain {
  private TlsPeerMain() {}

  /**
   * Runs one peer.
   *
   * @param args the mode and its arguments, as above
   * @throws Exception if anything fails
   */
  public static void main(String[] args) throws Exception {
    switch (args[0]) {
      case "server" -> server(Path.of(args[1]), Path.of(args[2]));
      case "echo-server" -> echoServer(Path.of(args[1]), Path.of(args[2]));
      case "keyupdate-flood" -> flood(Integer.parseInt(args[1]), Path.of(args[2]), Integer.parseInt(args[3]));
      default -> throw new IllegalArgumentException("unknown mode " + args[0]);
    }
  }

  private static void server(Path cert, Path key) throws Exception {
    try (RunningServer server = Server.on(0).bindAddress("127.0.0.1").allow("127.0.0.1")
        .handshake(Handshakes.tls(cert, key))
        .handle(conn -> {
          new BufferedReader(new InputStreamReader(conn.input(), StandardCharsets.US_ASCII)).readLine();
          String body = "sni=" + conn.attribute(TlsSession.class).map(t -> String.valueOf(t.serverName())).orElse("?") + "\n";
          conn.output().write(("HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: " + body.length()
              + "\r\n\r\n" + body).getBytes(StandardCharsets.US_ASCII));
        }).start()) {
      System.out.println("port " + server.port());
      System.out.flush();
      System.in.transferTo(OutputStream.nullOutputStream());
    }
  }

  private static void flood(int port, Path ca, int records) throws Exception {
    // Read once, when the JDK's TLS ciphers are first loaded: hence a JVM of its own.
    Security.setProperty("jdk.tls.keyLimits", "AES/GCM/NoPadding KeyUpdate 1, ChaCha20-Poly1305 KeyUpdate 1");
    KeyStore trust = KeyStore.getInstance("PKCS12");
    trust.load(null, null);
    try (var in = Files.newInputStream(ca)) {
      trust.setCertificateEntry("ca", CertificateFactory.getInstance("X.509").generateCertificate(in));
    }
    TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
    tmf.init(trust);
    SSLContext context = SSLContext.getInstance("TLSv1.3");
    context.init(null, tmf.getTrustManagers(), null);
    try (SSLSocket s = (SSLSocket) context.getSocketFactory().createSocket()) {
      // Small, so the peer's answers pile up at the server, not here. An unread queue of tiny
      // segments can make this kernel prune and drop (TcpExtRcvPruned, TCPRcvQDrop), after which
      // the connection crawls in retransmission backoff; the test starts another flood then.
      s.setReceiveBufferSize(64 * 1024);
      s.connect(new java.net.InetSocketAddress("127.0.0.1", port));
      s.setEnabledProtocols(new String[] {"TLSv1.3"});
      s.startHandshake();
      System.out.println("connected");
      System.out.flush();
      OutputStream out = s.getOutputStream();
      byte[] record = new byte[16];
      for (int i = 0; i < records; i++) {
        out.write(record);
      }
      System.out.println("sent");
      System.out.flush();
      System.in.transferTo(OutputStream.nullOutputStream());
    }
  }

  private static void echoServer(Path cert, Path key) throws Exception {
    try (RunningServer server = Server.on(0).bindAddress("127.0.0.1").allow("127.0.0.0/8")
        .handshake(Handshakes.tls(cert, key)).handle(conn -> conn.input().transferTo(conn.output())).start()) {
      System.out.println("port " + server.port() + " cap " + dev.portcullis.policy.Limits.defaultMaxPendingHandshakes());
      System.out.flush();
      BufferedReader commands = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.US_ASCII));
      for (String line; (line = commands.readLine()) != null; ) {
        if (line.equals("stats")) {
          dev.portcullis.ServerStats s = server.stats();
          System.out.println("pending " + s.pendingHandshakes() + " open " + s.openConnections() + " accepted "
              + s.accepted() + " outcomes " + s.outcomes() + " handled " + s.handled() + " limited " + s.limited()
              + " fds " + Clients.openDescriptors());
          System.out.flush();
        }
      }
    }
  }
}
