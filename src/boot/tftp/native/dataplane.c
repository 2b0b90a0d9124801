/*
 * TFTP data plane: the DATA/ACK phase of one read transfer (RFC 1350 §2, RFC 2347 OACK, RFC 7440
 * windows) on its own thread, with blocking socket calls, as a Node-API addon.
 *
 * Why native: lock-step TFTP is one round trip per block, and on a Node event loop every block
 * costs an epoll wake, a JS callback and a dgram send (docs/benchmarks.md, "Findings"). A thread
 * that blocks in recvfrom() and answers with one sendmsg() does two system calls per block, and a
 * thread per transfer lets the kernel spread concurrent transfers over the cores like tftp-hpa's
 * process per transfer does.
 *
 * Division of work: JavaScript (src/boot/tftp/native-transfer.ts) does everything before and
 * after the data phase: request decoding, path policy, option negotiation (it hands us the OACK
 * bytes), opening the file, metrics and logs. This file only moves blocks. It follows the same
 * protocol as the JavaScript data plane (src/boot/tftp/js-transfer.ts, whose module comment is the
 * specification): window [lastAcked+1 … lastAcked+windowsize], go-back on an ACK inside the window
 * except below the resend mark, duplicate ACKs never resend (only the timer does), RFC 6298-shaped
 * adaptive RTO with Karn's rule, give-up after `retries` timeouts AND `giveUpMs` of silence,
 * ERROR 5 to foreign TIDs, 16-bit block numbers wrapping 65535 → 0.
 *
 * Threads and ownership: start() (main thread) creates and binds the socket and allocates every
 * buffer; the transfer thread only uses them; queuing the "done" event is the thread's last use
 * of the transfer (it keeps a copy of the threadsafe function to release it), and the event's
 * handler (main thread) closes the socket and frees the transfer. The JS handle is a Node-API
 * external over a small box that outlives the transfer: after "done" abort()/stats() on it throw,
 * and its finalizer frees the box. The file descriptor stays owned by JavaScript, which closes it
 * after "done". abort() (main thread) sets a flag and shuts the socket down, which wakes a blocked
 * recvfrom() on Linux; the socket number cannot be reused before "done" because only the done
 * handler closes it.
 *
 * Netascii from disk (RFC 1350: LF → CR LF, CR → CR NUL) is converted here, sequentially, as the
 * window advances (convert_netascii); rendered files arrive converted.
 *
 * JS API (see native.ts for the typed wrapper, which checks the exported names at load):
 *   doneCodes: string[]                    the "done" event's codes by name ("ok", "timeout", ...)
 *   statNames: string[]                    the counters of stats(), in their order
 *   start(opts, onEvent) → handle          throws TypeError (bad options) or Error (errno text)
 *   abort(handle, errorPacket: Buffer)     sends errorPacket to the client, ends the transfer
 *   stats(handle) → number[]               cumulative counters (statNames order), until "done"
 *   bufferedBytes() → number               read-ahead bytes all native transfers hold now
 *   onEvent({type: 'retransmit', retry, rtoMs, block}), once {type: 'acked'} at the client's
 *   first ACK (the read-ahead buffer is mapped only then, within budgetBytes), and, exactly once,
 *   onEvent({type: 'done', code, bytes, blocks, detail})
 *
 * Busy-poll: after each send the thread may spin on a non-blocking recvfrom() for up to
 * `busyPollUs` before it blocks, while fewer transfers run than there are CPUs, and only as long as
 * at least half of its spins catch the answer (else it stops spinning for SPIN_BACKOFF waits).
 */
#define _GNU_SOURCE
#define NAPI_VERSION 8
#include <node_api.h>
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

/* How a transfer ended: the "done" event's `code`, by name. The names are exported at load
   (`doneCodes`) and native.ts checks them against the ones it handles. */
#define DONE_CODES(X)                 \
  X(END_OK, "ok")                     \
  X(END_TIMEOUT, "timeout")           \
  X(END_CLIENT_ERROR, "client-error") \
  X(END_IO_ERROR, "io-error")         \
  X(END_SOCKET_ERROR, "socket-error") \
  X(END_ABORTED, "aborted")
/* Counters of stats(): bytes sent, blocks retransmitted, datagrams dropped by reason, datagrams
   received, busy-poll hits. Exported at load (`statNames`, the order of stats()). */
#define STATS(X)                          \
  X(STAT_BYTES, "bytes")                  \
  X(STAT_RETRANSMITTED, "retransmitted")  \
  X(STAT_TRUNCATED, "truncated")          \
  X(STAT_OVERSIZED, "oversized")          \
  X(STAT_UNKNOWN_OPCODE, "unknown-opcode") \
  X(STAT_UNKNOWN_TID, "unknown-tid")      \
  X(STAT_UNEXPECTED, "unexpected")        \
  X(STAT_RECEIVED, "received")            \
  X(STAT_SPIN_HITS, "spin-hits")
#define ENUM_ENTRY(id, name) id,
#define NAME_ENTRY(id, name) name,
enum { DONE_CODES(ENUM_ENTRY) END_COUNT };
enum { STATS(ENUM_ENTRY) STAT_COUNT };
static const char *const done_names[END_COUNT] = {DONE_CODES(NAME_ENTRY)};
static const char *const stat_names[STAT_COUNT] = {STATS(NAME_ENTRY)};

#define OP_RRQ 1
#define OP_WRQ 2
#define OP_DATA 3
#define OP_ACK 4
#define OP_ERROR 5
#define OP_OACK 6
#define MAX_REQUEST_SIZE 1024
#define MAX_DATA_SIZE (4 + 65464)
#define MAX_SMALL_PACKET_SIZE 1024
#define RECV_BUF 2048
/* Bytes of a window sent back to back before yielding the CPU (a receiver with a small socket
   buffer, atftp at blksize 8192, drains between bursts; see js-transfer.ts JsTransfer.burst). */
#define BURST_BYTES (64 * 1024)
#define DETAIL_MAX 240
/* Busy-poll self-check: of every SPIN_SAMPLE spins, at least half must catch their datagram, or
   spinning is off for the next SPIN_BACKOFF waits (a slow link or client: spinning only burns CPU). */
#define SPIN_SAMPLE 64
#define SPIN_BACKOFF 1024
#define THREAD_STACK (256 * 1024)
/* Netascii from disk: raw bytes read per pread before conversion. */
#define RAW_BUF (16 * 1024)
/* Before the client's first ACK its source address is unproven (a spoofed RRQ names a victim):
   at most this many retransmissions then (issue 16 finding 9). */
