package dev.portcullis.examples.kv;

import dev.portcullis.Connection;
import dev.portcullis.Server;
import dev.portcullis.examples.Options;
import dev.portcullis.examples.PolicyOptions;
import dev.portcullis.examples.Service;
import dev.portcullis.examples.UsageException;
import dev.portcullis.handshake.Handshakes;
import dev.portcullis.handshake.SharedSecret;
import dev.portcullis.policy.AccessPolicy;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashSet;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentMap;

/**
 * A key-value store over a line protocol, guarded by an allow-list and the shared-secret
 * handshake: only allowed addresses that also prove they hold a key get to the store.
 *
 * <pre>
 * portcullis kv --port 7700 --allow 10.0.0.0/8 --secret-file kv.keys
 * portcullis kv-client 127.0.0.1:7700 --secret-file kv.keys --key-id app-1 SET colour blue
 * </pre>
 *
 * The protocol, after the handshake, one request a line, one reply a line (UTF-8):
 * {@code SET KEY VALUE} ({@code OK}), {@code GET KEY} ({@code VALUE v} or {@code NOT_FOUND}),
 * {@code DEL KEY} ({@code OK} or {@code NOT_FOUND}), {@code KEYS} ({@code KEYS k1 k2 ...}),
 * {@code QUIT} ({@code BYE}); anything else is {@code ERROR reason}. Keys have no spaces; values
 * are the rest of the line. Writes are attributed in the log to the key id that made them.
 */
public final class KvServer {
  private KvServer() {}

  private static final Set<String> VALUED;

  static {
    Set<String> v = new HashSet<>(PolicyOptions.VALUED);
    v.addAll(Set.of("--port", "--bind", "--secret-file"));
    VALUED = Set.copyOf(v);
  }

  /**
   * {@code java -cp portcullis-examples.jar dev.portcullis.examples.kv.KvServer ...}.
   *
   * @param args the command-line arguments, without the command name
   */
  public static void main(String[] args) {
    int status = run(args, System.out, System.err);
    if (status != 0) {
      System.exit(status);
    }
  }

  /**
   * Runs the store until the process is asked to stop; returns the exit status.
   *
   * @param args the command-line arguments, without the command name
   * @param out where results go
   * @param err where errors go
   * @return the exit status: 0 on success, 2 for a usage error, 1 otherwise
   */
  public static int run(String[] args, PrintStream out, PrintStream err) {
    Options o = Options.parse(args, VALUED, Set.of("--allow-all"));
    int port = o.integer("--port", 0, 65535, null);
    if (o.one("--secret-file") == null) {
      throw new UsageException("option --secret-file FILE is required: the store trusts no one without a key");
    }
    ConcurrentMap<String, String> store = new ConcurrentHashMap<>();
    Service.Setup setup = () -> {
      AccessPolicy policy = PolicyOptions.policy(o, o.has("--allow-all"));
      if (policy.isEmpty()) {
        throw new IllegalStateException("no access rules; give --allow CIDR, --policy FILE, or --allow-all");
      }
      Server server = Server.on(port).policy(policy)
          .handshake(Handshakes.sharedSecret(SharedSecret.loadKeys(Path.of(o.one("--secret-file")))))
          .handle(conn -> serve(conn, store));
      if (o.one("--bind") != null) {
        server.bindAddress(o.one("--bind"));
      }
      return server.start();
    };
    return Service.run("kv", setup, Duration.ofSeconds(5), "", out, err);
  }

  /** One client's session: the handshake is done, its key id is the connection's identity. */
  static void serve(Connection conn, ConcurrentMap<String, String> store) throws IOException {
    BufferedReader in = new BufferedReader(new InputStreamReader(conn.input(), StandardCharsets.UTF_8));
    PrintWriter w = new PrintWriter(conn.output(), true, StandardCharsets.UTF_8);
    for (String line; (line = in.readLine()) != null; ) {
      String[] words = line.strip().split(" ", 3);
      String reply = switch (words[0]) {
        case "SET" -> words.length == 3 && !words[1].isEmpty() ? set(store, words[1], words[2]) : "ERROR usage: SET KEY VALUE";
        case "GET" -> words.length == 2 ? (store.containsKey(words[1]) ? "VALUE " + store.get(words[1]) : "NOT_FOUND")
            : "ERROR usage: GET KEY";
        case "DEL" -> words.length == 2 ? (store.remove(words[1]) != null ? "OK" : "NOT_FOUND") : "ERROR usage: DEL KEY";
        case "KEYS" -> ("KEYS " + String.join(" ", new TreeMap<>(store).keySet())).strip();
        case "QUIT" -> "BYE";
        default -> "ERROR unknown command '" + words[0] + "'; SET, GET, DEL, KEYS or QUIT";
      };
      w.println(reply);
      if (reply.equals("BYE")) {
        return;
      }
    }
  }

  private static String set(ConcurrentMap<String, String> store, String key, String value) {
    store.put(key, value);
    return "OK";
  }
}
