/*
 * edgectl-delay: link latency without netem. It holds every packet of each netfilter queue it serves
 * for that queue's delay, then lets it go on, in arrival order.
 *
 * `edgectl provision` sends the packets a wired host receives from each peer (iptables mangle
 * PREROUTING, -j NFQUEUE --queue-bypass) to the queue of the route's one-way latency, and runs one
 * edgectl-delay per host for all of its queues. Only the packets' metadata is copied to user space
 * (NFQNL_COPY_META), GSO packets are queued whole (NFQA_CFG_F_GSO), a full queue lets packets pass
 * (NFQA_CFG_F_FAIL_OPEN), and with no edgectl-delay bound the rule's --queue-bypass lets them pass: a
 * dead helper never cuts a link, it only takes its delay away. On SIGTERM or SIGINT every held packet
 * is let go before the queues are unbound.
 *
 * Usage: edgectl-delay [--daemon] [--pidfile FILE] [--log FILE] QUEUE:DELAY_US[:JITTER_US[:LOSS_PPM]]...
 *        edgectl-delay --check QUEUE:DELAY_US...
 *        edgectl-delay --version
 *   QUEUE      netfilter queue number (0-65535)
 *   DELAY_US   how long each packet is held, in microseconds
 *   JITTER_US  a uniform variation of +-JITTER_US around DELAY_US (order is kept: a packet never
 *              leaves before the one queued ahead of it)
 *   LOSS_PPM   packets dropped on arrival, per million
 *   --daemon   once every queue is bound, go to the background (the foreground process then exits 0,
 *              so that an error binding a queue is the caller's exit status)
 *   --pidfile  write the serving process's pid there (after binding)
 *   --log      append messages there instead of stderr (with --daemon: else /dev/null)
 *   --check    bind and configure the queues as a run would, then unbind them and exit 0: whether this
 *              host can serve them (nfnetlink_queue there, GSO and fail-open supported, queues free)
 * Exit codes: 0 stopped by a signal (or --daemon started), 1 a queue could not be served, 2 usage.
 *
 * Built by scripts/install-host-deps.sh (gcc, libnetfilter-queue-dev) with EDGECTL_DELAY_VERSION set to
 * a hash of this file, which `edgectl-delay --version` prints so that a changed source is rebuilt.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <linux/netfilter.h>
#include <linux/netlink.h>
#include <libnetfilter_queue/libnetfilter_queue.h>

#ifndef EDGECTL_DELAY_VERSION
#define EDGECTL_DELAY_VERSION "dev"
#endif

#define MAX_QUEUES 64
/* The kernel holds at most this many packets per queue; so do we. */
#define QUEUE_MAXLEN 65536
#define RCVBUF_BYTES (64 * 1024 * 1024)

struct held {
  uint32_t id;
  int64_t due_ns;
};

struct queue {
  uint16_t num;
  int64_t delay_ns;
  int64_t jitter_ns;
  uint32_t loss_ppm;
  struct nfq_q_handle *qh;
  /* A ring of the packets held, in arrival (= id) order. */
  struct held *ring;
  size_t head, count;
  int64_t last_due_ns;
  uint64_t passed, dropped, overflow;
};

static struct queue queues[MAX_QUEUES];
static size_t nqueues;
static volatile sig_atomic_t stopping;
static FILE *logf;

static void say(const char *fmt, ...) {
  va_list ap;
  FILE *out = logf ? logf : stderr;
  va_start(ap, fmt);
  fputs("edgectl-delay: ", out);
  vfprintf(out, fmt, ap);
  fputc('\n', out);
  fflush(out);
  va_end(ap);
}

static int64_t now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (int64_t)t.tv_sec * 1000000000LL + t.tv_nsec;
}

/* xorshift64*: enough for jitter and loss, and no libc state shared with anything. */
static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;
static uint64_t rng(void) {
  rng_state ^= rng_state >> 12;
  rng_state ^= rng_state << 25;
  rng_state ^= rng_state >> 27;
  return rng_state * 0x2545f4914f6cdd1dULL;
}

static int parse_u64(const char *s, uint64_t max, uint64_t *out) {
  char *end;
  if (*s < '0' || *s > '9') return -1;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno || (*end && *end != ':') || v > max) return -1;
  *out = v;
  return (int)(end - s);
}

/* QUEUE:DELAY_US[:JITTER_US[:LOSS_PPM]] */
static int parse_spec(const char *arg, struct queue *q) {
  uint64_t v[4] = {0, 0, 0, 0};
  const uint64_t max[4] = {65535, 3600ULL * 1000000, 3600ULL * 1000000, 1000000};
  const char *p = arg;
  int i;
  for (i = 0; i < 4; i++) {
    int n = parse_u64(p, max[i], &v[i]);
    if (n < 0) return -1;
    p += n;
    if (*p == '\0') break;
    p++; /* ':' */
  }
  if (i == 0 || i == 4) return -1;
  memset(q, 0, sizeof *q);
  q->num = (uint16_t)v[0];
  q->delay_ns = (int64_t)v[1] * 1000;
  q->jitter_ns = (int64_t)v[2] * 1000;
  q->loss_ppm = (uint32_t)v[3];
  if (q->jitter_ns > q->delay_ns) return -1;
  return 0;
}

