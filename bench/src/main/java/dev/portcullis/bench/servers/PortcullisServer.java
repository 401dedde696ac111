package dev.portcullis.bench.servers;

import dev.portcullis.Handshakes;
import dev.portcullis.LoopConnection;
import dev.portcullis.LoopHandler;
import dev.portcullis.RunningServer;
import dev.portcullis.Server;
import java.nio.ByteBuffer;
import java.time.Duration;

/**
 * The Portcullis bench server: the policy, the {@code HELLO} line as a handshake step, and the
 * reply and echo in a {@link LoopHandler} ({@code --style loop}, the default) or a blocking
 * {@code Handler} on the default executor ({@code --style threads}); {@code --loops N} event loops;
 * {@code --mode tls} (W6) a TLS handshake and nothing else.
 */
public final class PortcullisServer {
  private PortcullisServer() {}

  public static void main(String[] args) throws Exception {
    ServerMain m = ServerMain.parse(args);
    Server.TcpBuilder server = Server.on(m.port).bindAddress(m.bind).backlog(ServerMain.BACKLOG).policy(m.policy)
        .handshake(m.tls() ? Handshakes.tls(m.tlsCert, m.tlsKey) : Handshakes.expectLine("HELLO"))
        .handshakeTimeout(Duration.ofSeconds(10)).eventLoops(m.loops);
    if (m.kernelFilter) {
      server.kernelFilter();
    }
    if (m.tls()) {
      // W6: the TLS handshake is the work; the connection ends once it is done.
      if (m.style.equals("threads")) {
        server.handle(conn -> { });
      } else {
        server.handleOnLoop(new LoopHandler() {
          @Override
          public void onOpen(LoopConnection c) {
            c.close();
          }

          @Override
          public void onData(LoopConnection c, ByteBuffer data) {}
        });
      }
    } else if (m.style.equals("threads")) {
      server.handle(conn -> {
        conn.output().write(ServerMain.OK);
        if (m.echo) {
          conn.input().transferTo(conn.output());
        }
      });
    } else {
      server.handleOnLoop(new LoopHandler() {
        @Override
        public void onOpen(LoopConnection c) {
          c.write(ByteBuffer.wrap(ServerMain.OK));
          if (!m.echo) {
            c.close();
          }
        }

        @Override
        public void onData(LoopConnection c, ByteBuffer data) {
          c.write(data);
        }
      });
    }
    RunningServer running = server.start();
    ServerMain.perLoop = running::acceptedPerLoop;
    System.err.println("portcullis handler mode " + running.handlerMode());
    Runtime.getRuntime().addShutdownHook(new Thread(running::close));
    ServerMain.ready(running.port());
    running.awaitTermination();
  }
}
