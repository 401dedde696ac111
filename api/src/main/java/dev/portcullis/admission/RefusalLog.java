package dev.portcullis.admission;

import dev.portcullis.policy.IpAddresses;
import dev.portcullis.spi.LogThrottle;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicLongArray;

/**
 * The gate for refusal log lines: at most one line a second for each kind of refusal, so a flood
 * of one kind neither floods the log nor hides the other kinds. What the gate holds back is not
 * lost: each kind counts the refusals it did not log and the distinct sources they came from, and
 * the next line of that kind says so ({@code 12 more since the last line, from 3 sources}). Each
 * line also carries a running count (from {@code stats()}). Safe from any thread; {@link #due}
 * allocates nothing until a line is due, so the reject path stays allocation-free, and the memory
 * is fixed: {@value #SOURCE_SLOTS} source slots per kind.
 */
final class RefusalLog {
  /** What was refused; each kind has its own once-a-second budget. */
  enum Kind { ADDRESS, LIMIT, HANDSHAKE_FAILED, HANDSHAKE_TIMEOUT, AFTER_HANDSHAKE, OVERLOAD, HANDLER_FAILED, IDLE, PENALTY, BANNED, EXTERNAL_BAN, LIFTED, SHADOW }

  /** Slots of a kind's set of sources (a power of two); one long each. */
  static final int SOURCE_SLOTS = 128;
  /** Distinct sources counted exactly between two lines; past this, a line says "at least". */
  static final int SOURCES_COUNTED = SOURCE_SLOTS / 2;

  /** Whether a line of a kind may be written now. */
  private final java.util.function.Predicate<Kind> gate;
  private final Tally[] tallies = new Tally[Kind.values().length];

  RefusalLog() {
    this(onceASecond());
  }

  /** With another gate than once a second per kind: for tests. */
  RefusalLog(java.util.function.Predicate<Kind> gate) {
    this.gate = gate;
    for (int i = 0; i < tallies.length; i++) {
      tallies[i] = new Tally();
    }
  }

  private static java.util.function.Predicate<Kind> onceASecond() {
    LogThrottle[] throttles = new LogThrottle[Kind.values().length];
    for (int i = 0; i < throttles.length; i++) {
      throttles[i] = LogThrottle.every(1, TimeUnit.SECONDS);
    }
    return kind -> throttles[kind.ordinal()].due();
  }

  /**
   * One refusal of {@code kind} from {@code source} (a {@link #key}): null if its line is not due
   * (the refusal is then counted, with its source, for the next line); else what the caller ends
   * its line with: empty, or {@code ; 12 more since the last line, from 3 sources} when refusals
   * went unlogged since the last line of the kind. Non-null at most once a second per kind.
   */
  String due(Kind kind, long source) {
    Tally t = tallies[kind.ordinal()];
    if (!gate.test(kind)) {
      t.add(source);
      return null;
    }
    return t.drain();
  }

  /** The refusals of one kind held back since its last line, and their distinct sources. */
  private static final class Tally {
    private final AtomicLong held = new AtomicLong();
    /** An open-addressed set of source keys; 0 is an empty slot (keys are never 0). */
    private final AtomicLongArray sources = new AtomicLongArray(SOURCE_SLOTS);
    private final AtomicInteger distinct = new AtomicInteger();

    void add(long key) {
      held.incrementAndGet();
      if (distinct.get() >= SOURCES_COUNTED) {
        return; // full: the line says "at least"
      }
      int i = (int) key & (SOURCE_SLOTS - 1);
      for (int probes = 0; probes < SOURCE_SLOTS; ) {
        long k = sources.get(i);
        if (k == key) {
          return;
        }
        if (k == 0) {
          if (sources.compareAndSet(i, 0, key)) {
            distinct.incrementAndGet();
            return;
          }
          continue; // another thread took the slot: look at it again
        }
        i = (i + 1) & (SOURCE_SLOTS - 1);
        probes++;
      }
    }

