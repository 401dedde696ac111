package dev.portcullis.netty;

import dev.portcullis.admission.AdmissionChain;
import dev.portcullis.admission.Refusal;
import dev.portcullis.handshake.proxy.ProxyProtocol;
import dev.portcullis.policy.AccessPolicy;
import dev.portcullis.policy.Rule;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.util.AttributeKey;
import io.netty.util.ReferenceCountUtil;
import java.net.Inet4Address;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * The guard's handler, first in every child channel's pipeline and shared by all: decides on the
 * socket's peer when the channel is registered, before Netty reads from it. A refused channel is
 * closed and keeps this handler, which swallows every later event so the handlers after it never
 * hear of it; an admitted one loses it (or, from a trusted proxy, gets the PROXY stages instead).
 * The {@link AcceptGate} on the server channel decides earlier, through {@link #admitAccepted}.
 */
@ChannelHandler.Sharable
final class Gate extends ChannelInboundHandlerAdapter {
  /** Set on a channel once decided: true if refused, false if admitted. */
  static final AttributeKey<Boolean> REFUSED = AttributeKey.valueOf(Gate.class, "refused");
  /** The PROXY stages of a channel admitted before it was registered, until they begin. */
  private static final AttributeKey<ProxyStages> STAGES = AttributeKey.valueOf(Gate.class, "stages");

  private final PortcullisNetty guard;
  private final AdmissionChain chain;
  private final AccessPolicy trusted;

  Gate(PortcullisNetty guard) {
    this.guard = guard;
    this.chain = guard.chain();
    ProxyProtocol proxy = guard.proxy();
    if (proxy == null) {
      this.trusted = null;
    } else {
      List<Rule> rules = new ArrayList<>();
      proxy.trusted().forEach(c -> rules.add(Rule.allow(c)));
      this.trusted = AccessPolicy.of(rules);
    }
  }

  /**
   * Decides a child channel the server channel accepted, on the server channel's loop, before it
   * is registered or has a handler: a refused one is closed there, which only closes its socket
   * (nothing is registered, so no event fires and no future completes); an admitted one is handed
   * on, its release tied to its close, with this gate first in its pipeline if PROXY stages are to
   * run once it is registered.
   *
   * @return whether it was admitted (pass it on to the {@code ServerBootstrap}'s acceptor)
   */
  boolean admitAccepted(Channel child) {
    if (!admit(child)) {
      child.unsafe().closeForcibly();
      return false;
    }
    if (child.hasAttr(STAGES)) {
      child.pipeline().addFirst(this);
    }
    return true;
  }

  @Override
  public void handlerAdded(ChannelHandlerContext ctx) {
    Channel ch = ctx.channel();
    if (!ch.isRegistered() || !ch.isActive()) {
      return; // decided at channelRegistered or channelActive
    }
    Boolean refused = ch.attr(REFUSED).get();
    if (refused == null) {
      decide(ctx, false); // added late: decide now, before the next read
    } else if (!refused) {
      proceed(ctx, false); // admitted already, by the server channel's gate
    }
  }

  @Override
  public void channelRegistered(ChannelHandlerContext ctx) {
    Channel ch = ctx.channel();
    Boolean refused = ch.attr(REFUSED).get();
    if (refused == null) {
      if (ch.isActive()) {
        decide(ctx, true);
      } else {
        ctx.fireChannelRegistered(); // not connected yet: decide at channelActive
      }
    } else if (!refused) {
      proceed(ctx, true);
    }
  }

  @Override
  public void channelActive(ChannelHandlerContext ctx) {
    Channel ch = ctx.channel();
    if (!ch.hasAttr(REFUSED)) {
      decide(ctx, false);
    }
    if (!refused(ch)) {
      ctx.fireChannelActive();
    }
  }

  @Override
  public void channelRead(ChannelHandlerContext ctx, Object msg) {
    if (refused(ctx.channel())) {
      ReferenceCountUtil.release(msg);
    } else {
      ctx.fireChannelRead(msg);
    }
  }

  @Override
  public void channelReadComplete(ChannelHandlerContext ctx) {
    if (!refused(ctx.channel())) {
      ctx.fireChannelReadComplete();
    }
  }

  @Override
  public void channelInactive(ChannelHandlerContext ctx) {
    if (!refused(ctx.channel())) {
      ctx.fireChannelInactive();
    }
  }

  @Override
  public void channelUnregistered(ChannelHandlerContext ctx) {
    if (!refused(ctx.channel())) {
      ctx.fireChannelUnregistered();
    }
  }

  @Override
  public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
    if (refused(ctx.channel())) {
      ReferenceCountUtil.release(evt);
    } else {
      ctx.fireUserEventTriggered(evt);
    }
  }

  @Override
  public void channelWritabilityChanged(ChannelHandlerContext ctx) {
    if (!refused(ctx.channel())) {
      ctx.fireChannelWritabilityChanged();
    }
  }

  @Override
  public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
    if (!refused(ctx.channel())) {
      ctx.fireExceptionCaught(cause);
    }
  }

  private static boolean refused(Channel ch) {
    Boolean r = ch.attr(REFUSED).get();
    return r != null && r;
  }

  /**
   * Decides on the socket's peer in the channel's pipeline: refused, the channel is closed and
   * this gate stays to swallow its events; admitted, it goes on.
   *
   * @param fireRegistered whether to pass {@code channelRegistered} on once admitted
   */
  private void decide(ChannelHandlerContext ctx, boolean fireRegistered) {
    if (!admit(ctx.channel())) {
      ctx.channel().attr(REFUSED).set(Boolean.TRUE);
      ctx.close();
      return;
    }
    proceed(ctx, fireRegistered);
  }

  /** An admitted channel: its PROXY stages begin, if it has any, and this gate leaves the pipeline. */
  private void proceed(ChannelHandlerContext ctx, boolean fireRegistered) {
    ProxyStages stages = ctx.channel().attr(STAGES).getAndSet(null);
    if (stages != null) {
      SocketAddress peer = ctx.channel().remoteAddress();
      boolean fromTrusted = peer instanceof InetSocketAddress ip && ip.getAddress() != null
          && trusted.decide(ip.getAddress()).isAllowed();
      stages.begin(ctx, fromTrusted, fireRegistered);
      return;
    }
    if (fireRegistered) {
      ctx.fireChannelRegistered();
    }
    ctx.pipeline().remove(ctx.name()); // by name: a user may have added the shared gate twice
  }

  /**
   * The chain decides on the socket's peer, on its raw bits (counted and logged by the chain).
   * Admitted, the channel is marked so, its release is tied to its close, and either {@link
   * PortcullisNetty#CLIENT} is set and it counts as handled, or its PROXY stages wait for {@link
   * #proceed}. Refused, nothing is allocated nor set.
   *
   * @return whether it was admitted
   */
  private boolean admit(Channel ch) {
    SocketAddress peer = ch.remoteAddress();
    Refusal r;
    if (peer instanceof InetSocketAddress ip && ip.getAddress() != null) {
      InetAddress a = ip.getAddress();
      if (a instanceof Inet4Address) {
        byte[] b = a.getAddress();
        r = chain.admitIpv4((b[0] & 0xFF) << 24 | (b[1] & 0xFF) << 16 | (b[2] & 0xFF) << 8 | (b[3] & 0xFF));
      } else {
        r = chain.admit(a);
      }
    } else {
      r = chain.admitLocal(null); // not an IP peer: only credential rules could allow it, and none is known
    }
    if (r.refused()) {
      return false;
    }
    ch.attr(REFUSED).set(Boolean.FALSE);
    long since = System.nanoTime();
    ProxyStages stages = guard.proxy() == null ? null : new ProxyStages(guard, ch, peer);
    Runnable release = () -> {
      if (stages != null) {
        stages.closed();
      }
      chain.released(ch, peer, null);
      guard.closed(Duration.ofNanos(System.nanoTime() - since));
    };
    ch.closeFuture().addListener(f -> {
      if (stages != null && stages.pending()) {
        // A decoder that fails closes the channel and then fires its exception: let that say why.
        try {
          ch.eventLoop().execute(release);
          return;
        } catch (java.util.concurrent.RejectedExecutionException | IllegalStateException e) {
          // the loop is shutting down, or the channel never got one: release now
        }
      }
      release.run();
    });
    if (stages == null) {
      if (peer instanceof InetSocketAddress ip) {
        ch.attr(PortcullisNetty.CLIENT).set(ip);
      }
      chain.counters().handled.incrementAndGet();
    } else {
      ch.attr(STAGES).set(stages);
    }
    return true;
  }
}
