package dev.portcullis.examples.connect;

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
import java.util.Set;

/**
 * A client like {@code nc}: connects, optionally passes the shared-secret handshake, then relays
 * stdin to the server and the server to stdout until both sides are done.
 *
 * <pre>
 * echo hello | portcullis connect 127.0.0.1:7000 --secret-file keys --key-id app-1
 * </pre>
 */
public final class Connect {
  private Connect() {}

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
    Options o = Options.parse(args, Set.of("--secret-file", "--key-id"), Set.of());
    if (o.positional().size() != 1) {
      throw new UsageException("connect takes one HOST:PORT");
    }
    java.net.InetSocketAddress target = Options.hostAndPort(o.positional().get(0));
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
      } catch (java.nio.file.NoSuchFileException e) {
        err.println("portcullis connect: no such file: " + e.getFile());
        return 2;
      } catch (java.io.IOException | IllegalArgumentException e) {
        err.println("portcullis connect: " + e.getMessage());
        return 2;
      }
      if (key == null) {
        err.println("portcullis connect: key id '" + keyId + "' is not in " + file);
        return 2;
      }
    }
    try (Socket socket = new Socket()) {
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
