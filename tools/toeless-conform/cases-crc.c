/*
 * toeless-conform: device and CRC cases.
 *
 * SPDX-License-Identifier: MIT
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "conform.h"

/* ---- device.open ---- */

static bool is_pow2(uint32_t x)
{
	return x && !(x & (x - 1));
}

void case_device_open(struct cf_t *t)
{
	const struct toeless_caps *c = &t->caps;

	CF_CHECK(t, c->backend[0] && memchr(c->backend, 0, sizeof(c->backend)),
		 "caps.backend is empty or unterminated");
	CF_CHECK(t, c->backend_version[0] && memchr(c->backend_version, 0, sizeof(c->backend_version)),
		 "caps.backend_version is empty or unterminated");
	CF_CHECK(t,
		 !(c->flags & ~(uint32_t)(TOELESS_CAP_CRC_TX | TOELESS_CAP_CRC_RX | TOELESS_CAP_DDP |
					  TOELESS_CAP_DDP_NEEDS_REG | TOELESS_CAP_CRC_ASYNC)),
		 "caps.flags 0x%x has unknown bits", c->flags);
	CF_CHECK(t, !(c->flags & TOELESS_CAP_DDP_NEEDS_REG) || (c->flags & TOELESS_CAP_DDP),
		 "TOELESS_CAP_DDP_NEEDS_REG without TOELESS_CAP_DDP");
	CF_CHECK(t, c->max_contexts >= 1, "caps.max_contexts is 0");
	CF_CHECK(t, c->max_sge >= 1, "caps.max_sge is 0");
	CF_CHECK(t, c->max_tasks >= 1, "caps.max_tasks is 0");
	CF_CHECK(t, c->max_recv_dsl >= 512 && c->max_recv_dsl <= 16777215,
		 "caps.max_recv_dsl %u outside 512 .. 2^24-1 (RFC 7143)", c->max_recv_dsl);
	CF_CHECK(t, is_pow2(c->sge_align), "caps.sge_align %u is not a power of two", c->sge_align);
	CF_CHECK(t, c->max_crc_batch >= 1, "caps.max_crc_batch is 0");
	CF_CHECK(t, c->max_cq_depth >= 1, "caps.max_cq_depth is 0");
	cf_diag(t, "backend %s %s, flags 0x%x", c->backend, c->backend_version, c->flags);

	/* an older caller's shorter struct: nothing written past its size */
	struct {
		struct toeless_caps c;
		uint8_t tail[64];
	} small;
	memset(&small, 0xEE, sizeof(small));
	small.c.size = offsetof(struct toeless_caps, max_contexts);
	CF_RC(t, toeless_device_query(t->dev, &small.c), 0);
	CF_CHECK(t, small.c.size == offsetof(struct toeless_caps, max_contexts), "query changed caps.size");
	CF_CHECK(t, !strcmp(small.c.backend, c->backend) && small.c.flags == c->flags,
		 "a short caps struct reads differently");
	for (size_t i = offsetof(struct toeless_caps, max_contexts); i < sizeof(small); i++)
		CF_CHECK(t, ((uint8_t *)&small)[i] == 0xEE, "query wrote byte %zu past a caps.size of %zu", i,
			 small.c.size);
	CF_RC(t, toeless_device_query(t->dev, NULL), -EINVAL);

	/* close refuses while something is open, and leaves the device usable */
	toeless_cq *cq = cf_cq(t, 4);
	if (!cq)
		return;
	CF_RC(t, toeless_device_close(t->dev), -EBUSY);
	uint8_t b[100];
	memset(b, 7, sizeof(b));
	struct iovec iov = { b, sizeof(b) };
	struct toeless_crc_req r = { .iov = &iov, .iovcnt = 1, .user_data = 42 };
	int rc = -EAGAIN;
	for (int i = 0; i < 1000 && rc == -EAGAIN; i++)
		rc = toeless_crc_submit(t->dev, cq, &r, 1);
	CF_CHECK(t, rc == 1, "toeless_crc_submit after a refused close: %d (%s)", rc, toeless_strerror(rc));

	/* a second device of the same backend, open at the same time */
	toeless_device *dev2 = NULL;
	CF_RC(t, toeless_device_open(cf_backend_spec, NULL, &dev2), 0);
	struct toeless_caps c2;
	memset(&c2, 0, sizeof(c2));
	c2.size = sizeof(c2);
	rc = toeless_device_query(dev2, &c2);
	int rc2 = toeless_device_close(dev2);
	CF_CHECK(t, rc == 0 && rc2 == 0, "a second device of %s: query %d, close %d", cf_backend_spec, rc, rc2);
	CF_CHECK(t, !strcmp(c2.backend, c->backend) && c2.flags == c->flags,
		 "a second device of %s reports other capabilities", cf_backend_spec);
}

