package dev.portcullis.admission;

import dev.portcullis.Penalty;
import dev.portcullis.policy.AccessPolicy;
import dev.portcullis.policy.Cidr;
import dev.portcullis.policy.IpAddresses;
import dev.portcullis.policy.Penalties;
import dev.portcullis.policy.Rule;
import java.net.InetAddress;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The live state of a {@link Penalties} setting: per source, the offences in the current window and
 * the ban, in a table of bounded size. Shared by every loop; one lock. While nothing is banned, the
 * check at accept is one volatile read.
 *
 * <p>A source is a {@link Source}, masked to the penalty box's own prefix lengths. The table is in access order, so when it is full the
 * longest-untouched source that is not banned is forgotten first (see {@link Penalties}).
 */
final class PenaltyBox {
  /** Told, outside the lock, when the set of banned direct peers changed (for the kernel filter). */
  interface Listener {
    void bansChanged();
  }

  private static final class Entry {
    int count;
    long windowStart;
    long bannedUntil; // 0: not banned
    int bans;
    int lastBanOffences;
    long lastActivity;
    /** The banned source reached us directly (not relayed by a proxy): the kernel can drop it. */
    boolean direct;
  }

  private final Penalties settings;
  private final AccessPolicy exempt;
  private final long windowNanos;
  private final Source.Prefix prefix;
  private final Map<Source, Entry> table = new LinkedHashMap<>(1024, 0.75f, true);
  private volatile int activeBans;
  private volatile Listener listener = () -> { };
  /** Offsets a nanoTime stamp to wall-clock time, for the "until" that people read. */
  private final long wallOffsetNanos = System.currentTimeMillis() * 1_000_000L - System.nanoTime();

  PenaltyBox(Penalties settings) {
    this.settings = settings;
    List<Rule> rules = new ArrayList<>();
    for (Cidr c : settings.exemptions()) {
      rules.add(Rule.allow(c));
    }
    this.exempt = rules.isEmpty() ? null : AccessPolicy.of(rules);
    this.windowNanos = settings.window().toNanos();
    this.prefix = new Source.Prefix(settings.ipv4Bits(), settings.ipv6Bits());
  }

  void listener(Listener l) {
    this.listener = l;
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
   * null. An expired ban is lifted on the way.
   */
  long[] ban(Source source, long now) {
    if (activeBans == 0) {
      return null;
    }
    boolean changed = false;
    long[] result = null;
    synchronized (this) {
      Entry e = table.get(source);
      if (e != null && e.bannedUntil != 0) {
        if (e.bannedUntil - now > 0) {
          result = new long[] {e.bannedUntil, e.lastBanOffences};
        } else {
          changed = unban(e);
        }
      }
    }
    if (changed) {
      listener.bansChanged();
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
    int weight = settings.weight(offence);
    if (weight == 0 || source == null || isExempt(source)) {
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
        unban(e);
      }
      if (now - e.windowStart > windowNanos) {
        e.count = 0;
        e.windowStart = now;
      }
      e.lastActivity = now;
      e.count += weight;
      if (e.count >= settings.threshold()) {
        long length = banLength(e.bans);
        e.bannedUntil = now + length;
        e.bans++;
        e.lastBanOffences = e.count;
        e.count = 0;
        e.direct = direct;
        activeBans++;
        until = e.bannedUntil;
      }
    }
    if (until != 0) {
      listener.bansChanged();
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

  private boolean unban(Entry e) {
    if (e.bannedUntil == 0) {
      return false;
    }
    e.bannedUntil = 0;
    activeBans--;
    return e.direct;
  }

  private boolean isExempt(Source s) {
    if (exempt == null) {
      return false;
    }
    return IpAddresses.isIpv4Mapped(s.high(), s.low()) ? exempt.decideIpv4((int) s.low()).isAllowed()
        : exempt.decideIpv6(s.high(), s.low()).isAllowed();
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
    Iterator<Entry> it = table.values().iterator();
    for (int scanned = 0; it.hasNext() && scanned < 64; scanned++) {
      Entry e = it.next();
      if (e.bannedUntil == 0 || e.bannedUntil - now <= 0) {
        unban(e);
        it.remove();
        return;
      }
    }
    Iterator<Entry> first = table.values().iterator();
    if (first.hasNext()) {
      unban(first.next());
      first.remove();
    }
  }

  /** Drops expired bans and forgotten sources; true if a direct ban ended. */
  boolean sweep(long now) {
    boolean changed = false;
    long forget = settings.forgetting().toNanos();
    synchronized (this) {
      Iterator<Entry> it = table.values().iterator();
      while (it.hasNext()) {
        Entry e = it.next();
        if (e.bannedUntil != 0 && e.bannedUntil - now <= 0) {
          changed |= unban(e);
        }
        if (e.bannedUntil == 0 && now - e.lastActivity > forget) {
          it.remove();
        }
      }
    }
    if (changed) {
      listener.bansChanged();
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
    return next;
  }

  /** The current bans, the soonest to end first. */
  List<Penalty> current(long now) {
    List<Penalty> out = new ArrayList<>();
    synchronized (this) {
      for (Map.Entry<Source, Entry> me : table.entrySet()) {
        Entry e = me.getValue();
        if (e.bannedUntil != 0 && e.bannedUntil - now > 0) {
          out.add(new Penalty(cidr(me.getKey()), wall(e.bannedUntil), e.lastBanOffences, e.bans, e.direct));
        }
      }
    }
    out.sort(java.util.Comparator.comparing(Penalty::until));
    return out;
  }

  /** The banned direct sources as CIDRs (what the kernel filter can drop). */
  List<Cidr> directBans(long now) {
    List<Cidr> out = new ArrayList<>();
    synchronized (this) {
      for (Map.Entry<Source, Entry> me : table.entrySet()) {
        Entry e = me.getValue();
        if (e.direct && e.bannedUntil != 0 && e.bannedUntil - now > 0) {
          out.add(cidr(me.getKey()));
        }
      }
    }
    return out;
  }

  /**
   * Lifts the ban of the source {@code address} falls in and forgets the source (so its next ban
   * is a first one).
   *
   * @return whether it was banned
   */
  boolean lift(InetAddress address, long now) {
    Source s = of(address);
    boolean wasBanned;
    boolean changed;
    synchronized (this) {
      Entry e = table.remove(s);
      wasBanned = e != null && e.bannedUntil != 0 && e.bannedUntil - now > 0;
      changed = e != null && unban(e);
    }
    if (changed) {
      listener.bansChanged();
    }
    return wasBanned;
  }

  /** Sources remembered now: what the table holds in memory. */
  synchronized int trackedSources() {
    return table.size();
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
