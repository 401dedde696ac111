package dev.portcullis.jna;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;

import dev.portcullis.internal.Transports;
import org.junit.jupiter.api.Test;

/**
 * The transport is found with ServiceLoader. That it reports itself available, with no cause, is
 * the SPI's contract: {@link JnaTransportContractTest}.
 */
class TransportDiscoveryTest {
  @Test
  void serviceLoaderFindsTheJnaTransport() {
    assertEquals("jna", assertInstanceOf(JnaTransport.class, Transports.load()).name());
  }
}
