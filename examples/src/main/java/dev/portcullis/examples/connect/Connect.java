package dev.portcullis.examples.connect;

import dev.portcullis.examples.Command;
import dev.portcullis.examples.FileProblem;
import dev.portcullis.examples.Option;
import dev.portcullis.examples.Options;
import dev.portcullis.examples.UsageException;
import dev.portcullis.handshake.secret.SharedSecret;
import dev.portcullis.handshake.secret.SharedSecretClient;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.PrintStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.file.Path;
import java.util.List;

/**
 * A client like {@code nc}: connects, optionally passes the shared-secret handshake, then relays
 * stdin to the server and the server to stdout until both sides are done.
 *
 * <pre>
 * echo hello | portcullis connect 127.0.0.1:7000 --secret-file keys --key-id app-1
 * echo hello | portcullis connect 127.0.0.1:7000 --from 127.0.0.2
 * </pre>
 *
 * {@code --from ADDR} binds the client to a local address before it connects, as {@code kv-client}
 * does: on loopback, {@code 127.0.0.2} plays a second host.
 */
public final class Connect {
  private Connect() {}

  /** The command as {@code portcullis connect --help} shows it; its options are what the parser accepts. */
  public static final Command COMMAND = new Command("connect", List.of("HOST:PORT [OPTIONS]"),
      "like nc: connect, pass the shared-secret handshake if asked, then relay stdin and stdout",
      List.of(
          Option.valued("--secret-file", "FILE", "the keys, KEY_ID:HEXKEY lines; with --key-id, pass the shared-secret"
              + " handshake (default: none)"),
          Option.valued("--key-id", "ID", "which key of --secret-file to prove"),
          Option.valued("--from", "ADDR", "bind the client to this local address first, such as 127.0.0.2 to be"
              + " another host on loopback (default: the system picks)")),
      List.of("Exit status: 0 the exchange completed, 1 the connection or the handshake failed, 2 bad input."));

  /**
   * {@code java -cp portcullis-examples.jar dev.portcullis.examples.connect.Connect HOST:PORT ...}.
   *
   * @param args the command-line arguments, without the command name
   */
  public static void main(String[] args) {
    System.exit(run(args, System.in, System.out, System.err));
  }

  /**
   * Runs the client; returns 0 when the exchange completed, 1 when the connection or handshake failed.
   *
   * @param args the command-line arguments, without the command name
   * @param in standard input
   * @param out where results go
   * @param err where errors go
   * @return the exit status: 0 on success, 2 for a usage error, 1 otherwise
   */
  public static int run(String[] args, InputStream in, PrintStream out, PrintStream err) {
    Options o = Options.parse(args, COMMAND.options());
    if (o.positional().size() != 1) {
      throw new UsageException("connect takes one HOST:PORT");
    }
    java.net.InetSocketAddress target = Options.hostAndPort(o.positional().get(0));
    java.net.InetAddress from = o.address("--from");
    String file = o.one("--secret-file");
    String keyId = o.one("--key-id");
    if ((file == null) != (keyId == null)) {
      throw new UsageException("--secret-file and --key-id go together");
    }
    byte[] key = null;
    if (file != null) {
      // The key first: a missing or malformed file is the user's to fix before any connection.
      try {
        key = SharedSecret.loadKeys(Path.of(file)).get(keyId);
      } catch (IOException e) {
        err.println("portcullis connect: " + FileProblem.message(e));
        return 2;
      } catch (IllegalArgumentException e) {
        err.println("portcullis connect: " + e.getMessage());
        return 2;
      }
      if (key == null) {
        err.println("portcullis connect: " + FileProblem.about(file, "no key id '" + keyId + "'"));
        return 2;
      }
    }
    try (Socket socket = new Socket()) {
      if (from != null) {
        try {
          socket.bind(new InetSocketAddress(from, 0));
        } catch (IOException e) {
          err.println("portcullis connect: cannot bind to --from " + o.one("--from") + ": " + e.getMessage());
          return 1;
        }
      }
      socket.connect(target, 10_000);
      if (key != null) {
        SharedSecretClient.authenticate(socket.getInputStream(), socket.getOutputStream(), keyId, key);
      }
      OutputStream toServer = socket.getOutputStream();
      Thread upstream = new Thread(() -> {
        try {
          in.transferTo(toServer);
          socket.shutdownOutput();
        } catch (IOException e) {
          // the server went away; the downstream copy reports it
        }
      }, "portcullis-connect-stdin");
      upstream.setDaemon(true);
      upstream.start();
      socket.getInputStream().transferTo(out);
      out.flush();
      return 0;
    } catch (IllegalArgumentException e) {
      err.println("portcullis connect: " + e.getMessage());
      return 2;
    } catch (IOException e) {
      err.println("portcullis connect: " + e.getMessage());
      return 1;
    }
  }
}
