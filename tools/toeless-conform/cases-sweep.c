/*
 * toeless-conform: sweeps and long runs of the placement path.
 *
 * The fixed cases use a few sizes and short runs; an engine can be right on
 * all of them and still let corruption through: a digest check skipped when
 * pad bytes follow the payload or above some length, a gather list wrong
 * past its 16th entry, a counter that goes wrong after a few thousand
 * placements or when 16 bits wrap.  These cases go over every pad, both
 * sides of every power of two up to the largest segment the device accepts,
 * every SGE count up to its limit, and more than 65,536 placements on one
 * context.  --thorough makes the long runs cross 2^20.
 *
 * SPDX-License-Identifier: MIT
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "conform.h"

/* Room for a whole large PDU in the library's socket, so that an engine
 * (which handles only PDUs it sees whole) gets the large ones too.  Needs
 * privileges beyond the system's limits; without them the large PDUs go
 * partly to software, which is still checked. */
static void big_buffers(struct cf_conn *c, uint32_t bytes)
{
	int sz = (int)(bytes < (64u << 20) ? bytes : (64u << 20));
	if (setsockopt(c->fd, SOL_SOCKET, SO_RCVBUFFORCE, &sz, sizeof(sz)))
		setsockopt(c->fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	if (setsockopt(c->peer, SOL_SOCKET, SO_SNDBUFFORCE, &sz, sizeof(sz)))
		setsockopt(c->peer, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
}

/* Send the stream and receive it, the bytes in the socket before the first
 * receive as far as it holds them.  *engine counts PDUs the engine placed. */
static bool send_whole(struct cf_t *t, struct cf_conn *c, struct cf_stream *s, int *engine)
{
	if (s->wire.len <= 65536) {
		if (!cf_feed(t, c, s->wire.p, s->wire.len))
			return false;
		return cf_stream_recv(t, c, s, 0, -1, engine);
	}
	int before = cf_inq(c->fd);
	struct cf_writer *w = cf_writer_start(t, c->peer, s->wire.p, s->wire.len, CF_SPLIT_WHOLE, 0, 0);
	if (!w)
		return false;
	/* until it is all there, or stops growing (a full socket, a relay) */
	int last = -1;
	double still = cf_now_s();
	while (cf_inq(c->fd) < before + (int)s->wire.len) {
		int n = cf_inq(c->fd);
		if (n != last) {
			last = n;
			still = cf_now_s();
		} else if (cf_now_s() - still > 0.02) {
			break;
		}
		cf_sleep_ms(1);
	}
	if (!cf_stream_recv(t, c, s, 0, -1, engine)) {
		cf_writer_stop(w);
		return false;
	}
	if (!cf_writer_join(w)) {
		cf_fail(t, "the target could not write the whole stream");
		return false;
	}
	return true;
}

static bool expect_done(struct cf_t *t, const struct cf_post *p, int status, uint64_t placed, int digest,
			const char *what)
{
	const struct toeless_completion *c = &p->c;
	if (c->status != status) {
		cf_fail(t, "%s: ITT 0x%x completed with %d (%s), expected %d (%s)%s", what, p->itt, c->status,
			toeless_strerror(c->status), status, toeless_strerror(status),
			status == -EBADMSG && c->status == 0 ? ": corrupted data reported good" : "");
		return false;
	}
	if (status != -ECANCELED && c->bytes_placed != placed) {
		cf_fail(t, "%s: ITT 0x%x: %" PRIu64 " bytes placed, expected %" PRIu64, what, p->itt, c->bytes_placed,
			placed);
		return false;
	}
	if (digest >= 0 && c->data_digest != digest) {
		cf_fail(t, "%s: ITT 0x%x: completion data_digest %u, expected %d", what, p->itt, c->data_digest,
			digest);
		return false;
	}
	return true;
}

/* 1..8, then p-2 .. p+2 for every power of two p from 16 up, and the last
 * four lengths up to top (every pad 0..3 on both sides of every power and
 * at the limit); sorted, unique, all <= top.  Above 1 MiB, unless
 * thorough, p-1 .. p+1 only (pads 1, 0, 3): the pads are covered below and
 * at the limit, and the bytes moved stay within what a minute allows. */
static int sweep_sizes(uint32_t top, bool thorough, uint32_t *out, int cap)
{
	int n = 0;
	for (uint32_t l = 1; l <= 8 && l <= top; l++)
		out[n++] = l;
	for (uint64_t p = 16; p - 2 <= top && n + 5 < cap; p *= 2)
		for (int d = -2; d <= 2; d++)
			if (p + (uint64_t)(int64_t)d <= top && (thorough || p <= (1u << 20) || (d != -2 && d != 2)))
				out[n++] = (uint32_t)(p + (uint64_t)(int64_t)d);
	for (uint32_t l = top > 3 ? top - 3 : 1; l <= top && n < cap; l++)
		out[n++] = l;
	/* sort (insertion: a few dozen) and drop repeats */
	for (int i = 1; i < n; i++)
		for (int j = i; j > 0 && out[j - 1] > out[j]; j--) {
			uint32_t x = out[j];
			out[j] = out[j - 1];
			out[j - 1] = x;
		}
	int u = 0;
	for (int i = 0; i < n; i++)
		if (!u || out[u - 1] != out[i])
			out[u++] = out[i];
	return u;
}

enum variant { V_GOOD, V_BAD_DIGEST, V_BAD_PAYLOAD, V_N };
static const char *const variant_name[V_N] = { "good digests", "a bad data digest",
					       "a damaged payload under its original digest" };

/* One Data-In of len bytes into a fresh post, arrived whole as far as the
 * socket holds it; the completion and the bytes checked. */
static bool one_size(struct cf_t *t, struct cf_conn *c, uint32_t len, enum variant v, int round, int *engine)
{
	static const enum cf_corrupt corrupt[V_N] = { CF_CORRUPT_NONE, CF_CORRUPT_DATA_DIGEST, CF_CORRUPT_PAYLOAD };
	struct cf_posts ps;
	cf_posts_init(&ps, 0x7000 + (uint64_t)round);
	struct cf_stream s;
	cf_stream_init(t, &s);
	uint32_t max_sge = t->caps.max_sge < 4 ? t->caps.max_sge : 4;
	struct cf_post *p =
		cf_post_new(t, &ps, 0x70000u + (uint32_t)round, len, (int)cf_range(&t->rng, 1, max_sge), true);
	int status = v == V_GOOD ? 0 : -EBADMSG;
	bool ok = p && cf_post_submit(t, c, p);
	char what[160];
	snprintf(what, sizeof(what), "a %u-byte Data-In (pad %u) with %s", len, (4 - (len & 3)) & 3, variant_name[v]);
	if (ok) {
		cf_stream_data_in(&s, p, 0, 0, 0, len, TOELESS_ISCSI_FLAG_FINAL | TOELESS_ISCSI_DATAIN_STATUS,
				  CF_DIGESTS, corrupt[v], status);
		int e = 0;
		ok = send_whole(t, c, &s, &e) && cf_wait_posts(t, c, &ps, NULL) &&
		     expect_done(t, p, status, len, v == V_GOOD ? TOELESS_DIGEST_OK : TOELESS_DIGEST_BAD, what) &&
		     (v != V_GOOD || cf_post_verify(t, p, len));
		*engine += e;
	}
	if (!ok)
		cf_diag(t, "while sending %s", what);
	cf_stream_free(&s);
	cf_posts_free(&ps);
	return ok;
}

/* A bad header digest on a len-byte Data-In: delivered -EBADMSG with the
 * header's verdict BAD, the context fails, its post is cancelled. */
static bool bad_header(struct cf_t *t, uint32_t len, uint32_t rdsl, int round)
{
	struct cf_conn c;
	if (!cf_conn_open(t, &c, NULL, CF_DIGESTS, rdsl, 0))
		return false;
	big_buffers(&c, len + 4096);
	struct cf_posts ps;
	cf_posts_init(&ps, 0x7800 + (uint64_t)round);
	struct cf_stream s;
	cf_stream_init(t, &s);
	struct cf_post *p = cf_post_new(t, &ps, 0x78000u + (uint32_t)round, len, 1, true);
	bool ok = p && cf_post_submit(t, &c, p);
	struct cf_writer *w = NULL;
	if (ok) {
		struct cf_exp *e =
			cf_stream_data_in(&s, p, 0, 0, 0, len, TOELESS_ISCSI_FLAG_FINAL | TOELESS_ISCSI_DATAIN_STATUS,
					  CF_DIGESTS, CF_CORRUPT_HDR_DIGEST, -EBADMSG);
		e->placed = false;
		e->task_done = -1;
		e->data_digest = -1;
		/* the library stops at the header: nobody reads the rest */
		w = cf_writer_start(t, c.peer, s.wire.p, s.wire.len, CF_SPLIT_WHOLE, 0, 0);
		struct toeless_pdu pdu;
		ok = w && cf_recv_expect(t, &c, &s, 0, &pdu);
		if (ok && pdu.hdr_digest != TOELESS_DIGEST_BAD) {
			cf_fail(t,
				"a bad header digest on a %u-byte Data-In delivered with hdr_digest %u, expected BAD",
				len, pdu.hdr_digest);
			ok = false;
		}
		if (ok) {
			int rc = toeless_pdu_recv(c.ctx, &pdu);
			if (rc != -ENOTCONN) {
				cf_fail(t,
					"after a bad header digest on a %u-byte Data-In: toeless_pdu_recv returned %d "
					"(%s), expected -ENOTCONN",
					len, rc, toeless_strerror(rc));
				ok = false;
			}
		}
		int other = 0;
		ok = ok && cf_conn_destroy(t, &c) && cf_wait_posts(t, &c, &ps, &other) &&
		     expect_done(t, p, -ECANCELED, 0, -1, "a post whose context failed on a bad header digest");
		if (ok && other != 1) {
			cf_fail(t,
				"after a bad header digest on a %u-byte Data-In: %d other completions, expected one "
				"TOELESS_CQE_ERROR",
				len, other);
			ok = false;
		}
		if (w)
			cf_writer_stop(w);
	}
	if (!ok)
		cf_diag(t, "a bad header digest on a %u-byte Data-In", len);
	cf_stream_free(&s);
	cf_posts_free(&ps);
	cf_conn_destroy(t, &c);
	return ok;
}

void case_place_sizes(struct cf_t *t)
{
	uint32_t top = t->caps.max_recv_dsl;
	if (t->scale < 1 && top > (1u << 20)) {
		/* --iter below 1 (a valgrind run): the sweep stops at 1 MiB */
		top = 1u << 20;
		cf_diag(t, "--iter %g: sizes up to %u only", t->scale, top);
	}
	uint32_t sizes[160];
	int n = sweep_sizes(top, t->thorough, sizes, 160);
	struct cf_conn c;
	if (!cf_conn_open(t, &c, NULL, CF_DIGESTS, top, 0))
		return;
	big_buffers(&c, top + 4096);
	/* The default run keeps to about 300 MiB of data: above 1 MiB (where
	 * hw and sw go, to 16 MiB) a damaged payload and a bad header digest
	 * are tried at the limit only; --thorough tries them at every size. */
	const uint32_t full = 1u << 20;
	int engine = 0, round = 0, bad = 0, nhdr = 0;
	for (int i = 0; i < n; i++)
		for (int v = 0; v < V_N; v++) {
			if (v == V_BAD_PAYLOAD && sizes[i] > full && sizes[i] < top && !t->thorough)
				continue;
			if (!one_size(t, &c, sizes[i], (enum variant)v, round++, &engine))
				return;
			bad += v != V_GOOD;
		}
	struct toeless_stats st;
	if (!cf_ctx_stats(t, &c, &st))
		return;
	CF_CHECK(t, st.data_digest_errors == (uint64_t)bad,
		 "data_digest_errors counts %" PRIu64 " after %d bad data digests", st.data_digest_errors, bad);
	cf_diag(t,
		"%d sizes from 1 to %u (caps.max_recv_dsl), each with good digests and a bad data digest, %d with a "
		"damaged payload: %d of %d PDUs placed by the engine, %" PRIu64 " digests checked by it",
		n, top, bad - n, engine, round, st.data_digests_engine);
	if (!cf_conn_destroy(t, &c))
		return;
	/* a bad header digest: a connection each */
	for (int i = 0; i < n; i++) {
		if (sizes[i] > full && sizes[i] < top && !t->thorough)
			continue;
		if (!bad_header(t, sizes[i], top, i))
			return;
		nhdr++;
	}
	cf_diag(t, "a bad header digest at %d of the sizes failed its context", nhdr);
}

/* ---- SGE counts ---- */

/* One post of nsge SGEs, each separated from the next by a gap the engine
 * must not touch, filled by Data-In PDUs of up to 64 KiB. */
static bool sge_round(struct cf_t *t, struct cf_conn *c, int nsge, int round, int *engine)
{
	const size_t gap = 16;
	uint32_t each = cf_range(&t->rng, 1, nsge > 256 ? 24 : 200);
	size_t total = (size_t)nsge * each + cf_range(&t->rng, 0, (uint32_t)nsge);
	size_t area_len = total + (size_t)(nsge + 1) * gap;
	uint8_t *area = cf_alloc(t, area_len, 0);
	struct iovec *iov = cf_tmalloc(t, (size_t)nsge * sizeof(*iov));
	toeless_mr *mr;
	if (!area || !cf_mr(t, area, area_len, &mr))
		return false;
	/* random non-empty lengths adding up to total */
	size_t off = gap, left = total;
	for (int i = 0; i < nsge; i++) {
		size_t rest = (size_t)(nsge - i - 1);
		size_t l =
			i == nsge - 1 ? left : 1 + cf_rand(&t->rng) % (left - rest < 2 * each ? left - rest : 2 * each);
		iov[i].iov_base = area + off;
		iov[i].iov_len = l;
		off += l + gap;
		left -= l;
	}
	struct cf_posts ps;
	cf_posts_init(&ps, 0x7c00 + (uint64_t)round);
	struct cf_stream s;
	cf_stream_init(t, &s);
	struct cf_post *p = cf_post_new_iov(t, &ps, 0x7c000u + (uint32_t)round, iov, nsge);
	bool ok = cf_post_submit(t, c, p);
	uint32_t k = 0;
	for (uint64_t o = 0; ok && o < p->total; k++) {
		uint32_t len = p->total - o < 65536 ? (uint32_t)(p->total - o) : 65536;
		cf_stream_data_in(&s, p, 0, k, o, len,
				  o + len == p->total ? TOELESS_ISCSI_FLAG_FINAL | TOELESS_ISCSI_DATAIN_STATUS : 0,
				  CF_DIGESTS, CF_CORRUPT_NONE, 0);
		o += len;
	}
	int e = 0;
	ok = ok && send_whole(t, c, &s, &e) && cf_wait_posts(t, c, &ps, NULL) &&
	     expect_done(t, p, 0, p->total, TOELESS_DIGEST_OK, "a post of many SGEs") && cf_post_verify(t, p, p->total);
	*engine += e;
	/* the gaps between the SGEs: as cf_alloc left them */
	off = 0;
	for (int i = 0; ok && i <= nsge; i++) {
		for (size_t b = 0; b < gap; b++)
			if (area[off + b] != 0x5A) {
				cf_fail(t, "a post of %d SGEs: byte %zu of the gap %s SGE %d was written", nsge, b,
					i < nsge ? "before" : "after", i < nsge ? i + 1 : nsge);
				ok = false;
				break;
			}
		if (i < nsge)
			off = (size_t)((uint8_t *)iov[i].iov_base - area) + iov[i].iov_len;
	}
	if (!ok)
		cf_diag(t, "a post of %d SGEs, %" PRIu64 " bytes in %u PDUs", nsge, p->total, k);
	cf_stream_free(&s);
	cf_posts_free(&ps);
	cf_tfree(t, iov);
	return ok;
}

void case_place_sge_counts(struct cf_t *t)
{
	uint32_t lim = t->caps.max_sge;
	uint32_t cap = t->thorough ? 65536 : 4096;
	uint32_t top = lim < cap ? lim : cap;
	if (top < lim)
		cf_diag(t, "caps.max_sge is %u: counts up to %u tested", lim, top);
	int counts[128], n = 0;
	for (uint32_t k = 1; k <= 17 && k <= top; k++)
		counts[n++] = (int)k;
	for (uint32_t p = 32; p - 1 <= top && n + 3 < 120; p *= 2)
		for (int d = -1; d <= 1; d++)
			if (p + (uint32_t)d <= top && p + (uint32_t)d > 17)
				counts[n++] = (int)(p + (uint32_t)d);
	if (top > 17 && counts[n - 1] != (int)top)
		counts[n++] = (int)top;
	struct cf_conn c;
	if (!cf_conn_open(t, &c, NULL, CF_DIGESTS, 65536, 0))
		return;
	int engine = 0;
	for (int i = 0; i < n; i++)
		if (!sge_round(t, &c, counts[i], i, &engine))
			return;
	/* one more than the device takes: refused, never cut short */
	if (lim < (1u << 20)) {
		size_t len = (size_t)lim + 1;
		uint8_t *b = cf_alloc(t, len, 0);
		struct iovec *iov = cf_tmalloc(t, len * sizeof(*iov));
		if (!b)
			return;
		for (size_t i = 0; i < len; i++) {
			iov[i].iov_base = b + i;
			iov[i].iov_len = 1;
		}
		int rc = toeless_sgl_post(c.ctx, 0x7cfff, iov, (int)len, 7);
		CF_CHECK(t, rc == -E2BIG, "a post of caps.max_sge + 1 = %zu SGEs returned %d (%s), expected -E2BIG",
			 len, rc, toeless_strerror(rc));
		cf_tfree(t, iov);
	}
	cf_diag(t, "%d SGE counts from 1 to %d, each filled by Data-In of up to 64 KiB: %d PDUs placed by the engine",
		n, counts[n - 1], engine);
}

/* ---- long runs ---- */

/*
 * More than 65,536 posts, placements and completions on one context (and
 * ITTs past 0xffff), in batches of up to 32 short posts whose Data-In arrive
 * whole: every PDU an engine could place, it gets.  Every 61st payload is
 * damaged under its digest and must fail its post.  --thorough: more than
 * 2^20.
 */
void case_long_placements(struct cf_t *t)
{
	/* --iter below 1 (a valgrind run) shortens it, below the wrap */
	const int total = t->thorough ? 1100000 : t->scale < 1 ? (int)cf_iter(t, 70000) : 70000;
	int W = t->caps.max_tasks < 32 ? (int)t->caps.max_tasks : 32;
	const size_t slot = 256;
	struct cf_conn c;
	if (!cf_conn_open(t, &c, NULL, CF_DIGESTS, 8192, 0))
		return;
	uint8_t *area = cf_alloc(t, (size_t)W * slot, 0);
	toeless_mr *mr;
	if (!area || !cf_mr(t, area, (size_t)W * slot, &mr))
		return;
	int engine = 0, bad = 0, done = 0;
	uint32_t itt = 0xfe00; /* crosses 0xffff early */
	double t0 = cf_now_s();
	while (done < total && !cf_failed(t)) {
		int n = total - done < W ? total - done : W;
		struct cf_posts ps;
		cf_posts_init(&ps, 0x8000 + (uint64_t)(done / W % 0x7fff));
		struct cf_stream s;
		cf_stream_init(t, &s);
		bool ok = true;
		int nbad = 0;
		for (int i = 0; i < n && ok; i++) {
			size_t len = cf_range(&t->rng, 1, (uint32_t)slot);
			struct iovec v = { area + (size_t)i * slot, len };
			memset(v.iov_base, 0x5A, slot);
			struct cf_post *p = cf_post_new_iov(t, &ps, itt++, &v, 1);
			ok = cf_post_submit(t, &c, p);
			bool damage = (done + i) % 61 == 60;
			nbad += damage;
			cf_stream_data_in(&s, p, 0, 0, 0, (uint32_t)len,
					  TOELESS_ISCSI_FLAG_FINAL | TOELESS_ISCSI_DATAIN_STATUS, CF_DIGESTS,
					  damage ? CF_CORRUPT_PAYLOAD : CF_CORRUPT_NONE, damage ? -EBADMSG : 0);
		}
		int e = 0;
		ok = ok && send_whole(t, &c, &s, &e) && cf_wait_posts(t, &c, &ps, NULL);
		for (int i = 0; i < n && ok; i++) {
			struct cf_post *p = &ps.p[i];
			bool damage = (done + i) % 61 == 60;
			char what[96];
			snprintf(what, sizeof(what), "placement %d of %d on this context", done + i + 1, total);
			ok = expect_done(t, p, damage ? -EBADMSG : 0, p->total,
					 damage ? TOELESS_DIGEST_BAD : TOELESS_DIGEST_OK, what) &&
			     (damage || cf_post_verify(t, p, p->total));
			if (!ok)
				cf_diag(t, "%s failed, after %d correct ones (%d of them placed by the engine)", what,
					done + i, engine);
		}
		engine += e;
		bad += nbad;
		done += n;
		cf_stream_free(&s);
		cf_posts_free(&ps);
	}
	if (cf_failed(t))
		return;
	struct toeless_stats st;
	if (!cf_ctx_stats(t, &c, &st))
		return;
	CF_CHECK(t,
		 st.data_in_placed == (uint64_t)total && st.sgl_posted == (uint64_t)total &&
			 st.sgl_completed == (uint64_t)(total - bad) && st.data_digest_errors == (uint64_t)bad,
		 "counters after %d placements (%d damaged): data_in_placed %" PRIu64 ", sgl_posted %" PRIu64
		 ", sgl_completed %" PRIu64 ", data_digest_errors %" PRIu64,
		 total, bad, st.data_in_placed, st.sgl_posted, st.sgl_completed, st.data_digest_errors);
	cf_diag(t,
		"%d posts and placements on one context in %.1fs (ITTs 0xfe00 .. 0x%x), %d by the engine, %d "
		"damaged payloads failed their post",
		total, cf_now_s() - t0, itt - 1, engine, bad);
}