    /**
     * Empties the tally into the words of the next line. Refusals counted while it empties land
     * in this line or the next, never in neither; their sources may be counted in either.
     */
    String drain() {
      long n = held.getAndSet(0);
      int d = distinct.getAndSet(0);
      for (int i = 0; i < SOURCE_SLOTS; i++) {
        sources.set(i, 0);
      }
      if (n == 0) {
        return "";
      }
      boolean atLeast = d >= SOURCES_COUNTED;
      long from = Math.max(1, Math.min(d, n));
      return "; " + n + " more since the last line, from " + (atLeast ? "at least " : "") + from
          + (from == 1 ? " source" : " sources");
    }
  }

  /** The key of an IPv4 source: that of its IPv4-mapped IPv6 form, as a dual-stack socket reports it. */
  static long key(int v4) {
    return key(0, IpAddresses.mappedLow(v4));
  }

  /** The key of an IPv6 source (an IPv4-mapped one is the IPv4 source): 64 mixed bits of the 128, never 0. */
  static long key(long high, long low) {
    long h = high * 0x9E37_79B9_7F4A_7C15L ^ low;
    h ^= h >>> 33;
    h *= 0xFF51_AFD7_ED55_8CCDL;
    h ^= h >>> 33;
    h *= 0xC4CE_B9FE_1A85_EC53L;
    h ^= h >>> 33;
    return h == 0 ? 1 : h;
  }

  /** The key of a Unix peer: its uid (all unreadable peers are one source). */
  static long key(dev.portcullis.policy.PeerCredentials credentials) {
    return key(-1L, credentials == null ? -1L : credentials.uid());
  }

  /** The key of an address: an IP address's, else that of its text (a Unix socket's name). */
  static long key(SocketAddress address) {
    if (address instanceof InetSocketAddress ip && ip.getAddress() != null) {
      byte[] b = ip.getAddress().getAddress();
      java.nio.ByteBuffer bb = java.nio.ByteBuffer.wrap(b);
      return b.length == 4 ? key(bb.getInt()) : key(bb.getLong(), bb.getLong());
    }
    return key(-2L, String.valueOf(address).hashCode());
  }

  /** The key of a connection's source: the client a step named, else the socket peer; a Unix peer's uid. */
  static long key(SocketAddress direct, dev.portcullis.policy.PeerCredentials credentials, SocketAddress peer) {
    if (!(direct instanceof InetSocketAddress)) {
      return key(credentials);
    }
    return key(peer != null ? peer : direct);
  }

  /**
   * How a refusal line names a connection: the peer's address, then the socket peer when a handshake
   * step (the PROXY protocol) replaced it; a Unix peer by its credentials.
   */
  static String describe(SocketAddress direct, dev.portcullis.policy.PeerCredentials credentials, SocketAddress peer) {
    if (!(direct instanceof InetSocketAddress)) {
      return local(credentials);
    }
    return describe(peer == null ? direct : peer, direct);
  }

  /** {@code 192.0.2.7}, or {@code 192.0.2.7 (socket peer 10.0.0.1)} when the two differ. */
  static String describe(SocketAddress peer, SocketAddress socketPeer) {
    if (peer == null || peer.equals(socketPeer) || !(socketPeer instanceof InetSocketAddress)) {
      return address(socketPeer);
    }
    return address(peer) + " (socket peer " + address(socketPeer) + ")";
  }

  /** {@code local peer uid 1000 pid 4242}: a Unix peer is who the kernel says it is. */
  static String local(dev.portcullis.policy.PeerCredentials credentials) {
    return credentials == null ? "local peer with unreadable credentials"
        : "local peer uid " + credentials.uid() + " pid " + credentials.pid();
  }

  private static String address(SocketAddress a) {
    return a instanceof InetSocketAddress ip && ip.getAddress() != null ? IpAddresses.format(ip.getAddress())
        : String.valueOf(a);
  }
}