static int on_packet(struct nfq_q_handle *qh, struct nfgenmsg *msg, struct nfq_data *nfa, void *data) {
  (void)msg;
  struct queue *q = data;
  struct nfqnl_msg_packet_hdr *ph = nfq_get_msg_packet_hdr(nfa);
  if (!ph) return 0;
  uint32_t id = ntohl(ph->packet_id);
  if (q->loss_ppm && rng() % 1000000 < q->loss_ppm) {
    q->dropped++;
    return nfq_set_verdict(qh, id, NF_DROP, 0, NULL) < 0 ? -1 : 0;
  }
  if (q->count == QUEUE_MAXLEN) {
    /* Cannot happen while the kernel's queue is as long as ours; let it pass rather than lose it. */
    q->overflow++;
    return nfq_set_verdict(qh, id, NF_ACCEPT, 0, NULL) < 0 ? -1 : 0;
  }
  int64_t due = now_ns() + q->delay_ns;
  if (q->jitter_ns) due += (int64_t)(rng() % (uint64_t)(2 * q->jitter_ns + 1)) - q->jitter_ns;
  if (due < q->last_due_ns) due = q->last_due_ns;
  q->last_due_ns = due;
  struct held *h = &q->ring[(q->head + q->count) % QUEUE_MAXLEN];
  h->id = id;
  h->due_ns = due;
  q->count++;
  return 0;
}

/*
 * Lets go every packet whose time has come (all of them when `all`): one batch verdict per queue, which
 * the kernel applies to every packet of the queue up to that id (the ones dropped on arrival are gone).
 */
static void release(int64_t now, int all) {
  for (size_t i = 0; i < nqueues; i++) {
    struct queue *q = &queues[i];
    uint32_t last = 0;
    int any = 0;
    while (q->count && (all || q->ring[q->head].due_ns <= now)) {
      last = q->ring[q->head].id;
      any = 1;
      q->head = (q->head + 1) % QUEUE_MAXLEN;
      q->count--;
      q->passed++;
    }
    if (any && nfq_set_verdict_batch(q->qh, last, NF_ACCEPT) < 0)
      say("queue %u: verdict failed: %s", q->num, strerror(errno));
  }
}

static int64_t next_due(void) {
  int64_t next = INT64_MAX;
  for (size_t i = 0; i < nqueues; i++)
    if (queues[i].count && queues[i].ring[queues[i].head].due_ns < next) next = queues[i].ring[queues[i].head].due_ns;
  return next;
}

static void on_signal(int sig) {
  (void)sig;
  stopping = 1;
}

static void usage(FILE *out) {
  fputs("usage: edgectl-delay [--daemon] [--pidfile FILE] [--log FILE] QUEUE:DELAY_US[:JITTER_US[:LOSS_PPM]]...\n"
        "       edgectl-delay --check QUEUE:DELAY_US...\n"
        "       edgectl-delay --version\n",
        out);
}

static int write_pidfile(const char *path, pid_t pid) {
  char tmp[4096];
  if (snprintf(tmp, sizeof tmp, "%s.new", path) >= (int)sizeof tmp) return -1;
  FILE *f = fopen(tmp, "w");
  if (!f) return -1;
  fprintf(f, "%d\n", (int)pid);
  if (fclose(f) != 0) return -1;
  return rename(tmp, path);
}