/* ---- CRC ---- */

struct vec {
	const char *name;
	uint8_t data[48];
	size_t len;
	uint32_t want;
};

static void vectors(struct vec *v)
{
	memset(v, 0, 6 * sizeof(*v));
	v[0].name = "32 bytes of 0x00";
	v[0].len = 32;
	v[0].want = 0x8A9136AA;
	v[1].name = "32 bytes of 0xff";
	memset(v[1].data, 0xff, 32);
	v[1].len = 32;
	v[1].want = 0x62A8AB43;
	v[2].name = "32 incrementing bytes";
	v[3].name = "32 decrementing bytes";
	for (int i = 0; i < 32; i++) {
		v[2].data[i] = (uint8_t)i;
		v[3].data[i] = (uint8_t)(31 - i);
	}
	v[2].len = v[3].len = 32;
	v[2].want = 0x46DD794E;
	v[3].want = 0x113FDB5C;
	static const uint8_t read10[48] = {
		0x01, 0xc0, [16] = 0x14, [22] = 0x04, [27] = 0x14, [31] = 0x18, [32] = 0x28, [40] = 0x02
	};
	v[4].name = "iSCSI Read(10) BHS";
	memcpy(v[4].data, read10, 48);
	v[4].len = 48;
	v[4].want = 0xD9963A56;
	v[5].name = "\"123456789\"";
	memcpy(v[5].data, "123456789", 9);
	v[5].len = 9;
	v[5].want = 0xE3069283;
}

void case_crc_vectors(struct cf_t *t)
{
	struct vec v[6];
	vectors(v);
	for (int i = 0; i < 6; i++) {
		CF_CHECK(t, cf_crc32c(0, v[i].data, v[i].len) == v[i].want,
			 "the suite's own reference CRC is wrong for %s", v[i].name);
		uint32_t got = toeless_crc32c(0, v[i].data, v[i].len);
		CF_CHECK(t, got == v[i].want, "toeless_crc32c(%s) = 0x%08X, RFC 3720 B.4 says 0x%08X", v[i].name, got,
			 v[i].want);
		/* chaining: any split gives the same digest */
		for (size_t k = 0; k <= v[i].len; k++) {
			got = toeless_crc32c(toeless_crc32c(0, v[i].data, k), v[i].data + k, v[i].len - k);
			CF_CHECK(t, got == v[i].want, "toeless_crc32c(%s) split at %zu = 0x%08X", v[i].name, k, got);
			struct iovec iov[2] = { { v[i].data, k }, { v[i].data + k, v[i].len - k } };
			got = toeless_crc32c_iov(0, iov, 2);
			CF_CHECK(t, got == v[i].want, "toeless_crc32c_iov(%s) split at %zu = 0x%08X", v[i].name, k,
				 got);
		}
		/* the residue: a segment followed by its own digest, wire order */
		uint8_t b[56];
		memcpy(b, v[i].data, v[i].len);
		for (int k = 0; k < 4; k++)
			b[v[i].len + (size_t)k] = (uint8_t)(v[i].want >> (8 * k));
		got = toeless_crc32c(0, b, v[i].len + 4);
		CF_CHECK(t, got == 0x48674BC7, "residue of %s with its digest appended is 0x%08X, expected 0x48674BC7",
			 v[i].name, got);
	}
	uint64_t s = t->rng;
	uint8_t buf[4096];
	for (unsigned it = 0; it < cf_iter(t, 200); it++) {
		size_t len = cf_range(&s, 0, sizeof(buf));
		uint32_t seed = it % 3 ? 0 : (uint32_t)cf_rand(&s);
		cf_fill(buf, len, &s);
		uint32_t want = cf_crc32c(seed, buf, len), got = toeless_crc32c(seed, buf, len);
		CF_CHECK(t, got == want, "toeless_crc32c(seed 0x%08X, %zu random bytes) = 0x%08X, expected 0x%08X",
			 seed, len, got, want);
	}
}

