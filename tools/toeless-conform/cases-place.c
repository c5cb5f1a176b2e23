/*
 * toeless-conform: direct data placement cases.
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
#include <unistd.h>

#include "conform.h"

/* How a stream reaches the library. */
enum send_mode {
	SEND_WHOLE = 0, /* all bytes in the socket before the first receive: the engine sees whole PDUs */
	SEND_RANDOM,    /* random pieces while the library reads */
	SEND_TINY,      /* a few bytes at a time */
	SEND_MODES,
};
static const char *const send_name[] = { "arrived whole", "random TCP segments", "tiny TCP segments" };

/* Send s on c in mode m and receive every PDU of it.  *engine counts PDUs
 * the engine placed. */
static bool send_recv(struct cf_t *t, struct cf_conn *c, struct cf_stream *s, enum send_mode m, uint64_t seed,
		      int *engine)
{
	enum cf_split split = CF_SPLIT_WHOLE;
	size_t chunk = 0;
	if (m == SEND_RANDOM) {
		split = CF_SPLIT_RANDOM;
		chunk = 1 + seed % 16384;
	} else if (m == SEND_TINY) {
		split = s->wire.len <= 8192 ? CF_SPLIT_BYTES : CF_SPLIT_RANDOM;
		chunk = 64;
	}
	return cf_stream_send(t, c, s, split, chunk, seed, engine);
}

/* Check a finished post's completion: status, bytes, status fields. */
static bool check_done(struct cf_t *t, struct cf_post *p, int status, uint64_t placed, bool scsi, int digest)
{
	const struct toeless_completion *c = &p->c;
	if (c->status != status) {
		cf_fail(t, "ITT 0x%x completed with status %d (%s), expected %d (%s)", p->itt, c->status,
			toeless_strerror(c->status), status, toeless_strerror(status));
		return false;
	}
	if (status != -EEXIST && status != -ECANCELED && c->bytes_placed != placed) {
		cf_fail(t, "ITT 0x%x: completion says %" PRIu64 " bytes placed, expected %" PRIu64, p->itt,
			c->bytes_placed, placed);
		return false;
	}
	if (c->bytes_engine > c->bytes_placed) {
		cf_fail(t, "ITT 0x%x: bytes_engine %" PRIu64 " > bytes_placed %" PRIu64, p->itt, c->bytes_engine,
			c->bytes_placed);
		return false;
	}
	if (!!(c->flags & TOELESS_CQE_F_ENGINE) != (c->bytes_engine > 0)) {
		cf_fail(t, "ITT 0x%x: TOELESS_CQE_F_ENGINE is %s with bytes_engine %" PRIu64, p->itt,
			(c->flags & TOELESS_CQE_F_ENGINE) ? "set" : "clear", c->bytes_engine);
		return false;
	}
	if (scsi && !(c->flags & TOELESS_CQE_F_SCSI_STATUS)) {
		cf_fail(t, "ITT 0x%x: TOELESS_CQE_F_SCSI_STATUS missing", p->itt);
		return false;
	}
	if (digest >= 0 && c->data_digest != digest) {
		cf_fail(t, "ITT 0x%x: completion data_digest %u, expected %d", p->itt, c->data_digest, digest);
		return false;
	}
	if (c->reserved0 || c->reserved1 || c->reserved[0] || c->reserved[1]) {
		cf_fail(t, "ITT 0x%x: reserved completion fields are not zero", p->itt);
		return false;
	}
	return true;
}

/* Data-In PDUs covering [0, p->total), in order or shuffled. */
struct piece {
	uint64_t off;
	uint32_t len;
};

static int pieces(uint64_t total, uint32_t maxpdu, uint64_t *rng, struct piece **out)
{
	int n = 0, cap = 16;
	struct piece *a = malloc(sizeof(*a) * (size_t)cap);
	uint64_t off = 0;
	bool full = cf_rand(rng) % 2; /* full-sized PDUs, as targets send them */
	while (a && off < total) {
		uint32_t len = full ? maxpdu : cf_range(rng, 1, maxpdu);
		if (len > total - off)
			len = (uint32_t)(total - off);
		if (n == cap) {
			cap *= 2;
			struct piece *b = realloc(a, sizeof(*a) * (size_t)cap);
			if (!b) {
				free(a);
				a = NULL;
				break;
			}
			a = b;
		}
		a[n].off = off;
		a[n].len = len;
		n++;
		off += len;
	}
	*out = a;
	return a ? n : -1;
}