#define PRE_ACK_RETRANSMITS 2
/* ERROR 5 replies to foreign TIDs: a token bucket per transfer, ERR_BURST at once, refilled at
   ERR_PER_S per second, so a transfer socket cannot be used to reflect a flood at a third party. */
#define ERR_BURST 4
#define ERR_PER_S 4

typedef struct {
  int type; /* 0 retransmit, 1 done */
  double a, b, c;
  char detail[DETAIL_MAX];
} event_t;

struct transfer;
/* What the JS handle (a Node-API external) points to. The transfer is freed after "done" while
   JS may still hold the handle: the handle then reads NULL and abort()/stats() refuse it; the
   external's finalizer frees this box (and unlinks it from a transfer still running). Main thread only. */
typedef struct handle {
  struct transfer *t;
} handle_t;

typedef struct transfer {
  /* Set by start(), read-only afterwards. */
  int sock;
  int fd;                    /* file to pread from, or -1 for data */
  int netascii;              /* fd is converted to netascii (RFC 1350: LF → CR LF, CR → CR NUL) */
  const uint8_t *data;       /* in-memory file (rendered), kept alive by data_ref */
  size_t data_len;
  napi_ref data_ref;
  struct sockaddr_in client;
  uint32_t blksize, windowsize, nslots;
  uint8_t *oack;
  size_t oack_len;
  double min_rto, max_rto, give_up_ms;
  double max_silence_ms;     /* most silence after the first ACK, whatever the timeout (config tftp.max-silence-ms) */
  double first_ack_ms;       /* most wait for the first ACK (config tftp.first-ack-timeout-ms) */
  size_t budget_bytes;       /* the read-ahead budget all native transfers share */
  double busy_poll_ms;       /* spin this long for the answer to a send before blocking; 0: never */
  uint32_t max_retries;
  napi_threadsafe_function tsfn;

  /* Buffers (allocated by start(), used by the thread). */
  uint8_t *buf;              /* nslots * blksize bytes of file data from block buf_first */
  uint8_t *buf_small;        /* the start-up buffer (one block, no OACK) once buf is mapped; freed by free_transfer */
  uint32_t want_slots;       /* slots asked for by start(), mapped after the first ACK within the budget */
  struct mmsghdr *msgs;      /* windowsize */
  struct iovec *iov;         /* 2 per message: header, payload */
  uint8_t *hdrs;             /* 4 bytes per message */
  uint8_t *rbuf;             /* RECV_BUF */
  uint8_t *raw;              /* netascii: RAW_BUF bytes read from the file, not yet converted */
  handle_t *handle;          /* the JS handle's box, or NULL once its external was collected (main thread only) */

  /* Shared with the main thread. */
  atomic_int aborting;
  event_t done;              /* the "done" event: preallocated so it can never be lost */
  event_t rexmit;            /* the "retransmit" event; the thread never calls malloc */
  event_t acked;             /* the "acked" event (the client's first ACK), sent once */
  atomic_int rexmit_busy;    /* rexmit is queued and not yet delivered: a later notice is skipped */
  _Atomic double stats[STAT_COUNT];
  size_t reserved;           /* bytes of buf counted in `buffered` (read-ahead budget) */

  /* Thread state (absolute block numbers, 1-based; 0 = the OACK). */
  uint64_t last_acked, last_sent, send_from, resend_mark, last_block, buf_first, filled_up_to;
  int64_t slid_at;
  size_t buf_len;
  uint32_t retries;
  double rto, srtt, rttvar, sent_at, progress_at, deadline;
  int retransmitted;
  int cur_timeo_ms;
  int spin_armed;            /* the next wait follows a send: it may spin */
  unsigned spin_tries, spin_hits, spin_off;
  /* Netascii conversion state: file offset of the next raw read, unconverted raw bytes
     raw[raw_off … raw_len), the second byte of an expansion that did not fit (-1: none). */
  off_t raw_pos;
  size_t raw_off, raw_len;
  int raw_eof, pending;
  int verified;              /* the client has ACKed (its address is proven) */
  int buf_mapped;            /* buf was mapped by the thread after the first ACK (else malloc'd by start) */
  double err_tokens, err_at; /* ERROR 5 token bucket */
} transfer_t;

/* Online CPUs (set at load) and transfer threads running: threads busy-poll only while fewer
   transfers run than there are CPUs, so spinning never takes a core another transfer needs. */
static long online_cpus = 1;
static atomic_int running_threads;
/* Bytes of read-ahead buffers native transfers hold (reserved after their first ACK). */
static atomic_size_t buffered;

#ifdef STATELESX_RACE_HOOK
/* Test build only (scripts/build-native.mjs race): a pause, in µs from STATELESX_DATAPLANE_RACE_US,
   between a thread queuing its "done" event and its last act, so that the main thread handles
   "done" (and frees the transfer) inside that window; and freed transfers are poisoned, so a read
   of one after its free fails at once instead of by chance. */
static long race_us;
static void race_pause(void) {
  if (race_us > 0) usleep((useconds_t)race_us);
}
#define RACE_PAUSE() race_pause()
/* The barrier keeps the compiler from dropping the memset as a dead store before free(). */
#define RACE_POISON(p, n)                            \
  do {                                               \
    memset((p), 0xdb, (n));                          \
    __asm__ __volatile__("" : : "r"(p) : "memory"); \
  } while (0)
#else
#define RACE_PAUSE() ((void)0)
#define RACE_POISON(p, n) ((void)0)
#endif

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void stat_add(transfer_t *t, int i, double v) {
  double old = atomic_load_explicit(&t->stats[i], memory_order_relaxed);
  atomic_store_explicit(&t->stats[i], old + v, memory_order_relaxed); /* single writer: the thread */
}

/* Queues a "retransmit" notice (a debug log line), unless the previous one is still queued. The
   thread allocates nothing: a malloc here would give each transfer thread its own glibc arena. */
static void post_retransmit(transfer_t *t, double retry, double rto, double block) {
  if (atomic_exchange(&t->rexmit_busy, 1)) return;
  t->rexmit.type = 0;
  t->rexmit.a = retry;
  t->rexmit.b = rto;
  t->rexmit.c = block;
  t->rexmit.detail[0] = 0;
  napi_call_threadsafe_function(t->tsfn, &t->rexmit, napi_tsfn_blocking);
}

/* ---- socket I/O --------------------------------------------------------------------------- */

