/*
 * Zero-copy HTTP boot bodies: sendfile(2) from a file descriptor into a TCP socket that Node owns,
 * on one sender thread (a Node-API addon, built by scripts/build-native.mjs beside the TFTP data
 * plane into build/Release/http_sendfile.node; src/boot/http/sendfile.ts loads it and falls back
 * to the user-space copy of file-stream.ts when it is missing).
 *
 * JS API (main thread only):
 *   start(socketFd, fileFd, offset, length, onDone) -> handle
 *     Sends `length` bytes of `fileFd` from `offset` into the socket. The socket descriptor is
 *     dup()ed at once: Node may close its own descriptor (client gone, server closing) while the
 *     thread still sends, and the number can never be reused under the thread. `fileFd` is not
 *     owned: the caller keeps it open until onDone ran. onDone(sent, code, errno) is called exactly
 *     once on the main thread: `sent` = bytes the socket accepted, code "ok" | "cancelled" |
 *     "socket-error" (errno set: EPIPE, ECONNRESET, ...) | "short-file" (the file ended before
 *     `length` bytes: it shrank while being served) | "io-error" (sendfile failed on the file side).
 *   cancel(handle)
 *     Ends the send as soon as the thread sees it (onDone with "cancelled" unless it had already
 *     finished); a no-op after onDone.
 *
 * The sender thread is started on first use and runs an epoll loop: a new job is sent to at once
 * until the socket is full (EAGAIN: the socket is non-blocking, its status flags are shared with
 * Node's descriptor), then waits for EPOLLOUT (edge-triggered). The kernel bounds each call by the
 * free space in the socket buffer, so one client cannot starve the others. An eventfd wakes the loop
 * for new jobs and cancellations.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <node_api.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/sendfile.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <unistd.h>

/* Largest single sendfile call; the socket's free space bounds it further. */
#define MAX_CALL (4u << 20)
#define THREAD_STACK (128u << 10)

typedef enum { SF_OK, SF_CANCELLED, SF_SOCKET, SF_SHORT, SF_IO } result_t;
static const char *const result_names[] = {"ok", "cancelled", "socket-error", "short-file", "io-error"};

typedef struct job {
  int sock; /* dup of Node's socket descriptor, owned */
  int file; /* not owned */
  off_t off;
  uint64_t left;
  uint64_t sent;
  result_t result;
  int err;
  atomic_int cancel;
  bool polled; /* registered with epoll */
  napi_threadsafe_function tsfn;
  struct box *box; /* main thread only */
  struct job *next, *prev; /* the thread's active list, or the incoming list (next only) */
} job_t;

/* What the JS handle points at: outlives the job (cleared when onDone runs), freed by the GC. */
typedef struct box {
  job_t *job;
} box_t;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static job_t *incoming; /* under lock */
static int epfd = -1, wakefd = -1;
static bool started; /* under lock */
static job_t *active; /* sender thread only */

static void wake(void) {
  uint64_t one = 1;
  ssize_t r = write(wakefd, &one, sizeof one);
  (void)r; /* EAGAIN: the counter is already non-zero, the thread will wake */
}

/* Sender thread: the job is over; hand it to the main thread. */
static void finish(job_t *j, result_t r, int err) {
  if (j->polled) epoll_ctl(epfd, EPOLL_CTL_DEL, j->sock, NULL);
  int off = 0; /* uncork: the last partial segment goes now (Node writes again after this) */
  setsockopt(j->sock, IPPROTO_TCP, TCP_CORK, &off, sizeof off);
  close(j->sock);
  j->sock = -1;
  if (j->prev) j->prev->next = j->next;
  else if (active == j) active = j->next;
  if (j->next) j->next->prev = j->prev;
  j->next = j->prev = NULL;
  j->result = r;
  j->err = err;
  napi_threadsafe_function tsfn = j->tsfn; /* j belongs to the main thread once queued */
  napi_call_threadsafe_function(tsfn, j, napi_tsfn_blocking);
  napi_release_threadsafe_function(tsfn, napi_tsfn_release);
}

