package dev.portcullis.netty;

import dev.portcullis.admission.AdmissionChain;
import dev.portcullis.admission.PendingHandshake;
import dev.portcullis.admission.Refusal;
import dev.portcullis.policy.IpAddresses;
import io.netty.buffer.ByteBuf;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.codec.haproxy.HAProxyCommand;
import io.netty.handler.codec.haproxy.HAProxyMessage;
import io.netty.handler.codec.haproxy.HAProxyMessageDecoder;
import io.netty.handler.codec.haproxy.HAProxyProxiedProtocol;
import io.netty.util.ReferenceCountUtil;
import io.netty.util.concurrent.ScheduledFuture;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.TimeUnit;

/**
 * One channel's PROXY protocol handshake, as Portcullis's own step runs it: a pending handshake
 * under the cap, Netty's {@link HAProxyMessageDecoder} for the header, then the chain's decision on
 * the client it names. The application's handlers see {@code channelActive} and the bytes after the
 * header only once that client is admitted. Everything runs on the channel's event loop.
 */
final class ProxyStages {
  static final String STEP = "proxy-protocol";
  private static final byte[] V1_PREFIX = "PROXY ".getBytes(StandardCharsets.US_ASCII);
  private static final byte[] V2_SIGNATURE = {
      0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};

  private final PortcullisNetty guard;
  private final AdmissionChain chain;
  private final Channel channel;
  private final SocketAddress peer;
  private PendingHandshake pending;
  /** Whether the pending handshake has had its one outcome. */
  private boolean ended;
  /** Whether the connection was refused after the gate admitted it: nothing more goes on. */
  private boolean refused;
  private ScheduledFuture<?> deadline;
  private final Relayed relayed = new Relayed();

  ProxyStages(PortcullisNetty guard, Channel channel, SocketAddress peer) {
    this.guard = guard;
    this.chain = guard.chain();
    this.channel = channel;
    this.peer = peer;
  }

  /**
   * Starts the handshake of a channel the gate admitted.
   *
   * @param gateCtx the gate's context, which this replaces: the gate leaves the pipeline unless the
   *     channel is refused
   * @param fromTrusted whether the socket's peer is a trusted proxy
   * @param fireRegistered whether to pass {@code channelRegistered} on
   */
  void begin(ChannelHandlerContext gateCtx, boolean fromTrusted, boolean fireRegistered) {
    pending = chain.pendingHandshake(channel, peer, null, channel::close);
    if (chain.beginHandshake(pending).refused()) {
      ended = true; // counted and logged as a refusal by the chain
      refuse(gateCtx);
      return;
    }
    if (!fromTrusted) {
      if (guard.proxy().isOptional()) {
        // Nothing is read: this peer's bytes are its own data, a header among them never honoured.
        ended = true;
        if (chain.afterHandshake(pending, null).refused()) {
          refuse(gateCtx);
          return;
        }
        admitted(null);
        if (fireRegistered) {
          gateCtx.fireChannelRegistered();
        }
        gateCtx.pipeline().remove(gateCtx.name());
        return;
      }
      ended = true;
      chain.handshakeFailed(pending, null, STEP, "PROXY protocol headers are accepted only from trusted proxies; "
          + IpAddresses.format(((InetSocketAddress) peer).getAddress()) + " is not one", false);
      refuse(gateCtx);
      return;
    }
    String after = gateCtx.name();
    gateCtx.pipeline().addAfter(after, "portcullis-proxy-client", relayed);
    gateCtx.pipeline().addAfter(after, "portcullis-proxy-decoder", new HAProxyMessageDecoder());
    if (guard.proxy().isOptional()) {
      gateCtx.pipeline().addAfter(after, "portcullis-proxy-detect", new Detect());
    }
    long timeout = guard.handshakeTimeout().toNanos();
    deadline = channel.eventLoop().schedule(() -> fail("no PROXY header within the handshake timeout", true),
        timeout, TimeUnit.NANOSECONDS);
    if (fireRegistered) {
      gateCtx.fireChannelRegistered();
    }
    gateCtx.pipeline().remove(gateCtx.name());
  }

  private static void refuse(ChannelHandlerContext gateCtx) {
    gateCtx.channel().attr(Gate.REFUSED).set(Boolean.TRUE);
    gateCtx.close();
  }

  private void admitted(InetSocketAddress client) {
    channel.attr(PortcullisNetty.CLIENT).set(client != null ? client
        : peer instanceof InetSocketAddress ip ? ip : null);
    chain.counters().handled.incrementAndGet();
  }

  /** The header named {@code client} (or none): the chain decides again. */
  private void decide(InetSocketAddress client) {
    if (ended) {
      return;
    }
    ended = true;
    cancelDeadline();
    if (chain.afterHandshake(pending, client).refused()) {
      refused = true;
      channel.close();
      return;
    }
    admitted(client);
    relayed.admit();
  }

  /** The handshake failed: counted, an offence, and the connection closed. */
  private void fail(String why, boolean timedOut) {
    if (ended) {
      return;
    }
    ended = true;
    cancelDeadline();
    refused = true;
    chain.handshakeFailed(pending, null, STEP, why, timedOut);
    channel.close();
  }

