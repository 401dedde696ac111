package dev.portcullis.examples.kv;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

/** {@link KvServer#readLine}: the limit's boundaries, and that it stops reading at the limit. */
class KvLineTest {
  private static InputStream in(String text) {
    return new ByteArrayInputStream(text.getBytes(StandardCharsets.UTF_8));
  }

  @Test
  void acceptsLinesUpToTheLimitWithEitherEnding() throws IOException {
    InputStream in = in("abcd\nabcd\r\n\nab");
    assertEquals("abcd", KvServer.readLine(in, 4));
    assertEquals("abcd", KvServer.readLine(in, 4), "the \\r of \\r\\n is not counted");
    assertEquals("", KvServer.readLine(in, 4));
    assertEquals("ab", KvServer.readLine(in, 4), "a last line without an ending");
    assertNull(KvServer.readLine(in, 4));
  }

  @Test
  void refusesALineOneByteOverTheLimit() {
    assertThrows(IOException.class, () -> KvServer.readLine(in("abcde\n"), 4));
    assertThrows(IOException.class, () -> KvServer.readLine(in("abcd\rx\n"), 4));
    assertThrows(IOException.class, () -> KvServer.readLine(in("abcde"), 4));
    IOException e = assertThrows(IOException.class, () -> KvServer.readLine(in("x".repeat(70_000)), KvServer.MAX_LINE));
    assertEquals("ERROR line too long (limit 65536 bytes)", e.getMessage());
  }

  @Test
  void stopsReadingOnceTheLineIsTooLong() {
    int[] read = {0};
    InputStream endless = new InputStream() { // 'x' forever, counting
      @Override
      public int read() {
        read[0]++;
        return 'x';
      }
    };
    assertThrows(IOException.class, () -> KvServer.readLine(endless, KvServer.MAX_LINE));
    assertTrue(read[0] <= KvServer.MAX_LINE + 2, read[0] + " bytes read");
  }
}
