package dev.portcullis.examples.kv;

import dev.portcullis.Connection;
import dev.portcullis.Handshakes;
import dev.portcullis.Server;
import dev.portcullis.examples.Command;
import dev.portcullis.examples.CrowdSecOptions;
import dev.portcullis.examples.Option;
import dev.portcullis.examples.Options;
import dev.portcullis.examples.PolicyOptions;
import dev.portcullis.examples.Service;
import dev.portcullis.examples.UsageException;
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
import java.util.List;
import java.util.concurrent.ConcurrentSkipListMap;
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
 * {@code DEL KEY} ({@code OK} or {@code NOT_FOUND}), {@code KEYS [PREFIX]} ({@code KEYS k1 k2 ...},
 * sorted, or {@code PARTIAL k1 k2 ...} when more keys match than one reply lists), {@code QUIT}
 * ({@code BYE}); anything else is {@code ERROR reason}. Keys have no spaces; values are the rest of
 * the line. A line may be up to {@link #MAX_LINE} bytes (64 KiB) long; a longer one gets {@code
 * ERROR line too long (limit 65536 bytes)} and the connection is closed, without the rest of it
 * being read into memory. Writes are attributed in the log to the key id that made them.
 *
 * <p>Everything a client can make the store hold is bounded (see {@link Bounds}): the number of
 * keys, a key's and a value's length, the bytes of all keys and values together, the keys one
 * {@code KEYS} reply lists, and the connections (256, and 32 from one source, by default). A
 * {@code SET} past a bound gets {@code ERROR ...} naming it and stores nothing; every other client
 * goes on being served.
 */
public final class KvServer {
  private KvServer() {}

  /** The command as {@code portcullis kv --help} shows it; its options are what the parser accepts. */
  public static final Command COMMAND = new Command("kv", List.of("--port P --secret-file FILE [OPTIONS]"),
      "a key-value store (SET/GET/DEL/KEYS) behind an allow-list and the shared secret",
      Option.concat(List.of(
          Option.valued("--port", "P", "the TCP port to listen on, 0..65535; 0 picks a free one (required)"),
          Option.valued("--bind", "ADDR", "the local address to listen on (default: every address, IPv4 and IPv6)"),
          Option.valued("--secret-file", "FILE", "the clients' keys, KEY_ID:HEXKEY lines (required: the store trusts"
              + " no one without a key)")),
          PolicyOptions.RULES, List.of(PolicyOptions.ALLOW_ALL), List.of(
          Option.valued("--max-connections", "N", "connections open at once (default " + KvServer.DEFAULT_MAX_CONNECTIONS + ")"),
          Option.valued("--max-per-source", "N", "connections open at once from one address or IPv6 /64 (default "
              + KvServer.DEFAULT_MAX_PER_SOURCE + ")"),
          Option.valued("--max-keys", "N", "keys in the store (default " + Bounds.DEFAULT.maxKeys() + ")"),
          Option.valued("--max-key-bytes", "SIZE", "the longest key (default 1k)"),
          Option.valued("--max-value-bytes", "SIZE", "the longest value, at most 64k (default 64k)"),
          Option.valued("--max-bytes", "SIZE", "bytes of all keys and values together (default 64m)"),
          Option.valued("--max-list", "N", "keys one KEYS reply lists; more is PARTIAL (default "
              + Bounds.DEFAULT.maxList() + ")")),
          Service.THREAD_OPTIONS, CrowdSecOptions.OPTIONS),
      List.of("SIZE is bytes, or a number with k, m or g (KiB, MiB, GiB).",
          "Exit status: 0 stopped by SIGTERM or Ctrl-C, 1 the system refused (a port in use), 2 bad input."));

