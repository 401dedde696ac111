/*
 * loadgen.c - the load generator of the Portcullis benchmark suite (bench/README.md).
 *
 * Build:  gcc -O2 -Wall -Wextra -o loadgen loadgen.c        (C11 + Linux APIs, libc only)
 *
 * Usage:  loadgen MODE --port P [--seconds S] [--concurrency C] [--from-net A.B.C]
 *                 [--conns N] [--size B]
 *   MODE          churn | deny | drop | echo | idle
 *   --port P      server port on 127.0.0.1 (required)
 *   --seconds S   run time, a decimal number (default 10); every mode stops by itself at S
 *   --concurrency C  connections in flight: churn/deny keep C exchanges going; echo/idle open
 *                 their N connections at most C at a time (default 64)
 *   --from-net A.B.C  source addresses rotate over A.B.C.1 .. A.B.C.254; ::1 connects from ::1
 *                 to ::1 instead (IPv6 loopback has one address)
 *                 (defaults: churn 127.0.1, deny 127.0.2, idle 127.0.3; echo binds 127.0.0.1
 *                 unless --from-net is given)
 *   --conns N     echo/idle: number of connections (default 16)
 *   --size B      echo: message size in bytes (default 64)
 *
 * Output: exactly one line on stdout at the end,
 *   result ops=N seconds=S errors=E             (echo adds " bytes=TOTAL")
 * and for idle, before it, "idle-ready K" (flushed) once every connection has been set up
 * (K = connections that completed the handshake; K = N when errors=0). When E > 0 a break-down
 * "loadgen: errors connect=.. reset=.. unexpected=.. timeout=.." goes to stderr.
 * Exit status 0 after a run (whatever the error count), 2 on a usage error.
 *
 *   churn: C slots; each connects, sends "HELLO\n", expects exactly "OK\n" then EOF, closes with
 *          an RST (SO_LINGER {1,0}, so neither side keeps TIME_WAIT) and reconnects at once.
 *          One op = one completed exchange.
 *   deny:  like churn (the client sends HELLO too, as a real client would), but the server must
 *          close at once: one op = a connection that reached EOF or a reset (ECONNRESET/EPIPE on
 *          read or on the HELLO write) without receiving any byte. Any byte received is an error.
 *   drop:  like deny, for a server whose kernel filter drops denied peers' SYNs: a connection
 *          that is still not established after 20 ms counts as one op (closed, and the slot
 *          starts again); one that is established, or refused, is an error.
 *   echo:  N persistent connections do the handshake (HELLO\n -> OK\n); once all are set up the
 *          measured phase starts and each connection repeatedly sends a B-byte message and
 *          reads B bytes back, comparing them with what it sent. The message is a window of a
 *          pseudo-random pattern at an offset that changes every round, so a stale or misordered
 *          echo is caught. Sending and receiving overlap, so any B works without deadlock.
 *          One op = one round trip; bytes = echoed bytes received (and verified) while measuring;
 *          seconds = length of the measured phase (handshakes excluded).
 *   idle:  opens N connections (at most C handshakes in flight), prints "idle-ready K" when all
 *          are set up, then holds them silently until the deadline; a held connection that the
 *          server closes, or that receives bytes, is an error. ops = connections still held at
 *          the end; seconds = the whole run.
 *
 * Errors are counted, never retried forever: connect failures (refused, no address, EMFILE...),
 * resets where an answer was expected, unexpected bytes or early EOF, and timeouts (5 s without
 * completing a connection's current step: connect+exchange for churn/deny, handshake for
 * echo/idle, a round trip for echo). A failed churn/deny slot reconnects; a failed echo/idle
 * connection is not replaced. Connections still in flight at the deadline are dropped uncounted.
 *
 * Design: one thread, one epoll instance, EDGE-TRIGGERED (EPOLLIN|EPOLLOUT|EPOLLRDHUP|EPOLLET
 * registered once per socket, never modified). Each event's mask says what was ready when it was
 * reported; a direction is only waited for after it returned EAGAIN or after the mask showed it
 * not ready, which is when the kernel guarantees another edge (so after sending HELLO or a
 * message no speculative recv() is made). In churn, "OK\n" read from an event whose mask has
 * EPOLLRDHUP is already followed by the EOF, which then needs no extra recv(). Sockets are non-blocking, bound before connect() to the rotating
 * source address with IP_BIND_ADDRESS_NO_PORT (port 0: the port is picked at connect time per
 * 4-tuple, so ephemeral ports do not run out). The RLIMIT_NOFILE soft limit is raised to the hard
 * limit at start. All time is CLOCK_MONOTONIC; epoll_wait never sleeps past the deadline.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

#define MAX_EVENTS 1024
#define CONN_TIMEOUT_NS 5000000000LL
#define SCAN_NS 50000000LL /* timeout scan period */
#define PAT_SPAN 256       /* message offsets into the pattern */

