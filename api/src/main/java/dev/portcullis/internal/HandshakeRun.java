package dev.portcullis.internal;

import dev.portcullis.admission.AdmissionChain;
import dev.portcullis.admission.PendingHandshake;
import dev.portcullis.handshake.HandshakeContext;
import dev.portcullis.handshake.HandshakeException;
import dev.portcullis.handshake.HandshakeStep;
import dev.portcullis.handshake.Identity;
import dev.portcullis.spi.Channel;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.util.ArrayDeque;
import java.util.Arrays;
import java.util.Objects;
import java.util.concurrent.TimeUnit;
import java.util.function.UnaryOperator;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One connection's trip through the handshake chain. Lives on the event loop only: it reads when
 * the loop says the socket is readable and holds no thread while it waits. The deadline is
 * absolute, set once at start.
 */
final class HandshakeRun extends PeerView implements HandshakeContext {
  private static final Logger log = LoggerFactory.getLogger(HandshakeRun.class);

  private final Pipeline pipeline;
  /** The accepted channel as the transport knows it; {@link #channel} may be a codec on top. */
  private final Channel socket;
  private Channel channel;
  private UnaryOperator<Channel> codec;
  private final Runnable advance = this::advance;
  private final ArrayDeque<ByteBuffer> pending = new ArrayDeque<>(2);
  /** This run's place among the pending handshakes: its start, and how to close it if evicted. */
  final PendingHandshake pendingHandshake;
  /** Who decides whether the connection goes on, and reports how it ended. */
  private final AdmissionChain admission;
  private long deadline;
  private Channel.Cancellable timer;
  private int stepIndex;
  private HandshakeStep step;
  /** The step this run is counted in ({@link Pipeline#enterStep}), or -1. */
  private int countedStep = -1;
  private ByteBuffer in;
  private boolean feed;
  private boolean finished;
  // A peer's first bytes almost never arrive before accept returns (measured: 99.5% of the time
  // in the churn benchmark), so the first read waits for epoll instead of costing an EAGAIN.
  private boolean speculativeReadSkipped;

  HandshakeRun(Pipeline pipeline, Channel channel, PeerFacts facts,
      dev.portcullis.policy.PeerCredentials credentials) {
    super(facts);
    this.pipeline = pipeline;
    this.socket = channel;
    this.channel = channel;
    this.admission = pipeline.chain();
    this.pendingHandshake = admission.pendingHandshake(channel, channel.remoteAddress(), credentials, this::evict);
  }

  void start() {
    deadline = pendingHandshake.since() + pipeline.handshakeTimeoutNanos();
    timer = channel.schedule(this::timedOut, pipeline.handshakeTimeoutNanos(), TimeUnit.NANOSECONDS);
    advance();
  }

  private void advance() {
    if (finished) {
      return;
    }
    try {
      while (true) {
        if (step == null) {
          if (codec != null) {
            // What the finished step queued goes out as it is; everything after goes through the codec.
            if (!flush()) {
              return;
            }
            channel = Objects.requireNonNull(codec.apply(channel), "codec returned null");
            codec = null;
          }
          if (stepIndex == pipeline.handshakeCount()) {
            if (flush()) {
              finish();
            }
            return;
          }
          step = pipeline.handshake(stepIndex).newStep();
          countedStep = stepIndex;
          pipeline.enterStep(stepIndex);
          if (step.begin(this) == HandshakeStep.Progress.DONE) {
            nextStep();
            continue;
          }
          feed = in != null && in.position() > 0;
        }
        if (feed) {
          feed = false;
          in.flip();
          HandshakeStep.Progress progress = step.onInput(in, this);
          in.compact();
          if (progress == HandshakeStep.Progress.DONE) {
            nextStep();
            continue;
          }
        }
        if (!flush()) {
          return;
        }
        if (!speculativeReadSkipped) {
          speculativeReadSkipped = true;
          channel.whenReadable(advance);
          return;
        }
        int n = readSome();
        if (n > 0) {
          feed = true;
          continue;
        }
        if (n < 0) {
          throw new HandshakeException("peer closed the connection during the handshake");
        }
        channel.whenReadable(advance);
        return;
      }
    } catch (HandshakeException e) {
      fail(e.getMessage(), null);
    } catch (IOException e) {
      fail("I/O error: " + e.getMessage(), null);
    } catch (RuntimeException e) {
      fail("step threw " + e, e);
    }
  }

  private void nextStep() {
    leaveStep();
    step = null;
    stepIndex++;
  }

