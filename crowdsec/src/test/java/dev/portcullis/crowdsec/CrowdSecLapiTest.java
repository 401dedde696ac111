package dev.portcullis.crowdsec;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.portcullis.Penalty;
import dev.portcullis.RunningServer;
import dev.portcullis.Server;
import dev.portcullis.policy.Penalties;
import dev.portcullis.spi.LogCapture;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketException;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * Portcullis against a real CrowdSec Local API on loopback: cscli's decisions refuse a client on
 * two instances at once and their deletion lets it in again; one instance's own ban reaches the
 * other through the LAPI; the LAPI stopped and restarted while a client keeps connecting; a
 * decision's ban reaches the kernel filter.
 */
@Timeout(120)
class CrowdSecLapiTest {
  @TempDir
  static Path dir;

  static LocalApi lapi;

  @RegisterExtension
  final LogCapture log = new LogCapture();

  @BeforeAll
  static void startLapi() throws Exception {
    lapi = LocalApi.start(dir);
  }

  @AfterAll
  static void stopLapi() throws Exception {
    if (lapi != null) {
      lapi.close();
    }
  }

  private static Server.TcpBuilder server() {
    return Server.on(0).bindAddress("127.0.0.1").allow("127.0.0.0/8")
        .penalties(Penalties.after(3, Duration.ofMinutes(1)).banFor(Duration.ofMinutes(1)))
        .handle(conn -> conn.output().write("ok\n".getBytes(StandardCharsets.US_ASCII)));
  }

  private static Bouncer bouncer(String name, RunningServer server) throws Exception {
    return Bouncer.builder(lapi.url()).apiKey(lapi.bouncerKey(name)).pollInterval(Duration.ofMillis(300))
        .maxBackoff(Duration.ofSeconds(1)).requestTimeout(Duration.ofSeconds(3)).build().start(BanTarget.of(server));
  }

  /** Connects from {@code from}: true if the server said "ok", false if it closed at once. */
  static boolean served(String from, RunningServer server) throws IOException {
    try (Socket s = new Socket()) {
      s.bind(new InetSocketAddress(from, 0));
      s.connect(server.localAddress(), 5000);
      s.setSoTimeout(5000);
      try {
        return s.getInputStream().read() == 'o';
      } catch (SocketException reset) {
        return false;
      }
    }
  }

  static boolean await(BooleanSupplier condition, Duration limit) throws InterruptedException {
    long deadline = System.nanoTime() + limit.toNanos();
    while (System.nanoTime() < deadline) {
      if (condition.getAsBoolean()) {
        return true;
      }
      Thread.sleep(50);
    }
    return condition.getAsBoolean();
  }

  private static BooleanSupplier refused(String from, RunningServer... servers) {
    return () -> {
      try {
        for (RunningServer s : servers) {
          if (served(from, s)) {
            return false;
          }
        }
        return true;
      } catch (IOException e) {
        return false;
      }
    };
  }

  private static BooleanSupplier servedBy(String from, RunningServer... servers) {
    return () -> {
      try {
        for (RunningServer s : servers) {
          if (!served(from, s)) {
            return false;
          }
        }
        return true;
      } catch (IOException e) {
        return false;
      }
    };
  }

  @Test
  void cscliDecisionsRefuseAClientOnTwoInstancesAndTheirDeletionLiftsThem() throws Exception {
    try (RunningServer a = server().start(); RunningServer b = server().start();
        Bouncer ba = bouncer("instance-a", a); Bouncer bb = bouncer("instance-b", b)) {
      assertTrue(served("127.0.0.2", a) && served("127.0.0.2", b), "served before any decision");

      lapi.cscli("decisions", "add", "--ip", "127.0.0.2", "--duration", "1h", "--reason", "test-ip");
      assertTrue(await(refused("127.0.0.2", a, b), Duration.ofSeconds(15)), "refused on both instances");
      assertTrue(served("127.0.0.1", a) && served("127.0.0.1", b), "another client is served meanwhile");
      Penalty p = a.penalties().stream().filter(x -> x.source().toString().equals("127.0.0.2/32")).findFirst()
          .orElseThrow();
      assertEquals("crowdsec: test-ip", p.reason());
      assertTrue(p.until().isAfter(java.time.Instant.now().plus(Duration.ofMinutes(55))), "for the decision's hour");

      lapi.cscli("decisions", "add", "--range", "127.0.3.0/24", "--duration", "1h");
      assertTrue(await(refused("127.0.3.7", a, b), Duration.ofSeconds(15)), "a range decision refuses its addresses");
      assertTrue(served("127.0.4.7", a), "an address outside the range is served");

      lapi.cscli("decisions", "add", "--ip", "127.0.0.9", "--type", "captcha");
      assertTrue(await(() -> ba.stats().ignored().getOrDefault("captcha/Ip", 0L) == 1, Duration.ofSeconds(15)),
          ba.stats().toString());
      assertTrue(served("127.0.0.9", a), "a captcha decision is counted, not enforced");

      lapi.cscli("decisions", "delete", "--ip", "127.0.0.2");
      assertTrue(await(servedBy("127.0.0.2", a, b), Duration.ofSeconds(15)), "the deletion lifts it on both");
      assertTrue(refused("127.0.3.7", a, b).getAsBoolean(), "the range stays");
      assertEquals(1, bb.stats().decisionsInForce(), bb.decisions().toString());
      assertEquals("127.0.3.0/24", bb.decisions().get(0).value());

      lapi.cscli("decisions", "delete", "--range", "127.0.3.0/24");
      assertTrue(await(servedBy("127.0.3.7", a, b), Duration.ofSeconds(15)), "the range is lifted too");
      assertEquals(0, ba.stats().failures(), ba.stats().toString());
    }
  }

