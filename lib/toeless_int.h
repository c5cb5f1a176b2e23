/*
 * libtoeless internals shared by the core's modules.  Not installed.
 *
 * Module map:
 *   device.c   backend registry, device open/close/query, memory registration,
 *              logging, device counters
 *   cq.c       completion queues (ring + eventfd), CRC request bookkeeping
 *   crc.c      CRC32C on isa-l, toeless_crc_submit()
 *   task.c     ITT task table: O(1) lookup, placement ranges
 *   oahash.h   open addressing helper (task and CRC request tables)
 *   ctx.c      context create/destroy/params/progress/failure
 *   sgl.c      SGL post/cancel, offer to the engine, finish, release flow
 *   rx.c       the receive engine (toeless_pdu_recv)
 *   tx.c       the send helper (toeless_pdu_send / toeless_ctx_flush)
 *   ops.c      default ops filled in for the optional ones an engine lacks
 *   strerror.c toeless_strerror, version
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef TOELESS_INT_H
#define TOELESS_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/uio.h>

#include "toeless.h"
#include "toeless_backend.h"
#include "pdu.h"

#define TL_HIDDEN      __attribute__((visibility("hidden")))
#define TL_LIKELY(x)   __builtin_expect(!!(x), 1)
#define TL_UNLIKELY(x) __builtin_expect(!!(x), 0)

/* ---- counters: one writer per context, read from any thread ---- */
#define TL_STAT_ADD(st, field, n)                                                                                      \
	__atomic_store_n(&(st)->field, __atomic_load_n(&(st)->field, __ATOMIC_RELAXED) + (n), __ATOMIC_RELAXED)
#define TL_STAT_INC(st, field) TL_STAT_ADD(st, field, 1)
/* Add every counter of src into dst (dst under its owner's lock). */
TL_HIDDEN void tl_stats_accumulate(struct toeless_stats *dst, const struct toeless_stats *src);
/* Copy counters out to a caller's struct of size caller->size. */
TL_HIDDEN int tl_stats_export(const struct toeless_stats *src, struct toeless_stats *out);

/* Copy an engine's ops table into a full-size one and fill each absent
 * optional op with its documented default; true when the engine has
 * sgl_post of its own. */
TL_HIDDEN bool tl_ops_fill(struct toeless_backend_ops *dst, const struct toeless_backend_ops *src);

/* Copy a caller's size-prefixed attribute struct into a zeroed full one. */
TL_HIDDEN int tl_attr_copy(void *dst, size_t dst_size, const void *src);

/* ---- device ---- */
struct tl_ctx_link {
	struct tl_ctx_link *prev, *next;
};

struct toeless_device {
	/* Every op set: the engine's table with absent optional ops filled
	 * (lib/ops.c); heap, owned by the device. */
	const struct toeless_backend_ops *ops;
	const struct toeless_backend_ops *backend_ops; /* the engine's own table */
	bool offers_sgls;                              /* the engine has sgl_post and TOELESS_CAP_DDP */
	bool tx_digests;                               /* the engine set TOELESS_CAP_CRC_TX: ask tx_pdu() */
	void *priv;
	pthread_mutex_t lock;
	toeless_log_fn log_fn;
	void *log_arg;
	int log_level;
	struct toeless_caps caps; /* full-size copy queried at open */
	uint32_t n_ctx, n_cq, n_mr;
	struct tl_ctx_link ctxs;      /* open contexts, for toeless_device_stats */
	struct toeless_stats retired; /* counters of destroyed contexts + device-level */
	int failed;                   /* atomic: device error seen; engine no longer used */
	struct toeless_mr *mrs;       /* registrations, for SGE lookup */
};

struct toeless_mr {
	toeless_device *dev;
	struct toeless_mr *next;
	uint8_t *addr;
	size_t len;
	void *priv;
	uint32_t users;  /* SGL posts referencing it (atomic) */
	bool engine_reg; /* the backend's mr_reg accepted it (priv is its handle) */
};

