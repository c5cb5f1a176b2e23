/*
 * Deliberately broken backends for the conformance suite's own tests.
 *
 * Each is the skeleton engine (examples/backend-skeleton/skeleton.c, included
 * below: it places Data-In payload with MSG_PEEK and completes CRC requests
 * at once) with exactly one defect chosen at build time, put in through the
 * skeleton's defect hooks.  toeless-conform must fail on each, naming the case
 * that catches it (tests/conform/test-broken-*.sh):
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
#include <stdint.h>
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

struct sk_ctx;
struct sk_sgl;

#ifdef BROKEN_CRC
static uint32_t broken_crc(const struct toeless_backend_crc *req, uint32_t crc);
#define SK_DEFECT_CRC(req, crc) broken_crc(req, crc)
#endif

#if defined(BROKEN_LOST) || defined(BROKEN_CANCEL)
static int broken_release(struct sk_ctx *c, struct sk_sgl **pp);
#define SK_DEFECT_RELEASE(c, pp) broken_release(c, pp)
#endif

#ifdef BROKEN_CANCEL
#define SK_DEFECT_SGL_STATE int zombie; /* 1: released, but kept; 2: and its release reported again */
static void broken_reap(struct sk_ctx *c, uint32_t itt);
static void broken_progress(void *ctx_priv);
#define SK_DEFECT_POST(c, itt) broken_reap(c, itt)
/* a released SGL still gets the data of its ITT */
#define SK_DEFECT_ACCEPTS(q, s) ((s) && ((s)->zombie || (q)->sgl_posted_to_engine))
#define SK_DEFECT_PROGRESS broken_progress
#endif

#if defined(BROKEN_PLACE) || defined(BROKEN_LIMIT)
static int broken_slice(const struct sk_sgl *s, uint64_t off, uint64_t len, struct iovec *iov);
#define SK_DEFECT_SLICE(s, off, len, iov) broken_slice(s, off, len, iov)
#define SK_SLICE_MAX (SK_MAX_SGE + 1) /* and the bit bucket */
#endif

#include "../../examples/backend-skeleton/skeleton.c"

#ifdef BROKEN_CRC
static uint32_t broken_crc(const struct toeless_backend_crc *req, uint32_t crc)
{
	size_t len = 0;
	for (int k = 0; k < req->iovcnt; k++)
		len += req->iov[k].iov_len;
	return len == 1021 ? crc ^ 0x00010000 : crc; /* a table bug at one length */
}
#endif

#if defined(BROKEN_LOST) || defined(BROKEN_CANCEL)
static int broken_release(struct sk_ctx *c, struct sk_sgl **pp)
{
#ifdef BROKEN_LOST
	if (*pp && c->nsgl > 8)
		return 1; /* "later": the completion ring is full, and it is dropped */
#else
	(void)c;
	if (*pp && !(*pp)->zombie) {
		(*pp)->zombie = 1; /* forgotten to free: the engine still uses it */
		return 0;
	}
#endif
	return -1;
}
#endif

#ifdef BROKEN_CANCEL
/* A new post of the ITT drops the zombie at last. */
static void broken_reap(struct sk_ctx *c, uint32_t itt)
{
	struct sk_sgl **old = sk_find(c, itt);
	if (*old && (*old)->zombie) {
		struct sk_sgl *z = *old;
		*old = z->next;
		free(z);
		c->nsgl--;
	}
}

/* The zombies' releases are reported too, though the core has them. */
static void broken_progress(void *ctx_priv)
{
	struct sk_ctx *c = ctx_priv;
	for (int b = 0; b < SK_BUCKETS; b++)
		for (struct sk_sgl *s = c->bucket[b]; s; s = s->next)
			if (s->zombie == 1) {
				s->zombie = 2;
				toeless_backend_sgl_released(c->ctx, s->itt);
			}
}
#endif

#if defined(BROKEN_PLACE) || defined(BROKEN_LIMIT)
/* Where the payload lands, wrongly.  What falls outside the SGEs the engine
 * uses goes into a bit bucket: every byte on the wire is still peeked, and
 * the data digest checked over them, so the engine never notices, and
 * reports every byte placed. */
static int broken_slice(const struct sk_sgl *s, uint64_t off, uint64_t len, struct iovec *iov)
{
	static _Thread_local uint8_t bucket[262144]; /* caps.max_recv_dsl */
	int nsge = s->n;
#ifdef BROKEN_PLACE
	off += 1; /* an off-by-one in the offset arithmetic */
#else
	if (nsge > 8)
		nsge = 8; /* the device's SGE table has 8 entries, whatever caps says */
#endif
	int n = sk_slice(s->sges, nsge, off, len, iov);
	for (int i = 0; i < n; i++)
		len -= iov[i].iov_len;
	if (len && len <= sizeof(bucket)) {
		iov[n].iov_base = bucket;
		iov[n].iov_len = len;
		n++;
	}
	return n;
}
#endif
