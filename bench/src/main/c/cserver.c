/*
 * cserver.c - the "near-physical-limit" C reference server of the Portcullis benchmark suite.
 *
 * Build:  gcc -O2 -Wall -Wextra -o cserver cserver.c        (C11 + Linux APIs, libc only)
 *
 * Usage:  cserver --port P --mode churn|echo --policy FILE
 *         cserver --policy FILE --check ADDR      (hidden, for tests: prints "allow" or "deny")
 *         cserver --policy FILE --check -         (hidden: reads addresses from stdin, one a
 *                                                  line, prints "ADDR allow|deny" for each)
 *
 * Protocol (bench/README.md): listens on 127.0.0.1:P (P = 0 picks a free port), backlog 4096,
 * prints "ready PORT" on stdout once listening, and runs until SIGTERM/SIGINT, then exits 0.
 * Every accepted peer is decided by the policy; a denied peer is closed at once, unread.
 *   churn: read one line; exactly "HELLO\n" is answered with "OK\n" and the connection is closed;
 *          anything else closes at once.
 *   echo:  the same handshake, then every byte read is written back until the client closes.
 *
 * Design:
 *   - One thread, one epoll instance, LEVEL-TRIGGERED for every descriptor. Level triggering lets
 *     the echo path read at most one buffer per wake-up (fair between connections) and express
 *     back-pressure simply by switching a connection's interest from EPOLLIN to EPOLLOUT while it
 *     has unsent output, and back when the output is drained.
 *   - Listener: SOCK_NONBLOCK|SOCK_CLOEXEC, SO_REUSEADDR, TCP_NODELAY (inherited by accepted
 *     sockets on Linux), backlog 4096 (the kernel caps it at net.core.somaxconn). accept4() is
 *     called in a batch until EAGAIN on every wake-up. EMFILE/ENFILE are handled with a spare
 *     descriptor so a full descriptor table cannot make the level-triggered listener spin.
 *   - A freshly accepted, allowed connection is registered for EPOLLIN straight away, without a
 *     speculative read: measured with loadgen churn, the HELLO had not arrived yet at accept time
 *     in over 99% of connections, so a read-before-register only added a failing syscall.
 *   - Per-connection state is a small struct in an array indexed by fd (sized to RLIMIT_NOFILE,
 *     whose soft limit is raised to the hard limit at start). Reads go into one shared 64 KiB
 *     buffer and are written back immediately; only when write() is short is the remainder copied
 *     into a per-connection pending buffer (at most 64 KiB, allocated on demand, freed on close).
 *     While output is pending the connection is not read (bounded memory, back-pressure).
 *   - SIGTERM/SIGINT arrive through a signalfd in the same epoll set. SIGPIPE is ignored and every
 *     send uses MSG_NOSIGNAL.
 *
 * Policy: the Portcullis text format, one "allow CIDR" / "deny CIDR" a line, words separated by
 * spaces or tabs, '#' starts a comment, blank lines ignored, CRLF and a leading UTF-8 BOM accepted.
 * Parsing is strict like the Java AccessPolicy (dotted-quad decimal without leading zeros, prefix
 * length without leading zeros, no host bits set, a bare address is a host rule); a malformed line
 * is reported as "FILE:N: ..." on stderr and the server exits with status 2. IPv6 rules are
 * parsed and validated (inet_pton) but only matter for the default: this server listens on IPv4
 * only, so every peer is IPv4 and IPv6 rules never match it.
 * Decision: the longest matching prefix wins; at equal length deny wins; when nothing matches the
 * peer is denied if the policy has any allow rule (of either family) and allowed if it has only
 * deny rules; an EMPTY policy denies everyone (as AccessPolicy does).
 * The IPv4 rules are compiled into a sorted array of non-overlapping intervals covering the whole
 * address space, each labelled allow or deny (adjacent equal labels merged): the distinct prefixes
 * are sorted by start ascending then length ascending and swept with a stack of enclosing
 * prefixes. A lookup is a binary search; tables above 256 intervals also get a 65,536-entry index
 * on the top 16 address bits that narrows the search. 100,000 rules compile in milliseconds.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define BUF_CAP 65536 /* per-read buffer and bound of a connection's pending output */
#define MAX_EVENTS 1024

/* ------------------------------------------------------------------------------------------ */
/* Policy                                                                                     */
/* ------------------------------------------------------------------------------------------ */

