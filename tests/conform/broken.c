/*
 * Deliberately broken backends for the conformance suite's own tests.
 *
 * A copy of the skeleton engine (examples/backend-skeleton/skeleton.c): it
 * places Data-In payload with MSG_PEEK and completes CRC requests at once,
 * with exactly one defect chosen at build time.  toeless-conform must fail
 * on each, naming the case that catches it (tests/conform/test-broken-*.sh):
 *
 *   BROKEN_CRC     CRC requests of exactly 1021 bytes get a wrong digest
 *                  (crc.async.sizes)
 *   BROKEN_PLACE   payload lands one byte after its Buffer Offset
 *                  (place.basic, place.random, ...)
 *   BROKEN_LOST    an SGL release is never delivered while the engine holds
 *                  more than 8 SGLs: the completion is lost (cancel.outstanding)
 *   BROKEN_CANCEL  a released SGL stays in the engine, which places into it
 *                  and reports its release a second time: a completion for a
 *                  cancelled post (cancel.outstanding)
 *   BROKEN_LIMIT   caps.max_sge says 16, but the engine keeps only the first
 *                  8 SGEs of a post and still reports every byte placed
 *                  (limits.sge)
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

#if defined(BROKEN_CRC)
#define SK_NAME "broken-crc"
#elif defined(BROKEN_PLACE)
#define SK_NAME "broken-place"
#elif defined(BROKEN_LOST)
#define SK_NAME "broken-lost"
#elif defined(BROKEN_CANCEL)
#define SK_NAME "broken-cancel"
#elif defined(BROKEN_LIMIT)
#define SK_NAME "broken-limit"
#else
#error "define one BROKEN_* defect"
#endif
#define SK_VERSION "0.0-broken"
#define SK_MAX_SGE 16
#define SK_MAX_TASKS 256
#define SK_BUCKETS 64
#define ISCSI_OP_DATA_IN 0x25

struct sk_sgl {
	struct sk_sgl *next;
	uint32_t itt;
	int zombie;            /* BROKEN_CANCEL: released, but kept */
	int n;
	uint64_t total;
	struct toeless_backend_sge sges[];
};

struct sk_ctx {
	toeless_ctx *ctx;
	uint32_t lost;         /* BROKEN_LOST: releases never delivered */
	int fd;
	uint32_t flags;        /* negotiated digests */
	uint32_t nsgl;
	struct sk_sgl *bucket[SK_BUCKETS];
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
	snprintf(caps->backend, sizeof(caps->backend), SK_NAME);
	snprintf(caps->backend_version, sizeof(caps->backend_version), "%s", SK_VERSION);
	caps->flags = TOELESS_CAP_DDP | TOELESS_CAP_CRC_RX | TOELESS_CAP_CRC_ASYNC;
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
#ifdef BROKEN_CRC
		size_t len = 0;
		for (int k = 0; k < reqs[i].iovcnt; k++)
			len += reqs[i].iov[k].iov_len;
		if (len == 1021)
			crc ^= 0x00010000; /* a table bug at one length */
#endif
		toeless_backend_crc_done(cq, reqs[i].id, crc, 0);
	}
	return n;
}

/* ---- contexts ---- */

static int sk_ctx_create(void *dev_priv, toeless_ctx *ctx, const struct toeless_backend_ctx_info *info,
			 void **ctx_priv)
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

static void sk_ctx_progress(void *ctx_priv)
{
	struct sk_ctx *c = ctx_priv;
#ifdef BROKEN_CANCEL
	/* the zombies' releases are reported too, though the core has them */
	for (int b = 0; b < SK_BUCKETS; b++)
		for (struct sk_sgl *s = c->bucket[b]; s; s = s->next)
			if (s->zombie == 1) {
				s->zombie = 2;
				toeless_backend_sgl_released(c->ctx, s->itt);
			}
#else
	(void)c;
#endif
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
	struct sk_sgl **old = sk_find(c, itt);
	if (*old && (*old)->zombie) {
		struct sk_sgl *z = *old;
		*old = z->next;
		free(z);
		c->nsgl--;
	}
	if (*sk_find(c, itt))
		return -EEXIST;
	struct sk_sgl *s = malloc(sizeof(*s) + (size_t)n * sizeof(s->sges[0]));
	if (!s)
		return -ENOMEM;
	s->itt = itt;
	s->n = n;
	s->zombie = 0;
	s->total = 0;
	/* the array is the core's: keep a copy; the memory is ours until release */
	memcpy(s->sges, sges, (size_t)n * sizeof(s->sges[0]));
	for (int i = 0; i < n; i++)
		s->total += sges[i].len;
#ifdef BROKEN_LIMIT
	if (s->n > 8)
		s->n = 8; /* the device's SGE table has 8 entries, whatever caps says */
#endif
	s->next = c->bucket[itt % SK_BUCKETS];
	c->bucket[itt % SK_BUCKETS] = s;
	c->nsgl++;
	return 0;
}