TL_HIDDEN void tl_log(toeless_device *dev, int level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Find the registration that wholly contains [addr, addr+len), or NULL.
 * Takes a reference (users++) on success; drop it with tl_mr_put(). */
TL_HIDDEN toeless_mr *tl_mr_get(toeless_device *dev, const void *addr, size_t len);
TL_HIDDEN void tl_mr_put(toeless_mr *mr);
TL_HIDDEN void tl_device_ctx_added(toeless_device *dev, toeless_ctx *ctx);
TL_HIDDEN void tl_device_ctx_removed(toeless_device *dev, toeless_ctx *ctx);
static inline bool tl_device_failed(const toeless_device *dev)
{
	return __atomic_load_n(&dev->failed, __ATOMIC_ACQUIRE) != 0;
}

/* ---- completion queues ---- */
struct tl_crc_pending {
	uint64_t id; /* 0 = empty slot */
	uint64_t user_data;
};

struct toeless_cq {
	toeless_device *dev;
	pthread_mutex_t lock;
	int efd;        /* eventfd: readable while entries wait (-1 when polled) */
	bool signalled; /* efd holds a count */
	bool polled;    /* TOELESS_CQ_POLLED: no eventfd, never signalled */
	struct toeless_completion *ring;
	uint32_t cap, head, count; /* ring of cap entries, count used */
	uint32_t reserved;         /* entries promised to producers, not yet pushed */
	uint32_t n_ctx;            /* contexts delivering here */
	/* outstanding asynchronous CRC requests, open addressing by id */
	struct tl_crc_pending *crc;
	uint32_t crc_mask, crc_count;
	uint64_t crc_next_id;
	uint64_t crc_anomalies;
};

/* Promise room for n completions (grows the ring).  0 or -ENOMEM. */
TL_HIDDEN int tl_cq_reserve(toeless_cq *cq, uint32_t n);
/* Give back a promise that will not be used. */
TL_HIDDEN void tl_cq_unreserve(toeless_cq *cq, uint32_t n);
/* Push a completion for which room was reserved; never fails. */
TL_HIDDEN void tl_cq_push(toeless_cq *cq, const struct toeless_completion *c);
TL_HIDDEN void tl_cq_bind(toeless_cq *cq);
TL_HIDDEN void tl_cq_unbind(toeless_cq *cq);
/* Asynchronous CRC bookkeeping (toeless_crc_submit): reserve n completion
 * slots and record n requests under consecutive ids *first_id.. with their
 * user_data; all or nothing (-ENOMEM).  tl_cq_crc_abort() takes back the
 * ones an engine did not accept.  toeless_backend_crc_done() completes them. */
TL_HIDDEN int tl_cq_crc_begin(toeless_cq *cq, const struct toeless_crc_req *reqs, int n, uint64_t *first_id);
TL_HIDDEN void tl_cq_crc_abort(toeless_cq *cq, uint64_t first_id, int n);

/* ---- tasks (ITT table) ---- */
enum tl_task_state {
	TL_TASK_POSTED = 1, /* waiting for data; buffers are ours */
	TL_TASK_RELEASING,  /* finished; waiting for the engine to let go */
};

struct tl_range {
	uint64_t lo, hi; /* [lo, hi) placed */
};

/* Laid out by use (doc/performance.md, "Layout"): the first cache line
 * holds what every PDU for the task reads or writes, the second the inline
 * storage those pointers usually point to, the rest what only a post, a
 * status or a completion touches.  Aligned to a line, so a task of the
 * direct table (and one from tl_task_alloc) never straddles one more. */
struct tl_task {
	/* line 0: per PDU */
	uint32_t itt;
	uint8_t state;        /* 0 (a free direct-table entry) or enum tl_task_state */
	uint8_t engine_owned; /* the engine accepted this SGL */
	uint8_t worst_digest; /* toeless_digest_result, worst seen */
	uint8_t in_direct;    /* an entry of the direct table, not of the hash */
	int iovcnt;
	int cur_idx;      /* the SGE where the last placement ended, for in-order streams */
	uint32_t nranges; /* placement ranges: sorted, merged, disjoint */
	int32_t status;   /* 0 or first error */
	uint64_t total;   /* sum of iov lengths */
	uint64_t bytes_placed;
	struct iovec *iov; /* iov_inline or heap */
	uint64_t *ends;    /* cumulative end offsets, heap when iovcnt > TL_INLINE_SGE */
	struct tl_range *ranges;
	/* line 1: inline storage */
#define TL_INLINE_SGE 2
	struct iovec iov_inline[TL_INLINE_SGE];
	uint64_t ends_inline[TL_INLINE_SGE];
	struct tl_range range_inline[1];
	/* line 2: per post / status / completion */
	uint64_t user_data;
	uint64_t bytes_engine;
	toeless_mr **mrs; /* per-SGE registration refs, or NULL when none */
	struct tl_task *next_free;
	uint32_t ranges_cap;
	uint32_t residual;
	uint16_t cflags; /* toeless_cqe_flags gathered */
	uint8_t scsi_status;
	uint8_t response;
	uint8_t has_status;
	uint8_t status_datain; /* the status came with a final Data-In (S bit) */
} __attribute__((aligned(64)));

_Static_assert(offsetof(struct tl_task, ranges) + sizeof(void *) <= 64, "tl_task: per-PDU fields in line 0");
_Static_assert(offsetof(struct tl_task, iov_inline) == 64, "tl_task: inline storage in line 1");
_Static_assert(offsetof(struct tl_task, user_data) == 128, "tl_task: cold fields from line 2");
_Static_assert(sizeof(struct tl_task) == 192, "tl_task: three cache lines");

/* A slot keeps the ITT next to the pointer: probes and the backward shift
 * of a deletion compare keys without touching the tasks (cache misses). */
struct tl_slot {
	uint32_t itt;
	struct tl_task *task; /* NULL = empty */
};

/* Tasks are found by ITT in a direct table when the context has one (ITT
 * low bits index it; the entry's own itt confirms) and else, or when that
 * entry is taken by another ITT, in the hash.  Entries of the direct table
 * are the tasks themselves: one cache miss per lookup instead of two. */
struct tl_task_table {
	struct tl_task *direct; /* dmask + 1 tasks, line-aligned; NULL: hash only */
	uint32_t dmask;
	uint32_t hcount;       /* tasks in the hash */
	uint32_t count;        /* tasks in both */
	uint32_t max;          /* limit on count */
	struct tl_slot *slots; /* open addressing, linear probing */
	uint32_t mask;
	struct tl_task *free; /* recycled task structs */
	void *direct_mem;     /* what was allocated for direct (unaligned) */
};

/* direct: entries of the direct table (0: none; else a power of two). */
TL_HIDDEN int tl_tasks_init(struct tl_task_table *t, uint32_t max, uint32_t direct);
TL_HIDDEN void tl_tasks_fini(struct tl_task_table *t);
TL_HIDDEN struct tl_task *tl_task_find(const struct tl_task_table *t, uint32_t itt);
/* Allocate and insert a task for itt; -EEXIST, -ENOSPC, -ENOMEM, -E2BIG. */
TL_HIDDEN int tl_task_add(struct tl_task_table *t, uint32_t itt, const struct iovec *iov, int iovcnt,
			  struct tl_task **out);
TL_HIDDEN void tl_task_remove(struct tl_task_table *t, struct tl_task *task);
/* Every task, for walks that may finish (remove) the one they are at:
 * index 0 .. tl_tasks_span() - 1; NULL for an empty index.  After a removal
 * at index i, look at i again (a hash deletion shifts another task in). */
TL_HIDDEN uint32_t tl_tasks_span(const struct tl_task_table *t);
TL_HIDDEN struct tl_task *tl_task_at(const struct tl_task_table *t, uint32_t i);
/* Record [lo, hi) as placed; -EEXIST when it overlaps, -ERANGE past total. */
TL_HIDDEN int tl_task_check_range(const struct tl_task *task, uint64_t lo, uint64_t hi);
TL_HIDDEN int tl_task_mark_range(struct tl_task *task, uint64_t lo, uint64_t hi);
/* Build iovecs covering [off, off+len) of the task's SGL (off + len <= total)
 * into out, at most max entries; returns the count and sets *covered to the
 * bytes they cover (less than len when max entries were not enough). */
TL_HIDDEN int tl_task_slice(struct tl_task *task, uint64_t off, uint64_t len, struct iovec *out, int max,
			    uint64_t *covered);

/* ---- contexts ---- */
enum tl_rx_phase {
	TL_RX_BHS = 0,  /* reading the 48-byte BHS */
	TL_RX_HDR_REST, /* reading AHS + header digest */
	TL_RX_DATA,     /* reading data segment + pad + data digest */
};

#define TL_HDR_MAX (TOELESS_BHS_LEN + 1020 + 4)

struct tl_tx_state {
	uint8_t hdr[TOELESS_BHS_LEN + 1020 + 4]; /* BHS + AHS + header digest */
	uint8_t trailer[8];                      /* pad + data digest */
	struct iovec *iov;                       /* pending iovecs (points into iov_store or heap) */
	struct iovec iov_store[8];
	struct iovec *iov_heap;
	int iov_heap_cap;
	int iovcnt;   /* remaining entries */
	int pending;  /* a PDU is partly sent */
	uint64_t pos; /* bytes queued by toeless_pdu_send() since ctx_create */
};

/* Fields in the order of use: the first lines hold what every PDU reads
 * and writes (phase and lengths, positions, the placement of the current
 * PDU, its BHS, the header history), the last ones what only the slow path
 * or a resync touches. */
struct tl_rx_state {
	/* per PDU */
	enum tl_rx_phase phase;
	uint32_t hdr_have; /* bytes of hdr read */
	uint32_t hdr_len;  /* bytes of hdr needed (48, then full) */
	uint32_t ahs_len;
	uint32_t data_len;    /* DataSegmentLength */
	uint32_t seg_len;     /* data_len + pad (bytes of data segment on the wire) */
	uint32_t trailer_len; /* data digest bytes (0 or 4) */
	uint32_t data_have;   /* bytes of segment+trailer read */
	uint64_t pos;         /* stream position of the next byte to read */
	uint64_t pdu_pos;     /* stream position of the current PDU's header */
	uint8_t *hdr;         /* BHS + AHS + header digest (ctx->hdr_store) */
	/* current PDU's placement */
	struct tl_task *task;  /* posted task when placing, else NULL */
	int32_t pdu_err;       /* problem found with the current PDU so far */
	uint32_t place_off;    /* Buffer Offset */
	uint32_t engine_bytes; /* payload bytes the engine placed */
	bool engine_host;      /* ... with the host's CPU (TOELESS_RX_REC_HOST_CPU) */
	uint32_t crc;          /* running data-digest CRC (toeless_crc32c convention) */
	uint32_t crc_done;     /* payload bytes covered by crc */
	uint32_t skip;         /* engine-placed payload bytes still to consume from the socket */
	uint32_t hist_n;
	uint32_t lowat; /* SO_RCVLOWAT now set on the socket (TOELESS_CTX_RCVLOWAT; 0: default) */
	uint8_t engine_data_digest;
	uint8_t hdr_digest;
	bool discard;        /* payload goes to the scratch buffer */
	bool engine_checked; /* the engine's data-digest verdict stands */
	bool resync_wanted;
	uint8_t trailer[8];           /* pad + data digest when placing into an SGL */
	uint8_t bhs[TOELESS_BHS_LEN]; /* BHS of the current PDU (hdr is reused for the next) */
	uint64_t hist[8];             /* recent header positions, for resync replies */
	/* slow path, resync */
	uint8_t *buf; /* slow-path data segment buffer (max_recv_dsl + 8) */
	uint32_t buf_cap;
	uint8_t *ahs_copy; /* AHS of the current PDU (hdr is reused for the next) */
	uint64_t resync_pos;
};

/* Laid out by use (doc/performance.md, "Layout"): line-aligned, the
 * fields every PDU reads first (descriptor, state, parameters, the task
 * table's header, the hot part of rx), then the counters (a public struct:
 * its order is fixed), then the header buffer whose first line every PDU
 * reads, and the rest (send state, cold fields) last.  Over 10 000
 * contexts each is cold when its PDU arrives, so every line counts. */
struct toeless_ctx {
	toeless_device *dev;
	toeless_cq *cq;
	void *priv; /* backend's context */
	int fd;
	int32_t failed;      /* 0 or the error that failed the context */
	bool is_tcp;         /* MSG_TRUNC may discard engine-placed bytes */
	bool engine;         /* the backend took this context (else all software) */
	bool error_reserved; /* a CQ slot is still held for the ERROR completion */
	bool rcvlowat;       /* TOELESS_CTX_RCVLOWAT */
	uint32_t releasing;  /* tasks waiting for the engine */
	struct toeless_ctx_params params;
	struct tl_task_table tasks;
	struct tl_rx_state rx;
	struct toeless_stats stats;
	uint8_t hdr_store[TL_HDR_MAX]; /* rx.hdr: the next PDU's header, read ahead */
	uint64_t user_data;
	struct tl_ctx_link link; /* in dev->ctxs */
	struct tl_tx_state tx;
} __attribute__((aligned(64)));

_Static_assert(offsetof(struct toeless_ctx, rx) + offsetof(struct tl_rx_state, buf) <= 6 * 64,
	       "toeless_ctx: what every PDU reads must stay in the first six lines");

/* The engine may be used for this context: it has one and the device works. */
static inline bool tl_engine_usable(const toeless_ctx *ctx)
{
	return ctx->engine && !tl_device_failed(ctx->dev);
}
/* lib/sgl.c.  Finish a task: record why, ask the engine to release it, and
 * complete it on the queue once released.  The task leaves the table on
 * completion. */
TL_HIDDEN void tl_task_finish(toeless_ctx *ctx, struct tl_task *task, int32_t status);
/* Cancel every posted task and wait (bounded) until the engine released all
 * it held; then nothing of the context's is left on loan. */
TL_HIDDEN void tl_sgl_release_all(toeless_ctx *ctx);
/* Fail the context (first error wins) and queue a TOELESS_CQE_ERROR. */
TL_HIDDEN void tl_ctx_fail(toeless_ctx *ctx, int err);
TL_HIDDEN void tl_rx_init(struct tl_rx_state *rx, uint64_t pos);
TL_HIDDEN int tl_rx_alloc(toeless_ctx *ctx);
TL_HIDDEN void tl_rx_free(toeless_ctx *ctx);
TL_HIDDEN bool tl_rx_idle(const toeless_ctx *ctx);
/* TOELESS_CTX_RCVLOWAT: size the socket so later low-water marks never
 * clamp its receive window (lib/rx.c). */
TL_HIDDEN void tl_rx_lowat_prepare(toeless_ctx *ctx);
/* May parameters with these flags take effect now (between PDUs)? */
TL_HIDDEN bool tl_rx_can_switch(const toeless_ctx *ctx, uint32_t new_flags);
TL_HIDDEN void tl_tx_free(toeless_ctx *ctx);
/* The task is finishing while a PDU may be mid-placement into it: send the
 * rest of that payload to scratch so the buffers are untouched from now on. */
TL_HIDDEN void tl_rx_detach_task(toeless_ctx *ctx, struct tl_task *task);
/* Let the engine progress; complete releases a failed device never will. */
TL_HIDDEN void tl_ctx_progress(toeless_ctx *ctx);

#define TL_DEFAULT_MAX_TASKS 1024
#define TL_DIRECT_MAX        (1u << 24) /* entries of a direct task table */
#define TL_DEFAULT_RECV_DSL  8192

#endif /* TOELESS_INT_H */
