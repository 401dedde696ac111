package dev.portcullis.crowdsec;

import java.time.Instant;

/**
 * One decision of a CrowdSec Local API, as the bouncer read it.
 *
 * @param id the Local API's id of the decision
 * @param type what to do: {@code ban} (the only type Portcullis enforces), {@code captcha}, ...
 * @param scope what {@code value} names: {@code Ip} and {@code Range} are enforced; {@code Country},
 *     {@code AS} and others are counted and ignored
 * @param value the address, range ({@code 10.1.0.0/16}, {@code 2001:db8::/64}) or other value
 * @param scenario why, such as {@code crowdsecurity/ssh-bf} or {@code manual 'ban' from 'cli'}
 * @param origin who made it: {@code crowdsec}, {@code cscli}, {@code CAPI}, ...
 * @param until when it ends
 */
public record CrowdSecDecision(long id, String type, String scope, String value, String scenario, String origin,
    Instant until) {}
