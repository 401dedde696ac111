package dev.portcullis.admission;

import dev.portcullis.Penalty;
import dev.portcullis.PenaltyListener;
import dev.portcullis.policy.Cidr;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A penalty box's bans and lifts, said: a line (external bans and lifts; an offence ban's line is
 * written where the offence is counted, with its peer) and, for the {@link PenaltyListener}s, an
 * event on a thread of its own, in order, off the event loops and outside every lock of the box.
 */
final class PenaltyEvents implements PenaltyBox.Events {
  /** Events that wait for slow listeners, at most; past it they are dropped and counted. */
  static final int MAX_PENDING = 10_000;

  private static final Logger log = LoggerFactory.getLogger(PenaltyEvents.class);

  private final Reporter reporter;
  private final List<PenaltyListener> listeners = new CopyOnWriteArrayList<>();
  /** Made with the first listener; its one thread ends after a minute without events. */
  private volatile ThreadPoolExecutor delivery;
  private final AtomicLong dropped = new AtomicLong();
  private final dev.portcullis.spi.LogThrottle droppedLine = dev.portcullis.spi.LogThrottle.every(10, TimeUnit.SECONDS);

  PenaltyEvents(Reporter reporter) {
    this.reporter = reporter;
  }

  synchronized void add(PenaltyListener listener) {
    if (delivery == null) {
      ThreadPoolExecutor d = new ThreadPoolExecutor(1, 1, 60, TimeUnit.SECONDS, new LinkedBlockingQueue<>(MAX_PENDING),
          r -> {
            Thread t = new Thread(r, "portcullis-penalty-events");
            t.setDaemon(true);
            return t;
          });
      d.allowCoreThreadTimeOut(true);
      delivery = d;
    }
    listeners.add(listener);
  }

  @Override
  public void banned(Penalty penalty, boolean external) {
    if (external) {
      reporter.bannedRange(penalty);
    }
    deliver(l -> l.banned(penalty, penalty.reason(), external));
  }

  @Override
  public void lifted(Cidr range, String why, String banReason, boolean external) {
    reporter.lifted(range, why, banReason);
    deliver(l -> l.lifted(range, why));
  }

  private void deliver(java.util.function.Consumer<PenaltyListener> call) {
    ThreadPoolExecutor d = delivery;
    if (d == null) {
      return;
    }
    try {
      d.execute(() -> {
        for (PenaltyListener l : listeners) {
          try {
            call.accept(l);
          } catch (RuntimeException | LinkageError e) {
            log.warn("A penalty listener ({}) failed; ignored", l, e);
          }
        }
      });
    } catch (RejectedExecutionException full) {
      long n = dropped.incrementAndGet();
      if (droppedLine.due()) {
        log.warn("Penalty listeners are {} events behind; {} ban and lift events dropped so far (the bans are in"
            + " force all the same)", MAX_PENDING, n);
      }
    }
  }
}