static const unsigned digest_sets[4] = { 0, CF_DIGESTS, TOELESS_CTX_DATA_DIGEST, TOELESS_CTX_HEADER_DIGEST };

void case_place_basic(struct cf_t *t)
{
	static const uint32_t sizes[4] = { 4096, 4093, 1, 65536 };
	for (int r = 0; r < 8; r++) {
		unsigned dg = digest_sets[r % 4];
		uint32_t size = sizes[r / 2];
		struct cf_conn c;
		if (!cf_conn_open(t, &c, NULL, dg, 65536, 0))
			return;
		struct cf_posts ps;
		cf_posts_init(&ps, 0x100 + (uint64_t)r);
		struct cf_post *p = cf_post_new(t, &ps, 0x10 + (uint32_t)r, size, 1, false);
		struct cf_stream s;
		cf_stream_init(t, &s);
		int engine = 0;
		bool ok = p && cf_post_submit(t, &c, p);
		if (ok) {
			cf_stream_data_in(&s, p, 0, 0, 0, size, TOELESS_ISCSI_FLAG_FINAL | TOELESS_ISCSI_DATAIN_STATUS,
					  dg, CF_CORRUPT_NONE, 0);
			ok = send_recv(t, &c, &s, r % 2 ? SEND_RANDOM : SEND_WHOLE, cf_rand(&t->rng), &engine) &&
			     cf_wait_posts(t, &c, &ps, NULL) &&
			     check_done(t, p, 0, size, true,
					(dg & TOELESS_CTX_DATA_DIGEST) ? TOELESS_DIGEST_OK : TOELESS_DIGEST_NONE) &&
			     cf_post_verify(t, p, size);
			if (ok && (p->c.scsi_status != 0 || p->c.residual != 0 || p->c.response != 0 ||
				   p->c.ctx != c.ctx || p->c.user_data != p->user_data)) {
				cf_fail(t,
					"ITT 0x%x: completion fields scsi_status %u residual %u response %u ctx %s "
					"user_data %s",
					p->itt, p->c.scsi_status, p->c.residual, p->c.response,
					p->c.ctx == c.ctx ? "ok" : "wrong",
					p->c.user_data == p->user_data ? "ok" : "wrong");
				ok = false;
			}
		}
		if (ok)
			cf_diag(t, "%u bytes, digests 0x%x, %s: %s", size, dg, r % 2 ? send_name[1] : send_name[0],
				engine ? "placed by the engine" : "placed by software");
		cf_stream_free(&s);
		cf_posts_free(&ps);
		if (!ok || !cf_conn_destroy(t, &c))
			return;
	}
}

