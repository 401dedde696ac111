package dev.portcullis.examples;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.portcullis.handshake.secret.SharedSecretClient;
import java.io.BufferedReader;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.io.PrintStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** {@code portcullis kv} in its own JVM, driven by {@code kv-client} and by a shell client using only openssl. */
@Timeout(90)
class KvTest {
  private final ByteArrayOutputStream out = new ByteArrayOutputStream();
  private final ByteArrayOutputStream err = new ByteArrayOutputStream();

  private String[] client(String... args) {
    out.reset();
    err.reset();
    int status = Launcher.run(args, new ByteArrayInputStream(new byte[0]), new PrintStream(out, true, StandardCharsets.UTF_8),
        new PrintStream(err, true, StandardCharsets.UTF_8));
    return new String[] {String.valueOf(status), out.toString(StandardCharsets.UTF_8).strip(),
        err.toString(StandardCharsets.UTF_8).strip()};
  }

  @Test
  void storesBehindAnAllowListAndTheSharedSecret(@TempDir Path dir) throws Exception {
    Path keys = Files.writeString(dir.resolve("kv.keys"), "app-1:8f2a5c7e1b3d4f6a8c0e2b4d6f8a1c3e\n");
    Path wrong = Files.writeString(dir.resolve("wrong.keys"), "app-1:000102030405060708090a0b0c0d0e0f\n");
    Process p = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-cp",
        System.getProperty("java.class.path"), Launcher.class.getName(), "kv", "--port", "0", "--bind", "127.0.0.1",
        "--allow", "127.0.0.0/8", "--deny", "127.0.0.2", "--secret-file", keys.toString())
        .redirectError(ProcessBuilder.Redirect.INHERIT).start();
    try (BufferedReader o = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
      String first = o.readLine();
      assertTrue(first != null && first.startsWith("listening on 127.0.0.1:"), String.valueOf(first));
      String at = first.substring("listening on ".length());
      List<String> auth = new ArrayList<>(List.of("kv-client", at, "--secret-file", keys.toString(), "--key-id", "app-1"));

      assertEquals("OK", run(auth, "SET", "colour", "deep blue")[1]);
      assertEquals("VALUE deep blue", run(auth, "GET", "colour")[1]);
      assertEquals("KEYS colour", run(auth, "KEYS")[1]);
      assertEquals("NOT_FOUND", run(auth, "GET", "shape")[1]);
      String[] bad = run(auth, "FROB");
      assertEquals("1", bad[0]);
      assertTrue(bad[1].startsWith("ERROR unknown command 'FROB'"), bad[1]);
      assertEquals("OK", run(auth, "DEL", "colour")[1]);

      String[] wrongKey = client("kv-client", at, "--secret-file", wrong.toString(), "--key-id", "app-1", "GET", "x");
      assertEquals("1", wrongKey[0], "a wrong key is refused: " + wrongKey[2]);
      String[] deniedHost = client("kv-client", at, "--secret-file", keys.toString(), "--key-id", "app-1", "--from",
          "127.0.0.2", "GET", "x");
      assertEquals("1", deniedHost[0], "127.0.0.2 never reaches the handshake: " + deniedHost[2]);

      // A client that knows only the published wire format: bash, /dev/tcp and openssl dgst.
      String script = String.join("\n", "set -eu",
          "exec 3<>/dev/tcp/127.0.0.1/" + at.substring(at.indexOf(':') + 1),
          "read -r magic version nonce <&3",
          "mac=$(printf '%s' \"portcullis-auth v1 client $nonce app-1\" | openssl dgst -sha256 -mac HMAC"
              + " -macopt hexkey:8f2a5c7e1b3d4f6a8c0e2b4d6f8a1c3e | awk '{print $NF}')",
          "printf 'AUTH app-1 %s\\n' \"$mac\" >&3",
          "read -r ok <&3",
          "printf 'SET from-shell yes\\nGET from-shell\\nQUIT\\n' >&3",
          "cat <&3", "");
      Tools.require("openssl");
      Process sh = new ProcessBuilder(Tools.require("bash"), "-c", script).redirectErrorStream(true).start();
      String shell = new String(sh.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
      assertTrue(sh.waitFor(20, TimeUnit.SECONDS));
      assertEquals("OK\nVALUE yes\nBYE\n", shell);
    } finally {
      p.toHandle().destroy();
      p.waitFor(10, TimeUnit.SECONDS);
      p.destroyForcibly();
    }
  }

