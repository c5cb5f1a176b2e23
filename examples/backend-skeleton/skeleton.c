/*
 * backend-skeleton: a minimal out-of-tree libtoeless backend.
 *
 * It is built from nothing but the installed headers and pkg-config (see the
 * Makefile next to it) and passes toeless-conform.  Copy it to start a
 * vendor backend: every op below is where a real engine talks to its device.
 *
 * What it does, in software, the way a device would:
 *  - direct data placement: it accepts SGL posts, and when the core asks
 *    about a Data-In for an accepted ITT (rx_pdu) it copies the payload
 *    straight from the socket into the SGL at Buffer Offset, reading with
 *    MSG_PEEK (the core consumes the bytes afterwards, without copying), and
 *    checks the data digest;
 *  - asynchronous CRC requests, completed before crc_submit returns.
 * A PDU whose bytes have not all arrived yet is left to the core's software
 * path, as a device that saw it only in part would.
 *
 * It writes payload only from inside rx_pdu() and only when the core offers
 * the PDU (q->sgl_posted_to_engine): the core offers none it would reject,
 * so nothing it rejects reaches the caller's buffer and it needs no
 * sgl_claim op.  An engine that places ahead of the core, from the wire,
 * must implement sgl_claim (toeless_backend.h, "Buffers").
 *
 * The ops it leaves NULL (memory registration, progress, resync) show what
 * the core does without them: see "Optional ops" in toeless_backend.h.
 *
 * The in-tree engines (backends/sw, mock, hw) follow the same pattern and
 * build the same way (tests/conform/test-engine-plugins.sh): include/ alone,
 * the table exported with TOELESS_BACKEND_DEFINE(), and the core's services
 * for what an engine cannot do itself: toeless_backend_count_anomaly() for
 * a record it drops as inconsistent (hw), toeless_backend_device_priv() for
 * an engine API of its own that receives a device from the application,
 * toeless_backend_attr_copy() for that API's size-prefixed structs (mock).
 *
 * SPDX-License-Identifier: MIT
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <toeless.h>
#include <toeless_backend.h>
#include <toeless_iscsi.h>

#define SK_MAX_SGE   16
#define SK_MAX_TASKS 256
#define SK_BUCKETS   64

/*
 * Defect hooks for the conformance suite's negative tests: tests/conform/
 * broken.c defines some of them and includes this file, to build plugins
 * that are this engine with one deliberate defect each (doc/conformance.md,
 * "The broken backends").  Each defaults to the correct behaviour; a backend
 * copied from here can drop them.
 */
#ifndef SK_NAME
#define SK_NAME    "skeleton"
#define SK_VERSION "1.0"
#endif
#ifndef SK_DEFECT_SGL_STATE /* more members of struct sk_sgl (it is zeroed) */
#define SK_DEFECT_SGL_STATE
#endif
#ifndef SK_DEFECT_CRC /* the digest a CRC request completes with */
#define SK_DEFECT_CRC(req, crc) (crc)
#endif
#ifndef SK_DEFECT_POST /* sgl_post(), before it looks for the ITT */
#define SK_DEFECT_POST(c, itt) ((void)0)
#endif
#ifndef SK_DEFECT_RELEASE /* sgl_release(): -1 to release *pp now, else its answer */
#define SK_DEFECT_RELEASE(c, pp) (-1)
#endif
#ifndef SK_DEFECT_ACCEPTS /* rx_pdu(): does SGL s (NULL: none held) take the payload? */
#define SK_DEFECT_ACCEPTS(q, s) ((q)->sgl_posted_to_engine && (s))
#endif
#ifndef SK_DEFECT_SLICE /* rx_pdu(): the iovecs the payload lands in, SK_SLICE_MAX at most */
#define SK_DEFECT_SLICE(s, off, len, iov) sk_slice((s)->sges, (s)->n, off, len, iov)
#define SK_SLICE_MAX                      SK_MAX_SGE
#endif
#ifndef SK_DEFECT_PROGRESS /* the ctx_progress op */
#define SK_DEFECT_PROGRESS NULL
#endif
#ifndef SK_DEFECT_CTX_STATE /* more members of struct sk_ctx (it is zeroed) */
#define SK_DEFECT_CTX_STATE
#endif
#ifndef SK_DEFECT_VERDICT /* rx_pdu(): the data digest verdict reported for a checked PDU */
#define SK_DEFECT_VERDICT(c, q, verdict) (verdict)
#endif
#ifndef SK_DEFECT_PLACED /* rx_pdu(): after the payload was written into iov[0..n) */
#define SK_DEFECT_PLACED(c, q, iov, n) ((void)0)
#endif
#ifndef SK_DEFECT_CRC_ACCEPTED /* crc_submit(): how many requests it says it took, of n */
#define SK_DEFECT_CRC_ACCEPTED(n) (n)
#endif
#ifndef SK_DEFECT_CAPS /* capability flags claimed beyond what the skeleton does */
#define SK_DEFECT_CAPS 0
#endif
#ifndef SK_DEFECT_TX_PDU /* the tx_pdu op: the skeleton has no wire to write digests into */
#define SK_DEFECT_TX_PDU NULL
#endif

