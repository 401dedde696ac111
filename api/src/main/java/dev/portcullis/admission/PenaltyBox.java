package dev.portcullis.admission;

import dev.portcullis.Penalty;
import dev.portcullis.policy.Cidr;
import dev.portcullis.policy.CidrSet;
import dev.portcullis.policy.IpAddresses;
import dev.portcullis.policy.Penalties;
import java.net.InetAddress;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The live state of a {@link Penalties} setting: per source, the offences in the current window and
 * the ban, in a table of bounded size; and the external bans of whole ranges ({@link RangeBans}),
 * bounded by the same number. Shared by every loop; one lock. While nothing is banned, the check at
 * accept is one volatile read.
 *
 * <p>A source is a {@link Source}, masked to the penalty box's own prefix lengths. The table is in
 * access order, so when it is full the longest-untouched source that is not banned is forgotten
 * first (see {@link Penalties}).
 */
final class PenaltyBox {
  /** Told, outside the lock, when the set of banned direct peers changed (for the kernel filter). */
  interface Listener {
    void bansChanged();
  }

  /**
   * Told of each ban and lift, under the box's lock, in the order they happen: only to log a
   * throttled line and queue the event, never to run foreign code.
   */
  interface Events {
    void banned(Penalty penalty, boolean external);

    void lifted(Cidr range, String why, String banReason, boolean external);
  }

  /** A ban in force, as the accept path reports it. */
  record Active(long until, long offences, String reason, boolean external) {}

  /** The longest external ban: far enough for "until revoked", short of the nanoTime wrap. */
  static final java.time.Duration MAX_EXTERNAL_BAN = java.time.Duration.ofDays(36_500);

  private static final class Entry {
    int count;
    long windowStart;
    long bannedUntil; // 0: not banned
    int bans;
    int lastBanOffences;
    long lastActivity;
    /** The banned source reached us directly (not relayed by a proxy): the kernel can drop it. */
    boolean direct;
    /** Why the source was banned: the reason of the offence that reached the threshold. */
    String reason;
  }

  private final Penalties settings;
  private final CidrSet exempt;
  private final long windowNanos;
  private final Source.Prefix prefix;
  private final Map<Source, Entry> table = new LinkedHashMap<>(1024, 0.75f, true);
  private final RangeBans ranges = new RangeBans();
  /** Offence bans and external bans in force (or expired and not yet swept). */
  private volatile int activeBans;
  /** The offence bans in force (in {@code table}), a part of {@link #activeBans}: only they need the lock at accept. */
  private volatile int tableBans;
  private final java.util.List<Listener> listeners = new java.util.concurrent.CopyOnWriteArrayList<>();
  private volatile Events events = new Events() {
    @Override
    public void banned(Penalty penalty, boolean external) {}

    @Override
    public void lifted(Cidr range, String why, String banReason, boolean external) {}
  };
  /** Offsets a nanoTime stamp to wall-clock time, for the "until" that people read. */
  private final long wallOffsetNanos = System.currentTimeMillis() * 1_000_000L - System.nanoTime();

  PenaltyBox(Penalties settings) {
    this.settings = settings;
    this.exempt = CidrSet.of(settings.exemptions());
    this.windowNanos = settings.window().toNanos();
    this.prefix = new Source.Prefix(settings.ipv4Bits(), settings.ipv6Bits());
  }

  /** Adds {@code l}: every listener is told of every change. */
  void listener(Listener l) {
    listeners.add(l);
  }

  void events(Events e) {
    this.events = e;
  }

  private void bansChanged() {
    for (Listener l : listeners) {
      l.bansChanged();
    }
  }

  Penalties settings() {
    return settings;
  }

  Source v4(int address) {
    return prefix.v4(address);
  }

  Source v6(long high, long low) {
    return prefix.v6(high, low);
  }

  /** The source of an IP address; null for anything else. */
  Source of(InetAddress address) {
    return prefix.of(address);
  }

  /** Whether anything is banned now (cheap: one volatile read). */
  boolean anyBanned() {
    return activeBans > 0;
  }

  /**
   * The ban of {@code source} if it is banned at {@code now}: {until (nanoTime), offences}; else
   * null. An expired ban is lifted on the way. Offence bans only (see {@link #active}).
   */
  long[] ban(Source source, long now) {
    Active a = active(source, source.high(), source.low(), now, false);
    return a == null ? null : new long[] {a.until, a.offences};
  }