struct v4rule {
  uint64_t key; /* start << 8 | len << 1 | (allow ? 1 : 0): sorts by start, len, deny first */
};

struct policy {
  uint32_t *starts; /* interval i covers [starts[i], starts[i+1]-1]; starts[0] == 0 */
  uint8_t *labels;  /* 1 = allow, 0 = deny */
  size_t n;
  uint32_t *index; /* NULL or 65,537 entries: interval containing (k << 16), k = 0..65536 */
  size_t rules_v4, rules_v6;
  int any_allow;
  int default_allow;
};

static struct policy pol;

static int is_ws(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f'; }

/* Strict dotted quad: four decimal parts, 1..3 digits, no leading zeros, each <= 255. */
static int parse_ipv4(const char *s, size_t len, uint32_t *out) {
  uint32_t v = 0;
  size_t i = 0;
  for (int part = 0; part < 4; part++) {
    size_t b = i;
    unsigned x = 0;
    while (i < len && s[i] >= '0' && s[i] <= '9') {
      x = x * 10 + (unsigned)(s[i] - '0');
      i++;
      if (i - b > 3) return -1;
    }
    size_t d = i - b;
    if (d == 0 || (d > 1 && s[b] == '0') || x > 255) return -1;
    v = (v << 8) | x;
    if (part < 3) {
      if (i >= len || s[i] != '.') return -1;
      i++;
    }
  }
  if (i != len) return -1;
  *out = v;
  return 0;
}

/* Prefix length: decimal, no leading zeros, 0..max. */
static int parse_len(const char *s, size_t len, int max) {
  if (len == 0 || len > 3 || (len > 1 && s[0] == '0')) return -1;
  int v = 0;
  for (size_t i = 0; i < len; i++) {
    if (s[i] < '0' || s[i] > '9') return -1;
    v = v * 10 + (s[i] - '0');
  }
  return v > max ? -1 : v;
}

struct rulebuf {
  struct v4rule *v;
  size_t n, cap;
};

static void die_line(const char *file, size_t lineno, const char *what, const char *txt, size_t len) {
  fprintf(stderr, "cserver: %s:%zu: '%.*s' %s\n", file, lineno, (int)len, txt, what);
  exit(2);
}

/* Parses one rule (already stripped, non-empty). */
static void parse_rule(const char *file, size_t lineno, const char *s, size_t len, struct rulebuf *rb) {
  size_t i = 0;
  while (i < len && s[i] != ' ' && s[i] != '\t') i++;
  size_t w0 = i;
  while (i < len && (s[i] == ' ' || s[i] == '\t')) i++;
  const char *c = s + i;
  size_t clen = 0;
  while (i < len && s[i] != ' ' && s[i] != '\t') i++, clen++;
  while (i < len && (s[i] == ' ' || s[i] == '\t')) i++;
  if (clen == 0 || i != len) die_line(file, lineno, "is not a rule: expected 'allow CIDR' or 'deny CIDR'", s, len);
  int allow;
  if (w0 == 5 && memcmp(s, "allow", 5) == 0) {
    allow = 1;
  } else if (w0 == 4 && memcmp(s, "deny", 4) == 0) {
    allow = 0;
  } else {
    die_line(file, lineno, "does not start with 'allow' or 'deny'", s, len);
    return;
  }
  size_t alen = clen;
  const char *slash = memchr(c, '/', clen);
  if (slash) alen = (size_t)(slash - c);
  int is6 = memchr(c, ':', alen) != NULL;
  int max = is6 ? 128 : 32;
  int plen = max;
  if (slash) {
    plen = parse_len(slash + 1, clen - alen - 1, max);
    if (plen < 0) die_line(file, lineno, "has a bad prefix length", c, clen);
  }
  if (is6) {
    char tmp[64];
    unsigned char a[16];
    if (alen >= sizeof tmp) die_line(file, lineno, "is not an IPv6 address", c, clen);
    memcpy(tmp, c, alen);
    tmp[alen] = 0;
    if (inet_pton(AF_INET6, tmp, a) != 1) die_line(file, lineno, "is not an IPv6 address", c, clen);
    for (int bit = plen; bit < 128; bit++) {
      if (a[bit >> 3] & (0x80 >> (bit & 7))) die_line(file, lineno, "has host bits set", c, clen);
    }
    static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (plen >= 96 && memcmp(a, mapped, 12) == 0) {
      die_line(file, lineno, "is inside the IPv4-mapped range ::ffff:0:0/96; write the IPv4 rule", c, clen);
    }
    pol.rules_v6++;
  } else {
    uint32_t a;
    if (parse_ipv4(c, alen, &a) != 0) die_line(file, lineno, "is not an IPv4 address", c, clen);
    uint32_t mask = plen == 0 ? 0 : 0xFFFFFFFFu << (32 - plen);
    if ((a & mask) != a) die_line(file, lineno, "has host bits set", c, clen);
    if (rb->n == rb->cap) {
      rb->cap = rb->cap ? rb->cap * 2 : 1024;
      rb->v = realloc(rb->v, rb->cap * sizeof *rb->v);
      if (!rb->v) {
        perror("cserver: realloc");
        exit(2);
      }
    }
    rb->v[rb->n++].key = ((uint64_t)a << 8) | ((uint64_t)plen << 1) | (uint64_t)allow;
    pol.rules_v4++;
  }
  if (allow) pol.any_allow = 1;
}

static int cmp_rule(const void *a, const void *b) {
  uint64_t x = ((const struct v4rule *)a)->key, y = ((const struct v4rule *)b)->key;
  return x < y ? -1 : x > y;
}

static void emit(uint64_t start, uint8_t label) {
  if (pol.n > 0 && pol.labels[pol.n - 1] == label) return; /* merge with the previous interval */
  pol.starts[pol.n] = (uint32_t)start;
  pol.labels[pol.n] = label;
  pol.n++;
}

static void compile_v4(struct rulebuf *rb) {
  uint8_t def = (uint8_t)pol.default_allow;
  qsort(rb->v, rb->n, sizeof *rb->v, cmp_rule);
  pol.starts = malloc((2 * rb->n + 2) * sizeof *pol.starts);
  pol.labels = malloc(2 * rb->n + 2);
  if (!pol.starts || !pol.labels) {
    perror("cserver: malloc");
    exit(2);
  }
  pol.n = 0;
  struct {
    uint64_t end;
    uint8_t label;
  } stack[34];
  int sp = 0;
  uint64_t cur = 0; /* first address not yet labelled */
  uint64_t prev = UINT64_MAX;
  for (size_t i = 0; i < rb->n; i++) {
    uint64_t key = rb->v[i].key;
    if ((key >> 1) == prev) continue; /* same prefix again: the first (deny if any) wins */
    prev = key >> 1;
    uint64_t s = key >> 8;
    int len = (int)((key >> 1) & 0x7F);
    uint64_t e = s + (1ULL << (32 - len)) - 1;
    uint8_t label = (uint8_t)(key & 1);
    while (sp > 0 && stack[sp - 1].end < s) { /* close prefixes that end before this one */
      sp--;
      if (cur <= stack[sp].end) {
        emit(cur, stack[sp].label);
        cur = stack[sp].end + 1;
      }
    }
    if (cur < s) { /* the gap before this prefix belongs to the enclosing prefix (or default) */
      emit(cur, sp > 0 ? stack[sp - 1].label : def);
      cur = s;
    }
    stack[sp].end = e;
    stack[sp].label = label;
    sp++;
  }
  while (sp > 0) {
    sp--;
    if (cur <= stack[sp].end) {
      emit(cur, stack[sp].label);
      cur = stack[sp].end + 1;
    }
  }
  if (cur <= 0xFFFFFFFFull) emit(cur, def);
  free(rb->v);
  rb->v = NULL;

  if (pol.n > 256) {
    pol.index = malloc(65537 * sizeof *pol.index);
    if (!pol.index) {
      perror("cserver: malloc");
      exit(2);
    }
    size_t j = 0;
    for (uint64_t k = 0; k < 65536; k++) {
      uint64_t a = k << 16;
      while (j + 1 < pol.n && pol.starts[j + 1] <= a) j++;
      pol.index[k] = (uint32_t)j;
    }
    pol.index[65536] = (uint32_t)(pol.n - 1);
  }
}

/* Decision for a host-order IPv4 address: 1 = allow, 0 = deny. */
static inline int policy_allows(uint32_t addr) {
  const uint32_t *base = pol.starts;
  size_t n = pol.n;
  if (pol.index) {
    uint32_t k = addr >> 16;
    base = pol.starts + pol.index[k];
    n = (size_t)(pol.index[k + 1] - pol.index[k]) + 1;
  }
  while (n > 1) { /* base[0] <= addr; find the last start <= addr in [base, base + n) */
    size_t half = n / 2;
    if (base[half] <= addr) base += half;
    n -= half;
  }
  return pol.labels[base - pol.starts];
}

static void load_policy(const char *file) {
  FILE *f = fopen(file, "rb");
  if (!f) {
    fprintf(stderr, "cserver: %s: %s\n", file, strerror(errno));
    exit(2);
  }
  size_t cap = 1 << 20, len = 0;
  char *text = NULL;
  for (;;) {
    if (!text || len == cap) {
      if (text) cap *= 2;
      char *t = realloc(text, cap);
      if (!t) {
        perror("cserver: realloc");
        exit(2);
      }
      text = t;
    }
    size_t r = fread(text + len, 1, cap - len, f);
    len += r;
    if (r == 0) break;
  }
  if (ferror(f)) {
    fprintf(stderr, "cserver: %s: read error\n", file);
    exit(2);
  }
  fclose(f);
  struct rulebuf rb = {0};
  size_t pos = 0, lineno = 0;
  if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0) pos = 3;
  while (pos < len) {
    char *nl = memchr(text + pos, '\n', len - pos);
    size_t end = nl ? (size_t)(nl - text) : len;
    lineno++;
    char *hash = memchr(text + pos, '#', end - pos);
    size_t cend = hash ? (size_t)(hash - text) : end;
    size_t b = pos;
    while (b < cend && is_ws(text[b])) b++;
    while (cend > b && is_ws(text[cend - 1])) cend--;
    if (cend > b) parse_rule(file, lineno, text + b, cend - b, &rb);
    pos = end + 1;
  }
  free(text);
  int empty = pol.rules_v4 + pol.rules_v6 == 0;
  pol.default_allow = !pol.any_allow && !empty;
  compile_v4(&rb);
}

