package dev.portcullis.policy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@link AccessPolicy#load} against files that are not what they should be: a FIFO, an oversized
 * file, a file that is not a policy at all, a line of a megabyte.
 */
class AccessPolicyFileTest {
  /** The longest error message any of these files may produce: a short prefix and an explanation. */
  private static final int SHORT = 400;

  static void mkfifo(Path path) throws IOException, InterruptedException {
    Process p = new ProcessBuilder("mkfifo", path.toString()).redirectErrorStream(true).start();
    assertTrue(p.waitFor(10, TimeUnit.SECONDS), "mkfifo did not finish");
    assertEquals(0, p.exitValue(), "mkfifo failed: " + new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8));
  }

  /** Neither the exception nor any cause has a long message (a logged stack trace prints them all). */
  private static void assertShortChain(Throwable e) {
    for (Throwable t = e; t != null; t = t.getCause()) {
      assertTrue(t.getMessage() == null || t.getMessage().length() < SHORT, "a long message in the chain: " + t);
    }
  }

  @Test
  void aFifoIsRefusedWithoutBlocking(@TempDir Path dir) throws Exception {
    Path fifo = dir.resolve("p.policy");
    mkfifo(fifo);
    // Nobody ever writes to the FIFO: opening it to read would wait forever.
    IOException e = assertTimeoutPreemptively(Duration.ofSeconds(10),
        () -> assertThrows(IOException.class, () -> AccessPolicy.load(fifo)));
    assertTrue(e.getMessage().contains(fifo.toString()) && e.getMessage().contains("FIFO")
        && e.getMessage().contains("not a regular file"), e.getMessage());
  }

  @Test
  void aDirectoryIsRefusedAsNotARegularFile(@TempDir Path dir) {
    IOException e = assertThrows(IOException.class, () -> AccessPolicy.load(dir));
    assertTrue(e.getMessage().contains("directory") && e.getMessage().contains("not a regular file"), e.getMessage());
  }

  @Test
  void aFileOverTheDefaultCapIsRefusedBeforeItIsRead(@TempDir Path dir) throws Exception {
    Path big = dir.resolve("big.policy");
    try (RandomAccessFile f = new RandomAccessFile(big.toFile(), "rw")) {
      f.setLength(4 * AccessPolicy.DEFAULT_MAX_FILE_BYTES); // sparse: no disk, and nothing to read but zeros
    }
    IOException e = assertThrows(IOException.class, () -> AccessPolicy.load(big));
    assertTrue(e.getMessage().length() < SHORT, "a long message: " + e.getMessage().length() + " characters");
    assertTrue(e.getMessage().contains(big + ": " + 4 * AccessPolicy.DEFAULT_MAX_FILE_BYTES + " bytes")
        && e.getMessage().contains(String.valueOf(AccessPolicy.DEFAULT_MAX_FILE_BYTES)), e.getMessage());
  }

  @Test
  void theCapIsEnforcedWhileReadingAFileThatSaysItIsEmpty() {
    // /proc files report a size of 0 and then produce their content: the stat check cannot see it.
    Path maps = Path.of("/proc/self/maps");
    IOException e = assertThrows(IOException.class, () -> AccessPolicy.load(maps, 64));
    assertTrue(e.getMessage().contains("more than 64 bytes"), e.getMessage());
  }

  @Test
  void aFileUnderASmallCapStillLoads(@TempDir Path dir) throws Exception {
    Path f = Files.writeString(dir.resolve("p.policy"), "allow 10.0.0.0/8\n");
    assertEquals(AccessPolicy.parse("allow 10.0.0.0/8\n"), AccessPolicy.load(f, Files.size(f)));
    IOException e = assertThrows(IOException.class, () -> AccessPolicy.load(f, Files.size(f) - 1));
    assertTrue(e.getMessage().contains("17 bytes, more than the limit of 16 bytes"), e.getMessage());
  }

  @Test
  void aCapBelowOneIsRefused(@TempDir Path dir) throws Exception {
    Path f = Files.writeString(dir.resolve("p.policy"), "allow 10.0.0.0/8\n");
    assertThrows(IllegalArgumentException.class, () -> AccessPolicy.load(f, 0));
  }

  @Test
  void aVeryLongBadLineIsQuotedOnlyAsAShortPrefix() {
    String line = "allow " + "1".repeat(1_000_000);
    IllegalArgumentException e =
        assertThrows(IllegalArgumentException.class, () -> AccessPolicy.parse("allow 10.0.0.0/8\n" + line + "\n"));
    assertTrue(e.getMessage().length() < SHORT, "a long message: " + e.getMessage().length() + " characters");
    assertTrue(e.getMessage().startsWith("line 2: 'allow 111") && e.getMessage().contains("1000006 characters"),
        e.getMessage());
    assertShortChain(e);
  }

  @Test
  void aLongBadLineUnderTheLineLimitKeepsItsReasonButNotItsLength() {
    // 300 characters: parsed, and the parser's explanation kept, with every long quote cut short.
    for (String line : new String[] {"allow " + "1".repeat(300), "deny 10.0.0.0/8   " + "x".repeat(300),
        "allow user " + "n".repeat(300), "limit connections " + "9".repeat(300), "allow 10.0.0.0/" + "3".repeat(300)}) {
      IllegalArgumentException e =
          assertThrows(IllegalArgumentException.class, () -> AccessPolicy.parse("# c\n" + line + "\n"));
      assertTrue(e.getMessage().length() < SHORT, line.substring(0, 20) + ": " + e.getMessage());
      assertTrue(e.getMessage().startsWith("line 2: "), e.getMessage());
      assertShortChain(e);
      assertFalse(e.getMessage().contains("x".repeat(100)) || e.getMessage().contains("1".repeat(100))
          || e.getMessage().contains("n".repeat(100)) || e.getMessage().contains("9".repeat(100))
          || e.getMessage().contains("3".repeat(100)), e.getMessage());
    }
  }

  @Test
  void aVeryLongBadLineInAFileIsQuotedOnlyAsAShortPrefix(@TempDir Path dir) throws Exception {
    Path f = Files.writeString(dir.resolve("p.policy"), "allow 10.0.0.0/8\ndeny " + "2".repeat(3_000_000) + "\n");
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> AccessPolicy.load(f));
    assertTrue(e.getMessage().length() < SHORT, "a long message: " + e.getMessage().length() + " characters");
    assertTrue(e.getMessage().startsWith(f + ":2: 'deny 222"), e.getMessage());
  }

  @Test
  void aFileThatIsNotAPolicyHasNothingOfItQuoted(@TempDir Path dir) throws Exception {
    String[] secrets = {
        "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7TOPSECRET\n-----END PRIVATE KEY-----\n",
        "root:$6$TOPSECRET$hashhashhash:19000:0:99999:7:::\ndaemon:*:19000:0:99999:7:::\n",
        "# a comment first\n\npassword = TOPSECRET\n",
        "TOPSECRET\n"};
    for (String secret : secrets) {
      Path f = Files.writeString(dir.resolve("secret"), secret);
      IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> AccessPolicy.load(f));
      assertFalse(e.getMessage().contains("SECRET") || e.getMessage().contains("root") || e.getMessage().contains("password"),
          e.getMessage());
      assertTrue(e.getMessage().startsWith(f + ":") && e.getMessage().contains("not quoted"), e.getMessage());
    }
  }

  @Test
  void aSymbolicLinkToASecretIsFollowedButQuotesNothing(@TempDir Path dir) throws Exception {
    Path secret = Files.writeString(dir.resolve("server.key"), "TOPSECRET-KEY-MATERIAL\n");
    Path link = Files.createSymbolicLink(dir.resolve("p.policy"), secret);
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> AccessPolicy.load(link));
    assertFalse(e.getMessage().contains("TOPSECRET"), e.getMessage());
  }

  @Test
  void aPolicyWhoseFirstRuleHasATypoIsStillQuoted(@TempDir Path dir) throws Exception {
    Path f = Files.writeString(dir.resolve("p.policy"), "# office\nallow 10.0.0.0/33\n");
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> AccessPolicy.load(f));
    assertTrue(e.getMessage().startsWith(f + ":2: ") && e.getMessage().contains("'10.0.0.0/33'"), e.getMessage());
  }

  @Test
  void aFileThatIsNotUtf8IsRefusedWithoutQuotingIt(@TempDir Path dir) throws Exception {
    Path f = Files.write(dir.resolve("p.policy"), new byte[] {'a', 'l', 'l', 'o', 'w', ' ', (byte) 0xff, '\n'});
    IOException e = assertThrows(IOException.class, () -> AccessPolicy.load(f));
    assertTrue(e.getMessage().contains(f + ": not UTF-8 text"), e.getMessage());
  }
}