  @Test
  void anOverLongLineGetsAClearErrorAndTheConnectionIsClosed(@TempDir Path dir) throws Exception {
    Path keys = Files.writeString(dir.resolve("kv.keys"), "app-1:" + KEY_HEX + "\n");
    Process p = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-cp",
        System.getProperty("java.class.path"), Launcher.class.getName(), "kv", "--port", "0", "--bind", "127.0.0.1",
        "--allow", "127.0.0.0/8", "--secret-file", keys.toString())
        .redirectError(ProcessBuilder.Redirect.INHERIT).start();
    try (BufferedReader o = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
      String first = o.readLine();
      assertTrue(first != null && first.startsWith("listening on 127.0.0.1:"), String.valueOf(first));
      String at = first.substring("listening on ".length());
      int port = Integer.parseInt(at.substring(at.indexOf(':') + 1));

      try (Socket s = authenticated(port)) {
        // Exactly at the limit (65536 bytes before the newline) is still a request.
        String atLimit = "SET big " + "v".repeat(65536 - "SET big ".length());
        s.getOutputStream().write((atLimit + "\n").getBytes(StandardCharsets.UTF_8));
        assertEquals("OK", readLine(s.getInputStream()));

        // 4 MiB without a newline: the server must answer after the first 64 KiB, not buffer it all.
        AtomicLong sent = new AtomicLong();
        Thread flood = new Thread(() -> {
          byte[] chunk = ("SET huge " + "x".repeat(65536)).getBytes(StandardCharsets.UTF_8);
          try {
            OutputStream w = s.getOutputStream();
            for (int i = 0; i < 64 && sent.get() < 4L << 20; i++) {
              w.write(chunk);
              sent.addAndGet(chunk.length);
            }
          } catch (IOException e) {
            // the server closed the connection: expected once it has answered
          }
        }, "flood");
        flood.setDaemon(true);
        flood.start();
        assertEquals("ERROR line too long (limit 65536 bytes)", readLine(s.getInputStream()));
        assertTrue(closed(s.getInputStream()), "the server closes the connection after the error");
        flood.join(TimeUnit.SECONDS.toMillis(20));
      }

      // The server is fine and the over-long request stored nothing.
      List<String> auth = new ArrayList<>(List.of("kv-client", at, "--secret-file", keys.toString(), "--key-id", "app-1"));
      assertEquals("OK", run(auth, "SET", "colour", "blue")[1]);
      assertEquals("VALUE blue", run(auth, "GET", "colour")[1]);
      assertEquals("NOT_FOUND", run(auth, "GET", "huge")[1]);
      assertEquals(65536 - "SET big ".length() + "VALUE ".length(), run(auth, "GET", "big")[1].length());

      // kv-client refuses to send a request the server would refuse.
      String[] tooLong = run(auth, "SET", "k", "y".repeat(70_000));
      assertEquals("2", tooLong[0], tooLong[2]);
      assertTrue(tooLong[2].contains("65536"), tooLong[2]);
    } finally {
      p.toHandle().destroy();
      p.waitFor(10, TimeUnit.SECONDS);
      p.destroyForcibly();
    }
  }

  /**
   * {@code --loops 2} serves on two event loops (the startup line says so) and {@code --idle-timeout
   * 1} closes an authenticated client that then says nothing, while one that keeps talking stays.
   */
  @Test
  void loopsAndIdleTimeoutApply(@TempDir Path dir) throws Exception {
    Path keys = Files.writeString(dir.resolve("kv.keys"), "app-1:" + KEY_HEX + "\n");
    Path log = dir.resolve("kv.log");
    Process p = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-cp",
        System.getProperty("java.class.path"), Launcher.class.getName(), "kv", "--port", "0", "--bind", "127.0.0.1",
        "--allow", "127.0.0.0/8", "--secret-file", keys.toString(), "--loops", "2", "--idle-timeout", "1")
        .redirectError(log.toFile()).start();
    try (BufferedReader o = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
      String first = o.readLine();
      assertTrue(first != null && first.startsWith("listening on 127.0.0.1:"), String.valueOf(first));
      String at = first.substring("listening on ".length());
      int port = Integer.parseInt(at.substring(at.indexOf(':') + 1));
      String startup = Files.readString(log);
      assertTrue(startup.contains("2 event loops"), startup);
      try (Socket quiet = authenticated(port); Socket talking = authenticated(port)) {
        long start = System.nanoTime();
        for (int i = 0; i < 6; i++) { // 3 s of requests, one every 0.5 s
          talking.getOutputStream().write(("SET k" + i + " v\n").getBytes(StandardCharsets.UTF_8));
          assertEquals("OK", readLine(talking.getInputStream()), "a client that keeps talking is served");
          Thread.sleep(500);
        }
        assertTrue(closed(quiet.getInputStream()), "the quiet client was closed");
        assertTrue(System.nanoTime() - start < TimeUnit.SECONDS.toNanos(10), "closed well before its read timeout");
      }
    } finally {
      p.toHandle().destroy();
      p.waitFor(10, TimeUnit.SECONDS);
      p.destroyForcibly();
    }
  }

  /**
   * With small bounds: one client pipelines SETs past --max-bytes and gets {@code ERROR store full}
   * for each one over it, while a second client still reads, lists (a bounded, marked list), deletes
   * and, once there is room, stores; then --max-keys, --max-key-bytes and --max-value-bytes refuse
   * with their own errors.
   */
  @Test
  void oneClientFillingTheStoreGetsAClearErrorWhileAnotherIsStillServed(@TempDir Path dir) throws Exception {
    Path keys = Files.writeString(dir.resolve("kv.keys"), "app-1:" + KEY_HEX + "\n");
    Process p = startKv(keys, List.of(), "--max-bytes", "200000", "--max-keys", "70", "--max-list", "10",
        "--max-key-bytes", "32", "--max-value-bytes", "4096");
    try (BufferedReader o = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
      int port = readyPort(o);
      String value = "v".repeat(3000);
      int fits = 200_000 / ("fill-0000".length() + value.length()); // keys and values count, in UTF-8 bytes
      try (Socket filler = authenticated(port); Socket other = authenticated(port)) {
        List<String> replies = pipeline(filler, 200, i -> String.format("SET fill-%04d %s", i, value));
        for (int i = 0; i < fits; i++) {
          assertEquals("OK", replies.get(i), "SET " + i);
        }
        assertTrue(replies.size() > fits, replies.size() + " replies");
        for (int i = fits; i < replies.size(); i++) {
          assertTrue(replies.get(i).startsWith("ERROR store full:") && replies.get(i).contains("200000 bytes"),
              "SET " + i + ": " + replies.get(i));
        }

        assertEquals("VALUE " + value, request(other, "GET fill-0001"));
        assertEquals("PARTIAL fill-0000 fill-0001 fill-0002 fill-0003 fill-0004 fill-0005 fill-0006 fill-0007"
            + " fill-0008 fill-0009", request(other, "KEYS"), "at most --max-list keys, marked as a part");
        String last = String.format("fill-%04d", fits - 1);
        assertEquals("KEYS " + last, request(other, "KEYS " + last), "a prefix narrows the list");
        assertTrue(request(other, "SET mine " + value).startsWith("ERROR store full:"), "full for everyone");
        assertEquals("OK", request(other, "DEL fill-0000"));
        for (int i = fits - 1; i < 70; i++) {
          assertEquals("OK", request(other, "SET k" + i + " x"), "room again after the DEL, up to 70 keys");
        }
        String tooMany = request(other, "SET one-more x");
        assertTrue(tooMany.startsWith("ERROR store full: 70 keys"), tooMany);
        assertEquals("OK", request(other, "SET k69 replaced"), "replacing a key adds no key");
        assertEquals("ERROR key too long (33 bytes; limit 32)", request(other, "SET " + "k".repeat(33) + " x"));
        assertEquals("ERROR value too long (4097 bytes; limit 4096)", request(other, "SET k1 " + "w".repeat(4097)));
        assertEquals("VALUE " + value, request(filler, "GET fill-0002"), "the filler itself is still served");
      }
    } finally {
      stop(p);
    }
  }

  @Test
  void aBadBoundIsAUsageErrorThatNamesIt() {
    String[] bad = client("kv", "--port", "0", "--secret-file", "kv.keys", "--allow-all", "--max-bytes", "12x");
    assertEquals("2", bad[0]);
    assertTrue(bad[2].contains("--max-bytes '12x' is not a size such as 65536, 64k or 64m"), bad[2]);
    String[] over = client("kv", "--port", "0", "--secret-file", "kv.keys", "--allow-all", "--max-value-bytes", "1m");
    assertEquals("2", over[0]);
    assertTrue(over[2].contains("--max-value-bytes 1m is out of range 1..65536 bytes"), over[2]);
    String[] help = client("kv", "--help");
    for (String option : List.of("--max-connections", "--max-per-source", "--max-keys", "--max-key-bytes",
        "--max-value-bytes", "--max-bytes", "--max-list")) {
      assertTrue(help[1].contains(option), option + " in " + help[1]);
    }
  }

  /**
   * The attack, with the defaults on a 256 MiB heap: one client pipelines SETs of distinct
   * keys and 60 KiB values. The store refuses it once full (64 MiB by default) and everyone else is
   * still served; the old store filled the heap.
   */
  @Test
  void theDefaultsHoldOnA256MiBHeapAgainstOnePipeliningClient(@TempDir Path dir) throws Exception {
    Path keys = Files.writeString(dir.resolve("kv.keys"), "app-1:" + KEY_HEX + "\n");
    Process p = startKv(keys, List.of("-Xmx256m"));
    try (BufferedReader o = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
      int port = readyPort(o);
      String value = "x".repeat(60 * 1024);
      try (Socket filler = authenticated(port)) {
        // 6,000 SETs would be 360 MiB, more than the whole heap; stop sending soon after the first error.
        List<String> replies = pipeline(filler, 6000, i -> "SET key-" + i + " " + value);
        int fits = 0; // 64 MiB of keys and values, counted in UTF-8 bytes
        for (long used = 0; (used += ("key-" + fits).length() + value.length()) <= 64L << 20; ) {
          fits++;
        }
        for (int i = 0; i < fits; i++) {
          assertEquals("OK", replies.get(i), "SET " + i);
        }
        assertTrue(replies.get(fits).startsWith("ERROR store full:"), replies.get(fits));
      }
      try (Socket other = authenticated(port)) {
        assertEquals("VALUE " + value, request(other, "GET key-7"));
        String list = request(other, "KEYS");
        assertTrue(list.startsWith("PARTIAL key-0 key-1 key-10 key-100 key-1000 "), list.substring(0, 100));
        assertEquals(1 + 1000, list.split(" ").length, "the first 1,000 keys, the default --max-list");
        assertEquals("OK", request(other, "DEL key-7"));
        assertEquals("OK", request(other, "SET colour blue"));
      }
    } finally {
      stop(p);
    }
  }

  /**
   * Sends {@code count} requests without waiting for replies, then {@code GET pipeline-end}, reading
   * the replies as they come; stops sending early once a reply is not {@code OK}. Returns the replies
   * before that of the last GET, each cut to 200 characters.
   */
  private static List<String> pipeline(Socket s, int count, java.util.function.IntFunction<String> request)
      throws Exception {
    java.util.concurrent.atomic.AtomicBoolean refused = new java.util.concurrent.atomic.AtomicBoolean();
    Thread writer = new Thread(() -> {
      try {
        OutputStream w = new java.io.BufferedOutputStream(s.getOutputStream(), 1 << 16);
        for (int i = 0; i < count && !refused.get(); i++) {
          w.write((request.apply(i) + "\n").getBytes(StandardCharsets.UTF_8));
        }
        w.write("GET pipeline-end\n".getBytes(StandardCharsets.UTF_8));
        w.flush();
      } catch (IOException e) {
        // the reader sees the connection end
      }
    }, "pipeline");
    writer.setDaemon(true);
    writer.start();
    List<String> replies = new ArrayList<>();
    BufferedReader r = new BufferedReader(new InputStreamReader(s.getInputStream(), StandardCharsets.UTF_8));
    for (String line; !"NOT_FOUND".equals(line = r.readLine()); ) {
      if (line == null) {
        throw new AssertionError("closed after " + replies.size() + " replies");
      }
      replies.add(line.length() > 200 ? line.substring(0, 200) : line);
      if (!line.equals("OK")) {
        refused.set(true);
      }
    }
    writer.join(10_000);
    return replies;
  }

  private static String request(Socket s, String line) throws IOException {
    s.getOutputStream().write((line + "\n").getBytes(StandardCharsets.UTF_8));
    StringBuilder sb = new StringBuilder();
    InputStream in = s.getInputStream();
    for (int b; (b = in.read()) != '\n'; ) {
      if (b == -1) {
        throw new AssertionError("closed before the reply to " + line);
      }
      sb.append((char) b);
    }
    return sb.toString();
  }

  private static Process startKv(Path keys, List<String> jvm, String... options) throws IOException {
    List<String> command = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString()));
    command.addAll(jvm);
    command.addAll(List.of("-cp", System.getProperty("java.class.path"), Launcher.class.getName(), "kv", "--port", "0",
        "--bind", "127.0.0.1", "--allow", "127.0.0.0/8", "--secret-file", keys.toString()));
    command.addAll(List.of(options));
    return new ProcessBuilder(command).redirectError(ProcessBuilder.Redirect.INHERIT).start();
  }

  private static int readyPort(BufferedReader o) throws IOException {
    String first = o.readLine();
    assertTrue(first != null && first.startsWith("listening on 127.0.0.1:"), String.valueOf(first));
    return Integer.parseInt(first.substring(first.lastIndexOf(':') + 1));
  }

  private static void stop(Process p) throws InterruptedException {
    p.toHandle().destroy();
    p.waitFor(10, TimeUnit.SECONDS);
    p.destroyForcibly();
  }

  private static final String KEY_HEX = "8f2a5c7e1b3d4f6a8c0e2b4d6f8a1c3e";

  private static Socket authenticated(int port) throws IOException {
    Socket s = new Socket();
    s.connect(new InetSocketAddress("127.0.0.1", port), 5000);
    s.setSoTimeout(10_000);
    SharedSecretClient.authenticate(s.getInputStream(), s.getOutputStream(), "app-1", HexFormat.of().parseHex(KEY_HEX));
    return s;
  }

  /** One reply line, read a byte at a time so nothing past it is consumed; at most 256 bytes. */
  private static String readLine(InputStream in) throws IOException {
    ByteArrayOutputStream line = new ByteArrayOutputStream();
    for (int i = 0; i < 256; i++) {
      int b = in.read();
      if (b == -1 || b == '\n') {
        return b == -1 && line.size() == 0 ? null : line.toString(StandardCharsets.UTF_8);
      }
      line.write(b);
    }
    throw new AssertionError("reply longer than 256 bytes: " + line.toString(StandardCharsets.UTF_8));
  }

  /** Whether the peer has closed: end of stream or a reset, before the read timeout. */
  private static boolean closed(InputStream in) throws IOException {
    try {
      return in.read() == -1;
    } catch (SocketException e) {
      return true; // a reset: the server closed with our unread bytes still queued
    }
  }

  private String[] run(List<String> prefix, String... request) {
    List<String> all = new ArrayList<>(prefix);
    all.addAll(List.of(request));
    return client(all.toArray(new String[0]));
  }
}
