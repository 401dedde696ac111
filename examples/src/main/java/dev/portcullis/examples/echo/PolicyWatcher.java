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
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.FutureTask;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Consumer;

/**
 * Reloads a policy file when it changes ({@code echo --policy FILE --watch}, and {@code --watch} of
 * {@code jetty-http} and {@code netty-http}), but never while it is still being written, and never
 * trusting what is at the path.
 *
 * <p>The rule: after a change event for the file, wait until it has been <em>stable</em> for the
 * settle period, that is no further event came and its size, modification time and file key
 * (inode) are the same at the end of the period as at its start; only then load it. The file is
 * checked once more after loading, and if it changed while being read the load is discarded and
 * the wait starts again. A file renamed into place ({@code mv tmp FILE}, reported as a create
 * event) is complete the moment it appears, so it needs only the much shorter rename settle
 * period; a write to it afterwards (a modify event) brings back the full period, and so does an
 * empty file. A file that does not parse, or that the server refuses, keeps the old policy and
 * prints the line-numbered error. The watcher itself never opens the file (it only asks {@code
 * stat(2)}); only the load reads it, once per reload.
 *
 * <p>What is at the path is not trusted (whoever can write the directory can put anything there):
 *
 * <ul>
 *   <li>The load runs on a thread of its own, and the watcher waits for it at most the read
 *       timeout ({@link #READ_TIMEOUT}). The loader refuses anything but a regular file before
 *       opening it ({@link AccessPolicy#load(Path, long)}), but a FIFO swapped in between that check
 *       and the open blocks the open, and Java cannot open without blocking: such a read is
 *       abandoned (its thread stays blocked until someone writes to the FIFO) and the watcher goes
 *       on; a later change is read on a new thread. At most {@link #MAX_STUCK_READS} abandoned
 *       reads are kept; past that the watcher refuses to read until one ends, and says so.
 *   <li>A symbolic link whose target is outside the file's directory (and the directories below
 *       it) is refused without being read: it may lead to a file the server can read and the
 *       editor cannot, and a change to it would not be seen anyway.
 *   <li>The size cap, the short quotes of bad lines, and quoting nothing of a file whose first rule
 *       line does not start with {@code allow}, {@code deny} or {@code limit} are the loader's
 *       ({@link AccessPolicy#load(Path, long)}); a message is printed cut to {@value
 *       #MAX_MESSAGE_CHARS} characters whatever the loader says.
 * </ul>
 *
 * <p>What this cannot see: a writer that pauses for longer than the settle period in the middle of
 * a rewrite looks finished. Replace a policy by writing a temporary file in the same directory and
 * renaming it over the old one; a rename is atomic within one file system.
 */
public final class PolicyWatcher implements AutoCloseable {
  /** How long an edited file must stay unchanged before it is loaded. */
  static final Duration SETTLE = Duration.ofSeconds(1);
  /** How long a file renamed into place must stay unchanged before it is loaded. */
  static final Duration RENAME_SETTLE = Duration.ofMillis(100);
  /** How long a load may take before it is abandoned (reading even a large policy takes well under a second). */
  static final Duration READ_TIMEOUT = Duration.ofSeconds(10);
  /** How many abandoned (blocked) loads may exist before the watcher stops starting new ones. */
  static final int MAX_STUCK_READS = 8;
  /** The longest message printed for a refused file. */
  static final int MAX_MESSAGE_CHARS = 1000;