  /** Whether the handshake has begun and not ended yet. */
  boolean pending() {
    return pending != null && !ended;
  }

  /** The channel closed: a handshake still pending ends here. */
  void closed() {
    if (pending != null && !ended) {
      ended = true;
      cancelDeadline();
      chain.handshakeFailed(pending, null, STEP, "the connection closed before its PROXY header", false);
    }
  }

  private void cancelDeadline() {
    if (deadline != null) {
      deadline.cancel(false);
    }
  }

  /** The client a header names, or null to keep the socket's peer (LOCAL, UNKNOWN, not TCP). */
  static InetSocketAddress client(HAProxyMessage m) {
    if (m.command() != HAProxyCommand.PROXY || (m.proxiedProtocol() != HAProxyProxiedProtocol.TCP4
        && m.proxiedProtocol() != HAProxyProxiedProtocol.TCP6)) {
      return null;
    }
    return new InetSocketAddress(IpAddresses.parse(m.sourceAddress()), m.sourcePort());
  }

  /**
   * After the decoder: takes the header, holds {@code channelActive} back until the client is
   * admitted, then lets everything through and leaves. A refused channel's events stop here, but
   * for {@code channelUnregistered} (the handlers after it saw {@code channelRegistered}).
   */
  private final class Relayed extends ChannelInboundHandlerAdapter {
    private ChannelHandlerContext ctx;
    private boolean activeHeld;

    @Override
    public void handlerAdded(ChannelHandlerContext ctx) {
      this.ctx = ctx;
    }

    void admit() {
      if (activeHeld) {
        ctx.fireChannelActive();
      }
      ctx.pipeline().remove(this);
    }

    @Override
    public void channelActive(ChannelHandlerContext ctx) {
      activeHeld = true;
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
      if (msg instanceof HAProxyMessage m) {
        InetSocketAddress client;
        try {
          client = client(m);
        } catch (IllegalArgumentException e) {
          fail("the PROXY header's source is not an address: " + e.getMessage(), false);
          return;
        } finally {
          m.release();
        }
        decide(client);
      } else {
        ReferenceCountUtil.release(msg); // after a refusal (before the decision the decoder holds every byte)
      }
    }

    @Override
    public void channelReadComplete(ChannelHandlerContext ctx) {
      // the handlers after this one hear of reads once the client is admitted
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
      // they never saw channelActive
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
      fail(cause.getMessage() == null ? cause.getClass().getSimpleName() : cause.getMessage(), false);
    }

    @Override
    public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
      if (refused) {
        ReferenceCountUtil.release(evt);
      } else {
        ctx.fireUserEventTriggered(evt);
      }
    }
  }

  /**
   * Before the decoder, for {@link dev.portcullis.handshake.proxy.ProxyProtocol#optional()}: the
   * first bytes decide. A header's signature (the v1 {@code "PROXY "} or the 12-byte v2 one) goes
   * on to the decoder; anything that differs from both is the application's, the peer stays the
   * socket's, and the decoder leaves. It holds at most 12 bytes.
   */
  private final class Detect extends ChannelInboundHandlerAdapter {
    private ByteBuf held;

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
      if (!(msg instanceof ByteBuf in)) {
        ctx.fireChannelRead(msg);
        return;
      }
      if (held == null) {
        held = in;
      } else {
        ByteBuf both = ctx.alloc().buffer(held.readableBytes() + in.readableBytes());
        both.writeBytes(held).writeBytes(in);
        held.release();
        in.release();
        held = both;
      }
      int seen = signature(held);
      if (seen == 0) {
        return; // a signature's start: wait for more
      }
      ByteBuf bytes = held;
      held = null;
      ctx.pipeline().remove(this);
      if (seen > 0) {
        ctx.fireChannelRead(bytes); // to the decoder
        return;
      }
      ctx.pipeline().remove(HAProxyMessageDecoder.class);
      decide(null);
      if (refused) {
        bytes.release();
      } else {
        ctx.fireChannelRead(bytes); // the application's first bytes, intact
        ctx.fireChannelReadComplete();
      }
    }

    @Override
    public void handlerRemoved(ChannelHandlerContext ctx) {
      if (held != null) {
        held.release();
        held = null;
      }
    }
  }

  /** 1: a header's signature; -1: neither signature; 0: the start of one, undecided. */
  static int signature(ByteBuf in) {
    boolean v1 = startsLike(in, V1_PREFIX);
    boolean v2 = startsLike(in, V2_SIGNATURE);
    if ((v1 && in.readableBytes() >= V1_PREFIX.length) || (v2 && in.readableBytes() >= V2_SIGNATURE.length)) {
      return 1;
    }
    return v1 || v2 ? 0 : -1;
  }

  private static boolean startsLike(ByteBuf in, byte[] signature) {
    int n = Math.min(in.readableBytes(), signature.length);
    for (int i = 0; i < n; i++) {
      if (in.getByte(in.readerIndex() + i) != signature[i]) {
        return false;
      }
    }
    return true;
  }
}
