package dev.portcullis.handshake.tls;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.PrivateKey;
import java.security.Signature;
import java.security.cert.Certificate;
import java.security.cert.CertificateException;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.security.interfaces.ECKey;
import java.security.spec.InvalidKeySpecException;
import java.security.spec.PKCS8EncodedKeySpec;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Locale;

/**
 * Reads certificates and private keys from PEM files, as {@code openssl} writes them. Every error
 * names the file and says what is wrong with it.
 */
final class Pem {
  private static final String[] KEY_ALGORITHMS = {"RSA", "EC", "Ed25519", "Ed448", "RSASSA-PSS"};

  private Pem() {}

  /** Every {@code CERTIFICATE} block of the file, in order: for a server, leaf first. */
  static List<X509Certificate> certificates(Path file, String role) throws IOException {
    List<X509Certificate> out = new ArrayList<>();
    try {
      CertificateFactory factory = CertificateFactory.getInstance("X.509");
      for (Block b : blocks(file, role)) {
        if (b.type.equals("CERTIFICATE")) {
          for (Certificate c : factory.generateCertificates(new ByteArrayInputStream(b.der))) {
            out.add((X509Certificate) c);
          }
        }
      }
    } catch (CertificateException e) {
      throw new IllegalArgumentException(file + ": not a valid X.509 certificate: " + e.getMessage(), e);
    }
    if (out.isEmpty()) {
      throw new IllegalArgumentException(file + ": no '-----BEGIN CERTIFICATE-----' block found");
    }
    return out;
  }

  /** The one private key of the file: PKCS#8 ({@code PRIVATE KEY}) or PKCS#1 ({@code RSA PRIVATE KEY}). */
  static PrivateKey privateKey(Path file, String role) throws IOException {
    PrivateKey found = null;
    for (Block b : blocks(file, role)) {
      PrivateKey key;
      switch (b.type) {
        case "PRIVATE KEY" -> key = pkcs8(file, b.der);
        case "RSA PRIVATE KEY" -> key = pkcs8(file, rsaPkcs1ToPkcs8(b.der));
        case "ENCRYPTED PRIVATE KEY" -> throw new IllegalArgumentException(file + ": the private key is"
            + " encrypted; decrypt it first (openssl pkcs8 -in KEY -out PLAIN.pem) and protect the file instead");
        case "EC PRIVATE KEY" -> throw new IllegalArgumentException(file + ": SEC1 'EC PRIVATE KEY' is not"
            + " read; convert it to PKCS#8 with: openssl pkcs8 -topk8 -nocrypt -in KEY -out KEY8.pem");
        default -> key = null;
      }
      if (key != null) {
        if (found != null) {
          throw new IllegalArgumentException(file + ": more than one private key; keep only the server's");
        }
        found = key;
      }
    }
    if (found == null) {
      throw new IllegalArgumentException(file + ": no '-----BEGIN PRIVATE KEY-----' block found");
    }
    return found;
  }

  /** Fails unless {@code key} signs what the certificate's public key verifies. */
  static void checkPair(PrivateKey key, X509Certificate leaf, Path keyFile, Path certFile) {
    String algorithm = switch (key.getAlgorithm()) {
      case "RSA" -> "SHA256withRSA";
      case "EC" -> "SHA256withECDSA";
      case "RSASSA-PSS" -> "RSASSA-PSS";
      default -> key.getAlgorithm(); // Ed25519, Ed448
    };
    boolean matches;
    try {
      if (!key.getAlgorithm().equals(leaf.getPublicKey().getAlgorithm())
          && !(key instanceof ECKey && leaf.getPublicKey() instanceof ECKey)) {
        matches = false;
      } else {
        byte[] probe = "portcullis key check".getBytes(StandardCharsets.US_ASCII);
        Signature s = Signature.getInstance(algorithm);
        if (algorithm.equals("RSASSA-PSS")) {
          s.setParameter(new java.security.spec.PSSParameterSpec("SHA-256", "MGF1",
              java.security.spec.MGF1ParameterSpec.SHA256, 32, 1));
        }
        s.initSign(key);
        s.update(probe);
        byte[] sig = s.sign();
        s.initVerify(leaf.getPublicKey());
        s.update(probe);
        matches = s.verify(sig);
      }
    } catch (GeneralSecurityException e) {
      matches = false;
    }
    if (!matches) {
      throw new IllegalArgumentException(keyFile + ": this private key does not belong to the first certificate of "
          + certFile + " (" + leaf.getSubjectX500Principal().getName() + ")");
    }
  }

  private static PrivateKey pkcs8(Path file, byte[] der) {
    for (String algorithm : KEY_ALGORITHMS) {
      try {
        return KeyFactory.getInstance(algorithm).generatePrivate(new PKCS8EncodedKeySpec(der));
      } catch (InvalidKeySpecException | java.security.NoSuchAlgorithmException e) {
        // try the next algorithm
      }
    }
    throw new IllegalArgumentException(file + ": the private key is not an RSA, EC, Ed25519 or Ed448 key"
        + " this JDK can read");
  }

