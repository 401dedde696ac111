package dev.portcullis.examples.echo;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.portcullis.policy.AccessPolicy;
import java.io.ByteArrayOutputStream;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.io.RandomAccessFile;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@link PolicyWatcher}'s settle rule with short (and very long) settle periods, and what it does
 * with a file that is not a policy: a FIFO, a huge file, a link to a secret elsewhere.
 */
@Timeout(60)
class PolicyWatcherTest {
  private final BlockingQueue<AccessPolicy> applied = new LinkedBlockingQueue<>();
  private final ByteArrayOutputStream err = new ByteArrayOutputStream();

  private PolicyWatcher watch(Path file, Duration settle, Duration renameSettle) throws Exception {
    return new PolicyWatcher(file, () -> AccessPolicy.load(file), applied::add,
        new PrintStream(err, true, StandardCharsets.UTF_8), settle, renameSettle).start();
  }

  private AccessPolicy next() throws InterruptedException {
    AccessPolicy p = applied.poll(20, TimeUnit.SECONDS);
    assertTrue(p != null, "nothing applied; " + err.toString(StandardCharsets.UTF_8));
    return p;
  }

  /** What the watcher printed, once it contains {@code text} (at most 20 s). */
  private String awaitErr(String text) throws InterruptedException {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
    while (!err.toString(StandardCharsets.UTF_8).contains(text) && System.nanoTime() < deadline) {
      Thread.sleep(20);
    }
    return err.toString(StandardCharsets.UTF_8);
  }

  @Test
  void aFileWrittenInPiecesIsAppliedOnceWhole(@TempDir Path dir) throws Exception {
    Path file = Files.writeString(dir.resolve("p.policy"), "allow 10.0.0.0/8\n");
    try (PolicyWatcher w = watch(file, Duration.ofMillis(400), Duration.ofMillis(20));
        FileOutputStream out = new FileOutputStream(file.toFile())) {
      for (String piece : new String[] {"allow 127.0.0.0/8\n", "deny 127.0.1.0/24\n", "deny 127.0.3.0/24\n"}) {
        out.write(piece.getBytes(StandardCharsets.US_ASCII));
        Thread.sleep(150); // shorter than the settle period: each write restarts the wait
      }
      out.close();
      assertEquals(AccessPolicy.parse("allow 127.0.0.0/8\ndeny 127.0.1.0/24\ndeny 127.0.3.0/24\n"), next(),
          "the first policy applied is the whole file");
    }
  }

  @Test
  void aRenameIntoPlaceNeedsOnlyTheShortSettleAndSupersedesAnEditInProgress(@TempDir Path dir) throws Exception {
    Path file = Files.writeString(dir.resolve("p.policy"), "allow 10.0.0.0/8\n");
    // An edit must stay unchanged for ten minutes: only the rename's 50 ms can get anything applied here.
    try (PolicyWatcher w = watch(file, Duration.ofMinutes(10), Duration.ofMillis(50))) {
      Files.writeString(file, "allow 127.0.0.0/8\n"); // half of an in-place rewrite
      Path tmp = Files.writeString(dir.resolve(".p.policy.tmp"), "allow 127.0.0.0/8\ndeny 127.0.1.0/24\n");
      Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
      assertEquals(AccessPolicy.parse("allow 127.0.0.0/8\ndeny 127.0.1.0/24\n"), next());
      String message = awaitErr("reloaded");
      assertTrue(message.contains("reloaded " + file.toAbsolutePath()), message);
    }
  }

  @Test
  void itsLinesPrintThePathAsTheUserGaveItNotMadeAbsolute() throws Exception {
    // Relative to the test's working directory (the module), as --policy FILE usually is.
    Path dir = Files.createDirectories(Path.of("target", "policy-watcher-" + System.nanoTime()));
    Path file = Files.writeString(dir.resolve("p.policy"), "allow 10.0.0.0/8\n");
    try (PolicyWatcher w = watch(file, Duration.ofMillis(200), Duration.ofMillis(20))) {
      Path tmp = Files.writeString(dir.resolve(".p.policy.tmp"), "allow 127.0.0.0/8\n");
      Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
      assertEquals(AccessPolicy.parse("allow 127.0.0.0/8\n"), next());
      String message = awaitErr("reloaded");
      assertTrue(message.contains("portcullis echo: reloaded " + file + "\n") && !message.contains(
          file.toAbsolutePath().toString()), message);
    } finally {
      Files.deleteIfExists(file);
      Files.deleteIfExists(dir);
    }
  }

  @Test
  void aFileThatDoesNotParseKeepsTheOldPolicyAndNamesTheLine(@TempDir Path dir) throws Exception {
    Path file = Files.writeString(dir.resolve("p.policy"), "allow 10.0.0.0/8\n");
    try (PolicyWatcher w = watch(file, Duration.ofMillis(200), Duration.ofMillis(20))) {
      Path tmp = Files.writeString(dir.resolve(".p.policy.tmp"), "allow 10.0.0.0/8\nallow 10.0.0.0/33\n");
      Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
      Path good = Files.writeString(dir.resolve(".p.policy.tmp"), "allow 192.0.2.0/24\n");
      String message = awaitErr("kept the old policy");
      assertTrue(message.contains("kept the old policy: " + file + ":2:") && message.contains("10.0.0.0/33"), message);
      Files.move(good, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
      assertEquals(AccessPolicy.parse("allow 192.0.2.0/24\n"), next(), "the bad file applied nothing");
    }
  }

  private static void mkfifo(Path path) throws IOException, InterruptedException {
    Process p = new ProcessBuilder("mkfifo", path.toString()).redirectErrorStream(true).start();
    assertTrue(p.waitFor(10, TimeUnit.SECONDS), "mkfifo did not finish");
    assertEquals(0, p.exitValue(), "mkfifo failed: " + new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8));
  }