static void set_timeo(transfer_t *t, int ms) {
  if (ms < 1) ms = 1;
  if (ms == t->cur_timeo_ms) return;
  struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
  setsockopt(t->sock, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  t->cur_timeo_ms = ms;
}

static void send_to(transfer_t *t, const void *p, size_t n, const struct sockaddr_in *to) {
  /* A failed send (ENOBUFS, EPERM from a firewall) is a lost datagram: the timer recovers it. */
  (void)sendto(t->sock, p, n, 0, (const struct sockaddr *)to, sizeof *to);
}

static void send_error(transfer_t *t, int code, const char *msg, const struct sockaddr_in *to) {
  uint8_t p[128];
  size_t m = strlen(msg);
  if (m > sizeof p - 5) m = sizeof p - 5;
  p[0] = 0;
  p[1] = OP_ERROR;
  p[2] = (uint8_t)(code >> 8);
  p[3] = (uint8_t)code;
  memcpy(p + 4, msg, m);
  p[4 + m] = 0;
  send_to(t, p, m + 5, to);
}

/* What wait_packet() found. */
enum { W_TIMEOUT, W_ACK, W_ERROR, W_ABORT, W_SOCKET_ERROR };

/*
 * Waits until `deadline` for a datagram from the client. Foreign TIDs get ERROR 5 (RFC 1350 §4)
 * and malformed or unexpected datagrams are counted and dropped; neither ends the wait.
 * On W_ACK *ack is the 16-bit block; on W_ERROR `detail` describes the client's ERROR packet.
 */
static int wait_packet(transfer_t *t, uint16_t *ack, char *detail) {
  for (;;) {
    if (atomic_load(&t->aborting)) return W_ABORT;
    double remaining = t->deadline - now_ms();
    if (remaining <= 0) return W_TIMEOUT;
    int ms = (int)(remaining + 0.999);
    /* Keep the socket timeout unless it is too long (it would overshoot the deadline) or much
       too short: the steady state makes no setsockopt call per block. */
    if (t->cur_timeo_ms > ms + 1 || t->cur_timeo_ms * 2 < ms) set_timeo(t, ms);
    struct sockaddr_in from;
    socklen_t fl = sizeof from;
    ssize_t n = -1;
    int must_block = 1; /* still to do: the blocking recvfrom (unless the spin got a datagram or an error) */
    if (t->spin_armed) {
      /* Busy-poll (like Linux's SO_BUSY_POLL / haltpoll): on a fast link the ACK arrives within
         tens of µs, sooner than a sleeping thread is woken (most of a loopback round trip here,
         see docs/benchmarks.md); spin for it first, then block. */
      t->spin_armed = 0;
      if (t->spin_off > 0) {
        t->spin_off--;
      } else if (atomic_load(&running_threads) < online_cpus) {
        double until = now_ms() + t->busy_poll_ms;
        do {
          n = recvfrom(t->sock, t->rbuf, RECV_BUF, MSG_TRUNC | MSG_DONTWAIT, (struct sockaddr *)&from, &fl);
        } while (n < 0 && errno == EAGAIN && !atomic_load(&t->aborting) && now_ms() < until);
        must_block = n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
        t->spin_tries++;
        if (n >= 0) {
          t->spin_hits++;
          stat_add(t, STAT_SPIN_HITS, 1);
        }
        if (t->spin_tries == SPIN_SAMPLE) {
          if (t->spin_hits * 2 < SPIN_SAMPLE) t->spin_off = SPIN_BACKOFF;
          t->spin_tries = t->spin_hits = 0;
        }
      }
    }
    if (must_block) {
      fl = sizeof from;
      n = recvfrom(t->sock, t->rbuf, RECV_BUF, MSG_TRUNC, (struct sockaddr *)&from, &fl);
    }
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) continue;
      if (atomic_load(&t->aborting)) return W_ABORT;
      snprintf(detail, DETAIL_MAX, "receive failed: %s", strerror(errno));
      return W_SOCKET_ERROR;
    }
    if (atomic_load(&t->aborting)) return W_ABORT;
    if (fl < sizeof from || from.sin_family != AF_INET) continue;
    stat_add(t, STAT_RECEIVED, 1);
    if (from.sin_port != t->client.sin_port || from.sin_addr.s_addr != t->client.sin_addr.s_addr) {
      if (n == 0) continue; /* zero-length datagram, or the shutdown of abort() racing the flag */
      stat_add(t, STAT_UNKNOWN_TID, 1);
      double now = now_ms();
      t->err_tokens += (now - t->err_at) * ERR_PER_S / 1000;
      if (t->err_tokens > ERR_BURST) t->err_tokens = ERR_BURST;
      t->err_at = now;
      if (t->err_tokens >= 1) {
        t->err_tokens -= 1;
        send_error(t, 5, "Unknown transfer ID", &from);
      }
      continue;
    }
    const uint8_t *p = t->rbuf;
    size_t len = (size_t)n;
    if (len < 2) {
      stat_add(t, STAT_TRUNCATED, 1);
      continue;
    }
    int op = (p[0] << 8) | p[1];
    switch (op) {
      case OP_ACK:
        if (len < 4) stat_add(t, STAT_TRUNCATED, 1);
        else if (len > 4) stat_add(t, STAT_OVERSIZED, 1);
        else {
          *ack = (uint16_t)((p[2] << 8) | p[3]);
          return W_ACK;
        }
        continue;
      case OP_ERROR: {
        if (len < 4) {
          stat_add(t, STAT_TRUNCATED, 1);
          continue;
        }
        if (len > MAX_SMALL_PACKET_SIZE) {
          stat_add(t, STAT_OVERSIZED, 1);
          continue;
        }
        /* The client's message, up to its NUL, printable ASCII only, bounded. */
        char msg[128];
        size_t m = 0;
        for (size_t i = 4; i < len && p[i] != 0 && m < sizeof msg - 1; i++) msg[m++] = (p[i] >= 0x20 && p[i] < 0x7f) ? (char)p[i] : '?';
        msg[m] = 0;
        snprintf(detail, DETAIL_MAX, "client sent ERROR %d \"%s\"", (p[2] << 8) | p[3], msg);
        return W_ERROR;
      }
      case OP_RRQ:
      case OP_WRQ:
        stat_add(t, len > MAX_REQUEST_SIZE ? STAT_OVERSIZED : STAT_UNEXPECTED, 1);
        continue;
      case OP_DATA:
        stat_add(t, len < 4 ? STAT_TRUNCATED : len > MAX_DATA_SIZE ? STAT_OVERSIZED : STAT_UNEXPECTED, 1);
        continue;
      case OP_OACK:
        stat_add(t, len > MAX_SMALL_PACKET_SIZE ? STAT_OVERSIZED : STAT_UNEXPECTED, 1);
        continue;
      default:
        stat_add(t, STAT_UNKNOWN_OPCODE, 1);
        continue;
    }
  }
}