enum { M_CHURN, M_DENY, M_ECHO, M_IDLE, M_DROP };
/* drop: how long a SYN may go unanswered before it counts as dropped by a kernel filter */
#define DROP_WAIT_NS 20000000LL
enum { S_FREE = 0, S_CONNECT, S_REPLY, S_READY, S_ROUND, S_HOLD };
enum { E_CONNECT, E_RESET, E_UNEXPECTED, E_TIMEOUT, E_KINDS };

struct slot {
  int fd;
  uint32_t gen;
  uint8_t state;
  uint8_t got;      /* handshake / reply bytes received */
  uint8_t can_read; /* last event said readable and no EAGAIN seen since */
  uint8_t send_blocked;
  uint32_t sent, recvd; /* HELLO bytes sent; echo round progress */
  uint32_t pat_off;
  uint64_t round;
  int64_t deadline; /* per-connection timeout, 0 = none */
};

static int mode;
static int port;
static double seconds = 10;
static long conc = 64, nconns = 16, msg_size = 64;
static uint32_t net; /* host order A.B.C.0 */
static int ipv6; /* --from-net ::1: every connection from ::1 to ::1 */
static int fixed_src; /* echo default: bind 127.0.0.1 only */
static uint32_t src_rot;

static int epfd;
static struct slot *slots;
static long nslots;
static int64_t now_ns, deadline_ns;
static int measuring; /* ops and bytes count only while set */
static uint64_t ops, bytes, errs[E_KINDS];
static unsigned char *pattern;

/* churn/deny: slots waiting to (re)connect */
static long *freeq;
static long nfree;
/* echo/idle setup */
static long started, inflight, resolved, ready_count, held;

static const char HELLO[] = "HELLO\n";
static const char OKS[] = "OK\n";

static int64_t mono_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void usage(void) {
  fprintf(stderr,
          "usage: loadgen churn|deny|drop|echo|idle --port P [--seconds S] [--concurrency C]\n"
          "               [--from-net A.B.C|::1] [--conns N] [--size B]\n");
  exit(2);
}

static int would_block(void) { return errno == EAGAIN || errno == EWOULDBLOCK; }

/* Closes a slot's socket (RST: SO_LINGER {1,0} was set at creation) and does the bookkeeping. */
static void finish(long i, int err_kind, int op) {
  struct slot *s = &slots[i];
  int prev = s->state;
  close(s->fd);
  s->fd = -1;
  s->state = S_FREE;
  s->gen++;
  if (err_kind >= 0) errs[err_kind]++;
  if (op && measuring) ops++;
  if (mode == M_CHURN || mode == M_DENY || mode == M_DROP) {
    freeq[nfree++] = i;
  } else if (prev == S_CONNECT || prev == S_REPLY) {
    inflight--; /* a setup that failed */
    resolved++;
  } else if (prev == S_HOLD) {
    held--;
  }
}