  /** Wraps a PKCS#1 RSAPrivateKey in a PKCS#8 PrivateKeyInfo (version 0, rsaEncryption, NULL). */
  private static byte[] rsaPkcs1ToPkcs8(byte[] pkcs1) {
    byte[] algorithm = {0x30, 0x0d, 0x06, 0x09, 0x2a, (byte) 0x86, 0x48, (byte) 0x86, (byte) 0xf7, 0x0d, 0x01, 0x01,
        0x01, 0x05, 0x00};
    byte[] version = {0x02, 0x01, 0x00};
    byte[] octets = tlv(0x04, pkcs1);
    byte[] body = new byte[version.length + algorithm.length + octets.length];
    System.arraycopy(version, 0, body, 0, version.length);
    System.arraycopy(algorithm, 0, body, version.length, algorithm.length);
    System.arraycopy(octets, 0, body, version.length + algorithm.length, octets.length);
    return tlv(0x30, body);
  }

  private static byte[] tlv(int tag, byte[] value) {
    int n = value.length;
    byte[] length;
    if (n < 0x80) {
      length = new byte[] {(byte) n};
    } else if (n < 0x100) {
      length = new byte[] {(byte) 0x81, (byte) n};
    } else if (n < 0x10000) {
      length = new byte[] {(byte) 0x82, (byte) (n >> 8), (byte) n};
    } else {
      length = new byte[] {(byte) 0x83, (byte) (n >> 16), (byte) (n >> 8), (byte) n};
    }
    byte[] out = new byte[1 + length.length + n];
    out[0] = (byte) tag;
    System.arraycopy(length, 0, out, 1, length.length);
    System.arraycopy(value, 0, out, 1 + length.length, n);
    return out;
  }

  private record Block(String type, byte[] der) {}

  /** Role names for messages: what the file is for, and the method and launcher flag that named it. */
  static final String SERVER_CHAIN = "server certificate chain (Handshakes.tls(certificateChain, ...), --tls-cert)";
  static final String SERVER_KEY = "private key (Handshakes.tls(..., privateKey), --tls-key)";
  static final String CLIENT_CA = "client CA (Tls.requireClientCertificate(...), --tls-client-ca)";

  private static List<Block> blocks(Path file, String role) throws IOException {
    byte[] bytes;
    try {
      bytes = Files.readAllBytes(file);
    } catch (java.nio.file.NoSuchFileException e) {
      throw new java.nio.file.NoSuchFileException(file.toString(), null, "no such file for the " + role);
    } catch (java.nio.file.AccessDeniedException e) {
      throw new java.nio.file.AccessDeniedException(file.toString(), null, "cannot read the " + role);
    }
    // ISO-8859-1 decodes any byte: comments in CA bundles may be UTF-8, and a BOM may lead.
    String text = new String(bytes, StandardCharsets.ISO_8859_1);
    if (text.startsWith("\u00ef\u00bb\u00bf")) {
      text = text.substring(3);
    }
    List<String> lines = text.lines().toList();
    List<Block> out = new ArrayList<>();
    String type = null;
    StringBuilder body = new StringBuilder();
    int lineNo = 0;
    int begin = 0;
    for (String raw : lines) {
      lineNo++;
      String line = raw.strip();
      if (type == null) {
        if (line.startsWith("-----BEGIN ") && line.endsWith("-----")) {
          type = line.substring(11, line.length() - 5);
          begin = lineNo;
          body.setLength(0);
        }
      } else if (line.startsWith("-----BEGIN ")) {
        throw new IllegalArgumentException(file + ":" + lineNo + ": a new block begins before the '" + type
            + "' block of line " + begin + " ends");
      } else if (line.startsWith("-----END ")) {
        if (!line.equals("-----END " + type + "-----")) {
          throw new IllegalArgumentException(file + ":" + lineNo + ": '" + line + "' does not close the '"
              + type + "' block of line " + begin);
        }
        try {
          out.add(new Block(type, Base64.getDecoder().decode(body.toString())));
        } catch (IllegalArgumentException e) {
          throw new IllegalArgumentException(file + ":" + begin + ": the '" + type + "' block is not valid base64", e);
        }
        type = null;
      } else if (!line.contains(":")) { // skip RFC 1421 headers such as Proc-Type
        body.append(line);
      } else if (line.toUpperCase(Locale.ROOT).startsWith("PROC-TYPE") && line.contains("ENCRYPTED")) {
        throw new IllegalArgumentException(file + ":" + lineNo + ": the private key is encrypted;"
            + " decrypt it first (openssl pkey -in KEY -out PLAIN.pem)");
      }
    }
    if (type != null) {
      throw new IllegalArgumentException(file + ":" + begin + ": the '" + type + "' block has no END line");
    }
    return out;
  }
}