struct sk_sgl {
	struct sk_sgl *next;
	uint32_t itt;
	int n;
	uint64_t total;
	SK_DEFECT_SGL_STATE
	struct toeless_backend_sge sges[];
};

struct sk_ctx {
	toeless_ctx *ctx; /* for toeless_backend_sgl_released(), were a release to finish later */
	int fd;
	uint32_t flags; /* negotiated digests */
	uint32_t nsgl;
	struct sk_sgl *bucket[SK_BUCKETS];
	SK_DEFECT_CTX_STATE
};

/* ---- device ---- */

static int sk_open(toeless_device *dev, const char *args, void **dev_priv)
{
	if (args && *args) {
		toeless_backend_log(dev, TOELESS_LOG_ERR, "skeleton: unknown arguments \"%s\"", args);
		return -EINVAL;
	}
	*dev_priv = NULL; /* no device state */
	return 0;
}

static void sk_close(void *dev_priv)
{
	(void)dev_priv;
}

static int sk_query(void *dev_priv, struct toeless_caps *caps)
{
	(void)dev_priv;
	snprintf(caps->backend, sizeof(caps->backend), "%s", SK_NAME);
	snprintf(caps->backend_version, sizeof(caps->backend_version), "%s", SK_VERSION);
	caps->flags = TOELESS_CAP_DDP | TOELESS_CAP_CRC_RX | TOELESS_CAP_CRC_ASYNC | SK_DEFECT_CAPS;
	caps->max_contexts = 64;
	caps->max_sge = SK_MAX_SGE;
	caps->max_tasks = SK_MAX_TASKS;
	caps->max_recv_dsl = 262144;
	caps->sge_align = 1;
	caps->max_crc_batch = 64;
	caps->max_cq_depth = 1u << 20;
	return 0;
}

static int sk_crc_submit(void *dev_priv, toeless_cq *cq, const struct toeless_backend_crc *reqs, int n)
{
	(void)dev_priv;
	for (int i = 0; i < n; i++) {
		uint32_t crc = toeless_crc32c_iov(reqs[i].seed, reqs[i].iov, reqs[i].iovcnt);
		toeless_backend_crc_done(cq, reqs[i].id, SK_DEFECT_CRC(&reqs[i], crc), 0);
	}
	return SK_DEFECT_CRC_ACCEPTED(n);
}

/* ---- contexts ---- */

static int sk_ctx_create(void *dev_priv, toeless_ctx *ctx, const struct toeless_backend_ctx_info *info, void **ctx_priv)
{
	(void)dev_priv;
	struct sk_ctx *c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM; /* the core serves this connection in software */
	c->ctx = ctx;
	c->fd = info->fd;
	c->flags = info->params.flags;
	*ctx_priv = c;
	return 0;
}

static void sk_ctx_destroy(void *ctx_priv)
{
	struct sk_ctx *c = ctx_priv;
	/* the core released every SGL before this; be tidy anyway */
	for (int b = 0; b < SK_BUCKETS; b++)
		while (c->bucket[b]) {
			struct sk_sgl *s = c->bucket[b];
			c->bucket[b] = s->next;
			free(s);
		}
	free(c);
}

static int sk_ctx_set_params(void *ctx_priv, const struct toeless_ctx_params *params, uint64_t stream_pos)
{
	struct sk_ctx *c = ctx_priv;
	(void)stream_pos; /* every later rx_pdu is under the new parameters */
	c->flags = params->flags;
	return 0;
}

/* ---- SGLs ---- */

static struct sk_sgl **sk_find(struct sk_ctx *c, uint32_t itt)
{
	struct sk_sgl **pp = &c->bucket[itt % SK_BUCKETS];
	while (*pp && (*pp)->itt != itt)
		pp = &(*pp)->next;
	return pp;
}

static int sk_sgl_post(void *ctx_priv, uint32_t itt, const struct toeless_backend_sge *sges, int n)
{
	struct sk_ctx *c = ctx_priv;
	if (n <= 0 || n > SK_MAX_SGE)
		return -E2BIG;
	if (c->nsgl >= SK_MAX_TASKS)
		return -ENOSPC; /* software places this one, and counts it */
	SK_DEFECT_POST(c, itt);
	if (*sk_find(c, itt))
		return -EEXIST;
	struct sk_sgl *s = calloc(1, sizeof(*s) + (size_t)n * sizeof(s->sges[0]));
	if (!s)
		return -ENOMEM;
	s->itt = itt;
	s->n = n;
	/* the array is the core's: keep a copy; the memory is ours until release */
	memcpy(s->sges, sges, (size_t)n * sizeof(s->sges[0]));
	for (int i = 0; i < n; i++)
		s->total += sges[i].len;
	s->next = c->bucket[itt % SK_BUCKETS];
	c->bucket[itt % SK_BUCKETS] = s;
	c->nsgl++;
	return 0;
}