/* ---- timer (RFC 6298 shape; same constants as js-transfer.ts) -------------------------------- */

/* Arms the wait after a send: one RTO, but never past the silence the transfer may hold its slot
   (the first-ACK wait before the client's first ACK, max_silence_ms after). */
static void arm(transfer_t *t) {
  double now = now_ms();
  double cap = t->progress_at + (t->verified ? t->max_silence_ms : t->first_ack_ms);
  t->deadline = now + t->rto < cap ? now + t->rto : cap;
}

static void reset_rto(transfer_t *t) {
  if (t->srtt < 0) return;
  double var4 = 4 * t->rttvar;
  double rto = ceil(t->srtt + (var4 > 1 ? var4 : 1));
  if (rto < t->min_rto) rto = t->min_rto;
  if (rto > t->max_rto) rto = t->max_rto;
  t->rto = rto;
}

static void sample_rtt(transfer_t *t, double ms) {
  if (t->srtt < 0) {
    t->srtt = ms;
    t->rttvar = ms / 2;
  } else {
    double d = t->srtt - ms;
    t->rttvar = 0.75 * t->rttvar + 0.25 * (d < 0 ? -d : d);
    t->srtt = 0.875 * t->srtt + 0.125 * ms;
  }
  reset_rto(t);
}

/* ---- blocks ------------------------------------------------------------------------------- */

/*
 * Netascii: converts the file sequentially into buf. The blocks from `first` that are already
 * converted (first … filled_up_to) move to the front of buf; conversion continues after them, so
 * the stream position at buf's end is always (buf_first − 1) × blksize + buf_len. Returns the
 * converted bytes now in buf (fewer than `want` at the end of the file), or -1 on a read error.
 */
static ssize_t convert_netascii(transfer_t *t, uint64_t first, size_t want, char *detail) {
  size_t got = 0;
  size_t off = (size_t)(first - t->buf_first) * t->blksize;
  if (off < t->buf_len) {
    got = t->buf_len - off;
    memmove(t->buf, t->buf + off, got);
  }
  while (got < want) {
    if (t->pending >= 0) {
      t->buf[got++] = (uint8_t)t->pending;
      t->pending = -1;
      continue;
    }
    if (t->raw_off >= t->raw_len) {
      if (t->raw_eof) break;
      ssize_t n = pread(t->fd, t->raw, RAW_BUF, t->raw_pos);
      if (n < 0) {
        if (errno == EINTR) continue;
        snprintf(detail, DETAIL_MAX, "read error: %s", strerror(errno));
        return -1;
      }
      if (n == 0) {
        t->raw_eof = 1;
        break;
      }
      t->raw_pos += n;
      t->raw_off = 0;
      t->raw_len = (size_t)n;
    }
    uint8_t c = t->raw[t->raw_off++];
    if (c == '\n' || c == '\r') {
      uint8_t second = c == '\n' ? '\n' : 0;
      t->buf[got++] = '\r';
      if (got < want) t->buf[got++] = second;
      else t->pending = second;
    } else {
      t->buf[got++] = c;
    }
  }
  return (ssize_t)got;
}

/* Makes blocks last_acked+1 … last_acked+nslots available (or up to the last block).
   Returns 0, or -1 with `detail` set on a read error. */
static int fill(transfer_t *t, char *detail) {
  uint64_t first = t->last_acked + 1;
  if (t->netascii) {
    size_t want = (size_t)t->nslots * t->blksize;
    ssize_t got = convert_netascii(t, first, want, detail);
    if (got < 0) return -1;
    t->buf_first = first;
    t->buf_len = (size_t)got;
    if ((size_t)got < want) {
      t->last_block = first + (size_t)got / t->blksize;
      t->filled_up_to = t->last_block;
    } else {
      t->filled_up_to = first + t->nslots - 1;
    }
    return 0;
  }
  if (t->fd < 0) {
    /* In memory: a file of n bytes has n / blksize + 1 blocks, the last one short (maybe empty). */
    t->last_block = t->data_len / t->blksize + 1;
    t->filled_up_to = t->last_block;
    return 0;
  }
  size_t want = (size_t)t->nslots * t->blksize;
  size_t got = 0;
  off_t pos = (off_t)(first - 1) * t->blksize;
  while (got < want) {
    ssize_t n = pread(t->fd, t->buf + got, want - got, pos + (off_t)got);
    if (n < 0) {
      if (errno == EINTR) continue;
      snprintf(detail, DETAIL_MAX, "read error: %s", strerror(errno));
      return -1;
    }
    if (n == 0) break;
    got += (size_t)n;
  }
  t->buf_first = first;
  t->buf_len = got;
  if (got < want) {
    t->last_block = first + got / t->blksize;
    t->filled_up_to = t->last_block;
  } else {
    t->filled_up_to = first + t->nslots - 1;
  }
  return 0;
}

/* Payload of block b (which must be available) and its length. */
static const uint8_t *block(transfer_t *t, uint64_t b, size_t *len) {
  if (t->fd < 0) {
    size_t off = (size_t)(b - 1) * t->blksize;
    size_t n = off >= t->data_len ? 0 : t->data_len - off;
    *len = n < t->blksize ? n : t->blksize;
    return t->data + (off < t->data_len ? off : t->data_len);
  }
  size_t off = (size_t)(b - t->buf_first) * t->blksize;
  size_t n = off >= t->buf_len ? 0 : t->buf_len - off;
  *len = n < t->blksize ? n : t->blksize;
  return t->buf + off;
}

