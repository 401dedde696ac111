package dev.portcullis.spi;

import java.util.Map;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/**
 * An acceptor that proves a listener spreads connections over its loops: it admits everyone, and
 * the first connection holds its loop (in {@link #accepted}) until a connection is accepted on
 * another thread, so a later connection must be accepted by another loop (the next one, when the
 * loops share one socket; one the kernel hashes to another loop's socket, when each loop has its
 * own). Records each channel's loop thread. For {@link TransportContract} and the transports' own tests.
 */
public final class SpreadProbe implements Acceptor {
  /** The thread each channel was accepted on. */
  public final Map<Channel, Thread> acceptedOn = new ConcurrentHashMap<>();
  /** The channels, in the order they were accepted. */
  public final BlockingQueue<Channel> channels = new LinkedBlockingQueue<>();
  /** Opens when the first connection is accepted (its loop is then held). */
  public final CountDownLatch firstIn = new CountDownLatch(1);
  /** Opens when a connection is accepted on a thread other than the first's. */
  public final CountDownLatch otherLoop = new CountDownLatch(1);

  @Override
  public boolean admitIpv4(int address) {
    return true;
  }

  @Override
  public boolean admitIpv6(long high, long low) {
    return true;
  }

  @Override
  public boolean admitLocal(dev.portcullis.policy.PeerCredentials credentials) {
    return true;
  }

  @Override
  public void accepted(Channel channel) {
    Thread me = Thread.currentThread();
    acceptedOn.put(channel, me);
    channels.add(channel);
    // Recorded first: whoever the latch wakes sees this channel.
    if (acceptedOn.values().stream().anyMatch(t -> t != me)) {
      otherLoop.countDown();
    }
    if (firstIn.getCount() > 0) {
      firstIn.countDown();
      try {
        otherLoop.await(Contracts.WAIT.toMillis(), TimeUnit.MILLISECONDS);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }
  }
}
