/**
 * Bans shared between instances through a CrowdSec Local API: a {@link
 * dev.portcullis.crowdsec.Bouncer} enforces its decisions, a {@link dev.portcullis.crowdsec.Watcher}
 * pushes the penalty box's own bans to it as alerts.
 */
package dev.portcullis.crowdsec;
