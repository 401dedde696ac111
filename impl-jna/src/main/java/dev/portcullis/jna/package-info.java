/** The Linux transport: a direct-mapped JNA binding of libc and an epoll event loop. */
package dev.portcullis.jna;
