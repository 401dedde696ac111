package dev.portcullis.handshake.proxy;

import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Optional;

/**
 * A parsed PROXY protocol header (HAProxy's {@code doc/proxy-protocol.txt}, versions 1 and 2), as
 * a handler sees it through {@code connection.attribute(ProxyHeader.class)}.
 *
 * <pre>{@code
 * ProxyHeader h = conn.attribute(ProxyHeader.class).orElseThrow();
 * h.source();          // the real client, as the proxy saw it
 * h.authority();       // the TLS SNI the proxy received (v2 AUTHORITY TLV)
 * h.ssl().map(ProxyHeader.Ssl::commonName);
 * }</pre>
 */
public final class ProxyHeader {
  /** What the header says about the connection. */
  public enum Command {
    /** The proxy connected on its own behalf (a health check): the socket's addresses stand. */
    LOCAL,
    /** The proxy relays a client: {@link #source()} is that client. */
    PROXY
  }

  /** The address family and transport of the relayed connection. */
  public enum Family {
    /** TCP over IPv4. */
    TCP4,
    /** TCP over IPv6. */
    TCP6,
    /** A Unix stream socket (v2 only); the paths are not exposed as socket addresses. */
    UNIX,
    /** Unknown or unspecified: the socket's addresses stand. */
    UNKNOWN
  }

  /** TLV types defined by the specification. */
  public static final int PP2_TYPE_ALPN = 0x01;
  /** The host name the client asked for (TLS SNI or HTTP authority). */
  public static final int PP2_TYPE_AUTHORITY = 0x02;
  /** A CRC32C checksum of the whole header. */
  public static final int PP2_TYPE_CRC32C = 0x03;
  /** Padding, to be ignored. */
  public static final int PP2_TYPE_NOOP = 0x04;
  /** An opaque connection identifier of up to 128 bytes. */
  public static final int PP2_TYPE_UNIQUE_ID = 0x05;
  /** TLS details of the client connection, with sub-TLVs. */
  public static final int PP2_TYPE_SSL = 0x20;
  /** The network namespace the proxy accepted the connection in. */
  public static final int PP2_TYPE_NETNS = 0x30;

  /**
   * One type-length-value field of a v2 header.
   *
   * @param type the TLV type, such as {@link #PP2_TYPE_AUTHORITY}
   * @param value the TLV's value bytes
   */
  public record Tlv(int type, byte[] value) {
    /**
     * Copies the value.
     *
     * @param type the TLV type
     * @param value the value bytes; copied
     */
    public Tlv {
      value = value.clone();
    }

    /**
     * A copy of the value.
     *
     * @return a fresh copy of the value bytes
     */
    @Override
    public byte[] value() {
      return value.clone();
    }

    /**
     * The value as UTF-8 text.
     *
     * @return the value decoded as UTF-8
     */
    public String text() {
      return new String(value, StandardCharsets.UTF_8);
    }
  }

  /**
   * The {@code PP2_TYPE_SSL} TLV: how the client reached the proxy over TLS.
   *
   * @param client the client bit field ({@code PP2_CLIENT_SSL = 0x01}, {@code _CERT_CONN = 0x02},
   *     {@code _CERT_SESS = 0x04})
   * @param verify 0 when the client presented a certificate the proxy verified
   * @param version the TLS version, such as {@code TLSv1.3}
   * @param commonName the client certificate's subject CN
   * @param cipher the cipher suite
   * @param signatureAlgorithm the certificate's signature algorithm
   * @param keyAlgorithm the certificate's key algorithm
   */
  public record Ssl(int client, int verify, Optional<String> version, Optional<String> commonName,
      Optional<String> cipher, Optional<String> signatureAlgorithm, Optional<String> keyAlgorithm) {
    /**
     * Whether the client connected to the proxy over TLS.
     *
     * @return {@code true} if the {@code PP2_CLIENT_SSL} bit is set
     */
    public boolean isTls() {
      return (client & 0x01) != 0;
    }

    /**
     * Whether the client presented a certificate that the proxy verified.
     *
     * @return {@code true} if a certificate bit is set and {@code verify} is 0
     */
    public boolean clientCertificateVerified() {
      return (client & 0x06) != 0 && verify == 0;
    }
  }