static int sk_sgl_release(void *ctx_priv, uint32_t itt)
{
	struct sk_ctx *c = ctx_priv;
	struct sk_sgl **pp = sk_find(c, itt);
#ifdef BROKEN_LOST
	if (*pp && c->nsgl > 8) {
		/* "later": the completion ring is full, and it is dropped */
		c->lost++;
		return 1;
	}
#endif
#ifdef BROKEN_CANCEL
	if (*pp && !(*pp)->zombie) {
		(*pp)->zombie = 1; /* forgotten to free: the engine still uses it */
		return 0;
	}
#endif
	if (*pp) {
		struct sk_sgl *s = *pp;
		*pp = s->next;
		free(s);
		c->nsgl--;
	}
	return 0; /* released now: nothing of ours touches those buffers again */
}

/* ---- receive ---- */

/* iovecs covering bytes [off, off+len) of the SGL; returns how many. */
static int sk_slice(const struct sk_sgl *s, uint64_t off, uint64_t len, struct iovec *iov)
{
	int n = 0;
	for (int i = 0; i < s->n && len; i++) {
		if (off >= s->sges[i].len) {
			off -= s->sges[i].len;
			continue;
		}
		size_t take = s->sges[i].len - off;
		if (take > len)
			take = len;
		iov[n].iov_base = (uint8_t *)s->sges[i].addr + off;
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
#ifdef BROKEN_CANCEL
	/* a released SGL still gets the data of its ITT */
	if (s && s->zombie && (q->bhs[0] & 0x3f) == ISCSI_OP_DATA_IN && q->data_len)
		goto place;
#endif
	if (!q->sgl_posted_to_engine || (q->bhs[0] & 0x3f) != ISCSI_OP_DATA_IN || q->data_len == 0)
		return -ENOENT;
	if (!s || s->zombie)
		return -ENOENT;
#ifdef BROKEN_CANCEL
place:;
#endif
	/* never write outside the SGL: the core reports such a PDU */
	uint64_t lo = q->buffer_offset;
	if (lo + q->data_len > s->total)
		return -ENOENT;
#ifdef BROKEN_PLACE
	lo += 1; /* an off-by-one in the offset arithmetic */
#endif
	/* the whole PDU must be in the socket, or we missed it */
	int avail = 0;
	if (ioctl(c->fd, FIONREAD, &avail) != 0 || avail < 0 || (uint64_t)avail < (uint64_t)q->data_len + trailer)
		return -ENOENT;

	struct iovec iov[SK_MAX_SGE + 1];
	uint8_t tbuf[8];
	int n = sk_slice(s, lo, q->data_len, iov);
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
#if defined(BROKEN_LIMIT) || defined(BROKEN_PLACE)
	/* fewer bytes landed (SGEs dropped, or the shifted tail cut off at the
	 * end of the SGL), and all are claimed placed */
	size_t want = trailer;
	for (int i = 0; i < n - (trailer ? 1 : 0); i++)
		want += iov[i].iov_len;
	if (r != (ssize_t)want)
		return -ENOENT;
#else
	if (r != (ssize_t)(q->data_len + trailer))
		return -ENOENT; /* the core places it; what we wrote it overwrites */
#endif

	memset(rec, 0, sizeof(*rec));
	rec->bytes_placed = q->data_len;
	/* the core checks header digests: we were shown only the BHS */
	rec->hdr_digest = (c->flags & TOELESS_CTX_HEADER_DIGEST) ? TOELESS_DIGEST_UNCHECKED : TOELESS_DIGEST_NONE;
	rec->data_digest = TOELESS_DIGEST_NONE;
	if (dd) {
#if defined(BROKEN_LIMIT) || defined(BROKEN_PLACE)
		/* the device checks the digest over the bytes on the wire, so
		 * it never notices where they went */
		uint8_t *w = malloc(q->data_len + trailer);
		if (!w || recv(c->fd, w, q->data_len + trailer, MSG_PEEK | MSG_DONTWAIT) != (ssize_t)(q->data_len + trailer)) {
			free(w);
			return -ENOENT;
		}
		uint32_t crc = toeless_crc32c(0, w, q->data_len);
		memcpy(tbuf, w + q->data_len, trailer);
		free(w);
#else
		uint32_t crc = toeless_crc32c_iov(0, iov, n - 1);
#endif
		crc = toeless_crc32c(crc, tbuf, pad);
		uint32_t wire = (uint32_t)tbuf[pad] | (uint32_t)tbuf[pad + 1] << 8 | (uint32_t)tbuf[pad + 2] << 16 |
				(uint32_t)tbuf[pad + 3] << 24;
		rec->data_digest = crc == wire ? TOELESS_DIGEST_OK : TOELESS_DIGEST_BAD;
	}
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
	.ctx_progress = sk_ctx_progress,
	.sgl_post = sk_sgl_post,
	.sgl_release = sk_sgl_release,
	.rx_pdu = sk_rx_pdu,
	.crc_submit = sk_crc_submit,
};

TOELESS_BACKEND_DEFINE(sk_ops)
