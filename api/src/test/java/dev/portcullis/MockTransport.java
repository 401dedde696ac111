package dev.portcullis;

import static org.mockito.ArgumentMatchers.any;
import static org.mockito.ArgumentMatchers.anyInt;
import static org.mockito.Mockito.mock;
import static org.mockito.Mockito.verify;
import static org.mockito.Mockito.when;

import dev.portcullis.spi.Acceptor;
import dev.portcullis.spi.Listener;
import dev.portcullis.spi.Transport;
import java.net.InetSocketAddress;
import org.mockito.ArgumentCaptor;

/**
 * A Mockito transport for testing the api pipeline alone: it "listens" on 127.0.0.1:7000 and hands
 * the server's {@link Acceptor} to the test, which then plays the event loop.
 */
final class MockTransport {
  final Transport transport = mock(Transport.class);
  final Listener listener = mock(Listener.class);

  MockTransport() {
    try {
      when(transport.name()).thenReturn("mock");
      when(transport.isAvailable()).thenReturn(true);
      when(transport.open(any(), any())).thenReturn(listener);
      when(transport.open(any(), anyInt(), any(), any())).thenReturn(listener);
    } catch (java.io.IOException e) {
      throw new AssertionError(e);
    }
    when(listener.localAddress()).thenReturn(new InetSocketAddress("127.0.0.1", 7000));
  }

  /**
   * Plays the transport accepting a connection from an IPv4 {@code peer}: asks the server to admit
   * it and, if admitted, hands over a fresh {@link FakeChannel}, which is returned either way.
   */
  FakeChannel connect(String peer) throws Exception {
    FakeChannel ch = new FakeChannel(peer, 40000);
    int address = 0;
    for (String part : peer.split("\\.")) {
      address = address << 8 | Integer.parseInt(part);
    }
    Acceptor acceptor = acceptor();
    if (acceptor.admitIpv4(address)) {
      acceptor.accepted(ch);
    }
    return ch;
  }

  /** The acceptor the server gave the transport when it started. */
  Acceptor acceptor() throws Exception {
    ArgumentCaptor<Acceptor> captor = ArgumentCaptor.forClass(Acceptor.class);
    verify(transport).open(any(), anyInt(), captor.capture(), any());
    return captor.getValue();
  }
}
