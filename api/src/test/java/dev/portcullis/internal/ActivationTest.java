package dev.portcullis.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.portcullis.spi.InheritedSocket;
import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** systemd's socket-activation variables: what is taken, and what is refused with which message. */
class ActivationTest {
  private static final long PID = 4242;

  private static Map<String, String> env(String... pairs) {
    Map<String, String> m = new HashMap<>();
    for (int i = 0; i < pairs.length; i += 2) {
      m.put(pairs[i], pairs[i + 1]);
    }
    return m;
  }

  private static void refused(Map<String, String> env, String name, String... parts) {
    IllegalStateException e = assertThrows(IllegalStateException.class, () -> Activation.systemd(env, PID, name, false));
    for (String part : parts) {
      assertTrue(e.getMessage().contains(part), "'" + e.getMessage() + "' should say '" + part + "'");
    }
  }

  @Test
  void theOneSocketIsFd3AndANameSelectsAmongSeveral() {
    assertEquals(new InheritedSocket(3, false, "fd 3 from systemd (name 'unknown')"),
        Activation.systemd(env("LISTEN_PID", "4242", "LISTEN_FDS", "1"), PID, null, false));
    Map<String, String> two = env("LISTEN_PID", "4242", "LISTEN_FDS", "2", "LISTEN_FDNAMES", "web:admin");
    assertEquals(4, Activation.systemd(two, PID, "admin", false).descriptor());
    assertEquals(java.util.List.of(3), Activation.systemd(two, PID, "admin", false).alsoPassed());
    assertEquals(3, Activation.systemd(two, PID, "web", false).descriptor());
  }

  @Test
  void missingOrInconsistentVariablesAreNamed() {
    refused(env(), null, "LISTEN_PID is not set", "socket activation");
    refused(env("LISTEN_PID", "4242"), null, "LISTEN_FDS is not set");
    refused(env("LISTEN_PID", "99", "LISTEN_FDS", "1"), null, "LISTEN_PID is 99 but this process is 4242");
    refused(env("LISTEN_PID", "x", "LISTEN_FDS", "1"), null, "LISTEN_PID='x' is not a process id");
    refused(env("LISTEN_PID", "4242", "LISTEN_FDS", "two"), null, "LISTEN_FDS='two'");
    refused(env("LISTEN_PID", "4242", "LISTEN_FDS", "0"), null, "LISTEN_FDS=0");
    refused(env("LISTEN_PID", "4242", "LISTEN_FDS", "2", "LISTEN_FDNAMES", "web"), null,
        "LISTEN_FDNAMES='web' has 1 name(s) for LISTEN_FDS=2");
    refused(env("LISTEN_PID", "4242", "LISTEN_FDS", "1", "LISTEN_FDNAMES", ""), null,
        "LISTEN_FDNAMES='' has 0 name(s) for LISTEN_FDS=1");
  }

  @Test
  void anAmbiguousOrUnknownChoiceListsWhatWasPassed() {
    Map<String, String> two = env("LISTEN_PID", "4242", "LISTEN_FDS", "2", "LISTEN_FDNAMES", "web:admin");
    refused(two, null, "systemd passed 2 sockets (fd 3 'web', fd 4 'admin')", "fromSystemd(name)");
    refused(two, "api", "no socket(s) named 'api'", "fd 3 'web', fd 4 'admin'");
  }

  @Test
  void inetdTakesStandardInputUnlessSystemdPassedTheConnection() {
    assertEquals(new InheritedSocket(0, true, "standard input (inetd)"), Activation.inetd(env(), PID));
    InheritedSocket accepted = Activation.inetd(env("LISTEN_PID", "4242", "LISTEN_FDS", "1"), PID);
    assertEquals(3, accepted.descriptor());
    assertTrue(accepted.connected());
    assertEquals(0, Activation.inetd(env("LISTEN_PID", "7", "LISTEN_FDS", "1"), PID).descriptor(),
        "variables for another process are not ours: standard input");
    assertThrows(IllegalStateException.class,
        () -> Activation.inetd(env("LISTEN_PID", "4242", "LISTEN_FDS", "2"), PID), "two sockets for one connection");
  }
}
