package dev.portcullis.examples.echo;

import dev.portcullis.RunningServer;
import dev.portcullis.policy.AccessPolicy;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.ClosedWatchServiceException;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardWatchEventKinds;
import java.nio.file.WatchEvent;
import java.nio.file.WatchKey;
import java.nio.file.WatchService;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.FileTime;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.HexFormat;
import java.util.Objects;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

/**
 * Reloads a policy file when it changes ({@code echo --policy FILE --watch}), but never while it
 * is still being written.
 *
 * <p>The rule: after a change event for the file, wait until it has been <em>stable</em> for the
 * settle period, that is no further event came and its size, modification time, file key (inode)
 * and SHA-256 of its content are the same at the end of the period as at its start; only then load
 * it. The file is checked once more after loading, and if it changed while being read the load is
 * discarded and the wait starts again. A file renamed into place ({@code mv tmp FILE}, reported
 * as a create event) is complete the moment it appears, so it needs only the much shorter rename
 * settle period; a write to it afterwards (a modify event) brings back the full period, and so does
 * an empty file. A file that does not parse, or that the server refuses, keeps the old policy and
 * prints the line-numbered error.
 *
 * <p>What this cannot see: a writer that pauses for longer than the settle period in the middle of
 * a rewrite looks finished. Replace a policy by writing a temporary file in the same directory and
 * renaming it over the old one; a rename is atomic within one file system.
 */
final class PolicyWatcher implements AutoCloseable {
  /** How long an edited file must stay unchanged before it is loaded. */
  static final Duration SETTLE = Duration.ofSeconds(1);
  /** How long a file renamed into place must stay unchanged before it is loaded. */
  static final Duration RENAME_SETTLE = Duration.ofMillis(100);

  private final Path file;
  private final Callable<AccessPolicy> load;
  private final Consumer<AccessPolicy> apply;
  private final PrintStream err;
  private final long settleNanos;
  private final long renameSettleNanos;
  private final WatchService watch;
  private final Thread thread;

  /**
   * Watches {@code file}'s directory; call {@link #start()} to begin.
   *
   * @param file the policy file
   * @param load reads the policy (the file and whatever the command line adds to it)
   * @param apply installs a loaded policy, such as {@code server::updatePolicy}
   * @param err where {@code reloaded FILE} and {@code kept the old policy: ...} go
   * @param settle how long an edited file must stay unchanged before it is loaded
   * @param renameSettle how long a file renamed into place must stay unchanged before it is loaded
   * @throws IOException if the directory cannot be watched
   */
  PolicyWatcher(Path file, Callable<AccessPolicy> load, Consumer<AccessPolicy> apply, PrintStream err,
      Duration settle, Duration renameSettle) throws IOException {
    this.file = file.toAbsolutePath();
    this.load = Objects.requireNonNull(load, "load");
    this.apply = Objects.requireNonNull(apply, "apply");
    this.err = Objects.requireNonNull(err, "err");
    this.settleNanos = settle.toNanos();
    this.renameSettleNanos = renameSettle.toNanos();
    if (settleNanos < 0 || renameSettleNanos < 0) {
      throw new IllegalArgumentException("a settle period cannot be negative");
    }
    this.watch = FileSystems.getDefault().newWatchService();
    try {
      this.file.getParent().register(watch, StandardWatchEventKinds.ENTRY_MODIFY, StandardWatchEventKinds.ENTRY_CREATE,
          StandardWatchEventKinds.ENTRY_DELETE);
    } catch (IOException | RuntimeException e) {
      watch.close();
      throw e;
    }
    this.thread = new Thread(this::run, "portcullis-policy-watch");
    thread.setDaemon(true);
  }

  /**
   * Starts a watcher with the default settle periods ({@link #SETTLE}, {@link #RENAME_SETTLE}) that
   * installs reloaded policies into {@code server}.
   *
   * @param file the policy file
   * @param load reads the policy
   * @param server the server whose policy to replace
   * @param err where messages go
   * @return the running watcher
   * @throws IOException if the directory cannot be watched
   */
  static PolicyWatcher start(Path file, Callable<AccessPolicy> load, RunningServer server, PrintStream err)
      throws IOException {
    return start(file, load, server::updatePolicy, err);
  }

  /**
   * As {@link #start(Path, Callable, RunningServer, PrintStream)}, installing each reloaded policy
   * with {@code apply} (such as a shadow that is promoted later).
   *
   * @param file the policy file
   * @param load reads the policy
   * @param apply installs a loaded policy
   * @param err where messages go
   * @return the running watcher
   * @throws IOException if the directory cannot be watched
   */
  static PolicyWatcher start(Path file, Callable<AccessPolicy> load, Consumer<AccessPolicy> apply, PrintStream err)
      throws IOException {
    return new PolicyWatcher(file, load, apply, err, SETTLE, RENAME_SETTLE).start();
  }

