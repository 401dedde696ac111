package dev.portcullis.jna;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.portcullis.internal.Transports;
import org.junit.jupiter.api.Test;

/** The transport is found with ServiceLoader and reports itself available on Linux. */
class TransportDiscoveryTest {
  @Test
  void serviceLoaderFindsTheJnaTransport() {
    assertInstanceOf(JnaTransport.class, Transports.load());
  }

  @Test
  void reportsAvailabilityInsteadOfFailingOnFirstUse() {
    JnaTransport t = new JnaTransport();
    assertTrue(t.isAvailable(), () -> "unavailable: " + t.unavailabilityCause());
    assertTrue(t.unavailabilityCause().isEmpty());
    assertEquals("jna", t.name());
  }
}