/* Asynchronous CRC jobs, checked one by one against the bitwise reference. */
struct crc_job {
	struct iovec *iov;
	int iovcnt;
	uint32_t seed;
	uint32_t want;
	size_t len;
	int done;
	const char *what;
};

#define CRC_TAG 0xC4C0000000000000ull

static bool crc_collect(struct cf_t *t, toeless_cq *cq, struct crc_job *jobs, int n, int *left)
{
	struct toeless_completion c[64];
	int got = toeless_cq_poll(cq, c, 64);
	if (got < 0) {
		cf_fail(t, "toeless_cq_poll: %s", toeless_strerror(got));
		return false;
	}
	for (int i = 0; i < got; i++) {
		uint64_t k = c[i].user_data - CRC_TAG;
		if (c[i].type != TOELESS_CQE_CRC || (c[i].user_data & ~0xffffffffull) != CRC_TAG || k >= (uint64_t)n) {
			cf_fail(t, "unexpected completion type %u user_data 0x%" PRIx64 " status %d", c[i].type,
				c[i].user_data, c[i].status);
			return false;
		}
		struct crc_job *j = &jobs[k];
		if (j->done) {
			cf_fail(t, "request %" PRIu64 " (%zu bytes) completed twice", k, j->len);
			return false;
		}
		j->done = 1;
		(*left)--;
		if (c[i].status) {
			cf_fail(t, "CRC request %" PRIu64 " (%s, %zu bytes, %d SGEs) completed with %d (%s)", k,
				j->what ? j->what : "random bytes", j->len, j->iovcnt, c[i].status,
				strerror(-c[i].status));
			return false;
		}
		if (c[i].crc != j->want) {
			cf_fail(t,
				"CRC request %" PRIu64
				" (%s, length %zu, %d SGEs, seed 0x%08X): the engine gave 0x%08X, "
				"expected 0x%08X",
				k, j->what ? j->what : "random bytes", j->len, j->iovcnt, j->seed, c[i].crc, j->want);
			return false;
		}
	}
	return true;
}

/* Submit every job, batch requests at a time, resubmitting what is not
 * taken; *full counts the times the engine took nothing. */
static bool crc_run(struct cf_t *t, toeless_cq *cq, struct crc_job *jobs, int n, int batch, int *full)
{
	struct toeless_crc_req *reqs = calloc((size_t)n, sizeof(*reqs));
	if (!reqs) {
		cf_fail(t, "out of memory");
		return false;
	}
	for (int i = 0; i < n; i++) {
		reqs[i].iov = jobs[i].iov;
		reqs[i].iovcnt = jobs[i].iovcnt;
		reqs[i].seed = jobs[i].seed;
		reqs[i].user_data = CRC_TAG | (uint64_t)i;
	}
	int next = 0, left = n;
	bool ok = true;
	/* every wait is for progress: it starts again with each completion */
	double end = cf_now_s() + t->timeout_ms / 1000.0;
	while (ok && next < n) {
		int want = n - next < batch ? n - next : batch;
		int rc = toeless_crc_submit(t->dev, cq, &reqs[next], want);
		if (rc == -EAGAIN) {
			if (full)
				(*full)++;
			int before = left;
			ok = crc_collect(t, cq, jobs, n, &left);
			if (left != before)
				end = cf_now_s() + t->timeout_ms / 1000.0;
			if (cf_now_s() > end) {
				cf_fail(t,
					"toeless_crc_submit kept answering -EAGAIN with %d requests outstanding, none "
					"completing for %d ms",
					left, t->timeout_ms);
				ok = false;
			}
			struct pollfd p = { .fd = toeless_cq_fd(cq), .events = POLLIN };
			poll(&p, 1, 1);
			continue;
		}
		if (rc <= 0 || rc > want || (uint32_t)rc > t->caps.max_crc_batch) {
			cf_fail(t, "toeless_crc_submit(%d requests) returned %d (%s): expected 1..%d", want, rc,
				toeless_strerror(rc),
				want < (int)t->caps.max_crc_batch ? want : (int)t->caps.max_crc_batch);
			ok = false;
			break;
		}
		next += rc;
		end = cf_now_s() + t->timeout_ms / 1000.0;
	}
	while (ok && left) {
		int before = left;
		ok = crc_collect(t, cq, jobs, n, &left);
		if (left != before)
			end = cf_now_s() + t->timeout_ms / 1000.0;
		if (ok && left == before) {
			if (cf_now_s() > end) {
				for (int i = 0; i < n; i++)
					if (!jobs[i].done) {
						cf_fail(t,
							"CRC request %d (%zu bytes) never completed (%d of %d missing)",
							i, jobs[i].len, left, n);
						break;
					}
				ok = false;
				break;
			}
			struct pollfd p = { .fd = toeless_cq_fd(cq), .events = POLLIN };
			poll(&p, 1, 1);
		}
	}
	free(reqs);
	/* an engine that claims more requests than it was given, or completes
	 * one it never had: the core counts it (fresh device: all ours) */
	struct toeless_stats st;
	memset(&st, 0, sizeof(st));
	st.size = sizeof(st);
	if (ok && !toeless_device_stats(t->dev, &st) && st.engine_anomalies) {
		cf_fail(t,
			"the library counted %" PRIu64 " engine anomalies while %d CRC requests ran: the engine "
			"claimed requests it was not given, or completed one it did not hold (see the log)",
			st.engine_anomalies, n);
		ok = false;
	}
	return ok;
}

