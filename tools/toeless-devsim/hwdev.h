/*
 * The host side of a toeless device model, shared by the models in this
 * tree: the relay (toeless-devsim) and the wire NIC (toeless-nic).  One
 * libuv loop, one thread.
 *
 *   device.c  the control socket, attachments, queues, admin and context
 *             commands, memory regions and placement into host memory,
 *             CRC requests, reset
 *   common.c  logging, CRC32C, the tick (delayed records, stalled
 *             queues), the device faults and statistics
 *
 * The wire side is each model's own: it implements the functions under
 * "wire side" at the end of this header.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef TOELESS_HWDEV_H
#define TOELESS_HWDEV_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <uv.h>

#include "hwif.h" /* backends/hw/hwif.h: the interface the driver and the device share */

struct dv_conn; /* the wire side's connection */

#define DV_MAX_SGE     1024
#define DV_MAX_SGLS    1024 /* per context */
#define DV_MAX_REGIONS 4096
#define DV_MAX_DSL     16777215u
#define DV_HIST        65536      /* target->host bytes remembered before a context binds */
#define DV_HIGH_WATER  (8u << 20) /* bytes queued to a socket before reading the other stops */

/* Fault injection (--fault NAME=VALUE). */
struct dv_faults {
	uint32_t lose_sync_every, lose_sync_n;  /* lose-sync=EVERY:N */
	uint32_t corrupt_data_every;            /* corrupt-data=EVERY */
	uint32_t corrupt_hdr_every;             /* corrupt-hdr=EVERY */
	uint32_t drop_records_every;            /* drop-records=EVERY */
	uint32_t delay_records_every, delay_ms; /* delay-records=EVERY:MS */
	uint32_t sgl_limit;                     /* sgl-limit=N */
	uint32_t rq_limit;                      /* rq-limit=N */
	uint32_t reset_after;                   /* reset-after=N */
	uint32_t die_after;                     /* die-after=N */
	uint64_t features_off;                  /* no-ddp, no-crc, ... (HWIF_F_* withheld) */
};

struct dv_options {
	const char *control;   /* control socket path */
	const char *listen;    /* devsim: ADDR:PORT the host connects to */
	const char *target;    /* devsim: ADDR:PORT of the iSCSI target */
	const char *port_file; /* where to write the listening port */
	int verbose;
	struct dv_faults f;
};

struct dv_sge {
	uint64_t addr; /* host address (region base + offset) */
	uint32_t len;
};

struct dv_sgl {
	struct dv_sgl *next; /* hash chain */
	uint32_t itt, gen;
	uint32_t nsge;
	uint64_t total;
	struct dv_sge *sge;
	/* placed ranges and ranges the host claimed (SGL_CLAIM), merged; in-order streams keep one */
	uint64_t (*ranges)[2];
	uint32_t nranges, cap_ranges;
	bool no_place; /* a range could not be recorded: place nothing more */
};

enum dv_mode {
	DV_UNTRACKED = 0, /* no context: bytes pass, history is kept */
	DV_SYNC,          /* at PDU boundaries: PDUs held until their record is out */
	DV_TRAIL,         /* boundary known, mid-PDU: pass to the next header */
	DV_HUNT,          /* boundary lost: scan for a plausible header */
	DV_SPEC,          /* following from a candidate, waiting for the host's word */
};

struct dv_conn;
struct dv_att;

struct dv_ctx {
	struct dv_att *att;
	uint32_t slot;
	bool active;
	struct hwif_ctx_block *blk;
	struct hwif_sqe *sq;
	struct hwif_cqe *cq;
	struct hwif_rqe *rq;
	uint32_t sq_head, cq_tail, rq_tail;
	int irq; /* eventfd of vector 1 + slot, or -1 */
	struct dv_conn *conn;
	uint32_t flags, max_dsl;
	uint64_t pos_base;       /* host position = stream offset + pos_base */
	struct dv_sgl **buckets; /* 1024 chains */
	uint32_t n_sgls;
	uint32_t rec_seq;
	bool stalled;     /* CQ full: SQ not fetched */
	bool resync_wait; /* RESYNC_REQ sent for resync_pos */
	uint64_t resync_pos;
};

struct dv_region {
	uint32_t id;
	uint64_t addr, len;
};

struct dv_att {
	struct dv_att *next;
	int ctl;
	uv_poll_t ctl_poll;
	int doorbell;
	uv_poll_t db_poll;
	int irq0;
	uint8_t *mem;
	size_t mem_size;
	struct hwif_layout lay;
	struct hwif_shared_hdr *hdr;
	struct hwif_sqe *asq;
	struct hwif_cqe *acq;
	uint32_t asq_n, acq_n, sq_n, cq_n, rq_n;
	uint32_t asq_head, acq_tail;
	pid_t host_pid;
	uint64_t features;
	uint32_t max_contexts;
	struct dv_ctx *ctx; /* max_contexts slots */
	struct dv_region *regions;
	uint32_t n_regions;
	bool attached, dead, admin_stalled;
	int closing; /* handles still closing */
};

/* Delayed record (fault). */
struct dv_delayed {
	struct dv_delayed *next;
	struct dv_ctx *ctx;
	uint64_t due_ms;
	struct hwif_rqe rec;
};