/* Sends blocks start … end, BURST_BYTES at a time with sendmmsg(). */
static void send_blocks(transfer_t *t, uint64_t start, uint64_t end) {
  uint64_t b = start;
  while (b <= end) {
    unsigned k = 0;
    size_t bytes = 0;
    for (; b <= end && k < t->windowsize && bytes < BURST_BYTES; b++, k++) {
      size_t len;
      const uint8_t *payload = block(t, b, &len);
      uint8_t *h = t->hdrs + 4 * k;
      h[0] = 0;
      h[1] = OP_DATA;
      h[2] = (uint8_t)((b >> 8) & 0xff);
      h[3] = (uint8_t)(b & 0xff);
      t->iov[2 * k].iov_base = h;
      t->iov[2 * k].iov_len = 4;
      t->iov[2 * k + 1].iov_base = (void *)payload;
      t->iov[2 * k + 1].iov_len = len;
      struct msghdr *mh = &t->msgs[k].msg_hdr;
      memset(mh, 0, sizeof *mh);
      mh->msg_name = &t->client;
      mh->msg_namelen = sizeof t->client;
      mh->msg_iov = &t->iov[2 * k];
      mh->msg_iovlen = 2;
      bytes += len;
    }
    if (k == 1) {
      (void)sendmsg(t->sock, &t->msgs[0].msg_hdr, 0);
    } else {
      unsigned sent = 0;
      while (sent < k) {
        int r = sendmmsg(t->sock, t->msgs + sent, k - sent, 0);
        if (r <= 0) break; /* lost datagrams: the timer or a go-back ACK recovers them */
        sent += (unsigned)r;
      }
    }
    stat_add(t, STAT_BYTES, (double)bytes);
    if (b <= end) sched_yield();
  }
  if (end > t->last_sent) t->last_sent = end;
}

/*
 * Sends [send_from … last_acked+windowsize] (clipped to the last block), reading first when those
 * blocks are not in the buffer. Returns 0, or -1 with `detail` on a read error.
 */
static int pump(transfer_t *t, char *detail) {
  uint64_t end = t->last_acked + t->windowsize;
  if (end > t->last_block) end = t->last_block;
  /* Refilling from last_acked+1 keeps every block the window may resend: send_from never goes
     below last_acked+1, and last_acked only grows. */
  if (end > t->filled_up_to) {
    if (fill(t, detail) < 0) return -1;
    end = t->last_acked + t->windowsize;
    if (end > t->last_block) end = t->last_block;
  }
  uint64_t start = t->send_from;
  if (start > end) return 0;
  double now = now_ms();
  if (start <= t->last_sent) {
    t->retransmitted = 1;
    uint64_t upto = end < t->last_sent ? end : t->last_sent;
    stat_add(t, STAT_RETRANSMITTED, (double)(upto - start + 1));
    t->resend_mark = end > t->last_sent ? end : t->last_sent;
  } else {
    t->retransmitted = 0;
    t->sent_at = now;
  }
  t->send_from = end + 1;
  send_blocks(t, start, end);
  arm(t);
  t->spin_armed = t->busy_poll_ms > 0;
  return 0;
}

/* ---- the transfer ------------------------------------------------------------------------- */

/*
 * The client's first ACK: its address is proven. Tells JS ("acked": the server's count of
 * unverified transfers), and only now maps the read-ahead buffer, sized within the budget all
 * native transfers share (at least one window, which the server bounds in bytes). Before this a
 * transfer holds no buffer (OACK) or one 512-byte block (plain RFC 1350 start: DATA 1).
 * Returns 0, or -1 with `detail` when the buffer cannot be mapped.
 */
static int verify(transfer_t *t, char *detail) {
  t->verified = 1;
  t->acked.type = 2;
  napi_call_threadsafe_function(t->tsfn, &t->acked, napi_tsfn_blocking);
  if (t->fd < 0) return 0;
  size_t block = t->blksize, want = (size_t)t->want_slots * block, least = (size_t)t->windowsize * block;
  size_t used = atomic_load(&buffered), take;
  do {
    size_t room = used < t->budget_bytes ? t->budget_bytes - used : 0;
    take = want < room ? want : room;
    if (take < least) take = least;
    take -= take % block;
  } while (!atomic_compare_exchange_weak(&buffered, &used, used + take));
  /* mmap, not malloc: a malloc on this thread would give it its own glibc arena. */
  void *p = mmap(NULL, take, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) {
    atomic_fetch_sub(&buffered, take);
    snprintf(detail, DETAIL_MAX, "cannot map a %zu-byte read-ahead buffer: %s", take, strerror(errno));
    return -1;
  }
  /* Nothing in the start-up buffer is needed any more: every block in it is acknowledged (no
     OACK: DATA 1, the only one it held; OACK: nothing was read), so conversion just continues. */
  t->buf_small = t->buf;
  t->buf = p;
  t->buf_mapped = 1;
  t->reserved = take;
  t->nslots = (uint32_t)(take / block);
  t->buf_first = t->last_acked + 1;
  t->buf_len = 0;
  t->filled_up_to = t->last_acked;
  return 0;
}

/* Timeout without progress: back off and resend, or give up. Returns 1 when the transfer ends. */
static int on_timeout(transfer_t *t, int in_oack, char *detail) {
  t->retries++;
  double silent = now_ms() - t->progress_at;
  int give_up = t->verified ? (t->retries > t->max_retries && silent >= t->give_up_ms) || silent >= t->max_silence_ms
                            : t->retries > (t->max_retries < PRE_ACK_RETRANSMITS ? t->max_retries : PRE_ACK_RETRANSMITS) ||
                                  silent >= t->first_ack_ms;
  if (give_up) {
    if (in_oack)
      snprintf(detail, DETAIL_MAX, "no ACK of the OACK after %u retransmissions over %.1f s", t->retries - 1, silent / 1000);
    else
      snprintf(detail, DETAIL_MAX, "no ACK of block %llu after %u retransmissions over %.1f s",
               (unsigned long long)(t->last_acked + 1), t->retries - 1, silent / 1000);
    return 1;
  }
  t->rto = t->rto * 2 > t->max_rto ? t->max_rto : t->rto * 2;
  post_retransmit(t, t->retries, t->rto, (double)(t->last_acked + 1));
  return 0;
}