  /**
   * {@code java -cp portcullis-examples.jar dev.portcullis.examples.kv.KvServer ...}.
   *
   * @param args the command-line arguments, without the command name
   */
  public static void main(String[] args) {
    Service.main(args, KvServer::run);
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
    Options o = Options.parse(args, COMMAND.options());
    if (!o.positional().isEmpty()) {
      throw new UsageException("unexpected argument '" + o.positional().get(0) + "'");
    }
    int port = o.integer("--port", 0, 65535, null);
    if (o.one("--secret-file") == null) {
      throw new UsageException("option --secret-file FILE is required: the store trusts no one without a key");
    }
    Store store = new Store(Bounds.of(o));
    int maxConnections = o.integer("--max-connections", 1, Integer.MAX_VALUE, DEFAULT_MAX_CONNECTIONS);
    int maxPerSource = o.integer("--max-per-source", 1, Integer.MAX_VALUE, DEFAULT_MAX_PER_SOURCE);
    Service.Setup setup = () -> {
      CrowdSecOptions crowdsec = CrowdSecOptions.read(o, o.one("--penalty") != null);
      AccessPolicy policy = PolicyOptions.policy(o, o.has("--allow-all"));
      if (policy.isEmpty()) {
        throw new IllegalStateException("no access rules; give --allow CIDR, --policy FILE, or --allow-all");
      }
      Server.TcpBuilder server = Server.on(port).policy(policy)
          .handshake(Handshakes.sharedSecret(SharedSecret.loadKeys(Path.of(o.one("--secret-file")))))
          .maxConnections(maxConnections).maxConnectionsPerSource(maxPerSource)
          .handle(conn -> serve(conn, store));
      if (o.one("--bind") != null) {
        server.bindAddress(o.one("--bind"));
      }
      Service.threads(o, server);
      return CrowdSecOptions.attach(crowdsec, server.start());
    };
    return Service.run("kv", setup, Duration.ofSeconds(5), "", out, err);
  }

  /**
   * The longest request line the store reads, in bytes of UTF-8, not counting the line ending
   * ({@code \n}, or {@code \r\n}). Keys and values live in a line, so this bounds them too.
   */
  public static final int MAX_LINE = 64 * 1024;

  /**
   * Connections open at once, by default ({@code --max-connections}): each may hold a line of up to
   * {@link #MAX_LINE} bytes and a few copies of it while it is parsed, a few hundred KiB at worst.
   */
  public static final int DEFAULT_MAX_CONNECTIONS = 256;

  /** Connections open at once from one source (an IPv4 address, an IPv6 /64), by default ({@code --max-per-source}). */
  public static final int DEFAULT_MAX_PER_SOURCE = 32;

  /**
   * What the store may hold and what one {@code KEYS} reply lists. Sizes are bytes of UTF-8; the
   * total counts every key and every value. The heap holds values as those bytes and keys as Java
   * strings (at most twice their UTF-8 size), plus about 100 bytes a key.
   *
   * @param maxKeys the most keys ({@code --max-keys}, default 100,000)
   * @param maxKeyBytes the longest key ({@code --max-key-bytes}, default 1,024)
   * @param maxValueBytes the longest value ({@code --max-value-bytes}, default 65,536: the line limit
   *     bounds a value anyway)
   * @param maxBytes the most bytes of keys and values together ({@code --max-bytes}, default 64 MiB)
   * @param maxList the most keys one {@code KEYS} reply lists ({@code --max-list}, default 1,000); a
   *     reply also stops before {@link #MAX_LINE} bytes of keys
   */
  public record Bounds(int maxKeys, int maxKeyBytes, int maxValueBytes, long maxBytes, int maxList) {
    /** The defaults. */
    public static final Bounds DEFAULT = new Bounds(100_000, 1024, MAX_LINE, 64L << 20, 1000);

    /**
     * Checks each bound.
     *
     * @throws IllegalArgumentException if a bound is below 1, or a length above {@link #MAX_LINE}
     */
    public Bounds {
      if (maxKeys < 1 || maxKeyBytes < 1 || maxValueBytes < 1 || maxBytes < 1 || maxList < 1) {
        throw new IllegalArgumentException("every bound must be at least 1: " + this);
      }
      if (maxKeyBytes > MAX_LINE || maxValueBytes > MAX_LINE) {
        throw new IllegalArgumentException("a key or a value is part of a line of at most " + MAX_LINE
            + " bytes: " + this);
      }
    }

    /** The bounds the options give, the defaults for the others. */
    static Bounds of(Options o) {
      return new Bounds(o.integer("--max-keys", 1, Integer.MAX_VALUE, DEFAULT.maxKeys),
          (int) size(o, "--max-key-bytes", MAX_LINE, DEFAULT.maxKeyBytes),
          (int) size(o, "--max-value-bytes", MAX_LINE, DEFAULT.maxValueBytes),
          size(o, "--max-bytes", 1L << 40, DEFAULT.maxBytes),
          o.integer("--max-list", 1, 100_000, DEFAULT.maxList));
    }

