/*
 * mechserver.c - W6's kernel-mechanism comparison: how two ways of sharing a TCP port between
 * event-loop threads spread connections and what they cost, with nothing else in the way (no
 * policy, no JVM).
 *
 * Build:  gcc -O2 -Wall -pthread -o mechserver mechserver.c
 * Usage:  mechserver --port P --threads N --mode exclusive|reuseport
 *
 *   exclusive: one listening socket in every thread's epoll set with EPOLLEXCLUSIVE (what
 *              Portcullis does: one accept queue; the kernel wakes one idle waiter);
 *   reuseport: one listening socket per thread, each with SO_REUSEPORT on the same port (what
 *              nginx's "reuseport" does: the kernel hashes each new connection to one socket).
 *
 * Protocol: the churn mode of bench/README.md (read "HELLO\n", answer "OK\n", close). Listens on
 * 127.0.0.1:P (0 picks a port) with backlog 4096, prints "ready PORT", and answers a "stats" line
 * on stdin with "stats heap=0 threads=N loops=A,B,..." (connections each thread accepted). Runs
 * until stdin closes or SIGTERM.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_THREADS 64
#define MAX_EVENTS 256

static int reuseport;
static int nthreads;
static int shared_fd = -1;
static int listen_fds[MAX_THREADS];
static atomic_long accepted[MAX_THREADS];

static int open_listener(int port, int reuse) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) { perror("socket"); exit(1); }
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (reuse && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0) { perror("SO_REUSEPORT"); exit(1); }
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0) { perror("bind"); exit(1); }
  if (listen(fd, 4096) < 0) { perror("listen"); exit(1); }
  return fd;
}

static int bound_port(int fd) {
  struct sockaddr_in a;
  socklen_t len = sizeof a;
  getsockname(fd, (struct sockaddr *)&a, &len);
  return ntohs(a.sin_port);
}

static void *loop(void *arg) {
  int index = (int)(long)arg;
  int lfd = reuseport ? listen_fds[index] : shared_fd;
  int ep = epoll_create1(EPOLL_CLOEXEC);
  struct epoll_event ev = {.events = EPOLLIN | (reuseport ? 0 : EPOLLEXCLUSIVE), .data.fd = -1};
  if (epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev) < 0) { perror("epoll_ctl listener"); exit(1); }
  struct epoll_event events[MAX_EVENTS];
  char buf[256];
  for (;;) {
    int n = epoll_wait(ep, events, MAX_EVENTS, -1);
    for (int i = 0; i < n; i++) {
      if (events[i].data.fd == -1) {
        for (;;) {
          int c = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
          if (c < 0) break; /* EAGAIN (another thread took it) or a transient error */
          atomic_fetch_add_explicit(&accepted[index], 1, memory_order_relaxed);
          struct epoll_event cev = {.events = EPOLLIN, .data.fd = c};
          epoll_ctl(ep, EPOLL_CTL_ADD, c, &cev);
        }
        continue;
      }
      int c = events[i].data.fd;
      ssize_t r = read(c, buf, sizeof buf);
      if (r == 6 && memcmp(buf, "HELLO\n", 6) == 0) {
        ssize_t w = send(c, "OK\n", 3, MSG_NOSIGNAL);
        (void)w;
      } else if (r < 0 && errno == EAGAIN) {
        continue;
      }
      close(c); /* also removes it from the epoll set */
    }
  }
  return NULL;
}

int main(int argc, char **argv) {
  int port = 0;
  const char *mode = NULL;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "--port")) port = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--threads")) nthreads = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--mode")) mode = argv[i + 1];
    else { fprintf(stderr, "unknown option %s\n", argv[i]); return 2; }
  }
  if (nthreads < 1 || nthreads > MAX_THREADS || !mode
      || (strcmp(mode, "exclusive") && strcmp(mode, "reuseport"))) {
    fprintf(stderr, "usage: mechserver --port P --threads 1..%d --mode exclusive|reuseport\n", MAX_THREADS);
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  reuseport = !strcmp(mode, "reuseport");
  if (reuseport) {
    listen_fds[0] = open_listener(port, 1);
    port = bound_port(listen_fds[0]);
    for (int i = 1; i < nthreads; i++) listen_fds[i] = open_listener(port, 1);
  } else {
    shared_fd = open_listener(port, 0);
    port = bound_port(shared_fd);
  }
  pthread_t t[MAX_THREADS];
  for (int i = 0; i < nthreads; i++) pthread_create(&t[i], NULL, loop, (void *)(long)i);
  printf("ready %d\n", port);
  fflush(stdout);
  char line[64];
  while (fgets(line, sizeof line, stdin)) {
    if (strncmp(line, "stats", 5) == 0) {
      printf("stats heap=0 threads=%d loops=", nthreads);
      for (int i = 0; i < nthreads; i++) printf(i ? ",%ld" : "%ld", atomic_load(&accepted[i]));
      printf("\n");
      fflush(stdout);
    }
  }
  return 0;
}