  private void leaveStep() {
    if (countedStep >= 0) {
      pipeline.leaveStep(countedStep);
      countedStep = -1;
    }
  }

  private String stepName() {
    return stepIndex < pipeline.handshakeCount() ? pipeline.handshake(stepIndex).name() : "end";
  }

  /** Reads into the input buffer, growing it up to the limit; -1 at end of stream. */
  private int readSome() throws IOException, HandshakeException {
    if (in == null) {
      in = ByteBuffer.allocate(512);
    } else if (!in.hasRemaining()) {
      if (in.capacity() >= HandshakeStep.MAX_BUFFERED) {
        throw new HandshakeException("step '" + stepName() + "' buffered " + in.capacity()
            + " bytes without finishing");
      }
      in = ByteBuffer.allocate(Math.min(in.capacity() * 4, HandshakeStep.MAX_BUFFERED)).put(in.flip());
    }
    int n = channel.read(in.array(), in.arrayOffset() + in.position(), in.remaining());
    if (n > 0) {
      in.position(in.position() + n);
    }
    return n;
  }

  /** Writes queued output; true when all is written, else waits for writability. */
  private boolean flush() throws IOException {
    while (!pending.isEmpty()) {
      ByteBuffer b = pending.peek();
      int n = channel.write(b.array(), b.arrayOffset() + b.position(), b.remaining());
      b.position(b.position() + n);
      if (b.hasRemaining()) {
        channel.whenWritable(advance);
        return false;
      }
      pending.poll();
    }
    return true;
  }

  private void finish() {
    finished = true;
    leaveStep();
    timer.cancel();
    if (admission.afterHandshake(pendingHandshake, facts.replacedPeer()).refused()) {
      channel.close();
      return;
    }
    byte[] leftover = null;
    if (in != null && in.position() > 0) {
      leftover = Arrays.copyOf(in.array(), in.position());
    }
    pipeline.dispatch(channel, facts, leftover);
  }

  private void timedOut() {
    if (finished) {
      return;
    }
    finished = true;
    leaveStep();
    admission.handshakeFailed(pendingHandshake, facts.replacedPeer(), stepName(), null, true);
    channel.close();
  }

  /** A newcomer took this run's slot (the chain's cap on pending handshakes); any thread may ask, the loop closes. */
  private void evict() {
    socket.execute(this::evicted);
  }

  private void evicted() {
    if (finished) {
      return; // it ended meanwhile, and found itself evicted
    }
    finished = true;
    leaveStep();
    if (timer != null) {
      timer.cancel();
    }
    admission.evicted(pendingHandshake, facts.replacedPeer());
    channel.close();
  }

  private void fail(String why, Throwable t) {
    finished = true;
    leaveStep();
    timer.cancel();
    try {
      flush(); // best effort, without waiting: a step's last words, such as a TLS alert
    } catch (IOException | RuntimeException ignored) {
      // the connection is being closed anyway
    }
    if (t != null) {
      // A step that throws something other than HandshakeException has a bug: show the stack.
      log.warn("Handshake step '{}' with {} threw", stepName(),
          dev.portcullis.policy.IpAddresses.format(channel.remoteAddress()), t);
    }
    admission.handshakeFailed(pendingHandshake, facts.replacedPeer(), stepName(), why, false);
    channel.close();
  }




  @Override
  public void replacePeer(InetSocketAddress newPeer) {
    Objects.requireNonNull(newPeer, "peer");
    if (newPeer.isUnresolved()) {
      throw new IllegalArgumentException("replacement peer " + newPeer + " is unresolved; pass an IP address");
    }
    facts.replacePeer(newPeer);
  }

  @Override
  public void identity(Identity id) {
    facts.identity(Objects.requireNonNull(id, "identity"));
  }


  @Override
  public void write(ByteBuffer bytes) {
    ByteBuffer copy = ByteBuffer.allocate(bytes.remaining());
    copy.put(bytes.duplicate()).flip();
    bytes.position(bytes.limit());
    pending.add(copy);
  }

  @Override
  public void upgrade(UnaryOperator<Channel> newCodec) {
    Objects.requireNonNull(newCodec, "codec");
    if (codec != null) {
      throw new IllegalStateException("step '" + stepName() + "' asked for a second codec before the first was installed");
    }
    codec = newCodec;
  }

  @Override
  public <T> void attach(Class<T> type, T value) {
    facts.attach(type, value);
  }


  @Override
  public long deadlineNanos() {
    return deadline;
  }
}
