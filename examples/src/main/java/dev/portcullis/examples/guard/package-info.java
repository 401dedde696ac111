/** The {@code guard} example: an access-controlled TCP forwarder in front of a service without access control. */
package dev.portcullis.examples.guard;
