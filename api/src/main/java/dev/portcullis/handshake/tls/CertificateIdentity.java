package dev.portcullis.handshake.tls;

import dev.portcullis.handshake.Identity;
import java.security.cert.X509Certificate;
import java.util.List;
import java.util.Objects;

/**
 * The identity a TLS client proved: its verified certificate chain. {@link #name()} is the leaf
 * certificate's subject in RFC 2253 form, such as {@code CN=alice,O=Example}.
 *
 * @param chain the client's chain as verified, leaf first; never empty
 */
public record CertificateIdentity(List<X509Certificate> chain) implements Identity {
  /**
   * Checks and copies the chain.
   *
   * @param chain the verified chain, leaf first
   * @throws IllegalArgumentException if the chain is empty
   */
  public CertificateIdentity {
    chain = List.copyOf(Objects.requireNonNull(chain, "chain"));
    if (chain.isEmpty()) {
      throw new IllegalArgumentException("a certificate identity needs at least the client's own certificate");
    }
  }

  /** {@code tls}. */
  @Override
  public String kind() {
    return "tls";
  }

  /** The leaf certificate's subject, RFC 2253. */
  @Override
  public String name() {
    return leaf().getSubjectX500Principal().getName();
  }

  /**
   * The client's own certificate, first of the chain.
   *
   * @return the leaf certificate
   */
  public X509Certificate leaf() {
    return chain.get(0);
  }

  /** {@code tls:SUBJECT}. */
  @Override
  public String toString() {
    return "tls:" + name();
  }
}