  /**
   * The ban in force for a peer: the offence ban of its {@code source}, else an external ban of a
   * range that holds the peer's address ({@code high}, {@code low}), unless the address is exempt;
   * null if none. An expired ban is lifted on the way.
   */
  Active active(Source source, long high, long low, long now) {
    return active(source, high, low, now, true);
  }

  private Active active(Source source, long high, long low, long now, boolean withRanges) {
    if (activeBans == 0) {
      return null;
    }
    boolean changed = false;
    Active result = null;
    if (tableBans > 0) {
      synchronized (this) {
        Entry e = table.get(source);
        if (e != null && e.bannedUntil != 0) {
          if (e.bannedUntil - now > 0) {
            result = new Active(e.bannedUntil, e.lastBanOffences, e.reason, false);
          } else {
            changed = unban(source, e, "the ban ended");
          }
        }
      }
    }
    if (result == null && withRanges && ranges.size() > 0) {
      RangeBans.Ban b = ranges.find(high, low, now); // no lock: see RangeBans
      if (b != null && !isExempt(high, low)) {
        result = new Active(b.until, 0, b.reason, true);
      }
    }
    if (changed) {
      bansChanged();
    }
    return result;
  }

  /**
   * {@code source} committed {@code offence}: counted, and banned if that reaches the threshold.
   *
   * @param direct whether the source is the socket peer itself (not a client a proxy named)
   * @return the new ban's end (nanoTime), or 0 if this did not ban the source
   */
  long offence(Source source, Penalties.Offence offence, boolean direct, long now) {
    return offence(source, settings.weight(offence), reason(offence), direct, now);
  }

  /** The reason a ban from {@code offence} gives. */
  static String reason(Penalties.Offence offence) {
    switch (offence) {
      case HANDSHAKE_FAILED:
        return "handshake failed";
      case HANDSHAKE_TIMEOUT:
        return "handshake too slow";
      default:
        return "rate limited";
    }
  }

  /**
   * {@code source} committed offences of total {@code weight}, for {@code reason}: counted, and
   * banned if that reaches the threshold. Nothing for an exempt source.
   *
   * @return the new ban's end (nanoTime), or 0 if this did not ban the source
   */
  long offence(Source source, int weight, String reason, boolean direct, long now) {
    if (weight <= 0 || source == null || isExempt(source.high(), source.low())) {
      return 0;
    }
    long until = 0;
    synchronized (this) {
      Entry e = table.get(source);
      if (e == null) {
        makeRoom(now);
        e = new Entry();
        e.windowStart = now;
        table.put(source, e);
      } else if (e.bannedUntil != 0 && e.bannedUntil - now > 0) {
        e.lastActivity = now;
        return 0; // already banned: offences from connections admitted before the ban add nothing
      } else if (e.bannedUntil != 0) {
        unban(source, e, "the ban ended");
      }
      if (now - e.windowStart > windowNanos) {
        e.count = 0;
        e.windowStart = now;
      }
      e.lastActivity = now;
      e.count = (int) Math.min(Integer.MAX_VALUE, (long) e.count + weight);
      if (e.count >= settings.threshold()) {
        long length = banLength(e.bans);
        e.bannedUntil = now + length;
        e.bans++;
        e.lastBanOffences = e.count;
        e.count = 0;
        e.direct = direct;
        e.reason = reason;
        tableBans++;
        activeBans++;
        until = e.bannedUntil;
        events.banned(new Penalty(cidr(source), wall(until), e.lastBanOffences, e.bans, direct, reason), false);
      }
    }
    if (until != 0) {
      bansChanged();
    }
    return until;
  }

  /** The first ban's length, doubled per earlier ban, capped. */
  private long banLength(int earlierBans) {
    long first = settings.banDuration().toNanos();
    long max = settings.maxBan().toNanos();
    long length = first;
    for (int i = 0; i < earlierBans && length < max; i++) {
      length = length > max / 2 ? max : length * 2;
    }
    return Math.min(length, max);
  }

  /** Ends {@code e}'s ban, if any, and says so; true if it was a direct ban (the kernel's list changes). */
  private boolean unban(Source source, Entry e, String why) {
    if (e.bannedUntil == 0) {
      return false;
    }
    e.bannedUntil = 0;
    tableBans--;
    activeBans--;
    events.lifted(cidr(source), why, e.reason, false);
    return e.direct;
  }

