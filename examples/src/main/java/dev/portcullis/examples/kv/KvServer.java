package dev.portcullis.examples.kv;

import dev.portcullis.Connection;
import dev.portcullis.Server;
import dev.portcullis.examples.Options;
import dev.portcullis.examples.PolicyOptions;
import dev.portcullis.examples.Service;
import dev.portcullis.examples.UsageException;
import dev.portcullis.handshake.Handshakes;
import dev.portcullis.handshake.secret.SharedSecret;
import dev.portcullis.policy.AccessPolicy;
import java.io.BufferedInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.HashSet;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentMap;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.TimeUnit;

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
 * are the rest of the line. A line may be up to {@link #MAX_LINE} bytes (64 KiB) long; a longer
 * one gets {@code ERROR line too long (limit 65536 bytes)} and the connection is closed, without
 * the rest of it being read into memory. Writes are attributed in the log to the key id that made
 * them.
 */
public final class KvServer {
  private KvServer() {}

  private static final Set<String> VALUED;

  static {
    Set<String> v = new HashSet<>(PolicyOptions.VALUED);
    v.addAll(Set.of("--port", "--bind", "--secret-file"));
    v.addAll(Service.THREAD_OPTIONS);
    VALUED = Set.copyOf(v);
  }

  /**
   * {@code java -cp portcullis-examples.jar dev.portcullis.examples.kv.KvServer ...}.
   *
   * @param args the command-line arguments, without the command name
   */
  public static void main(String[] args) {
    dev.portcullis.examples.Service.handleSignals();
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
      Service.threads(o, server);
      return server.start();
    };
    return Service.run("kv", setup, Duration.ofSeconds(5), "", out, err);
  }

  /**
   * The longest request line the store reads, in bytes of UTF-8, not counting the line ending
   * ({@code \n}, or {@code \r\n}). Keys and values live in a line, so this bounds them too.
   */
  public static final int MAX_LINE = 64 * 1024;

  /** The reply to a longer line; the server closes the connection after it. */
  static final String LINE_TOO_LONG = "ERROR line too long (limit " + MAX_LINE + " bytes)";

  /** After {@link #LINE_TOO_LONG}: how long, and how much, of what the client still sends is discarded. */
  private static final long LINGER_MILLIS = 1000;
  private static final long LINGER_BYTES = 1 << 20;

  /** Cuts a lingering connection short; one daemon thread for the whole store. */
  private static final class Linger {
    static final ScheduledThreadPoolExecutor TIMER = new ScheduledThreadPoolExecutor(1, r -> {
      Thread t = new Thread(r, "portcullis-kv-linger");
      t.setDaemon(true);
      return t;
    });

    static {
      TIMER.setRemoveOnCancelPolicy(true);
    }
  }

  /** A request line longer than {@link #MAX_LINE}. */
  private static final class LineTooLongException extends IOException {
    private static final long serialVersionUID = 1L;

    LineTooLongException() {
      super(LINE_TOO_LONG);
    }
  }

  /** One client's session: the handshake is done, its key id is the connection's identity. */
  static void serve(Connection conn, ConcurrentMap<String, String> store) throws IOException {
    // Whether the last fill of the buffer met the end of the input: a line that ends there without
    // its \n while the server is stopping was cut short by the shutdown, not sent whole.
    boolean[] ended = new boolean[1];
    InputStream in = new BufferedInputStream(new java.io.FilterInputStream(conn.input()) {
      @Override
      public int read(byte[] b, int off, int len) throws IOException {
        int n = super.read(b, off, len);
        ended[0] = n < 0;
        return n;
      }
    });
    PrintWriter w = new PrintWriter(conn.output(), true, StandardCharsets.UTF_8);
    while (true) {
      String line;
      try {
        line = readLine(in, MAX_LINE);
      } catch (LineTooLongException e) {
        w.println(LINE_TOO_LONG);
        lingerAndClose(conn, in);
        return;
      }
      if (line == null || ended[0] && conn.isStopping()) {
        return; // the client left, or the server is stopping (and the client had nothing in flight)
      }
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

  /**
   * Reads one line of at most {@code limit} bytes, without its ending ({@code \n} or {@code
   * \r\n}), holding no more than {@code limit + 1} bytes of it.
   *
   * @return the line, or null at the end of the stream
   * @throws LineTooLongException as soon as the line is known to be longer than {@code limit}
   */
  static String readLine(InputStream in, int limit) throws IOException {
    byte[] buf = new byte[Math.min(256, limit + 1)];
    int n = 0;
    for (int b; (b = in.read()) != -1; ) {
      if (b == '\n') {
        if (n > 0 && buf[n - 1] == '\r') {
          n--;
        }
        if (n > limit) {
          throw new LineTooLongException();
        }
        return new String(buf, 0, n, StandardCharsets.UTF_8);
      }
      if (n == limit + 1) {
        throw new LineTooLongException(); // over the limit even if a \r was its last byte
      }
      if (n == buf.length) {
        buf = Arrays.copyOf(buf, Math.min(buf.length * 2, limit + 1));
      }
      buf[n++] = (byte) b;
    }
    if (n > limit) {
      throw new LineTooLongException();
    }
    return n == 0 ? null : new String(buf, 0, n, StandardCharsets.UTF_8);
  }

  /**
   * Closes after an error reply, first discarding what the client is still sending (at most
   * {@link #LINGER_BYTES}, for at most {@link #LINGER_MILLIS}), so that it reads the reply rather
   * than a reset: closing with unread bytes makes TCP send one.
   */
  private static void lingerAndClose(Connection conn, InputStream in) {
    ScheduledFuture<?> cut = Linger.TIMER.schedule(conn::close, LINGER_MILLIS, TimeUnit.MILLISECONDS);
    try {
      byte[] sink = new byte[8192];
      long left = LINGER_BYTES;
      for (int n; left > 0 && (n = in.read(sink, 0, (int) Math.min(sink.length, left))) > 0; ) {
        left -= n;
      }
    } catch (IOException e) {
      // closed by the timer, or by the client: either way, done
    } finally {
      cut.cancel(false);
      conn.close();
    }
  }

  private static String set(ConcurrentMap<String, String> store, String key, String value) {
    store.put(key, value);
    return "OK";
  }
}
