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
 */
@ChannelHandler.Sharable
final class Gate extends ChannelInboundHandlerAdapter {
  /** Set on a channel this gate refused. */
  static final AttributeKey<Boolean> REFUSED = AttributeKey.valueOf(Gate.class, "refused");

  private final PortcullisNetty guard;
  private final AccessPolicy trusted;

  Gate(PortcullisNetty guard) {
    this.guard = guard;
    ProxyProtocol proxy = guard.proxy();
    if (proxy == null) {
      this.trusted = null;
    } else {
      List<Rule> rules = new ArrayList<>();
      proxy.trusted().forEach(c -> rules.add(Rule.allow(c)));
      this.trusted = AccessPolicy.of(rules);
    }
  }

  @Override
  public void handlerAdded(ChannelHandlerContext ctx) {
    Channel ch = ctx.channel();
    if (ch.isRegistered() && ch.isActive() && !decided(ch)) {
      decide(ctx, false); // added late: decide now, before the next read
    }
  }

  @Override
  public void channelRegistered(ChannelHandlerContext ctx) {
    Channel ch = ctx.channel();
    if (decided(ch)) {
      forward(ctx, () -> ctx.fireChannelRegistered());
    } else if (ch.isActive()) {
      decide(ctx, true);
    } else {
      ctx.fireChannelRegistered(); // not connected yet: decide at channelActive
    }
  }

  @Override
  public void channelActive(ChannelHandlerContext ctx) {
    if (!decided(ctx.channel())) {
      decide(ctx, false);
    }
    forward(ctx, () -> ctx.fireChannelActive());
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
    forward(ctx, () -> ctx.fireChannelReadComplete());
  }

  @Override
  public void channelInactive(ChannelHandlerContext ctx) {
    forward(ctx, () -> ctx.fireChannelInactive());
  }

  @Override
  public void channelUnregistered(ChannelHandlerContext ctx) {
    forward(ctx, () -> ctx.fireChannelUnregistered());
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
    forward(ctx, () -> ctx.fireChannelWritabilityChanged());
  }

  @Override
  public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
    forward(ctx, () -> ctx.fireExceptionCaught(cause));
  }

  private static void forward(ChannelHandlerContext ctx, Runnable fire) {
    if (!refused(ctx.channel())) {
      fire.run();
    }
  }

  private static boolean decided(Channel ch) {
    return ch.hasAttr(REFUSED);
  }

  private static boolean refused(Channel ch) {
    Boolean r = ch.attr(REFUSED).get();
    return r != null && r;
  }

  /**
   * Decides on the socket's peer: refused, the channel is closed; admitted, its release is tied to
   * its close, and the gate leaves the pipeline (or hands over to the PROXY stages).
   *
   * @param fireRegistered whether to pass {@code channelRegistered} on once admitted
   */
  private void decide(ChannelHandlerContext ctx, boolean fireRegistered) {
    Channel ch = ctx.channel();
    AdmissionChain chain = guard.chain();
    SocketAddress peer = ch.remoteAddress();
    Refusal r;
    if (peer instanceof InetSocketAddress ip && ip.getAddress() != null) {
      r = chain.admit(ip.getAddress());
    } else {
      r = chain.admitLocal(null); // not an IP peer: only credential rules could allow it, and none is known
    }
    if (r.refused()) {
      ch.attr(REFUSED).set(Boolean.TRUE);
      ctx.close();
      return;
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
        } catch (java.util.concurrent.RejectedExecutionException e) {
          // the loop is shutting down: release now
        }
      }
      release.run();
    });
    if (stages == null) {
      if (peer instanceof InetSocketAddress ip) {
        ch.attr(PortcullisNetty.CLIENT).set(ip);
      }
      chain.counters().handled.incrementAndGet();
      if (fireRegistered) {
        ctx.fireChannelRegistered();
      }
      ctx.pipeline().remove(this);
      return;
    }
    boolean fromTrusted = peer instanceof InetSocketAddress ip && ip.getAddress() != null
        && trusted.decide(ip.getAddress()).isAllowed();
    stages.begin(ctx, fromTrusted, fireRegistered, this);
  }
}