/* A canary buffer of cap random bytes, n zeroed jobs and n * iov_per_job
 * iovecs; false (and the case failed) when out of memory.  The caller frees
 * *jobs and *iov, which may be set on failure too. */
static bool crc_alloc(struct cf_t *t, size_t cap, int n, int iov_per_job, uint8_t **buf, struct crc_job **jobs,
		      struct iovec **iov)
{
	*buf = cf_alloc(t, cap, 64);
	*jobs = calloc((size_t)n, sizeof(**jobs));
	*iov = calloc((size_t)n * (size_t)iov_per_job, sizeof(**iov));
	if (!*buf || !*jobs || !*iov) {
		cf_fail(t, "out of memory");
		return false;
	}
	cf_fill(*buf, cap, &t->rng);
	return true;
}

/* Whether pass reg of a two-pass case runs: on memory the engine may not
 * reach, then registered.  Not once the case failed. */
static bool crc_pass(struct cf_t *t, uint8_t *buf, size_t cap, int reg)
{
	toeless_mr *mr;
	return !cf_failed(t) && (!reg || cf_mr(t, buf, cap, &mr));
}

void case_crc_async_vectors(struct cf_t *t)
{
	toeless_cq *cq = cf_cq(t, 0);
	if (!cq)
		return;
	struct vec v[6];
	vectors(v);
	for (int reg = 0; reg < 2; reg++) {
		uint8_t *b = cf_alloc(t, 6 * 48, 64);
		if (!b)
			return;
		toeless_mr *mr;
		if (reg && !cf_mr(t, b, 6 * 48, &mr))
			return;
		struct iovec iov[6];
		struct crc_job jobs[6];
		memset(jobs, 0, sizeof(jobs));
		for (int i = 0; i < 6; i++) {
			memcpy(b + 48 * i, v[i].data, v[i].len);
			iov[i].iov_base = b + 48 * i;
			iov[i].iov_len = v[i].len;
			jobs[i].iov = &iov[i];
			jobs[i].iovcnt = 1;
			jobs[i].want = v[i].want;
			jobs[i].len = v[i].len;
			jobs[i].what = v[i].name;
		}
		if (!crc_run(t, cq, jobs, 6, 6, NULL))
			return;
	}
}

