package dev.portcullis.examples.netty;

import dev.portcullis.examples.Command;
import dev.portcullis.examples.GuardedService;
import dev.portcullis.examples.Service;
import dev.portcullis.netty.PortcullisNetty;
import dev.portcullis.policy.AccessPolicy;
import dev.portcullis.policy.IpAddresses;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpServerCodec;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.timeout.IdleStateHandler;
import io.netty.handler.timeout.IdleStateEvent;
import java.io.PrintStream;
import java.net.InetSocketAddress;
import java.nio.channels.ServerSocketChannel;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.concurrent.TimeUnit;

/**
 * An HTTP service on Netty 4.2 ({@code netty-codec-http}), guarded by Portcullis as a Netty user
 * would guard their own: {@link PortcullisNetty#serverHandler()} on the server channel (the
 * policy, the penalty box, the limits, decided on each accepted channel before it is registered,
 * so the HTTP codec of a refused one is never even made), the penalty box fed by failed logins, and {@code KernelGuard} on the server's
 * own listening socket, so that the kernel drops denied and banned peers before the TCP handshake.
 *
 * <pre>
 * echo s3cret &gt; token; printf 'allow 127.0.0.0/8\ndeny 127.0.0.2\n' &gt; access.rules
 * portcullis netty-http --port 8080 --bind 127.0.0.1 --policy access.rules --watch --token-file token
 * curl http://127.0.0.1:8080/hello                                         # hello 127.0.0.1
 * curl -X POST -H 'Authorization: Bearer guess' http://127.0.0.1:8080/login   # 401; the fifth bans
 * </pre>
 *
 * The server runs on Netty's NIO transport over a JDK {@link ServerSocketChannel} that the service
 * opens itself and hands to Netty ({@code new NioServerSocketChannel(channel)}), so that the
 * kernel guard can be given that channel once Netty has bound it. (On Netty's epoll transport,
 * give the guard the descriptor instead: {@code KernelGuard.attachFd(((EpollServerSocketChannel)
 * ch).fd().intValue(), policy)}.)
 *
 * <p>The endpoints, the options and their defaults are {@link GuardedService}'s. What a client can
 * hold is bounded: connections open at once and per source (the guard's limits), a quiet
 * connection ({@value GuardedService#IDLE_TIMEOUT_SECONDS} s), a request head ({@value
 * #MAX_HEAD_BYTES} bytes) and body ({@value GuardedService#MAX_BODY_BYTES} bytes; a longer one is
 * answered 400 or 413 and closed). The event loops are Netty's default count.
 */
public final class NettyHttpService {
  private NettyHttpService() {}

  /** The longest request head (request line and headers) the codec reads, in bytes. */
  public static final int MAX_HEAD_BYTES = 8192;

  /** The command as {@code portcullis netty-http --help} shows it. */
  public static final Command COMMAND = GuardedService.command("netty-http",
      "HTTP on Netty 4.2 behind PortcullisNetty and the kernel guard; failed logins feed the penalty box");

  /**
   * {@code java -cp portcullis-examples.jar dev.portcullis.examples.netty.NettyHttpService ...}.
   *
   * @param args the command-line arguments, without the command name
   */
  public static void main(String[] args) {
    Service.main(args, NettyHttpService::run);
  }

  /**
   * Runs the service until the process is asked to stop; returns the exit status.
   *
   * @param args the command-line arguments, without the command name
   * @param out where the ready line goes
   * @param err where errors go
   * @return the exit status: 0 on success, 2 for a usage error, 1 otherwise
   * @throws dev.portcullis.examples.UsageException for a bad command line
   */
  public static int run(String[] args, PrintStream out, PrintStream err) {
    GuardedService.Settings settings = GuardedService.settings(args, COMMAND);
    Service.Setup setup = () -> {
      AccessPolicy policy = settings.policy();
      PortcullisNetty guard = PortcullisNetty.builder(policy).limits(settings.limits())
          .penalties(settings.penalties()).build();
      ServerSocketChannel socket = ServerSocketChannel.open(); // ours, so that the kernel guard can be given it
      EventLoopGroup group = new MultiThreadIoEventLoopGroup(NioIoHandler.newFactory());
      Channel server;
      try {
        server = new ServerBootstrap().group(group).channelFactory(() -> new NioServerSocketChannel(socket))
            .handler(guard.serverHandler()) // the one line
            .childHandler(new ChannelInitializer<SocketChannel>() {
              @Override
              protected void initChannel(SocketChannel ch) {
                ch.pipeline().addLast(new IdleStateHandler(0, 0, GuardedService.IDLE_TIMEOUT_SECONDS, TimeUnit.SECONDS),
                    new HttpServerCodec(4096, MAX_HEAD_BYTES, 8192),
                    new HttpObjectAggregator(GuardedService.MAX_BODY_BYTES), new App(settings, guard));
              }
            }).bind(settings.address()).syncUninterruptibly().channel(); // a port in use: its BindException
      } catch (RuntimeException e) {
        stop(group, guard, socket, Duration.ZERO);
        throw e;
      } catch (Exception e) { // syncUninterruptibly rethrows the bind's own exception, checked or not
        stop(group, guard, socket, Duration.ZERO);
        throw GuardedService.bindFailed(settings.address(), e);
      }
      InetSocketAddress local = (InetSocketAddress) server.localAddress();
      return GuardedService.started(settings, guard, socket, local, grace -> {
        server.close().syncUninterruptibly();
        stop(group, guard, socket, grace);
      }, err);
    };
    return Service.run("netty-http", setup, Duration.ofSeconds(5), "", out, err);
  }

