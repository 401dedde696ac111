package dev.portcullis.jna;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.portcullis.RunningServer;
import dev.portcullis.Server;
import dev.portcullis.policy.AccessPolicy;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Map;
import javax.management.MBeanServer;
import javax.management.ObjectName;
import javax.management.openmbean.CompositeData;
import javax.management.openmbean.TabularData;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** Per-rule hit counts and the JMX MBean, on real connections. */
@Timeout(60)
class StatsJmxTest {
  @Test
  void everyDecisionIsCountedByItsRuleAndTheMBeanShowsTheStats() throws Exception {
    MBeanServer jmx = ManagementFactory.getPlatformMBeanServer();
    ObjectName name;
    try (RunningServer server = Server.on(0).bindAddress("127.0.0.1").allow("127.0.0.0/8").deny("127.0.0.2")
        .deny("127.0.0.3").handle(conn -> conn.output().write("ok".getBytes(StandardCharsets.US_ASCII))).start()) {
      name = new ObjectName("dev.portcullis:type=Server,address=" + ObjectName.quote(server.localAddress().toString()));
      assertEquals("ok", Clients.exchange("127.0.0.1", server.localAddress(), ""));
      assertEquals("ok", Clients.exchange("127.0.0.4", server.localAddress(), ""));
      Clients.exchange("127.0.0.2", server.localAddress(), "");
      assertTrue(Clients.await(() -> server.stats().handled() == 2 && server.stats().denied() == 1, Duration.ofSeconds(5)));
      assertEquals(Map.of("allow 127.0.0.0/8", 2L, "deny 127.0.0.2/32", 1L, "deny 127.0.0.3/32", 0L), server.ruleHits());

      assertEquals(3L, jmx.getAttribute(name, "Accepted"));
      assertEquals(1L, jmx.getAttribute(name, "Denied"));
      assertEquals(2L, jmx.getAttribute(name, "Handled"));
      assertEquals("OFF", jmx.getAttribute(name, "KernelFilter"), "no kernel filter was asked for");
      TabularData hits = (TabularData) jmx.getAttribute(name, "RuleHits");
      CompositeData row = hits.get(new Object[] {"allow 127.0.0.0/8"});
      assertEquals(2L, row.get("value"));

      server.updatePolicy(AccessPolicy.parse("allow 127.0.0.1\n"));
      Clients.exchange("127.0.0.5", server.localAddress(), "");
      assertTrue(Clients.await(() -> server.ruleHits().getOrDefault("default (address)", 0L) == 1, Duration.ofSeconds(5)),
          "counts start again with the new policy: " + server.ruleHits());
      assertEquals(0L, server.ruleHits().get("allow 127.0.0.1/32"));
    }
    assertFalse(jmx.isRegistered(name), "unregistered on close");
  }

  @Test
  void theMBeanSaysWhichKernelFilterIsLive() throws Exception {
    MBeanServer jmx = ManagementFactory.getPlatformMBeanServer();
    try (RunningServer server = Server.on(0).bindAddress("127.0.0.1").allow("127.0.0.1").kernelFilter()
        .handle(conn -> conn.output().write("ok".getBytes(StandardCharsets.US_ASCII))).start()) {
      ObjectName name = new ObjectName("dev.portcullis:type=Server,address="
          + ObjectName.quote(server.localAddress().toString()));
      String mode = server.stats().kernelFilter().name();
      assertTrue(mode.equals("EBPF") || mode.equals("CLASSIC"), mode);
      assertEquals(mode, jmx.getAttribute(name, "KernelFilter"));
    }
  }
}