void case_crc_async_sizes(struct cf_t *t)
{
	toeless_cq *cq = cf_cq(t, 0);
	if (!cq)
		return;
	static const size_t big[] = { 4095, 4096, 4097, 8191, 8192, 8193, 65535, 65536, 65537, 262147, 1048577 };
	const int nsmall = 2113, nbig = (int)(sizeof(big) / sizeof(big[0]));
	int n = nsmall + nbig;
	size_t cap = 1048577 + 64;
	uint8_t *buf;
	struct crc_job *jobs;
	struct iovec *iov;
	if (!crc_alloc(t, cap, n, 1, &buf, &jobs, &iov))
		goto out;
	/* both passes: memory the engine may not reach, then registered */
	for (int reg = 0; reg < 2 && crc_pass(t, buf, cap, reg); reg++) {
		for (int i = 0; i < n; i++) {
			size_t len = i < nsmall ? (size_t)i : big[i - nsmall];
			size_t off = cf_range(&t->rng, 0, (uint32_t)(cap - len < 63 ? cap - len : 63));
			memset(&jobs[i], 0, sizeof(jobs[i]));
			iov[i].iov_base = buf + off;
			iov[i].iov_len = len;
			jobs[i].iov = &iov[i];
			jobs[i].iovcnt = 1;
			jobs[i].seed = i % 4 == 3 ? (uint32_t)cf_rand(&t->rng) : 0;
			jobs[i].len = len;
			jobs[i].want = cf_crc32c(jobs[i].seed, iov[i].iov_base, len);
		}
		if (!crc_run(t, cq, jobs, n, (int)t->caps.max_crc_batch, NULL))
			break;
	}
out:
	free(jobs);
	free(iov);
}

void case_crc_async_iov(struct cf_t *t)
{
	toeless_cq *cq = cf_cq(t, 0);
	if (!cq)
		return;
	const size_t cap = 65536;
	int n = (int)cf_iter(t, 400);
	uint8_t *buf;
	struct crc_job *jobs;
	struct iovec *iov;
	if (!crc_alloc(t, cap, n, 16, &buf, &jobs, &iov))
		goto out;
	for (int reg = 0; reg < 2 && crc_pass(t, buf, cap, reg); reg++) {
		for (int i = 0; i < n; i++) {
			struct iovec *v = &iov[i * 16];
			int cnt = (int)cf_range(&t->rng, 1, 16);
			size_t len = 0;
			for (int k = 0; k < cnt; k++) {
				uint32_t kind = cf_range(&t->rng, 0, 9);
				size_t l = kind == 0  ? 0
					   : kind < 6 ? cf_range(&t->rng, 1, 64)
						      : cf_range(&t->rng, 1, 3000);
				size_t off = cf_range(&t->rng, 0, (uint32_t)(cap - l));
				/* a zero-length entry may carry no address at all */
				v[k].iov_base = l == 0 && kind == 0 && cf_rand(&t->rng) % 2 ? NULL : buf + off;
				v[k].iov_len = l;
				len += l;
			}
			memset(&jobs[i], 0, sizeof(jobs[i]));
			jobs[i].iov = v;
			jobs[i].iovcnt = cnt;
			/* chained requests: the seed is a previous digest */
			jobs[i].seed = i && cf_rand(&t->rng) % 2 ? jobs[i - 1].want : 0;
			jobs[i].len = len;
			jobs[i].want = jobs[i].seed;
			for (int k = 0; k < cnt; k++)
				if (v[k].iov_len)
					jobs[i].want = cf_crc32c(jobs[i].want, v[k].iov_base, v[k].iov_len);
			jobs[i].what = "random iovec list";
		}
		if (!crc_run(t, cq, jobs, n, (int)cf_range(&t->rng, 1, t->caps.max_crc_batch), NULL))
			break;
	}
out:
	free(jobs);
	free(iov);
}

