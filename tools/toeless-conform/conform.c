/*
 * toeless-conform: runs the libtoeless API contract against a backend and
 * reports each case in TAP (and JUnit XML on request).  See
 * doc/conformance.md.
 *
 *   toeless-conform --backend SPEC [--junit FILE] [--exclude FILE]...
 *                   [--only GLOB]... [--seed N] [--iter F] [--timeout-ms N]
 *                   [--time-factor F] [--case-limit S] [--thorough] [--no-fork]
 *                   [--devsim PATH [--devsim-fault NAME=VALUE]...]
 *                   [--via HOST:PORT --target-listen HOST:PORT]
 *                   [--netns NS --peer-netns NS --target-listen ADDR:PORT]
 *                   [--list] [-v]
 *
 * Exit status: 0 every case that ran passed; 1 a case failed (or the
 * backend could not be opened); 77 nothing could run (the backend's device
 * is absent, or every case was skipped); 2 bad usage.
 *
 * This file is the framework: options, the case runner (each case in a
 * child process unless --no-fork), reporting, resources, connections, PDUs,
 * posts.  The cases are in cases-*.c.
 *
 * SPDX-License-Identifier: MIT
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../common/hostport.h"
#include "conform.h"

/* ---- the case table: the order is the report's ---- */

static const struct cf_case cf_cases[] = {
	{ "device.open", "device opens, capabilities are consistent, close refuses while busy", case_device_open },
	{ "crc.vectors", "RFC 3720 B.4 vectors and chaining, synchronous helpers", case_crc_vectors },
	{ "crc.async.vectors", "RFC 3720 B.4 vectors through asynchronous CRC requests", case_crc_async_vectors },
	{ "crc.async.sizes", "every length 0..2112 and large ones, random bytes, vs a bitwise CRC",
	  case_crc_async_sizes },
	{ "crc.async.iov", "random iovec lists, zero-length entries, seeds, registered memory", case_crc_async_iov },
	{ "crc.async.queue_full", "submission beyond what the engine takes; each request completes once",
	  case_crc_async_queue_full },
	{ "crc.async.lengths", "lengths on both sides of every power of two, past the largest segment; chained seeds",
	  case_crc_async_lengths },
	{ "crc.async.iov_count", "iovec counts up to and past caps.max_sge, small and >= 2 MiB requests",
	  case_crc_async_iov_count },
	{ "place.basic", "one Data-In into one posted buffer, with and without digests", case_place_basic },
	{ "place.random", "random PDU sizes, offsets, order, SGLs and TCP segmentation, digests checked",
	  case_place_random },
	{ "place.engine", "an engine advertising DDP places whole PDUs that arrived whole", case_place_engine },
	{ "place.digest_error", "a bad data digest is never reported good; a bad header digest fails the context",
	  case_place_digest_error },
	{ "place.bad_offset", "Data-In outside the SGL, overlapping, or for no post: nothing written outside",
	  case_place_bad_offset },
	{ "place.params", "digests switched on after login; placement follows", case_place_params },
	{ "place.sizes",
	  "every pad, both sides of every power of two to max_recv_dsl: good, bad data and header digests",
	  case_place_sizes },
	{ "place.sge_counts", "SGE counts up to caps.max_sge placed by one PDU; one more refused",
	  case_place_sge_counts },
	{ "tx.digests",
	  "toeless_pdu_send: header and data digests on the wire right, engine or host; no engine without CRC_TX",
	  case_tx_digests },
	{ "tx.engine", "an engine advertising TOELESS_CAP_CRC_TX inserts the digests of a fresh context",
	  case_tx_engine },
	{ "cancel.outstanding", "cancel with posts outstanding: one -ECANCELED each, buffers untouched after",
	  case_cancel_outstanding },
	{ "cancel.mid_pdu", "cancel while a Data-In is half received", case_cancel_mid_pdu },
	{ "destroy.outstanding", "destroy with posts outstanding: one -ECANCELED each, nothing after",
	  case_destroy_outstanding },
	{ "completion.rules", "one completion per post with the right status, fields and counters",
	  case_completion_rules },
	{ "limits.sge", "caps.max_sge SGEs accepted and placed into, one more refused", case_limits_sge },
	{ "limits.tasks", "caps.max_tasks posts accepted and completed, one more refused", case_limits_tasks },
	{ "limits.contexts", "caps.max_contexts contexts work at once, one more refused", case_limits_contexts },
	{ "limits.recv_dsl", "PDUs of caps.max_recv_dsl bytes placed; longer ones refused", case_limits_recv_dsl },
	{ "queue.full", "a full task table refuses and recovers; a small CQ loses nothing", case_queue_full },
	{ "mr.register", "registered memory: placement, deregistration while in use", case_mr_register },
	{ "threads.contexts", "many contexts on several threads at once, one device", case_threads_contexts },
	{ "long.placements", "more than 65,536 posts and placements on one context (16-bit counters wrap)",
	  case_long_placements },
	{ "long.crc", "more than 65,536 asynchronous CRC requests on one device", case_long_crc },
};
#define CF_NCASES ((int)(sizeof(cf_cases) / sizeof(cf_cases[0])))

/* ---- options ---- */

static struct {
	const char *spec;
	const char *junit;
	const char *only[64];
	int n_only;
	struct cf_exclude {
		char *pattern;
		char *reason;
	} * excl;
	int n_excl;
	uint64_t seed;
	double scale;
	int timeout_ms;
	double time_factor;  /* every wait and deadline multiplied by it */
	double case_limit_s; /* a case running longer is killed and fails */
	bool no_fork;        /* run cases in this process (debugging) */
	bool thorough;
	int verbose;
	/* connections through a relay (a bump-in-the-wire device) */
	char via[256];
	char target_listen[256];
	/* connections across a wire device between two network namespaces:
	 * the library's side in netns, the target side's listener in peer_netns */
	const char *netns;
	const char *peer_netns;
	const char *devsim;
	const char *devsim_faults[32];
	int n_devsim_faults;
} opt = {
	.seed = 0x70e1e55,
	.scale = 1.0,
	.timeout_ms = 10000,
	.time_factor = 1.0,
	.case_limit_s = 300,
};

const char *cf_backend_spec;
static int cf_listener = -1; /* where our "target" side accepts */
static struct sockaddr_storage cf_connect_to;
static socklen_t cf_connect_len;
static pthread_mutex_t cf_conn_lock = PTHREAD_MUTEX_INITIALIZER;
static pid_t devsim_pid;
static char devsim_dir[PATH_MAX];
static char devsim_spec[PATH_MAX + 64];

/* ---- small helpers ---- */

static void *xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);
	if (!q) {
		fprintf(stderr, "toeless-conform: out of memory\n");
		exit(99);
	}
	return q;
}

static void append(char **buf, size_t *len, size_t *cap, const char *s)
{
	size_t n = strlen(s);
	if (*len + n + 2 > *cap) {
		*cap = (*len + n + 2) * 2;
		*buf = xrealloc(*buf, *cap);
	}
	memcpy(*buf + *len, s, n);
	*len += n;
	(*buf)[(*len)++] = '\n';
	(*buf)[*len] = '\0';
}

/* ---- reporting ---- */

/* The first failure is the case's message; later ones, and diagnostics,
 * are lines after it. */
static __attribute__((format(printf, 3, 0))) void report(struct cf_t *t, bool failure, const char *fmt, va_list ap)
{
	char m[1024];
	vsnprintf(m, sizeof(m), fmt, ap);
	pthread_mutex_lock(&t->lock);
	if (failure && !t->failed) {
		t->failed = true;
		snprintf(t->msg, sizeof(t->msg), "%s", m);
	} else if (t->diag_len < 64 * 1024) {
		char line[1100];
		snprintf(line, sizeof(line), "%s%s", failure ? "also: " : "", m);
		append(&t->diag, &t->diag_len, &t->diag_cap, line);
	}
	pthread_mutex_unlock(&t->lock);
}

void cf_fail(struct cf_t *t, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	report(t, true, fmt, ap);
	va_end(ap);
}

void cf_skip(struct cf_t *t, const char *fmt, ...)
{
	va_list ap;
	pthread_mutex_lock(&t->lock);
	if (!t->failed && !t->skipped) {
		t->skipped = true;
		va_start(ap, fmt);
		vsnprintf(t->msg, sizeof(t->msg), fmt, ap);
		va_end(ap);
	}
	pthread_mutex_unlock(&t->lock);
}

void cf_diag(struct cf_t *t, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	report(t, false, fmt, ap);
	va_end(ap);
}

bool cf_failed(struct cf_t *t)
{
	pthread_mutex_lock(&t->lock);
	bool f = t->failed;
	pthread_mutex_unlock(&t->lock);
	return f;
}

static const char *level_name(int level)
{
	switch (level) {
	case TOELESS_LOG_ERR: return "error";
	case TOELESS_LOG_WARN: return "warning";
	case TOELESS_LOG_INFO: return "info";
	default: return "debug";
	}
}

static void cf_log_cb(int level, const char *msg, void *arg)
{
	struct cf_t *t = arg;
	char line[600];
	snprintf(line, sizeof(line), "%s: %s", level_name(level), msg);
	if (opt.verbose > 1 || (opt.verbose && level <= TOELESS_LOG_WARN))
		fprintf(stderr, "# [%s] %s\n", t ? t->name : "-", line);
	if (!t)
		return;
	pthread_mutex_lock(&t->lock);
	if (level <= TOELESS_LOG_ERR && !t->log_errors++)
		snprintf(t->first_error, sizeof(t->first_error), "%s", msg);
	if (t->log_len > 16 * 1024) {
		/* keep the newest half */
		char *cut = strchr(t->log + t->log_len / 2, '\n');
		if (cut) {
			size_t keep = t->log_len - (size_t)(cut + 1 - t->log);
			memmove(t->log, cut + 1, keep + 1);
			t->log_len = keep;
		}
	}
	size_t cap = t->log_len + strlen(line) + 2;
	t->log = xrealloc(t->log, cap + 1);
	memcpy(t->log + t->log_len, line, strlen(line));
	t->log_len += strlen(line);
	t->log[t->log_len++] = '\n';
	t->log[t->log_len] = '\0';
	pthread_mutex_unlock(&t->lock);
}

/* ---- randomness ---- */

void cf_fill(void *buf, size_t len, uint64_t *s)
{
	uint8_t *p = buf;
	size_t i = 0;
	for (; i + 8 <= len; i += 8) {
		uint64_t v = cf_rand(s);
		memcpy(p + i, &v, 8);
	}
	if (i < len) {
		uint64_t v = cf_rand(s);
		memcpy(p + i, &v, len - i);
	}
}

