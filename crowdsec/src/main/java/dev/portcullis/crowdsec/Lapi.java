package dev.portcullis.crowdsec;

import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.KeyStore;
import java.security.PrivateKey;
import java.security.cert.Certificate;
import java.security.cert.CertificateFactory;
import java.security.spec.PKCS8EncodedKeySpec;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManagerFactory;

/**
 * How the bouncer and the watcher talk to one Local API: the JDK's {@code HttpClient}, with the TLS
 * settings given, a timeout on every request, and answers read as streams so that their size is
 * checked while they are read.
 */
final class Lapi {
  /** Small files: an API key, a password, a machine file, a PEM. */
  static final int MAX_SECRET_FILE = 64 * 1024;

  final URI base;
  final Duration timeout;
  private final HttpClient http;

  Lapi(URI base, SSLContext tls, Duration timeout) {
    String s = base.toString();
    this.base = URI.create(s.endsWith("/") ? s : s + "/");
    if (!"http".equals(this.base.getScheme()) && !"https".equals(this.base.getScheme())) {
      throw new IllegalArgumentException("a Local API URL is http:// or https://: " + base);
    }
    this.timeout = timeout;
    HttpClient.Builder b = HttpClient.newBuilder().connectTimeout(timeout).followRedirects(HttpClient.Redirect.NEVER)
        .version(HttpClient.Version.HTTP_1_1);
    if (tls != null) {
      b.sslContext(tls);
    }
    this.http = b.build();
  }

  HttpRequest.Builder request(String path) {
    return HttpRequest.newBuilder(base.resolve(path)).timeout(timeout)
        .header("User-Agent", "portcullis-crowdsec/1").header("Accept", "application/json");
  }

  /** Sends; an answer other than {@code ok} is an IOException quoting the start of its body. */
  InputStream send(HttpRequest request, int ok) throws IOException {
    HttpResponse<InputStream> r;
    try {
      r = http.send(request, HttpResponse.BodyHandlers.ofInputStream());
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new java.io.InterruptedIOException("interrupted: " + request.method() + " " + request.uri());
    }
    if (r.statusCode() != ok) {
      String body;
      try (InputStream in = r.body()) {
        body = new String(in.readNBytes(300), StandardCharsets.UTF_8).replaceAll("[\\p{Cntrl}]", " ").strip();
      }
      throw new StatusException(r.statusCode(), request.method() + " " + request.uri() + " answered HTTP "
          + r.statusCode() + (body.isEmpty() ? "" : ": " + body));
    }
    return r.body();
  }

  /** An HTTP status other than the one expected. */
  static final class StatusException extends IOException {
    private static final long serialVersionUID = 1L;
    final int status;

    StatusException(int status, String message) {
      super(message);
      this.status = status;
    }
  }

  /** A failure in words: its message, or its type and its cause's message (the JDK's ConnectException has none). */
  static String describe(Throwable e) {
    if (e.getMessage() != null && !e.getMessage().isBlank()) {
      return e.getMessage();
    }
    for (Throwable c = e.getCause(); c != null; c = c.getCause()) {
      if (c.getMessage() != null && !c.getMessage().isBlank()) {
        return e.getClass().getSimpleName() + ": " + c.getMessage();
      }
    }
    return e instanceof java.net.ConnectException ? "cannot connect (ConnectException)" : e.getClass().getSimpleName();
  }

