package dev.portcullis.handshake.tls;

import dev.portcullis.handshake.Handshake;
import dev.portcullis.handshake.HandshakeStep;
import java.io.IOException;
import java.net.InetAddress;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.security.MessageDigest;
import java.security.PrivateKey;
import java.security.cert.CertificateParsingException;
import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.HexFormat;
import java.util.List;
import java.util.Locale;
import java.util.Objects;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.SSLParameters;
import javax.net.ssl.TrustManager;
import javax.net.ssl.TrustManagerFactory;
import javax.net.ssl.X509ExtendedTrustManager;
import javax.security.auth.x500.X500Principal;

/**
 * TLS, driven by the event loop through an {@link SSLEngine}: no thread waits while the handshake
 * does. After this step, later steps and the handler read and write plaintext.
 *
 * <pre>{@code
 * Server.on(8443)
 *     .allow("10.0.0.0/8")
 *     .handshake(Handshakes.tls(Path.of("server.crt"), Path.of("server.key"))
 *         .requireClientCertificate(Path.of("clients-ca.crt"))
 *         .allowSubject("CN=billing,O=Example"))
 *     .handle(conn -> ...)   // conn.identity() is the verified client chain
 *     .start();
 * }</pre>
 *
 * <ul>
 *   <li>TLS 1.3 and 1.2 only; {@link #protocols} narrows that further.
 *   <li>A TLS 1.2 client that asks to renegotiate is disconnected.
 *   <li>With {@link #requireClientCertificate}, a client without a certificate, or with one that
 *       does not chain to the given authorities, fails the handshake. The {@code allow...} rules
 *       then say which of the verified certificates are welcome: a client is served if its leaf
 *       certificate matches any rule (subject, subject alternative name or SHA-256 fingerprint);
 *       with no rules, any verified certificate is.
 *   <li>The connection's identity is a {@link CertificateIdentity} (the verified chain); a {@link
 *       TlsSession} is attached either way.
 *   <li>Certificate checks and key exchange run on the event loop thread (a few milliseconds per
 *       handshake), like the rest of the chain.
 * </ul>
 *
 * Objects of this class are immutable: every method returns a new step.
 */
public final class Tls implements Handshake {
  private static final List<String> SUPPORTED = List.of("TLSv1.3", "TLSv1.2");

  private final KeyManagerFactory keys;
  private final TrustManagerFactory trust;
  private final List<String> protocols;
  private final List<SubjectName> subjects;
  private final List<String> sans;
  private final List<String> fingerprints;
  private final SSLContext context;

  private Tls(KeyManagerFactory keys, TrustManagerFactory trust, List<String> protocols,
      List<SubjectName> subjects, List<String> sans, List<String> fingerprints) {
    this.keys = keys;
    this.trust = trust;
    this.protocols = List.copyOf(protocols);
    this.subjects = List.copyOf(subjects);
    this.sans = List.copyOf(sans);
    this.fingerprints = List.copyOf(fingerprints);
    try {
      this.context = SSLContext.getInstance("TLS");
      context.init(keys.getKeyManagers(), trust == null ? null : new TrustManager[] {new RuleCheckingTrustManager(
          defaultTrustManager(trust), this::refusal)}, null);
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException("cannot set up TLS: " + e.getMessage(), e);
    }
  }

  /**
   * TLS with the server certificate chain and private key read from PEM files; the same as {@code
   * Handshakes.tls(certificateChain, privateKey)}.
   *
   * @param certificateChain PEM file: the server certificate first, then any intermediates
   * @param privateKey PEM file: the certificate's unencrypted private key (PKCS#8 or PKCS#1)
   * @return the TLS step, with no client certificate required yet
   * @throws IOException if a file cannot be read
   * @throws IllegalArgumentException if a file holds no usable certificate or key, or the key does
   *     not belong to the certificate; the message names the file
   */
  public static Tls fromPem(Path certificateChain, Path privateKey) throws IOException {
    Objects.requireNonNull(certificateChain, "certificateChain");
    Objects.requireNonNull(privateKey, "privateKey");
    List<X509Certificate> chain = Pem.certificates(certificateChain, Pem.SERVER_CHAIN);
    PrivateKey key = Pem.privateKey(privateKey, Pem.SERVER_KEY);
    Pem.checkPair(key, chain.get(0), privateKey, certificateChain);
    try {
      KeyStore store = KeyStore.getInstance("PKCS12");
      store.load(null, null);
      char[] password = new char[0];
      store.setKeyEntry("server", key, password, chain.toArray(new X509Certificate[0]));
      return fromKeyStore(store, password);
    } catch (GeneralSecurityException e) {
      throw new IllegalArgumentException(certificateChain + ", " + privateKey + ": " + e.getMessage(), e);
    }
  }