/* ------------------------------------------------------------------------------------------ */
/* Server                                                                                     */
/* ------------------------------------------------------------------------------------------ */

enum { ST_FREE = 0, ST_HS, ST_ECHO, ST_CLOSING };

struct conn {
  uint8_t state;
  uint8_t got;        /* handshake bytes matched so far */
  uint8_t registered; /* added to epoll */
  uint8_t want_out;   /* current interest is EPOLLOUT (else EPOLLIN) */
  uint32_t off, len;  /* pending output out[off..len) */
  char *out;
};

static struct conn *conns;
static size_t nconns;
static int epfd, lfd, sfd, spare_fd = -1;
static int echo_mode;
static char scratch[BUF_CAP];
static const char HELLO[] = "HELLO\n";

static void conn_close(int fd) {
  struct conn *c = &conns[fd];
  free(c->out);
  memset(c, 0, sizeof *c);
  close(fd); /* also removes fd from the epoll set */
}

/* Makes the epoll interest of fd EPOLLOUT (out = 1) or EPOLLIN (out = 0). */
static int set_interest(int fd, int out) {
  struct conn *c = &conns[fd];
  if (c->registered && c->want_out == out) return 0;
  struct epoll_event ev = {.events = out ? EPOLLOUT : EPOLLIN, .data.fd = fd};
  if (epoll_ctl(epfd, c->registered ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, fd, &ev) != 0) return -1;
  c->registered = 1;
  c->want_out = (uint8_t)out;
  return 0;
}