/* Sender thread: sends until done, EAGAIN (returns false: keep waiting) or an error. */
static bool pump(job_t *j) {
  while (j->left > 0) {
    if (atomic_load_explicit(&j->cancel, memory_order_relaxed)) {
      finish(j, SF_CANCELLED, 0);
      return true;
    }
    size_t want = j->left < MAX_CALL ? (size_t)j->left : MAX_CALL;
    ssize_t n = sendfile(j->sock, j->file, &j->off, want);
    if (n > 0) {
      j->sent += (uint64_t)n;
      j->left -= (uint64_t)n;
      continue;
    }
    if (n == 0) {
      finish(j, SF_SHORT, 0);
      return true;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN) return false;
    int e = errno;
    /* EBADF/EINVAL/EIO/EOVERFLOW on the input side vs. the socket's own errors. */
    bool sock_err = e == EPIPE || e == ECONNRESET || e == ENOTCONN || e == ETIMEDOUT || e == EHOSTUNREACH ||
                    e == ENETUNREACH || e == ECONNABORTED;
    finish(j, sock_err ? SF_SOCKET : SF_IO, e);
    return true;
  }
  finish(j, SF_OK, 0);
  return true;
}

/* Sender thread: takes the new jobs, sends to each until its socket is full, and ends cancelled ones. */
static void on_wake(void) {
  uint64_t v;
  ssize_t r = read(wakefd, &v, sizeof v);
  (void)r;
  pthread_mutex_lock(&lock);
  job_t *list = incoming;
  incoming = NULL;
  pthread_mutex_unlock(&lock);
  while (list) {
    job_t *nj = list;
    list = list->next;
    nj->prev = NULL;
    nj->next = active;
    if (active) active->prev = nj;
    active = nj;
    /* Full segments only while the body goes out (nginx's tcp_nopush): fewer, larger packets. */
    int on = 1;
    setsockopt(nj->sock, IPPROTO_TCP, TCP_CORK, &on, sizeof on);
    if (pump(nj)) continue;
    struct epoll_event ev = {.events = EPOLLOUT | EPOLLET, .data.ptr = nj};
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, nj->sock, &ev) == 0) nj->polled = true;
    else finish(nj, SF_SOCKET, errno);
  }
  /* The wake-up is rare (a new job or a cancel): the scan is short. */
  for (job_t *a = active, *next; a; a = next) {
    next = a->next;
    if (atomic_load_explicit(&a->cancel, memory_order_relaxed)) finish(a, SF_CANCELLED, 0);
  }
}

static void *thread_main(void *arg) {
  (void)arg;
  pthread_setname_np(pthread_self(), "sx-sendfile"); /* top -H, /proc/<pid>/task/<tid>/comm */
  struct epoll_event evs[64];
  for (;;) {
    int n = epoll_wait(epfd, evs, 64, -1);
    if (n < 0) continue; /* EINTR */
    bool woken = false;
    /* Socket events first: a job ended by on_wake() is freed by the main thread, so no event of
       this batch may be looked at after it. EPOLLERR/EPOLLHUP too: sendfile reports the error. */
    for (int i = 0; i < n; i++) {
      job_t *j = evs[i].data.ptr;
      if (j) pump(j);
      else woken = true;
    }
    if (woken) on_wake();
  }
  return NULL;
}

/* Main thread: deliver onDone and free the job. */
static void call_js(napi_env env, napi_value cb, void *ctx, void *data) {
  job_t *j = data;
  if (j->box) j->box->job = NULL;
  if (env && cb) {
    napi_value argv[3], undef;
    napi_create_double(env, (double)j->sent, &argv[0]);
    napi_create_string_utf8(env, result_names[j->result], NAPI_AUTO_LENGTH, &argv[1]);
    napi_create_int32(env, j->err, &argv[2]);
    napi_get_undefined(env, &undef);
    napi_call_function(env, undef, cb, 3, argv, NULL);
  }
  free(j);
}

static void box_finalize(napi_env env, void *data, void *hint) {
  box_t *b = data;
  if (b->job) b->job->box = NULL;
  free(b);
}

/* Starts the sender thread once; false with `why` set when it cannot. */
static bool ensure_thread(const char **why) {
  pthread_mutex_lock(&lock);
  bool ok = started;
  if (!ok) {
    *why = "http sendfile: cannot create the epoll set";
    epfd = epoll_create1(EPOLL_CLOEXEC);
    wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
    if (epfd >= 0 && wakefd >= 0 && epoll_ctl(epfd, EPOLL_CTL_ADD, wakefd, &ev) == 0) {
      pthread_attr_t attr;
      pthread_attr_init(&attr);
      pthread_attr_setstacksize(&attr, THREAD_STACK);
      pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
      pthread_t th;
      ok = pthread_create(&th, &attr, thread_main, NULL) == 0;
      pthread_attr_destroy(&attr);
      if (!ok) *why = "http sendfile: cannot start the sender thread";
    }
    if (!ok) {
      if (epfd >= 0) close(epfd);
      if (wakefd >= 0) close(wakefd);
      epfd = wakefd = -1;
    }
    started = ok;
  }
  pthread_mutex_unlock(&lock);
  return ok;
}