/* Runs the transfer; returns its END_* code with `detail` (and the block count in *blocks). */
static int run(transfer_t *t, char *detail) {
  uint16_t ack16 = 0;
  t->progress_at = now_ms();
  t->err_at = t->progress_at;
  if (t->oack) {
    t->sent_at = now_ms();
    t->retransmitted = 0;
    send_to(t, t->oack, t->oack_len, &t->client);
    arm(t);
    t->spin_armed = t->busy_poll_ms > 0;
    for (;;) {
      int w = wait_packet(t, &ack16, detail);
      if (w == W_ABORT) return END_ABORTED;
      if (w == W_SOCKET_ERROR) return END_SOCKET_ERROR;
      if (w == W_ERROR) return END_CLIENT_ERROR;
      if (w == W_TIMEOUT) {
        if (on_timeout(t, 1, detail)) return END_TIMEOUT;
        t->retransmitted = 1;
        stat_add(t, STAT_RETRANSMITTED, 1);
        send_to(t, t->oack, t->oack_len, &t->client);
        arm(t);
        continue;
      }
      if (ack16 != 0) continue;
      t->retries = 0;
      t->progress_at = now_ms();
      if (!t->retransmitted) sample_rtt(t, now_ms() - t->sent_at);
      if (verify(t, detail) < 0) return END_IO_ERROR;
      break;
    }
  }
  t->retransmitted = 0;
  t->send_from = 1;
  if (pump(t, detail) < 0) return END_IO_ERROR;
  for (;;) {
    int w = wait_packet(t, &ack16, detail);
    if (w == W_ABORT) return END_ABORTED;
    if (w == W_SOCKET_ERROR) return END_SOCKET_ERROR;
    if (w == W_ERROR) return END_CLIENT_ERROR;
    if (w == W_TIMEOUT) {
      if (on_timeout(t, 0, detail)) return END_TIMEOUT;
      t->send_from = t->last_acked + 1;
      if (pump(t, detail) < 0) return END_IO_ERROR;
      continue;
    }
    uint64_t abs = t->last_acked + (uint16_t)(ack16 - (uint16_t)(t->last_acked & 0xffff));
    if (abs == t->last_acked && (int64_t)abs == t->slid_at) {
      /* The first ACK of this block only slid the window (it came after a resend); the client
         repeating it means the gap after it is real: go back once, never again for this block. */
      t->slid_at = -1;
      t->send_from = abs + 1;
      if (pump(t, detail) < 0) return END_IO_ERROR;
      continue;
    }
    if (abs == t->last_acked || abs > t->last_sent) continue; /* duplicate or stale: the timer resends */
    if (!t->verified && verify(t, detail) < 0) return END_IO_ERROR;
    t->last_acked = abs;
    t->retries = 0;
    t->progress_at = now_ms();
    if (!t->retransmitted) sample_rtt(t, t->progress_at - t->sent_at);
    else reset_rto(t);
    if (abs == t->last_block) return END_OK;
    if (abs < t->last_sent && abs < t->resend_mark) {
      t->slid_at = (int64_t)abs;
      t->send_from = t->last_sent + 1;
    } else {
      t->slid_at = -1;
      t->send_from = abs + 1;
    }
    if (pump(t, detail) < 0) return END_IO_ERROR;
  }
}

static void *thread_main(void *arg) {
  transfer_t *t = arg;
  char detail[DETAIL_MAX] = "";
  atomic_fetch_add(&running_threads, 1);
  int code = run(t, detail);
  atomic_fetch_sub(&running_threads, 1);
  if (code == END_ABORTED) detail[0] = 0;
  double blocks = t->last_block == UINT64_MAX ? 0 : (double)t->last_block;
  t->done.type = 1;
  t->done.a = code;
  t->done.b = atomic_load(&t->stats[STAT_BYTES]);
  t->done.c = code == END_OK ? blocks : 0;
  snprintf(t->done.detail, sizeof t->done.detail, "%s", detail);
  /* Once "done" is queued the main thread may free the transfer at any moment (call_js): read
     nothing from it after the queuing call. The threadsafe function itself lives on until this
     thread's release (it holds the only thread reference), so the copy stays valid. */
  napi_threadsafe_function tsfn = t->tsfn;
  napi_call_threadsafe_function(tsfn, &t->done, napi_tsfn_blocking);
  RACE_PAUSE();
  napi_release_threadsafe_function(tsfn, napi_tsfn_release);
  return NULL;
}

/* ---- Node-API glue ------------------------------------------------------------------------ */

static void free_transfer(napi_env env, transfer_t *t) {
  if (t->handle) t->handle->t = NULL; /* the JS handle outlives the transfer: it now refuses calls */
  if (t->sock >= 0) close(t->sock);
  if (env && t->data_ref) napi_delete_reference(env, t->data_ref);
  if (t->buf_mapped) {
    munmap(t->buf, t->reserved);
    atomic_fetch_sub(&buffered, t->reserved);
  } else {
    free(t->buf);
  }
  free(t->buf_small);
  free(t->msgs);
  free(t->iov);
  free(t->hdrs);
  free(t->rbuf);
  free(t->raw);
  free(t->oack);
  RACE_POISON(t, sizeof *t);
  free(t);
}

/* Finalizer of the JS handle (a Node-API external): frees its box, unlinking a running transfer. */
static void handle_finalize(napi_env env, void *data, void *hint) {
  handle_t *h = data;
  if (h->t) h->t->handle = NULL;
  free(h);
}

static int set_number(napi_env env, napi_value obj, const char *key, double v) {
  napi_value x;
  return napi_create_double(env, v, &x) == napi_ok && napi_set_named_property(env, obj, key, x) == napi_ok ? 0 : -1;
}
static int set_string(napi_env env, napi_value obj, const char *key, const char *v) {
  napi_value x;
  return napi_create_string_utf8(env, v, NAPI_AUTO_LENGTH, &x) == napi_ok &&
                 napi_set_named_property(env, obj, key, x) == napi_ok
             ? 0
             : -1;
}

/* The event object JS receives (see native.ts DataPlaneEvent), or NULL when Node-API failed. */
static napi_value event_object(napi_env env, const event_t *e) {
  napi_value o;
  if (napi_create_object(env, &o) != napi_ok) return NULL;
  int bad;
  if (e->type == 2) {
    bad = set_string(env, o, "type", "acked");
  } else if (e->type == 1) {
    int code = (int)e->a;
    bad = set_string(env, o, "type", "done") || set_string(env, o, "code", done_names[code]) ||
          set_number(env, o, "bytes", e->b) || set_number(env, o, "blocks", e->c) ||
          set_string(env, o, "detail", e->detail);
  } else {
    bad = set_string(env, o, "type", "retransmit") || set_number(env, o, "retry", e->a) ||
          set_number(env, o, "rtoMs", e->b) || set_number(env, o, "block", e->c);
  }
  return bad ? NULL : o;
}

static void call_js(napi_env env, napi_value cb, void *ctx, void *data) {
  transfer_t *t = ctx;
  event_t *e = data;
  if (env && cb) {
    if (e->type == 1) {
      /* The thread is past its last use of the transfer: release the socket before JS sees "done". */
      close(t->sock);
      t->sock = -1;
    }
    napi_value undef, argv[1];
    napi_get_undefined(env, &undef);
    argv[0] = event_object(env, e);
    if (argv[0]) napi_call_function(env, undef, cb, 1, argv, NULL);
  }
  if (e->type == 1) free_transfer(env, t); /* e is t->done */
  else if (e->type == 0) atomic_store(&t->rexmit_busy, 0);
}