  /**
   * TLS with the server's key and chain from a key store; the same as {@code
   * Handshakes.tls(keyStore, password)}.
   *
   * @param keyStore a store with the server's private key entry
   * @param password the key entry's password
   * @return the TLS step, with no client certificate required yet
   * @throws IllegalArgumentException if the store has no usable private key entry
   */
  public static Tls fromKeyStore(KeyStore keyStore, char[] password) {
    Objects.requireNonNull(keyStore, "keyStore");
    try {
      KeyManagerFactory kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
      kmf.init(keyStore, password);
      if (!hasKeyEntry(keyStore)) {
        throw new IllegalArgumentException("the key store holds no private key entry for the server");
      }
      return new Tls(kmf, null, SUPPORTED, List.of(), List.of(), List.of());
    } catch (GeneralSecurityException e) {
      throw new IllegalArgumentException("cannot use the key store: " + e.getMessage(), e);
    }
  }

  private static boolean hasKeyEntry(KeyStore store) throws java.security.KeyStoreException {
    for (String alias : java.util.Collections.list(store.aliases())) {
      if (store.isKeyEntry(alias)) {
        return true;
      }
    }
    return false;
  }

  /**
   * Requires every client to present a certificate that chains to one of the authorities in this
   * PEM file.
   *
   * @param certificateAuthorities a PEM file of one or more CA certificates
   * @return a new step; this one is unchanged
   * @throws IOException if the file cannot be read
   * @throws IllegalArgumentException if it holds no valid certificate, naming the file
   */
  public Tls requireClientCertificate(Path certificateAuthorities) throws IOException {
    List<X509Certificate> cas = Pem.certificates(Objects.requireNonNull(certificateAuthorities, "certificateAuthorities"),
        Pem.CLIENT_CA);
    try {
      KeyStore store = KeyStore.getInstance("PKCS12");
      store.load(null, null);
      for (int i = 0; i < cas.size(); i++) {
        store.setCertificateEntry("ca-" + i, cas.get(i));
      }
      return requireClientCertificate(store);
    } catch (GeneralSecurityException e) {
      throw new IllegalArgumentException(certificateAuthorities + ": " + e.getMessage(), e);
    }
  }

  /**
   * Requires every client to present a certificate that chains to a trusted entry of this store.
   *
   * @param trustStore the certificate authorities to trust
   * @return a new step; this one is unchanged
   * @throws IllegalArgumentException if the store cannot be used or trusts nothing
   */
  public Tls requireClientCertificate(KeyStore trustStore) {
    Objects.requireNonNull(trustStore, "trustStore");
    try {
      if (trustStore.size() == 0) {
        throw new IllegalArgumentException("the trust store is empty: no client could ever be verified");
      }
      TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
      tmf.init(trustStore);
      return new Tls(keys, tmf, protocols, subjects, sans, fingerprints);
    } catch (GeneralSecurityException e) {
      throw new IllegalArgumentException("cannot use the trust store: " + e.getMessage(), e);
    }
  }

