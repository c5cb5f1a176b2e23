/*
 * The hw backend (driver) internals.  Not installed.
 *
 *   hwif.h    the device interface layouts, shared with toeless-devsim
 *   attach.c  attach/detach: control socket, queue memory, eventfds,
 *             feature negotiation; the admin queue and synchronous commands
 *   rings.c   submission/completion ring helpers and the ITT table
 *   hw.c      the backend ops: contexts, SGLs, receive records, resync, CRC
 *
 * Locking: hw_dev.lock guards the admin queue, the slot map, the region
 * list and the outstanding CRC table (device ops may come from any thread).
 * A context's queues are touched only from the thread using the context
 * (the core calls context ops one at a time), so they take no lock.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef TOELESS_HW_INT_H
#define TOELESS_HW_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "toeless_backend.h"
#include "hwif.h"

/* Sizes the driver asks for at attach. */
#define HW_MAX_CONTEXTS 64
#define HW_ADMIN_SQ     256
#define HW_ADMIN_CQ     512
#define HW_CTX_SQ       256
#define HW_CTX_CQ       1024
#define HW_CTX_RQ       1024

#define HW_ATTACH_TIMEOUT_MS 3000
#define HW_CMD_TIMEOUT_MS    3000
/* How long sgl_release waits for the device before it answers "later". */
#define HW_RELEASE_WAIT_US 2000
/* How long sgl_claim waits for the device's answer before failing it. */
#define HW_CLAIM_WAIT_US 2000000
#define HW_MAX_WAITERS   16

struct hw_region {
	struct hw_region *next;
	uint32_t id;
	uint8_t *addr;
	size_t len;
	int status; /* 0: the device can reach it; else why not */
};

struct hw_waiter {
	uint32_t tag; /* 0: free */
	int done;
	int32_t status;
};

struct hw_crc_pending {
	uint32_t tag; /* 0: free */
	toeless_cq *cq;
	uint64_t id;
};

struct hw_crc_done {
	toeless_cq *cq;
	uint64_t id;
	uint32_t crc;
	int status;
};

struct hw_dev {
	toeless_device *tdev;
	pthread_mutex_t lock;
	int ctl; /* control socket */
	int memfd;
	uint8_t *mem;
	size_t mem_size;
	struct hwif_layout lay;
	int doorbell; /* eventfd: driver -> device */
	int irq0;     /* eventfd: admin vector */
	pid_t dev_pid;
	char path[108];
	struct hwif_hello_reply info; /* what the device granted */
	uint64_t features;
	struct hwif_shared_hdr *hdr;
	struct hwif_sqe *asq;
	struct hwif_cqe *acq;
	uint32_t asq_tail, acq_head;
	uint32_t next_tag;
	struct hw_waiter waiters[HW_MAX_WAITERS];
	pthread_mutex_t crc_lock;    /* the CRC table (inside lock when both are held) */
	struct hw_crc_pending *crcs; /* open addressing by tag */
	uint32_t crc_mask, crc_count;
	uint8_t slot_used[HW_MAX_CONTEXTS];
	struct hw_region *regions;
	uint32_t next_region;
	int failed; /* atomic */
	unsigned ticks;
	/* receive coalescing (TOELESS_HW_RX_USECS, TOELESS_HW_RX_FRAMES; 0: off) */
	uint32_t rx_usecs, rx_frames;
};

enum hw_itt_state {
	HW_ITT_HELD = 1, /* offered to the device (it holds or will hold it) */
	HW_ITT_DONE,     /* the device let go (auto-release) or refused it */
	HW_ITT_REMOVING, /* SGL_REMOVE posted: wait for SGL_RELEASED */
};

struct hw_itt {
	uint32_t itt;
	uint32_t gen;
	uint8_t state;
	uint8_t dev_holds; /* counted in hw_ctx.n_held */
	int32_t next;      /* chain in the bucket, or the free list; -1 ends */
};