void case_crc_async_queue_full(struct cf_t *t)
{
	toeless_cq *cq = cf_cq(t, 1); /* a small queue: it must grow, not drop */
	if (!cq)
		return;
	uint8_t b[64];
	memset(b, 1, sizeof(b));
	struct iovec one = { b, sizeof(b) };
	struct toeless_crc_req bad = { .iov = &one, .iovcnt = 1 };
	CF_RC(t, toeless_crc_submit(t->dev, cq, &bad, 0), -EINVAL);
	CF_RC(t, toeless_crc_submit(t->dev, cq, NULL, 1), -EINVAL);
	CF_RC(t, toeless_crc_submit(t->dev, NULL, &bad, 1), -EINVAL);
	bad.iovcnt = 0;
	CF_RC(t, toeless_crc_submit(t->dev, cq, &bad, 1), -EINVAL);
	bad.iovcnt = 1;
	bad.iov = NULL;
	CF_RC(t, toeless_crc_submit(t->dev, cq, &bad, 1), -EINVAL);

	int n = (int)(4 * t->caps.max_crc_batch);
	if (n > 4096)
		n = 4096;
	if (n < 1024)
		n = 1024;
	size_t cap = 256 * 1024;
	uint8_t *buf;
	struct crc_job *jobs;
	struct iovec *iov;
	toeless_mr *mr;
	if (!crc_alloc(t, cap, n, 1, &buf, &jobs, &iov) ||
	    ((t->caps.flags & TOELESS_CAP_CRC_ASYNC) && !cf_mr(t, buf, cap, &mr)))
		goto out;
	for (int i = 0; i < n; i++) {
		size_t len = cf_range(&t->rng, 1, 2048);
		iov[i].iov_base = buf + cf_range(&t->rng, 0, (uint32_t)(cap - len));
		iov[i].iov_len = len;
		jobs[i].iov = &iov[i];
		jobs[i].iovcnt = 1;
		jobs[i].len = len;
		jobs[i].want = cf_crc32c(0, iov[i].iov_base, len);
	}
	/* everything at once, more than one call may take: the library cuts
	 * at max_crc_batch, the engine may take less, nothing is lost */
	int full = 0;
	if (!crc_run(t, cq, jobs, n, n, &full))
		goto out;
	cf_diag(t, "%d requests submitted without polling; the engine refused %d times (queue full)", n, full);
out:
	free(jobs);
	free(iov);
}

/* ---- sweeps: lengths and iovec counts ---- */

static int cmp_size(const void *a, const void *b)
{
	size_t x = *(const size_t *)a, y = *(const size_t *)b;
	return x < y ? -1 : x > y;
}

/* 0..8, then 2^k - 1, 2^k, 2^k + 1 up to top, and top itself; sorted,
 * unique.  Returns how many (at most cap). */
static int pow2_lengths(size_t top, size_t *out, int cap)
{
	int n = 0;
	for (size_t l = 0; l <= 8 && l <= top && n < cap; l++)
		out[n++] = l;
	for (size_t p = 16; p / 2 <= top && n + 3 < cap; p *= 2)
		for (int d = -1; d <= 1; d++)
			if (p + (size_t)d <= top)
				out[n++] = p + (size_t)d;
	if (n < cap)
		out[n++] = top;
	qsort(out, (size_t)n, sizeof(*out), cmp_size);
	int u = 0;
	for (int i = 0; i < n; i++)
		if (!u || out[u - 1] != out[i])
			out[u++] = out[i];
	return u;
}

/*
 * CRC lengths on both sides of every power of two, up to and past the
 * largest data segment the device accepts (an engine that computes data
 * digests must handle that much) and past 2 MiB in any case; each length
 * whole from seed 0, chained from the digest of a prefix (the seed an
 * engine must extend), and split over several iovecs; on plain memory,
 * then registered.  The synchronous helper is checked at the same lengths.
 * Every request starts at the buffer's first byte, so one pass of the
 * bitwise reference gives every expected digest.
 */
