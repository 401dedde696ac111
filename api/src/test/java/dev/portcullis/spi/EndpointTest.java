package dev.portcullis.spi;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.net.InetAddress;
import org.junit.jupiter.api.Test;

class EndpointTest {
  @Test
  void tcpPrintsItsAddressAsPeopleWriteIt() throws Exception {
    Endpoint.Tcp any = new Endpoint.Tcp(7000).withBacklog(512);
    assertEquals("Tcp[*:7000, backlog 512]", any.toString());
    assertEquals("Tcp[127.0.0.1:7000, backlog 512]", any.withBindAddress(InetAddress.getByName("127.0.0.1")).toString());
    assertEquals("Tcp[[::]:7000, backlog 512]", any.withBindAddress(InetAddress.getByName("::")).toString());
  }

  @Test
  void anAbstractSocketPrintsAsAtName() {
    assertEquals("UnixAbstract[@portcullis-admin, backlog 16]",
        new Endpoint.UnixAbstract("portcullis-admin", 16).toString());
  }
}