/* One random round: tasks, their PDUs interleaved with slow-path PDUs. */
static bool random_round(struct cf_t *t, int round, uint64_t *rng, int *engine_total, int *pdus_total)
{
	unsigned dg = digest_sets[cf_rand(rng) % 4];
	uint32_t rdsl = t->caps.max_recv_dsl < 262144 ? t->caps.max_recv_dsl : 262144;
	struct cf_conn c;
	if (!cf_conn_open(t, &c, NULL, dg, rdsl, 0))
		return false;
	static const uint32_t maxpdus[] = { 512, 1024, 4096, 8192, 65536, 262144 };
	uint32_t maxpdu = maxpdus[cf_rand(rng) % 6];
	if (maxpdu > c.max_recv_dsl)
		maxpdu = c.max_recv_dsl;
	uint32_t max_sge = t->caps.max_sge < 24 ? t->caps.max_sge : 24;
	int ntask = (int)cf_range(rng, 1, 4);
	struct cf_posts ps;
	cf_posts_init(&ps, 0x200 + (uint64_t)round);
	struct piece *pc[4] = { NULL };
	int npc[4] = { 0 }, next[4] = { 0 }, datasn[4] = { 0 };
	bool use_s[4] = { false }, rsp_sent[4] = { false };
	struct cf_stream s;
	cf_stream_init(t, &s);
	bool ok = true;
	uint64_t bytes = 0;

	for (int i = 0; i < ntask && ok; i++) {
		uint32_t kind = cf_range(rng, 0, 19);
		uint64_t total = kind < 5    ? cf_range(rng, 1, 512)
				 : kind < 12 ? cf_range(rng, 1, 8192)
				 : kind < 18 ? cf_range(rng, 1, 65536)
					     : cf_range(rng, 65536, 262144);
		int nsge = (int)cf_range(rng, 1, max_sge);
		struct cf_post *p = cf_post_new(t, &ps, 0x1000u * (uint32_t)(round + 1) + (uint32_t)i * 0x11u, total,
						nsge, cf_rand(rng) % 2);
		ok = p && cf_post_submit(t, &c, p);
		if (!ok)
			break;
		npc[i] = pieces(total, maxpdu, rng, &pc[i]);
		if (npc[i] < 0) {
			cf_fail(t, "out of memory");
			ok = false;
			break;
		}
		bool shuffled = npc[i] > 1 && cf_rand(rng) % 2;
		if (shuffled)
			for (int k = npc[i]; k > 1; k--) {
				int j = (int)(cf_rand(rng) % (uint64_t)k);
				struct piece x = pc[i][k - 1];
				pc[i][k - 1] = pc[i][j];
				pc[i][j] = x;
			}
		/* the status rides on the last Data-In only when that one is last */
		use_s[i] = !shuffled && cf_rand(rng) % 2;
		bytes += total;
	}
	/* interleave the tasks, with slow-path PDUs in between */
	while (ok) {
		int live[4], nl = 0;
		for (int i = 0; i < ntask; i++)
			if (next[i] < npc[i] || (!use_s[i] && !rsp_sent[i]))
				live[nl++] = i;
		if (!nl)
			break;
		if (cf_rand(rng) % 8 == 0)
			cf_stream_nop(t, &s, cf_range(rng, 0, maxpdu < 3000 ? maxpdu : 3000), dg, CF_CORRUPT_NONE);
		int i = live[cf_rand(rng) % (uint64_t)nl];
		struct cf_post *p = &ps.p[i];
		if (next[i] < npc[i]) {
			struct piece *x = &pc[i][next[i]++];
			bool last = next[i] == npc[i];
			uint8_t fl = last ? TOELESS_ISCSI_FLAG_FINAL : 0;
			if (last && use_s[i])
				fl |= TOELESS_ISCSI_DATAIN_STATUS;
			cf_stream_data_in(&s, p, 0, (uint32_t)datasn[i]++, x->off, x->len, fl, dg, CF_CORRUPT_NONE, 0);
		} else {
			cf_stream_scsi_rsp(t, &s, p, 0, 0, 0, 0, 0, 0, dg);
			rsp_sent[i] = true;
		}
	}
	enum send_mode m = (enum send_mode)(cf_rand(rng) % SEND_MODES);
	int engine = 0;
	if (ok)
		ok = send_recv(t, &c, &s, m, cf_rand(rng), &engine);
	if (ok)
		ok = cf_wait_posts(t, &c, &ps, NULL);
	for (int i = 0; i < ps.n && ok; i++)
		ok = check_done(t, &ps.p[i], 0, ps.p[i].total, true,
				(dg & TOELESS_CTX_DATA_DIGEST) ? TOELESS_DIGEST_OK : TOELESS_DIGEST_NONE) &&
		     cf_post_verify(t, &ps.p[i], ps.p[i].total);
	struct toeless_stats st;
	if (ok && cf_ctx_stats(t, &c, &st)) {
		if (st.bytes_placed_engine + st.bytes_placed_sw != bytes || st.data_in_placed != (uint64_t)s.data_in) {
			cf_fail(t,
				"counters: %" PRIu64 " bytes placed by the engine + %" PRIu64 " by software, %" PRIu64
				" Data-In placed; expected %" PRIu64 " bytes in %d PDUs",
				st.bytes_placed_engine, st.bytes_placed_sw, st.data_in_placed, bytes, s.data_in);
			ok = false;
		}
	}
	if (!ok)
		cf_diag(t, "round %d: %d tasks, %d PDUs (max %u bytes), digests 0x%x, %s", round, ntask, s.n, maxpdu,
			dg, send_name[m]);
	*engine_total += engine;
	*pdus_total += s.data_in;
	for (int i = 0; i < 4; i++)
		free(pc[i]);
	cf_stream_free(&s);
	cf_posts_free(&ps);
	return ok && cf_conn_destroy(t, &c);
}

