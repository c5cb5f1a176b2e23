/*
 * toeless-conform: the API contract, run against any backend.
 *
 * The framework (conform.c) runs each case on a freshly opened device,
 * tracks every resource a case creates and tears it down afterwards, and
 * checks post-conditions common to all cases: no write outside the buffers
 * handed to the library (canary zones), no engine anomaly counted by the
 * core, no error logged by the library, the device closes cleanly.
 *
 * Everything here uses the public API only (toeless.h), and computes every
 * expected value independently (a bitwise CRC32C, its own PDU builder).
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef TOELESS_CONFORM_H
#define TOELESS_CONFORM_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <sys/uio.h>

#include <toeless.h>
#include <toeless_iscsi.h>

#include "../common/ref.h"

/* iSCSI opcodes and flags: <toeless_iscsi.h> */
#define CF_DIGESTS (TOELESS_CTX_HEADER_DIGEST | TOELESS_CTX_DATA_DIGEST)

struct cf_t;
typedef void (*cf_case_fn)(struct cf_t *t);

struct cf_case {
	const char *name; /* stable: exclude files and reports use it */
	const char *what; /* one line for --list */
	cf_case_fn fn;
};

/* ---- one connection: a socket pair (or one through a relay), a context ---- */
struct cf_conn {
	int fd;   /* the library's side, non-blocking */
	int peer; /* the target's side (this program), blocking */
	toeless_cq *cq;
	toeless_ctx *ctx;
	unsigned digests;
	uint32_t max_recv_dsl;
	uint32_t max_tasks;
};

/* ---- posts and their completions ---- */
struct cf_post {
	uint32_t itt;
	uint64_t user_data;
	struct iovec *iov; /* the caller's buffers (canary allocations) */
	int iovcnt;
	uint64_t total;
	int completions; /* SGL completions seen for this post */
	struct toeless_completion c;
	uint8_t *expect;  /* expected buffer contents (total bytes), or NULL */
	toeless_mr **mrs; /* registrations made for it */
	int nmrs;
	bool posted;
	struct cf_conn *conn; /* where it was posted (progress while waiting) */
};

struct cf_posts {
	struct cf_post *p;
	int n, cap;
	uint64_t tag;   /* user_data = tag | index */
	struct cf_t *t; /* whose memory (freed at the latest with the case) */
};

/* ---- the state of one running case ---- */
struct cf_res;
struct cf_alloc;
struct cf_mem;

struct cf_t {
	const char *name;
	int index;
	toeless_device *dev;
	struct toeless_caps caps;
	uint64_t rng;
	pthread_mutex_t lock; /* failure text, log, resources: threads may share a case */
	bool failed, skipped;
	char msg[1024]; /* the first failure, or the skip reason */
	char *diag;     /* further lines, '\n'-separated */
	size_t diag_len, diag_cap;
	char *log; /* what the library logged, '\n'-separated (last 16 KiB) */
	size_t log_len;
	int log_errors;        /* TOELESS_LOG_ERR messages */
	char first_error[512]; /* the first of them */
	bool allow_log_errors; /* the case provokes errors the library logs */
	struct cf_res *res;
	struct cf_alloc *allocs;
	struct cf_mem *mem; /* case memory: freed at teardown, whatever path the case took */
	double scale;       /* iteration multiplier */
	int timeout_ms;     /* completion and receive timeout, without progress (time factor applied) */
	bool thorough;      /* --thorough: full sweeps and long runs */
};

/* the backend spec under test (after --devsim: "hw:CONTROL") */
extern const char *cf_backend_spec;

/* ---- time ---- */
static inline double cf_now_s(void) /* monotonic seconds */
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static inline void cf_sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

