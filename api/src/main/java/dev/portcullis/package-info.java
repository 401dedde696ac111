/**
 * Portcullis: declare who may connect to a server, in one fluent statement, before a byte of
 * application code runs. Start at {@link dev.portcullis.Server}.
 */
package dev.portcullis;