struct dv_dev {
	uv_loop_t *loop;
	struct dv_options o;
	struct dv_att *atts;
	struct dv_conn *conns;
	struct dv_delayed *delayed, **delayed_tail;
	uv_timer_t tick;
	bool tick_on;
	uint64_t pdus_total;  /* for reset-after */
	uint64_t pdus_to_die; /* for die-after */
	bool reset_done;
	struct hwif_dev_stats st; /* device-wide totals */
	struct sockaddr_storage target_addr;
	uv_tcp_t listener;
};

extern struct dv_dev dv;

#define dv_log(lvl, ...)                                                                                               \
	do {                                                                                                           \
		if (dv.o.verbose >= (lvl))                                                                             \
			dv_logf(__VA_ARGS__);                                                                          \
	} while (0)
void dv_logf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
uint64_t dv_now_ms(void);
uint32_t dv_crc32c(uint32_t crc, const void *buf, size_t len);

/* device.c */
int dv_control_start(const char *path);
void dv_control_stop(void);
void dv_ctx_drain_sq(struct dv_ctx *c);
void dv_kick_all(void);
/* Post a completion on a context's CQ (false when full). */
bool dv_ctx_cqe(struct dv_ctx *c, const struct hwif_cqe *e);
void dv_ctx_irq(struct dv_ctx *c);
bool dv_publish(struct dv_ctx *c, const struct hwif_rqe *r);
struct dv_sgl *dv_sgl_find(struct dv_ctx *c, uint32_t itt);
void dv_sgl_drop(struct dv_ctx *c, struct dv_sgl *s);
/* Record [lo, hi) of s as placed or claimed: nothing is placed over it again. */
void dv_sgl_mark(struct dv_sgl *s, uint64_t lo, uint64_t hi);
void dv_reset_device(const char *why);
/* Fault die-after: called once per PDU followed in sync. */
void dv_die_check(void);
void dv_tick_need(void);
void dv_stat_add(size_t field_off, uint64_t n, struct dv_att *a);
#define DV_STAT(a, field, n) dv_stat_add(offsetof(struct hwif_dev_stats, field), (n), (a))

/* Defined by each model: what it can do, its name in HELLO_REPLY. */
extern const uint64_t dv_model_features;
extern const char dv_model_name[];

/* Digest bytes after the header / the data segment of a context's PDUs. */
static inline uint32_t dv_hd_len(const struct dv_ctx *x)
{
	return (x->flags & HWIF_CTX_HDR_DIGEST) ? 4 : 0;
}

static inline uint32_t dv_dd_len(const struct dv_ctx *x)
{
	return (x->flags & HWIF_CTX_DATA_DIGEST) ? 4 : 0;
}

/* The host's stream position of a model's stream offset off (both models
 * count from where the context's stream starts). */
static inline uint64_t dv_host_pos(const struct dv_ctx *x, uint64_t off)
{
	return off + x->pos_base;
}

/* common.c */
int dv_fault_parse(struct dv_faults *f, const char *s);
void dv_print_stats(void);
/* What both models' main() do alike.  dv_options_init(): the control
 * socket's default ($TOELESS_HW_DEVICE, else hwif_default_path(); NULL when
 * that does not fit).  dv_common_opt(): the options every model takes
 * (-c, -f, -v): 1 taken, 0 not one of them, -1 a bad value (said).
 * dv_common_usage(): their lines of --help, -h last.  dv_write_ready():
 * value into path, atomically (0 or -1, said).  dv_loop_init(), then
 * dv_run(stop): the loop until SIGTERM or SIGINT, which print the
 * statistics, call stop (the model's own, may be NULL) and close the
 * control socket. */
void dv_options_init(void);
int dv_common_opt(int ch, const char *arg);
void dv_common_usage(FILE *out);
int dv_write_ready(const char *path, long value);
void dv_loop_init(void);
void dv_run(void (*stop)(void));
/* A target PDU opcode (byte 0 of a BHS)? */
bool dv_target_opcode(uint8_t b0);
/* Could a target PDU header start at h (48 + HeaderDigest bytes)? */
bool dv_plausible_hdr(const struct dv_ctx *x, const uint8_t *h);
/* Place len payload bytes at SGL offset boff into host memory; returns the
 * bytes written from the start (a prefix on failure). */
uint32_t dv_place(struct dv_ctx *x, struct dv_sgl *s, uint64_t boff, const uint8_t *p, uint32_t len);
/* Does [lo, hi) overlap what was placed or claimed in s? */
bool dv_sgl_overlaps(const struct dv_sgl *s, uint64_t lo, uint64_t hi);

/* ---- wire side: each model implements these ---- */
/* The connection a context block names (its 4-tuple), or NULL. */
struct dv_conn *dv_conn_find(const struct hwif_ctx_block *b);
/* Follow the connection for ctx: 0, or -EBUSY when another context has it. */
int dv_track_bind(struct dv_conn *c, struct dv_ctx *ctx);
void dv_track_unbind(struct dv_conn *c);
void dv_track_modify(struct dv_ctx *ctx);
void dv_track_resync_reply(struct dv_ctx *ctx, uint64_t pos, bool is_header);
/* A transmit record (HWIF_OP_TX_PDU); only a model granting HWIF_F_DIGEST_TX gets one. */
void dv_track_tx_pdu(struct dv_ctx *ctx, const struct hwif_sqe *e);

#endif /* TOELESS_HWDEV_H */