int main(int argc, char **argv) {
  const char *pidfile = NULL, *logpath = NULL;
  int daemon = 0, check = 0;
  int i;
  for (i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--version")) {
      printf("edgectl-delay %s\n", EDGECTL_DELAY_VERSION);
      return 0;
    } else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      usage(stdout);
      return 0;
    } else if (!strcmp(argv[i], "--daemon")) {
      daemon = 1;
    } else if (!strcmp(argv[i], "--check")) {
      check = 1;
    } else if (!strcmp(argv[i], "--pidfile") && i + 1 < argc) {
      pidfile = argv[++i];
    } else if (!strcmp(argv[i], "--log") && i + 1 < argc) {
      logpath = argv[++i];
    } else if (argv[i][0] == '-') {
      usage(stderr);
      return 2;
    } else {
      if (nqueues == MAX_QUEUES) {
        fprintf(stderr, "edgectl-delay: at most %d queues\n", MAX_QUEUES);
        return 2;
      }
      if (parse_spec(argv[i], &queues[nqueues]) < 0) {
        fprintf(stderr, "edgectl-delay: bad queue '%s' (QUEUE:DELAY_US[:JITTER_US[:LOSS_PPM]], jitter <= delay)\n", argv[i]);
        return 2;
      }
      for (size_t k = 0; k < nqueues; k++)
        if (queues[k].num == queues[nqueues].num) {
          fprintf(stderr, "edgectl-delay: queue %u given twice\n", queues[k].num);
          return 2;
        }
      nqueues++;
    }
  }
  if (nqueues == 0) {
    usage(stderr);
    return 2;
  }
  if (logpath) {
    logf = fopen(logpath, "a");
    if (!logf) {
      fprintf(stderr, "edgectl-delay: cannot open %s: %s\n", logpath, strerror(errno));
      return 1;
    }
  }
  rng_state ^= (uint64_t)now_ns() ^ ((uint64_t)getpid() << 32);

  struct nfq_handle *h = nfq_open();
  if (!h) {
    say("cannot open nfnetlink_queue: %s (is the nfnetlink_queue module there, and are we root?)", strerror(errno));
    return 1;
  }
  for (size_t k = 0; k < nqueues; k++) {
    struct queue *q = &queues[k];
    q->ring = calloc(QUEUE_MAXLEN, sizeof *q->ring);
    if (!q->ring) {
      say("out of memory");
      return 1;
    }
    q->qh = nfq_create_queue(h, q->num, on_packet, q);
    if (!q->qh) {
      say("cannot bind queue %u: %s (another program serves it?)", q->num, strerror(errno));
      return 1;
    }
    if (nfq_set_mode(q->qh, NFQNL_COPY_META, 0) < 0 || nfq_set_queue_maxlen(q->qh, QUEUE_MAXLEN) < 0) {
      say("cannot configure queue %u: %s", q->num, strerror(errno));
      return 1;
    }
    uint32_t flags = NFQA_CFG_F_GSO | NFQA_CFG_F_FAIL_OPEN;
    if (nfq_set_queue_flags(q->qh, flags, flags) < 0) {
      say("queue %u: the kernel refused GSO and fail-open: %s", q->num, strerror(errno));
      return 1;
    }
  }
  if (check) {
    for (size_t k = 0; k < nqueues; k++) nfq_destroy_queue(queues[k].qh);
    nfq_close(h);
    printf("ok\n");
    return 0;
  }
  int fd = nfq_fd(h);
  nfnl_rcvbufsiz(nfq_nfnlh(h), RCVBUF_BYTES);
  int one = 1;
  /* A burst that overflows the socket must not stop us: the kernel's batch verdicts cover lost messages. */
  setsockopt(fd, SOL_NETLINK, NETLINK_NO_ENOBUFS, &one, sizeof one);

  if (daemon) {
    pid_t child = fork();
    if (child < 0) {
      say("fork: %s", strerror(errno));
      return 1;
    }
    if (child > 0) {
      if (pidfile && write_pidfile(pidfile, child) < 0) {
        fprintf(stderr, "edgectl-delay: cannot write %s: %s\n", pidfile, strerror(errno));
        kill(child, SIGTERM);
        return 1;
      }
      return 0;
    }
    setsid();
    int null = open("/dev/null", O_RDWR);
    if (null >= 0) {
      dup2(null, 0);
      dup2(null, 1);
      dup2(null, 2);
      if (null > 2) close(null);
    }
    /* Nothing of the caller's (an SSH session's pipes) may stay open here. */
    for (int k = 3; k < 1024; k++)
      if (k != fd && (!logf || k != fileno(logf))) close(k);
  } else if (pidfile && write_pidfile(pidfile, getpid()) < 0) {
    say("cannot write %s: %s", pidfile, strerror(errno));
    return 1;
  }

  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGHUP, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);

  for (size_t k = 0; k < nqueues; k++)
    say("queue %u: delay %" PRId64 " us, jitter %" PRId64 " us, loss %u ppm", queues[k].num,
        queues[k].delay_ns / 1000, queues[k].jitter_ns / 1000, queues[k].loss_ppm);

  static char buf[65536] __attribute__((aligned));
  while (!stopping) {
    int64_t now = now_ns(), next = next_due();
    struct timespec ts, *tsp = NULL;
    if (next != INT64_MAX) {
      int64_t wait = next > now ? next - now : 0;
      ts.tv_sec = wait / 1000000000LL;
      ts.tv_nsec = wait % 1000000000LL;
      tsp = &ts;
    }
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    int r = ppoll(&pfd, 1, tsp, NULL);
    if (r < 0 && errno != EINTR) {
      say("poll: %s", strerror(errno));
      break;
    }
    if (r > 0) {
      for (;;) {
        ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
        if (n < 0) {
          if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR && errno != ENOBUFS)
            say("recv: %s", strerror(errno));
          break;
        }
        nfq_handle_packet(h, buf, (int)n);
      }
    }
    release(now_ns(), 0);
  }
  release(0, 1);
  for (size_t k = 0; k < nqueues; k++) {
    say("queue %u: %" PRIu64 " passed, %" PRIu64 " dropped (loss), %" PRIu64 " passed undelayed (full)",
        queues[k].num, queues[k].passed, queues[k].dropped, queues[k].overflow);
    nfq_destroy_queue(queues[k].qh);
  }
  nfq_close(h);
  if (pidfile) unlink(pidfile);
  return 0;
}
