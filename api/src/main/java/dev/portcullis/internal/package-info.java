/** The connection pipeline and its helpers; not part of the public API. */
package dev.portcullis.internal;