/* Queues data[0..n) that write() did not take; the connection waits for EPOLLOUT. */
static int queue_out(int fd, const char *data, size_t n) {
  struct conn *c = &conns[fd];
  if (!c->out && !(c->out = malloc(BUF_CAP))) return -1;
  memcpy(c->out, data, n);
  c->off = 0;
  c->len = (uint32_t)n;
  return set_interest(fd, 1);
}

/* Writes data; returns 0 when all of it is written or queued, -1 on a dead connection. */
static int send_or_queue(int fd, const char *data, size_t n) {
  ssize_t w;
  do {
    w = send(fd, data, n, MSG_NOSIGNAL);
  } while (w < 0 && errno == EINTR);
  if (w < 0) {
    if (errno != EAGAIN && errno != EWOULDBLOCK) return -1;
    w = 0;
  }
  if ((size_t)w == n) return 0;
  return queue_out(fd, data + w, n - (size_t)w);
}

/* Handles readability (or a first attempt right after accept). Closes fd when it is done. */
static void on_readable(int fd) {
  struct conn *c = &conns[fd];
  if (c->state == ST_HS) {
    while (c->got < 6) {
      char b[6];
      ssize_t n = recv(fd, b, (size_t)(6 - c->got), 0);
      if (n > 0) {
        if (memcmp(b, HELLO + c->got, (size_t)n) != 0) {
          conn_close(fd); /* anything but exactly HELLO\n: close at once */
          return;
        }
        c->got = (uint8_t)(c->got + n);
      } else if (n == 0) {
        conn_close(fd);
        return;
      } else if (errno == EINTR) {
        continue;
      } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
        if (set_interest(fd, 0) != 0) conn_close(fd);
        return;
      } else {
        conn_close(fd);
        return;
      }
    }
    if (!echo_mode) {
      ssize_t w = send(fd, "OK\n", 3, MSG_NOSIGNAL);
      if (w == 3) {
        conn_close(fd);
        return;
      }
      if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
        conn_close(fd);
        return;
      }
      c->state = ST_CLOSING; /* flush the rest of OK\n, then close */
      if (w < 0) w = 0;
      if (queue_out(fd, "OK\n" + w, (size_t)(3 - w)) != 0) conn_close(fd);
      return;
    }
    c->state = ST_ECHO;
    if (send_or_queue(fd, "OK\n", 3) != 0) {
      conn_close(fd);
      return;
    }
    if (c->len > 0) return; /* waiting for EPOLLOUT */
  }
  /* ST_ECHO, no output pending. Level-triggered: a few reads at most, then back to epoll. */
  for (int round = 0; round < 4; round++) {
    ssize_t n = recv(fd, scratch, sizeof scratch, 0);
    if (n > 0) {
      if (send_or_queue(fd, scratch, (size_t)n) != 0) {
        conn_close(fd);
        return;
      }
      if (c->len > 0) return; /* back-pressure: stop reading until drained */
      if ((size_t)n < sizeof scratch) break;
    } else if (n == 0) {
      conn_close(fd);
      return;
    } else if (errno == EINTR) {
      continue;
    } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
      break;
    } else {
      conn_close(fd);
      return;
    }
  }
  if (set_interest(fd, 0) != 0) conn_close(fd);
}