unsigned cf_iter(struct cf_t *t, unsigned def)
{
	double v = def * t->scale;
	return v < 1.0 ? 1u : (unsigned)v;
}

/* ---- canary buffers ---- */

#define CF_CANARY 64

struct cf_alloc {
	struct cf_alloc *next;
	uint8_t *base;
	uint8_t *p;
	size_t len, front, total;
	uint8_t seed;
};

static uint8_t canary_byte(uint8_t seed, size_t i)
{
	return (uint8_t)(0xA5 ^ seed ^ (i * 31));
}

uint8_t *cf_alloc(struct cf_t *t, size_t len, size_t align)
{
	if (!align)
		align = t->caps.sge_align ? t->caps.sge_align : 1;
	if (align < 8)
		align = 8;
	struct cf_alloc *a = calloc(1, sizeof(*a));
	if (!a) {
		cf_fail(t, "out of memory");
		return NULL;
	}
	a->front = (CF_CANARY + align - 1) / align * align;
	a->len = len;
	a->total = a->front + len + CF_CANARY;
	if (posix_memalign((void **)&a->base, align, a->total)) {
		free(a);
		cf_fail(t, "out of memory (%zu bytes)", len);
		return NULL;
	}
	a->p = a->base + a->front;
	a->seed = (uint8_t)cf_trand(t);
	for (size_t i = 0; i < a->front; i++)
		a->base[i] = canary_byte(a->seed, i);
	for (size_t i = 0; i < CF_CANARY; i++)
		a->p[len + i] = canary_byte(a->seed, a->front + i);
	memset(a->p, 0x5A, len);
	pthread_mutex_lock(&t->lock);
	a->next = t->allocs;
	t->allocs = a;
	pthread_mutex_unlock(&t->lock);
	return a->p;
}

bool cf_canaries_ok(struct cf_t *t)
{
	bool ok = true;
	pthread_mutex_lock(&t->lock);
	struct cf_alloc *list = t->allocs;
	pthread_mutex_unlock(&t->lock);
	for (struct cf_alloc *a = list; a; a = a->next) {
		for (size_t i = 0; i < a->front; i++)
			if (a->base[i] != canary_byte(a->seed, i)) {
				cf_fail(t, "a byte %zu before a %zu-byte buffer given to the library was written",
					a->front - i, a->len);
				ok = false;
				break;
			}
		for (size_t i = 0; i < CF_CANARY; i++)
			if (a->p[a->len + i] != canary_byte(a->seed, a->front + i)) {
				cf_fail(t,
					"byte %zu past the end of a %zu-byte buffer given to the library was written",
					i, a->len);
				ok = false;
				break;
			}
	}
	return ok;
}

/* ---- case memory ---- */

struct cf_mem {
	struct cf_mem *prev, *next;
	size_t size;
	max_align_t data[];
};

#define MEM_OF(p) ((struct cf_mem *)((char *)(p)-offsetof(struct cf_mem, data)))

void *cf_tmalloc(struct cf_t *t, size_t n)
{
	struct cf_mem *m = malloc(sizeof(*m) + (n ? n : 1));
	if (!m) {
		fprintf(stderr, "toeless-conform: out of memory\n");
		exit(99);
	}
	m->size = n;
	m->prev = NULL;
	pthread_mutex_lock(&t->lock);
	m->next = t->mem;
	if (t->mem)
		t->mem->prev = m;
	t->mem = m;
	pthread_mutex_unlock(&t->lock);
	return m->data;
}

void cf_tfree(struct cf_t *t, void *p)
{
	if (!p)
		return;
	struct cf_mem *m = MEM_OF(p);
	pthread_mutex_lock(&t->lock);
	if (m->prev)
		m->prev->next = m->next;
	else
		t->mem = m->next;
	if (m->next)
		m->next->prev = m->prev;
	pthread_mutex_unlock(&t->lock);
	free(m);
}

void *cf_trealloc(struct cf_t *t, void *p, size_t n)
{
	void *q = cf_tmalloc(t, n);
	if (p) {
		size_t old = MEM_OF(p)->size;
		memcpy(q, p, old < n ? old : n);
		cf_tfree(t, p);
	}
	return q;
}

static void mem_release_all(struct cf_t *t)
{
	while (t->mem) {
		struct cf_mem *m = t->mem;
		t->mem = m->next;
		free(m);
	}
}

/* ---- byte buffers ---- */

void cf_buf_put(struct cf_buf *b, const void *data, size_t len)
{
	if (b->len + len > b->cap) {
		size_t cap = b->cap ? b->cap : 1024;
		while (cap < b->len + len)
			cap *= 2;
		b->p = b->t ? cf_trealloc(b->t, b->p, cap) : xrealloc(b->p, cap);
		b->cap = cap;
	}
	if (len)
		memcpy(b->p + b->len, data, len);
	b->len += len;
}

void cf_buf_free(struct cf_buf *b)
{
	struct cf_t *t = b->t;
	if (t)
		cf_tfree(t, b->p);
	else
		free(b->p);
	memset(b, 0, sizeof(*b));
	b->t = t;
}

/* ---- PDUs ---- */

void cf_bhs_scsi_rsp(uint8_t bhs[48], uint32_t itt, uint8_t response, uint8_t status, uint8_t flags, uint32_t residual)
{
	memset(bhs, 0, 48);
	bhs[0] = TOELESS_ISCSI_OP_SCSI_RSP;
	bhs[1] = (uint8_t)(TOELESS_ISCSI_FLAG_FINAL | flags);
	bhs[2] = response;
	bhs[3] = status;
	ref_put_be32(bhs + 16, itt);
	ref_put_be32(bhs + 24, 0x200);
	ref_put_be32(bhs + 28, 8);
	ref_put_be32(bhs + 32, 71);
	ref_put_be32(bhs + 44, residual);
}

void cf_bhs_nop_in(uint8_t bhs[48], uint32_t itt)
{
	memset(bhs, 0, 48);
	bhs[0] = TOELESS_ISCSI_OP_NOP_IN;
	bhs[1] = TOELESS_ISCSI_FLAG_FINAL;
	ref_put_be32(bhs + 16, itt);
	ref_put_be32(bhs + 20, 0xffffffff);
	ref_put_be32(bhs + 24, 0x300);
}

size_t cf_pdu_append(struct cf_buf *out, const uint8_t bhs[48], const void *data, uint32_t len, unsigned digests,
		     enum cf_corrupt corrupt)
{
	size_t n = ref_pdu_wire_len(0, len, digests);
	uint8_t *w = xrealloc(NULL, n);
	struct ref_pdu_layout at;
	ref_pdu_write(w, bhs, false, NULL, 0, data, len, digests, &at);
	if (corrupt == CF_CORRUPT_HDR_DIGEST && at.hdr_digest)
		w[at.hdr_digest + 1] ^= 0x10;
	if (corrupt == CF_CORRUPT_DATA_DIGEST && at.data_digest)
		w[at.data_digest + 2] ^= 0x01;
	if (corrupt == CF_CORRUPT_PAYLOAD && len)
		w[at.data + len / 2] ^= 0x40;
	cf_buf_put(out, w, n);
	free(w);
	return n;
}

/* ---- resources ---- */

enum cf_res_kind {
	RES_FD = 1,
	RES_CQ,
	RES_CTX,
	RES_MR,
	RES_WRITER,
};

struct cf_res {
	struct cf_res *next;
	enum cf_res_kind kind;
	void *obj; /* the object; NULL once released by the case */
	int fd;
};

static void res_add(struct cf_t *t, enum cf_res_kind kind, void *obj, int fd)
{
	struct cf_res *r = calloc(1, sizeof(*r));
	if (!r) {
		fprintf(stderr, "toeless-conform: out of memory\n");
		exit(99);
	}
	r->kind = kind;
	r->obj = obj;
	r->fd = fd;
	pthread_mutex_lock(&t->lock);
	r->next = t->res;
	t->res = r;
	pthread_mutex_unlock(&t->lock);
}

static void res_forget(struct cf_t *t, enum cf_res_kind kind, void *obj)
{
	pthread_mutex_lock(&t->lock);
	for (struct cf_res *r = t->res; r; r = r->next)
		if (r->kind == kind && r->obj == obj) {
			r->obj = NULL;
			break;
		}
	pthread_mutex_unlock(&t->lock);
}

void cf_track_fd(struct cf_t *t, int fd)
{
	res_add(t, RES_FD, NULL, fd);
}

toeless_cq *cf_cq(struct cf_t *t, uint32_t depth)
{
	struct toeless_cq_attr a;
	memset(&a, 0, sizeof(a));
	a.size = sizeof(a);
	a.depth = depth;
	toeless_cq *cq = NULL;
	int rc = toeless_cq_create(t->dev, &a, &cq);
	if (rc) {
		cf_fail(t, "toeless_cq_create(depth %u): %s", depth, toeless_strerror(rc));
		return NULL;
	}
	res_add(t, RES_CQ, cq, -1);
	return cq;
}

bool cf_mr(struct cf_t *t, void *addr, size_t len, toeless_mr **out)
{
	int rc = toeless_mr_reg(t->dev, addr, len, out);
	if (rc) {
		cf_fail(t, "toeless_mr_reg(%zu bytes): %s", len, toeless_strerror(rc));
		return false;
	}
	res_add(t, RES_MR, *out, -1);
	return true;
}

void cf_forget_mr(struct cf_t *t, toeless_mr *mr)
{
	res_forget(t, RES_MR, mr);
}

/* ---- connections ---- */

static int listen_on(const struct sockaddr_storage *ss, socklen_t len)
{
	int l = socket(ss->ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (l < 0)
		return -errno;
	int one = 1;
	setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(l, (const struct sockaddr *)ss, len) || listen(l, 64)) {
		int e = -errno;
		close(l);
		return e;
	}
	return l;
}

static int listener_port(int l)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	if (getsockname(l, (struct sockaddr *)&ss, &len))
		return -1;
	if (ss.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *)&ss)->sin_port);
	return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
}

static void set_nonblock(int fd, bool on)
{
	int fl = fcntl(fd, F_GETFL);
	fcntl(fd, F_SETFL, on ? fl | O_NONBLOCK : fl & ~O_NONBLOCK);
}