void case_crc_async_lengths(struct cf_t *t)
{
	toeless_cq *cq = cf_cq(t, 0);
	if (!cq)
		return;
	size_t top = (size_t)t->caps.max_recv_dsl + 1;
	if (top < (4u << 20) + 1)
		top = (4u << 20) + 1;
	if (t->thorough && top < (32u << 20) + 1)
		top = (32u << 20) + 1;
	if (t->scale < 1 && !t->thorough)
		top = (4u << 20) + 1; /* --iter below 1 (a valgrind run): past 2 MiB still */
	size_t lens[128];
	int nl = pow2_lengths(top, lens, 128);
	/* the prefix digests: pre[i] = crc(buf[0, lens[i])), and at a third */
	uint32_t *pre = calloc((size_t)nl, sizeof(*pre));
	uint32_t *third = calloc((size_t)nl, sizeof(*third));
	int n = 3 * nl;
	uint8_t *buf;
	struct crc_job *jobs = NULL;
	struct iovec *iov = NULL;
	if (!pre || !third || !crc_alloc(t, top, n, 24, &buf, &jobs, &iov))
		goto out;
	{
		/* walk the buffer once, stopping at every length and every third */
		uint32_t crc = 0;
		size_t at = 0;
		size_t *stops = calloc(2 * (size_t)nl, sizeof(*stops));
		if (!stops) {
			cf_fail(t, "out of memory");
			goto out;
		}
		for (int i = 0; i < nl; i++) {
			stops[2 * i] = lens[i] / 3;
			stops[2 * i + 1] = lens[i];
		}
		qsort(stops, 2 * (size_t)nl, sizeof(*stops), cmp_size);
		for (int k = 0; k < 2 * nl; k++) {
			crc = cf_crc32c(crc, buf + at, stops[k] - at);
			at = stops[k];
			for (int i = 0; i < nl; i++) {
				if (lens[i] == at)
					pre[i] = crc;
				if (lens[i] / 3 == at)
					third[i] = crc;
			}
		}
		free(stops);
	}
	for (int i = 0; i < nl; i++) {
		uint32_t got = toeless_crc32c(0, buf, lens[i]);
		CF_CHECK(t, got == pre[i], "toeless_crc32c over %zu bytes = 0x%08X, expected 0x%08X", lens[i], got,
			 pre[i]);
	}
	for (int reg = 0; reg < 2 && crc_pass(t, buf, top, reg); reg++) {
		for (int i = 0; i < nl; i++) {
			size_t len = lens[i], a = len / 3;
			struct crc_job *j = &jobs[3 * i];
			struct iovec *v = &iov[3 * i * 24];
			memset(j, 0, 3 * sizeof(*j));
			/* whole, from 0 */
			v[0].iov_base = buf;
			v[0].iov_len = len;
			j[0] = (struct crc_job){
				.iov = v, .iovcnt = 1, .want = pre[i], .len = len, .what = "whole, seed 0"
			};
			/* the last two thirds, extending the digest of the first */
			v[24].iov_base = buf + a;
			v[24].iov_len = len - a;
			j[1] = (struct crc_job){ .iov = v + 24,
						 .iovcnt = 1,
						 .seed = third[i],
						 .want = pre[i],
						 .len = len - a,
						 .what = "chained: seed = digest of the first third" };
			/* split into 2..24 random pieces */
			int cnt = (int)cf_range(&t->rng, 2, 24);
			size_t off = 0;
			for (int k = 0; k < cnt; k++) {
				size_t l = k == cnt - 1 ? len - off : cf_range(&t->rng, 0, (uint32_t)((len - off) / 2));
				v[48 + k].iov_base = buf + off;
				v[48 + k].iov_len = l;
				off += l;
			}
			j[2] = (struct crc_job){ .iov = v + 48,
						 .iovcnt = cnt,
						 .want = pre[i],
						 .len = len,
						 .what = "split into random iovecs" };
		}
		if (!crc_run(t, cq, jobs, n, (int)t->caps.max_crc_batch, NULL))
			break;
	}
	if (!cf_failed(t))
		cf_diag(t, "%d lengths from 0 to %zu (caps.max_recv_dsl %u), 3 requests each, plain and registered", nl,
			top, t->caps.max_recv_dsl);
out:
	free(pre);
	free(third);
	free(jobs);
	free(iov);
}

/*
 * iovec counts on both sides of every power of two up to caps.max_sge (at
 * least 1024, the usual IOV_MAX) and past it: small requests of short
 * entries, and at counts from 17 up requests of 2 MiB and more.  The CRC
 * API takes any count: each must complete with the right digest.
 */