  /**
   * Serves a verified client whose certificate subject is this distinguished name. Names are
   * compared as sets of relative distinguished names (RDNs), and only three things do not matter:
   * <ul>
   *   <li>the order of the RDNs: {@code CN=alice, O=Example} as {@code openssl x509 -subject}
   *       prints a certificate made with {@code -subj /CN=alice/O=Example} matches it, and so does
   *       {@code O=Example,CN=alice}, the RFC 2253 form Java prints for it (and the order of the
   *       attributes inside a multi-valued RDN);
   *   <li>the case of ASCII letters, in keywords and values ({@code cn=ALICE} matches {@code
   *       CN=alice}); attribute types are compared by OID, so {@code EMAIL}, {@code EMAILADDRESS}
   *       and {@code 1.2.840.113549.1.9.1} are one type;
   *   <li>spaces (U+0020) at either end of a value, and how many separate two words.
   * </ul>
   * Every other character must be the same code point, in whichever string type the certificate
   * encodes it: no Unicode case folding (U+00C9 is not U+00E9), no compatibility folding
   * (fullwidth U+FF41 and modifier letter U+1D43 are not {@code a}, the ligature U+FB01 is not
   * {@code fi}, a no-break space is not a space), not even canonical equivalence ({@code e}
   * followed by U+0301 COMBINING ACUTE ACCENT is not U+00E9, and U+212A KELVIN SIGN is not {@code
   * K}), and U+0131 (dotless i) is not {@code i}: a certificate authority that keeps names unique
   * byte by byte issues such look-alikes to other holders. A different value, an RDN more or less,
   * the same RDN twice, or a multi-valued RDN ({@code CN=alice+O=Example}) against two RDNs never
   * match.
   *
   * @param distinguishedName such as {@code CN=alice,O=Example}
   * @return a new step; this one is unchanged
   * @throws IllegalArgumentException if the name does not parse, or holds a {@code DC} or {@code
   *     EMAILADDRESS} value that is not ASCII (the JDK would store it with {@code ?} in place of
   *     the other characters), quoting it
   * @throws IllegalStateException if no client certificate is required yet
   */
  public Tls allowSubject(String distinguishedName) {
    requireClientAuth("allowSubject");
    X500Principal p;
    try {
      p = new X500Principal(Objects.requireNonNull(distinguishedName, "distinguishedName"));
      if (!distinguishedName.contains("=")) {
        throw new IllegalArgumentException("no attribute=value pair");
      }
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException("'" + distinguishedName + "' is not a distinguished name such as"
          + " CN=alice,O=Example: " + e.getMessage(), e);
    }
    return new Tls(keys, trust, protocols, append(subjects, SubjectName.ofRule(p, distinguishedName)), sans,
        fingerprints);
  }

  /**
   * Serves a verified client whose certificate has this subject alternative name: a DNS name or
   * e-mail address (the case of ASCII letters does not matter; every other character must be the
   * same, so neither U+0131 nor U+0130 is {@code i}), a URI (exactly), or an IP address (any
   * spelling of the same address).
   *
   * @param name such as {@code billing.internal}, {@code spiffe://example/billing} or {@code 10.0.0.7}
   * @return a new step; this one is unchanged
   * @throws IllegalArgumentException if the name is empty
   * @throws IllegalStateException if no client certificate is required yet
   */
  public Tls allowSan(String name) {
    requireClientAuth("allowSan");
    if (Objects.requireNonNull(name, "name").isBlank()) {
      throw new IllegalArgumentException("a subject alternative name rule needs a name");
    }
    return new Tls(keys, trust, protocols, subjects, append(sans, name.strip()), fingerprints);
  }

  /**
   * Serves a verified client whose leaf certificate has this SHA-256 fingerprint (hex, with or
   * without colons, as {@code openssl x509 -fingerprint -sha256} prints it).
   *
   * @param sha256 64 hex digits
   * @return a new step; this one is unchanged
   * @throws IllegalArgumentException if it is not 32 bytes of hex, quoting it
   * @throws IllegalStateException if no client certificate is required yet
   */
  public Tls allowFingerprint(String sha256) {
    requireClientAuth("allowFingerprint");
    String hex = Objects.requireNonNull(sha256, "sha256").strip().replace(":", "").toLowerCase(Locale.ROOT);
    if (hex.startsWith("sha256=")) {
      hex = hex.substring(7);
    }
    if (hex.length() != 64 || !hex.chars().allMatch(c -> Character.digit(c, 16) >= 0)) {
      throw new IllegalArgumentException("'" + sha256 + "' is not a SHA-256 fingerprint (64 hex digits,"
          + " colons allowed)");
    }
    return new Tls(keys, trust, protocols, subjects, sans, append(fingerprints, hex));
  }