bool cf_socketpair(struct cf_t *t, int *fd, int *peer)
{
	pthread_mutex_lock(&cf_conn_lock);
	int c = socket(cf_connect_to.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int s = -1;
	const char *what = "socket";
	if (c < 0)
		goto fail;
	what = "connect";
	if (connect(c, (struct sockaddr *)&cf_connect_to, cf_connect_len))
		goto fail;
	/* a relay accepts ours, then connects to our listener */
	struct pollfd p = { .fd = cf_listener, .events = POLLIN };
	what = "accept (no connection from the relay)";
	if (poll(&p, 1, (int)(5000 * opt.time_factor)) != 1)
		goto fail;
	s = accept4(cf_listener, NULL, NULL, SOCK_CLOEXEC);
	if (s < 0)
		goto fail;
	pthread_mutex_unlock(&cf_conn_lock);
	int one = 1;
	setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	set_nonblock(c, true);
	*fd = c;
	*peer = s;
	cf_track_fd(t, c);
	cf_track_fd(t, s);
	return true;
fail:;
	int e = errno;
	pthread_mutex_unlock(&cf_conn_lock);
	if (c >= 0)
		close(c);
	cf_fail(t, "cannot make a connection: %s: %s", what, strerror(e));
	return false;
}

bool cf_conn_open(struct cf_t *t, struct cf_conn *c, toeless_cq *cq, unsigned digests, uint32_t max_recv_dsl,
		  uint32_t max_tasks)
{
	memset(c, 0, sizeof(*c));
	c->fd = c->peer = -1;
	if (!cf_socketpair(t, &c->fd, &c->peer))
		return false;
	c->cq = cq ? cq : cf_cq(t, 0);
	if (!c->cq)
		return false;
	struct toeless_ctx_attr a;
	memset(&a, 0, sizeof(a));
	a.size = sizeof(a);
	a.fd = c->fd;
	a.cq = c->cq;
	a.params.flags = digests;
	a.params.max_recv_dsl = max_recv_dsl ? max_recv_dsl : 262144;
	if (a.params.max_recv_dsl > t->caps.max_recv_dsl)
		a.params.max_recv_dsl = t->caps.max_recv_dsl;
	a.max_tasks = max_tasks;
	a.user_data = 0xC0DE0000u | (uint32_t)c->fd;
	int rc = toeless_ctx_create(t->dev, &a, &c->ctx);
	if (rc) {
		cf_fail(t, "toeless_ctx_create: %s", toeless_strerror(rc));
		return false;
	}
	c->digests = digests;
	c->max_recv_dsl = a.params.max_recv_dsl;
	c->max_tasks = max_tasks;
	res_add(t, RES_CTX, c->ctx, -1);
	return true;
}

bool cf_conn_destroy(struct cf_t *t, struct cf_conn *c)
{
	if (!c->ctx)
		return true;
	int rc = toeless_ctx_destroy(c->ctx);
	res_forget(t, RES_CTX, c->ctx);
	c->ctx = NULL;
	if (rc) {
		cf_fail(t, "toeless_ctx_destroy: %s", toeless_strerror(rc));
		return false;
	}
	return true;
}

int cf_inq(int fd)
{
	int n = 0;
	if (ioctl(fd, FIONREAD, &n))
		return 0;
	return n;
}

bool cf_write(struct cf_t *t, int peer, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	while (len) {
		ssize_t r = send(peer, p, len, MSG_NOSIGNAL);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			cf_fail(t, "target write failed: %s", strerror(errno));
			return false;
		}
		p += r;
		len -= (size_t)r;
	}
	return true;
}

bool cf_feed(struct cf_t *t, struct cf_conn *c, const void *buf, size_t len)
{
	int before = cf_inq(c->fd);
	if (!cf_write(t, c->peer, buf, len))
		return false;
	/* a relay may hold bytes back: wait while they keep coming */
	double end = cf_now_s() + 2.0 * opt.time_factor;
	int last = before;
	while (cf_inq(c->fd) < before + (int)len && cf_now_s() < end) {
		int now = cf_inq(c->fd);
		if (now != last) {
			last = now;
			end = cf_now_s() + 2.0 * opt.time_factor;
		}
		cf_sleep_ms(1);
	}
	return true;
}

struct cf_writer {
	struct cf_t *t;
	int peer;
	const uint8_t *buf;
	size_t len, max_chunk, done;
	enum cf_split split;
	uint64_t rng;
	pthread_t th;
	bool joined;
};

static void *writer_main(void *arg)
{
	struct cf_writer *w = arg;
	while (w->done < w->len) {
		size_t n = w->len - w->done;
		if (w->split == CF_SPLIT_RANDOM)
			n = cf_range(&w->rng, 1, (uint32_t)(w->max_chunk ? w->max_chunk : 4096));
		else if (w->split == CF_SPLIT_BYTES)
			n = cf_range(&w->rng, 1, 7);
		if (n > w->len - w->done)
			n = w->len - w->done;
		ssize_t r = send(w->peer, w->buf + w->done, n, MSG_NOSIGNAL);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		w->done += (size_t)r;
		if (w->split != CF_SPLIT_WHOLE) {
			/* let the receiver see the pieces one by one, mostly */
			uint32_t x = (uint32_t)cf_rand(&w->rng) % 8;
			if (x == 0) {
				struct timespec ts = { 0, 200 * 1000 };
				nanosleep(&ts, NULL);
			} else if (x < 4) {
				sched_yield();
			}
		}
	}
	return NULL;
}

struct cf_writer *cf_writer_start(struct cf_t *t, int peer, const void *buf, size_t len, enum cf_split split,
				  size_t max_chunk, uint64_t seed)
{
	struct cf_writer *w = calloc(1, sizeof(*w));
	if (!w) {
		cf_fail(t, "out of memory");
		return NULL;
	}
	w->t = t;
	w->peer = peer;
	w->buf = buf;
	w->len = len;
	w->split = split;
	w->max_chunk = max_chunk;
	w->rng = seed;
	if (pthread_create(&w->th, NULL, writer_main, w)) {
		free(w);
		cf_fail(t, "cannot start a writer thread");
		return NULL;
	}
	res_add(t, RES_WRITER, w, peer);
	return w;
}

bool cf_writer_join(struct cf_writer *w)
{
	if (!w)
		return false;
	pthread_join(w->th, NULL);
	w->joined = true;
	bool ok = w->done == w->len;
	res_forget(w->t, RES_WRITER, w);
	free(w);
	return ok;
}

void cf_writer_stop(struct cf_writer *w)
{
	if (!w)
		return;
	shutdown(w->peer, SHUT_RDWR);
	cf_writer_join(w);
}

/* Something moved on this connection: bytes arrived in the library's
 * socket, or the library read some.  A wait fails only after timeout_ms
 * without either, so a slow writer or a loaded machine is not a failure. */
static uint64_t conn_progress_mark(struct cf_conn *c)
{
	struct toeless_stats st;
	memset(&st, 0, sizeof(st));
	st.size = sizeof(st);
	if (!c->ctx || toeless_ctx_stats(c->ctx, &st))
		st.bytes_rx = 0;
	return st.bytes_rx * 0x100000001ull ^ (uint64_t)(uint32_t)cf_inq(c->fd);
}

int cf_recv(struct cf_t *t, struct cf_conn *c, struct toeless_pdu *pdu)
{
	double end = cf_now_s() + t->timeout_ms / 1000.0;
	uint64_t mark = conn_progress_mark(c);
	for (;;) {
		int rc = toeless_pdu_recv(c->ctx, pdu);
		if (rc != -EAGAIN)
			return rc;
		uint64_t m = conn_progress_mark(c);
		if (m != mark) {
			mark = m;
			end = cf_now_s() + t->timeout_ms / 1000.0;
		}
		double left = end - cf_now_s();
		if (left <= 0) {
			cf_fail(t, "no PDU received within %d ms without progress (%d bytes waiting in the socket)",
				t->timeout_ms, cf_inq(c->fd));
			return -ETIMEDOUT;
		}
		struct pollfd p = { .fd = c->fd, .events = POLLIN };
		poll(&p, 1, left > 0.02 ? 20 : 1);
	}
}

void cf_progress(struct cf_conn *c)
{
	if (c->ctx && cf_inq(c->fd) == 0) {
		struct toeless_pdu pdu;
		(void)toeless_pdu_recv(c->ctx, &pdu);
	}
}

bool cf_ctx_stats(struct cf_t *t, struct cf_conn *c, struct toeless_stats *st)
{
	memset(st, 0, sizeof(*st));
	st->size = sizeof(*st);
	int rc = toeless_ctx_stats(c->ctx, st);
	if (rc) {
		cf_fail(t, "toeless_ctx_stats: %s", toeless_strerror(rc));
		return false;
	}
	return true;
}

/* ---- posts ---- */

void cf_posts_init(struct cf_posts *ps, uint64_t tag)
{
	memset(ps, 0, sizeof(*ps));
	ps->tag = tag << 32;
}

void cf_posts_free(struct cf_posts *ps)
{
	struct cf_t *t = ps->t;
	if (t) {
		for (int i = 0; i < ps->n; i++) {
			cf_tfree(t, ps->p[i].iov);
			cf_tfree(t, ps->p[i].expect);
			cf_tfree(t, ps->p[i].mrs);
		}
		cf_tfree(t, ps->p);
	}
	memset(ps, 0, sizeof(*ps));
}

/* A new post at the end of ps, with room for iovcnt SGEs. */
static struct cf_post *post_add(struct cf_t *t, struct cf_posts *ps, uint32_t itt, int iovcnt)
{
	ps->t = t;
	if (ps->n == ps->cap) {
		ps->cap = ps->cap ? ps->cap * 2 : 16;
		ps->p = cf_trealloc(t, ps->p, (size_t)ps->cap * sizeof(*ps->p));
	}
	struct cf_post *p = &ps->p[ps->n];
	memset(p, 0, sizeof(*p));
	p->itt = itt;
	p->user_data = ps->tag | (uint64_t)ps->n;
	p->iovcnt = iovcnt;
	p->iov = cf_tmalloc(t, (size_t)iovcnt * sizeof(*p->iov));
	ps->n++;
	return p;
}

/* p->expect: p->total random bytes.  Returns the generator, for more. */
static uint64_t post_expect(struct cf_t *t, struct cf_post *p)
{
	p->expect = cf_tmalloc(t, p->total);
	uint64_t rng = cf_trand(t);
	cf_fill(p->expect, p->total, &rng);
	return rng;
}

