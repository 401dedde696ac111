package dev.portcullis.netty;

import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.IoHandlerFactory;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.ServerChannel;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.epoll.EpollServerSocketChannel;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpServerCodec;
import io.netty.handler.codec.http.HttpVersion;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Queue;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;

/**
 * A real Netty server on 127.0.0.1, on NIO or epoll, guarded by a {@link PortcullisNetty}: an HTTP
 * server ({@code HttpServerCodec}, answering {@code 200 hello CLIENT}) or a greeter (writes {@code
 * ok CLIENT\n} on {@code channelActive}). A recorder right after the guard writes down every event
 * and byte the application's handlers get, by the socket's peer.
 */
final class TestServer implements AutoCloseable {
  enum Kind {
    NIO, EPOLL
  }

  /** Where the guard is put: in each child pipeline, on the server channel, or both. */
  enum Usage {
    /** {@code childHandler(guard.childHandler(app))}. */
    CHILD,
    /** {@code handler(guard.serverHandler()).childHandler(app)}. */
    SERVER,
    /** Both at once. */
    BOTH,
    /** {@code guard.serverHandler()} in the child pipeline, where it does not belong. */
    MISPLACED
  }

  final EventLoopGroup group;
  final Channel channel;
  /** What the application's first handler saw: {@code active 127.0.0.2}, {@code read 127.0.0.2 17}. */
  final Queue<String> events = new ConcurrentLinkedQueue<>();
  /** The socket peers of the channels the application's child initializer was called for. */
  final Queue<String> initialized = new ConcurrentLinkedQueue<>();

  private TestServer(Kind kind, Usage usage, PortcullisNetty guard, boolean http) throws InterruptedException {
    IoHandlerFactory io;
    Class<? extends ServerChannel> type;
    if (kind == Kind.EPOLL) {
      Assumptions.assumeTrue(Epoll.isAvailable(), () -> "no epoll: " + Epoll.unavailabilityCause());
      io = EpollIoHandler.newFactory();
      type = EpollServerSocketChannel.class;
    } else {
      io = NioIoHandler.newFactory();
      type = NioServerSocketChannel.class;
    }
    group = new MultiThreadIoEventLoopGroup(2, io);
    Recorder recorder = new Recorder();
    ChannelHandler app = new ChannelInitializer<>() {
      @Override
      protected void initChannel(Channel ch) {
        initialized.add(((InetSocketAddress) ch.remoteAddress()).getAddress().getHostAddress());
        ch.pipeline().addLast(recorder);
        if (http) {
          ch.pipeline().addLast(new HttpServerCodec(), new HttpObjectAggregator(4096), new Hello());
        } else {
          ch.pipeline().addLast(new Greeter());
        }
      }
    };
    ChannelHandler child = switch (usage) {
      case CHILD, BOTH -> guard.childHandler(app);
      case SERVER -> app;
      case MISPLACED -> new ChannelInitializer<>() {
        @Override
        protected void initChannel(Channel ch) {
          ch.pipeline().addLast(guard.serverHandler(), app);
        }
      };
    };
    ServerBootstrap b = new ServerBootstrap().group(group).channel(type).childHandler(child);
    if (usage == Usage.SERVER || usage == Usage.BOTH) {
      b.handler(guard.serverHandler());
    }
    channel = b.bind("127.0.0.1", 0).sync().channel();
  }

  static TestServer http(Kind kind, PortcullisNetty guard) throws InterruptedException {
    return new TestServer(kind, Usage.CHILD, guard, true);
  }

  static TestServer http(Kind kind, Usage usage, PortcullisNetty guard) throws InterruptedException {
    return new TestServer(kind, usage, guard, true);
  }

  static TestServer greeter(Kind kind, PortcullisNetty guard) throws InterruptedException {
    return new TestServer(kind, Usage.CHILD, guard, false);
  }

  static TestServer greeter(Kind kind, Usage usage, PortcullisNetty guard) throws InterruptedException {
    return new TestServer(kind, usage, guard, false);
  }

  int port() {
    return ((InetSocketAddress) channel.localAddress()).getPort();
  }

  /** The events the application saw from peers at {@code host} (such as {@code 127.0.0.2}). */
  List<String> eventsFrom(String host) {
    return events.stream().filter(e -> e.split(" ")[1].equals(host)).toList();
  }

  @Override
  public void close() throws InterruptedException {
    channel.close().sync();
    group.shutdownGracefully(0, 2, TimeUnit.SECONDS).sync();
  }

  private static String host(ChannelHandlerContext ctx) {
    return ((InetSocketAddress) ctx.channel().remoteAddress()).getAddress().getHostAddress();
  }

  private static String client(ChannelHandlerContext ctx) {
    InetSocketAddress c = ctx.channel().attr(PortcullisNetty.CLIENT).get();
    return c == null ? "none" : c.getAddress().getHostAddress();
  }

  @ChannelHandler.Sharable
  private final class Recorder extends ChannelInboundHandlerAdapter {
    @Override
    public void channelRegistered(ChannelHandlerContext ctx) {
      events.add("registered " + host(ctx));
      ctx.fireChannelRegistered();
    }

    @Override
    public void channelActive(ChannelHandlerContext ctx) {
      events.add("active " + host(ctx) + " client " + client(ctx));
      ctx.fireChannelActive();
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
      if (msg instanceof ByteBuf b) {
        events.add("read " + host(ctx) + " " + b.readableBytes());
      }
      ctx.fireChannelRead(msg);
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
      events.add("inactive " + host(ctx));
      ctx.fireChannelInactive();
    }
  }

  private static final class Hello extends SimpleChannelInboundHandler<FullHttpRequest> {
    @Override
    protected void channelRead0(ChannelHandlerContext ctx, FullHttpRequest req) {
      byte[] body = ("hello " + client(ctx) + "\n").getBytes(StandardCharsets.US_ASCII);
      DefaultFullHttpResponse res = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.OK,
          Unpooled.wrappedBuffer(body));
      res.headers().set(HttpHeaderNames.CONTENT_LENGTH, body.length)
          .set(HttpHeaderNames.CONNECTION, HttpHeaderValues.CLOSE);
      ctx.writeAndFlush(res).addListener(ChannelFutureListener.CLOSE);
    }
  }

  private static final class Greeter extends ChannelInboundHandlerAdapter {
    @Override
    public void channelActive(ChannelHandlerContext ctx) {
      ctx.writeAndFlush(Unpooled.copiedBuffer("ok " + client(ctx) + "\n", StandardCharsets.US_ASCII));
      ctx.fireChannelActive();
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
      io.netty.util.ReferenceCountUtil.release(msg);
    }
  }
}
