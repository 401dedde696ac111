package dev.portcullis.examples.echo;

import dev.portcullis.RunningServer;
import dev.portcullis.policy.AccessPolicy;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.ClosedWatchServiceException;
import java.nio.file.FileSystems;
import java.nio.file.Path;
import java.nio.file.StandardWatchEventKinds;
import java.nio.file.WatchKey;
import java.nio.file.WatchService;
import java.util.concurrent.Callable;

/**
 * Reloads a policy file when it changes ({@code echo --policy FILE --watch}). A file that does not
 * parse keeps the old policy and prints the line-numbered error; a good one replaces it at once.
 */
final class PolicyWatcher {
  private PolicyWatcher() {}

  static void start(Path file, Callable<AccessPolicy> load, RunningServer server, PrintStream err) throws IOException {
    Path absolute = file.toAbsolutePath();
    WatchService watch = FileSystems.getDefault().newWatchService();
    absolute.getParent().register(watch, StandardWatchEventKinds.ENTRY_MODIFY, StandardWatchEventKinds.ENTRY_CREATE,
        StandardWatchEventKinds.ENTRY_DELETE);
    Thread t = new Thread(() -> {
      try (watch) {
        while (true) {
          WatchKey key = watch.take();
          boolean ours = key.pollEvents().stream().anyMatch(e -> absolute.getFileName().equals(e.context()));
          key.reset();
          if (!ours) {
            continue;
          }
          Thread.sleep(100); // let the writer finish; events come in bursts
          for (WatchKey more; (more = watch.poll()) != null; ) {
            more.pollEvents(); // the rest of the burst
            more.reset();
          }
          reload(absolute, load, server, err);
        }
      } catch (InterruptedException | ClosedWatchServiceException | IOException e) {
        // the process is stopping
      }
    }, "portcullis-policy-watch");
    t.setDaemon(true);
    t.start();
  }

  private static void reload(Path file, Callable<AccessPolicy> load, RunningServer server, PrintStream err) {
    try {
      server.updatePolicy(load.call());
      err.println("portcullis echo: reloaded " + file);
    } catch (Exception e) {
      err.println("portcullis echo: kept the old policy: " + e.getMessage());
    }
    err.flush();
  }
}