static napi_value js_start(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5], handle, name;
  int32_t sock, file;
  double off, len;
  napi_valuetype cbt;
  const char *why = NULL;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 5 ||
      napi_get_value_int32(env, argv[0], &sock) != napi_ok || napi_get_value_int32(env, argv[1], &file) != napi_ok ||
      napi_get_value_double(env, argv[2], &off) != napi_ok || napi_get_value_double(env, argv[3], &len) != napi_ok ||
      napi_typeof(env, argv[4], &cbt) != napi_ok || cbt != napi_function || sock < 0 || file < 0 || !(off >= 0) ||
      !(len >= 0) || off > 9007199254740991.0 || len > 9007199254740991.0) {
    napi_throw_type_error(env, NULL, "start(socketFd, fileFd, offset, length, onDone)");
    return NULL;
  }
  if (!ensure_thread(&why)) {
    napi_throw_error(env, NULL, why);
    return NULL;
  }
  job_t *j = calloc(1, sizeof *j);
  box_t *b = calloc(1, sizeof *b);
  if (!j || !b) {
    free(j);
    free(b);
    napi_throw_error(env, NULL, "http sendfile: out of memory");
    return NULL;
  }
  j->file = file;
  j->off = (off_t)off;
  j->left = (uint64_t)len;
  j->sock = fcntl(sock, F_DUPFD_CLOEXEC, 0);
  if (j->sock < 0) {
    char msg[128];
    snprintf(msg, sizeof msg, "http sendfile: cannot duplicate socket %d: %s", sock, strerror(errno));
    free(j);
    free(b);
    napi_throw_error(env, NULL, msg);
    return NULL;
  }
  if (napi_create_string_utf8(env, "http-sendfile", NAPI_AUTO_LENGTH, &name) != napi_ok ||
      napi_create_threadsafe_function(env, argv[4], NULL, name, 0, 1, NULL, NULL, NULL, call_js, &j->tsfn) != napi_ok) {
    close(j->sock);
    free(j);
    free(b);
    napi_throw_error(env, NULL, "http sendfile: cannot create the completion channel");
    return NULL;
  }
  if (napi_create_external(env, b, box_finalize, NULL, &handle) != napi_ok) {
    napi_release_threadsafe_function(j->tsfn, napi_tsfn_abort);
    close(j->sock);
    free(j);
    free(b);
    napi_throw_error(env, NULL, "http sendfile: Node-API call failed");
    return NULL;
  }
  b->job = j;
  j->box = b;
  pthread_mutex_lock(&lock);
  j->next = incoming;
  incoming = j;
  pthread_mutex_unlock(&lock);
  wake();
  return handle;
}

static napi_value js_cancel(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  void *p = NULL;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1 ||
      napi_get_value_external(env, argv[0], &p) != napi_ok || !p) {
    napi_throw_type_error(env, NULL, "cancel(handle)");
    return NULL;
  }
  job_t *j = ((box_t *)p)->job; /* NULL once onDone ran: the job is freed only on this thread */
  if (j) {
    atomic_store(&j->cancel, 1);
    wake();
  }
  return NULL;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_value codes, v;
  if (napi_create_array_with_length(env, 5, &codes) != napi_ok) return NULL;
  for (uint32_t i = 0; i < 5; i++)
    if (napi_create_string_utf8(env, result_names[i], NAPI_AUTO_LENGTH, &v) != napi_ok ||
        napi_set_element(env, codes, i, v) != napi_ok)
      return NULL;
  napi_property_descriptor props[] = {
      {"start", NULL, js_start, NULL, NULL, NULL, napi_default, NULL},
      {"cancel", NULL, js_cancel, NULL, NULL, NULL, napi_default, NULL},
      {"resultCodes", NULL, NULL, NULL, NULL, codes, napi_enumerable, NULL},
  };
  if (napi_define_properties(env, exports, sizeof props / sizeof props[0], props) != napi_ok) {
    napi_throw_error(env, NULL, "http sendfile: cannot define its exports");
    return NULL;
  }
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
