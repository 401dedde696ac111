package dev.portcullis;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.portcullis.spi.Channel;
import dev.portcullis.spi.ChannelContract;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.SocketAddress;

/**
 * The api tests' {@link FakeChannel} keeps the SPI's {@link ChannelContract}, so what the api is
 * proved against is a channel as the transports are. The peer is the test's own hand on the fake:
 * {@code feed}, {@code peerCloses}, {@code peerResets} and {@code drain}. Its send buffer holds
 * {@link #ROOM} bytes until the peer reads, as a socket's does.
 *
 * <p>Errnos: the fake has no operating system under it, so it reports a reset as a plain {@code
 * SocketException} ("Connection reset", as the JDK's sockets do) and opts out of the errno checks
 * ({@link #reportsErrnos()} false): an errno it made up would prove nothing.
 */
class FakeChannelContractTest extends ChannelContract {
  /** What the fake's send buffer holds between two reads of the peer. */
  private static final int ROOM = 64 * 1024;

  @Override
  protected Pair connect() {
    FakeChannel channel = new FakeChannel("10.0.0.5", 40000);
    channel.sendCapacity(ROOM);
    return new Pair(channel, new Peer() {
      @Override
      public void send(byte[] bytes) {
        channel.feed(bytes);
      }

      @Override
      public void shutdownOutput() {
        channel.peerCloses();
      }

      @Override
      public void close() {
        channel.peerCloses();
      }

      @Override
      public void reset() {
        channel.peerResets();
      }

      @Override
      public byte[] receive(int n) throws IOException {
        ByteArrayOutputStream got = new ByteArrayOutputStream();
        for (long round = 0; round <= n / ROOM + 1000 && got.size() < n; round++) {
          got.write(channel.peerReads());
          channel.drain(ROOM); // what the peer took makes room: the channel's whenWritable task runs
        }
        assertEquals(n, got.size(), "bytes the channel wrote");
        return got.toByteArray();
      }

      @Override
      public boolean receiveEndOfStream() {
        return channel.peerReads().length == 0 && channel.outputShut();
      }

      @Override
      public SocketAddress address() {
        return new InetSocketAddress("10.0.0.5", 40000);
      }

      @Override
      public SocketAddress serverAddress() {
        return new InetSocketAddress("127.0.0.1", 7000);
      }
    });
  }

  @Override
  protected boolean reportsErrnos() {
    return false;
  }

  @Override
  protected void passTime(Channel channel) {
    ((FakeChannel) channel).elapse();
  }
}
