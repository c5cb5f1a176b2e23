/*
 * CRC32C, the iSCSI digest (RFC 3720 B.4), on isa-l; and asynchronous CRC
 * requests (toeless_crc_submit).
 *
 * Convention: isa-l's crc32_iscsi() works on the raw register (no initial
 * or final inversion), so the digest of a buffer is
 * ~crc32_iscsi(buf, len, ~0) and extending a digest d over more bytes is
 * ~crc32_iscsi(buf, len, ~d).  With d = 0 that is the standard start, which
 * is what makes toeless_crc32c(0, ...) the plain digest and chaining work.
 *
 * Short buffers (a 48-byte header digest, a pad, a 4-byte tail) do not go
 * to isa-l: its PCLMUL folding has a latency of ~10 ns even at 48 bytes and
 * a receive path compares the header digest before it does anything else,
 * so that latency is paid in full.  Up to TL_CRC_INLINE_MAX bytes the SSE4.2
 * crc32 instruction (the same polynomial, the same raw register) does it in
 * 6 dependent steps of 3 cycles for 48 bytes.  The CPU is checked once, at
 * load; without SSE4.2 (or off x86-64) everything goes to isa-l.
 *
 * SPDX-License-Identifier: MIT
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <isa-l/crc.h>

#include "crc.h"
#include "toeless_int.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define TL_CRC_HAVE_INLINE 1
#include <nmmintrin.h>
#endif

/* isa-l takes an int length: feed larger buffers in pieces. */
#define TL_CRC_CHUNK (1u << 30)

/* Requests converted for the backend on the stack up to this many. */
#define TL_CRC_STACK_REQS 32

#ifdef TL_CRC_HAVE_INLINE
static bool crc_inline_cpu; /* the CPU has SSE4.2 */
static bool crc_inline;     /* the inline path is used */

__attribute__((constructor)) static void crc_inline_probe(void)
{
	__builtin_cpu_init();
	crc_inline_cpu = __builtin_cpu_supports("sse4.2");
	crc_inline = crc_inline_cpu;
}

/* The raw register r extended over len <= TL_CRC_INLINE_MAX bytes at any
 * alignment (unaligned loads through memcpy). */
__attribute__((target("sse4.2"))) static uint32_t crc_inline_raw(uint32_t r, const uint8_t *p, size_t len)
{
	uint64_t r64 = r;

	while (len >= 8) {
		uint64_t v;

		memcpy(&v, p, 8);
		r64 = _mm_crc32_u64(r64, v);
		p += 8;
		len -= 8;
	}
	r = (uint32_t)r64;
	if (len & 4) {
		uint32_t v;

		memcpy(&v, p, 4);
		r = _mm_crc32_u32(r, v);
		p += 4;
	}
	if (len & 2) {
		uint16_t v;

		memcpy(&v, p, 2);
		r = _mm_crc32_u16(r, v);
		p += 2;
	}
	if (len & 1)
		r = _mm_crc32_u8(r, *p);
	return r;
}

bool tl_crc_inline_active(void)
{
	return crc_inline;
}

bool tl_crc_inline_set(bool on)
{
	bool was = crc_inline;

	crc_inline = on && crc_inline_cpu;
	return was;
}
#else
bool tl_crc_inline_active(void)
{
	return false;
}

bool tl_crc_inline_set(bool on)
{
	(void)on;
	return false;
}
#endif

uint32_t toeless_crc32c(uint32_t crc, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	uint32_t r = ~crc;

	if (!p)
		return crc;
#ifdef TL_CRC_HAVE_INLINE
	if (len <= TL_CRC_INLINE_MAX && crc_inline)
		return ~crc_inline_raw(r, p, len);
#endif
	while (len) {
		size_t n = len < TL_CRC_CHUNK ? len : TL_CRC_CHUNK;

		/* isa-l does not write the buffer; its prototype lacks const. */
		r = crc32_iscsi((unsigned char *)(uintptr_t)p, (int)n, r);
		p += n;
		len -= n;
	}
	return ~r;
}

