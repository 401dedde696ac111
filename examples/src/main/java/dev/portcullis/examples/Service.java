package dev.portcullis.examples;

import dev.portcullis.RunningServer;
import java.io.IOException;
import java.io.PrintStream;
import java.net.SocketAddress;
import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * What every example service does around its server: start it, print one ready line, stop
 * gracefully on SIGTERM or Ctrl-C (printing {@code stopped}, exit status 0), and turn failures into
 * a message and an exit status. The ready line is {@code listening on ADDRESS}, the same for every service, so
 * scripts and tests can wait for it.
 */
public final class Service {
  private Service() {}

  /** Builds and starts a service's server. */
  @FunctionalInterface
  public interface Setup {
    /**
     * Starts the server.
     *
     * @return the running server
     * @throws IOException if reading a file or listening fails
     */
    RunningServer start() throws IOException;
  }

  /**
   * Starts the server, prints {@code listening on ADDRESS} and {@code suffix}, and waits until it
   * stops; SIGTERM stops it gracefully, giving connections {@code grace} to finish.
   *
   * @param command the launcher command, for messages
   * @param setup starts the server
   * @param grace how long connections in flight may take when the process is asked to stop
   * @param suffix appended to the ready line, such as {@code " -> 127.0.0.1:8000"}; may be empty
   * @param out where the ready line and {@code stopped} go
   * @param err where errors go
   * @return the exit status: 0, 2 for bad input, 1 when the system refused (such as a port in use)
   */
  public static int run(String command, Setup setup, Duration grace, String suffix, PrintStream out,
      PrintStream err) {
    return serve(command, setup, running -> {
      AtomicBoolean stopping = new AtomicBoolean();
      CountDownLatch stopped = new CountDownLatch(1);
      Runnable stop = () -> {
        if (!stopping.compareAndSet(false, true)) {
          awaitQuietly(stopped);
          return;
        }
        try {
          running.shutdown(grace);
        } catch (InterruptedException e) {
          running.close();
        } finally {
          out.println("stopped");
          out.flush();
          stopped.countDown();
        }
      };
      // Any other way out of the JVM (System.exit, a signal not handled below) still stops gracefully.
      Runtime.getRuntime().addShutdownHook(new Thread(stop, "portcullis-" + command + "-shutdown"));
      if (handleSignals) {
        // SIGTERM and Ctrl-C stop the server while the JVM goes on, so the command returns 0
        // after a graceful stop rather than the JVM's 143 or 130.
        for (String name : new String[] {"TERM", "INT"}) {
          sun.misc.Signal.handle(new sun.misc.Signal(name),
              signal -> new Thread(stop, "portcullis-" + command + "-stop").start());
        }
      }
      out.println("listening on " + describe(running.localAddress()) + suffix);
      out.flush();
    }, err);
  }

  private static volatile boolean handleSignals;

  /**
   * Has {@link #run} stop the server itself on SIGTERM and SIGINT, so that the process exits 0
   * after a graceful stop (the JVM's own handling exits 143 or 130, which systemd counts as a
   * failure without {@code SuccessExitStatus=}). For a process's {@code main} only: a JVM that hosts
   * other code (a test runner) keeps its own signal handling.
   */
  public static void handleSignals() {
    handleSignals = true;
  }

  /** A service's {@code run(args, out, err)}: its exit status. */
  @FunctionalInterface
  public interface Main {
    /**
     * Runs the service.
     *
     * @param args the command-line arguments, without the command name
     * @param out where the ready line and results go
     * @param err where errors go
     * @return the exit status: 0 on success, 2 for a usage error, 1 otherwise
     */
    int run(String[] args, PrintStream out, PrintStream err);
  }

  /**
   * A service's own {@code main}: {@link #handleSignals}, then {@code run} on the process's
   * streams, exiting with its status when it is not 0.
   *
   * @param args the command-line arguments
   * @param run the service's {@code run}
   */
  public static void main(String[] args, Main run) {
    handleSignals();
    int status = run.run(args, System.out, System.err);
    if (status != 0) {
      System.exit(status);
    }
  }

