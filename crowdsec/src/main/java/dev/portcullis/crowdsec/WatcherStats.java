package dev.portcullis.crowdsec;

/**
 * A snapshot of a {@link Watcher}'s counters.
 *
 * @param pushed alerts the Local API took
 * @param failures pushes that failed and were (or will be) retried
 * @param dropped alerts not queued because {@link Watcher.Builder#maxQueue} were waiting
 * @param queued alerts waiting to be pushed now
 */
public record WatcherStats(long pushed, long failures, long dropped, int queued) {}
