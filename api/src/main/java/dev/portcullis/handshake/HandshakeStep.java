package dev.portcullis.handshake;

import java.nio.ByteBuffer;

/**
 * The state of one {@link Handshake} step for one connection. Called only on the transport's event
 * loop, one call at a time; a step must never block.
 *
 * <p>The contract:
 *
 * <ol>
 *   <li>{@link #begin} is called once, first. It may write (a greeting, a challenge) and returns
 *       {@link Progress#DONE} if the step needs no input.
 *   <li>{@link #onInput} is called whenever bytes are buffered. The step consumes what it
 *       understands by advancing the buffer's position and leaves the rest: bytes it does not
 *       consume stay buffered for the next call, the next step or the handler. It returns {@link
 *       Progress#NEED_MORE} to wait for more bytes, or {@link Progress#DONE}.
 *   <li>To refuse the connection, throw {@link HandshakeException}; the connection is closed and
 *       counted as a failed handshake. Any other exception is treated the same way, and logged.
 * </ol>
 *
 * <p>The input buffer holds at most {@value #MAX_BUFFERED} bytes; a step that keeps asking for more
 * with a full buffer fails the handshake.
 */
@FunctionalInterface
public interface HandshakeStep {
  /** The most bytes the handshake buffers for a step before it fails as too long. */
  int MAX_BUFFERED = 16 * 1024;

  /** What a step wants after a call. */
  enum Progress {
    /** Wait for more input. */
    NEED_MORE,
    /** The step is complete; go on to the next step, or to the handler. */
    DONE
  }

  /**
   * Starts the step. The default does nothing and waits for input.
   *
   * @param context this connection's handshake state
   * @return {@link Progress#DONE} if the step is already complete
   * @throws HandshakeException to refuse the connection
   */
  default Progress begin(HandshakeContext context) throws HandshakeException {
    return Progress.NEED_MORE;
  }

  /**
   * Bytes have arrived. Consume them from {@code input} (advance its position).
   *
   * @param input the buffered bytes, read-only to this step except for its position
   * @param context this connection's handshake state
   * @return whether more input is needed
   * @throws HandshakeException to refuse the connection
   */
  Progress onInput(ByteBuffer input, HandshakeContext context) throws HandshakeException;
}
