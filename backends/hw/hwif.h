/*
 * The toeless device interface, version 1: the layouts shared by the
 * driver (backends/hw) and the reference device model (toeless-devsim).
 * doc/device-interface.md is the prose for everything here.
 *
 * All multi-byte fields are little-endian.  The project only builds on
 * little-endian hosts (configure refuses others), so the structs are used
 * in place; every layout has a size assertion and no implicit padding.
 *
 * Three channels join driver and device:
 *  - the control socket (AF_UNIX, SOCK_SEQPACKET) at the device's path:
 *    attach (HELLO with feature negotiation), interrupt vector binding, and
 *    the file descriptors (SCM_RIGHTS) of the shared memory and eventfds;
 *  - one memfd of queue memory, created by the driver ("host memory") and
 *    mapped by both: a header page, the admin queue pair, and per context
 *    slot a context block, a submission queue (SQ), a completion queue
 *    (CQ) and a receive record queue (RQ);
 *  - eventfds: one doorbell (driver -> device) and one interrupt vector per
 *    queue set (device -> driver), the admin queue being vector 0.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef TOELESS_HWIF_H
#define TOELESS_HWIF_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/types.h>

#define HWIF_MAGIC         0x46495754u /* "TWIF" */
#define HWIF_VERSION_MAJOR 1           /* incompatible changes */
#define HWIF_VERSION_MINOR 3           /* compatible additions: 1 adds SGL_CLAIM, 2 wire records, 3 transmit digests */

/* ---- features, negotiated at attach (driver asks, device grants a subset) ---- */
#define HWIF_F_DDP          (1ull << 0) /* places Data-In payload into registered memory */
#define HWIF_F_DIGEST_RX    (1ull << 1) /* checks header and data digests of received PDUs */
#define HWIF_F_CRC_REQ      (1ull << 2) /* serves CRC requests on registered memory */
#define HWIF_F_RESYNC       (1ull << 3) /* resync handshake (RESYNC_REQ / RESYNC_REPLY) */
#define HWIF_F_AUTO_RELEASE (1ull << 4) /* releases an SGL itself on the PDU that ends its task */
#define HWIF_F_CLAIM        (1ull << 5) /* SGL_CLAIM: never places over ranges the host claimed */
/* Wire records (interface 1.2): the device sits on the wire and sees a
 * PDU segment by segment, so it publishes the record when it has the
 * header (before the segment completing the header reaches the host) and
 * completes it in place: bytes_placed grows as segments are placed, and
 * HWIF_REC_F_FINAL (set last, release store) says the PDU is finished:
 * its digests are known, or the device stopped following it.  Record
 * field seq then carries the TCP sequence number of the PDU header. */
#define HWIF_F_WIRE_RECORDS (1ull << 6)
/* Transmit digests (interface 1.3): the host sends a transmit record
 * (HWIF_OP_TX_PDU) before a PDU's first byte and zeros where its digests
 * go; the device computes them over the outgoing segments, writes them in
 * (fixing the TCP checksum) and does so again for every retransmission
 * until the peer acknowledged the PDU. */
#define HWIF_F_DIGEST_TX (1ull << 7)
#define HWIF_F_ALL                                                                                                     \
	(HWIF_F_DIGEST_TX | HWIF_F_DDP | HWIF_F_DIGEST_RX | HWIF_F_CRC_REQ | HWIF_F_RESYNC | HWIF_F_AUTO_RELEASE |     \
	 HWIF_F_CLAIM | HWIF_F_WIRE_RECORDS)

/* ---- control socket messages ---- */
enum hwif_msg_type {
	HWIF_MSG_HELLO = 1,       /* driver -> device; fds: memfd, doorbell, vector 0 */
	HWIF_MSG_HELLO_REPLY = 2, /* device -> driver */
	HWIF_MSG_VECTOR = 3,      /* driver -> device; fd: the eventfd for vector n */
	HWIF_MSG_VECTOR_REPLY = 4,
};

struct hwif_msg_hdr {
	uint32_t magic; /* HWIF_MAGIC */
	uint16_t type;  /* hwif_msg_type */
	uint16_t len;   /* bytes of the whole message */
};