struct cf_post *cf_post_new(struct cf_t *t, struct cf_posts *ps, uint32_t itt, uint64_t total, int nsge, bool reg)
{
	if (nsge < 1)
		nsge = 1;
	if ((uint64_t)nsge > total)
		nsge = (int)total;
	struct cf_post *p = post_add(t, ps, itt, nsge);
	p->total = total;
	uint64_t rng = post_expect(t, p);
	/* split total into nsge random non-empty parts */
	uint64_t left = total;
	for (int i = 0; i < nsge; i++) {
		uint64_t rest = (uint64_t)(nsge - i - 1);
		uint64_t len = i == nsge - 1 ? left : 1 + cf_rand(&rng) % (left - rest);
		if (i < nsge - 1 && cf_rand(&rng) % 2) /* keep parts of similar size half the time */
			len = left / (uint64_t)(nsge - i) ? left / (uint64_t)(nsge - i) : 1;
		if (len > left - rest)
			len = left - rest;
		uint8_t *b = cf_alloc(t, (size_t)len, 0);
		if (!b)
			return NULL;
		p->iov[i].iov_base = b;
		p->iov[i].iov_len = (size_t)len;
		left -= len;
	}
	if (reg || (t->caps.flags & TOELESS_CAP_DDP_NEEDS_REG)) {
		p->mrs = cf_tmalloc(t, (size_t)nsge * sizeof(*p->mrs));
		memset(p->mrs, 0, (size_t)nsge * sizeof(*p->mrs));
		for (int i = 0; i < nsge; i++) {
			if (!cf_mr(t, p->iov[i].iov_base, p->iov[i].iov_len, &p->mrs[i]))
				return NULL;
			p->nmrs++;
		}
	}
	return p;
}

struct cf_post *cf_post_new_iov(struct cf_t *t, struct cf_posts *ps, uint32_t itt, const struct iovec *iov, int n)
{
	struct cf_post *p = post_add(t, ps, itt, n);
	memcpy(p->iov, iov, (size_t)n * sizeof(*iov));
	for (int i = 0; i < n; i++)
		p->total += iov[i].iov_len;
	post_expect(t, p);
	return p;
}

bool cf_post_submit(struct cf_t *t, struct cf_conn *c, struct cf_post *p)
{
	int rc = toeless_sgl_post(c->ctx, p->itt, p->iov, p->iovcnt, p->user_data);
	if (rc) {
		cf_fail(t, "toeless_sgl_post(ITT 0x%x, %d SGEs, %" PRIu64 " bytes): %s", p->itt, p->iovcnt, p->total,
			toeless_strerror(rc));
		return false;
	}
	p->posted = true;
	p->completions = 0;
	p->conn = c;
	return true;
}

bool cf_post_complete(struct cf_t *t, struct cf_posts *ps, const struct toeless_completion *cqe)
{
	uint64_t idx = cqe->user_data - ps->tag;
	if ((cqe->user_data & 0xffffffff00000000ull) != ps->tag || idx >= (uint64_t)ps->n) {
		cf_fail(t,
			"a completion (type %u, ITT 0x%x, status %d) with user_data 0x%" PRIx64 " that no post carries",
			cqe->type, cqe->itt, cqe->status, cqe->user_data);
		return false;
	}
	struct cf_post *p = &ps->p[idx];
	if (cqe->type != TOELESS_CQE_SGL) {
		cf_fail(t, "completion of type %u for post ITT 0x%x, expected TOELESS_CQE_SGL", cqe->type, p->itt);
		return false;
	}
	if (!p->posted) {
		cf_fail(t, "a completion for ITT 0x%x, which is not posted", p->itt);
		return false;
	}
	if (p->completions) {
		cf_fail(t, "a second completion for ITT 0x%x (status %d after %d): one completion per post", p->itt,
			cqe->status, p->c.status);
		return false;
	}
	if (cqe->itt != p->itt) {
		cf_fail(t, "the completion for ITT 0x%x says ITT 0x%x", p->itt, cqe->itt);
		return false;
	}
	p->completions = 1;
	p->c = *cqe;
	return true;
}

static bool all_done(struct cf_posts *ps)
{
	for (int i = 0; i < ps->n; i++)
		if (ps->p[i].posted && !ps->p[i].completions)
			return false;
	return true;
}

static bool wait_posts(struct cf_t *t, struct cf_conn *c, struct cf_posts *ps, struct cf_post *one, int *other);

bool cf_wait_posts(struct cf_t *t, struct cf_conn *c, struct cf_posts *ps, int *other)
{
	return wait_posts(t, c, ps, NULL, other);
}

bool cf_wait_one(struct cf_t *t, struct cf_conn *c, struct cf_posts *ps, struct cf_post *p)
{
	return wait_posts(t, c, ps, p, NULL);
}

static bool wait_posts(struct cf_t *t, struct cf_conn *c, struct cf_posts *ps, struct cf_post *one, int *other)
{
	double end = cf_now_s() + t->timeout_ms / 1000.0;
	struct toeless_completion cqe[64];
	for (;;) {
		int n = toeless_cq_poll(c->cq, cqe, 64);
		if (n < 0) {
			cf_fail(t, "toeless_cq_poll: %s", toeless_strerror(n));
			return false;
		}
		for (int i = 0; i < n; i++) {
			if (cqe[i].type != TOELESS_CQE_SGL && other) {
				(*other)++;
				continue;
			}
			if (!cf_post_complete(t, ps, &cqe[i]))
				return false;
		}
		if (one ? one->completions > 0 : all_done(ps))
			return true;
		if (n) {
			/* progress: the wait for the rest starts again */
			end = cf_now_s() + t->timeout_ms / 1000.0;
			continue;
		}
		if (cf_now_s() > end) {
			for (int i = 0; i < ps->n; i++)
				if (ps->p[i].posted && !ps->p[i].completions && (!one || one == &ps->p[i])) {
					cf_fail(t, "no completion for ITT 0x%x within %d ms without progress",
						ps->p[i].itt, t->timeout_ms);
					return false;
				}
		}
		/* let every context with an outstanding post progress: an
		 * engine reports late releases from there */
		struct cf_conn *last = c;
		cf_progress(c);
		for (int i = 0; i < ps->n; i++) {
			struct cf_post *q = &ps->p[i];
			if (q->posted && !q->completions && q->conn && q->conn != last) {
				last = q->conn;
				cf_progress(last);
			}
		}
		struct pollfd p = { .fd = toeless_cq_fd(c->cq), .events = POLLIN };
		poll(&p, 1, 2);
	}
}

bool cf_expect_quiet(struct cf_t *t, struct cf_conn *c, struct cf_posts *ps, int ms)
{
	double end = cf_now_s() + ms / 1000.0;
	struct toeless_completion cqe[8];
	do {
		cf_progress(c);
		int n = toeless_cq_poll(c->cq, cqe, 8);
		for (int i = 0; i < n; i++) {
			if (ps && cqe[i].type == TOELESS_CQE_SGL)
				cf_post_complete(t, ps, &cqe[i]);
			cf_fail(t,
				"unexpected completion (type %u, ITT 0x%x, status %d) after every post had completed",
				cqe[i].type, cqe[i].itt, cqe[i].status);
			return false;
		}
		cf_sleep_ms(1);
	} while (cf_now_s() < end);
	return true;
}

void cf_post_snapshot(const struct cf_post *p, uint8_t *dst)
{
	for (int i = 0; i < p->iovcnt; i++) {
		memcpy(dst, p->iov[i].iov_base, p->iov[i].iov_len);
		dst += p->iov[i].iov_len;
	}
}

bool cf_post_verify(struct cf_t *t, struct cf_post *p, uint64_t n)
{
	uint64_t off = 0;
	for (int i = 0; i < p->iovcnt && off < n; i++) {
		const uint8_t *b = p->iov[i].iov_base;
		for (size_t k = 0; k < p->iov[i].iov_len && off < n; k++, off++)
			if (b[k] != p->expect[off]) {
				/* say how far the damage goes: shifted data shows as a run */
				uint64_t bad = 0;
				for (uint64_t j = off; j < n && j < off + 4096; j++) {
					uint64_t o = 0;
					int s = 0;
					for (; s < p->iovcnt && o + p->iov[s].iov_len <= j; s++)
						o += p->iov[s].iov_len;
					if (((uint8_t *)p->iov[s].iov_base)[j - o] != p->expect[j])
						bad++;
				}
				/* data one byte late or early shows as a run of matches
				 * against the neighbouring expected byte */
				int late = 0, early = 0;
				uint8_t got[16];
				uint64_t m = 0;
				for (int s2 = 0, o2 = 0; s2 < p->iovcnt && m < 16; s2++)
					for (size_t k2 = 0; k2 < p->iov[s2].iov_len && m < 16; k2++, o2++)
						if ((uint64_t)o2 >= off)
							got[m++] = ((const uint8_t *)p->iov[s2].iov_base)[k2];
				for (uint64_t j = 1; j < m && off + j < n; j++) {
					late += got[j] == p->expect[off + j - 1];
					early += off + j + 1 < n && got[j] == p->expect[off + j + 1];
				}
				bool shifted = m > 4 && (late >= (int)m - 2 || early >= (int)m - 3);
				cf_fail(t,
					"ITT 0x%x: byte %" PRIu64 " of %" PRIu64
					" (SGE %d of %d, offset %zu) is 0x%02x, "
					"expected 0x%02x; %" PRIu64 " of the next %d bytes wrong%s",
					p->itt, off, p->total, i + 1, p->iovcnt, k, b[k], p->expect[off], bad,
					(int)(n - off < 4096 ? n - off : 4096),
					shifted ? (late > early ? " (the data sits one byte after where it belongs)"
								: " (the data sits one byte before where it belongs)")
						: "");
				return false;
			}
	}
	return true;
}

/* ---- streams ---- */

uint64_t cf_trand(struct cf_t *t)
{
	pthread_mutex_lock(&t->lock);
	uint64_t v = cf_rand(&t->rng);
	pthread_mutex_unlock(&t->lock);
	return v;
}

void cf_stream_init(struct cf_t *t, struct cf_stream *s)
{
	memset(s, 0, sizeof(*s));
	s->t = t;
	s->wire.t = t;
}

void cf_stream_free(struct cf_stream *s)
{
	struct cf_t *t = s->t;
	cf_buf_free(&s->wire);
	if (t)
		cf_tfree(t, s->exp);
	else
		free(s->exp);
	cf_stream_init(t, s);
}

struct cf_exp *cf_stream_exp(struct cf_stream *s)
{
	if (s->n == s->cap) {
		s->cap = s->cap ? 2 * s->cap : 64;
		s->exp = s->t ? cf_trealloc(s->t, s->exp, (size_t)s->cap * sizeof(*s->exp))
			      : xrealloc(s->exp, (size_t)s->cap * sizeof(*s->exp));
	}
	struct cf_exp *e = &s->exp[s->n++];
	memset(e, 0, sizeof(*e));
	e->task_done = -1;
	e->data_digest = -1;
	return e;
}

static int digest_result(unsigned digests, uint32_t len, enum cf_corrupt corrupt)
{
	if (!len || !(digests & TOELESS_CTX_DATA_DIGEST))
		return TOELESS_DIGEST_NONE;
	return corrupt == CF_CORRUPT_DATA_DIGEST || corrupt == CF_CORRUPT_PAYLOAD ? TOELESS_DIGEST_BAD
										  : TOELESS_DIGEST_OK;
}