static long start_conn(long i) {
  struct slot *s = &slots[i];
  int fd = socket(ipv6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  int one = 1;
  struct linger lg = {1, 0};
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
  if (mode == M_ECHO) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  int rc;
  if (ipv6) {
    /* IPv6 loopback is one address: the source is ::1, the kernel picks the port */
    struct sockaddr_in6 dst = {.sin6_family = AF_INET6, .sin6_port = htons((uint16_t)port), .sin6_addr = IN6ADDR_LOOPBACK_INIT};
    rc = connect(fd, (struct sockaddr *)&dst, sizeof dst);
  } else {
    setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    struct sockaddr_in src = {.sin_family = AF_INET};
    uint32_t host = fixed_src ? 1 : 1 + (src_rot++ % 254);
    src.sin_addr.s_addr = htonl(net | host);
    struct sockaddr_in dst = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    dst.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    rc = bind(fd, (struct sockaddr *)&src, sizeof src);
    if (rc == 0) rc = connect(fd, (struct sockaddr *)&dst, sizeof dst);
  }
  if (rc != 0 && errno != EINPROGRESS) {
    close(fd);
    return -1;
  }
  s->fd = fd;
  s->gen++;
  s->state = S_CONNECT;
  s->got = 0;
  s->sent = 0;
  s->can_read = 0;
  s->deadline = now_ns + (mode == M_DROP ? DROP_WAIT_NS : CONN_TIMEOUT_NS);
  struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, .data.u64 = ((uint64_t)s->gen << 32) | (uint64_t)i};
  if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
    close(fd);
    s->fd = -1;
    s->state = S_FREE;
    return -1;
  }
  return 0;
}

static void begin_round(struct slot *s, long i) {
  s->state = S_ROUND;
  s->sent = s->recvd = 0;
  s->send_blocked = 0;
  s->pat_off = (uint32_t)((s->round * 37 + (uint64_t)i * 11) % PAT_SPAN);
  s->deadline = now_ns + CONN_TIMEOUT_NS;
}

/* Handshake done for echo/idle. */
static void setup_done(long i) {
  struct slot *s = &slots[i];
  inflight--;
  resolved++;
  ready_count++;
  if (mode == M_IDLE) {
    s->state = S_HOLD;
    s->deadline = 0;
    held++;
  } else {
    s->state = S_READY;
    s->deadline = 0;
  }
}

static void step_round(long i);
static void step_hold(long i);

static void step(long i, uint32_t ev) {
  struct slot *s = &slots[i];
  char buf[4096];
  if (ev & (EPOLLIN | EPOLLERR | EPOLLHUP | EPOLLRDHUP)) s->can_read = 1;
  if (ev & EPOLLOUT) s->send_blocked = 0;
  switch (s->state) {
  case S_CONNECT:
    if (!(ev & (EPOLLOUT | EPOLLERR | EPOLLHUP))) return; /* not connected yet */
    if (mode == M_DROP) {
      finish(i, (ev & EPOLLOUT) && !(ev & (EPOLLERR | EPOLLHUP)) ? E_UNEXPECTED : E_CONNECT, 0);
      return; /* the server answered: its filter did not drop the SYN */
    }
    while (s->sent < 6) {
      ssize_t n = send(s->fd, HELLO + s->sent, 6 - s->sent, MSG_NOSIGNAL);
      if (n > 0) {
        s->sent += (uint32_t)n;
      } else if (n < 0 && errno == EINTR) {
        continue;
      } else if (n < 0 && would_block()) {
        return;
      } else if (errno == ECONNRESET || errno == EPIPE) {
        /* connected, then reset by the server */
        if (mode == M_DENY) finish(i, -1, 1);
        else finish(i, E_RESET, 0);
        return;
      } else {
        finish(i, E_CONNECT, 0); /* ECONNREFUSED, ETIMEDOUT, ... */
        return;
      }
    }
    s->state = S_REPLY;
    /* fall through */
  case S_REPLY:
    while (s->can_read) {
      size_t want = sizeof buf;
      if (mode == M_ECHO || mode == M_IDLE) want = 3 - s->got; /* consume nothing past OK\n */
      ssize_t n = recv(s->fd, buf, want, 0);
      if (n > 0) {
        if (mode == M_DENY || s->got + (size_t)n > 3 || memcmp(buf, OKS + s->got, (size_t)n) != 0) {
          finish(i, E_UNEXPECTED, 0);
          return;
        }
        s->got = (uint8_t)(s->got + n);
        if (s->got == 3 && mode == M_CHURN && (ev & EPOLLRDHUP)) {
          /* The FIN was already in when this event was reported, and it follows all data: the
           * stream is at EOF after OK\n, so the op is complete without one more recv(). */
          finish(i, -1, 1);
          return;
        }
        if (s->got == 3 && (mode == M_ECHO || mode == M_IDLE)) {
          setup_done(i);
          if (mode == M_IDLE) step_hold(i); /* still readable? (EOF right after OK) */
          return;
        }
      } else if (n == 0) {
        if (mode == M_DENY) finish(i, -1, 1);
        else if (mode == M_CHURN && s->got == 3) finish(i, -1, 1);
        else finish(i, E_UNEXPECTED, 0); /* EOF before the full answer */
        return;
      } else if (errno == EINTR) {
        continue;
      } else if (would_block()) {
        s->can_read = 0;
      } else if (errno == ECONNRESET && mode == M_DENY) {
        finish(i, -1, 1);
        return;
      } else if (errno == ECONNREFUSED || errno == ETIMEDOUT || errno == EHOSTUNREACH ||
                 errno == ENETUNREACH) {
        finish(i, E_CONNECT, 0);
        return;
      } else {
        finish(i, E_RESET, 0);
        return;
      }
    }
    return;
  case S_ROUND:
    step_round(i);
    return;
  case S_HOLD:
    step_hold(i);
    return;
  default:
    return; /* S_READY: waiting for the measured phase */
  }
}