static int sk_sgl_release(void *ctx_priv, uint32_t itt)
{
	struct sk_ctx *c = ctx_priv;
	struct sk_sgl **pp = sk_find(c, itt);
	int defect = SK_DEFECT_RELEASE(c, pp);
	if (defect >= 0)
		return defect;
	if (*pp) {
		struct sk_sgl *s = *pp;
		*pp = s->next;
		free(s);
		c->nsgl--;
	}
	return 0; /* released now: nothing of ours touches those buffers again */
}

/* ---- receive ---- */

/* iovecs covering bytes [off, off+len) of an SGL; returns how many. */
static int sk_slice(const struct toeless_backend_sge *sges, int nsge, uint64_t off, uint64_t len, struct iovec *iov)
{
	int n = 0;
	for (int i = 0; i < nsge && len; i++) {
		if (off >= sges[i].len) {
			off -= sges[i].len;
			continue;
		}
		size_t take = sges[i].len - off;
		if (take > len)
			take = len;
		iov[n].iov_base = (uint8_t *)sges[i].addr + off;
		iov[n].iov_len = take;
		n++;
		len -= take;
		off = 0;
	}
	return n;
}

static int sk_rx_pdu(void *ctx_priv, const struct toeless_rx_query *q, struct toeless_rx_record *rec)
{
	struct sk_ctx *c = ctx_priv;
	int dd = (c->flags & TOELESS_CTX_DATA_DIGEST) != 0;
	uint32_t pad = (4 - (q->data_len & 3)) & 3;
	uint32_t trailer = pad + (dd ? 4 : 0);

	/* only Data-In payload for an SGL we hold */
	struct sk_sgl *s = *sk_find(c, q->itt);
	if (!SK_DEFECT_ACCEPTS(q, s) || toeless_bhs_opcode(q->bhs) != TOELESS_ISCSI_OP_DATA_IN || q->data_len == 0)
		return -ENOENT;
	/* never write outside the SGL: the core reports such a PDU */
	uint64_t lo = q->buffer_offset;
	if (lo + q->data_len > s->total)
		return -ENOENT;
	/* the whole PDU must be in the socket, or we missed it */
	int avail = 0;
	if (ioctl(c->fd, FIONREAD, &avail) != 0 || avail < 0 || (uint64_t)avail < (uint64_t)q->data_len + trailer)
		return -ENOENT;

	struct iovec iov[SK_SLICE_MAX + 1]; /* the payload's, then the trailer's */
	uint8_t tbuf[8];
	int n = SK_DEFECT_SLICE(s, lo, q->data_len, iov);
	if (trailer) {
		iov[n].iov_base = tbuf;
		iov[n].iov_len = trailer;
		n++;
	}
	struct msghdr mh = { .msg_iov = iov, .msg_iovlen = (size_t)n };
	ssize_t r;
	do {
		r = recvmsg(c->fd, &mh, MSG_PEEK | MSG_DONTWAIT);
	} while (r < 0 && errno == EINTR);
	if (r != (ssize_t)(q->data_len + trailer))
		return -ENOENT; /* the core places it; what we wrote it overwrites */

	/* *rec arrives zeroed, rec->size set: write only fields, never past rec->size */
	rec->bytes_placed = q->data_len;
	/* copied with MSG_PEEK by this process: not a device's work (counters) */
	if (rec->size >= offsetof(struct toeless_rx_record, flags) + sizeof(rec->flags))
		rec->flags = TOELESS_RX_REC_HOST_CPU;
	/* the core checks header digests: we were shown only the BHS */
	rec->hdr_digest = (c->flags & TOELESS_CTX_HEADER_DIGEST) ? TOELESS_DIGEST_UNCHECKED : TOELESS_DIGEST_NONE;
	rec->data_digest = TOELESS_DIGEST_NONE;
	if (dd) {
		uint32_t crc = toeless_crc32c_iov(0, iov, n - 1);
		crc = toeless_crc32c(crc, tbuf, pad);
		uint32_t wire = (uint32_t)tbuf[pad] | (uint32_t)tbuf[pad + 1] << 8 | (uint32_t)tbuf[pad + 2] << 16 |
				(uint32_t)tbuf[pad + 3] << 24;
		rec->data_digest = SK_DEFECT_VERDICT(c, q, crc == wire ? TOELESS_DIGEST_OK : TOELESS_DIGEST_BAD);
	}
	SK_DEFECT_PLACED(c, q, iov, n - (trailer ? 1 : 0));
	return 0;
}

static const struct toeless_backend_ops sk_ops = {
	.size = sizeof(struct toeless_backend_ops),
	.abi_version = TOELESS_BACKEND_ABI,
	.name = SK_NAME,
	.version = SK_VERSION,
	.open = sk_open,
	.close = sk_close,
	.query = sk_query,
	.ctx_create = sk_ctx_create,
	.ctx_destroy = sk_ctx_destroy,
	.ctx_set_params = sk_ctx_set_params,
	.ctx_progress = SK_DEFECT_PROGRESS,
	.sgl_post = sk_sgl_post,
	.sgl_release = sk_sgl_release,
	.rx_pdu = sk_rx_pdu,
	.crc_submit = sk_crc_submit,
	.tx_pdu = SK_DEFECT_TX_PDU,
};

TOELESS_BACKEND_DEFINE(sk_ops)