  /** An external ban left the table: counted down and said. */
  private void ended(RangeBans.Ban b, String why) {
    activeBans--;
    events.lifted(b.range, why, b.reason, true);
  }

  private boolean isExempt(long high, long low) {
    return exempt.contains(high, low);
  }

  /** Whether an address is exempt (never banned). */
  boolean isExempt(InetAddress address) {
    return exempt.contains(address);
  }

  /** The exempt range that holds all of {@code range}, or null. */
  Cidr exemptCovering(Cidr range) {
    return exempt.covering(range);
  }

  private boolean overlapsExempt(Cidr range) {
    return exempt.overlaps(range);
  }

  /**
   * Keeps the table under its bound: forgets the least recently touched source that is not banned
   * (an expired ban counts as not banned), among the 64 least recently touched; if those are all
   * banned, the least recently touched ban is dropped.
   */
  private void makeRoom(long now) {
    if (table.size() < settings.maxSourceCount()) {
      return;
    }
    Iterator<Map.Entry<Source, Entry>> it = table.entrySet().iterator();
    for (int scanned = 0; it.hasNext() && scanned < 64; scanned++) {
      Map.Entry<Source, Entry> me = it.next();
      Entry e = me.getValue();
      if (e.bannedUntil == 0 || e.bannedUntil - now <= 0) {
        unban(me.getKey(), e, "the ban ended");
        it.remove();
        return;
      }
    }
    Iterator<Map.Entry<Source, Entry>> first = table.entrySet().iterator();
    if (first.hasNext()) {
      Map.Entry<Source, Entry> me = first.next();
      unban(me.getKey(), me.getValue(), "dropped to make room for a new source (Penalties.maxSources "
          + settings.maxSourceCount() + ")");
      first.remove();
    }
  }

  /** Drops expired bans and forgotten sources; true if a direct ban ended. */
  boolean sweep(long now) {
    boolean changed = false;
    long forget = settings.forgetting().toNanos();
    synchronized (this) {
      Iterator<Map.Entry<Source, Entry>> it = table.entrySet().iterator();
      while (it.hasNext()) {
        Map.Entry<Source, Entry> me = it.next();
        Entry e = me.getValue();
        if (e.bannedUntil != 0 && e.bannedUntil - now <= 0) {
          changed |= unban(me.getKey(), e, "the ban ended");
        }
        if (e.bannedUntil == 0 && now - e.lastActivity > forget) {
          it.remove();
        }
      }
      if (ranges.size() > 0) {
        for (RangeBans.Ban b : ranges.expire(now)) {
          ended(b, "the ban ended");
          changed = true;
        }
      }
    }
    if (changed) {
      bansChanged();
    }
    return changed;
  }

  /** The earliest end of a current ban (nanoTime), or 0 if none. */
  synchronized long nextExpiry() {
    long next = 0;
    for (Entry e : table.values()) {
      if (e.bannedUntil != 0 && (next == 0 || e.bannedUntil - next < 0)) {
        next = e.bannedUntil;
      }
    }
    for (RangeBans.Ban b : ranges.all()) {
      if (next == 0 || b.until - next < 0) {
        next = b.until;
      }
    }
    return next;
  }

  /** The current bans, the soonest to end first: offence bans and external bans. */
  List<Penalty> current(long now) {
    List<Penalty> out = new ArrayList<>();
    synchronized (this) {
      for (Map.Entry<Source, Entry> me : table.entrySet()) {
        Entry e = me.getValue();
        if (e.bannedUntil != 0 && e.bannedUntil - now > 0) {
          out.add(new Penalty(cidr(me.getKey()), wall(e.bannedUntil), e.lastBanOffences, e.bans, e.direct, e.reason));
        }
      }
      for (RangeBans.Ban b : ranges.all()) {
        if (b.until - now > 0) {
          out.add(external(b));
        }
      }
    }
    out.sort(java.util.Comparator.comparing(Penalty::until));
    return out;
  }

  private Penalty external(RangeBans.Ban b) {
    return new Penalty(b.range, wall(b.until), 0, 1, true, b.reason);
  }