void case_crc_async_iov_count(struct cf_t *t)
{
	toeless_cq *cq = cf_cq(t, 0);
	if (!cq)
		return;
	uint32_t lim = t->caps.max_sge > 1024 ? t->caps.max_sge : 1024;
	if (lim > 8192)
		lim = 8192;
	size_t counts[64];
	int nc = pow2_lengths(lim + 1, counts, 60);
	if (counts[0] == 0)
		memmove(counts, counts + 1, (size_t)--nc * sizeof(*counts));
	counts[nc++] = 2 * (size_t)lim + 1;
	int big = 0;
	for (int i = 0; i < nc; i++)
		big += counts[i] >= 17 && counts[i] <= 2 * 1024 + 1;
	int n = 2 * nc, maxcnt = (int)counts[nc - 1];
	size_t cap = 4u << 20;
	uint8_t *buf;
	struct crc_job *jobs = NULL;
	struct iovec *iov = NULL;
	if (!crc_alloc(t, cap, n, maxcnt, &buf, &jobs, &iov))
		goto out;
	for (int reg = 0; reg < 2 && crc_pass(t, buf, cap, reg); reg++) {
		for (int i = 0; i < n; i++) {
			int cnt = (int)counts[i / 2];
			bool large = i % 2 && cnt >= 17 && cnt <= 2 * 1024 + 1;
			struct iovec *v = &iov[(size_t)i * (size_t)maxcnt];
			/* large: entries that add up to 2 MiB and a bit */
			size_t each = large ? ((2u << 20) + (size_t)cnt * 64) / (size_t)cnt : 0;
			size_t len = 0;
			uint32_t want = i % 3 ? 0 : (uint32_t)cf_rand(&t->rng);
			uint32_t seed = want;
			for (int k = 0; k < cnt; k++) {
				size_t l = large ? each + cf_range(&t->rng, 0, 3) : cf_range(&t->rng, 0, 96);
				size_t off = cf_range(&t->rng, 0, (uint32_t)(cap - l));
				v[k].iov_base = buf + off;
				v[k].iov_len = l;
				len += l;
				want = cf_crc32c(want, v[k].iov_base, l);
			}
			memset(&jobs[i], 0, sizeof(jobs[i]));
			jobs[i].iov = v;
			jobs[i].iovcnt = cnt;
			jobs[i].seed = seed;
			jobs[i].want = want;
			jobs[i].len = len;
			jobs[i].what = large ? "iovecs adding up to 2 MiB or more" : "short iovecs";
		}
		if (!crc_run(t, cq, jobs, n, (int)t->caps.max_crc_batch, NULL))
			break;
	}
	if (!cf_failed(t))
		cf_diag(t,
			"iovec counts 1 .. %d (caps.max_sge %u), %d of them also with 2 MiB or more, plain and "
			"registered",
			maxcnt, t->caps.max_sge, big);
out:
	free(jobs);
	free(iov);
}

/*
 * More than 65,536 asynchronous CRC requests on one device (a 16-bit tag,
 * index or counter wraps), in chunks, each checked.  --thorough: more than
 * 2^20.
 */
void case_long_crc(struct cf_t *t)
{
	toeless_cq *cq = cf_cq(t, 0);
	if (!cq)
		return;
	/* --iter below 1 (a valgrind run) shortens it, below the wrap */
	const int total = t->thorough ? 1100000 : t->scale < 1 ? (int)cf_iter(t, 70000) : 70000, chunk = 4096;
	const size_t cap = 65536;
	uint8_t *buf;
	struct crc_job *jobs = NULL;
	struct iovec *iov = NULL;
	toeless_mr *mr;
	if (!crc_alloc(t, cap, chunk, 1, &buf, &jobs, &iov) || !cf_mr(t, buf, cap, &mr))
		goto out;
	for (int done = 0; done < total && !cf_failed(t); done += chunk) {
		int n = total - done < chunk ? total - done : chunk;
		for (int i = 0; i < n; i++) {
			size_t len = cf_range(&t->rng, 1, 64);
			iov[i].iov_base = buf + cf_range(&t->rng, 0, (uint32_t)(cap - len));
			iov[i].iov_len = len;
			memset(&jobs[i], 0, sizeof(jobs[i]));
			jobs[i].iov = &iov[i];
			jobs[i].iovcnt = 1;
			jobs[i].seed = i % 2 ? (uint32_t)cf_rand(&t->rng) : 0;
			jobs[i].len = len;
			jobs[i].want = cf_crc32c(jobs[i].seed, iov[i].iov_base, len);
		}
		if (!crc_run(t, cq, jobs, n, (int)t->caps.max_crc_batch, NULL)) {
			cf_diag(t, "after %d requests completed correctly on this device", done);
			break;
		}
	}
	if (!cf_failed(t))
		cf_diag(t, "%d requests on one device, each checked", total);
out:
	free(jobs);
	free(iov);
}