  private final int version;
  private final Command command;
  private final Family family;
  private final InetSocketAddress source;
  private final InetSocketAddress destination;
  private final List<Tlv> tlvs;
  private final Ssl ssl;
  private final boolean crcChecked;

  ProxyHeader(int version, Command command, Family family, InetSocketAddress source,
      InetSocketAddress destination, List<Tlv> tlvs, Ssl ssl, boolean crcChecked) {
    this.version = version;
    this.command = command;
    this.family = family;
    this.source = source;
    this.destination = destination;
    this.tlvs = List.copyOf(tlvs);
    this.ssl = ssl;
    this.crcChecked = crcChecked;
  }

  /**
   * 1 for the text header, 2 for the binary one.
   *
   * @return the header's version, 1 or 2
   */
  public int version() {
    return version;
  }

  /**
   * {@code LOCAL} or {@code PROXY}; a v1 header is always {@code PROXY}.
   *
   * @return the command, never null
   */
  public Command command() {
    return command;
  }

  /**
   * The relayed connection's family.
   *
   * @return the family, never null
   */
  public Family family() {
    return family;
  }

  /**
   * The client the proxy relays, for a {@code PROXY} command over TCP.
   *
   * @return the client's address, or empty for {@code LOCAL}, {@code UNIX} or {@code UNKNOWN}
   */
  public Optional<InetSocketAddress> source() {
    return Optional.ofNullable(source);
  }

  /**
   * The address the client connected to on the proxy, for a {@code PROXY} command over TCP.
   *
   * @return the destination address, or empty when there is no source
   */
  public Optional<InetSocketAddress> destination() {
    return Optional.ofNullable(destination);
  }

  /**
   * Every TLV of a v2 header, in order (empty for v1).
   *
   * @return the TLVs, unmodifiable
   */
  public List<Tlv> tlvs() {
    return tlvs;
  }

  /**
   * The first TLV of this type.
   *
   * @param type a TLV type, such as {@link #PP2_TYPE_AUTHORITY}
   * @return the first TLV of that type, or empty if the header has none
   */
  public Optional<Tlv> tlv(int type) {
    return tlvs.stream().filter(t -> t.type() == type).findFirst();
  }

  /**
   * The ALPN protocol the client negotiated with the proxy, such as {@code h2}.
   *
   * @return the protocol, or empty without a {@code PP2_TYPE_ALPN} TLV
   */
  public Optional<String> alpn() {
    return tlv(PP2_TYPE_ALPN).map(Tlv::text);
  }

  /**
   * The host name the client asked for (TLS SNI).
   *
   * @return the host name, or empty without a {@code PP2_TYPE_AUTHORITY} TLV
   */
  public Optional<String> authority() {
    return tlv(PP2_TYPE_AUTHORITY).map(Tlv::text);
  }

  /**
   * The proxy's opaque connection identifier.
   *
   * @return a copy of the identifier, or empty without a {@code PP2_TYPE_UNIQUE_ID} TLV
   */
  public Optional<byte[]> uniqueId() {
    return tlv(PP2_TYPE_UNIQUE_ID).map(Tlv::value);
  }

  /**
   * The network namespace name.
   *
   * @return the namespace, or empty without a {@code PP2_TYPE_NETNS} TLV
   */
  public Optional<String> netns() {
    return tlv(PP2_TYPE_NETNS).map(Tlv::text);
  }

  /**
   * TLS details of the client's connection to the proxy.
   *
   * @return the details, or empty without a {@code PP2_TYPE_SSL} TLV
   */
  public Optional<Ssl> ssl() {
    return Optional.ofNullable(ssl);
  }

  /**
   * Whether the header carried a CRC32C TLV, which was verified (a wrong one is refused).
   *
   * @return {@code true} if a CRC32C TLV was present and matched
   */
  public boolean crc32cChecked() {
    return crcChecked;
  }

  @Override
  public String toString() {
    return "ProxyHeader[v" + version + " " + command + " " + family
        + (source != null ? " " + dev.portcullis.policy.IpAddresses.format(source) + " -> "
            + dev.portcullis.policy.IpAddresses.format(destination) : "") + (tlvs.isEmpty() ? "" : ", " + tlvs.size()
        + " TLVs") + "]";
  }
}