  /**
   * Limits the protocol versions offered.
   *
   * @param versions {@code TLSv1.3} and/or {@code TLSv1.2}
   * @return a new step; this one is unchanged
   * @throws IllegalArgumentException for an empty list or any other version, naming it
   */
  public Tls protocols(String... versions) {
    if (versions.length == 0) {
      throw new IllegalArgumentException("name at least one protocol version: TLSv1.3 or TLSv1.2");
    }
    for (String v : versions) {
      if (!SUPPORTED.contains(v)) {
        throw new IllegalArgumentException("'" + v + "' is not offered; only TLSv1.3 and TLSv1.2 are");
      }
    }
    return new Tls(keys, trust, Arrays.asList(versions), subjects, sans, fingerprints);
  }

  /**
   * Whether clients must present a verified certificate.
   *
   * @return {@code true} after {@link #requireClientCertificate}
   */
  public boolean requiresClientCertificate() {
    return trust != null;
  }

  /**
   * The protocol versions offered.
   *
   * @return {@code TLSv1.3} and/or {@code TLSv1.2}
   */
  public List<String> protocols() {
    return protocols;
  }

  /** {@code tls}. */
  @Override
  public String name() {
    return "tls";
  }

  /** Once: a second TLS step would wrap TLS inside TLS. */
  @Override
  public boolean oncePerChain() {
    return true;
  }

  @Override
  public HandshakeStep newStep() {
    return new TlsStep(this);
  }

  SSLEngine newEngine(java.net.SocketAddress peer) {
    // The peer's address only keys the JDK's session cache; a Unix socket peer has none.
    SSLEngine engine = peer instanceof java.net.InetSocketAddress ip
        ? context.createSSLEngine(ip.getAddress().getHostAddress(), ip.getPort())
        : context.createSSLEngine();
    engine.setUseClientMode(false);
    SSLParameters p = engine.getSSLParameters();
    p.setProtocols(protocols.toArray(new String[0]));
    p.setNeedClientAuth(trust != null);
    engine.setSSLParameters(p);
    return engine;
  }