  private final Path file;
  /** The file as the user named it: how every message prints it, as the launcher's other messages do. */
  private final Path shown;
  private final Callable<AccessPolicy> load;
  private final Consumer<AccessPolicy> apply;
  private final PrintStream err;
  private final long settleNanos;
  private final long renameSettleNanos;
  private final long readTimeoutNanos;
  /** Loads that did not end within the read timeout; only the watcher's thread touches this list. */
  private final List<Thread> stuck = new ArrayList<>();
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
    this(file, load, apply, err, settle, renameSettle, READ_TIMEOUT);
  }

  /**
   * Watches {@code file}'s directory; call {@link #start()} to begin.
   *
   * @param file the policy file
   * @param load reads the policy (the file and whatever the command line adds to it); run on a
   *     thread of its own
   * @param apply installs a loaded policy, such as {@code server::updatePolicy}
   * @param err where {@code reloaded FILE} and {@code kept the old policy: ...} go
   * @param settle how long an edited file must stay unchanged before it is loaded
   * @param renameSettle how long a file renamed into place must stay unchanged before it is loaded
   * @param readTimeout how long a load may take before it is abandoned
   * @throws IOException if the directory cannot be watched
   */
  PolicyWatcher(Path file, Callable<AccessPolicy> load, Consumer<AccessPolicy> apply, PrintStream err,
      Duration settle, Duration renameSettle, Duration readTimeout) throws IOException {
    this.file = file.toAbsolutePath();
    this.shown = file;
    this.load = Objects.requireNonNull(load, "load");
    this.apply = Objects.requireNonNull(apply, "apply");
    this.err = Objects.requireNonNull(err, "err");
    this.settleNanos = settle.toNanos();
    this.renameSettleNanos = renameSettle.toNanos();
    this.readTimeoutNanos = readTimeout.toNanos();
    if (settleNanos < 0 || renameSettleNanos < 0) {
      throw new IllegalArgumentException("a settle period cannot be negative");
    }
    if (readTimeoutNanos <= 0) {
      throw new IllegalArgumentException("the read timeout must be positive: " + readTimeout);
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
   * with {@code apply} (such as a shadow that is promoted later, or a guard in front of Jetty or
   * Netty).
   *
   * @param file the policy file
   * @param load reads the policy
   * @param apply installs a loaded policy
   * @param err where messages go
   * @return the running watcher
   * @throws IOException if the directory cannot be watched
   */
  public static PolicyWatcher start(Path file, Callable<AccessPolicy> load, Consumer<AccessPolicy> apply,
      PrintStream err)
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
    String outside = leavesDirectory();
    if (outside != null) {
      report("portcullis echo: kept the old policy: " + outside);
      return true;
    }
    AccessPolicy policy;
    try {
      policy = loadWithinTimeout();
    } catch (Exception e) {
      report("portcullis echo: kept the old policy: " + message(e));
      return true;
    }
    if (!stable.equals(snapshot())) {
      return false; // written to while we read it: wait for it to settle again
    }
    try {
      apply.accept(policy);
      report(apply instanceof ShadowThenPromote ? "portcullis echo: read " + shown + " (a shadow until it is promoted)"
          : "portcullis echo: reloaded " + shown);
    } catch (RuntimeException e) {
      report("portcullis echo: kept the old policy: " + message(e));
    }
    return true;
  }

  /** The file could not be read: prints why (the loader's message) and keeps the old policy. */
  private void keepOnError() {
    try {
      loadWithinTimeout(); // it reappeared: the create event that came with it starts a new wait
    } catch (Exception e) {
      report("portcullis echo: kept the old policy: " + message(e));
    }
  }

  /**
   * Runs the load on a thread of its own and waits for it at most the read timeout: an open that
   * blocks (a FIFO swapped in after the loader's check) is abandoned, not waited for.
   */
  private AccessPolicy loadWithinTimeout() throws Exception {
    stuck.removeIf(t -> !t.isAlive());
    if (stuck.size() >= MAX_STUCK_READS) {
      throw new IOException(stuck.size() + " earlier reads of " + shown + " are still blocked (each opened a FIFO"
          + " or a device put there while it was being opened); not reading it again until one of them ends");
    }
    FutureTask<AccessPolicy> read = new FutureTask<>(load);
    Thread reader = new Thread(read, "portcullis-policy-read");
    reader.setDaemon(true);
    reader.start();
    try {
      return read.get(readTimeoutNanos, TimeUnit.NANOSECONDS);
    } catch (TimeoutException e) {
      stuck.add(reader);
      throw new IOException("reading " + shown + " did not end within " + TimeUnit.NANOSECONDS.toMillis(readTimeoutNanos)
          + " ms, so it was abandoned (a FIFO or a device put there while it was being opened?)");
    } catch (ExecutionException e) {
      if (e.getCause() instanceof Error error) {
        throw error;
      }
      throw (Exception) e.getCause();
    }
  }

  /**
   * Why the file is refused if it is a symbolic link that leads out of its directory (and the
   * directories below it); null if it is not a link, stays inside, or leads nowhere (the load
   * then says why).
   */
  private String leavesDirectory() {
    if (!Files.isSymbolicLink(file)) {
      return null;
    }
    try {
      Path dir = file.getParent().toRealPath();
      Path target = file.toRealPath();
      return target.startsWith(dir) ? null : shown + " is a symbolic link to " + target + ", outside " + dir
          + "; the watcher reads only files in the directory it watches";
    } catch (IOException e) {
      return null;
    }
  }

  /** The exception's message, cut short: whatever a loader says, one line of the log stays short. */
  private static String message(Exception e) {
    String m = e.getMessage() != null ? e.getMessage() : e.toString();
    return m.length() <= MAX_MESSAGE_CHARS ? m
        : m.substring(0, MAX_MESSAGE_CHARS) + "... (" + m.length() + " characters)";
  }

  private void report(String line) {
    err.println(line);
    err.flush();
  }

  /**
   * The file's size, modification time and file key (following a symbolic link); null if it
   * cannot be read. Only {@code stat(2)}: the file is never opened here, so nothing at the path can
   * block it.
   */
  private Snapshot snapshot() {
    try {
      BasicFileAttributes a = Files.readAttributes(file, BasicFileAttributes.class);
      return new Snapshot(a.size(), a.lastModifiedTime(), a.fileKey());
    } catch (IOException e) {
      return null;
    }
  }

  /** What the watcher compares to decide that the file stopped changing. */
  private record Snapshot(long size, FileTime modified, Object fileKey) {}
}
