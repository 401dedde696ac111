package dev.portcullis.handshake.proxy;

import dev.portcullis.handshake.Handshake;
import dev.portcullis.handshake.HandshakeContext;
import dev.portcullis.handshake.HandshakeException;
import dev.portcullis.handshake.HandshakeStep;
import dev.portcullis.policy.AccessPolicy;
import dev.portcullis.policy.Cidr;
import dev.portcullis.policy.Rule;
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
 *       connection too.
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
  private final AccessPolicy trustedPolicy;

  /**
   * A step that trusts no proxy yet; the same as {@code Handshakes.proxyProtocol()}. {@code
   * Server.start()} refuses it until {@link #trustedFrom} names one.
   *
   * @return the step
   */
  public static ProxyProtocol create() {
    return new ProxyProtocol(List.of());
  }

  private ProxyProtocol(List<Cidr> trusted) {
    this.trusted = List.copyOf(trusted);
    List<Rule> rules = new ArrayList<>();
    for (Cidr c : this.trusted) {
      rules.add(Rule.allow(c));
    }
    this.trustedPolicy = AccessPolicy.of(rules);
  }

  /**
   * A step that also trusts headers from these proxies.
   *
   * @param cidrs prefixes such as {@code 10.0.0.1/32}
   * @return a new step; this one is unchanged
   * @throws IllegalArgumentException for a malformed prefix, quoting it
   */
  public ProxyProtocol trustedFrom(String... cidrs) {
    List<Cidr> all = new ArrayList<>(trusted);
    for (String c : cidrs) {
      all.add(Cidr.parse(Objects.requireNonNull(c, "cidr")));
    }
    return new ProxyProtocol(all);
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
   * Refuses a step that trusts no proxy: every connection would be closed.
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
              + context.socketPeer() + " is not a TCP peer");
        }
        if (!trustedPolicy.decide(proxy.getAddress()).isAllowed()) {
          throw new HandshakeException("PROXY protocol headers are accepted only from trusted proxies; "
              + proxy.getAddress().getHostAddress() + " is not one");
        }
        return Progress.NEED_MORE;
      }

      @Override
      public Progress onInput(ByteBuffer input, HandshakeContext context) throws HandshakeException {
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
    return "proxy-protocol trusted from " + trusted;
  }
}