/* Append a PDU to s's wire, and an expectation for it: opcode, ITT,
 * length, the data digest's verdict, where its data segment lies. */
static struct cf_exp *stream_pdu(struct cf_stream *s, const uint8_t bhs[48], uint32_t itt, const void *data,
				 uint32_t len, unsigned digests, enum cf_corrupt corrupt)
{
	size_t at = s->wire.len + 48 + ((digests & TOELESS_CTX_HEADER_DIGEST) ? 4 : 0);
	cf_pdu_append(&s->wire, bhs, data, len, digests, corrupt);
	struct cf_exp *e = cf_stream_exp(s);
	e->opcode = bhs[0];
	e->itt = itt;
	e->data_len = len;
	e->data_digest = digest_result(digests, len, corrupt);
	e->data_off = at;
	return e;
}

struct cf_exp *cf_stream_data_in(struct cf_stream *s, struct cf_post *p, uint32_t itt, uint32_t datasn, uint64_t off,
				 uint32_t len, uint8_t flags, unsigned digests, enum cf_corrupt corrupt, int status)
{
	uint8_t bhs[48];
	uint8_t stack[1];
	const uint8_t *data = stack;
	uint8_t *tmp = NULL;
	if (p) {
		itt = p->itt;
		if (off + len <= p->total) {
			data = p->expect + off;
		} else {
			/* past the SGL: bytes of our own */
			tmp = malloc(len ? len : 1);
			for (uint32_t i = 0; i < len; i++)
				tmp[i] = (uint8_t)(i * 7 + 1);
			data = tmp;
		}
	} else {
		tmp = malloc(len ? len : 1);
		for (uint32_t i = 0; i < len; i++)
			tmp[i] = (uint8_t)(i * 13 + datasn);
		data = tmp;
	}
	cf_bhs_data_in(bhs, itt, datasn, (uint32_t)off, flags, 0, 0);
	struct cf_exp *e = stream_pdu(s, bhs, itt, data, len, digests, corrupt);
	free(tmp);
	e->status = status;
	e->placed = p && len && (status == 0 || status == -EBADMSG);
	e->user_data = p ? p->user_data : 0;
	e->task_done = p ? ((flags & TOELESS_ISCSI_DATAIN_STATUS) ? 1 : 0) : 0;
	if (status == -ERANGE || status == -EEXIST)
		e->data_digest = -1;
	e->check_data = !p && len && corrupt == CF_CORRUPT_NONE;
	if (e->placed)
		s->data_in++;
	return e;
}

struct cf_exp *cf_stream_scsi_rsp(struct cf_t *t, struct cf_stream *s, struct cf_post *p, uint32_t itt,
				  uint8_t response, uint8_t status, uint8_t flags, uint32_t residual,
				  uint32_t sense_len, unsigned digests)
{
	uint8_t bhs[48], seg[260];
	if (p)
		itt = p->itt;
	cf_bhs_scsi_rsp(bhs, itt, response, status, flags, residual);
	uint32_t len = 0;
	if (sense_len) {
		if (sense_len > 256)
			sense_len = 256;
		seg[0] = (uint8_t)(sense_len >> 8);
		seg[1] = (uint8_t)sense_len;
		uint64_t r = cf_trand(t);
		for (uint32_t i = 0; i < sense_len; i++)
			seg[2 + i] = (uint8_t)(r >> (i % 8 * 8)) ^ (uint8_t)i;
		seg[2] = 0x70;
		len = 2 + sense_len;
	}
	struct cf_exp *e = stream_pdu(s, bhs, itt, seg, len, digests, CF_CORRUPT_NONE);
	e->status = 0;
	e->task_done = p ? 1 : 0;
	e->check_data = len > 0;
	e->user_data = p ? p->user_data : 0;
	return e;
}

struct cf_exp *cf_stream_nop(struct cf_t *t, struct cf_stream *s, uint32_t len, unsigned digests,
			     enum cf_corrupt corrupt)
{
	uint8_t bhs[48];
	uint8_t *d = malloc(len ? len : 1);
	uint64_t r = cf_trand(t);
	cf_fill(d, len, &r);
	uint32_t itt = 0x10000 + (uint32_t)s->n;
	cf_bhs_nop_in(bhs, itt);
	struct cf_exp *e = stream_pdu(s, bhs, itt, d, len, digests, corrupt);
	free(d);
	e->task_done = 0;
	e->status = e->data_digest == TOELESS_DIGEST_BAD ? -EBADMSG : 0;
	e->check_data = len > 0 && e->status == 0;
	return e;
}

static const char *op_name(uint8_t op)
{
	switch (op) {
	case TOELESS_ISCSI_OP_DATA_IN: return "Data-In";
	case TOELESS_ISCSI_OP_SCSI_RSP: return "SCSI Response";
	case TOELESS_ISCSI_OP_NOP_IN: return "NOP-In";
	default: return "PDU";
	}
}

bool cf_recv_expect(struct cf_t *t, struct cf_conn *c, const struct cf_stream *s, int idx, struct toeless_pdu *out)
{
	const struct cf_exp *e = &s->exp[idx];
	struct toeless_pdu pdu;
	memset(&pdu, 0xAB, sizeof(pdu));
	int rc = cf_recv(t, c, &pdu);
	char what[128];
	snprintf(what, sizeof(what), "PDU %d of %d (%s, ITT 0x%x, %u bytes)", idx + 1, s->n, op_name(e->opcode), e->itt,
		 e->data_len);
	if (rc == -ETIMEDOUT && cf_failed(t)) {
		cf_fail(t, "%s was not received", what);
		return false;
	}
	if (rc != e->status) {
		cf_fail(t, "%s: toeless_pdu_recv returned %d (%s), expected %d (%s)", what, rc, toeless_strerror(rc),
			e->status, toeless_strerror(e->status));
		return false;
	}
	if (pdu.status != rc || pdu.opcode != e->opcode || pdu.itt != e->itt || pdu.data_len != e->data_len) {
		cf_fail(t, "%s: delivered as status %d, opcode 0x%02x, ITT 0x%x, %u bytes", what, pdu.status,
			pdu.opcode, pdu.itt, pdu.data_len);
		return false;
	}
	bool placed = pdu.flags & TOELESS_PDU_F_PLACED;
	if (placed != e->placed) {
		cf_fail(t, "%s: %s, expected %s", what, placed ? "placed into a posted SGL" : "not placed",
			e->placed ? "placed into its posted SGL" : "not placed");
		return false;
	}
	if ((pdu.flags & TOELESS_PDU_F_ENGINE) && !placed) {
		cf_fail(t, "%s: TOELESS_PDU_F_ENGINE without TOELESS_PDU_F_PLACED", what);
		return false;
	}
	if (placed && (pdu.data || pdu.user_data != e->user_data)) {
		cf_fail(t, "%s: placed, but data %p and user_data 0x%" PRIx64 " (expected NULL and 0x%" PRIx64 ")",
			what, (const void *)pdu.data, pdu.user_data, e->user_data);
		return false;
	}
	if (e->check_data && e->status == 0) {
		if (!pdu.data || memcmp(pdu.data, s->wire.p + e->data_off, e->data_len)) {
			cf_fail(t, "%s: the data segment delivered in pdu->data is %s", what,
				pdu.data ? "wrong" : "missing");
			return false;
		}
	}
	if (e->task_done >= 0 && !!(pdu.flags & TOELESS_PDU_F_TASK_DONE) != e->task_done) {
		cf_fail(t, "%s: TOELESS_PDU_F_TASK_DONE %s", what,
			e->task_done ? "missing" : "set, but no task ends here");
		return false;
	}
	if (e->data_digest >= 0 && pdu.data_digest != e->data_digest) {
		static const char *const dn[] = { "NONE", "OK", "UNCHECKED", "BAD" };
		cf_fail(t, "%s: data digest %s, expected %s%s", what, pdu.data_digest < 4 ? dn[pdu.data_digest] : "?",
			dn[e->data_digest],
			pdu.data_digest == TOELESS_DIGEST_OK && e->data_digest == TOELESS_DIGEST_BAD
				? ": a digest error was reported as good"
				: "");
		return false;
	}
	int want_hd = (c->digests & TOELESS_CTX_HEADER_DIGEST) ? TOELESS_DIGEST_OK : TOELESS_DIGEST_NONE;
	if (e->status != -EBADMSG && pdu.hdr_digest != want_hd) {
		cf_fail(t, "%s: header digest result %u, expected %d", what, pdu.hdr_digest, want_hd);
		return false;
	}
	if (out)
		*out = pdu;
	return true;
}

bool cf_stream_recv(struct cf_t *t, struct cf_conn *c, struct cf_stream *s, int first, int count, int *engine)
{
	if (count < 0)
		count = s->n - first;
	for (int i = first; i < first + count; i++) {
		struct toeless_pdu pdu;
		if (!cf_recv_expect(t, c, s, i, &pdu))
			return false;
		if (engine && (pdu.flags & TOELESS_PDU_F_ENGINE))
			(*engine)++;
	}
	return true;
}

bool cf_stream_send(struct cf_t *t, struct cf_conn *c, struct cf_stream *s, enum cf_split split, size_t max_chunk,
		    uint64_t seed, int *engine)
{
	if (split == CF_SPLIT_WHOLE && s->wire.len <= 65536) {
		if (!cf_feed(t, c, s->wire.p, s->wire.len))
			return false;
		return cf_stream_recv(t, c, s, 0, -1, engine);
	}
	struct cf_writer *w = cf_writer_start(t, c->peer, s->wire.p, s->wire.len, split, max_chunk, seed);
	if (!w)
		return false;
	if (!cf_stream_recv(t, c, s, 0, -1, engine)) {
		cf_writer_stop(w); /* before the caller frees the stream */
		return false;
	}
	if (!cf_writer_join(w)) {
		cf_fail(t, "the target could not write the whole stream");
		return false;
	}
	return true;
}

/* ---- the runner ---- */

static bool selected(const char *name)
{
	if (!opt.n_only)
		return true;
	for (int i = 0; i < opt.n_only; i++)
		if (!fnmatch(opt.only[i], name, 0))
			return true;
	return false;
}

static const char *excluded(const char *name)
{
	for (int i = 0; i < opt.n_excl; i++)
		if (!fnmatch(opt.excl[i].pattern, name, 0))
			return opt.excl[i].reason;
	return NULL;
}

