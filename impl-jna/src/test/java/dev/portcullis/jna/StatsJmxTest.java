package dev.portcullis.jna;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.portcullis.RunningServer;
import dev.portcullis.Server;
import dev.portcullis.policy.AccessPolicy;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import javax.management.Attribute;
import javax.management.AttributeNotFoundException;
import javax.management.MBeanAttributeInfo;
import javax.management.MBeanInfo;
import javax.management.MBeanOperationInfo;
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
      name = new ObjectName("dev.portcullis:type=Server,address=" + ObjectName.quote("127.0.0.1:" + server.port()));
      assertEquals("127.0.0.1:" + server.port(), jmx.getAttribute(name, "Address"), "as people write it");
      assertEquals("ok", Clients.exchange("127.0.0.1", server.localAddress(), ""));
      assertEquals("ok", Clients.exchange("127.0.0.4", server.localAddress(), ""));
      Clients.exchange("127.0.0.2", server.localAddress(), "");
      assertTrue(Clients.await(() -> server.stats().handled() == 2 && server.stats().denied() == 1, Duration.ofSeconds(5)));
      assertEquals(Map.of("allow 127.0.0.0/8", 2L, "deny 127.0.0.2/32", 1L, "deny 127.0.0.3/32", 0L), server.ruleHits());

      assertEquals(3L, jmx.getAttribute(name, "Accepted"));
      assertEquals(1L, jmx.getAttribute(name, "Denied"));
      assertEquals(2L, jmx.getAttribute(name, "Handled"));
      assertEquals("OFF", jmx.getAttribute(name, "KernelFilter"), "no kernel filter was asked for");
      assertEquals(Runtime.version().feature() >= 21 ? "LOOP_CARRIER" : "PLATFORM", jmx.getAttribute(name, "HandlerMode"),
          "the default executor; the tests open java.lang");
      assertEquals(server.handlerMode().name(), jmx.getAttribute(name, "HandlerMode"));
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
          + ObjectName.quote("127.0.0.1:" + server.port()));
      String mode = server.stats().kernelFilter().name();
      assertTrue(mode.equals("EBPF") || mode.equals("CLASSIC"), mode);
      assertEquals(mode, jmx.getAttribute(name, "KernelFilter"));
    }
  }

  /**
   * The bean is what {@code ServerMXBean} documents: every attribute read-only, and exactly three
   * operations, each marked as an action that changes the server, described where a JMX client
   * shows it, and doing what it says.
   */
  @Test
  void theMBeanHasReadOnlyAttributesAndExactlyTheDocumentedOperations() throws Exception {
    MBeanServer jmx = ManagementFactory.getPlatformMBeanServer();
    try (RunningServer server = Server.on(0).bindAddress("127.0.0.1").allow("127.0.0.1")
        .handle(conn -> conn.output().write("ok".getBytes(StandardCharsets.US_ASCII))).start()) {
      ObjectName name = new ObjectName("dev.portcullis:type=Server,address="
          + ObjectName.quote("127.0.0.1:" + server.port()));
      MBeanInfo info = jmx.getMBeanInfo(name);
      for (MBeanAttributeInfo a : info.getAttributes()) {
        assertTrue(a.isReadable(), a.getName());
        assertFalse(a.isWritable(), a.getName() + " is read-only");
      }
      assertThrows(AttributeNotFoundException.class, () -> jmx.setAttribute(name, new Attribute("Accepted", 5L)));

      Map<String, MBeanOperationInfo> operations = new TreeMap<>();
      for (MBeanOperationInfo op : info.getOperations()) {
        operations.put(op.getName(), op);
      }
      assertEquals(Set.of("clearShadow", "liftPenalty", "promoteShadow"), operations.keySet(),
          "the operations ServerMXBean documents, and no other");
      for (MBeanOperationInfo op : operations.values()) {
        assertEquals(MBeanOperationInfo.ACTION, op.getImpact(), op.getName() + " changes the server");
        assertFalse(op.getDescription().isBlank() || op.getDescription().equals("Operation exposed for management"),
            op.getName() + " says what it does: " + op.getDescription());
      }
      assertEquals("address", operations.get("liftPenalty").getSignature()[0].getName());
      for (String op : operations.keySet()) {
        assertTrue(info.getDescription().contains(op), "the bean's description names " + op + ": "
            + info.getDescription());
      }
      assertTrue(info.getDescription().contains("read-only"), info.getDescription());

      // The operations do what they say.
      server.shadow(AccessPolicy.parse("allow 127.0.0.0/8\n"));
      jmx.invoke(name, "clearShadow", new Object[0], new String[0]);
      assertTrue(server.shadowStats().isEmpty(), "clearShadow dropped the shadow");
      server.shadow(AccessPolicy.parse("allow 127.0.0.0/8\n"));
      jmx.invoke(name, "promoteShadow", new Object[0], new String[0]);
      assertEquals(AccessPolicy.parse("allow 127.0.0.0/8\n"), server.policy(), "promoteShadow made it live");
      javax.management.RuntimeMBeanException noBox = assertThrows(javax.management.RuntimeMBeanException.class,
          () -> jmx.invoke(name, "liftPenalty", new Object[] {"127.0.0.1"}, new String[] {"java.lang.String"}));
      assertTrue(noBox.getCause() instanceof IllegalStateException, String.valueOf(noBox.getCause()));
    }
  }
}
