package dev.portcullis.jna;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.portcullis.spi.Acceptor;
import dev.portcullis.spi.Channel;
import dev.portcullis.spi.Endpoint;
import dev.portcullis.spi.Listener;
import dev.portcullis.spi.LogCapture;
import java.io.IOException;
import java.net.InetAddress;
import java.net.Socket;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/** A failing acceptor costs its connection, never a descriptor or the loop. */
@Timeout(30)
class AcceptorFailureTest {
  @RegisterExtension
  final LogCapture log = new LogCapture();

  @Test
  void throwingAdmitClosesTheConnectionAndTheLoopGoesOn() throws Exception {
    AtomicInteger calls = new AtomicInteger();
    AtomicInteger accepted = new AtomicInteger();
    AtomicReference<Throwable> stopped = new AtomicReference<>(new Throwable("not stopped"));
    Acceptor flaky = new Acceptor() {
      @Override
      public boolean admitIpv4(int address) {
        if (calls.incrementAndGet() % 2 == 1) {
          throw new IllegalStateException("policy bug");
        }
        return true;
      }

      @Override
      public boolean admitIpv6(long high, long low) {
        return false;
      }

      @Override
      public void accepted(Channel channel) {
        accepted.incrementAndGet();
        channel.close();
      }

      @Override
      public void listenerStopped(Throwable failure) {
        stopped.set(failure);
      }
    };
    Listener listener = new JnaTransport().open(
        new Endpoint.Tcp(Optional.of(InetAddress.getByName("127.0.0.1")), 0, 16), flaky);
    try {
      connectOnce(listener);
      assertTrue(Clients.await(() -> calls.get() == 1, Duration.ofSeconds(5)));
      long baseline = Clients.openDescriptors();
      for (int i = 0; i < 200; i++) {
        connectOnce(listener);
      }
      assertTrue(Clients.await(() -> calls.get() == 201 && accepted.get() == 100, Duration.ofSeconds(10)),
          "calls " + calls.get() + ", accepted " + accepted.get());
      // At most the baseline: a leak shows as more; the JVM may close one of its own meanwhile.
      assertTrue(Clients.await(() -> descriptors() <= baseline, Duration.ofSeconds(5)),
          "descriptors " + descriptors() + ", before " + baseline);
    } finally {
      listener.close();
    }
    assertEquals(null, stopped.get(), "a listener closed on request reports no failure");
    assertTrue(log.lines("ERROR dev.portcullis.jna.ConnectionGate - Deciding on a connection to").size() >= 1, log.text());
    assertTrue(log.lines("java.lang.IllegalStateException: policy bug").size() >= 1, "with its stack: " + log.text());
  }

  private static void connectOnce(Listener listener) throws IOException {
    try (Socket s = Clients.connect("127.0.0.1", listener.localAddress())) {
      s.getInputStream().read();
    }
  }

  private static long descriptors() {
    try {
      return Clients.openDescriptors();
    } catch (IOException e) {
      throw new IllegalStateException(e);
    }
  }
}