static void on_writable(int fd) {
  struct conn *c = &conns[fd];
  while (c->off < c->len) {
    ssize_t w = send(fd, c->out + c->off, c->len - c->off, MSG_NOSIGNAL);
    if (w > 0) {
      c->off += (uint32_t)w;
    } else if (w < 0 && errno == EINTR) {
      continue;
    } else if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      return;
    } else {
      conn_close(fd);
      return;
    }
  }
  c->off = c->len = 0;
  if (c->state == ST_CLOSING) {
    conn_close(fd);
    return;
  }
  if (set_interest(fd, 0) != 0) conn_close(fd);
}

static void on_accept(void) {
  for (;;) {
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    int fd = accept4(lfd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO) continue;
      if ((errno == EMFILE || errno == ENFILE) && spare_fd >= 0) {
        /* Free one descriptor, accept and drop the connection, re-reserve the spare. */
        close(spare_fd);
        int x = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        if (x >= 0) close(x);
        spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        continue;
      }
      return; /* EAGAIN, or an error that the next wake-up will retry */
    }
    int allow = 0;
    if (ss.ss_family == AF_INET) {
      allow = policy_allows(ntohl(((struct sockaddr_in *)&ss)->sin_addr.s_addr));
    } else {
      allow = pol.default_allow; /* not reachable: the listener is IPv4 */
    }
    if (!allow || (size_t)fd >= nconns) {
      close(fd); /* denied: close at once, without reading */
      continue;
    }
    conns[fd].state = ST_HS;
    if (set_interest(fd, 0) != 0) conn_close(fd);
  }
}

static void raise_nofile(void) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
}

static void usage(void) {
  fprintf(stderr, "usage: cserver --port P --mode churn|echo --policy FILE\n");
  exit(2);
}

static double mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int check_addresses(const char *arg) {
  if (strcmp(arg, "-") != 0) {
    uint32_t a;
    if (parse_ipv4(arg, strlen(arg), &a) != 0) {
      fprintf(stderr, "cserver: --check: '%s' is not an IPv4 address\n", arg);
      return 2;
    }
    puts(policy_allows(a) ? "allow" : "deny");
    return 0;
  }
  char line[256];
  while (fgets(line, sizeof line, stdin)) {
    size_t l = strlen(line);
    while (l > 0 && (line[l - 1] == '\n' || is_ws(line[l - 1]))) line[--l] = 0;
    if (l == 0) continue;
    uint32_t a;
    if (parse_ipv4(line, l, &a) != 0) {
      fprintf(stderr, "cserver: --check: '%s' is not an IPv4 address\n", line);
      return 2;
    }
    printf("%s %s\n", line, policy_allows(a) ? "allow" : "deny");
  }
  return 0;
}