struct hwif_hello {
	struct hwif_msg_hdr h;
	uint16_t ver_major, ver_minor;
	uint32_t host_pid;     /* the process whose memory regions name */
	uint64_t features;     /* HWIF_F_* the driver can use */
	uint64_t mem_size;     /* bytes of the queue memfd */
	uint32_t max_contexts; /* context slots laid out in the memfd */
	uint32_t admin_sq_entries, admin_cq_entries;
	uint32_t ctx_sq_entries, ctx_cq_entries, ctx_rq_entries;
	uint32_t reserved[6];
};

struct hwif_hello_reply {
	struct hwif_msg_hdr h;
	uint16_t ver_major, ver_minor;
	int32_t status;    /* 0 or a negative errno: the attach failed */
	uint64_t features; /* granted: a subset of what was asked */
	uint32_t device_pid;
	uint32_t max_contexts; /* slots the device serves (<= asked) */
	uint32_t max_sge;      /* SGEs in one SGL */
	uint32_t max_sgls;     /* SGLs held at once per context */
	uint32_t max_dsl;      /* largest data segment it follows */
	uint32_t max_regions;  /* memory regions at once */
	uint32_t max_crc_sge;  /* SGEs in one CRC request */
	uint32_t reserved0;
	char name[32]; /* device model name and version, NUL-terminated */
	uint32_t reserved[4];
};

struct hwif_vector_msg {
	struct hwif_msg_hdr h;
	uint32_t vector; /* 1 + context slot */
	int32_t status;  /* reply: 0 or negative errno */
};

/* ---- queue memory layout ---- */

/* Device state, in the header page: the driver reads it on the fast path. */
enum hwif_dev_state {
	HWIF_STATE_ATTACHING = 0,
	HWIF_STATE_RUNNING = 1,
	HWIF_STATE_RESET = 2, /* the device reset: it holds nothing, offloads nothing */
	HWIF_STATE_FAILED = 3,
};

/* Device counters, in the header page (written by the device only). */
struct hwif_dev_stats {
	uint64_t pdus_seen;       /* PDU headers followed in sync */
	uint64_t records;         /* records published */
	uint64_t records_dropped; /* records not published (RQ full, fault) */
	uint64_t bytes_placed;    /* payload bytes written into host memory */
	uint64_t digests_checked; /* data digests checked */
	uint64_t digest_errors;   /* of which bad */
	uint64_t resync_requests; /* RESYNC_REQ sent */
	uint64_t resyncs;         /* confirmed */
	uint64_t crc_requests;    /* CRC requests served */
	uint64_t sgls_added, sgls_refused, sgls_released;
	uint64_t faults_injected;
	uint64_t tx_records;            /* transmit records taken (HWIF_OP_TX_PDU) */
	uint64_t tx_digests_inserted;   /* header and data digests written into first transmissions */
	uint64_t tx_digests_reinserted; /* ... into retransmitted segments */
	uint64_t tx_digest_misses;      /* digests the device could not compute (bytes not seen in order) */
	uint64_t reserved[15];
};

struct hwif_shared_hdr {
	uint32_t magic; /* HWIF_MAGIC, written by the driver */
	uint32_t state; /* hwif_dev_state, written by the device */
	uint32_t reset_count;
	uint32_t reserved0[13];
	uint32_t admin_sq_tail; /* driver */
	uint32_t pad0[15];
	uint32_t admin_sq_head; /* device */
	uint32_t admin_cq_tail; /* device */
	uint32_t pad1[14];
	uint32_t admin_cq_head; /* driver */
	uint32_t admin_irq_arm; /* driver sets 1 before it sleeps on vector 0; device clears */
	uint32_t pad2[14];
	struct hwif_dev_stats stats;
};