uint32_t toeless_crc32c_iov(uint32_t crc, const struct iovec *iov, int iovcnt)
{
	if (!iov)
		return crc;
	for (int i = 0; i < iovcnt; i++)
		crc = toeless_crc32c(crc, iov[i].iov_base, iov[i].iov_len);
	return crc;
}

static int crc_req_check(const struct toeless_crc_req *r)
{
	if (!r->iov || r->iovcnt < 1)
		return -EINVAL;
	for (int i = 0; i < r->iovcnt; i++)
		if (!r->iov[i].iov_base && r->iov[i].iov_len)
			return -EINVAL;
	return 0;
}

/* Hand [0, n) to the engine; returns how many it took, or a negative
 * errno when it took none. */
static int crc_submit_engine(toeless_device *dev, toeless_cq *cq, const struct toeless_crc_req *reqs, int n,
			     uint64_t first_id)
{
	struct toeless_backend_crc stack[TL_CRC_STACK_REQS], *b = stack;
	int rc;

	if (n <= 0)
		return 0;
	if (n > TL_CRC_STACK_REQS) {
		b = malloc((size_t)n * sizeof(*b));
		if (!b)
			return -ENOMEM;
	}
	for (int i = 0; i < n; i++) {
		b[i].id = first_id + (uint64_t)i;
		b[i].iov = reqs[i].iov;
		b[i].iovcnt = reqs[i].iovcnt;
		b[i].seed = reqs[i].seed;
	}
	rc = dev->ops->crc_submit(dev->priv, cq, b, n);
	if (b != stack)
		free(b);
	if (rc > n) {
		/* It cannot have taken requests it was not given: take the n it
		 * was, and say so (the extra ones never complete). */
		tl_log(dev, TOELESS_LOG_WARN, "engine crc_submit claimed %d requests of %d given: taken as %d", rc, n,
		       n);
		pthread_mutex_lock(&dev->lock);
		dev->retired.engine_anomalies++;
		pthread_mutex_unlock(&dev->lock);
		rc = n;
	}
	return rc;
}

int toeless_crc_submit(toeless_device *dev, toeless_cq *cq, const struct toeless_crc_req *reqs, int n)
{
	uint64_t first_id;
	int rc, accepted;

	if (!dev || !cq || !reqs || n <= 0 || cq->dev != dev)
		return -EINVAL;
	if ((uint32_t)n > dev->caps.max_crc_batch)
		n = (int)dev->caps.max_crc_batch;
	for (int i = 0; i < n; i++) {
		rc = crc_req_check(&reqs[i]);
		if (rc)
			return rc;
	}
	/* Ids and completion slots first: an engine may complete a request
	 * before its crc_submit returns. */
	rc = tl_cq_crc_begin(cq, reqs, n, &first_id);
	if (rc)
		return rc;

	if (!tl_device_failed(dev)) {
		accepted = crc_submit_engine(dev, cq, reqs, n, first_id);
		if (accepted < n)
			tl_cq_crc_abort(cq, first_id + (uint64_t)(accepted > 0 ? accepted : 0),
					n - (accepted > 0 ? accepted : 0));
		if (accepted > 0)
			return accepted;
		/* the device died under this call: software takes the batch */
		if (tl_device_failed(dev))
			return toeless_crc_submit(dev, cq, reqs, n);
		/* busy: the caller resubmits later (the engine will drain) */
		if (accepted == 0 || accepted == -ENOSPC || accepted == -EAGAIN || accepted == -ENOMEM)
			return -EAGAIN;
		/* Any other error of an optional op means "not offloaded", never
		 * an I/O error: the host takes the work (toeless_backend.h). */
		tl_log(dev, TOELESS_LOG_INFO, "engine crc_submit failed (%s): computed on the host",
		       toeless_strerror(accepted));
		if ((rc = tl_cq_crc_begin(cq, reqs, n, &first_id)))
			return rc;
	}

	/* No engine (or a failed one): compute now, complete through the
	 * same path an engine uses. */
	for (int i = 0; i < n; i++)
		toeless_backend_crc_done(cq, first_id + (uint64_t)i,
					 toeless_crc32c_iov(reqs[i].seed, reqs[i].iov, reqs[i].iovcnt), 0);
	return n;
}