/* ---- reporting (thread safe) ---- */
void cf_fail(struct cf_t *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void cf_skip(struct cf_t *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void cf_diag(struct cf_t *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
bool cf_failed(struct cf_t *t);

#define CF_CHECK(t, cond, ...)                                                                                         \
	do {                                                                                                           \
		if (!(cond)) {                                                                                         \
			cf_fail((t), __VA_ARGS__);                                                                     \
			return;                                                                                        \
		}                                                                                                      \
	} while (0)
/* expr must return want; on anything else the case fails naming both */
#define CF_RC(t, expr, want)                                                                                           \
	do {                                                                                                           \
		int cf_rc_ = (expr);                                                                                   \
		if (cf_rc_ != (want)) {                                                                                \
			cf_fail((t), "%s returned %d (%s), expected %d (%s)", #expr, cf_rc_, toeless_strerror(cf_rc_), \
				(want), toeless_strerror(want));                                                       \
			return;                                                                                        \
		}                                                                                                      \
	} while (0)

/* ---- independent CRC32C (bitwise; toeless_crc32c's convention) and
 * randomness: the references of tools/common/ref.h, shared with the Check
 * suites ---- */
#define cf_crc32c  ref_crc32c
#define cf_rand    ref_rand
#define cf_range   ref_rand_range /* inclusive */
#define cf_shuffle ref_shuffle_u32
void cf_fill(void *buf, size_t len, uint64_t *s);
unsigned cf_iter(struct cf_t *t, unsigned def); /* def * scale, at least 1 */

/* ---- buffers with canary zones: every byte outside them is checked at the
 * end of the case; align 0 means caps.sge_align ---- */
uint8_t *cf_alloc(struct cf_t *t, size_t len, size_t align);
/* false (and the case failed) when a canary zone was written */
bool cf_canaries_ok(struct cf_t *t);

/* ---- case memory: released by cf_tfree() or, at the latest, when the
 * case ends (so an early return on a failure leaks nothing) ---- */
void *cf_tmalloc(struct cf_t *t, size_t n);
void *cf_trealloc(struct cf_t *t, void *p, size_t n);
void cf_tfree(struct cf_t *t, void *p);

/* ---- growable byte buffer (case memory when t is set) ---- */
struct cf_buf {
	uint8_t *p;
	size_t len, cap;
	struct cf_t *t;
};
void cf_buf_put(struct cf_buf *b, const void *data, size_t len);
void cf_buf_free(struct cf_buf *b);

/* ---- PDUs on the wire ---- */
enum cf_corrupt {
	CF_CORRUPT_NONE = 0,
	CF_CORRUPT_HDR_DIGEST,
	CF_CORRUPT_DATA_DIGEST,
	CF_CORRUPT_PAYLOAD, /* flip a payload byte after the digest was computed */
};
#define cf_bhs_data_in ref_bhs_data_in
void cf_bhs_scsi_rsp(uint8_t bhs[48], uint32_t itt, uint8_t response, uint8_t status, uint8_t flags, uint32_t residual);
void cf_bhs_nop_in(uint8_t bhs[48], uint32_t itt);
/* Append one PDU (lengths set from data_len); returns its wire length. */
size_t cf_pdu_append(struct cf_buf *out, const uint8_t bhs[48], const void *data, uint32_t len, unsigned digests,
		     enum cf_corrupt corrupt);

/* ---- connections ---- */
/* A connected pair: *fd for the library (non-blocking), *peer for us. */
bool cf_socketpair(struct cf_t *t, int *fd, int *peer);
/* Connection + its own CQ (cq NULL) or the given one + a context; all
 * tracked.  max_tasks 0: the library's default. */
bool cf_conn_open(struct cf_t *t, struct cf_conn *c, toeless_cq *cq, unsigned digests, uint32_t max_recv_dsl,
		  uint32_t max_tasks);
/* Destroy its context now (tracked resources stay tracked). */
bool cf_conn_destroy(struct cf_t *t, struct cf_conn *c);
toeless_cq *cf_cq(struct cf_t *t, uint32_t depth);
bool cf_mr(struct cf_t *t, void *addr, size_t len, toeless_mr **out);
void cf_forget_mr(struct cf_t *t, toeless_mr *mr);
void cf_track_fd(struct cf_t *t, int fd);

/* Write everything to the peer (blocking). */
bool cf_write(struct cf_t *t, int peer, const void *buf, size_t len);
/* Write, then wait until the library's socket holds it all: the engine sees
 * whole PDUs.  Returns false only on a write error (a relay that holds bytes
 * back is not a failure). */
bool cf_feed(struct cf_t *t, struct cf_conn *c, const void *buf, size_t len);
/* Bytes waiting in the library's socket. */
int cf_inq(int fd);

/* A writer thread that sends buf in pieces (TCP segmentation as the
 * receiver sees it). */
enum cf_split {
	CF_SPLIT_WHOLE = 0,
	CF_SPLIT_RANDOM, /* random pieces of 1 .. max_chunk bytes, with short pauses */
	CF_SPLIT_BYTES,  /* 1..7 bytes at a time */
};
struct cf_writer;
struct cf_writer *cf_writer_start(struct cf_t *t, int peer, const void *buf, size_t len, enum cf_split split,
				  size_t max_chunk, uint64_t seed);
/* true when everything was written */
bool cf_writer_join(struct cf_writer *w);
/* Give up (the case failed): shut the connection down, join the writer, so
 * that its buffer may be freed. */
void cf_writer_stop(struct cf_writer *w);

/* toeless_pdu_recv() until it returns anything but -EAGAIN; fails the case
 * (and returns -ETIMEDOUT) after the case timeout. */
int cf_recv(struct cf_t *t, struct cf_conn *c, struct toeless_pdu *pdu);
/* Let the engine progress on this context without taking a PDU (a receive
 * call while no byte waits). */
void cf_progress(struct cf_conn *c);

/* ---- posts ---- */
void cf_posts_init(struct cf_posts *ps, uint64_t tag);
void cf_posts_free(struct cf_posts *ps);
/* A post of total bytes in nsge canary buffers (random sizes, registered
 * when reg or when the device needs it).  Not yet posted. */
struct cf_post *cf_post_new(struct cf_t *t, struct cf_posts *ps, uint32_t itt, uint64_t total, int nsge, bool reg);
/* A post over the given iovecs (copied; memory stays the caller's). */
struct cf_post *cf_post_new_iov(struct cf_t *t, struct cf_posts *ps, uint32_t itt, const struct iovec *iov, int n);
/* toeless_sgl_post(); false (case failed) on an error */
bool cf_post_submit(struct cf_t *t, struct cf_conn *c, struct cf_post *p);
/* Poll c's queue (with progress) until every post in ps that is posted has
 * want completions, or the timeout; checks each completion against its post
 * (exactly one per post, ctx, itt, type).  Completions of other kinds fail
 * the case unless other != NULL (they are counted there). */
bool cf_wait_posts(struct cf_t *t, struct cf_conn *c, struct cf_posts *ps, int *other);
/* The same until one post has completed. */
bool cf_wait_one(struct cf_t *t, struct cf_conn *c, struct cf_posts *ps, struct cf_post *p);
/* Take completions for a while and fail on any (after everything finished). */
bool cf_expect_quiet(struct cf_t *t, struct cf_conn *c, struct cf_posts *ps, int ms);
/* Route one SGL completion to its post; false on a duplicate or a stranger. */
bool cf_post_complete(struct cf_t *t, struct cf_posts *ps, const struct toeless_completion *cqe);
/* Compare a post's buffers with its expected bytes [0, n). */
bool cf_post_verify(struct cf_t *t, struct cf_post *p, uint64_t n);
/* Copy out the post's buffers into dst (total bytes). */
void cf_post_snapshot(const struct cf_post *p, uint8_t *dst);

/* ---- a stream of PDUs to send, and what the receiver must see ---- */
struct cf_exp {
	uint8_t opcode;
	uint32_t itt;
	uint32_t data_len;
	int status;      /* toeless_pdu_recv()'s return */
	bool placed;     /* TOELESS_PDU_F_PLACED */
	int task_done;   /* TOELESS_PDU_F_TASK_DONE: 1, 0, or -1 (either) */
	int data_digest; /* toeless_digest_result, or -1 (not checked) */
	bool check_data; /* compare pdu->data with the bytes at data_off of the wire */
	size_t data_off;
	uint64_t user_data; /* when placed */
};

struct cf_stream {
	struct cf_buf wire;
	struct cf_exp *exp;
	int n, cap;
	int data_in; /* Data-In PDUs expected placed */
	struct cf_t *t;
};
void cf_stream_init(struct cf_t *t, struct cf_stream *s);
void cf_stream_free(struct cf_stream *s);
/* A Data-In carrying [off, off+len) of p->expect; S bit with TOELESS_ISCSI_DATAIN_STATUS
 * in flags.  status: what the receiver must get (0, -EBADMSG, -ERANGE,
 * -EEXIST); placed follows from it unless p is NULL (no post: slow path). */
struct cf_exp *cf_stream_data_in(struct cf_stream *s, struct cf_post *p, uint32_t itt, uint32_t datasn, uint64_t off,
				 uint32_t len, uint8_t flags, unsigned digests, enum cf_corrupt corrupt, int status);
/* A SCSI Response for p (or itt when p is NULL) with an optional sense segment. */
struct cf_exp *cf_stream_scsi_rsp(struct cf_t *t, struct cf_stream *s, struct cf_post *p, uint32_t itt,
				  uint8_t response, uint8_t status, uint8_t flags, uint32_t residual,
				  uint32_t sense_len, unsigned digests);
/* A NOP-In with a random data segment (slow path). */
struct cf_exp *cf_stream_nop(struct cf_t *t, struct cf_stream *s, uint32_t len, unsigned digests,
			     enum cf_corrupt corrupt);
/* A new expectation at the end of s (the caller appends the wire bytes). */
struct cf_exp *cf_stream_exp(struct cf_stream *s);
/* Receive exactly the PDUs of s, in order, checking each; *engine (may be
 * NULL) counts those the engine placed.  Starts at expectation first. */
bool cf_stream_recv(struct cf_t *t, struct cf_conn *c, struct cf_stream *s, int first, int count, int *engine);
/* Send all of s to c and receive it (cf_stream_recv): in one piece before
 * the first receive when split is CF_SPLIT_WHOLE and it fits in the socket
 * (the engine sees whole PDUs), else through a writer (cf_writer_start) while
 * the library reads. */
bool cf_stream_send(struct cf_t *t, struct cf_conn *c, struct cf_stream *s, enum cf_split split, size_t max_chunk,
		    uint64_t seed, int *engine);
/* One PDU against one expectation (idx for the message). */
bool cf_recv_expect(struct cf_t *t, struct cf_conn *c, const struct cf_stream *s, int idx, struct toeless_pdu *out);
/* A random number under the case lock (for helpers threads share). */
uint64_t cf_trand(struct cf_t *t);

/* ---- counters ---- */
bool cf_ctx_stats(struct cf_t *t, struct cf_conn *c, struct toeless_stats *st);

/* ---- the cases ---- */
void case_device_open(struct cf_t *t);
void case_crc_vectors(struct cf_t *t);
void case_crc_async_vectors(struct cf_t *t);
void case_crc_async_sizes(struct cf_t *t);
void case_crc_async_iov(struct cf_t *t);
void case_crc_async_queue_full(struct cf_t *t);
void case_place_basic(struct cf_t *t);
void case_place_random(struct cf_t *t);
void case_place_engine(struct cf_t *t);
void case_place_digest_error(struct cf_t *t);
void case_place_bad_offset(struct cf_t *t);
void case_place_params(struct cf_t *t);
void case_cancel_outstanding(struct cf_t *t);
void case_cancel_mid_pdu(struct cf_t *t);
void case_destroy_outstanding(struct cf_t *t);
void case_completion_rules(struct cf_t *t);
void case_limits_sge(struct cf_t *t);
void case_limits_tasks(struct cf_t *t);
void case_limits_contexts(struct cf_t *t);
void case_limits_recv_dsl(struct cf_t *t);
void case_queue_full(struct cf_t *t);
void case_mr_register(struct cf_t *t);
void case_threads_contexts(struct cf_t *t);
/* sweeps and long runs (cases-sweep.c, and the CRC ones in cases-crc.c) */
void case_crc_async_lengths(struct cf_t *t);
void case_crc_async_iov_count(struct cf_t *t);
void case_place_sizes(struct cf_t *t);
void case_place_sge_counts(struct cf_t *t);
void case_long_placements(struct cf_t *t);
void case_long_crc(struct cf_t *t);
/* the transmit side (cases-tx.c) */
void case_tx_digests(struct cf_t *t);
void case_tx_engine(struct cf_t *t);

#endif /* TOELESS_CONFORM_H */