struct hw_ctx {
	struct hw_dev *dev;
	toeless_ctx *tctx;
	uint32_t slot;
	int irq; /* eventfd of this slot's vector */
	int fd;  /* the connection's socket (the core's; waited on in rx_pdu) */
	struct hwif_ctx_block *blk;
	struct hwif_sqe *sq;
	struct hwif_cqe *cq;
	struct hwif_rqe *rq;
	uint32_t sq_tail, cq_head, rq_head;
	bool dead; /* the device stopped following this context */
	bool hdr_digest, data_digest;
	bool tx_digests; /* transmit records go to the device (HWIF_F_DIGEST_TX) */
	/* ITT table: chained buckets over a fixed pool */
	struct hw_itt *itts;
	int32_t *buckets;
	uint32_t bucket_mask;
	int32_t free_itt;
	uint32_t n_itts, max_itts;
	uint32_t n_held;     /* SGLs the device may hold */
	uint32_t n_removing; /* SGL_REMOVEs waiting for their answer */
	uint32_t gen_next;
	uint32_t claim_tag; /* tag of the last SGL_CLAIM */
	/* work to hand to the core from ctx_progress */
	uint32_t *released;
	uint32_t n_released, cap_released;
	bool resync_pending;
	uint64_t resync_pos;
	/* receive coalescing: waits that asked for more than one PDU, and of
	 * those the ones that ended at the time bound (logged at destroy) */
	uint64_t coalesced_waits, coalesce_timeouts;
	/* SGL_REMOVEs that did not fit in the SQ */
	uint64_t *backlog; /* itt << 32 | gen */
	uint32_t n_backlog, cap_backlog;
};

/* ---- attach.c ---- */
__attribute__((visibility("hidden"))) int hw_attach(struct hw_dev *d, const char *path);
__attribute__((visibility("hidden"))) void hw_detach(struct hw_dev *d);
__attribute__((visibility("hidden"))) void hw_doorbell(struct hw_dev *d);
/* Is the device still usable?  Reports a failure to the core once. */
__attribute__((visibility("hidden"))) bool hw_dev_ok(struct hw_dev *d);
__attribute__((visibility("hidden"))) void hw_dev_fail(struct hw_dev *d, int err);
/* The device process hung up its control socket (checks now, no wait). */
__attribute__((visibility("hidden"))) bool hw_ctl_dead(struct hw_dev *d);
/* Run one admin command and wait for its completion.  Returns its status,
 * -ETIMEDOUT, -ENODEV (device failed), -EAGAIN (queue full). */
__attribute__((visibility("hidden"))) int hw_admin_sync(struct hw_dev *d, struct hwif_sqe *cmd);
/* Reap the admin CQ; caller holds d->lock.  CRC completions go to done[]
 * (up to max, *n counts them); the caller completes them after unlocking. */
__attribute__((visibility("hidden"))) void hw_admin_reap(struct hw_dev *d, struct hw_crc_done *done, int max, int *n);
/* Bind an interrupt vector (1 + slot) to an eventfd on the device. */
__attribute__((visibility("hidden"))) int hw_bind_vector(struct hw_dev *d, uint32_t vector, int efd);
/* Fail every outstanding CRC request (-EIO); takes only crc_lock. */
__attribute__((visibility("hidden"))) void hw_crc_fail_all(struct hw_dev *d);
__attribute__((visibility("hidden"))) uint8_t *hw_slot_base(struct hw_dev *d, uint32_t slot);

/* ---- rings.c ---- */
__attribute__((visibility("hidden"))) uint32_t hw_sq_free(uint32_t tail, uint32_t head, uint32_t entries);
__attribute__((visibility("hidden"))) int hw_itt_init(struct hw_ctx *c, uint32_t max);
__attribute__((visibility("hidden"))) void hw_itt_fini(struct hw_ctx *c);
__attribute__((visibility("hidden"))) struct hw_itt *hw_itt_find(struct hw_ctx *c, uint32_t itt);
__attribute__((visibility("hidden"))) struct hw_itt *hw_itt_add(struct hw_ctx *c, uint32_t itt);
__attribute__((visibility("hidden"))) void hw_itt_del(struct hw_ctx *c, struct hw_itt *e);
__attribute__((visibility("hidden"))) int hw_u32_push(uint32_t **arr, uint32_t *n, uint32_t *cap, uint32_t v);
__attribute__((visibility("hidden"))) int hw_u64_push(uint64_t **arr, uint32_t *n, uint32_t *cap, uint64_t v);
/* Fill n descriptors for an SGE list: the first is prepared by the caller
 * (opcode, tag, a, b), SGEs go inline then into HWIF_OP_SGE entries.
 * Returns the number of SQ entries used. */
__attribute__((visibility("hidden"))) uint32_t hw_sqe_count(uint32_t nsge);
__attribute__((visibility("hidden"))) void hw_sq_put_sges(struct hwif_sqe *ring, uint32_t entries, uint32_t tail,
							  const struct hwif_sqe *first, const struct hwif_sge *sges,
							  uint32_t nsge);

#endif /* TOELESS_HW_INT_H */
