package dev.portcullis.policy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import org.junit.jupiter.api.Test;

class PenaltiesTest {
  @Test
  void toStringWritesDurationsAsPeopleDo() {
    String text = Penalties.after(10, Duration.ofMinutes(1)).banFor(Duration.ofSeconds(30))
        .upTo(Duration.ofMinutes(90)).forgetAfter(Duration.ofMillis(1500)).toString();
    assertTrue(text.startsWith("Penalties[10 offences within 1m: banned 30s, doubling up to 1h30m, forgotten after"
        + " 1s500ms, "), text);
    assertTrue(!text.contains("PT"), text);
  }

  @Test
  void messagesWriteDurationsAsPeopleDo() {
    Penalties p = Penalties.after(3, Duration.ofMinutes(1)).banFor(Duration.ofMinutes(5));
    assertEquals("Penalties.upTo(1m) is shorter than the first ban (5m); give banFor(...) first, or a longer cap",
        assertThrows(IllegalArgumentException.class, () -> p.upTo(Duration.ofMinutes(1))).getMessage());
    assertEquals("Penalties.banFor(duration) must be positive, not -5s",
        assertThrows(IllegalArgumentException.class, () -> p.banFor(Duration.ofSeconds(-5))).getMessage());
  }
}
