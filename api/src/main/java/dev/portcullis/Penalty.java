package dev.portcullis;

import dev.portcullis.policy.Cidr;
import java.time.Instant;

/**
 * A ban the {@link dev.portcullis.policy.Penalties penalty box} enforces now, as {@link
 * RunningServer#penalties()} lists it and a {@link PenaltyListener} is told of it: a source the
 * box banned for its offences, or a range banned from outside ({@link RunningServer#ban}).
 *
 * @param source the banned source: an address, or the prefix a source stands for (/64 for IPv6 by
 *     default); for an external ban, the range given
 * @param until when the ban ends
 * @param offences the offences that earned this ban (their weights added up); 0 for an external ban
 * @param bans how many times this source has been banned, this ban included (each doubles); 1 for
 *     an external ban
 * @param direct whether the source connected itself, rather than through a trusted proxy (only a
 *     direct source can be dropped by the kernel filter); true for an external ban and for an
 *     offence the application reported
 * @param reason why: the reason given with the offence that reached the threshold (such as {@code
 *     "handshake failed"}, or what {@link RunningServer#reportOffence} was given), or with the
 *     external ban
 */
public record Penalty(Cidr source, Instant until, int offences, int bans, boolean direct, String reason) {}
