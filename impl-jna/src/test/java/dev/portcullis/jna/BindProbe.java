package dev.portcullis.jna;

import dev.portcullis.spi.Acceptor;
import dev.portcullis.spi.Channel;
import dev.portcullis.spi.Endpoint;
import dev.portcullis.spi.Listener;
import java.net.InetAddress;
import java.util.Optional;

/**
 * Run in a child JVM by {@link ListenRulesTest}: tries to listen on 127.0.0.1:PORT through the
 * transport and prints {@code ok} or the exception's class and message.
 */
public final class BindProbe {
  private BindProbe() {}

  public static void main(String[] args) throws Exception {
    int port = Integer.parseInt(args[0]);
    Acceptor none = new Acceptor() {
      @Override
      public boolean admitIpv4(int address) {
        return false;
      }

      @Override
      public boolean admitIpv6(long high, long low) {
        return false;
      }

      @Override
      public void accepted(Channel channel) {
        channel.close();
      }
    };
    try (Listener l = new JnaTransport().open(
        new Endpoint.Tcp(Optional.of(InetAddress.getByName("127.0.0.1")), port, 8), none)) {
      System.out.println("ok " + l.localAddress());
    } catch (Exception e) {
      System.out.println(e.getClass().getName() + ": " + e.getMessage());
    }
  }
}
