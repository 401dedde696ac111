package dev.portcullis;

import dev.portcullis.policy.Cidr;
import java.time.Instant;

/**
 * A source the {@link dev.portcullis.policy.Penalties penalty box} refuses now, as {@link
 * RunningServer#penalties()} lists it.
 *
 * @param source the banned source: an address, or the prefix a source stands for (/64 for IPv6 by
 *     default)
 * @param until when the ban ends
 * @param offences the offences that earned this ban
 * @param bans how many times this source has been banned, this ban included (each doubles)
 * @param direct whether the source connected itself, rather than through a trusted proxy (only a
 *     direct source can be dropped by the kernel filter)
 */
public record Penalty(Cidr source, Instant until, int offences, int bans, boolean direct) {}