  /**
   * What the kernel filter can drop: the banned direct sources, and the external bans that hold no
   * exempt address (the kernel cannot make an exception inside a range; those are refused at
   * accept instead).
   */
  List<Cidr> directBans(long now) {
    List<Cidr> out = new ArrayList<>();
    synchronized (this) {
      for (Map.Entry<Source, Entry> me : table.entrySet()) {
        Entry e = me.getValue();
        if (e.direct && e.bannedUntil != 0 && e.bannedUntil - now > 0) {
          out.add(cidr(me.getKey()));
        }
      }
      for (RangeBans.Ban b : ranges.all()) {
        if (b.until - now > 0 && !overlapsExempt(b.range)) {
          out.add(b.range);
        }
      }
    }
    return out;
  }

  /**
   * Bans {@code range} until {@code until} (nanoTime), replacing an external ban of the same range.
   *
   * @return the ban in force
   * @throws IllegalStateException if the box holds as many external bans as it may
   */
  Penalty banRange(Cidr range, long until, String reason) {
    Penalty p;
    synchronized (this) {
      RangeBans.Ban b = ranges.get(range);
      if (b == null) {
        if (ranges.size() >= settings.maxSourceCount()) {
          throw new IllegalStateException("The penalty box holds " + ranges.size() + " bans of ranges, its most"
              + " (Penalties.maxSources); " + range + " is not banned: lift some, or raise maxSources");
        }
        b = new RangeBans.Ban(range, RangeBans.key(range), until, reason);
        ranges.put(b);
        activeBans++;
      } else {
        b.until = until;
        b.reason = reason;
      }
      p = external(b);
      events.banned(p, true);
    }
    bansChanged();
    return p;
  }

  /**
   * Lifts the ban of exactly {@code range}: an external ban of it, and the offence ban of the
   * source it is (when its length is the source prefix's); the source is forgotten.
   *
   * @return whether either was in force
   */
  boolean liftRange(Cidr range, String why, long now) {
    boolean wasBanned = false;
    boolean changed = false;
    synchronized (this) {
      RangeBans.Ban b = ranges.remove(range);
      if (b != null) {
        wasBanned = b.until - now > 0;
        ended(b, why);
        changed = true;
      }
      if (range.prefixLength() == (range.isIpv4() ? settings.ipv4Bits() : settings.ipv6Bits())) {
        Source s = RangeBans.key(range);
        Entry e = table.remove(s);
        if (e != null) {
          wasBanned |= e.bannedUntil != 0 && e.bannedUntil - now > 0;
          changed |= unban(s, e, why);
        }
      }
    }
    if (changed) {
      bansChanged();
    }
    return wasBanned;
  }

  /**
   * Lifts the ban of the source {@code address} falls in and forgets the source (so its next ban
   * is a first one).
   *
   * @return whether it was banned
   */
  boolean lift(InetAddress address, long now) {
    return lift(address, "lifted by liftPenalty", now);
  }

  /** As {@link #lift(InetAddress, long)}, saying why. */
  boolean lift(InetAddress address, String why, long now) {
    Source s = of(address);
    boolean wasBanned;
    boolean changed;
    synchronized (this) {
      Entry e = table.remove(s);
      wasBanned = e != null && e.bannedUntil != 0 && e.bannedUntil - now > 0;
      changed = e != null && unban(s, e, why);
    }
    if (changed) {
      bansChanged();
    }
    return wasBanned;
  }

  /** Sources remembered now: what the table holds in memory. */
  synchronized int trackedSources() {
    return table.size();
  }

  /** External bans held now. */
  synchronized int rangeBans() {
    return ranges.size();
  }

  /** A nanoTime stamp as wall-clock time. */
  Instant wall(long nanoTime) {
    long nanos = nanoTime + wallOffsetNanos;
    return Instant.ofEpochSecond(Math.floorDiv(nanos, 1_000_000_000L), Math.floorMod(nanos, 1_000_000_000L));
  }

  private Cidr cidr(Source s) {
    try {
      if (IpAddresses.isIpv4Mapped(s.high(), s.low())) {
        return Cidr.of(IpAddresses.ipv4((int) s.low()), settings.ipv4Bits());
      }
      return Cidr.of(IpAddresses.ipv6(s.high(), s.low()), settings.ipv6Bits());
    } catch (RuntimeException e) {
      throw new IllegalStateException("penalty source " + s + " has no CIDR form", e);
    }
  }
}