  /**
   * Starts watching on a daemon thread.
   *
   * @return this watcher
   */
  PolicyWatcher start() {
    thread.start();
    return this;
  }

  /** Stops watching. Idempotent. */
  @Override
  public void close() {
    try {
      watch.close();
    } catch (IOException e) {
      // nothing more to release
    }
  }

  private void run() {
    try (watch) {
      long settle = -1; // the settle period in force, in nanoseconds; -1: nothing pending
      long deadline = 0;
      Snapshot seen = null;
      while (true) {
        WatchKey key = settle < 0 ? watch.take()
            : watch.poll(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
        if (key != null) {
          long next = drain(key, -1);
          for (WatchKey more; (more = watch.poll()) != null; ) {
            next = drain(more, next); // the rest of the burst
          }
          if (next >= 0) {
            settle = next;
            deadline = System.nanoTime() + settle;
            seen = snapshot();
          }
          continue;
        }
        // A whole settle period without an event: is the file still what it was at its start?
        Snapshot now = snapshot();
        if (now == null) {
          keepOnError(); // gone or unreadable: says so and keeps the old policy
          settle = -1;
          seen = null;
          continue;
        }
        if (!now.equals(seen) || now.size() == 0 && settle < settleNanos) {
          // It changed without an event we saw, or was created and is still empty: a full period from now.
          seen = now;
          settle = settleNanos;
          deadline = System.nanoTime() + settle;
          continue;
        }
        if (reloadIfStill(now)) {
          settle = -1;
          seen = null;
        } else {
          seen = snapshot();
          settle = settleNanos;
          deadline = System.nanoTime() + settle;
        }
      }
    } catch (InterruptedException | ClosedWatchServiceException | IOException e) {
      // the process is stopping, or close() was called
    }
  }

  /**
   * The settle period the key's events for our file ask for, given the one asked so far (-1 for
   * none): the last relevant event decides (a create is a rename into place, a modify a write).
   */
  private long drain(WatchKey key, long sofar) {
    long settle = sofar;
    for (WatchEvent<?> e : key.pollEvents()) {
      if (e.kind() == StandardWatchEventKinds.OVERFLOW) {
        settle = settleNanos; // events were lost: treat as an edit
      } else if (file.getFileName().equals(e.context())) {
        settle = e.kind() == StandardWatchEventKinds.ENTRY_CREATE ? renameSettleNanos : settleNanos;
      }
    }
    key.reset();
    return settle;
  }

  /** Loads the policy, and installs it only if the file is still {@code stable} after loading. */
  private boolean reloadIfStill(Snapshot stable) {
    AccessPolicy policy;
    try {
      policy = load.call();
    } catch (Exception e) {
      report("portcullis echo: kept the old policy: " + e.getMessage());
      return true;
    }
    if (!stable.equals(snapshot())) {
      return false; // written to while we read it: wait for it to settle again
    }
    try {
      apply.accept(policy);
      report(apply instanceof ShadowThenPromote ? "portcullis echo: read " + file + " (a shadow until it is promoted)"
          : "portcullis echo: reloaded " + file);
    } catch (RuntimeException e) {
      report("portcullis echo: kept the old policy: " + e.getMessage());
    }
    return true;
  }

  /** The file could not be read: prints why (the loader's message) and keeps the old policy. */
  private void keepOnError() {
    try {
      load.call(); // it reappeared: the create event that came with it starts a new wait
    } catch (Exception e) {
      report("portcullis echo: kept the old policy: " + e.getMessage());
    }
  }

  private void report(String line) {
    err.println(line);
    err.flush();
  }

  /** The file's size, modification time, file key and content hash; null if it cannot be read. */
  private Snapshot snapshot() {
    try {
      BasicFileAttributes a = Files.readAttributes(file, BasicFileAttributes.class);
      byte[] hash = MessageDigest.getInstance("SHA-256").digest(Files.readAllBytes(file));
      return new Snapshot(a.size(), a.lastModifiedTime(), a.fileKey(), HexFormat.of().formatHex(hash));
    } catch (IOException e) {
      return null;
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("SHA-256 is missing from this JVM", e);
    }
  }

  /** What the watcher compares to decide that the file stopped changing. */
  private record Snapshot(long size, FileTime modified, Object fileKey, String sha256) {}
}