  /** Why the verified leaf matches no rule, or null if it may be served. */
  String refusal(X509Certificate leaf) {
    if (subjects.isEmpty() && sans.isEmpty() && fingerprints.isEmpty()) {
      return null;
    }
    if (!subjects.isEmpty() && subjectAllowed(leaf)) {
      return null;
    }
    try {
      if (!fingerprints.isEmpty()) {
        String fp = HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(leaf.getEncoded()));
        if (fingerprints.contains(fp)) {
          return null;
        }
      }
    } catch (GeneralSecurityException e) {
      return "its fingerprint could not be computed: " + e.getMessage();
    }
    if (!sans.isEmpty()) {
      try {
        Collection<List<?>> names = leaf.getSubjectAlternativeNames();
        if (names != null) {
          for (List<?> entry : names) {
            if (sanMatches((Integer) entry.get(0), entry.get(1))) {
              return null;
            }
          }
        }
      } catch (CertificateParsingException e) {
        return "its subject alternative names do not parse: " + e.getMessage();
      }
    }
    return "client certificate '" + SubjectName.printable(leaf.getSubjectX500Principal().getName())
        + "' matches no allowed subject, subject alternative name or fingerprint";
  }

  private boolean subjectAllowed(X509Certificate leaf) {
    try {
      return subjects.contains(SubjectName.of(leaf.getSubjectX500Principal()));
    } catch (IllegalArgumentException malformed) {
      return false; // the JDK parsed it, so this does not happen; if it did, no subject rule matches
    }
  }

  private boolean sanMatches(int type, Object value) {
    if (!(value instanceof String s)) {
      return false;
    }
    for (String rule : sans) {
      switch (type) {
        case 1, 2 -> { // rfc822Name, dNSName
          if (SubjectName.equalsIgnoreAsciiCase(rule, s)) {
            return true;
          }
        }
        case 6 -> { // uniformResourceIdentifier
          if (rule.equals(s)) {
            return true;
          }
        }
        case 7 -> { // iPAddress
          if (sameAddress(rule, s)) {
            return true;
          }
        }
        default -> {
          // other name forms are not matched
        }
      }
    }
    return false;
  }

  private static boolean sameAddress(String rule, String san) {
    try {
      return dev.portcullis.policy.IpAddresses.parse(rule).equals(dev.portcullis.policy.IpAddresses.parse(san));
    } catch (IllegalArgumentException notAnAddress) {
      return false;
    }
  }

  private static X509ExtendedTrustManager defaultTrustManager(TrustManagerFactory tmf) {
    for (TrustManager tm : tmf.getTrustManagers()) {
      if (tm instanceof X509ExtendedTrustManager x) {
        return x;
      }
    }
    throw new IllegalStateException("the JDK's " + tmf.getAlgorithm() + " trust manager factory made no X509ExtendedTrustManager");
  }

  /** Thrown inside the handshake when a verified client certificate matches no rule. */
  static final class RuleMismatch extends java.security.cert.CertificateException {
    private static final long serialVersionUID = 1L;

    RuleMismatch(String message) {
      super(message);
    }
  }

  /**
   * The JDK's trust manager, then the rules: a client certificate that chains to a trusted
   * authority but matches no rule fails inside the handshake, so the engine itself sends a fatal
   * alert before it finishes (and before any session ticket).
   */
  private static final class RuleCheckingTrustManager extends X509ExtendedTrustManager {
    private final X509ExtendedTrustManager chain;
    private final java.util.function.Function<X509Certificate, String> rules;

    RuleCheckingTrustManager(X509ExtendedTrustManager chain, java.util.function.Function<X509Certificate, String> rules) {
      this.chain = chain;
      this.rules = rules;
    }

    private void checkRules(X509Certificate[] certificates) throws RuleMismatch {
      String refusal = rules.apply(certificates[0]);
      if (refusal != null) {
        throw new RuleMismatch(refusal);
      }
    }

    @Override
    public void checkClientTrusted(X509Certificate[] c, String authType, SSLEngine engine)
        throws java.security.cert.CertificateException {
      chain.checkClientTrusted(c, authType, engine);
      checkRules(c);
    }

    @Override
    public void checkClientTrusted(X509Certificate[] c, String authType, java.net.Socket socket)
        throws java.security.cert.CertificateException {
      chain.checkClientTrusted(c, authType, socket);
      checkRules(c);
    }

    @Override
    public void checkClientTrusted(X509Certificate[] c, String authType) throws java.security.cert.CertificateException {
      chain.checkClientTrusted(c, authType);
      checkRules(c);
    }

    @Override
    public void checkServerTrusted(X509Certificate[] c, String authType, SSLEngine engine)
        throws java.security.cert.CertificateException {
      chain.checkServerTrusted(c, authType, engine);
    }

    @Override
    public void checkServerTrusted(X509Certificate[] c, String authType, java.net.Socket socket)
        throws java.security.cert.CertificateException {
      chain.checkServerTrusted(c, authType, socket);
    }

    @Override
    public void checkServerTrusted(X509Certificate[] c, String authType) throws java.security.cert.CertificateException {
      chain.checkServerTrusted(c, authType);
    }

    @Override
    public X509Certificate[] getAcceptedIssuers() {
      return chain.getAcceptedIssuers();
    }
  }

  private void requireClientAuth(String method) {
    if (trust == null) {
      throw new IllegalStateException(method + "(...) is a rule on client certificates; call"
          + " requireClientCertificate(...) first");
    }
  }

  private static <T> List<T> append(List<T> list, T item) {
    List<T> out = new ArrayList<>(list);
    out.add(item);
    return out;
  }

  @Override
  public String toString() {
    return "tls " + protocols + (trust == null ? "" : ", client certificate required"
        + (subjects.isEmpty() && sans.isEmpty() && fingerprints.isEmpty() ? ""
            : ", " + (subjects.size() + sans.size() + fingerprints.size()) + " client rule(s)"));
  }
}
