package dev.portcullis.jna;

import dev.portcullis.spi.Transport;
import dev.portcullis.spi.TransportContract;

/** The JNA transport keeps the SPI's {@link TransportContract}, on real loopback sockets. */
class JnaTransportContractTest extends TransportContract {
  @Override
  protected Transport transport() {
    return new JnaTransport();
  }

  /** Its failures come from libc: each carries the errno as a {@code NativeSocketException}. */
  @Override
  protected boolean reportsErrnos() {
    return true;
  }
}
