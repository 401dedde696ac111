package dev.portcullis.admission;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import dev.portcullis.policy.IpAddresses;
import java.net.InetSocketAddress;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Test;

/** What the once-a-second gate holds back is counted, with its distinct sources, on the next line. */
class RefusalLogTest {
  private final AtomicBoolean open = new AtomicBoolean(true);
  private final RefusalLog log = new RefusalLog(kind -> open.get());

  private static long v4(String address) {
    return RefusalLog.key(java.nio.ByteBuffer.wrap(IpAddresses.parse(address).getAddress()).getInt());
  }

  @Test
  void theNextLineSaysHowManyWereHeldBackAndFromHowManySources() {
    assertEquals("", log.due(RefusalLog.Kind.ADDRESS, v4("127.0.0.2")), "nothing held back yet");
    open.set(false);
    assertNull(log.due(RefusalLog.Kind.ADDRESS, v4("127.0.0.2")));
    assertNull(log.due(RefusalLog.Kind.ADDRESS, RefusalLog.key(0, 1))); // ::1
    for (int i = 0; i < 10; i++) {
      assertNull(log.due(RefusalLog.Kind.ADDRESS, v4("127.0.0.3")));
    }
    open.set(true);
    assertEquals("; 12 more since the last line, from 3 sources", log.due(RefusalLog.Kind.ADDRESS, v4("127.0.0.2")));
    assertEquals("", log.due(RefusalLog.Kind.ADDRESS, v4("127.0.0.2")), "counted once");
  }

  @Test
  void eachKindCountsItsOwn() {
    open.set(false);
    log.due(RefusalLog.Kind.HANDSHAKE_FAILED, v4("127.0.0.2"));
    log.due(RefusalLog.Kind.LIMIT, v4("127.0.0.2"));
    log.due(RefusalLog.Kind.LIMIT, v4("127.0.0.2"));
    open.set(true);
    assertEquals("; 1 more since the last line, from 1 source", log.due(RefusalLog.Kind.HANDSHAKE_FAILED, 1));
    assertEquals("; 2 more since the last line, from 1 source", log.due(RefusalLog.Kind.LIMIT, 1));
  }

  @Test
  void pastTheSetsCapacityTheLineSaysAtLeast() {
    open.set(false);
    for (int i = 0; i < 1000; i++) {
      log.due(RefusalLog.Kind.ADDRESS, v4("10.0." + (i / 256) + "." + (i % 256)));
    }
    open.set(true);
    assertEquals("; 1000 more since the last line, from at least " + RefusalLog.SOURCES_COUNTED + " sources",
        log.due(RefusalLog.Kind.ADDRESS, 1));
    open.set(false);
    for (int i = 0; i < 5; i++) {
      log.due(RefusalLog.Kind.ADDRESS, v4("10.0.0." + i));
    }
    open.set(true);
    assertEquals("; 5 more since the last line, from 5 sources", log.due(RefusalLog.Kind.ADDRESS, 1),
        "the set was emptied");
  }

  @Test
  void anIpv4SourceIsTheSameAsItsMappedForm() {
    long mapped = RefusalLog.key(0, 0x0000_FFFF_7F00_0002L);
    assertEquals(v4("127.0.0.2"), mapped);
    assertEquals(mapped, RefusalLog.key(new InetSocketAddress("::ffff:127.0.0.2", 1)));
    assertNotEquals(v4("127.0.0.2"), RefusalLog.key(0, 0x7F00_0002L), "::127.0.0.2 is another address");
  }
}