void case_place_random(struct cf_t *t)
{
	uint64_t rng = t->rng;
	int engine = 0, pdus = 0;
	unsigned n = cf_iter(t, 32);
	for (unsigned r = 0; r < n; r++)
		if (!random_round(t, (int)r, &rng, &engine, &pdus))
			return;
	cf_diag(t, "%u rounds, %d Data-In PDUs placed, %d of them by the engine", n, pdus, engine);
}

void case_place_engine(struct cf_t *t)
{
	if (!(t->caps.flags & TOELESS_CAP_DDP)) {
		cf_skip(t, "the backend does not advertise TOELESS_CAP_DDP");
		return;
	}
	struct cf_conn c;
	if (!cf_conn_open(t, &c, NULL, CF_DIGESTS, 65536, 0))
		return;
	int engine = 0, pdus = 0;
	uint64_t bytes_engine = 0;
	for (int round = 0; round < 6; round++) {
		struct cf_posts ps;
		cf_posts_init(&ps, 0x300 + (uint64_t)round);
		struct cf_stream s;
		cf_stream_init(t, &s);
		bool ok = true;
		for (int i = 0; i < 2 && ok; i++) {
			struct cf_post *p = cf_post_new(
				t, &ps, 0x3000 + (uint32_t)(round * 2 + i), 16384,
				1 + (int)((unsigned)round % (t->caps.max_sge < 4 ? t->caps.max_sge : 4)), true);
			ok = p && cf_post_submit(t, &c, p);
			for (int k = 0; ok && k < 4; k++)
				cf_stream_data_in(&s, p, 0, (uint32_t)k, (uint64_t)k * 4096, 4096,
						  k == 3 ? TOELESS_ISCSI_FLAG_FINAL | TOELESS_ISCSI_DATAIN_STATUS : 0,
						  CF_DIGESTS, CF_CORRUPT_NONE, 0);
		}
		ok = ok && send_recv(t, &c, &s, SEND_WHOLE, 0, &engine) && cf_wait_posts(t, &c, &ps, NULL);
		for (int i = 0; i < ps.n && ok; i++) {
			ok = check_done(t, &ps.p[i], 0, 16384, true, TOELESS_DIGEST_OK) &&
			     cf_post_verify(t, &ps.p[i], 16384);
			bytes_engine += ps.p[i].c.bytes_engine;
		}
		pdus += s.data_in;
		cf_stream_free(&s);
		cf_posts_free(&ps);
		if (!ok)
			return;
	}
	struct toeless_stats st;
	if (!cf_ctx_stats(t, &c, &st))
		return;
	cf_diag(t,
		"the engine placed %d of %d whole Data-In PDUs (%" PRIu64 " bytes); %" PRIu64
		" posts refused for resources; %" PRIu64 " digests checked by the engine",
		engine, pdus, st.bytes_placed_engine, st.engine_post_full, st.data_digests_engine);
	CF_CHECK(t, st.bytes_placed_engine == bytes_engine,
		 "counters say the engine placed %" PRIu64 " bytes, the completions say %" PRIu64,
		 st.bytes_placed_engine, bytes_engine);
	CF_CHECK(t, engine > 0,
		 "the backend advertises TOELESS_CAP_DDP, but its engine placed none of %d Data-In PDUs that arrived "
		 "whole, into %s memory posted before the data",
		 pdus, (t->caps.flags & TOELESS_CAP_DDP_NEEDS_REG) ? "registered" : "registered and aligned");
}