/* A held idle connection must stay silent and open. */
static void step_hold(long i) {
  struct slot *s = &slots[i];
  char buf[256];
  while (s->can_read) {
    ssize_t n = recv(s->fd, buf, sizeof buf, 0);
    if (n > 0) {
      finish(i, E_UNEXPECTED, 0);
      return;
    } else if (n == 0) {
      finish(i, E_UNEXPECTED, 0); /* closed by the server while held */
      return;
    } else if (errno == EINTR) {
      continue;
    } else if (would_block()) {
      s->can_read = 0;
    } else {
      finish(i, E_RESET, 0);
      return;
    }
  }
}

/* Echo round trips: send the rest of the message, read what came back, compare, repeat. */
static void step_round(long i) {
  struct slot *s = &slots[i];
  static unsigned char buf[65536];
  uint32_t B = (uint32_t)msg_size;
  for (;;) {
    const unsigned char *msg = pattern + s->pat_off;
    while (s->sent < B && !s->send_blocked) {
      ssize_t n = send(s->fd, msg + s->sent, B - s->sent, MSG_NOSIGNAL);
      if (n > 0) {
        s->sent += (uint32_t)n;
      } else if (n < 0 && errno == EINTR) {
        continue;
      } else if (n < 0 && would_block()) {
        s->send_blocked = 1;
      } else {
        finish(i, E_RESET, 0);
        return;
      }
    }
    while (s->can_read && s->recvd < B) {
      ssize_t n = recv(s->fd, buf, sizeof buf, 0);
      if (n > 0) {
        if (s->recvd + (uint32_t)n > s->sent || memcmp(buf, msg + s->recvd, (size_t)n) != 0) {
          finish(i, E_UNEXPECTED, 0); /* more than was sent, or different bytes */
          return;
        }
        s->recvd += (uint32_t)n;
        if (measuring) bytes += (uint64_t)n;
        if (s->recvd == s->sent && s->sent < B) break; /* go send more */
      } else if (n == 0) {
        finish(i, E_UNEXPECTED, 0); /* EOF in the middle of a round */
        return;
      } else if (errno == EINTR) {
        continue;
      } else if (would_block()) {
        s->can_read = 0;
      } else {
        finish(i, E_RESET, 0);
        return;
      }
    }
    if (s->recvd == B) {
      if (measuring) ops++;
      s->round++;
      now_ns = mono_ns();
      if (now_ns >= deadline_ns) {
        s->state = S_READY; /* the run is over */
        return;
      }
      begin_round(s, i);
      continue;
    }
    int send_waits = s->sent == B || s->send_blocked;
    int recv_waits = !s->can_read || s->recvd == s->sent;
    if (send_waits && recv_waits) return; /* every needed direction is waiting for an edge */
  }
}