    /** A size option: bytes, or with {@code k}, {@code m} or {@code g} (KiB, MiB, GiB). */
    private static long size(Options o, String name, long max, long fallback) {
      String v = o.one(name);
      if (v == null) {
        return fallback;
      }
      java.util.regex.Matcher m = java.util.regex.Pattern.compile("([0-9]{1,13})([kKmMgG]?)").matcher(v);
      if (!m.matches()) {
        throw new UsageException(name + " '" + v + "' is not a size such as 65536, 64k or 64m");
      }
      long n = Long.parseLong(m.group(1)) << switch (m.group(2).toLowerCase(java.util.Locale.ROOT)) {
        case "k" -> 10;
        case "m" -> 20;
        case "g" -> 30;
        default -> 0;
      };
      if (n < 1 || n > max) {
        throw new UsageException(name + " " + v + " is out of range 1.." + max + " bytes");
      }
      return n;
    }
  }

  /**
   * The keys and values, in key order, within their {@link Bounds}. Reads take no lock; changes take
   * the store's, so the count and the total are exact whoever writes.
   */
  static final class Store {
    private final Bounds bounds;
    private final ConcurrentSkipListMap<String, byte[]> map = new ConcurrentSkipListMap<>();
    private int count; // guarded by this: the keys (the map's size() walks the whole map)
    private long bytes; // guarded by this: UTF-8 bytes of every key and value

    Store(Bounds bounds) {
      this.bounds = bounds;
    }

    /** {@code OK}, or {@code ERROR ...} naming the bound the SET would pass; then nothing is stored. */
    String set(String key, String value) {
      int keyBytes = key.getBytes(StandardCharsets.UTF_8).length;
      if (keyBytes > bounds.maxKeyBytes) {
        return "ERROR key too long (" + keyBytes + " bytes; limit " + bounds.maxKeyBytes + ")";
      }
      byte[] v = value.getBytes(StandardCharsets.UTF_8);
      if (v.length > bounds.maxValueBytes) {
        return "ERROR value too long (" + v.length + " bytes; limit " + bounds.maxValueBytes + ")";
      }
      synchronized (this) {
        byte[] old = map.get(key);
        if (old == null && count >= bounds.maxKeys) {
          return "ERROR store full: " + bounds.maxKeys + " keys, the limit; DEL some first";
        }
        long after = bytes + v.length - (old == null ? -keyBytes : old.length);
        if (after > bounds.maxBytes) {
          return "ERROR store full: " + bytes + " of " + bounds.maxBytes + " bytes used, this SET needs "
              + (after - bytes) + " more; DEL some first";
        }
        map.put(key, v);
        bytes = after;
        count += old == null ? 1 : 0;
      }
      return "OK";
    }

    /** {@code VALUE v} or {@code NOT_FOUND}. */
    String get(String key) {
      byte[] v = map.get(key);
      return v == null ? "NOT_FOUND" : "VALUE " + new String(v, StandardCharsets.UTF_8);
    }

    /** {@code OK} or {@code NOT_FOUND}. */
    synchronized String delete(String key) {
      byte[] old = map.remove(key);
      if (old == null) {
        return "NOT_FOUND";
      }
      bytes -= key.getBytes(StandardCharsets.UTF_8).length + old.length;
      count--;
      return "OK";
    }

    /**
     * {@code KEYS k1 k2 ...}: the keys that start with {@code prefix}, in order; or {@code PARTIAL k1
     * k2 ...}, the first of them, when more match than {@link Bounds#maxList} or than fit in {@link
     * #MAX_LINE} bytes. Walks only the keys it lists, and copies nothing else.
     */
    String keys(String prefix) {
      StringBuilder sb = new StringBuilder();
      int listed = 0;
      int size = 0;
      for (String k : map.tailMap(prefix).keySet()) {
        if (!k.startsWith(prefix)) {
          break;
        }
        int length = k.getBytes(StandardCharsets.UTF_8).length + 1;
        if (listed == bounds.maxList || size + length > MAX_LINE) {
          return "PARTIAL" + sb;
        }
        sb.append(' ').append(k);
        listed++;
        size += length;
      }
      return "KEYS" + sb;
    }
  }

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
  static void serve(Connection conn, Store store) throws IOException {
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
        case "SET" -> words.length == 3 && !words[1].isEmpty() ? store.set(words[1], words[2]) : "ERROR usage: SET KEY VALUE";
        case "GET" -> words.length == 2 ? store.get(words[1]) : "ERROR usage: GET KEY";
        case "DEL" -> words.length == 2 ? store.delete(words[1]) : "ERROR usage: DEL KEY";
        case "KEYS" -> words.length <= 2 ? store.keys(words.length == 2 ? words[1] : "") : "ERROR usage: KEYS [PREFIX]";
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
}