void case_place_digest_error(struct cf_t *t)
{
	for (int round = 0; round < 2; round++) {
		enum send_mode m = round ? SEND_RANDOM : SEND_WHOLE;
		struct cf_conn c;
		if (!cf_conn_open(t, &c, NULL, CF_DIGESTS, 65536, 0))
			return;
		struct cf_posts ps;
		cf_posts_init(&ps, 0x400 + (uint64_t)round);
		struct cf_stream s;
		cf_stream_init(t, &s);
		struct cf_post *a = cf_post_new(t, &ps, 0x40, 12288, 3, false);
		struct cf_post *b = a ? cf_post_new(t, &ps, 0x41, 6000, 2, false) : NULL;
		struct cf_post *d = b ? cf_post_new(t, &ps, 0x42, 5000, 1, false) : NULL;
		bool ok = d && cf_post_submit(t, &c, a) && cf_post_submit(t, &c, b) && cf_post_submit(t, &c, d);
		if (ok) {
			cf_stream_data_in(&s, a, 0, 0, 0, 4096, 0, CF_DIGESTS, CF_CORRUPT_NONE, 0);
			cf_stream_data_in(&s, a, 0, 1, 4096, 4096, 0, CF_DIGESTS, CF_CORRUPT_DATA_DIGEST, -EBADMSG);
			cf_stream_data_in(&s, a, 0, 2, 8192, 4096,
					  TOELESS_ISCSI_FLAG_FINAL | TOELESS_ISCSI_DATAIN_STATUS, CF_DIGESTS,
					  CF_CORRUPT_NONE, 0);
			/* the payload itself damaged: only a real check catches it */
			cf_stream_data_in(&s, b, 0, 0, 0, 6000, TOELESS_ISCSI_FLAG_FINAL | TOELESS_ISCSI_DATAIN_STATUS,
					  CF_DIGESTS, CF_CORRUPT_PAYLOAD, -EBADMSG);
			/* a slow-path PDU with a bad digest */
			cf_stream_nop(t, &s, 700, CF_DIGESTS, CF_CORRUPT_DATA_DIGEST);
			cf_stream_data_in(&s, d, 0, 0, 0, 5000, TOELESS_ISCSI_FLAG_FINAL | TOELESS_ISCSI_DATAIN_STATUS,
					  CF_DIGESTS, CF_CORRUPT_NONE, 0);
			ok = send_recv(t, &c, &s, m, cf_rand(&t->rng), NULL) && cf_wait_posts(t, &c, &ps, NULL) &&
			     check_done(t, a, -EBADMSG, 12288, true, TOELESS_DIGEST_BAD) &&
			     check_done(t, b, -EBADMSG, 6000, true, TOELESS_DIGEST_BAD) &&
			     check_done(t, d, 0, 5000, true, TOELESS_DIGEST_OK) && cf_post_verify(t, d, 5000);
		}
		struct toeless_stats st;
		if (ok && cf_ctx_stats(t, &c, &st) && st.data_digest_errors != 3) {
			cf_fail(t, "data_digest_errors counts %" PRIu64 ", expected 3", st.data_digest_errors);
			ok = false;
		}
		if (!ok)
			cf_diag(t, "data digest round: %s", send_name[m]);
		cf_stream_free(&s);
		cf_posts_free(&ps);
		if (!ok || !cf_conn_destroy(t, &c))
			return;
	}

	/* a bad header digest ends the connection */
	struct cf_conn c;
	if (!cf_conn_open(t, &c, NULL, CF_DIGESTS, 65536, 0))
		return;
	struct cf_posts ps;
	cf_posts_init(&ps, 0x410);
	struct cf_post *p = cf_post_new(t, &ps, 0x50, 4096, 1, false);
	struct cf_stream s;
	cf_stream_init(t, &s);
	bool ok = p && cf_post_submit(t, &c, p);
	if (ok) {
		struct cf_exp *e =
			cf_stream_data_in(&s, p, 0, 0, 0, 4096, TOELESS_ISCSI_FLAG_FINAL | TOELESS_ISCSI_DATAIN_STATUS,
					  CF_DIGESTS, CF_CORRUPT_HDR_DIGEST, -EBADMSG);
		e->placed = false;
		e->task_done = -1;
		e->data_digest = -1;
		struct toeless_pdu pdu;
		ok = cf_feed(t, &c, s.wire.p, s.wire.len) && cf_recv_expect(t, &c, &s, 0, &pdu);
		if (ok && pdu.hdr_digest != TOELESS_DIGEST_BAD) {
			cf_fail(t, "a bad header digest delivered with hdr_digest %u, expected BAD", pdu.hdr_digest);
			ok = false;
		}
		if (ok) {
			int rc = toeless_pdu_recv(c.ctx, &pdu);
			if (rc != -ENOTCONN) {
				cf_fail(t,
					"after a header digest error toeless_pdu_recv returned %d (%s), expected "
					"-ENOTCONN",
					rc, toeless_strerror(rc));
				ok = false;
			}
		}
		int other = 0;
		struct toeless_completion cqe;
		if (ok) {
			int n = toeless_cq_poll(c.cq, &cqe, 1);
			if (n != 1 || cqe.type != TOELESS_CQE_ERROR || cqe.status != -EBADMSG) {
				cf_fail(t,
					"after a header digest error: %d completions (type %u, status %d), expected "
					"one "
					"TOELESS_CQE_ERROR with -EBADMSG",
					n, n > 0 ? cqe.type : 0, n > 0 ? cqe.status : 0);
				ok = false;
			}
		}
		if (ok && toeless_sgl_post(c.ctx, 0x51, p->iov, 1, 1) != -ENOTCONN) {
			cf_fail(t, "toeless_sgl_post on a failed context did not return -ENOTCONN");
			ok = false;
		}
		/* destroy completes the post as cancelled */
		ok = ok && cf_conn_destroy(t, &c);
		if (ok) {
			/* c.ctx is NULL now: waiting only polls the queue */
			ok = cf_wait_posts(t, &c, &ps, &other) && check_done(t, p, -ECANCELED, 0, false, -1);
			if (ok && other) {
				cf_fail(t, "%d unexpected completions after destroy", other);
				ok = false;
			}
		}
	}
	cf_stream_free(&s);
	cf_posts_free(&ps);
}

