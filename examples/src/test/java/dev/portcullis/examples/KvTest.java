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
