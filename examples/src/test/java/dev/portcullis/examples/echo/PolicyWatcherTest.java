package dev.portcullis.examples.echo;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.portcullis.policy.AccessPolicy;
import java.io.ByteArrayOutputStream;
import java.io.FileOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** {@link PolicyWatcher}'s settle rule with short (and very long) settle periods. */
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
}
