package dev.portcullis.handshake.tls;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.math.BigInteger;
import java.nio.charset.Charset;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.KeyStore;
import java.security.PrivateKey;
import java.security.Signature;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.security.spec.ECGenParameterSpec;
import java.time.ZoneOffset;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Real X.509 certificates, DER written by hand and signed with ECDSA P-256, so a subject can hold
 * any attribute in any string type with any characters: {@code openssl req -subj} refuses some
 * (a non-ASCII country, a BMPString), and a certificate authority that compares names byte by byte
 * would issue them all.
 */
final class TestCertificates {
  static final int UTF8_STRING = 0x0C;
  static final int PRINTABLE_STRING = 0x13;
  static final int IA5_STRING = 0x16;
  static final int BMP_STRING = 0x1E;
  static final int UNIVERSAL_STRING = 0x1C;

  private static final AtomicLong SERIAL = new AtomicLong(1000);

  final KeyPair caKeys = ecKeys();
  final X509Certificate ca = issue(name(rdn(ava("2.5.4.3", PRINTABLE_STRING, "Test CA"))), caKeys.getPublic().getEncoded(),
      List.of());
  private final KeyPair leafKeys = ecKeys();

  /** One attribute: its OID, the ASN.1 string tag, the text. */
  record Ava(String oid, int tag, String value) {}

  static Ava ava(String oid, int tag, String value) {
    return new Ava(oid, tag, value);
  }

  static List<Ava> rdn(Ava... avas) {
    return List.of(avas);
  }

  /** A Name, its RDNs in encoding order (the order RFC 2253 prints in reverse). */
  @SafeVarargs
  static byte[] name(List<Ava>... rdns) {
    List<byte[]> sets = new ArrayList<>();
    for (List<Ava> rdn : rdns) {
      List<byte[]> avas = new ArrayList<>();
      for (Ava a : rdn) {
        avas.add(der(0x30, oid(a.oid()), der(a.tag(), encode(a.tag(), a.value()))));
      }
      sets.add(der(0x31, avas.toArray(new byte[0][])));
    }
    return der(0x30, sets.toArray(new byte[0][]));
  }

  /** A leaf certificate from this CA with this subject and, if any, these dNSName alternative names. */
  X509Certificate leaf(byte[] subject, String... dnsNames) {
    List<byte[]> extensions = new ArrayList<>();
    if (dnsNames.length > 0) {
      List<byte[]> names = new ArrayList<>();
      for (String n : dnsNames) {
        names.add(der(0x82, n.getBytes(StandardCharsets.UTF_8)));
      }
      extensions.add(der(0x30, oid("2.5.29.17"), der(0x04, der(0x30, names.toArray(new byte[0][])))));
    }
    return issue(subject, leafKeys.getPublic().getEncoded(), extensions);
  }

  /** A key store holding a server key entry: a self-signed certificate and its key. */
  static KeyStore serverKeyStore(char[] password) throws GeneralSecurityException, java.io.IOException {
    TestCertificates self = new TestCertificates();
    KeyStore ks = KeyStore.getInstance("PKCS12");
    ks.load(null, null);
    ks.setKeyEntry("server", self.caKeys.getPrivate(), password, new X509Certificate[] {self.ca});
    return ks;
  }

  /** A key store trusting this CA. */
  KeyStore trustStore() throws GeneralSecurityException, java.io.IOException {
    KeyStore ks = KeyStore.getInstance("PKCS12");
    ks.load(null, null);
    ks.setCertificateEntry("ca", ca);
    return ks;
  }

  private X509Certificate issue(byte[] subject, byte[] publicKeyInfo, List<byte[]> extensions) {
    byte[] issuer = ca == null ? subject : ca.getSubjectX500Principal().getEncoded();
    PrivateKey signer = caKeys.getPrivate();
    DateTimeFormatter utc = DateTimeFormatter.ofPattern("yyMMddHHmmss'Z'");
    ZonedDateTime now = ZonedDateTime.now(ZoneOffset.UTC);
    byte[] ecdsaWithSha256 = der(0x30, oid("1.2.840.10045.4.3.2"));
    List<byte[]> tbs = new ArrayList<>(List.of(
        der(0xA0, der(0x02, new byte[] {2})),
        der(0x02, BigInteger.valueOf(SERIAL.incrementAndGet()).toByteArray()),
        ecdsaWithSha256,
        issuer,
        der(0x30, der(0x17, utc.format(now.minusHours(1)).getBytes(StandardCharsets.US_ASCII)),
            der(0x17, utc.format(now.plusDays(2)).getBytes(StandardCharsets.US_ASCII))),
        subject,
        publicKeyInfo));
    if (!extensions.isEmpty()) {
      tbs.add(der(0xA3, der(0x30, extensions.toArray(new byte[0][]))));
    }
    byte[] tbsDer = der(0x30, tbs.toArray(new byte[0][]));
    try {
      Signature s = Signature.getInstance("SHA256withECDSA");
      s.initSign(signer);
      s.update(tbsDer);
      byte[] sig = s.sign();
      byte[] bits = new byte[sig.length + 1];
      System.arraycopy(sig, 0, bits, 1, sig.length);
      byte[] cert = der(0x30, tbsDer, ecdsaWithSha256, der(0x03, bits));
      return (X509Certificate) CertificateFactory.getInstance("X.509")
          .generateCertificate(new ByteArrayInputStream(cert));
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException(e);
    }
  }

  private static KeyPair ecKeys() {
    try {
      KeyPairGenerator g = KeyPairGenerator.getInstance("EC");
      g.initialize(new ECGenParameterSpec("secp256r1"));
      return g.generateKeyPair();
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException(e);
    }
  }

  private static byte[] encode(int tag, String value) {
    Charset cs = switch (tag) {
      case BMP_STRING -> StandardCharsets.UTF_16BE;
      case UNIVERSAL_STRING -> Charset.forName("UTF-32BE");
      case UTF8_STRING -> StandardCharsets.UTF_8;
      default -> StandardCharsets.ISO_8859_1;
    };
    return value.getBytes(cs);
  }

  static byte[] oid(String dotted) {
    String[] arcs = dotted.split("\\.");
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    base128(out, Long.parseLong(arcs[0]) * 40 + Long.parseLong(arcs[1]));
    for (int i = 2; i < arcs.length; i++) {
      base128(out, Long.parseLong(arcs[i]));
    }
    return der(0x06, out.toByteArray());
  }

  private static void base128(ByteArrayOutputStream out, long v) {
    int groups = 1;
    while (v >>> (7 * groups) != 0) {
      groups++;
    }
    for (int g = groups - 1; g >= 0; g--) {
      out.write((int) ((v >>> (7 * g)) & 0x7F) | (g == 0 ? 0 : 0x80));
    }
  }

  static byte[] der(int tag, byte[]... parts) {
    ByteArrayOutputStream content = new ByteArrayOutputStream();
    for (byte[] p : parts) {
      content.writeBytes(p);
    }
    int n = content.size();
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    out.write(tag);
    if (n < 0x80) {
      out.write(n);
    } else if (n < 0x100) {
      out.write(0x81);
      out.write(n);
    } else {
      out.write(0x82);
      out.write(n >>> 8);
      out.write(n);
    }
    out.writeBytes(content.toByteArray());
    return out.toByteArray();
  }
}