  /** Stops the loops (connections in flight get {@code grace}), then the guard's penalty thread. */
  private static void stop(EventLoopGroup group, PortcullisNetty guard, ServerSocketChannel socket, Duration grace) {
    group.shutdownGracefully(0, Math.max(0, grace.toMillis()), TimeUnit.MILLISECONDS).syncUninterruptibly();
    guard.close();
    try {
      socket.close();
    } catch (java.io.IOException ignored) {
      // closed by Netty already
    }
  }

  /** {@code GET /health}, {@code GET /hello}, {@code POST /login}; 404 for anything else; a quiet channel closed. */
  private static final class App extends SimpleChannelInboundHandler<FullHttpRequest> {
    private final GuardedService.Settings settings;
    private final PortcullisNetty guard;

    App(GuardedService.Settings settings, PortcullisNetty guard) {
      this.settings = settings;
      this.guard = guard;
    }

    @Override
    protected void channelRead0(ChannelHandlerContext ctx, FullHttpRequest req) {
      // The client the guard decided on: the socket's peer, or the one a trusted proxy named.
      InetSocketAddress client = ctx.channel().attr(PortcullisNetty.CLIENT).get();
      HttpResponseStatus status = HttpResponseStatus.OK;
      String body;
      boolean get = req.method().equals(HttpMethod.GET);
      if (!req.decoderResult().isSuccess()) {
        status = HttpResponseStatus.BAD_REQUEST;
        body = "bad request\n";
      } else if (get && req.uri().equals("/health")) {
        body = "ok\n";
      } else if (get && req.uri().equals("/hello")) {
        body = "hello " + IpAddresses.format(client.getAddress()) + "\n";
      } else if (req.method().equals(HttpMethod.POST) && req.uri().equals("/login")) {
        if (settings.loginMatches(req.headers().get(HttpHeaderNames.AUTHORIZATION))) {
          body = "welcome\n";
        } else {
          // The application's offence: the penalty box counts it, bans at the threshold, and the
          // kernel guard (told by a PenaltyListener) drops the source's next SYNs.
          guard.reportOffence(client.getAddress(), GuardedService.BAD_LOGIN_WEIGHT, GuardedService.BAD_LOGIN_REASON);
          status = HttpResponseStatus.UNAUTHORIZED;
          body = "wrong token\n";
        }
      } else {
        status = HttpResponseStatus.NOT_FOUND;
        body = "not found\n";
      }
      byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
      DefaultFullHttpResponse res = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, status,
          Unpooled.wrappedBuffer(bytes));
      res.headers().set(HttpHeaderNames.CONTENT_TYPE, "text/plain; charset=utf-8")
          .set(HttpHeaderNames.CONTENT_LENGTH, bytes.length)
          .set(HttpHeaderNames.CONNECTION, HttpHeaderValues.CLOSE);
      if (status == HttpResponseStatus.UNAUTHORIZED) {
        res.headers().set(HttpHeaderNames.WWW_AUTHENTICATE, "Bearer");
      }
      ctx.writeAndFlush(res).addListener(ChannelFutureListener.CLOSE);
    }

    @Override
    public void userEventTriggered(ChannelHandlerContext ctx, Object evt) throws Exception {
      if (evt instanceof IdleStateEvent) {
        ctx.close(); // quiet both ways for the idle timeout
      } else {
        super.userEventTriggered(ctx, evt);
      }
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
      ctx.close(); // the peer reset, or a codec error: nothing to answer
    }
  }
}
