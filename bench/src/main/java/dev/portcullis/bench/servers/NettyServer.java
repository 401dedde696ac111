package dev.portcullis.bench.servers;

import dev.portcullis.netty.PortcullisNetty;
import dev.portcullis.policy.Rule;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.epoll.EpollEventLoopGroup;
import io.netty.channel.epoll.EpollServerSocketChannel;
import io.netty.channel.socket.SocketChannel;
import io.netty.handler.ipfilter.IpFilterRuleType;
import io.netty.handler.ipfilter.IpSubnetFilter;
import io.netty.handler.ipfilter.IpSubnetFilterRule;
import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.List;

/**
 * The Netty bench server: native epoll, one event loop (as the C server and Portcullis have one),
 * a filter holding the same rules, then the {@code HELLO} line, reply and echo. The filter ({@code
 * --filter}): {@code ipsubnet} (the default), Netty's own {@link IpSubnetFilter}; {@code
 * portcullis}, the Portcullis adapter ({@link PortcullisNetty}, no penalty box, no limits) on the
 * server channel ({@code ServerBootstrap.handler(guard.serverHandler())}); {@code portcullis-child},
 * the adapter first in each child pipeline instead ({@code guard.handler()}); {@code none}, nothing
 * (the policy is ignored: the floor the others are measured against).
 */
public final class NettyServer {
  private NettyServer() {}

  public static void main(String[] args) throws Exception {
    ServerMain m = ServerMain.parse(args);
    String kind = m.filter == null ? "ipsubnet" : m.filter;
    ChannelHandler filter = switch (kind) {
      case "ipsubnet" -> ipSubnetFilter(m);
      case "portcullis-child" -> PortcullisNetty.guard(m.policy).handler();
      case "portcullis", "none" -> null;
      default -> throw new IllegalArgumentException("--filter " + kind
          + ": Netty takes ipsubnet, portcullis, portcullis-child or none");
    };
    EpollEventLoopGroup group = new EpollEventLoopGroup(1);
    ServerBootstrap b = new ServerBootstrap().group(group).channel(EpollServerSocketChannel.class)
        .option(ChannelOption.SO_BACKLOG, ServerMain.BACKLOG)
        .childOption(ChannelOption.TCP_NODELAY, true)
        .childHandler(new ChannelInitializer<SocketChannel>() {
          @Override
          protected void initChannel(SocketChannel ch) {
            if (filter != null) {
              ch.pipeline().addLast(filter);
            }
            ch.pipeline().addLast(new Protocol(m.echo));
          }
        });
    if (kind.equals("portcullis")) {
      b.handler(PortcullisNetty.guard(m.policy).serverHandler());
    }
    Channel server = b.bind(new InetSocketAddress("127.0.0.1", m.port)).sync().channel();
    Runtime.getRuntime().addShutdownHook(new Thread(() -> group.shutdownGracefully().syncUninterruptibly()));
    ServerMain.ready(((InetSocketAddress) server.localAddress()).getPort());
    server.closeFuture().sync();
  }

  /** Netty's own filter holding the policy's rules (deny by default when any rule allows). */
  private static IpSubnetFilter ipSubnetFilter(ServerMain m) {
    List<IpSubnetFilterRule> rules = new ArrayList<>();
    boolean anyAllow = false;
    for (Rule r : m.policy.rules()) {
      anyAllow |= r.isAllow();
      rules.add(new IpSubnetFilterRule(r.cidr().network(), r.cidr().prefixLength(),
          r.isAllow() ? IpFilterRuleType.ACCEPT : IpFilterRuleType.REJECT));
    }
    return new IpSubnetFilter(!anyAllow, rules);
  }

  /** The HELLO line, then OK and close (churn) or echo. */
  private static final class Protocol extends ChannelInboundHandlerAdapter {
    private final boolean echo;
    private final StringBuilder line = new StringBuilder(8);
    private boolean handshaken;

    Protocol(boolean echo) {
      this.echo = echo;
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
      ByteBuf in = (ByteBuf) msg;
      if (!handshaken) {
        while (in.isReadable()) {
          byte b = in.readByte();
          if (b == '\n') {
            if (!line.toString().equals("HELLO")) {
              in.release();
              ctx.close();
              return;
            }
            handshaken = true;
            ByteBuf ok = Unpooled.wrappedBuffer(ServerMain.OK);
            if (!echo) {
              in.release();
              ctx.writeAndFlush(ok).addListener(ChannelFutureListener.CLOSE);
              return;
            }
            ctx.write(ok);
            break;
          }
          if (line.length() >= 16) {
            in.release();
            ctx.close();
            return;
          }
          line.append((char) b);
        }
      }
      if (in.isReadable()) {
        ctx.write(in);
      } else {
        in.release();
      }
      ctx.flush();
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
      ctx.close();
    }
  }
}
