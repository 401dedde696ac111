package dev.portcullis.netty.example;

import dev.portcullis.netty.PortcullisNetty;
import dev.portcullis.policy.AccessPolicy;
import dev.portcullis.policy.IpAddresses;
import dev.portcullis.policy.Penalties;
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
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;

/**
 * An HTTP service on Netty, guarded by a policy file, with failed logins fed to the penalty box:
 * three wrong passwords within a minute ban the client for a minute, and its next connections are
 * closed before Netty's HTTP codec sees a byte.
 *
 * <pre>
 * java ... dev.portcullis.netty.example.NettyHttpService POLICY_FILE [PORT [HOST]]
 * curl http://127.0.0.1:8080/                                 # hello 127.0.0.1
 * curl -d 'admin:wrong' http://127.0.0.1:8080/login           # 401, an offence
 * </pre>
 *
 * Prints {@code listening on HOST:PORT} once ready, as the other example services do; Ctrl-C or
 * SIGTERM stops it. The password is {@code admin:secret} (an example, not a way to keep one).
 */
public final class NettyHttpService implements AutoCloseable {
  /** Three bad logins within a minute ban the client for a minute. */
  static final Penalties PENALTIES = Penalties.after(3, Duration.ofMinutes(1)).banFor(Duration.ofMinutes(1));

  private final PortcullisNetty guard;
  private final EventLoopGroup group;
  private final Channel channel;

  private NettyHttpService(AccessPolicy policy, String host, int port) throws InterruptedException {
    guard = PortcullisNetty.builder(policy).penalties(PENALTIES).build();
    group = new MultiThreadIoEventLoopGroup(NioIoHandler.newFactory());
    try {
      channel = new ServerBootstrap().group(group).channel(NioServerSocketChannel.class)
          .handler(guard.serverHandler()) // the one line
          .childHandler(new ChannelInitializer<SocketChannel>() {
            @Override
            protected void initChannel(SocketChannel ch) {
              ch.pipeline().addLast(new HttpServerCodec(), new HttpObjectAggregator(8192), new App(guard));
            }
          }).bind(host, port).sync().channel();
    } catch (InterruptedException | RuntimeException e) {
      group.shutdownGracefully(0, 0, TimeUnit.SECONDS);
      guard.close();
      throw e;
    }
  }

  /**
   * Starts the service.
   *
   * @param policyFile the access policy's file
   * @param host the address to bind
   * @param port the port, 0 for any
   * @return the running service
   * @throws IOException if the policy file cannot be read (the message names it)
   * @throws InterruptedException if interrupted while binding
   */
  public static NettyHttpService start(Path policyFile, String host, int port) throws IOException,
      InterruptedException {
    return new NettyHttpService(AccessPolicy.load(policyFile), host, port);
  }

  /**
   * The address it listens on.
   *
   * @return the server channel's address
   */
  public InetSocketAddress localAddress() {
    return (InetSocketAddress) channel.localAddress();
  }

  /**
   * The guard in front of it.
   *
   * @return the guard
   */
  public PortcullisNetty guard() {
    return guard;
  }

  @Override
  public void close() {
    channel.close().syncUninterruptibly();
    group.shutdownGracefully(0, 2, TimeUnit.SECONDS).syncUninterruptibly();
    guard.close();
  }

  /**
   * Runs the service until Ctrl-C or SIGTERM.
   *
   * @param args {@code POLICY_FILE [PORT [HOST]]}
   * @throws Exception if it cannot start
   */
  public static void main(String[] args) throws Exception {
    if (args.length < 1 || args.length > 3) {
      System.err.println("usage: NettyHttpService POLICY_FILE [PORT [HOST]]");
      System.exit(2);
    }
    int port = args.length > 1 ? Integer.parseInt(args[1]) : 8080;
    String host = args.length > 2 ? args[2] : "127.0.0.1";
    NettyHttpService service = start(Path.of(args[0]), host, port);
    Runtime.getRuntime().addShutdownHook(new Thread(service::close, "netty-http-service-stop"));
    System.out.println("listening on " + IpAddresses.format(service.localAddress()));
    System.out.flush();
    service.channel.closeFuture().sync();
  }

  /** {@code GET /}: hello; {@code POST /login} with {@code user:password}: 200 or 401 and an offence. */
  private static final class App extends SimpleChannelInboundHandler<FullHttpRequest> {
    private final PortcullisNetty guard;

    App(PortcullisNetty guard) {
      this.guard = guard;
    }

    @Override
    protected void channelRead0(ChannelHandlerContext ctx, FullHttpRequest req) {
      InetSocketAddress client = ctx.channel().attr(PortcullisNetty.CLIENT).get();
      HttpResponseStatus status;
      String body;
      if (req.method() == HttpMethod.POST && req.uri().equals("/login")) {
        if (req.content().toString(StandardCharsets.UTF_8).equals("admin:secret")) {
          status = HttpResponseStatus.OK;
          body = "welcome\n";
        } else {
          guard.reportOffence(client.getAddress(), 1, "bad login");
          status = HttpResponseStatus.UNAUTHORIZED;
          body = "wrong user or password\n";
        }
      } else {
        status = HttpResponseStatus.OK;
        body = "hello " + client.getAddress().getHostAddress() + "\n";
      }
      byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
      DefaultFullHttpResponse res = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, status,
          Unpooled.wrappedBuffer(bytes));
      res.headers().set(HttpHeaderNames.CONTENT_LENGTH, bytes.length)
          .set(HttpHeaderNames.CONNECTION, HttpHeaderValues.CLOSE);
      ctx.writeAndFlush(res).addListener(ChannelFutureListener.CLOSE);
    }
  }
}