static int get_u32(napi_env env, napi_value obj, const char *key, uint32_t *out) {
  napi_value v;
  if (napi_get_named_property(env, obj, key, &v) != napi_ok) return -1;
  return napi_get_value_uint32(env, v, out) == napi_ok ? 0 : -1;
}
static int get_f64(napi_env env, napi_value obj, const char *key, double *out) {
  napi_value v;
  if (napi_get_named_property(env, obj, key, &v) != napi_ok) return -1;
  return napi_get_value_double(env, v, out) == napi_ok ? 0 : -1;
}
static int get_i32(napi_env env, napi_value obj, const char *key, int32_t *out) {
  napi_value v;
  if (napi_get_named_property(env, obj, key, &v) != napi_ok) return -1;
  return napi_get_value_int32(env, v, out) == napi_ok ? 0 : -1;
}
/* An optional boolean: absent or undefined is false. */
static int get_bool(napi_env env, napi_value obj, const char *key, int *out) {
  napi_value v;
  napi_valuetype ty;
  bool b = false;
  if (napi_get_named_property(env, obj, key, &v) != napi_ok || napi_typeof(env, v, &ty) != napi_ok) return -1;
  if (ty != napi_undefined && napi_get_value_bool(env, v, &b) != napi_ok) return -1;
  *out = b;
  return 0;
}
static int get_addr(napi_env env, napi_value obj, const char *key, struct in_addr *out) {
  napi_value v;
  char s[64];
  size_t n;
  if (napi_get_named_property(env, obj, key, &v) != napi_ok) return -1;
  if (napi_get_value_string_utf8(env, v, s, sizeof s, &n) != napi_ok) return -1;
  return inet_pton(AF_INET, s, out) == 1 ? 0 : -1;
}
/* A Buffer property: its bytes and length, or *p = NULL when absent or not a Buffer. -1 on a Node-API failure. */
static int get_buffer(napi_env env, napi_value obj, const char *key, napi_value *v, void **p, size_t *n) {
  bool is_buf = false;
  *p = NULL;
  *n = 0;
  if (napi_get_named_property(env, obj, key, v) != napi_ok || napi_is_buffer(env, *v, &is_buf) != napi_ok) return -1;
  if (!is_buf) return 0;
  return napi_get_buffer_info(env, *v, p, n) == napi_ok ? 0 : -1;
}

/* Reads start()'s options into t (and the addresses). Returns NULL, or the TypeError message. */
static const char *read_options(napi_env env, napi_value o, transfer_t *t, struct in_addr *local) {
  struct in_addr client;
  uint32_t client_port, nslots, retries;
  int32_t fd;
  double rto, give_up, busy_us, budget;
  if (get_addr(env, o, "localAddress", local) || get_addr(env, o, "clientAddress", &client) ||
      get_u32(env, o, "clientPort", &client_port) || get_i32(env, o, "fd", &fd) ||
      get_bool(env, o, "netascii", &t->netascii) || get_u32(env, o, "blksize", &t->blksize) ||
      get_u32(env, o, "windowsize", &t->windowsize) || get_u32(env, o, "slots", &nslots) ||
      get_f64(env, o, "rtoMs", &rto) || get_f64(env, o, "minRtoMs", &t->min_rto) ||
      get_f64(env, o, "maxRtoMs", &t->max_rto) || get_u32(env, o, "maxRetries", &retries) ||
      get_f64(env, o, "giveUpMs", &give_up) || get_f64(env, o, "busyPollUs", &busy_us) ||
      get_f64(env, o, "maxSilenceMs", &t->max_silence_ms) || get_f64(env, o, "firstAckMs", &t->first_ack_ms) ||
      get_f64(env, o, "budgetBytes", &budget))
    return "tftp dataplane: invalid start options";
  if (client_port == 0 || client_port > 65535 || t->blksize < 8 || t->blksize > 65464 || t->windowsize < 1 ||
      t->windowsize > 64 || nslots > 4096)
    return "tftp dataplane: start options out of range";
  t->fd = fd;
  t->max_retries = retries;
  t->give_up_ms = give_up;
  t->busy_poll_ms = busy_us > 0 ? busy_us / 1000 : 0; /* given in µs */
  t->budget_bytes = budget > 0 ? (size_t)budget : 0;
  t->err_tokens = ERR_BURST;
  t->rto = rto;
  t->client.sin_family = AF_INET;
  t->client.sin_addr = client;
  t->client.sin_port = htons((uint16_t)client_port);
  t->want_slots = nslots < t->windowsize ? t->windowsize : nslots;
  t->nslots = 1; /* until the first ACK: DATA 1 of a transfer without OACK (windowsize 1) */
  return NULL;
}

/*
 * start(opts, onEvent) → handle. Every failure frees what it allocated and throws: TypeError for
 * bad options, Error naming the step (bind, allocation, thread) otherwise.
 */
