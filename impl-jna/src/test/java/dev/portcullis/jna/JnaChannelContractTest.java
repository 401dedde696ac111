package dev.portcullis.jna;

import static org.junit.jupiter.api.Assertions.assertNotNull;

import dev.portcullis.spi.Acceptor;
import dev.portcullis.spi.Channel;
import dev.portcullis.spi.ChannelContract;
import dev.portcullis.spi.Endpoint;
import dev.portcullis.spi.Listener;
import java.io.IOException;
import java.net.InetAddress;
import java.net.Socket;
import java.net.SocketAddress;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;

/**
 * {@link JnaChannel} keeps the SPI's {@link ChannelContract}: each channel is one a listener of
 * {@link JnaTransport} on 127.0.0.1 accepted, and its peer a {@code java.net.Socket}.
 */
class JnaChannelContractTest extends ChannelContract {
  private final BlockingQueue<Channel> accepted = new LinkedBlockingQueue<>();
  private final List<AutoCloseable> toClose = new ArrayList<>();
  private Listener listener;

  private final Acceptor acceptor = new Acceptor() {
    @Override
    public boolean admitIpv4(int address) {
      return true;
    }

    @Override
    public boolean admitIpv6(long high, long low) {
      return true;
    }

    @Override
    public void accepted(Channel channel) {
      accepted.add(channel);
    }
  };

  @Override
  protected Pair connect() throws Exception {
    if (listener == null) {
      listener = new JnaTransport().open(
          new Endpoint.Tcp(Optional.of(InetAddress.getByName("127.0.0.1")), 0, 64), acceptor);
    }
    Socket socket = Clients.connect("127.0.0.1", listener.localAddress());
    toClose.add(socket);
    // Megabytes through a busy 2-core machine: a stall of seconds is slowness, not a hang.
    socket.setSoTimeout(30_000);
    Channel channel = accepted.poll(10, TimeUnit.SECONDS);
    assertNotNull(channel, "the listener accepted nothing");
    toClose.add(channel::close);
    return new Pair(channel, new SocketPeer(socket));
  }

  @Override
  protected boolean reportsErrnos() {
    return true;
  }

  @AfterEach
  void closeEverything() throws Exception {
    for (AutoCloseable c : toClose) {
      c.close();
    }
    if (listener != null) {
      listener.close();
    }
  }

  /** The far end as a plain blocking socket. */
  private record SocketPeer(Socket socket) implements Peer {
    @Override
    public void send(byte[] bytes) throws IOException {
      socket.getOutputStream().write(bytes);
    }

    @Override
    public void shutdownOutput() throws IOException {
      socket.shutdownOutput();
    }

    @Override
    public void close() throws IOException {
      socket.close();
    }

    @Override
    public void reset() throws IOException {
      socket.setSoLinger(true, 0);
      socket.close();
    }

    @Override
    public byte[] receive(int n) throws IOException {
      byte[] got = socket.getInputStream().readNBytes(n);
      if (got.length != n) {
        throw new IOException("end of stream after " + got.length + " of " + n + " bytes");
      }
      return got;
    }

    @Override
    public boolean receiveEndOfStream() throws IOException {
      return socket.getInputStream().read() == -1;
    }

    @Override
    public SocketAddress address() {
      return socket.getLocalSocketAddress();
    }

    @Override
    public SocketAddress serverAddress() {
      return socket.getRemoteSocketAddress();
    }
  }
}
