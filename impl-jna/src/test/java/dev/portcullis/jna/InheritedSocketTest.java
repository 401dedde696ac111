package dev.portcullis.jna;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.portcullis.spi.Acceptor;
import dev.portcullis.spi.Channel;
import dev.portcullis.spi.InheritedSocket;
import dev.portcullis.spi.Listener;
import java.io.IOException;
import java.net.InetAddress;
import java.net.Socket;
import java.net.SocketException;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Descriptors handed to the process (systemd, inetd), made here with plain socket calls the way a
 * service manager makes them: blocking and inheritable until the transport adopts them.
 */
@Timeout(30)
class InheritedSocketTest {
  private final JnaTransport transport = new JnaTransport();

  /** A plain listening socket on 127.0.0.1, without the flags the transport itself would set. */
  private static int plainListener() throws IOException {
    int fd = LibC.socket(LibC.AF_INET, LibC.SOCK_STREAM, 0);
    byte[] sa = SockAddr.encode(InetAddress.getByName("127.0.0.1"), 0);
    assertEquals(0, LibC.bind(fd, sa, sa.length));
    assertEquals(0, LibC.listen(fd, 16));
    return fd;
  }

  /** Greets admitted peers with "hi" and closes; counts how the listener stopped. */
  private static final class Greeter implements Acceptor {
    final boolean admit;
    final CountDownLatch stopped = new CountDownLatch(1);
    final AtomicBoolean stoppedCleanly = new AtomicBoolean();

    Greeter(boolean admit) {
      this.admit = admit;
    }

    @Override
    public boolean admitIpv4(int address) {
      return admit;
    }

    @Override
    public boolean admitIpv6(long high, long low) {
      return admit;
    }

    @Override
    public void accepted(Channel channel) {
      try {
        channel.write("hi".getBytes(StandardCharsets.US_ASCII), 0, 2);
      } catch (IOException e) {
        throw new IllegalStateException(e);
      }
      channel.close();
    }

    @Override
    public void listenerStopped(Throwable failure) {
      stoppedCleanly.set(failure == null);
      stopped.countDown();
    }
  }

  private static String read(java.net.SocketAddress at) throws IOException {
    try (Socket s = Clients.connect("127.0.0.1", at)) {
      return new String(s.getInputStream().readAllBytes(), StandardCharsets.US_ASCII);
    }
  }

  @Test
  void anInheritedListenerIsServedAndMadeNonBlockingAndCloseOnExec() throws Exception {
    int fd = plainListener();
    try (Listener l = transport.inherit(new InheritedSocket(fd, false, "fd " + fd + " (test)"), new Greeter(true))) {
      assertTrue((LibC.fcntl(fd, LibC.F_GETFD, 0) & LibC.FD_CLOEXEC) != 0, "close-on-exec");
      assertTrue((LibC.fcntl(fd, LibC.F_GETFL, 0) & LibC.O_NONBLOCK) != 0, "non-blocking");
      assertEquals("hi", read(l.localAddress()));
      assertEquals("hi", read(l.localAddress()));
    }
  }

  @Test
  void theSocketsPassedBesideItAreMadeCloseOnExecToo() throws Exception {
    int fd = plainListener();
    int other = plainListener();
    try (Listener l = transport.inherit(new InheritedSocket(fd, false, "fd " + fd + " (test)", java.util.List.of(other)),
        new Greeter(true))) {
      assertTrue((LibC.fcntl(other, LibC.F_GETFD, 0) & LibC.FD_CLOEXEC) != 0, "the unserved one is close-on-exec");
    } finally {
      LibC.close(other);
    }
  }

  @Test
  void descriptorsThatAreNotListeningTcpSocketsAreRefusedSayingWhat() throws Exception {
    Greeter g = new Greeter(true);
    int unbound = LibC.socket(LibC.AF_INET, LibC.SOCK_STREAM, 0);
    int udp = LibC.socket(LibC.AF_INET, LibC.SOCK_DGRAM, 0);
    int unix = LibC.socket(LibC.AF_UNIX, LibC.SOCK_STREAM, 0);
    int notSocket = LibC.eventfd(0, 0);
    int listener = plainListener();
    try {
      assertRefused(unbound, false, g, "is not listening (SO_ACCEPTCONN is 0)");
      assertRefused(udp, false, g, "is not a stream socket");
      assertRefused(unix, false, g, "is not listening");
      assertRefused(notSocket, false, g, "is not a socket");
      assertRefused(listener, true, g, "is a listening socket, not one connection");
      assertRefused(9999, false, g, "is not an open descriptor");
    } finally {
      for (int fd : new int[] {unbound, udp, unix, notSocket, listener}) {
        LibC.close(fd);
      }
    }
  }

  private void assertRefused(int fd, boolean connected, Acceptor a, String why) {
    SocketException e = assertThrows(SocketException.class,
        () -> transport.inherit(new InheritedSocket(fd, connected, "fd " + fd + " (test)"), a));
    assertTrue(e.getMessage().startsWith("fd " + fd + " (test)") && e.getMessage().contains(why), e.getMessage());
  }

  @Test
  void oneInheritedConnectionIsDecidedServedAndThenTheLoopStopsByItself() throws Exception {
    for (boolean admit : new boolean[] {true, false}) {
      int listener = plainListener();
      try (Socket client = new Socket()) {
        client.connect(Sockets.localAddress(listener), 5000);
        client.setSoTimeout(5000);
        int connected = LibC.accept4(listener, 0, 0, 0); // what inetd does, then passes it on
        assertTrue(connected >= 0);
        Greeter g = new Greeter(admit);
        Listener l = transport.inherit(new InheritedSocket(connected, true, "fd " + connected + " (test)"), g);
        assertEquals(admit ? "hi" : "", new String(client.getInputStream().readAllBytes(), StandardCharsets.US_ASCII));
        assertTrue(g.stopped.await(5, TimeUnit.SECONDS), "the loop stops once its connection is done");
        assertTrue(g.stoppedCleanly.get());
        l.close();
      } finally {
        LibC.close(listener);
      }
    }
  }
}