/* Per context slot: its block (indices and parameters), then its queues. */
struct hwif_ctx_block {
	/* written by the driver */
	uint32_t sq_tail;
	uint32_t cq_head;
	uint32_t rq_head;
	uint32_t irq_arm; /* set before sleeping on the slot's vector; device clears */
	uint32_t pad0[12];
	/* written by the device */
	uint32_t sq_head;
	uint32_t cq_tail;
	uint32_t rq_tail;
	uint32_t pad1[13];
	/* context parameters, written by the driver before CTX_ADD / CTX_MODIFY */
	uint64_t host_pos; /* stream position (host numbering) of the next PDU header */
	uint64_t wire_off; /* bytes of the target->host byte stream before that header */
	uint32_t flags;    /* HWIF_CTX_HDR_DIGEST | HWIF_CTX_DATA_DIGEST */
	uint32_t max_recv_dsl;
	uint16_t family;     /* AF_INET or AF_INET6 */
	uint16_t local_port; /* the host socket's own port (network order) */
	uint16_t peer_port;  /* the port it is connected to (network order) */
	uint16_t pad2;
	uint8_t local_addr[16]; /* IPv4 in the first 4 bytes */
	uint8_t peer_addr[16];
	uint64_t tx_wire_off; /* bytes the host sent on the connection before transmit position 0 */
	uint32_t pad3[14];
};

#define HWIF_CTX_HDR_DIGEST  1u
#define HWIF_CTX_DATA_DIGEST 2u
#define HWIF_TX_HDR_DIGEST   1u
#define HWIF_TX_DATA_DIGEST  2u

/* ---- submission queue entries (64 bytes) ---- */
enum hwif_opcode {
	HWIF_OP_NOP = 0,
	/* admin queue */
	HWIF_OP_MR_REG = 1,     /* a = region; u.mr = host address, length */
	HWIF_OP_MR_DEREG = 2,   /* a = region */
	HWIF_OP_CTX_ADD = 3,    /* a = slot: parameters in its block */
	HWIF_OP_CTX_MODIFY = 4, /* a = slot: new flags/max_recv_dsl apply from block.host_pos */
	HWIF_OP_CTX_REMOVE = 5, /* a = slot: releases every SGL, stops following */
	HWIF_OP_CRC = 6,        /* count = SGEs, b = seed; SGEs inline then HWIF_OP_SGE entries */
	HWIF_OP_RESET = 7,      /* drop everything this attachment holds */
	/* context SQ */
	HWIF_OP_SGL_ADD = 16,      /* a = ITT, b = generation, count = SGEs; then HWIF_OP_SGE entries */
	HWIF_OP_SGL_REMOVE = 17,   /* a = ITT, b = generation */
	HWIF_OP_RESYNC_REPLY = 18, /* u.resync */
	HWIF_OP_SGL_CLAIM = 19,    /* a = ITT, b = generation, tag; u.claim: the host writes [lo, hi) */
	HWIF_OP_TX_PDU = 20,       /* u.tx: a PDU the host is about to send; no completion */
	/* continuation of the SGE list of the entry before it */
	HWIF_OP_SGE = 31, /* count = SGEs in this entry (1..3) */
};

/* One SGE: bytes [offset, offset + len) of a registered region. */
struct hwif_sge {
	uint64_t offset;
	uint32_t len;
	uint32_t region;
};

#define HWIF_SGE_PER_SQE 3

struct hwif_sqe {
	uint8_t opcode;
	uint8_t flags;
	uint16_t count;
	uint32_t tag; /* echoed in the completion */
	uint32_t a;
	uint32_t b;
	union {
		struct hwif_sge sge[HWIF_SGE_PER_SQE];
		struct {
			uint64_t addr; /* host virtual address: the IOMMU-like mapping */
			uint64_t len;
		} mr;
		struct {
			uint64_t pos; /* host stream position asked about */
			uint32_t is_header;
		} resync;
		struct {
			uint64_t lo, hi; /* SGL byte range software places */
		} claim;
		struct {
			uint64_t pos; /* transmit position of the PDU header (tx_wire_off + pos bytes after the SYN) */
			uint32_t hdr_len;  /* BHS + AHS, without digest */
			uint32_t data_len; /* DataSegmentLength (pad follows) */
			uint32_t flags;    /* HWIF_TX_HDR_DIGEST | HWIF_TX_DATA_DIGEST: digests to insert */
		} tx;
		uint8_t raw[48];
	} u;
};

