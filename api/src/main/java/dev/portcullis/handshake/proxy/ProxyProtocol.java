package dev.portcullis.handshake.proxy;

import dev.portcullis.handshake.Handshake;
import dev.portcullis.handshake.HandshakeContext;
import dev.portcullis.handshake.HandshakeException;
import dev.portcullis.handshake.HandshakeStep;
import dev.portcullis.policy.Cidr;
import dev.portcullis.policy.CidrSet;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * The PROXY protocol (v1 text and v2 binary), for servers behind HAProxy, nginx, Envoy or a cloud
 * load balancer: the proxy prepends a header naming the real client, and this step makes that
 * client the connection's peer.
 *
 * <pre>{@code
 * Server.on(7000)
 *     .allow("10.0.0.1")                 // the proxy itself must be allowed
 *     .allow("192.0.2.0/24")             // and so must the clients it relays
 *     .handshake(Handshakes.proxyProtocol().trustedFrom("10.0.0.1/32"))
 *     .handle(conn -> log(conn.peer()))  // the client, not the proxy
 *     .start();
 * }</pre>
 *
 * <ul>
 *   <li>Only a socket peer inside {@link #trustedFrom} may send a header; a connection from anyone
 *       else is closed without reading it. A missing, malformed or second header closes the
 *       connection too. {@link #optional()} instead serves a mixed port, where the proxy's health
 *       checks and direct clients arrive without a header.
 *   <li>After the chain, the access policy decides again on the relayed client's address: the
 *       proxy's address must have been allowed, and so must the client's.
 *   <li>{@code LOCAL} (v2), {@code UNKNOWN} (v1) and non-TCP families keep the socket's address.
 *   <li>v2 TLVs are parsed and exposed ({@link ProxyHeader}, through {@code
 *       connection.attribute(ProxyHeader.class)}); a CRC32C TLV is verified. Lengths are checked
 *       before anything waits for them, and the header may not exceed the 16 KiB handshake buffer.
 *   <li>Bytes that follow the header reach the next step, or the handler, intact.
 * </ul>
 *
 * The step must come first in the chain, and may appear once; {@code start()} checks both.
 */
public final class ProxyProtocol implements Handshake {
  private final List<Cidr> trusted;
  private final boolean optional;
  private final CidrSet trustedSet;

  /**
   * A step that trusts no proxy yet; the same as {@code Handshakes.proxyProtocol()}. {@code
   * Server.start()} refuses it until {@link #trustedFrom} names one.
   *
   * @return the step
   */
  public static ProxyProtocol create() {
    return new ProxyProtocol(List.of(), false);
  }

  private ProxyProtocol(List<Cidr> trusted, boolean optional) {
    this.trusted = List.copyOf(trusted);
    this.optional = optional;
    this.trustedSet = CidrSet.of(this.trusted);
  }

  /**
   * A step that also trusts headers from these proxies.
   *
   * @param cidrs prefixes such as {@code 10.0.0.1/32}
   * @return a new step, {@link #optional()} if this one is; this one is unchanged
   * @throws IllegalArgumentException for a malformed prefix, quoting it
   */
  public ProxyProtocol trustedFrom(String... cidrs) {
    List<Cidr> all = new ArrayList<>(trusted);
    for (String c : cidrs) {
      all.add(Cidr.parse(Objects.requireNonNull(c, "cidr")));
    }
    return new ProxyProtocol(all, optional);
  }

  /**
   * A step for a mixed port, where a header may or may not come: the proxy sends one for the
   * clients it relays, but its health checks, and clients that connect directly, send none (as
   * HAProxy's {@code tcp-request connection expect-proxy layer4 if { src -f proxies.lst }}, Envoy's
   * {@code allow_requests_without_proxy_protocol} and Jetty's detecting connection factory do).
   *
   * <pre>{@code
   * Server.on(7000)
   *     .allow("10.0.0.1").allow("192.0.2.0/24")
   *     .handshake(Handshakes.proxyProtocol().trustedFrom("10.0.0.1/32").optional())
   *     .handle(conn -> ...)   // conn.peer(): the relayed client, the proxy itself, or a direct client
   *     .start();
   * }</pre>
   *
   * <ul>
   *   <li><b>From a trusted proxy</b> the step tells a header by its signature: the v1 prefix
   *       {@code "PROXY "} or the 12-byte v2 signature {@code \r\n\r\n\0\r\nQUIT\n}. It decides at
   *       the first byte that differs from both (a first byte other than {@code P} or CR is
   *       enough, so most protocols are told at once), and then hands every byte it read,
   *       untouched, to the next step or the handler; the peer stays the socket peer (the proxy),
   *       which the access policy and the per-source limits decide on. Bytes that match a
   *       signature's start ({@code "PRO"}, a CRLF) are waited on until they differ or complete it;
   *       a complete signature is a header, which must then be valid (a malformed one closes the
   *       connection). A trusted peer that sends part of a signature, or nothing, and then waits
   *       for the server (a protocol where the server speaks first) is closed at the handshake
   *       deadline ({@code Server.handshakeTimeout}, 10 s by default): from a trusted address the
   *       client must speak first.
   *   <li><b>From anyone else</b> nothing is read: the connection goes on to the next step at once,
   *       and a header it sends is never honoured. Its bytes, header text included, reach the
   *       next step or the handler as data, with the socket peer as the peer, as HAProxy does for a
   *       source its {@code expect-proxy} condition leaves out.
   * </ul>
   *
   * <p>Trust only addresses that send a header for every client they relay: a proxy frontend
   * that forwards a client's bytes without one would let that client write a header of its own
   * and be taken for whomever it names. A proxy's own health checks are safe.
   *
   * @return a new step that accepts connections without a header; this one is unchanged
   */
  public ProxyProtocol optional() {
    return new ProxyProtocol(trusted, true);
  }

  /**
   * Whether a header may be absent ({@link #optional()}).
   *
   * @return {@code true} for a step made with {@link #optional()}; by default {@code false}: a
   *     trusted peer must send a header and anyone else is refused
   */
  public boolean isOptional() {
    return optional;
  }

  /**
   * The proxies whose headers are accepted.
   *
   * @return the trusted prefixes, unmodifiable; empty if none was given
   */
  public List<Cidr> trusted() {
    return trusted;
  }

  /** {@code proxy-protocol}. */
  @Override
  public String name() {
    return "proxy-protocol";
  }

  /** A proxy writes its header before any other byte, so this step must run first. */
  @Override
  public boolean mustRunFirst() {
    return true;
  }

  /**
   * Refuses a step that trusts no proxy: every connection would be closed (with {@link
   * #optional()}, no header would ever be honoured).
   *
   * @throws IllegalStateException if {@link #trustedFrom} was never given a prefix
   */
  @Override
  public void validate() {
    if (trusted.isEmpty()) {
      throw new IllegalStateException("The PROXY protocol step trusts no proxy: say which with"
          + " Handshakes.proxyProtocol().trustedFrom(\"10.0.0.1/32\")");
    }
  }

  /**
   * The trusted proxies: per-source limits count the client a header names, not the proxy.
   *
   * @return {@link #trusted()}
   */
  @Override
  public List<Cidr> relaysFrom() {
    return trusted;
  }

  @Override
  public HandshakeStep newStep() {
    return new HandshakeStep() {
      @Override
      public Progress begin(HandshakeContext context) throws HandshakeException {
        if (!(context.socketPeer() instanceof java.net.InetSocketAddress proxy)) {
          throw new HandshakeException("PROXY protocol headers are accepted from trusted TCP proxies only; "
              + dev.portcullis.policy.IpAddresses.format(context.socketPeer()) + " is not a TCP peer");
        }
        if (!trustedSet.contains(proxy.getAddress())) {
          if (optional) {
            return Progress.DONE; // read nothing: whatever this peer sends is its own data
          }
          throw new HandshakeException("PROXY protocol headers are accepted only from trusted proxies; "
              + dev.portcullis.policy.IpAddresses.format(proxy.getAddress()) + " is not one");
        }
        return Progress.NEED_MORE;
      }

      @Override
      public Progress onInput(ByteBuffer input, HandshakeContext context) throws HandshakeException {
        if (optional) {
          ProxyHeaderParser.Signature signature = ProxyHeaderParser.detect(input);
          if (signature == ProxyHeaderParser.Signature.UNDECIDED) {
            return Progress.NEED_MORE;
          }
          if (signature == ProxyHeaderParser.Signature.NONE) {
            return Progress.DONE; // nothing consumed: the bytes go on as they came
          }
        }
        ProxyHeader header = ProxyHeaderParser.parse(input);
        if (header == null) {
          return Progress.NEED_MORE;
        }
        if (ProxyHeaderParser.startsWithHeader(input)) {
          throw new HandshakeException("a second PROXY protocol header follows the first");
        }
        context.attach(ProxyHeader.class, header);
        header.source().ifPresent(context::replacePeer);
        return Progress.DONE;
      }
    };
  }

  @Override
  public String toString() {
    return "proxy-protocol trusted from " + trusted + (optional ? ", header optional" : "");
  }
}
