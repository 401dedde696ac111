package dev.portcullis.examples;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.BufferedReader;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
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

  private String[] run(List<String> prefix, String... request) {
    List<String> all = new ArrayList<>(prefix);
    all.addAll(List.of(request));
    return client(all.toArray(new String[0]));
  }
}