/* ---- completion queue entries (32 bytes) ---- */
enum hwif_cqe_type {
	HWIF_CQE_CMD = 1,          /* a command finished: tag, opcode, status */
	HWIF_CQE_CRC = 2,          /* tag, status, value = CRC (toeless_crc32c convention) */
	HWIF_CQE_SGL_RELEASED = 3, /* a = ITT, b = generation; the device no longer holds it */
	HWIF_CQE_SGL_REFUSED = 4,  /* a = ITT, b = generation, status: never held */
	HWIF_CQE_RESYNC_REQ = 5,   /* value = host stream position: is there a header? */
	HWIF_CQE_CTX_ERROR = 6,    /* status: the device stopped following this context */
	HWIF_CQE_RESET = 7,        /* admin CQ: the device reset */
	HWIF_CQE_SGL_CLAIMED = 8,  /* a = ITT, b = generation, tag: from now on nothing is placed over the range */
};

struct hwif_cqe {
	uint8_t type;
	uint8_t opcode; /* of the command (HWIF_CQE_CMD) */
	uint16_t flags;
	int32_t status; /* 0 or a negative errno */
	uint32_t tag;
	uint32_t a;
	uint32_t b;
	uint32_t reserved;
	uint64_t value;
};

/* ---- receive records (32 bytes), one per PDU the device followed in sync ---- */
#define HWIF_REC_F_RELEASED 1u /* the device released this ITT's SGL after this PDU */
#define HWIF_REC_F_PLACED   2u /* payload went to the SGL of (itt, gen) */
#define HWIF_REC_F_FINAL    4u /* HWIF_F_WIRE_RECORDS: the record is complete (set last) */

struct hwif_rqe {
	uint64_t stream_pos; /* host numbering: position of the PDU header */
	uint32_t itt;
	uint32_t gen;          /* generation of the SGL placed into */
	uint32_t data_len;     /* DataSegmentLength */
	uint32_t bytes_placed; /* from the segment start */
	uint8_t hdr_digest;    /* toeless_digest_result */
	uint8_t data_digest;   /* toeless_digest_result */
	uint8_t flags;         /* HWIF_REC_F_* */
	uint8_t opcode;
	uint32_t seq; /* record number; with HWIF_F_WIRE_RECORDS the TCP sequence of the header */
};

/* Digest results: the same values as enum toeless_digest_result. */
#define HWIF_DIGEST_NONE      0
#define HWIF_DIGEST_OK        1
#define HWIF_DIGEST_UNCHECKED 2
#define HWIF_DIGEST_BAD       3

_Static_assert(sizeof(struct hwif_hello) == 80, "hwif_hello layout");
_Static_assert(sizeof(struct hwif_hello_reply) == 104, "hwif_hello_reply layout");
_Static_assert(sizeof(struct hwif_shared_hdr) == 512, "hwif_shared_hdr layout");
_Static_assert(sizeof(struct hwif_ctx_block) == 256, "hwif_ctx_block layout");
_Static_assert(sizeof(struct hwif_sqe) == 64, "hwif_sqe layout");
_Static_assert(sizeof(struct hwif_cqe) == 32, "hwif_cqe layout");
_Static_assert(sizeof(struct hwif_rqe) == 32, "hwif_rqe layout");

/* ---- layout arithmetic (both sides compute it from the HELLO) ---- */
#define HWIF_PAGE         4096u
#define HWIF_ADMIN_SQ_OFF HWIF_PAGE

struct hwif_layout {
	uint64_t admin_sq, admin_cq; /* offsets */
	uint64_t ctx_base, ctx_stride;
	uint64_t ctx_sq, ctx_cq, ctx_rq; /* offsets inside a context slot */
	uint64_t size;
};

static inline uint64_t hwif_align(uint64_t v, uint64_t a)
{
	return (v + a - 1) / a * a;
}

static inline int hwif_pow2(uint32_t v)
{
	return v && !(v & (v - 1));
}

