package dev.portcullis.bench.servers;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

/**
 * The peer users pick for blocking code today: a JDK {@link ServerSocket} whose accepting thread
 * decides each peer with the same policy object as the other servers (the most specific rule) and
 * starts one virtual thread per admitted connection, the model of Helidon's web server. The
 * handler reads the {@code HELLO} line, answers {@code OK} and, in echo mode, copies its input to
 * its output with {@code InputStream.transferTo}, as the Portcullis {@code handle} server does.
 *
 * <p>Virtual threads need JDK 21; on an older JDK the server falls back to one platform thread per
 * connection, says so on stderr, and the suite names its row {@code ServerSocket threads} instead
 * of {@code ServerSocket VT}.
 */
public final class ServerSocketServer {
  private ServerSocketServer() {}

  public static void main(String[] args) throws Exception {
    ServerMain m = ServerMain.parse(args);
    ExecutorService perConnection = virtualThreadPerTask();
    if (perConnection == null) {
      System.err.println("ServerSocket server: JDK " + Runtime.version().feature()
          + " has no virtual threads; one platform thread per connection");
      perConnection = Executors.newCachedThreadPool();
    }
    ServerSocket server = new ServerSocket();
    server.bind(new InetSocketAddress(m.bind, m.port), ServerMain.BACKLOG);
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      try {
        server.close();
      } catch (IOException ignored) {
        // exiting anyway
      }
    }));
    ServerMain.ready(server.getLocalPort());
    while (!server.isClosed()) {
      Socket s;
      try {
        s = server.accept();
      } catch (IOException e) {
        if (server.isClosed()) {
          break;
        }
        continue; // a transient accept error (EMFILE, ECONNABORTED): go on accepting
      }
      InetAddress peer = s.getInetAddress();
      if (!m.policy.decide(peer).isAllowed()) {
        s.close();
        continue;
      }
      perConnection.execute(() -> serve(s, m.echo));
    }
  }

  /** {@code Executors.newVirtualThreadPerTaskExecutor()}, found at run time (the jar targets 17), or null. */
  private static ExecutorService virtualThreadPerTask() {
    try {
      return (ExecutorService) Executors.class.getMethod("newVirtualThreadPerTaskExecutor").invoke(null);
    } catch (ReflectiveOperationException e) {
      return null;
    }
  }

  private static void serve(Socket s, boolean echo) {
    try (s) {
      s.setTcpNoDelay(true);
      InputStream in = s.getInputStream();
      OutputStream out = s.getOutputStream();
      byte[] line = new byte[16];
      int n = 0;
      int newline = -1;
      while (newline < 0) {
        int r = in.read(line, n, line.length - n);
        if (r < 0) {
          return;
        }
        for (int i = n; i < n + r && newline < 0; i++) {
          if (line[i] == '\n') {
            newline = i;
          }
        }
        n += r;
        if (newline < 0 && n == line.length) {
          return; // no HELLO line within 16 bytes
        }
      }
      if (newline != 5 || line[0] != 'H' || line[1] != 'E' || line[2] != 'L' || line[3] != 'L' || line[4] != 'O') {
        return;
      }
      out.write(ServerMain.OK);
      if (!echo) {
        return;
      }
      if (n > newline + 1) {
        out.write(line, newline + 1, n - newline - 1); // bytes that came with the line
      }
      in.transferTo(out);
    } catch (IOException e) {
      // the client went away: the connection is over
    }
  }
}
