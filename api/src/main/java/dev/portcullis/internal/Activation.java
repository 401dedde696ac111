package dev.portcullis.internal;

import dev.portcullis.ServerSpec;
import dev.portcullis.spi.InheritedSocket;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Reads the socket-activation protocol of systemd ({@code sd_listen_fds(3)}): {@code LISTEN_PID}
 * names the process the sockets are for, {@code LISTEN_FDS} how many there are (from fd 3 on), and
 * {@code LISTEN_FDNAMES} their names, colon-separated. Every inconsistency is an error that names
 * the variable.
 */
public final class Activation {
  /** The first descriptor systemd passes. */
  public static final int FIRST_FD = 3;

  private Activation() {}

  /**
   * The socket this process was given, from its environment.
   *
   * @param declared how it is passed: systemd's (the only one, or the one with this name) or inetd's
   * @param env the environment
   * @param pid this process's id
   * @return the endpoint a transport serves
   * @throws IllegalStateException if the environment does not pass what was declared, naming the variable
   */
  public static dev.portcullis.spi.Endpoint.Inherited resolve(ServerSpec.Declared declared, Map<String, String> env,
      long pid) {
    return new dev.portcullis.spi.Endpoint.Inherited(declared.inetd() ? inetd(env, pid)
        : systemd(env, pid, declared.systemdName().orElse(null), false));
  }

  /** One passed socket: its descriptor and its name ({@code unknown} when none was given). */
  record Passed(int fd, String name) {}

  /** The sockets passed to process {@code pid} by {@code env}, in order. */
  static List<Passed> passed(Map<String, String> env, long pid) {
    String listenPid = env.get("LISTEN_PID");
    String listenFds = env.get("LISTEN_FDS");
    if (listenPid == null || listenFds == null) {
      throw new IllegalStateException((listenPid == null ? "LISTEN_PID" : "LISTEN_FDS") + " is not set: this"
          + " process was not started with socket activation (systemd .socket unit, or systemd-socket-activate)");
    }
    long forPid;
    try {
      forPid = Long.parseLong(listenPid.strip());
    } catch (NumberFormatException e) {
      throw new IllegalStateException("LISTEN_PID='" + listenPid + "' is not a process id");
    }
    if (forPid != pid) {
      throw new IllegalStateException("LISTEN_PID is " + forPid + " but this process is " + pid
          + ": the sockets were passed to another process (a parent that did not clear the variables?)");
    }
    int count;
    try {
      count = Integer.parseInt(listenFds.strip());
    } catch (NumberFormatException e) {
      throw new IllegalStateException("LISTEN_FDS='" + listenFds + "' is not a number of descriptors");
    }
    if (count < 1 || count > 4096) {
      throw new IllegalStateException("LISTEN_FDS=" + count + ": expected 1 to 4096 passed sockets");
    }
    String names = env.get("LISTEN_FDNAMES");
    // As sd_listen_fds_with_names(3): an empty LISTEN_FDNAMES names no socket at all.
    String[] split = names == null ? null : names.isEmpty() ? new String[0] : names.split(":", -1);
    if (split != null && split.length != count) {
      throw new IllegalStateException("LISTEN_FDNAMES='" + names + "' has " + split.length + " name(s) for LISTEN_FDS="
          + count);
    }
    List<Passed> out = new ArrayList<>(count);
    for (int i = 0; i < count; i++) {
      out.add(new Passed(FIRST_FD + i, split == null ? "unknown" : split[i]));
    }
    return out;
  }

  /**
   * The one listening socket systemd passed, or the one named {@code name}.
   *
   * @param env the process environment
   * @param pid this process's id
   * @param name the {@code FileDescriptorName=} to pick, or null when exactly one socket is expected
   * @param connected whether the socket is one connection ({@code Accept=yes}) rather than a listener
   * @return the socket to serve
   * @throws IllegalStateException if the variables are missing or inconsistent, or the choice is
   *     ambiguous, naming what was passed
   */
  public static InheritedSocket systemd(Map<String, String> env, long pid, String name, boolean connected) {
    List<Passed> all = passed(env, pid);
    List<Passed> chosen = new ArrayList<>();
    for (Passed p : all) {
      if (name == null || p.name().equals(name)) {
        chosen.add(p);
      }
    }
    if (chosen.size() != 1) {
      List<String> described = all.stream().map(p -> "fd " + p.fd() + " '" + p.name() + "'").toList();
      if (name == null) {
        throw new IllegalStateException("systemd passed " + all.size() + " sockets (" + String.join(", ", described)
            + "); choose one with Server.fromSystemd(name)");
      }
      throw new IllegalStateException((chosen.isEmpty() ? "no" : chosen.size()) + " socket(s) named '" + name
          + "' among those systemd passed: " + String.join(", ", described));
    }
    Passed p = chosen.get(0);
    List<Integer> others = all.stream().map(Passed::fd).filter(fd -> fd != p.fd()).toList();
    return new InheritedSocket(p.fd(), connected, "fd " + p.fd() + " from systemd (name '" + p.name() + "')", others);
  }

  /**
   * The connection of an inetd-style start: systemd's {@code Accept=yes} passes it as fd 3 with
   * {@code LISTEN_FDS=1} and {@code LISTEN_PID} this process; otherwise (inetd) it is standard input.
   *
   * @param env the process environment
   * @param pid this process's id
   * @return the connection to serve
   * @throws IllegalStateException if systemd's variables are present but inconsistent
   */
  public static InheritedSocket inetd(Map<String, String> env, long pid) {
    // Variables meant for another process (a parent that did not clear them) are not ours, as in
    // sd_listen_fds(3): then the connection is standard input, as under inetd.
    if (env.containsKey("LISTEN_FDS") && String.valueOf(pid).equals(env.getOrDefault("LISTEN_PID", "").strip())) {
      return systemd(env, pid, null, true);
    }
    return new InheritedSocket(0, true, "standard input (inetd)");
  }
}