static napi_value js_start(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], v, name, handle;
  const char *type_error = NULL, *error = "tftp dataplane: Node-API call failed";
  char msg[160];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 2) {
    napi_throw_type_error(env, NULL, "start(opts, onEvent)");
    return NULL;
  }
  napi_value o = argv[0];
  transfer_t *t = calloc(1, sizeof *t);
  handle_t *box = NULL;
  if (!t) {
    napi_throw_error(env, "ENOMEM", "cannot allocate a transfer");
    return NULL;
  }
  t->sock = -1;
  t->srtt = -1;
  t->slid_at = -1;
  t->last_block = UINT64_MAX;
  t->cur_timeo_ms = -1;
  t->pending = -1;
  struct in_addr local;
  if ((type_error = read_options(env, o, t, &local))) goto fail;

  void *p;
  size_t n;
  if (get_buffer(env, o, "data", &v, &p, &n)) goto fail;
  if (p) {
    t->data = p;
    t->data_len = n;
    t->fd = -1;
    t->netascii = 0; /* in-memory data comes converted */
    if (napi_create_reference(env, v, 1, &t->data_ref) != napi_ok) goto fail;
  } else if (t->fd < 0) {
    type_error = "tftp dataplane: neither fd nor data";
    goto fail;
  }
  if (get_buffer(env, o, "oack", &v, &p, &n)) goto fail;
  if (p) {
    error = "cannot allocate transfer buffers";
    if (!(t->oack = malloc(n))) goto fail;
    memcpy(t->oack, p, n);
    t->oack_len = n;
  }
  error = "cannot allocate transfer buffers";
  /* Before the first ACK: one block for DATA 1 without an OACK, nothing with one (verify() maps the rest). */
  if (t->fd >= 0 && !t->oack && !(t->buf = malloc(t->blksize))) goto fail;
  if (t->netascii && !(t->raw = malloc(RAW_BUF))) goto fail;
  if (!(t->msgs = calloc(t->windowsize, sizeof *t->msgs)) || !(t->iov = calloc(2 * (size_t)t->windowsize, sizeof *t->iov)) ||
      !(t->hdrs = malloc(4 * (size_t)t->windowsize)) || !(t->rbuf = malloc(RECV_BUF)))
    goto fail;

  t->sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in me;
  memset(&me, 0, sizeof me);
  me.sin_family = AF_INET;
  me.sin_addr = local;
  if (t->sock < 0 || bind(t->sock, (struct sockaddr *)&me, sizeof me) < 0) {
    snprintf(msg, sizeof msg, "cannot bind transfer socket: %s", strerror(errno));
    error = msg;
    goto fail;
  }

  /* The handle exists before the thread does: nothing can fail once the thread runs. */
  error = "tftp dataplane: Node-API call failed";
  if (!(box = calloc(1, sizeof *box))) goto fail;
  if (napi_create_external(env, box, handle_finalize, NULL, &handle) != napi_ok) {
    free(box);
    goto fail;
  }
  box->t = t; /* from here the finalizer owns the box; free_transfer unlinks it */
  t->handle = box;
  if (napi_create_string_utf8(env, "tftp-transfer", NAPI_AUTO_LENGTH, &name) != napi_ok) goto fail;
  if (napi_create_threadsafe_function(env, argv[1], NULL, name, 0, 1, NULL, NULL, t, call_js, &t->tsfn) != napi_ok) {
    error = "tftp dataplane: cannot create the event channel";
    goto fail;
  }
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, THREAD_STACK);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  pthread_t th;
  int rc = pthread_create(&th, &attr, thread_main, t);
  pthread_attr_destroy(&attr);
  if (rc != 0) {
    napi_release_threadsafe_function(t->tsfn, napi_tsfn_abort);
    snprintf(msg, sizeof msg, "cannot start a transfer thread: %s", strerror(rc));
    error = msg;
    goto fail;
  }
  return handle;

fail:
  free_transfer(env, t);
  if (type_error) napi_throw_type_error(env, NULL, type_error);
  else napi_throw_error(env, NULL, error);
  return NULL;
}

/* The running transfer of handle argv[0] (of `want` arguments), or NULL with an error thrown: a
   TypeError naming `usage` for a bad call, an Error once the transfer has ended. */
static transfer_t *handle_of(napi_env env, napi_callback_info info, size_t want, napi_value *argv, const char *usage) {
  size_t argc = want;
  void *p = NULL;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < want ||
      napi_get_value_external(env, argv[0], &p) != napi_ok || !p) {
    napi_throw_type_error(env, NULL, usage);
    return NULL;
  }
  transfer_t *t = ((handle_t *)p)->t;
  if (!t) napi_throw_error(env, NULL, "tftp dataplane: the transfer has ended");
  return t;
}

static napi_value js_abort(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  transfer_t *t = handle_of(env, info, 2, argv, "abort(handle, errorPacket)");
  if (!t) return NULL;
  void *p;
  size_t n;
  bool is_buf = false;
  if (napi_is_buffer(env, argv[1], &is_buf) == napi_ok && is_buf && napi_get_buffer_info(env, argv[1], &p, &n) == napi_ok && n > 0)
    send_to(t, p, n, &t->client);
  atomic_store(&t->aborting, 1);
  shutdown(t->sock, SHUT_RDWR); /* wakes a recvfrom() blocked in the thread */
  return NULL;
}

static napi_value js_stats(napi_env env, napi_callback_info info) {
  napi_value argv[1], arr, v;
  transfer_t *t = handle_of(env, info, 1, argv, "stats(handle)");
  if (!t) return NULL;
  if (napi_create_array_with_length(env, STAT_COUNT, &arr) != napi_ok) goto fail;
  for (uint32_t i = 0; i < STAT_COUNT; i++) {
    if (napi_create_double(env, atomic_load_explicit(&t->stats[i], memory_order_relaxed), &v) != napi_ok ||
        napi_set_element(env, arr, i, v) != napi_ok)
      goto fail;
  }
  return arr;
fail:
  napi_throw_error(env, NULL, "tftp dataplane: Node-API call failed");
  return NULL;
}

/* bufferedBytes() → bytes of read-ahead buffers all native transfers hold (the shared budget's use). */
static napi_value js_buffered(napi_env env, napi_callback_info info) {
  napi_value v;
  if (napi_create_double(env, (double)atomic_load(&buffered), &v) != napi_ok) return NULL;
  return v;
}

/* A frozen-by-convention array of C strings as a JS string array, or NULL. */
static napi_value string_array(napi_env env, const char *const *names, uint32_t count) {
  napi_value arr, v;
  if (napi_create_array_with_length(env, count, &arr) != napi_ok) return NULL;
  for (uint32_t i = 0; i < count; i++)
    if (napi_create_string_utf8(env, names[i], NAPI_AUTO_LENGTH, &v) != napi_ok || napi_set_element(env, arr, i, v) != napi_ok)
      return NULL;
  return arr;
}

static napi_value init(napi_env env, napi_value exports) {
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  online_cpus = n > 0 ? n : 1;
#ifdef STATELESX_RACE_HOOK
  const char *race = getenv("STATELESX_DATAPLANE_RACE_US");
  race_us = race ? atol(race) : 0;
#endif
  napi_value done_codes = string_array(env, done_names, END_COUNT);
  napi_value stat_list = string_array(env, stat_names, STAT_COUNT);
  if (!done_codes || !stat_list) {
    napi_throw_error(env, NULL, "tftp dataplane: cannot export its names");
    return NULL;
  }
  napi_property_descriptor props[] = {
      {"start", NULL, js_start, NULL, NULL, NULL, napi_default, NULL},
      {"abort", NULL, js_abort, NULL, NULL, NULL, napi_default, NULL},
      {"stats", NULL, js_stats, NULL, NULL, NULL, napi_default, NULL},
      {"bufferedBytes", NULL, js_buffered, NULL, NULL, NULL, napi_default, NULL},
      {"doneCodes", NULL, NULL, NULL, NULL, done_codes, napi_enumerable, NULL},
      {"statNames", NULL, NULL, NULL, NULL, stat_list, napi_enumerable, NULL},
  };
  if (napi_define_properties(env, exports, sizeof props / sizeof props[0], props) != napi_ok) {
    napi_throw_error(env, NULL, "tftp dataplane: cannot define its exports");
    return NULL;
  }
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