int main(int argc, char **argv) {
  const char *policy_file = NULL, *mode = NULL, *check = NULL;
  long port = -1;
  for (int i = 1; i < argc; i++) {
    if (i + 1 >= argc) usage();
    if (strcmp(argv[i], "--port") == 0) {
      char *end;
      port = strtol(argv[++i], &end, 10);
      if (*end || port < 0 || port > 65535) usage();
    } else if (strcmp(argv[i], "--mode") == 0) {
      mode = argv[++i];
    } else if (strcmp(argv[i], "--policy") == 0) {
      policy_file = argv[++i];
    } else if (strcmp(argv[i], "--check") == 0) {
      check = argv[++i];
    } else {
      usage();
    }
  }
  if (!policy_file) usage();

  double t0 = mono_ms();
  load_policy(policy_file);
  if (check) {
    fprintf(stderr, "cserver: policy %zu IPv4 + %zu IPv6 rules, %zu IPv4 intervals, default %s, %.1f ms\n",
            pol.rules_v4, pol.rules_v6, pol.n, pol.default_allow ? "allow" : "deny", mono_ms() - t0);
    return check_addresses(check);
  }
  if (!mode || port < 0) usage();
  if (strcmp(mode, "echo") == 0) {
    echo_mode = 1;
  } else if (strcmp(mode, "churn") != 0) {
    usage();
  }

  raise_nofile();
  struct rlimit rl;
  getrlimit(RLIMIT_NOFILE, &rl);
  nconns = rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > (1u << 22) ? (1u << 22) : (size_t)rl.rlim_cur;
  conns = calloc(nconns, sizeof *conns);
  if (!conns) {
    perror("cserver: calloc");
    return 1;
  }
  signal(SIGPIPE, SIG_IGN);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigprocmask(SIG_BLOCK, &set, NULL);
  sfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
  spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);

  lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (lfd < 0 || sfd < 0) {
    perror("cserver: socket");
    return 1;
  }
  int one = 1;
  setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  setsockopt(lfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(lfd, (struct sockaddr *)&sa, sizeof sa) != 0) {
    fprintf(stderr, "cserver: bind 127.0.0.1:%ld: %s\n", port, strerror(errno));
    return 1;
  }
  if (listen(lfd, 4096) != 0) {
    perror("cserver: listen");
    return 1;
  }
  socklen_t sl = sizeof sa;
  getsockname(lfd, (struct sockaddr *)&sa, &sl);

  epfd = epoll_create1(EPOLL_CLOEXEC);
  struct epoll_event ev = {.events = EPOLLIN, .data.fd = lfd};
  if (epfd < 0 || epoll_ctl(epfd, EPOLL_CTL_ADD, lfd, &ev) != 0) {
    perror("cserver: epoll");
    return 1;
  }
  ev.data.fd = sfd;
  epoll_ctl(epfd, EPOLL_CTL_ADD, sfd, &ev);

  printf("ready %u\n", (unsigned)ntohs(sa.sin_port));
  fflush(stdout);

  static struct epoll_event evs[MAX_EVENTS];
  int running = 1;
  while (running) {
    int n = epoll_wait(epfd, evs, MAX_EVENTS, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      perror("cserver: epoll_wait");
      return 1;
    }
    for (int i = 0; i < n; i++) {
      int fd = evs[i].data.fd;
      uint32_t e = evs[i].events;
      if (fd == lfd) {
        on_accept();
      } else if (fd == sfd) {
        running = 0;
      } else if (conns[fd].state != ST_FREE) {
        if (conns[fd].want_out) {
          on_writable(fd); /* EPOLLERR/EPOLLHUP surface as a failing send */
        } else if (e & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
          on_readable(fd);
        }
      }
    }
  }
  for (size_t fd = 0; fd < nconns; fd++) {
    if (conns[fd].state != ST_FREE) conn_close((int)fd);
  }
  close(lfd);
  close(epfd);
  return 0;
}