static int load_exclude(const char *path)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		fprintf(stderr, "toeless-conform: %s: %s\n", path, strerror(errno));
		return -1;
	}
	char line[1024];
	int ln = 0;
	while (fgets(line, sizeof(line), f)) {
		ln++;
		char *s = line;
		s[strcspn(s, "\r\n")] = '\0';
		while (*s == ' ' || *s == '\t')
			s++;
		if (!*s || *s == '#')
			continue;
		char *end = s + strcspn(s, " \t");
		char *reason = *end ? end + 1 : end;
		*end = '\0';
		while (*reason == ' ' || *reason == '\t')
			reason++;
		char full[1200];
		snprintf(full, sizeof(full), "excluded by %s:%d%s%s", path, ln, *reason ? ": " : "", reason);
		opt.excl = xrealloc(opt.excl, (size_t)(opt.n_excl + 1) * sizeof(*opt.excl));
		opt.excl[opt.n_excl].pattern = strdup(s);
		opt.excl[opt.n_excl].reason = strdup(full);
		opt.n_excl++;
	}
	fclose(f);
	return 0;
}

static int open_device(struct cf_t *t, toeless_device **dev)
{
	struct toeless_device_attr a;
	memset(&a, 0, sizeof(a));
	a.size = sizeof(a);
	a.log_fn = cf_log_cb;
	a.log_arg = t;
	a.log_level = opt.verbose > 1 ? TOELESS_LOG_DEBUG : TOELESS_LOG_INFO;
	return toeless_device_open(opt.spec, &a, dev);
}

struct cf_result {
	const char *name;
	int status; /* 0 pass, 1 fail, 2 skip */
	char *msg;
	char *details;
	double secs;
};

static void teardown(struct cf_t *t)
{
	/* writers first: a stuck one is blocked on a socket nobody reads */
	for (struct cf_res *r = t->res; r; r = r->next)
		if (r->kind == RES_WRITER && r->obj) {
			struct cf_writer *w = r->obj;
			shutdown(w->peer, SHUT_RDWR);
			pthread_join(w->th, NULL);
			free(w);
			r->obj = NULL;
		}
	for (struct cf_res *r = t->res; r; r = r->next)
		if (r->kind == RES_CTX && r->obj) {
			int rc = toeless_ctx_destroy(r->obj);
			if (rc)
				cf_fail(t, "teardown: toeless_ctx_destroy: %s", toeless_strerror(rc));
			r->obj = NULL;
		}
	for (struct cf_res *r = t->res; r; r = r->next)
		if (r->kind == RES_CQ && r->obj) {
			struct toeless_completion c[32];
			int rc = -EBUSY;
			/* CRC requests an engine still holds finish first (a
			 * wait, not a count of tries: a loaded machine is slow) */
			double until = cf_now_s() + t->timeout_ms / 1000.0;
			while (rc == -EBUSY) {
				if (cf_now_s() > until)
					break;
				while (toeless_cq_poll(r->obj, c, 32) > 0)
					;
				rc = toeless_cq_destroy(r->obj);
				if (rc == -EBUSY)
					cf_sleep_ms(1);
			}
			if (rc)
				cf_fail(t, "teardown: toeless_cq_destroy: %s", toeless_strerror(rc));
			r->obj = NULL;
		}
	for (struct cf_res *r = t->res; r; r = r->next)
		if (r->kind == RES_MR && r->obj) {
			int rc = toeless_mr_dereg(r->obj);
			if (rc)
				cf_fail(t, "teardown: toeless_mr_dereg after every context was destroyed: %s",
					toeless_strerror(rc));
			r->obj = NULL;
		}
	/* the engine must not write our buffers, even late: look once more */
	if (!t->skipped)
		cf_canaries_ok(t);
	if (t->dev) {
		struct toeless_stats st;
		memset(&st, 0, sizeof(st));
		st.size = sizeof(st);
		if (!toeless_device_stats(t->dev, &st) && st.engine_anomalies && !t->skipped)
			cf_fail(t,
				"the library counted %" PRIu64 " engine anomalies (releases or CRC completions it did "
				"not ask for, records for the wrong PDU): see the log",
				st.engine_anomalies);
		int rc = toeless_device_close(t->dev);
		if (rc)
			cf_fail(t, "teardown: toeless_device_close: %s", toeless_strerror(rc));
		t->dev = NULL;
	}
	while (t->res) {
		struct cf_res *r = t->res;
		t->res = r->next;
		if (r->kind == RES_FD)
			close(r->fd);
		free(r);
	}
	while (t->allocs) {
		struct cf_alloc *a = t->allocs;
		t->allocs = a->next;
		free(a->base);
		free(a);
	}
	mem_release_all(t);
	if (t->log_errors && !t->allow_log_errors && !t->skipped)
		cf_fail(t, "the library logged %d error(s), the first: \"%s\"", t->log_errors, t->first_error);
}

static void run_case(const struct cf_case *cs, int index, struct cf_result *res)
{
	struct cf_t t;
	memset(&t, 0, sizeof(t));
	pthread_mutex_init(&t.lock, NULL);
	t.name = cs->name;
	t.index = index;
	t.scale = opt.scale;
	t.timeout_ms = (int)(opt.timeout_ms * opt.time_factor);
	t.thorough = opt.thorough;
	/* each case its own stream: running one alone reproduces it */
	t.rng = opt.seed ^ (0x9E3779B97F4A7C15ull * (uint64_t)(index + 1));
	for (const char *c = cs->name; *c; c++)
		t.rng = t.rng * 131 + (uint8_t)*c;
	double t0 = cf_now_s();
	int rc = open_device(&t, &t.dev);
	if (rc) {
		t.dev = NULL;
		cf_fail(&t, "toeless_device_open(\"%s\"): %s", opt.spec, toeless_strerror(rc));
	} else {
		memset(&t.caps, 0, sizeof(t.caps));
		t.caps.size = sizeof(t.caps);
		rc = toeless_device_query(t.dev, &t.caps);
		if (rc)
			cf_fail(&t, "toeless_device_query: %s", toeless_strerror(rc));
		else
			cs->fn(&t);
	}
	teardown(&t);
	res->name = cs->name;
	res->secs = cf_now_s() - t0;
	res->status = t.failed ? 1 : t.skipped ? 2 : 0;
	res->msg = strdup(t.msg);
	size_t dl = (t.diag ? strlen(t.diag) : 0) + (t.log ? strlen(t.log) : 0) + 64;
	res->details = malloc(dl);
	snprintf(res->details, dl, "%s%s%s", t.diag ? t.diag : "", t.log && t.failed ? "library log:\n" : "",
		 t.log && t.failed ? t.log : "");
	free(t.diag);
	free(t.log);
	pthread_mutex_destroy(&t.lock);
}

/* ---- isolation: each case in a child process ---- */

