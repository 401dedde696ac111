/**
 * The Linux transport: a direct-mapped JNA binding of libc and an epoll event loop ({@link
 * dev.portcullis.jna.JnaTransport}), and {@link dev.portcullis.jna.KernelGuard}, which puts a
 * policy and bans into the kernel in front of a listening socket another server opened.
 */
package dev.portcullis.jna;
