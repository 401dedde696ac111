package dev.portcullis.jna;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.portcullis.Penalty;
import dev.portcullis.PenaltyListener;
import dev.portcullis.admission.AdmissionChain;
import dev.portcullis.policy.AccessPolicy;
import dev.portcullis.policy.Cidr;
import dev.portcullis.policy.Penalties;
import dev.portcullis.spi.LogCapture;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * A kernel guard fed by an admission chain's penalty box, as its Javadoc shows: offences the
 * application reports, and an external ban of a range, get SYNs dropped on a plain JDK server's
 * socket, which never accepts them; a lift lets them in again.
 */
@Timeout(60)
class KernelGuardPenaltyBoxTest {
  @RegisterExtension
  final LogCapture log = new LogCapture();

  private static boolean synDropped(String from, InetSocketAddress to) {
    try (Socket s = new Socket()) {
      s.bind(new InetSocketAddress(InetAddress.getByName(from), 0));
      s.connect(to, 300);
      return false;
    } catch (SocketTimeoutException e) {
      return true;
    } catch (IOException e) {
      return false;
    }
  }

  @Test
  void reportedOffencesAndExternalBansReachTheGuardedSocket() throws Exception {
    AccessPolicy policy = AccessPolicy.parse("allow 127.0.0.0/8\n");
    AdmissionChain chain = AdmissionChain.builder().policy(policy)
        .penalties(Penalties.after(5, Duration.ofMinutes(1))).build();
    try (KernelGuardTest.JdkServer server = KernelGuardTest.JdkServer.on("127.0.0.1");
        KernelGuard guard = KernelGuard.attach(server.channel, policy)) {
      chain.addPenaltyListener(new PenaltyListener() {
        @Override
        public void banned(Penalty p, String reason, boolean external) {
          guard.updateBans(chain.directBans());
        }

        @Override
        public void lifted(Cidr range, String reason) {
          guard.updateBans(chain.directBans());
        }
      });
      InetSocketAddress at = server.address();
      assertEquals("ok", KernelGuardTest.served("127.0.0.6", at));

      assertTrue(chain.reportOffence(InetAddress.getByName("127.0.0.6"), 5, "bad login"));
      assertTrue(Clients.await(() -> synDropped("127.0.0.6", at), Duration.ofSeconds(10)),
          "the reported client's SYN is dropped in the kernel");
      chain.ban(Cidr.parse("127.0.7.0/24"), Duration.ofMinutes(10), "crowdsec: ssh-bf");
      assertTrue(Clients.await(() -> synDropped("127.0.7.200", at), Duration.ofSeconds(10)),
          "so is a range banned from outside");
      int accepted = server.accepted.get();
      KernelGuardTest.dropped("127.0.7.1", at);
      assertEquals(accepted, server.accepted.get(), "the guarded server never saw it");
      assertEquals("ok", KernelGuardTest.served("127.0.0.1", at), "others are served");

      assertTrue(chain.lift(Cidr.parse("127.0.0.6/32"), "password reset"));
      assertTrue(Clients.await(() -> {
        try {
          return "ok".equals(KernelGuardTest.served("127.0.0.6", at));
        } catch (IOException e) {
          return false;
        }
      }, Duration.ofSeconds(10)), "lifted in the kernel too");
    }
  }
}
