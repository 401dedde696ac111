package dev.portcullis.internal;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.portcullis.NativeSocketException;
import java.io.IOException;
import java.net.SocketException;
import org.junit.jupiter.api.Test;

class PeerWentAwayTest {
  @Test
  void aResetABrokenPipeAndATimeoutAreThePeerLeaving() {
    assertTrue(Pipeline.peerWentAway(new NativeSocketException("recv(fd 9)", 104, "ECONNRESET", "Connection reset by peer")));
    assertTrue(Pipeline.peerWentAway(new NativeSocketException("send(fd 9)", 32, "EPIPE", "Broken pipe")));
    assertTrue(Pipeline.peerWentAway(new IOException("read failed",
        new NativeSocketException("recv(fd 9)", 110, "ETIMEDOUT", "Connection timed out"))), "found as a cause");
  }

  @Test
  void itIsDecidedByTheErrnoNotByTheMessage() {
    assertFalse(Pipeline.peerWentAway(new SocketException("Connection reset")), "a message that only says reset");
    assertFalse(Pipeline.peerWentAway(new NativeSocketException("recv(fd 9)", 9, "EBADF", "Connection reset?")),
        "another errno, whatever its text");
  }
}
