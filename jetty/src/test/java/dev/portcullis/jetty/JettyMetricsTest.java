package dev.portcullis.jetty;

import static dev.portcullis.jetty.JettyServers.await;
import static dev.portcullis.jetty.JettyServers.get;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.portcullis.RunningServer;
import dev.portcullis.micrometer.PortcullisMetrics;
import dev.portcullis.policy.AccessPolicy;
import dev.portcullis.spi.LogCapture;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/** The Micrometer binder over a Jetty guard, through its {@link RunningServer} view. */
@Timeout(60)
class JettyMetricsTest {
  @RegisterExtension
  final LogCapture log = new LogCapture();

  @Test
  void theBinderPublishesTheGuardsCountersAndFollowsAPolicyUpdate() throws Exception {
    try (JettyServers jetty = new JettyServers()) {
      JettyGuard guard = JettyGuard.attach(jetty.connector, AccessPolicy.parse("allow 127.0.0.1/32"));
      jetty.start();
      SimpleMeterRegistry registry = new SimpleMeterRegistry();
      RunningServer view = guard.asRunningServer();
      new PortcullisMetrics(view).bindTo(registry);
      assertEquals(jetty.connector.getLocalPort(), view.port());

      assertEquals("127.0.0.1", get("127.0.0.1", jetty.address()));
      assertNull(get("127.0.0.2", jetty.address()));
      assertEquals(1.0, registry.get("portcullis.connections.rejected").tag("reason", "address").functionCounter().count());
      assertEquals(1.0, registry.get("portcullis.connections.handled").functionCounter().count());
      assertEquals(1.0, registry.get("portcullis.rule.hits").tag("rule", "allow 127.0.0.1/32").functionCounter().count());
      assertTrue(await(() -> registry.get("portcullis.connection.duration").timer().count() == 1, Duration.ofSeconds(10)),
          "the served connection's duration is recorded when Jetty closes it");

      guard.updatePolicy(AccessPolicy.parse("allow 127.0.0.0/8\ndeny 127.0.0.9/32"));
      assertNull(get("127.0.0.9", jetty.address()));
      assertEquals(1.0, registry.get("portcullis.rule.hits").tag("rule", "deny 127.0.0.9/32").functionCounter().count(),
          "the rule series follow the new policy");
      assertTrue(registry.find("portcullis.rule.hits").tag("rule", "allow 127.0.0.1/32").meters().isEmpty(),
          "the old policy's rule is gone");
      assertThrows(UnsupportedOperationException.class, view::close, "stopping is Jetty's");
    }
  }
}
