/** Access policy: CIDR rules, their strict parser, and the longest-prefix decision. */
package dev.portcullis.policy;