  /** Renames {@code content}, written to a temporary file beside it, over {@code file}. */
  private static void replace(Path file, String content) throws IOException {
    Path tmp = Files.writeString(file.resolveSibling("." + file.getFileName() + ".tmp"), content);
    Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
  }

  @Test
  void aFifoMovedIntoPlaceBlocksNothingAndALaterPolicyIsApplied(@TempDir Path dir) throws Exception {
    Path file = Files.writeString(dir.resolve("p.policy"), "allow 10.0.0.0/8\n");
    try (PolicyWatcher w = watch(file, Duration.ofMillis(200), Duration.ofMillis(20))) {
      Path fifo = dir.resolve(".p.policy.fifo");
      mkfifo(fifo);
      Files.move(fifo, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
      String message = awaitErr("kept the old policy");
      assertTrue(message.contains("kept the old policy: " + file + ": not a regular file but a FIFO"), message);
      replace(file, "deny 192.0.2.0/24\n"); // the emergency deny
      assertEquals(AccessPolicy.parse("deny 192.0.2.0/24\n"), next(), "the FIFO applied nothing");
    }
  }

  @Test
  void aLoadThatBlocksIsAbandonedAndALaterPolicyIsApplied(@TempDir Path dir) throws Exception {
    // A FIFO swapped in between the loader's check and its open: the open blocks. Played here by a
    // loader whose first call opens a FIFO nobody writes to.
    Path file = Files.writeString(dir.resolve("p.policy"), "allow 10.0.0.0/8\n");
    Path fifo = dir.resolve("swapped-in.fifo");
    mkfifo(fifo);
    AtomicInteger calls = new AtomicInteger();
    try (PolicyWatcher w = new PolicyWatcher(file, () -> {
          if (calls.getAndIncrement() == 0) {
            try (InputStream in = Files.newInputStream(fifo)) {
              in.read();
            }
          }
          return AccessPolicy.load(file);
        }, applied::add, new PrintStream(err, true, StandardCharsets.UTF_8), Duration.ofMillis(200),
        Duration.ofMillis(20), Duration.ofSeconds(2)).start()) {
      replace(file, "allow 198.51.100.0/24\n");
      String message = awaitErr("abandoned");
      assertTrue(message.contains("kept the old policy: reading " + file + " did not end within 2000 ms"), message);
      replace(file, "deny 192.0.2.0/24\n");
      assertEquals(AccessPolicy.parse("deny 192.0.2.0/24\n"), next(), "the blocked read applied nothing");
    } finally {
      // Let the abandoned reader go: open the FIFO for writing (on a thread, in case nobody reads it).
      Thread release = new Thread(() -> {
        try (FileOutputStream out = new FileOutputStream(fifo.toFile())) {
          out.flush();
        } catch (IOException e) {
          // nothing to release
        }
      });
      release.setDaemon(true);
      release.start();
      release.join(5000);
    }
  }

  @Test
  void aHugeFileIsRefusedInOneShortLineAndALaterPolicyIsApplied(@TempDir Path dir) throws Exception {
    Path file = Files.writeString(dir.resolve("p.policy"), "allow 10.0.0.0/8\n");
    try (PolicyWatcher w = watch(file, Duration.ofMillis(200), Duration.ofMillis(20))) {
      Path big = dir.resolve(".p.policy.big");
      long size = 4 * AccessPolicy.DEFAULT_MAX_FILE_BYTES;
      try (RandomAccessFile f = new RandomAccessFile(big.toFile(), "rw")) {
        f.setLength(size); // sparse: a line of zeros, and no disk
      }
      Files.move(big, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
      String message = awaitErr("kept the old policy");
      assertTrue(message.length() < 500, "a long message: " + message.length() + " characters");
      assertTrue(message.contains(file + ": " + size + " bytes, more than the limit of "
          + AccessPolicy.DEFAULT_MAX_FILE_BYTES + " bytes"), message);
      replace(file, "deny 192.0.2.0/24\n");
      assertEquals(AccessPolicy.parse("deny 192.0.2.0/24\n"), next(), "the huge file applied nothing");
    }
  }

  @Test
  void aLinkOutOfTheDirectoryIsRefusedUnreadAndALinkWithinItIsFollowed(@TempDir Path dir) throws Exception {
    Path watched = Files.createDirectory(dir.resolve("watched"));
    Path file = Files.writeString(watched.resolve("p.policy"), "allow 10.0.0.0/8\n");
    // A file the server can read and the editor cannot; its first line even looks like a rule.
    Path secret = Files.writeString(dir.resolve("server.key"), "allow TOPSECRET-KEY-MATERIAL\n");
    try (PolicyWatcher w = watch(file, Duration.ofMillis(200), Duration.ofMillis(20))) {
      Path link = Files.createSymbolicLink(watched.resolve(".p.policy.link"), secret);
      Files.move(link, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
      String message = awaitErr("kept the old policy");
      assertFalse(message.contains("TOPSECRET"), message);
      assertTrue(message.contains(file + " is a symbolic link to " + secret.toRealPath() + ", outside "), message);
      // A link to a file in a directory below the watched one (as a Kubernetes ConfigMap mounts it) is read.
      Path real = Files.writeString(Files.createDirectory(watched.resolve("..data")).resolve("p.policy"),
          "deny 192.0.2.0/24\n");
      Path inside = Files.createSymbolicLink(watched.resolve(".p.policy.link"), real);
      Files.move(inside, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
      assertEquals(AccessPolicy.parse("deny 192.0.2.0/24\n"), next());
    }
  }
}