static bool write_all(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	while (len) {
		ssize_t r = write(fd, p, len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return false;
		p += r;
		len -= (size_t)r;
	}
	return true;
}

/* The result crosses the pipe as: status, seconds, then the message and
 * the details, each as a length and its bytes. */
static void send_result(int fd, const struct cf_result *r)
{
	uint32_t ml = (uint32_t)strlen(r->msg), dl = (uint32_t)strlen(r->details);
	int32_t st = r->status;
	write_all(fd, &st, sizeof(st));
	write_all(fd, &r->secs, sizeof(r->secs));
	write_all(fd, &ml, sizeof(ml));
	write_all(fd, r->msg, ml);
	write_all(fd, &dl, sizeof(dl));
	write_all(fd, r->details, dl);
}

static bool parse_result(const uint8_t *b, size_t n, struct cf_result *r)
{
	int32_t st;
	uint32_t ml, dl;
	size_t at = 0;
	if (n < sizeof(st) + sizeof(r->secs) + sizeof(ml))
		return false;
	memcpy(&st, b, sizeof(st));
	at += sizeof(st);
	memcpy(&r->secs, b + at, sizeof(r->secs));
	at += sizeof(r->secs);
	memcpy(&ml, b + at, sizeof(ml));
	at += sizeof(ml);
	if (n - at < (size_t)ml + sizeof(dl))
		return false;
	r->msg = strndup((const char *)b + at, ml);
	at += ml;
	memcpy(&dl, b + at, sizeof(dl));
	at += sizeof(dl);
	if (n - at != dl) {
		free(r->msg);
		return false;
	}
	r->details = strndup((const char *)b + at, dl);
	r->status = st;
	return true;
}

/* Run the case in a child, so that a backend that crashes or hangs takes
 * only this case down: it is reported failed, with the signal or the time
 * limit, and the run goes on. */
static void run_case_isolated(const struct cf_case *cs, int index, struct cf_result *res)
{
	res->name = cs->name;
	int pfd[2];
	if (pipe2(pfd, O_CLOEXEC)) {
		run_case(cs, index, res);
		return;
	}
	fflush(NULL);
	double t0 = cf_now_s();
	pid_t pid = fork();
	if (pid < 0) {
		close(pfd[0]);
		close(pfd[1]);
		run_case(cs, index, res);
		return;
	}
	if (pid == 0) {
		close(pfd[0]);
		/* the device model writes our memory as DMA would; under Yama
		 * a sibling may do so only when named */
		if (devsim_pid > 0)
			prctl(PR_SET_PTRACER, (unsigned long)devsim_pid, 0, 0, 0);
		struct cf_result r;
		memset(&r, 0, sizeof(r));
		run_case(cs, index, &r);
		send_result(pfd[1], &r);
		free(r.msg);
		free(r.details);
		close(pfd[1]);
		close(cf_listener);
		exit(0);
	}
	close(pfd[1]);
	uint8_t *buf = NULL;
	size_t len = 0, cap = 0;
	double limit = opt.case_limit_s * opt.time_factor;
	bool killed = false;
	for (;;) {
		double left = t0 + limit - cf_now_s();
		if (left <= 0) {
			kill(pid, SIGKILL);
			killed = true;
			break;
		}
		struct pollfd p = { .fd = pfd[0], .events = POLLIN };
		int pr = poll(&p, 1, left > 1 ? 1000 : (int)(left * 1000) + 1);
		if (pr < 0 && errno != EINTR)
			break;
		if (pr <= 0)
			continue;
		if (len + 65536 > cap) {
			cap = (len + 65536) * 2;
			buf = xrealloc(buf, cap);
		}
		ssize_t r = read(pfd[0], buf + len, cap - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		len += (size_t)r;
	}
	close(pfd[0]);
	int st = 0;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	res->secs = cf_now_s() - t0;
	if (!killed && WIFEXITED(st) && WEXITSTATUS(st) == 0 && parse_result(buf, len, res)) {
		res->name = cs->name;
		free(buf);
		return;
	}
	free(buf);
	char m[512];
	if (killed)
		snprintf(m, sizeof(m), "the case did not finish within %.1f s and was killed (a hung backend op?)",
			 limit);
	else if (WIFSIGNALED(st))
		snprintf(m, sizeof(m), "the case crashed: signal %d (%s)%s", WTERMSIG(st), strsignal(WTERMSIG(st)),
			 WCOREDUMP(st) ? ", core dumped" : "");
	else
		snprintf(m, sizeof(m), "the case's process exited with status %d before it reported a result",
			 WIFEXITED(st) ? WEXITSTATUS(st) : -1);
	res->status = 1;
	res->msg = strdup(m);
	char d[256];
	snprintf(d, sizeof(d), "rerun it alone in this process to debug: --only '%s' --no-fork (same seed)\n",
		 cs->name);
	res->details = strdup(d);
}

static void print_lines(FILE *f, const char *prefix, const char *text)
{
	while (text && *text) {
		const char *nl = strchr(text, '\n');
		int n = nl ? (int)(nl - text) : (int)strlen(text);
		fprintf(f, "%s%.*s\n", prefix, n, text);
		text += n + (nl ? 1 : 0);
	}
}

static void xml_escape(FILE *f, const char *s)
{
	for (; s && *s; s++) {
		switch (*s) {
		case '&': fputs("&amp;", f); break;
		case '<': fputs("&lt;", f); break;
		case '>': fputs("&gt;", f); break;
		case '"': fputs("&quot;", f); break;
		case '\'': fputs("&apos;", f); break;
		default:
			if ((unsigned char)*s < 0x20 && *s != '\n' && *s != '\t')
				fputc('?', f);
			else
				fputc(*s, f);
		}
	}
}

static int write_junit(const char *path, const char *backend, struct cf_result *r, int n, double total)
{
	FILE *f = fopen(path, "w");
	if (!f) {
		fprintf(stderr, "toeless-conform: %s: %s\n", path, strerror(errno));
		return -1;
	}
	int fails = 0, skips = 0;
	for (int i = 0; i < n; i++) {
		fails += r[i].status == 1;
		skips += r[i].status == 2;
	}
	fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites>\n");
	fprintf(f, "  <testsuite name=\"toeless-conform.");
	xml_escape(f, backend);
	fprintf(f, "\" tests=\"%d\" failures=\"%d\" errors=\"0\" skipped=\"%d\" time=\"%.3f\">\n", n, fails, skips,
		total);
	fprintf(f, "    <properties>\n      <property name=\"backend\" value=\"");
	xml_escape(f, opt.spec);
	fprintf(f, "\"/>\n      <property name=\"seed\" value=\"0x%" PRIx64 "\"/>\n", opt.seed);
	fprintf(f, "      <property name=\"libtoeless\" value=\"%s\"/>\n    </properties>\n", toeless_version());
	for (int i = 0; i < n; i++) {
		fprintf(f, "    <testcase classname=\"toeless-conform.");
		xml_escape(f, backend);
		fprintf(f, "\" name=\"%s\" time=\"%.3f\"", r[i].name, r[i].secs);
		if (r[i].status == 0) {
			fprintf(f, "/>\n");
			continue;
		}
		fprintf(f, ">\n");
		if (r[i].status == 1) {
			fprintf(f, "      <failure message=\"");
			xml_escape(f, r[i].msg);
			fprintf(f, "\">");
			xml_escape(f, r[i].msg);
			fprintf(f, "\n");
			xml_escape(f, r[i].details);
			fprintf(f, "</failure>\n");
		} else {
			fprintf(f, "      <skipped message=\"");
			xml_escape(f, r[i].msg);
			fprintf(f, "\"/>\n");
		}
		fprintf(f, "    </testcase>\n");
	}
	fprintf(f, "  </testsuite>\n</testsuites>\n");
	return fclose(f) ? -1 : 0;
}

/* ---- a private device model, for the hw backend ---- */

static void devsim_stop(void)
{
	if (devsim_pid > 0) {
		kill(devsim_pid, SIGTERM);
		int st;
		for (int i = 0; i < 300 && waitpid(devsim_pid, &st, WNOHANG) == 0; i++) {
			cf_sleep_ms(10);
			if (i == 299) {
				kill(devsim_pid, SIGKILL);
				waitpid(devsim_pid, &st, 0);
			}
		}
		devsim_pid = 0;
	}
	if (devsim_dir[0]) {
		char p[PATH_MAX + 16];
		snprintf(p, sizeof(p), "%s/port", devsim_dir);
		unlink(p);
		snprintf(p, sizeof(p), "%s/ctl", devsim_dir);
		unlink(p);
		rmdir(devsim_dir);
		devsim_dir[0] = '\0';
	}
}

/* Start opt.devsim in front of our listener; connections go through it. */
static int devsim_start(void)
{
	snprintf(devsim_dir, sizeof(devsim_dir), "%s/toeless-conform.XXXXXX",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(devsim_dir)) {
		devsim_dir[0] = '\0';
		return -errno;
	}
	char ctl[PATH_MAX + 16], portfile[PATH_MAX + 16], target[64];
	snprintf(ctl, sizeof(ctl), "%s/ctl", devsim_dir);
	snprintf(portfile, sizeof(portfile), "%s/port", devsim_dir);
	snprintf(target, sizeof(target), "127.0.0.1:%d", listener_port(cf_listener));
	const char *argv[80];
	int n = 0;
	argv[n++] = opt.devsim;
	argv[n++] = "--control";
	argv[n++] = ctl;
	argv[n++] = "--listen";
	argv[n++] = "127.0.0.1:0";
	argv[n++] = "--target";
	argv[n++] = target;
	argv[n++] = "--port-file";
	argv[n++] = portfile;
	for (int i = 0; i < opt.n_devsim_faults; i++) {
		argv[n++] = "--fault";
		argv[n++] = opt.devsim_faults[i];
	}
	argv[n] = NULL;
	fflush(NULL);
	devsim_pid = fork();
	if (devsim_pid < 0)
		return -errno;
	if (devsim_pid == 0) {
		if (!opt.verbose) {
			int nul = open("/dev/null", O_WRONLY);
			if (nul >= 0)
				dup2(nul, 2);
		}
		execv(opt.devsim, (char *const *)argv);
		_exit(127);
	}
	for (int i = 0; i < 500; i++) {
		FILE *f = fopen(portfile, "r");
		int port = 0;
		if (f) {
			int ok = fscanf(f, "%d", &port) == 1;
			fclose(f);
			if (ok && port > 0) {
				snprintf(opt.via, sizeof(opt.via), "127.0.0.1:%d", port);
				snprintf(devsim_spec, sizeof(devsim_spec), "hw:%s", ctl);
				return 0;
			}
		}
		int st;
		if (waitpid(devsim_pid, &st, WNOHANG) == devsim_pid) {
			devsim_pid = 0;
			return -ECHILD;
		}
		cf_sleep_ms(10);
	}
	return -ETIMEDOUT;
}

/* Run fn(arg) with this thread in network namespace ns (a name under
 * /run/netns, or a path), then come back: a socket keeps the namespace it
 * was made in.  Negative errno. */
static int in_netns(const char *ns, int (*fn)(void *), void *arg)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s%s", strchr(ns, '/') ? "" : "/run/netns/", ns);
	int self = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	if (self < 0)
		return -errno;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || setns(fd, CLONE_NEWNET)) {
		int e = -errno;
		if (fd >= 0)
			close(fd);
		close(self);
		return e;
	}
	close(fd);
	int rc = fn(arg);
	if (setns(self, CLONE_NEWNET) && rc >= 0) {
		/* stuck in the other namespace: the connections would not cross the wire */
		rc = -errno;
	}
	close(self);
	return rc;
}

struct listen_args {
	struct sockaddr_storage *ss;
	socklen_t len;
};

static int listen_fn(void *arg)
{
	struct listen_args *a = arg;
	return listen_on(a->ss, a->len);
}

static int enter_netns(const char *ns)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s%s", strchr(ns, '/') ? "" : "/run/netns/", ns);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int rc = setns(fd, CLONE_NEWNET) ? -errno : 0;
	close(fd);
	return rc;
}