  private static void awaitQuietly(CountDownLatch latch) {
    try {
      latch.await();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  /**
   * Starts the server and waits until it stops by itself, printing nothing on standard output (an
   * inetd service's standard output is its connection).
   *
   * @param command the launcher command, for messages
   * @param setup starts the server
   * @param err where errors go
   * @return the exit status, as for {@link #run}
   */
  public static int runQuietly(String command, Setup setup, PrintStream err) {
    return serve(command, setup, running -> { }, err);
  }

  /** What stops with each server: its CrowdSec bouncer and watcher. */
  private static final java.util.Map<RunningServer, java.util.List<AutoCloseable>> CLOSE_WITH =
      new java.util.concurrent.ConcurrentHashMap<>();

  /**
   * Has {@link #run} close {@code c} once {@code running} has stopped.
   *
   * @param running the server
   * @param c what goes with it
   */
  public static void closeWith(RunningServer running, AutoCloseable c) {
    CLOSE_WITH.computeIfAbsent(running, k -> new java.util.concurrent.CopyOnWriteArrayList<>()).add(c);
  }

  private static void closeAttached(RunningServer running) {
    java.util.List<AutoCloseable> list = CLOSE_WITH.remove(running);
    if (list != null) {
      for (AutoCloseable c : list) {
        try {
          c.close();
        } catch (Exception ignored) {
          // stopping: nothing more to do for it
        }
      }
    }
  }

  private static int serve(String command, Setup setup, java.util.function.Consumer<RunningServer> started,
      PrintStream err) {
    try {
      RunningServer running = setup.start();
      try {
        started.accept(running);
        running.awaitTermination();
      } finally {
        closeAttached(running);
      }
      return 0;
    } catch (IOException | RuntimeException e) {
      return fail(command, e, err);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return 1;
    }
  }

  private static int fail(String command, Exception e, PrintStream err) {
    if (e instanceof UsageException u) {
      throw u; // the launcher prints it with the usage
    }
    if (!(e instanceof IOException) && !(e instanceof IllegalArgumentException)
        && !(e instanceof IllegalStateException)) {
      throw (RuntimeException) e;
    }
    String message = e instanceof IOException io ? FileProblem.message(io) : e.getMessage();
    err.println("portcullis " + command + ": " + message);
    return e instanceof java.net.SocketException ? 1 : 2;
  }

  /** {@code --loops N}: the event loops. */
  public static final Option LOOPS = Option.valued("--loops", "N", "event loops (default: one per processor)");

  /** {@code --idle-timeout SECONDS}, as {@link #threads} applies it. */
  public static final Option IDLE_TIMEOUT = Option.valued("--idle-timeout", "SECONDS", "close a connection that moved"
      + " no byte either way for SECONDS, 1..86400 (default: never)");

  /** {@code --penalty N:SECONDS}, as {@link #penalty} applies it. */
  public static final Option PENALTY = Option.valued("--penalty", "N:SECONDS", "refuse a source for SECONDS once it"
      + " failed N handshakes within a minute, doubling on repeat up to an hour (default: off)");

  /** The options {@link #threads} reads. */
  public static final java.util.List<Option> THREAD_OPTIONS = java.util.List.of(LOOPS, IDLE_TIMEOUT, PENALTY);

  /**
   * Applies {@code --penalty N:SECONDS}: N failed or timed-out handshakes from one source within a
   * minute earn SECONDS of refusal, doubling on each repeat up to an hour ({@link
   * dev.portcullis.policy.Penalties#parse}).
   *
   * @param o the parsed options
   * @param server the server being built
   */
  public static void penalty(Options o, dev.portcullis.Server.IpBuilder<?> server) {
    if (o.one("--penalty") != null) {
      try {
        server.penalties(dev.portcullis.policy.Penalties.parse(o.one("--penalty")));
      } catch (IllegalArgumentException e) {
        throw new UsageException("--penalty: " + e.getMessage());
      }
    }
  }

  /**
   * Applies {@code --loops N} (event loops; default one per processor), {@code --idle-timeout
   * SECONDS} (close a connection quiet both ways that long; default none) and {@code --penalty
   * N:SECONDS} to {@code server}.
   *
   * @param o the parsed options
   * @param server the server being built
   */
  public static void threads(Options o, dev.portcullis.Server.IpBuilder<?> server) {
    penalty(o, server);
    if (o.one("--loops") != null) {
      server.eventLoops(o.integer("--loops", 1, 1024, null));
    }
    if (o.one("--idle-timeout") != null) {
      server.idleTimeout(Duration.ofSeconds(o.integer("--idle-timeout", 1, 86_400, null)));
    }
  }

  /**
   * An address as the ready line shows it.
   *
   * @param address a TCP, Unix or abstract socket address
   * @return {@code 127.0.0.1:7000}, {@code [::1]:7000}, a socket path, or {@code @name}
   */
  public static String describe(SocketAddress address) {
    return dev.portcullis.policy.IpAddresses.format(address); // [::]:7000, not [0:0:0:0:0:0:0:0]:7000
  }
}