void case_place_bad_offset(struct cf_t *t)
{
	for (int round = 0; round < 2; round++) {
		enum send_mode m = round ? SEND_TINY : SEND_WHOLE;
		unsigned dg = round ? CF_DIGESTS : TOELESS_CTX_DATA_DIGEST;
		struct cf_conn c;
		if (!cf_conn_open(t, &c, NULL, dg, 65536, 0))
			return;
		struct cf_posts ps;
		cf_posts_init(&ps, 0x500 + (uint64_t)round);
		struct cf_stream s;
		cf_stream_init(t, &s);
		struct cf_post *a = cf_post_new(t, &ps, 0x60, 8192, 2, false);
		struct cf_post *b = a ? cf_post_new(t, &ps, 0x61, 8192, 3, false) : NULL;
		uint8_t *snap = malloc(8192);
		bool ok = b && snap && cf_post_submit(t, &c, a) && cf_post_submit(t, &c, b);
		if (ok) {
			cf_post_snapshot(a, snap);
			/* past the end of a's SGL */
			cf_stream_data_in(&s, a, 0, 0, 4096, 8192, 0, dg, CF_CORRUPT_NONE, -ERANGE);
			cf_stream_scsi_rsp(t, &s, a, 0, 0, 0, 0, 0, 0, dg);
			/* over bytes already placed */
			cf_stream_data_in(&s, b, 0, 0, 0, 4096, 0, dg, CF_CORRUPT_NONE, 0);
			cf_stream_data_in(&s, b, 0, 1, 2048, 4096, 0, dg, CF_CORRUPT_NONE, -EEXIST);
			cf_stream_data_in(&s, b, 0, 2, 4096, 4096, 0, dg, CF_CORRUPT_NONE, 0);
			cf_stream_scsi_rsp(t, &s, b, 0, 0, 0, 0, 0, 0, dg);
			/* for no post at all */
			cf_stream_data_in(&s, NULL, 0x62, 0, 0, 3000,
					  TOELESS_ISCSI_FLAG_FINAL | TOELESS_ISCSI_DATAIN_STATUS, dg, CF_CORRUPT_NONE,
					  0);
			cf_stream_data_in(&s, NULL, 0x60, 9, 0, 100,
					  TOELESS_ISCSI_FLAG_FINAL | TOELESS_ISCSI_DATAIN_STATUS, dg, CF_CORRUPT_NONE,
					  0);
			/* the last one: a was finished, so its ITT has no post now */
			ok = send_recv(t, &c, &s, m, cf_rand(&t->rng), NULL) && cf_wait_posts(t, &c, &ps, NULL) &&
			     check_done(t, a, -ERANGE, 0, true, -1) && check_done(t, b, -EEXIST, 8192, true, -1) &&
			     cf_canaries_ok(t);
			if (ok) {
				/* nothing of the refused PDU reached a's buffers */
				uint8_t *now = malloc(8192);
				cf_post_snapshot(a, now);
				if (memcmp(now, snap, 8192)) {
					cf_fail(t,
						"ITT 0x%x: its buffers changed, by a Data-In refused with -ERANGE "
						"(past "
						"the end of the SGL) or by one for its ITT after the post completed",
						a->itt);
					ok = false;
				}
				free(now);
			}
			ok = ok && cf_expect_quiet(t, &c, &ps, 50);
		}
		struct toeless_stats st;
		if (ok && cf_ctx_stats(t, &c, &st) && (st.placement_errors != 2 || st.unknown_itt_pdus != 2)) {
			cf_fail(t,
				"placement_errors %" PRIu64 " (expected 2), unknown_itt_pdus %" PRIu64 " (expected 2)",
				st.placement_errors, st.unknown_itt_pdus);
			ok = false;
		}
		if (!ok)
			cf_diag(t, "round %d: %s", round, send_name[m]);
		free(snap);
		cf_stream_free(&s);
		cf_posts_free(&ps);
		if (!ok || !cf_conn_destroy(t, &c))
			return;
	}
}