static inline void hwif_layout_compute(struct hwif_layout *l, uint32_t max_contexts, uint32_t asq, uint32_t acq,
				       uint32_t sq, uint32_t cq, uint32_t rq)
{
	l->admin_sq = HWIF_ADMIN_SQ_OFF;
	l->admin_cq = hwif_align(l->admin_sq + (uint64_t)asq * sizeof(struct hwif_sqe), HWIF_PAGE);
	l->ctx_base = hwif_align(l->admin_cq + (uint64_t)acq * sizeof(struct hwif_cqe), HWIF_PAGE);
	l->ctx_sq = HWIF_PAGE; /* the block has the first page */
	l->ctx_cq = hwif_align(l->ctx_sq + (uint64_t)sq * sizeof(struct hwif_sqe), HWIF_PAGE);
	l->ctx_rq = hwif_align(l->ctx_cq + (uint64_t)cq * sizeof(struct hwif_cqe), HWIF_PAGE);
	l->ctx_stride = hwif_align(l->ctx_rq + (uint64_t)rq * sizeof(struct hwif_rqe), HWIF_PAGE);
	l->size = l->ctx_base + l->ctx_stride * max_contexts;
}

/* Ring indices are free-running 32-bit counters; an entry lives at
 * index & (entries - 1).  Producers publish with a release store, consumers
 * read with an acquire load. */
#define HWIF_LOAD(p)     __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define HWIF_STORE(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)
/* The interrupt handshake stores one word and then loads another on each
 * side (driver: irq_arm, then the CQ tail; device: the CQ tail, then
 * irq_arm).  Release and acquire do not order a store before a later load
 * (x86 lets the load pass the store), so both could read the old value and
 * the wake-up be lost: each side puts a full fence between the two. */
#define HWIF_FENCE() __atomic_thread_fence(__ATOMIC_SEQ_CST)

/* Environment variable naming the control socket for "hw". */
#define HWIF_PATH_ENV "TOELESS_HW_DEVICE"

/* ---- where the control socket lives (doc/device-interface.md, "Trust") ---- */

/* The default control socket ("hw" with no argument and no $TOELESS_HW_DEVICE,
 * a device without --control) sits in a directory only its user can use:
 * $XDG_RUNTIME_DIR/toeless/, else /run/toeless/ for root, else
 * /tmp/toeless-UID/.  The device creates that directory, mode 0700. */
#define HWIF_DEFAULT_SOCK "device.sock"
#define HWIF_DEFAULT_HELP                                                                                              \
	"$" HWIF_PATH_ENV ", else $XDG_RUNTIME_DIR/toeless/" HWIF_DEFAULT_SOCK ", else "                               \
	"/run/toeless/" HWIF_DEFAULT_SOCK " for root, else /tmp/toeless-UID/" HWIF_DEFAULT_SOCK

/* The default path for user uid into buf (n bytes): 0, or -ENAMETOOLONG. */
static inline int hwif_default_path(char *buf, size_t n, uid_t uid)
{
	const char *xdg = getenv("XDG_RUNTIME_DIR");
	int k;
	if (xdg && xdg[0] == '/') /* a relative one is ignored, as the XDG spec says */
		k = snprintf(buf, n, "%s/toeless/" HWIF_DEFAULT_SOCK, xdg);
	else if (uid == 0)
		k = snprintf(buf, n, "/run/toeless/" HWIF_DEFAULT_SOCK);
	else
		k = snprintf(buf, n, "/tmp/toeless-%u/" HWIF_DEFAULT_SOCK, (unsigned)uid);
	return k < 0 || (size_t)k >= n ? -ENAMETOOLONG : 0;
}

/* May user uid trust a control socket in the directory st describes?  The
 * directory must belong to uid or root, and nobody else may put or rename
 * entries in it: not writable by group or others, unless sticky (like
 * /tmp, where only an entry's owner may remove or rename it). */
static inline bool hwif_dir_trusted(const struct stat *st, uid_t uid)
{
	if (!S_ISDIR(st->st_mode))
		return false;
	if (st->st_uid != uid && st->st_uid != 0)
		return false;
	return !(st->st_mode & (S_IWGRP | S_IWOTH)) || (st->st_mode & S_ISVTX);
}

#endif /* TOELESS_HWIF_H */