  @Test
  void aBanMadeByOneInstanceReachesTheOtherThroughTheLapi() throws Exception {
    lapi.cscli("machines", "add", "portcullis-a", "--password", "machine-a-password", "-f",
        dir.resolve("machine-a.yaml").toString());
    try (RunningServer a = server().start(); RunningServer b = server().start();
        Watcher watcher = Watcher.builder(lapi.url()).machineFile(dir.resolve("machine-a.yaml")).build();
        Bouncer bb = bouncer("instance-b-2", b)) {
      a.addPenaltyListener(watcher);
      assertTrue(served("127.0.0.4", b));
      assertTrue(a.reportOffence(InetAddress.getByName("127.0.0.4"), 3, "credential stuffing"), "banned on a");
      assertTrue(await(refused("127.0.0.4", b), Duration.ofSeconds(15)), "and, through the LAPI, on b");
      Penalty p = b.penalties().stream().filter(x -> x.source().toString().equals("127.0.0.4/32")).findFirst()
          .orElseThrow();
      assertEquals("crowdsec: portcullis/credential-stuffing", p.reason());
      assertEquals(1, watcher.stats().pushed(), watcher.stats().toString());
      assertTrue(lapi.cscli("decisions", "list", "-o", "raw").contains("portcullis/credential-stuffing"));
      lapi.cscli("decisions", "delete", "--ip", "127.0.0.4");
    }
  }

  @Test
  void theLapiStoppedAndRestartedUnderLoadStallsNoAcceptAndTheBansStay() throws Exception {
    try (RunningServer a = server().start(); Bouncer ba = bouncer("instance-c", a)) {
      lapi.cscli("decisions", "add", "--ip", "127.0.0.5", "--duration", "1h");
      assertTrue(await(refused("127.0.0.5", a), Duration.ofSeconds(15)));

      AtomicBoolean stop = new AtomicBoolean();
      AtomicLong served = new AtomicLong();
      AtomicLong failed = new AtomicLong();
      Thread client = new Thread(() -> {
        for (int i = 0; i < 100_000 && !stop.get(); i++) {
          try {
            if (served("127.0.0.1", a)) {
              served.incrementAndGet();
            } else {
              failed.incrementAndGet();
            }
          } catch (IOException e) {
            failed.incrementAndGet();
          }
        }
      });
      client.start();
      try {
        lapi.stop();
        assertTrue(await(() -> ba.stats().failures() >= 3, Duration.ofSeconds(20)), ba.stats().toString());
        long duringOutage = served.get();
        assertTrue(refused("127.0.0.5", a).getAsBoolean(), "the ban stays while the LAPI is down");
        assertTrue(await(() -> served.get() > duringOutage + 10, Duration.ofSeconds(10)), "accept goes on");
        List<String> failures = log.lines("CrowdSec LAPI " + lapi.url() + "/ failed");
        assertEquals(1, failures.size(), "logged once per outage: " + failures);
        assertTrue(failures.get(0).contains("cannot connect"), failures.get(0));

        lapi.startProcess();
        assertTrue(await(() -> !ba.stats().failing(), Duration.ofSeconds(20)), ba.stats().toString());
        assertEquals(1, log.lines("answers again;").size());
        assertTrue(refused("127.0.0.5", a).getAsBoolean(), "and stays after it");
        assertEquals(1, ba.stats().decisionsInForce());
      } finally {
        stop.set(true);
        client.join(30_000);
        lapi.ensureRunning();
      }
      assertEquals(0, failed.get(), "no connection of the other client failed or stalled");
      assertTrue(served.get() > 10);
      lapi.cscli("decisions", "delete", "--ip", "127.0.0.5");
    }
  }

  @Test
  void withTheKernelFilterADecisionsBanDropsTheSyn() throws Exception {
    try (RunningServer a = server().kernelFilter().start(); Bouncer ba = bouncer("instance-d", a)) {
      assertTrue(served("127.0.0.7", a));
      lapi.cscli("decisions", "add", "--ip", "127.0.0.7", "--duration", "1h");
      assertTrue(await(() -> {
        try (Socket s = new Socket()) {
          s.bind(new InetSocketAddress("127.0.0.7", 0));
          s.connect(a.localAddress(), 300);
          return false; // answered: not in the kernel (yet)
        } catch (SocketTimeoutException e) {
          return true; // no SYN-ACK: dropped in the kernel
        } catch (IOException e) {
          return false;
        }
      }, Duration.ofSeconds(15)), "the banned peer's SYN gets no answer");
      assertTrue(served("127.0.0.1", a));
      lapi.cscli("decisions", "delete", "--ip", "127.0.0.7");
      assertTrue(await(servedBy("127.0.0.7", a), Duration.ofSeconds(15)), "lifted in the kernel too");
    }
  }
}