  /** A JSON string literal. */
  static String quote(String s) {
    StringBuilder sb = new StringBuilder(s.length() + 2).append('"');
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      switch (c) {
        case '"' -> sb.append("\\\"");
        case '\\' -> sb.append("\\\\");
        case '\n' -> sb.append("\\n");
        case '\r' -> sb.append("\\r");
        case '\t' -> sb.append("\\t");
        default -> {
          if (c < 0x20) {
            sb.append(String.format("\\u%04x", (int) c));
          } else {
            sb.append(c);
          }
        }
      }
    }
    return sb.append('"').toString();
  }

  /**
   * A small file's text, trimmed: an API key or a password.
   *
   * @throws IOException naming the file if it cannot be read, is too large or is empty
   */
  static String secret(Path file) throws IOException {
    if (!Files.isRegularFile(file)) {
      throw new IOException(file + ": not a regular file");
    }
    if (Files.size(file) > MAX_SECRET_FILE) {
      throw new IOException(file + ": larger than " + MAX_SECRET_FILE + " bytes; expected a key or a password");
    }
    String s = Files.readString(file, StandardCharsets.UTF_8).strip();
    if (s.isEmpty()) {
      throw new IOException(file + ": empty; expected a key or a password");
    }
    if (s.chars().anyMatch(c -> c < 0x21 || c > 0x7e)) {
      throw new IOException(file + ": more than one word, or characters that are not printable ASCII");
    }
    return s;
  }

  /**
   * A TLS context trusting the CA certificates of {@code caPem} (or the JDK's defaults when null)
   * and presenting the certificate chain of {@code certPem} with the PKCS #8 key of {@code keyPem}
   * (none when null).
   *
   * @throws IOException naming the file that could not be read or used
   */
  static SSLContext tls(Path caPem, Path certPem, Path keyPem) throws IOException {
    try {
      TrustManagerFactory tmf = null;
      if (caPem != null) {
        KeyStore trust = KeyStore.getInstance(KeyStore.getDefaultType());
        trust.load(null, null);
        List<Certificate> cas = certificates(caPem);
        for (int i = 0; i < cas.size(); i++) {
          trust.setCertificateEntry("ca" + i, cas.get(i));
        }
        tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        tmf.init(trust);
      }
      KeyManagerFactory kmf = null;
      if (certPem != null) {
        KeyStore keys = KeyStore.getInstance(KeyStore.getDefaultType());
        keys.load(null, null);
        char[] none = new char[0];
        keys.setKeyEntry("client", privateKey(keyPem), none, certificates(certPem).toArray(new Certificate[0]));
        kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
        kmf.init(keys, none);
      }
      SSLContext ctx = SSLContext.getInstance("TLS");
      ctx.init(kmf == null ? null : kmf.getKeyManagers(), tmf == null ? null : tmf.getTrustManagers(), null);
      return ctx;
    } catch (GeneralSecurityException e) {
      throw new IOException("TLS settings for the Local API: " + e.getMessage(), e);
    }
  }

  private static List<Certificate> certificates(Path pem) throws IOException {
    try (InputStream in = Files.newInputStream(pem)) {
      List<Certificate> out = new ArrayList<>(CertificateFactory.getInstance("X.509").generateCertificates(in));
      if (out.isEmpty()) {
        throw new IOException(pem + ": no PEM certificate in it");
      }
      return out;
    } catch (java.security.cert.CertificateException e) {
      throw new IOException(pem + ": not a PEM certificate: " + e.getMessage(), e);
    }
  }

  private static PrivateKey privateKey(Path pem) throws IOException {
    if (pem == null) {
      throw new IOException("a client certificate needs its private key");
    }
    if (Files.size(pem) > MAX_SECRET_FILE) {
      throw new IOException(pem + ": larger than " + MAX_SECRET_FILE + " bytes; expected a PEM private key");
    }
    String text = Files.readString(pem, StandardCharsets.US_ASCII);
    int begin = text.indexOf("-----BEGIN PRIVATE KEY-----");
    int end = text.indexOf("-----END PRIVATE KEY-----");
    if (begin < 0 || end < begin) {
      throw new IOException(pem + ": expected a PKCS #8 key (-----BEGIN PRIVATE KEY-----; convert with"
          + " openssl pkcs8 -topk8 -nocrypt)");
    }
    byte[] der = Base64.getMimeDecoder().decode(text.substring(begin + 27, end));
    for (String alg : new String[] {"EC", "RSA", "Ed25519"}) {
      try {
        return KeyFactory.getInstance(alg).generatePrivate(new PKCS8EncodedKeySpec(der));
      } catch (GeneralSecurityException tryNext) {
        // the next algorithm
      }
    }
    throw new IOException(pem + ": not an EC, RSA or Ed25519 private key");
  }
}