static int setup_transport(void)
{
	struct sockaddr_storage ss;
	socklen_t len;
	const char *tl = opt.target_listen[0] ? opt.target_listen : "127.0.0.1:0";
	if (tool_parse_hostport(tl, &ss, &len)) {
		fprintf(stderr, "toeless-conform: bad --target-listen %s\n", tl);
		return -1;
	}
	/* before any socket: the library's connections, the hw backend's
	 * device lookup, all of it from the host's namespace */
	if (opt.netns) {
		int rc = enter_netns(opt.netns);
		if (rc) {
			fprintf(stderr, "toeless-conform: cannot enter network namespace %s: %s\n", opt.netns,
				strerror(-rc));
			return rc == -EPERM || rc == -ENOENT ? 77 : -1;
		}
	}
	if (opt.peer_netns) {
		struct listen_args la = { &ss, len };
		cf_listener = in_netns(opt.peer_netns, listen_fn, &la);
	} else {
		cf_listener = listen_on(&ss, len);
	}
	if (cf_listener < 0) {
		fprintf(stderr, "toeless-conform: cannot listen on %s: %s\n", tl, strerror(-cf_listener));
		return -1;
	}
	if (opt.devsim) {
		int rc = devsim_start();
		if (rc) {
			fprintf(stderr, "toeless-conform: cannot start %s: %s\n", opt.devsim, strerror(-rc));
			return -1;
		}
		if (!opt.spec || !strcmp(opt.spec, "hw"))
			opt.spec = devsim_spec;
	}
	if (opt.via[0]) {
		if (tool_parse_hostport(opt.via, &cf_connect_to, &cf_connect_len)) {
			fprintf(stderr, "toeless-conform: bad --via %s\n", opt.via);
			return -1;
		}
	} else {
		cf_connect_len = sizeof(ss);
		if (getsockname(cf_listener, (struct sockaddr *)&cf_connect_to, &cf_connect_len))
			return -1;
	}
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: toeless-conform --backend SPEC [options]\n"
		"\n"
		"Runs the libtoeless API contract against a backend (a built-in name such\n"
		"as sw or mock, an installed plugin name, or a plugin path) and prints TAP.\n"
		"\n"
		"  -b, --backend SPEC      the backend (as toeless_device_open() takes it)\n"
		"  -j, --junit FILE        also write JUnit XML to FILE\n"
		"  -x, --exclude FILE      skip the cases listed in FILE (one glob and a reason\n"
		"                          per line; '#' starts a comment); may repeat\n"
		"  -o, --only GLOB         run only the cases matching GLOB; may repeat\n"
		"  -l, --list              list the cases and exit\n"
		"  -s, --seed N            seed of the random cases (default 0x%" PRIx64 ")\n"
		"  -i, --iter F            multiply random iterations by F (default 1)\n"
		"  -t, --timeout-ms N      fail a wait for a PDU or completion after N ms without\n"
		"                          progress (default %d)\n"
		"  -f, --time-factor F     multiply every wait and limit by F (a loaded or slow\n"
		"                          machine; env TOELESS_CONFORM_TIME_FACTOR or\n"
		"                          CK_TIMEOUT_MULTIPLIER)\n"
		"      --case-limit S      kill a case still running after S s x F (default 300)\n"
		"      --thorough          full sweeps and long runs (env TOELESS_CONFORM_THOROUGH=1)\n"
		"      --no-fork           run the cases in this process, not each in a child\n"
		"                          (for a debugger; a crash then ends the run)\n"
		"      --devsim PATH       start this toeless-devsim and run through it (hw backend)\n"
		"      --devsim-fault F    pass --fault F to it; may repeat\n"
		"      --via HOST:PORT     connect through a relay listening there ...\n"
		"      --target-listen HOST:PORT  ... which connects on to us here\n"
		"      --netns NS          run the library's side in network namespace NS\n"
		"      --peer-netns NS     ... and the target side in NS, listening at\n"
		"                          --target-listen: connections cross the wire between\n"
		"                          them (a wire NIC: tools/toeless-nic/toeless-nic-netns)\n"
		"  -v, --verbose           print library warnings (twice: everything) to stderr\n"
		"  -h, --help\n"
		"\n"
		"Exit status: 0 all cases that ran passed, 1 a case failed, 77 nothing could\n"
		"run (device absent, or every case skipped), 2 usage.  See doc/conformance.md.\n",
		opt.seed, opt.timeout_ms);
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "backend", required_argument, NULL, 'b' },
		{ "junit", required_argument, NULL, 'j' },
		{ "exclude", required_argument, NULL, 'x' },
		{ "only", required_argument, NULL, 'o' },
		{ "list", no_argument, NULL, 'l' },
		{ "seed", required_argument, NULL, 's' },
		{ "iter", required_argument, NULL, 'i' },
		{ "timeout-ms", required_argument, NULL, 't' },
		{ "time-factor", required_argument, NULL, 'f' },
		{ "case-limit", required_argument, NULL, 'L' },
		{ "no-fork", no_argument, NULL, 'N' },
		{ "thorough", no_argument, NULL, 'X' },
		{ "devsim", required_argument, NULL, 'D' },
		{ "devsim-fault", required_argument, NULL, 'F' },
		{ "via", required_argument, NULL, 'V' },
		{ "target-listen", required_argument, NULL, 'T' },
		{ "netns", required_argument, NULL, 'n' },
		{ "peer-netns", required_argument, NULL, 'P' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	bool list = false;
	int c;
	const char *e = getenv("TOELESS_CONFORM_SEED");
	if (e && *e)
		opt.seed = strtoull(e, NULL, 0);
	e = getenv("TOELESS_TEST_ITER");
	if (e && *e)
		opt.scale = strtod(e, NULL);
	/* a loaded or slow machine: every wait longer (Check's variable too) */
	e = getenv("TOELESS_CONFORM_TIME_FACTOR");
	if (!e || !*e)
		e = getenv("CK_TIMEOUT_MULTIPLIER");
	if (e && *e)
		opt.time_factor = strtod(e, NULL);
	e = getenv("TOELESS_CONFORM_THOROUGH");
	if (e && *e && strcmp(e, "0"))
		opt.thorough = true;
	e = getenv("TOELESS_CONFORM_NO_FORK");
	if (e && *e && strcmp(e, "0"))
		opt.no_fork = true;
	while ((c = getopt_long(argc, argv, "b:j:x:o:ls:i:t:f:vh", lo, NULL)) != -1) {
		switch (c) {
		case 'b': opt.spec = optarg; break;
		case 'j': opt.junit = optarg; break;
		case 'x':
			if (load_exclude(optarg))
				return 2;
			break;
		case 'o':
			if (opt.n_only < 64)
				opt.only[opt.n_only++] = optarg;
			break;
		case 'l': list = true; break;
		case 's': opt.seed = strtoull(optarg, NULL, 0); break;
		case 'i': opt.scale = strtod(optarg, NULL); break;
		case 't': opt.timeout_ms = atoi(optarg); break;
		case 'f': opt.time_factor = strtod(optarg, NULL); break;
		case 'L': opt.case_limit_s = strtod(optarg, NULL); break;
		case 'N': opt.no_fork = true; break;
		case 'X': opt.thorough = true; break;
		case 'D': opt.devsim = optarg; break;
		case 'F':
			if (opt.n_devsim_faults < 32)
				opt.devsim_faults[opt.n_devsim_faults++] = optarg;
			break;
		case 'V': snprintf(opt.via, sizeof(opt.via), "%s", optarg); break;
		case 'T': snprintf(opt.target_listen, sizeof(opt.target_listen), "%s", optarg); break;
		case 'n': opt.netns = optarg; break;
		case 'P': opt.peer_netns = optarg; break;
		case 'v': opt.verbose++; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind < argc && !opt.spec)
		opt.spec = argv[optind++];
	if (list) {
		for (int i = 0; i < CF_NCASES; i++)
			if (selected(cf_cases[i].name))
				printf("%-22s %s\n", cf_cases[i].name, cf_cases[i].what);
		return 0;
	}
	if ((!opt.spec && !opt.devsim) || optind < argc || opt.scale <= 0 || opt.timeout_ms <= 0 ||
	    !(opt.time_factor > 0) || !(opt.case_limit_s > 0) || (opt.via[0] && !opt.target_listen[0]) ||
	    (opt.devsim && opt.via[0]) || (opt.peer_netns && (!opt.target_listen[0] || opt.via[0] || opt.devsim))) {
		usage(stderr);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);
	int trc = setup_transport();
	if (trc) {
		devsim_stop();
		return trc == 77 ? 77 : 99;
	}

	cf_backend_spec = opt.spec;

	/* Can the backend be opened at all?  An absent device is a skip. */
	struct cf_t probe;
	memset(&probe, 0, sizeof(probe));
	pthread_mutex_init(&probe.lock, NULL);
	probe.name = "probe";
	toeless_device *dev = NULL;
	int rc = open_device(&probe, &dev);
	printf("TAP version 13\n");
	printf("# toeless-conform: libtoeless %s, backend %s, seed 0x%" PRIx64 ", iterations x%g, %s run, "
	       "waits %d ms x%g without progress, cases %s\n",
	       toeless_version(), opt.spec, opt.seed, opt.scale, opt.thorough ? "thorough" : "default", opt.timeout_ms,
	       opt.time_factor, opt.no_fork ? "in this process" : "each in its own process");
	if (rc == -ENODEV) {
		printf("1..0 # SKIP backend %s: %s\n", opt.spec, toeless_strerror(rc));
		print_lines(stdout, "# ", probe.log);
		free(probe.log);
		close(cf_listener);
		devsim_stop();
		return 77;
	}
	if (rc) {
		printf("1..1\nnot ok 1 - device.open\n# FAIL device.open: toeless_device_open(\"%s\"): %s (%d)\n",
		       opt.spec, toeless_strerror(rc), rc);
		print_lines(stdout, "# log: ", probe.log);
		if (opt.junit) {
			char m[512], empty[1] = "";
			struct cf_result r = { "device.open", 1, m, probe.log ? probe.log : empty, 0 };
			snprintf(m, sizeof(m), "toeless_device_open(\"%s\"): %s", opt.spec, toeless_strerror(rc));
			write_junit(opt.junit, opt.spec, &r, 1, 0);
		}
		free(probe.log);
		close(cf_listener);
		devsim_stop();
		return 1;
	}
	struct toeless_caps caps;
	memset(&caps, 0, sizeof(caps));
	caps.size = sizeof(caps);
	toeless_device_query(dev, &caps);
	printf("# backend %s %s: flags 0x%x, max_contexts %u, max_sge %u, max_tasks %u, max_recv_dsl %u, "
	       "sge_align %u, max_crc_batch %u\n",
	       caps.backend, caps.backend_version, caps.flags, caps.max_contexts, caps.max_sge, caps.max_tasks,
	       caps.max_recv_dsl, caps.sge_align, caps.max_crc_batch);
	toeless_device_close(dev);
	free(probe.log);
	pthread_mutex_destroy(&probe.lock);
	const char *name = caps.backend[0] ? caps.backend : opt.spec;

	int n = 0;
	for (int i = 0; i < CF_NCASES; i++)
		n += selected(cf_cases[i].name);
	printf("1..%d\n", n);
	/* global: a case's child process exits holding it, and a leak checker
	 * there must see it reachable */
	static struct cf_result *res;
	res = calloc((size_t)(n ? n : 1), sizeof(*res));
	int k = 0, passed = 0, failed = 0, skipped = 0;
	double t0 = cf_now_s();
	for (int i = 0; i < CF_NCASES; i++) {
		const struct cf_case *cs = &cf_cases[i];
		if (!selected(cs->name))
			continue;
		struct cf_result *r = &res[k++];
		const char *why = excluded(cs->name);
		if (why) {
			r->name = cs->name;
			r->status = 2;
			r->msg = strdup(why);
			r->details = strdup("");
		} else if (opt.no_fork) {
			run_case(cs, i, r);
		} else {
			run_case_isolated(cs, i, r);
		}
		switch (r->status) {
		case 0:
			passed++;
			printf("ok %d - %s # %.2fs\n", k, r->name, r->secs);
			print_lines(stdout, "# ", r->details);
			break;
		case 1:
			failed++;
			printf("not ok %d - %s\n# FAIL %s: %s\n", k, r->name, r->name, r->msg);
			print_lines(stdout, "# ", r->details);
			break;
		default:
			skipped++;
			printf("ok %d - %s # SKIP %s\n", k, r->name, r->msg);
			break;
		}
	}
	double total = cf_now_s() - t0;
	printf("# %d passed, %d failed, %d skipped of %d cases in %.1fs (backend %s, seed 0x%" PRIx64 ")\n", passed,
	       failed, skipped, n, total, name, opt.seed);
	int ret = failed ? 1 : passed ? 0 : 77;
	if (opt.junit && write_junit(opt.junit, name, res, k, total))
		ret = failed ? 1 : 99;
	for (int i = 0; i < k; i++) {
		free(res[i].msg);
		free(res[i].details);
	}
	free(res);
	for (int i = 0; i < opt.n_excl; i++) {
		free(opt.excl[i].pattern);
		free(opt.excl[i].reason);
	}
	free(opt.excl);
	close(cf_listener);
	devsim_stop();
	return ret;
}