static void scan_timeouts(void) {
  for (long i = 0; i < nslots; i++) {
    if (slots[i].state != S_FREE && slots[i].deadline != 0 && now_ns > slots[i].deadline) {
      if (mode == M_DROP && slots[i].state == S_CONNECT) finish(i, -1, 1); /* dropped: the op */
      else finish(i, E_TIMEOUT, 0);
    }
  }
}

static void raise_nofile(void) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
}

static int parse_net(const char *s, uint32_t *out) {
  unsigned a, b, c;
  char tail;
  if (sscanf(s, "%u.%u.%u%c", &a, &b, &c, &tail) != 3 || a > 255 || b > 255 || c > 255) return -1;
  *out = (a << 24) | (b << 16) | (c << 8);
  return 0;
}

static long parse_long(const char *s, long min, long max) {
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno || *end || end == s || v < min || v > max) usage();
  return v;
}

int main(int argc, char **argv) {
  if (argc < 2) usage();
  const char *m = argv[1];
  const char *from_net = NULL;
  if (strcmp(m, "churn") == 0) mode = M_CHURN;
  else if (strcmp(m, "deny") == 0) mode = M_DENY;
  else if (strcmp(m, "echo") == 0) mode = M_ECHO;
  else if (strcmp(m, "idle") == 0) mode = M_IDLE;
  else if (strcmp(m, "drop") == 0) mode = M_DROP;
  else usage();
  port = -1;
  for (int i = 2; i < argc; i++) {
    if (i + 1 >= argc) usage();
    const char *k = argv[i], *v = argv[++i];
    if (strcmp(k, "--port") == 0) {
      port = (int)parse_long(v, 1, 65535);
    } else if (strcmp(k, "--seconds") == 0) {
      char *end;
      seconds = strtod(v, &end);
      if (*end || end == v || !(seconds > 0) || seconds > 86400) usage();
    } else if (strcmp(k, "--concurrency") == 0) {
      conc = parse_long(v, 1, 1000000);
    } else if (strcmp(k, "--from-net") == 0) {
      from_net = v;
    } else if (strcmp(k, "--conns") == 0) {
      nconns = parse_long(v, 1, 10000000);
    } else if (strcmp(k, "--size") == 0) {
      msg_size = parse_long(v, 1, 1L << 30);
    } else {
      usage();
    }
  }
  if (port < 0) usage();
  if (!from_net) {
    from_net = mode == M_CHURN ? "127.0.1" : (mode == M_DENY || mode == M_DROP) ? "127.0.2"
        : mode == M_IDLE ? "127.0.3" : "127.0.0";
    fixed_src = mode == M_ECHO;
  }
  ipv6 = strcmp(from_net, "::1") == 0;
  if (!ipv6 && parse_net(from_net, &net) != 0) {
    fprintf(stderr, "loadgen: --from-net '%s' is not A.B.C or ::1\n", from_net);
    return 2;
  }

  raise_nofile();
  signal(SIGPIPE, SIG_IGN);
  nslots = (mode == M_CHURN || mode == M_DENY || mode == M_DROP) ? conc : nconns;
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && (rlim_t)nslots + 16 > rl.rlim_cur) {
    fprintf(stderr, "loadgen: warning: %ld connections but RLIMIT_NOFILE is %lu\n", nslots,
            (unsigned long)rl.rlim_cur);
  }
  slots = calloc((size_t)nslots, sizeof *slots);
  freeq = calloc((size_t)nslots, sizeof *freeq);
  if (mode == M_ECHO) {
    pattern = malloc((size_t)msg_size + PAT_SPAN);
    if (pattern) {
      uint64_t x = 0x9E3779B97F4A7C15ull;
      for (long j = 0; j < msg_size + PAT_SPAN; j++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        pattern[j] = (unsigned char)(x >> 24);
      }
    }
  }
  epfd = epoll_create1(EPOLL_CLOEXEC);
  if (!slots || !freeq || (mode == M_ECHO && !pattern) || epfd < 0) {
    perror("loadgen: setup");
    return 1;
  }
  for (long i = 0; i < nslots; i++) {
    slots[i].fd = -1;
    if (mode == M_CHURN || mode == M_DENY || mode == M_DROP) freeq[nfree++] = nslots - 1 - i;
  }

  static struct epoll_event evs[MAX_EVENTS];
  int64_t t0 = mono_ns();
  now_ns = t0;
  deadline_ns = t0 + (int64_t)(seconds * 1e9);
  int64_t t_meas = t0, last_scan = t0;
  measuring = mode != M_ECHO;
  int setup_over = 0;
  int retry_soon = 0;

  while (now_ns < deadline_ns) {
    /* start connections */
    retry_soon = 0;
    if (mode == M_CHURN || mode == M_DENY || mode == M_DROP) {
      long k = nfree;
      while (k-- > 0) {
        long i = freeq[--nfree];
        if (start_conn(i) != 0) {
          errs[E_CONNECT]++;
          /* put it back at the bottom so the rest still start; retry on the next iteration */
          memmove(freeq + 1, freeq, (size_t)nfree * sizeof *freeq);
          freeq[0] = i;
          nfree++;
          retry_soon = 1;
        }
      }
    } else if (!setup_over) {
      while (inflight < conc && started < nconns) {
        long i = started++;
        if (start_conn(i) != 0) {
          errs[E_CONNECT]++;
          resolved++;
        } else {
          inflight++;
        }
      }
      if (resolved == nconns) {
        setup_over = 1;
        if (mode == M_IDLE) {
          printf("idle-ready %ld\n", held);
          fflush(stdout);
        } else {
          measuring = 1;
          now_ns = mono_ns();
          t_meas = now_ns;
          for (long i = 0; i < nslots; i++) {
            if (slots[i].state == S_READY) {
              begin_round(&slots[i], i);
              step_round(i);
            }
          }
        }
      }
    }

    now_ns = mono_ns();
    int64_t left = deadline_ns - now_ns;
    if (left <= 0) break;
    int64_t scan_ns = mode == M_DROP ? DROP_WAIT_NS / 4 : SCAN_NS;
    int timeout_ms = retry_soon ? 1 : (int)((left < scan_ns ? left : scan_ns) / 1000000) + 1;
    if ((int64_t)timeout_ms * 1000000 > left) timeout_ms = (int)(left / 1000000);
    int n = epoll_wait(epfd, evs, MAX_EVENTS, timeout_ms);
    now_ns = mono_ns();
    if (n < 0) {
      if (errno == EINTR) continue;
      perror("loadgen: epoll_wait");
      return 1;
    }
    for (int j = 0; j < n; j++) {
      long i = (long)(evs[j].data.u64 & 0xFFFFFFFFu);
      uint32_t gen = (uint32_t)(evs[j].data.u64 >> 32);
      if (i >= nslots || slots[i].state == S_FREE || slots[i].gen != gen) continue;
      step(i, evs[j].events);
      if (now_ns >= deadline_ns) break;
    }
    if (now_ns - last_scan >= (mode == M_DROP ? DROP_WAIT_NS / 4 : SCAN_NS)) {
      last_scan = now_ns;
      scan_timeouts();
    }
  }
  int64_t t_end = mono_ns();
  measuring = 0;
  uint64_t held_at_end = (uint64_t)held;
  for (long i = 0; i < nslots; i++) {
    if (slots[i].fd >= 0) close(slots[i].fd);
  }
  close(epfd);

  uint64_t errors = 0;
  for (int k = 0; k < E_KINDS; k++) errors += errs[k];
  if (mode == M_IDLE) ops = held_at_end;
  double secs = (double)(t_end - (mode == M_ECHO ? (setup_over ? t_meas : t_end) : t0)) / 1e9;
  printf("result ops=%llu seconds=%.3f errors=%llu", (unsigned long long)ops, secs, (unsigned long long)errors);
  if (mode == M_ECHO) printf(" bytes=%llu", (unsigned long long)bytes);
  printf("\n");
  fflush(stdout);
  if (errors > 0) {
    fprintf(stderr, "loadgen: errors connect=%llu reset=%llu unexpected=%llu timeout=%llu\n",
            (unsigned long long)errs[E_CONNECT], (unsigned long long)errs[E_RESET],
            (unsigned long long)errs[E_UNEXPECTED], (unsigned long long)errs[E_TIMEOUT]);
  }
  return 0;
}
