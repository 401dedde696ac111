package dev.portcullis.examples.demo;

import dev.portcullis.RunningServer;
import dev.portcullis.Server;
import dev.portcullis.ServerStats;
import dev.portcullis.examples.UsageException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.PrintStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;

/**
 * The demo: a real server on an ephemeral loopback port that allows only {@code 127.0.0.1}, and two
 * clients, one from {@code 127.0.0.1} (served) and one bound to {@code 127.0.0.2} (refused). The
 * whole of {@code 127.0.0.0/8} is loopback on Linux, so the second client plays another host.
 */
public final class Demo {
  private Demo() {}

  /** The command as {@code portcullis demo --help} shows it: it takes no options. */
  public static final dev.portcullis.examples.Command COMMAND = new dev.portcullis.examples.Command("demo",
      java.util.List.of(""), "start a server that allows only 127.0.0.1, connect from 127.0.0.1 and 127.0.0.2",
      java.util.List.of(), java.util.List.of("Exit status: 0 when 127.0.0.1 was served and 127.0.0.2 refused, 1"
          + " otherwise."));

  /**
   * {@code java -cp portcullis-examples.jar dev.portcullis.examples.demo.Demo}.
   *
   * @param args the command-line arguments, without the command name
   */
  public static void main(String[] args) {
    System.exit(run(args, System.out, System.err));
  }

  /**
   * Runs the demo; returns 0 when the allowed client was served and the other refused.
   *
   * @param args the command-line arguments, without the command name
   * @param out where results go
   * @param err where errors go
   * @return the exit status: 0 on success, 2 for a usage error, 1 otherwise
   */
  public static int run(String[] args, PrintStream out, PrintStream err) {
    if (args.length > 0) {
      throw new UsageException("demo takes no arguments");
    }
    try (RunningServer server = Server.on(0)
        .bindAddress("127.0.0.1")
        .allow("127.0.0.1")
        .handle(conn -> {
          byte[] line = conn.input().readNBytes(6);
          conn.output().write(("echo: " + new String(line, StandardCharsets.UTF_8)).getBytes(StandardCharsets.UTF_8));
        })
        .start()) {
      InetSocketAddress at = (InetSocketAddress) server.localAddress();
      out.println("server  listening on " + dev.portcullis.policy.IpAddresses.format(at)
          + " with policy: " + server.policy().toString().strip());

      String served = talk("127.0.0.1", at, out);
      String refused = talk("127.0.0.2", at, out);

      for (String client : new String[] {"127.0.0.1", "127.0.0.2"}) {
        out.println("server  decided " + client + ": " + server.policy().decide(client));
      }
      ServerStats stats = awaitStats(server);
      out.println("server  accepted " + stats.accepted() + ", denied " + stats.denied()
          + ", handled " + stats.handled());
      boolean ok = served.startsWith("echo: hello") && refused == null && stats.denied() == 1;
      out.println(ok ? "demo ok: 127.0.0.1 was served, 127.0.0.2 was refused"
          : "demo FAILED: expected 127.0.0.1 served and 127.0.0.2 refused");
      return ok ? 0 : 1;
    } catch (IOException | InterruptedException e) {
      err.println("demo failed: " + e);
      return 1;
    }
  }

  /** Connects from {@code from}, sends one line, and returns the reply, or null if refused. */
  private static String talk(String from, InetSocketAddress to, PrintStream out) throws IOException {
    try (Socket s = new Socket()) {
      s.bind(new InetSocketAddress(InetAddress.getByName(from), 0));
      s.connect(to, 5000);
      s.setSoTimeout(5000);
      OutputStream o = s.getOutputStream();
      o.write("hello\n".getBytes(StandardCharsets.UTF_8));
      InputStream i = s.getInputStream();
      byte[] reply = i.readAllBytes();
      if (reply.length == 0) {
        out.println("client  " + from + ": sent \"hello\", the server closed the connection without a reply");
        return null;
      }
      String text = new String(reply, StandardCharsets.UTF_8).strip();
      out.println("client  " + from + ": sent \"hello\", received \"" + text + "\"");
      return text;
    } catch (java.net.SocketException e) {
      out.println("client  " + from + ": sent \"hello\", the server reset the connection (" + e.getMessage() + ")");
      return null;
    }
  }

  private static ServerStats awaitStats(RunningServer server) throws InterruptedException {
    long deadline = System.nanoTime() + Duration.ofSeconds(5).toNanos();
    ServerStats s = server.stats();
    while ((s.accepted() < 2 || s.handled() < 1) && System.nanoTime() < deadline) {
      Thread.sleep(10);
      s = server.stats();
    }
    return s;
  }
}
