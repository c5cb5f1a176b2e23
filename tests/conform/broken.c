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
 * and, for the classes of issue #10 (defects the first suite let through):
 *
 *   BROKEN_PAD     the data digest of a PDU whose length is not a multiple of
 *                  4 (pad bytes follow) is never checked: reported OK
 *                  (place.sizes)
 *   BROKEN_BIG     the data digest of a PDU above 8 KiB is never checked
 *                  (place.sizes)
 *   BROKEN_CRC2M   asynchronous CRC requests of 2 MiB or more get a wrong
 *                  digest (crc.async.lengths)
 *   BROKEN_IOV16   asynchronous CRC requests of more than 16 iovecs are
 *                  computed over the first 16 only (crc.async.iov_count)
 *   BROKEN_1500    after 1,500 placements on a context, the first byte of
 *                  each payload it places is wrong (long.placements)
 *   BROKEN_WRAP    a 16-bit operation counter: after 65,536 placements on a
 *                  context the payload lands one byte late, after 65,536 CRC
 *                  requests in the process digests are wrong (long.placements,
 *                  long.crc)
 *   BROKEN_CLAIM   crc_submit says it took one request more than it was given
 *                  (every case that submits CRC requests: the core counts an
 *                  engine anomaly)
 *   BROKEN_CRASH   rx_pdu writes through a NULL struct pointer (SIGSEGV) for a
 *                  4093-byte PDU
 *                  (place.basic is reported crashed, the run goes on)
 *
 * and for transmit digests (issue #12):
 *
 *   BROKEN_TXCRC   claims TOELESS_CAP_CRC_TX and takes (tx_pdu returns 0) the
 *                  digests of every PDU whose data needs pad, but has no
 *                  inserter behind it: the placeholder zeros go out as the
 *                  digests (tx.digests; tx.engine still passes)
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
#elif defined(BROKEN_PAD)
#define SK_NAME "broken-pad"
#elif defined(BROKEN_BIG)
#define SK_NAME "broken-big"
#elif defined(BROKEN_CRC2M)
#define SK_NAME "broken-crc2m"
#elif defined(BROKEN_IOV16)
#define SK_NAME "broken-iov16"
#elif defined(BROKEN_1500)
#define SK_NAME "broken-1500"
#elif defined(BROKEN_WRAP)
#define SK_NAME "broken-wrap"
#elif defined(BROKEN_CLAIM)
#define SK_NAME "broken-claim"
#elif defined(BROKEN_CRASH)
#define SK_NAME "broken-crash"
#elif defined(BROKEN_TXCRC)
#define SK_NAME "broken-txcrc"
#else
#error "define one BROKEN_* defect"
#endif
#define SK_VERSION "0.0-broken"

struct sk_ctx;
struct sk_sgl;

#if defined(BROKEN_CRC) || defined(BROKEN_CRC2M) || defined(BROKEN_IOV16) || defined(BROKEN_WRAP)
static uint32_t broken_crc(const struct toeless_backend_crc *req, uint32_t crc);
#define SK_DEFECT_CRC(req, crc) broken_crc(req, crc)
#endif

#if defined(BROKEN_PAD) || defined(BROKEN_BIG)
struct toeless_rx_query;
static uint8_t broken_verdict(const struct toeless_rx_query *q, uint8_t verdict);
#define SK_DEFECT_VERDICT(c, q, v) broken_verdict(q, v)
#endif

#if defined(BROKEN_1500) || defined(BROKEN_WRAP) || defined(BROKEN_CRASH)
#define SK_DEFECT_CTX_STATE                                                                                            \
	uint16_t ops;                                                                                                  \
	uint32_t placements;                                                                                           \
	int wrapped;
struct toeless_rx_query;
static void broken_placed(struct sk_ctx *c, const struct toeless_rx_query *q, struct iovec *iov, int n);
#define SK_DEFECT_PLACED(c, q, iov, n) broken_placed(c, q, iov, n)
#endif

#ifdef BROKEN_CLAIM
#define SK_DEFECT_CRC_ACCEPTED(n) ((n) + 1) /* an off-by-one in the ring accounting */
#endif

#ifdef BROKEN_TXCRC
static int broken_tx_pdu(void *ctx_priv, uint64_t tx_pos, uint32_t hdr_len, uint32_t data_len, uint32_t flags);
#define SK_DEFECT_CAPS   TOELESS_CAP_CRC_TX
#define SK_DEFECT_TX_PDU broken_tx_pdu
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
#define SK_DEFECT_PROGRESS      broken_progress
#endif

#if defined(BROKEN_PLACE) || defined(BROKEN_LIMIT)
static int broken_slice(const struct sk_sgl *s, uint64_t off, uint64_t len, struct iovec *iov);
#define SK_DEFECT_SLICE(s, off, len, iov) broken_slice(s, off, len, iov)
#define SK_SLICE_MAX                      (SK_MAX_SGE + 1) /* and the bit bucket */
#endif

#include "../../examples/backend-skeleton/skeleton.c"

#if defined(BROKEN_CRC) || defined(BROKEN_CRC2M) || defined(BROKEN_IOV16) || defined(BROKEN_WRAP)
static uint32_t broken_crc(const struct toeless_backend_crc *req, uint32_t crc)
{
	size_t len = 0;
	for (int k = 0; k < req->iovcnt; k++)
		len += req->iov[k].iov_len;
#if defined(BROKEN_CRC)
	return len == 1021 ? crc ^ 0x00010000 : crc; /* a table bug at one length */
#elif defined(BROKEN_CRC2M)
	return len >= (2u << 20) ? crc ^ 0x00000080 : crc;       /* a 21-bit length field */
#elif defined(BROKEN_IOV16)
	/* the descriptor holds 16 gather entries; the rest are dropped */
	return req->iovcnt > 16 ? toeless_crc32c_iov(req->seed, req->iov, 16) : crc;
#else
	/* a 16-bit request tag: once it wrapped, completions are matched to
	 * the wrong slot (one counter for the process: each case runs in its
	 * own by default) */
	static uint16_t tag;
	static int wrapped;
	if (++tag == 0)
		wrapped = 1;
	(void)len;
	return wrapped ? crc ^ 0x01000000 : crc;
#endif
}
#endif

#if defined(BROKEN_PAD) || defined(BROKEN_BIG)
/* The engine's digest check, skipped for some PDUs, which it reports good. */
static uint8_t broken_verdict(const struct toeless_rx_query *q, uint8_t verdict)
{
#ifdef BROKEN_PAD
	return (q->data_len & 3) ? TOELESS_DIGEST_OK : verdict; /* pad bytes confuse the checker: skipped */
#else
	return q->data_len > 8192 ? TOELESS_DIGEST_OK : verdict; /* the checker's buffer is 8 KiB */
#endif
}
#endif

#if defined(BROKEN_1500) || defined(BROKEN_WRAP) || defined(BROKEN_CRASH)
static void broken_placed(struct sk_ctx *c, const struct toeless_rx_query *q, struct iovec *iov, int n)
{
#ifdef BROKEN_CRASH
	(void)c;
	(void)iov;
	(void)n;
	if (q->data_len == 4093) {
		/* SIGSEGV: a crash inside a case (a field of a NULL struct
		 * pointer: a real fault, not one a sanitizer stops first) */
		volatile int *volatile nowhere = (volatile int *)(uintptr_t)16;
		*nowhere = 1;
	}
#else
	(void)q;
	if (n < 1 || !iov[0].iov_len)
		return;
	uint8_t *b = iov[0].iov_base;
#ifdef BROKEN_1500
	/* a descriptor ring of 1,500 entries, wrongly recycled */
	if (++c->placements > 1500)
		b[0] ^= 0x20;
#else
	if (++c->ops == 0)
		c->wrapped = 1;
	if (c->wrapped) {
		/* the payload lands one byte late: shift what was placed */
		size_t len = iov[0].iov_len;
		if (len > 1)
			memmove(b + 1, b, len - 1);
		b[0] ^= 0x5a;
	}
#endif
#endif
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

#ifdef BROKEN_TXCRC
/* "The inserter handles pad": it is told about the PDU, and nothing writes
 * the digests; the host has already sent zeros in their place. */
static int broken_tx_pdu(void *ctx_priv, uint64_t tx_pos, uint32_t hdr_len, uint32_t data_len, uint32_t flags)
{
	(void)ctx_priv;
	(void)tx_pos;
	(void)hdr_len;
	(void)flags;
	return (data_len & 3) ? 0 : -EOPNOTSUPP;
}
#endif
