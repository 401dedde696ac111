package dev.portcullis.examples.kv;

import dev.portcullis.examples.Command;
import dev.portcullis.examples.FileProblem;
import dev.portcullis.examples.Option;
import dev.portcullis.examples.Options;
import dev.portcullis.examples.UsageException;
import dev.portcullis.handshake.secret.SharedSecret;
import dev.portcullis.handshake.secret.SharedSecretClient;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.io.PrintStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Map;
import java.util.List;

/**
 * The client of {@link KvServer}: passes the shared-secret handshake with the named key, sends one
 * request made of the remaining arguments, prints the reply, and exits 0 (or 1 when the reply is
 * {@code ERROR ...} or the server refused; 2 for a request longer than {@link KvServer#MAX_LINE}
 * bytes, which is not sent).
 *
 * <pre>
 * portcullis kv-client 127.0.0.1:7700 --secret-file kv.keys --key-id app-1 GET colour
 * </pre>
 */
public final class KvClient {
  private KvClient() {}

  /** The command as {@code portcullis kv-client --help} shows it; its options are what the parser accepts. */
  public static final Command COMMAND = new Command("kv-client",
      List.of("HOST:PORT --secret-file FILE --key-id ID COMMAND [ARGS...] [OPTIONS]"),
      "send one request to a kv store (SET KEY VALUE, GET KEY, DEL KEY, KEYS [PREFIX]) and print the reply",
      List.of(
          Option.valued("--secret-file", "FILE", "the keys, KEY_ID:HEXKEY lines (required)"),
          Option.valued("--key-id", "ID", "which key of --secret-file to prove (required)"),
          Option.valued("--from", "ADDR", "bind the client to this local address first, such as 127.0.0.2 to be"
              + " another host on loopback (default: the system picks)")),
      List.of("Exit status: 0 a reply, 1 an ERROR reply or the server refused, 2 bad input."));

  /**
   * {@code java -cp portcullis-examples.jar dev.portcullis.examples.kv.KvClient ...}.
   *
   * @param args the command-line arguments, without the command name
   */
  public static void main(String[] args) {
    System.exit(run(args, System.out, System.err));
  }

  /**
   * Runs one request; returns the exit status.
   *
   * @param args the command-line arguments, without the command name
   * @param out where results go
   * @param err where errors go
   * @return the exit status: 0 on success, 2 for a usage error, 1 otherwise
   */
  public static int run(String[] args, PrintStream out, PrintStream err) {
    Options o = Options.parse(args, COMMAND.options());
    java.net.InetAddress from = o.address("--from");
    if (o.positional().size() < 2) {
      throw new UsageException("expected HOST:PORT COMMAND [ARGS...]");
    }
    String target = o.positional().get(0);
    String request = String.join(" ", o.positional().subList(1, o.positional().size()));
    if (o.one("--secret-file") == null || o.one("--key-id") == null) {
      throw new UsageException("--secret-file FILE and --key-id ID are required");
    }
    int colon = target.lastIndexOf(':');
    if (colon <= 0) {
      throw new UsageException("'" + target + "' is not HOST:PORT");
    }
    int length = request.getBytes(StandardCharsets.UTF_8).length;
    if (length > KvServer.MAX_LINE) {
      err.println("portcullis kv-client: the request is " + length + " bytes; kv reads lines of up to "
          + KvServer.MAX_LINE + " bytes");
      return 2;
    }
    byte[] key;
    try {
      // The key first: a missing or malformed file is the user's to fix before any connection.
      Map<String, byte[]> keys = SharedSecret.loadKeys(Path.of(o.one("--secret-file")));
      key = keys.get(o.one("--key-id"));
    } catch (IOException e) {
      err.println("portcullis kv-client: " + FileProblem.message(e));
      return 2;
    } catch (IllegalArgumentException e) {
      err.println("portcullis kv-client: " + e.getMessage());
      return 2;
    }
    if (key == null) {
      err.println("portcullis kv-client: " + FileProblem.about(o.one("--secret-file"), "no key id '"
          + o.one("--key-id") + "'"));
      return 2;
    }
    try (Socket s = new Socket()) {
      if (from != null) {
        s.bind(new InetSocketAddress(from, 0));
      }
      s.connect(new InetSocketAddress(target.substring(0, colon), Integer.parseInt(target.substring(colon + 1))), 5000);
      s.setSoTimeout(10_000);
      SharedSecretClient.authenticate(s.getInputStream(), s.getOutputStream(), o.one("--key-id"), key);
      OutputStream w = s.getOutputStream();
      w.write((request + "\n").getBytes(StandardCharsets.UTF_8));
      w.flush();
      String reply = new BufferedReader(new InputStreamReader(s.getInputStream(), StandardCharsets.UTF_8)).readLine();
      if (reply == null) {
        err.println("portcullis kv-client: the server closed the connection");
        return 1;
      }
      out.println(reply);
      return reply.startsWith("ERROR") ? 1 : 0;
    } catch (NumberFormatException e) {
      throw new UsageException("'" + target + "' is not HOST:PORT");
    } catch (IOException e) {
      err.println("portcullis kv-client: " + e.getMessage());
      return 1;
    }
  }
}
