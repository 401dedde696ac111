package dev.portcullis.netty;

import io.netty.channel.Channel;
import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ServerChannel;

/**
 * The guard's handler on the server channel: an accepted child channel reaches the server
 * channel's pipeline as a message, on its way to the {@code ServerBootstrap}'s acceptor, which
 * would set its options, run the child handler and register it with an event loop. This decides
 * first: a refused child is closed there and goes no further, so a denied connection costs no
 * registration, no pipeline and no event.
 */
@ChannelHandler.Sharable
final class AcceptGate extends ChannelInboundHandlerAdapter {
  private final Gate gate;

  AcceptGate(Gate gate) {
    this.gate = gate;
  }

  /**
   * Fails closed anywhere but on a server channel: in a child pipeline it would see bytes, never a
   * channel, and let every peer through.
   */
  @Override
  public void handlerAdded(ChannelHandlerContext ctx) {
    if (!(ctx.channel() instanceof ServerChannel)) {
      ctx.close();
      throw new IllegalStateException("PortcullisNetty.serverHandler() belongs on the server channel"
          + " (ServerBootstrap.handler), not in the pipeline of " + ctx.channel() + ", which was closed; in a child"
          + " pipeline, add PortcullisNetty.handler()");
    }
  }

  @Override
  public void channelRead(ChannelHandlerContext ctx, Object msg) {
    if (msg instanceof Channel child && !child.isRegistered() && !gate.admitAccepted(child)) {
      return; // refused and closed
    }
    ctx.fireChannelRead(msg);
  }
}