void case_place_params(struct cf_t *t)
{
	static const unsigned after[3] = { CF_DIGESTS, TOELESS_CTX_DATA_DIGEST, TOELESS_CTX_HEADER_DIGEST };
	for (int round = 0; round < 3; round++) {
		struct cf_conn c;
		if (!cf_conn_open(t, &c, NULL, 0, 8192, 0))
			return;
		struct cf_posts ps;
		cf_posts_init(&ps, 0x600 + (uint64_t)round);
		struct cf_stream s1, s2;
		cf_stream_init(t, &s1);
		cf_stream_init(t, &s2);
		struct cf_post *p = cf_post_new(t, &ps, 0x70, 3 * 8192 + 32768, 4, false);
		bool ok = p && cf_post_submit(t, &c, p);
		if (ok) {
			/* "login": no digests, 8 KiB PDUs */
			cf_stream_data_in(&s1, p, 0, 0, 0, 8192, 0, 0, CF_CORRUPT_NONE, 0);
			cf_stream_nop(t, &s1, 100, 0, CF_CORRUPT_NONE);
			ok = send_recv(t, &c, &s1, SEND_WHOLE, 0, NULL);
		}
		if (ok) {
			struct toeless_ctx_params np = { .flags = after[round], .max_recv_dsl = 32768 };
			int rc = toeless_ctx_set_params(c.ctx, &np);
			if (rc) {
				cf_fail(t, "toeless_ctx_set_params(digests 0x%x) between PDUs: %s", after[round],
					toeless_strerror(rc));
				ok = false;
			}
			c.digests = after[round];
		}
		if (ok) {
			cf_stream_data_in(&s2, p, 0, 1, 8192, 8192, 0, after[round], CF_CORRUPT_NONE, 0);
			cf_stream_data_in(&s2, p, 0, 2, 16384, 32768, 0, after[round], CF_CORRUPT_NONE, 0);
			cf_stream_nop(t, &s2, 333, after[round], CF_CORRUPT_NONE);
			cf_stream_data_in(&s2, p, 0, 3, 49152, 8192,
					  TOELESS_ISCSI_FLAG_FINAL | TOELESS_ISCSI_DATAIN_STATUS, after[round],
					  CF_CORRUPT_NONE, 0);
			ok = send_recv(t, &c, &s2, round == 1 ? SEND_RANDOM : SEND_WHOLE, cf_rand(&t->rng), NULL) &&
			     cf_wait_posts(t, &c, &ps, NULL) &&
			     check_done(t, p, 0, p->total, true,
					(after[round] & TOELESS_CTX_DATA_DIGEST) ? TOELESS_DIGEST_OK : -1) &&
			     cf_post_verify(t, p, p->total);
		}
		if (!ok)
			cf_diag(t, "digests switched from none to 0x%x", after[round]);
		cf_stream_free(&s1);
		cf_stream_free(&s2);
		cf_posts_free(&ps);
		if (!ok || !cf_conn_destroy(t, &c))
			return;
	}
}
