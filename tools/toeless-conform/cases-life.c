/*
 * toeless-conform: cancel, destroy, completion rules, limits, queues,
 * memory registration, threads.
 *
 * SPDX-License-Identifier: MIT
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "conform.h"

/* Send s and receive it: whole (engine) when small, else through a writer. */
static bool send_stream(struct cf_t *t, struct cf_conn *c, struct cf_stream *s, bool segmented, uint64_t seed)
{
	return cf_stream_send(t, c, s, segmented ? CF_SPLIT_RANDOM : CF_SPLIT_WHOLE, 1 + seed % 8192, seed, NULL);
}

static bool expect_status(struct cf_t *t, struct cf_post *p, int status)
{
	if (p->c.status != status) {
		cf_fail(t, "ITT 0x%x completed with %d (%s), expected %d (%s)", p->itt, p->c.status,
			toeless_strerror(p->c.status), status, toeless_strerror(status));
		return false;
	}
	return true;
}

/* No engine anomaly so far on this context (late or duplicate releases). */
static bool no_anomalies(struct cf_t *t, struct cf_conn *c, const char *when)
{
	struct toeless_stats st;
	if (!cf_ctx_stats(t, c, &st))
		return false;
	if (st.engine_anomalies) {
		cf_fail(t,
			"%s: the engine made %" PRIu64 " report(s) the library did not ask for (counted in "
			"engine_anomalies): a completion for a post already cancelled and released?",
			when, st.engine_anomalies);
		return false;
	}
	return true;
}

/* ---- cancel ---- */

void case_cancel_outstanding(struct cf_t *t)
{
	for (int round = 0; round < 2; round++) {
		bool seg = round == 1;
		struct cf_conn c;
		if (!cf_conn_open(t, &c, NULL, TOELESS_CTX_DATA_DIGEST, 65536, 0))
			return;
		enum { N = 16 };
		struct cf_posts ps, ps2;
		cf_posts_init(&ps, 0x700 + (uint64_t)round);
		cf_posts_init(&ps2, 0x780 + (uint64_t)round);
		struct cf_stream s1, s2, s3;
		cf_stream_init(t, &s1);
		cf_stream_init(t, &s2);
		cf_stream_init(t, &s3);
		uint8_t *snap = malloc(N * 8192), *now = malloc(8192);
		bool ok = snap && now;
		for (int i = 0; i < N && ok; i++) {
			struct cf_post *p = cf_post_new(t, &ps, 0x700 + (uint32_t)i, 8192, 2, i % 2);
			ok = p && cf_post_submit(t, &c, p);
		}
		/* half of them got half their data */
		for (int i = 0; i < N / 2 && ok; i++)
			cf_stream_data_in(&s1, &ps.p[i], 0, 0, 0, 4096, 0, c.digests, CF_CORRUPT_NONE, 0);
		ok = ok && send_stream(t, &c, &s1, seg, cf_rand(&t->rng));
		uint32_t order[N];
		for (int i = 0; i < N; i++)
			order[i] = (uint32_t)i;
		cf_shuffle(order, N, &t->rng);
		for (int k = 0; k < N && ok; k++) {
			struct cf_post *p = &ps.p[order[k]];
			int rc = toeless_sgl_cancel(c.ctx, p->itt);
			if (rc) {
				cf_fail(t, "toeless_sgl_cancel(ITT 0x%x) of an outstanding post: %s", p->itt,
					toeless_strerror(rc));
				ok = false;
				break;
			}
			rc = toeless_sgl_cancel(c.ctx, p->itt);
			if (rc != -ENOENT) {
				cf_fail(t, "a second toeless_sgl_cancel(ITT 0x%x) returned %d, expected -ENOENT",
					p->itt, rc);
				ok = false;
			}
		}
		ok = ok && cf_wait_posts(t, &c, &ps, NULL);
		for (int i = 0; i < N && ok; i++)
			ok = expect_status(t, &ps.p[i], -ECANCELED);
		/* nothing more for them, ever; the engine holds nothing */
		ok = ok && cf_expect_quiet(t, &c, &ps, 30) && no_anomalies(t, &c, "after cancelling 16 posts");
		for (int i = 0; i < N && ok; i++)
			cf_post_snapshot(&ps.p[i], snap + (size_t)i * 8192);
		/* the rest of the data comes anyway: no post any more, so it is
		 * delivered in pdu->data and the buffers stay as they were */
		for (int i = 0; i < N && ok; i++) {
			if (i < N / 2)
				cf_stream_data_in(&s2, NULL, 0x700 + (uint32_t)i, 1, 4096, 4096,
						  TOELESS_ISCSI_FLAG_FINAL | TOELESS_ISCSI_DATAIN_STATUS, c.digests,
						  CF_CORRUPT_NONE, 0);
			else
				cf_stream_data_in(&s2, NULL, 0x700 + (uint32_t)i, 0, 0, 8192,
						  TOELESS_ISCSI_FLAG_FINAL | TOELESS_ISCSI_DATAIN_STATUS, c.digests,
						  CF_CORRUPT_NONE, 0);
		}
		ok = ok && send_stream(t, &c, &s2, seg, cf_rand(&t->rng)) && cf_expect_quiet(t, &c, &ps, 30);
		for (int i = 0; i < N && ok; i++) {
			cf_post_snapshot(&ps.p[i], now);
			if (memcmp(now, snap + (size_t)i * 8192, 8192)) {
				size_t k = 0;
				while (now[k] == snap[(size_t)i * 8192 + k])
					k++;
				cf_fail(t,
					"ITT 0x%x: its buffers changed (byte %zu) after its cancel had completed: the "
					"engine wrote into an SGL it had released",
					ps.p[i].itt, k);
				ok = false;
			}
		}
		/* every ITT is free again */
		for (int i = 0; i < N && ok; i++) {
			struct cf_post *p = cf_post_new(t, &ps2, 0x700 + (uint32_t)i, 8192, 2, i % 2);
			ok = p && cf_post_submit(t, &c, p);
			if (ok)
				cf_stream_data_in(&s3, p, 0, 0, 0, 8192,
						  TOELESS_ISCSI_FLAG_FINAL | TOELESS_ISCSI_DATAIN_STATUS, c.digests,
						  CF_CORRUPT_NONE, 0);
		}
		ok = ok && send_stream(t, &c, &s3, seg, cf_rand(&t->rng)) && cf_wait_posts(t, &c, &ps2, NULL);
		for (int i = 0; i < N && ok; i++)
			ok = expect_status(t, &ps2.p[i], 0) && cf_post_verify(t, &ps2.p[i], 8192);
		ok = ok && no_anomalies(t, &c, "after reposting cancelled ITTs");
		if (!ok)
			cf_diag(t, "round %d (%s)", round, seg ? "segmented" : "data arrived whole");
		free(snap);
		free(now);
		cf_stream_free(&s1);
		cf_stream_free(&s2);
		cf_stream_free(&s3);
		cf_posts_free(&ps);
		cf_posts_free(&ps2);
		if (!ok || !cf_conn_destroy(t, &c))
			return;
	}
}

void case_cancel_mid_pdu(struct cf_t *t)
{
	struct cf_conn c;
	if (!cf_conn_open(t, &c, NULL, CF_DIGESTS, 65536, 0))
		return;
	struct cf_posts ps;
	cf_posts_init(&ps, 0x7c0);
	struct cf_stream s, s2;
	cf_stream_init(t, &s);
	cf_stream_init(t, &s2);
	struct cf_post *p = cf_post_new(t, &ps, 0x7c0, 65536, 4, true);
	uint8_t *snap = malloc(65536), *now = malloc(65536);
	bool ok = p && snap && now && cf_post_submit(t, &c, p);
	if (ok) {
		struct cf_exp *e =
			cf_stream_data_in(&s, p, 0, 0, 0, 65536, TOELESS_ISCSI_FLAG_FINAL | TOELESS_ISCSI_DATAIN_STATUS,
					  c.digests, CF_CORRUPT_NONE, 0);
		/* cancelled mid-PDU: the rest goes to scratch, nothing is placed */
		e->placed = false;
		e->task_done = -1;
		e->data_digest = -1;
		s.data_in = 0;
		cf_stream_nop(t, &s, 200, c.digests, CF_CORRUPT_NONE);
		size_t part = 48 + 4 + 1000;
		ok = cf_write(t, c.peer, s.wire.p, part);
		/* take the header and some payload */
		struct toeless_stats st;
		for (int i = 0; ok && i < 2000; i++) {
			struct toeless_pdu pdu;
			int rc = toeless_pdu_recv(c.ctx, &pdu);
			if (rc != -EAGAIN) {
				cf_fail(t, "toeless_pdu_recv with half a PDU in the socket returned %d (%s)", rc,
					toeless_strerror(rc));
				ok = false;
				break;
			}
			if (!cf_ctx_stats(t, &c, &st))
				ok = false;
			else if (st.bytes_rx >= part)
				break;
			cf_sleep_ms(1);
		}
		ok = ok && toeless_sgl_cancel(c.ctx, p->itt) == 0 && cf_wait_posts(t, &c, &ps, NULL) &&
		     expect_status(t, p, -ECANCELED);
		if (ok)
			cf_post_snapshot(p, snap);
		ok = ok && cf_write(t, c.peer, s.wire.p + part, s.wire.len - part) &&
		     cf_stream_recv(t, &c, &s, 0, -1, NULL) && cf_expect_quiet(t, &c, &ps, 30);
		if (ok) {
			cf_post_snapshot(p, now);
			if (memcmp(snap, now, 65536)) {
				cf_fail(t, "the buffers of a post cancelled mid-PDU changed after its completion");
				ok = false;
			}
		}
		/* the ITT works again */
		struct cf_post *q = ok ? cf_post_new(t, &ps, 0x7c0, 30000, 3, false) : NULL;
		ok = ok && q && cf_post_submit(t, &c, q);
		if (ok) {
			cf_stream_data_in(&s2, q, 0, 0, 0, 30000,
					  TOELESS_ISCSI_FLAG_FINAL | TOELESS_ISCSI_DATAIN_STATUS, c.digests,
					  CF_CORRUPT_NONE, 0);
			ok = send_stream(t, &c, &s2, false, 0) && cf_wait_posts(t, &c, &ps, NULL) &&
			     expect_status(t, q, 0) && cf_post_verify(t, q, 30000) &&
			     no_anomalies(t, &c, "after a cancel mid-PDU");
		}
	}
	free(snap);
	free(now);
	cf_stream_free(&s);
	cf_stream_free(&s2);
	cf_posts_free(&ps);
}

/* ---- destroy ---- */

void case_destroy_outstanding(struct cf_t *t)
{
	toeless_cq *cq = cf_cq(t, 4);
	struct cf_conn a, b;
	if (!cq || !cf_conn_open(t, &a, cq, CF_DIGESTS, 65536, 0) || !cf_conn_open(t, &b, cq, CF_DIGESTS, 65536, 0))
		return;
	enum { N = 12 };
	struct cf_posts ps;
	cf_posts_init(&ps, 0x800);
	struct cf_stream s, half, late, sb;
	cf_stream_init(t, &s);
	cf_stream_init(t, &half);
	cf_stream_init(t, &late);
	cf_stream_init(t, &sb);
	uint8_t *snap = malloc((N + 1) * 16384), *now = malloc(16384);
	bool ok = snap && now;
	for (int i = 0; i < N + 1 && ok; i++) {
		struct cf_post *p = cf_post_new(t, &ps, 0x800 + (uint32_t)i, i == N ? 16384 : 8192, 2, i % 3 == 0);
		ok = p && cf_post_submit(t, &a, p);
	}
	struct cf_post *pb = ok ? cf_post_new(t, &ps, 0x800, 5000, 1, false) : NULL; /* b: same ITT, other context */
	ok = ok && pb && cf_post_submit(t, &b, pb);
	for (int i = 0; i < N / 2 && ok; i++)
		cf_stream_data_in(&s, &ps.p[i], 0, 0, 0, 4096, 0, CF_DIGESTS, CF_CORRUPT_NONE, 0);
	ok = ok && send_stream(t, &a, &s, false, 0);
	/* and a PDU half received into the last post */
	if (ok) {
		cf_stream_data_in(&half, &ps.p[N], 0, 0, 0, 16384,
				  TOELESS_ISCSI_FLAG_FINAL | TOELESS_ISCSI_DATAIN_STATUS, CF_DIGESTS, CF_CORRUPT_NONE,
				  0);
		ok = cf_write(t, a.peer, half.wire.p, 52 + 5000);
		for (int i = 0; ok && i < 200 && cf_inq(a.fd) > 0; i++) {
			struct toeless_pdu pdu;
			int rc = toeless_pdu_recv(a.ctx, &pdu);
			if (rc != -EAGAIN) {
				cf_fail(t, "half a PDU: toeless_pdu_recv returned %d (%s)", rc, toeless_strerror(rc));
				ok = false;
			}
			cf_sleep_ms(1);
		}
	}
	/* b's post must not complete while a goes away */
	pb->posted = false;
	ok = ok && cf_conn_destroy(t, &a);
	/* a's context is gone: waiting only polls the shared queue */
	ok = ok && cf_wait_posts(t, &a, &ps, NULL);
	for (int i = 0; i < N + 1 && ok; i++)
		ok = expect_status(t, &ps.p[i], -ECANCELED);
	for (int i = 0; i < N + 1 && ok; i++)
		cf_post_snapshot(&ps.p[i], snap + (size_t)i * 16384);
	/* data for them keeps coming on a's socket (nobody reads it) */
	if (ok) {
		for (int i = 0; i < N; i++)
			cf_stream_data_in(&late, &ps.p[i], 0, 1, 0, 8192,
					  TOELESS_ISCSI_FLAG_FINAL | TOELESS_ISCSI_DATAIN_STATUS, CF_DIGESTS,
					  CF_CORRUPT_NONE, 0);
		ok = cf_write(t, a.peer, half.wire.p + 52 + 5000, half.wire.len - 52 - 5000) &&
		     cf_write(t, a.peer, late.wire.p, late.wire.len);
		cf_sleep_ms(50);
	}
	for (int i = 0; i < N + 1 && ok; i++) {
		cf_post_snapshot(&ps.p[i], now);
		if (memcmp(now, snap + (size_t)i * 16384, ps.p[i].total)) {
			cf_fail(t, "ITT 0x%x: buffers changed after toeless_ctx_destroy returned", ps.p[i].itt);
			ok = false;
		}
	}
	/* the other context never noticed */
	pb->posted = true;
	if (ok) {
		cf_stream_data_in(&sb, pb, 0, 0, 0, 5000, TOELESS_ISCSI_FLAG_FINAL | TOELESS_ISCSI_DATAIN_STATUS,
				  CF_DIGESTS, CF_CORRUPT_NONE, 0);
		ok = send_stream(t, &b, &sb, false, 0) && cf_wait_posts(t, &b, &ps, NULL) && expect_status(t, pb, 0) &&
		     cf_post_verify(t, pb, 5000) && cf_expect_quiet(t, &b, &ps, 30);
	}
	free(snap);
	free(now);
	cf_stream_free(&s);
	cf_stream_free(&half);
	cf_stream_free(&late);
	cf_stream_free(&sb);
	cf_posts_free(&ps);
}

/* ---- completion rules ---- */

/* A Data-In with status and residual; the expectation as cf_stream_data_in. */
static void data_in_status(struct cf_stream *s, struct cf_post *p, uint32_t off, uint32_t len, uint8_t flags,
			   uint8_t status, uint32_t residual, unsigned dg)
{
	uint8_t bhs[48];
	cf_bhs_data_in(bhs, p->itt, 0, off, flags, status, residual);
	cf_pdu_append(&s->wire, bhs, p->expect + off, len, dg, CF_CORRUPT_NONE);
	struct cf_exp *e = cf_stream_exp(s);
	e->opcode = TOELESS_ISCSI_OP_DATA_IN;
	e->itt = p->itt;
	e->data_len = len;
	e->placed = len > 0;
	e->user_data = p->user_data;
	e->task_done = (flags & TOELESS_ISCSI_DATAIN_STATUS) ? 1 : 0;
	e->data_digest = len && (dg & TOELESS_CTX_DATA_DIGEST) ? TOELESS_DIGEST_OK : TOELESS_DIGEST_NONE;
	if (e->placed)
		s->data_in++;
}

void case_completion_rules(struct cf_t *t)
{
	struct cf_conn c;
	if (!cf_conn_open(t, &c, NULL, CF_DIGESTS, 65536, 0))
		return;
	struct cf_posts ps;
	cf_posts_init(&ps, 0x900);
	struct cf_stream s;
	cf_stream_init(t, &s);
	struct cf_post *p[8];
	static const uint32_t size[8] = { 6100, 4096, 2048, 3000, 4096, 8192, 1024, 1000 };
	bool ok = true;
	for (int i = 0; i < 8 && ok; i++) {
		p[i] = cf_post_new(t, &ps, 0x900 + (uint32_t)i, size[i], 1 + i % 3, i % 2);
		ok = p[i] && cf_post_submit(t, &c, p[i]);
	}
	if (!ok)
		goto out;
	CF_RC(t, toeless_sgl_post(c.ctx, 0x900, p[0]->iov, p[0]->iovcnt, 1), -EEXIST);
	CF_RC(t, toeless_sgl_post(c.ctx, TOELESS_ISCSI_RESERVED_TAG, p[0]->iov, 1, 1), -EINVAL);
	CF_RC(t, toeless_sgl_post(c.ctx, 0x9ff, p[0]->iov, 0, 1), -EINVAL);
	CF_RC(t, toeless_sgl_post(c.ctx, 0x9ff, NULL, 1, 1), -EINVAL);
	CF_RC(t, toeless_sgl_cancel(c.ctx, 0x9ff), -ENOENT);
	/* A: status in the final Data-In, residual underflow (6100 - 100 bytes sent) */
	data_in_status(&s, p[0], 0, 6000,
		       TOELESS_ISCSI_FLAG_FINAL | TOELESS_ISCSI_DATAIN_STATUS | TOELESS_ISCSI_DATAIN_UNDERFLOW, 0, 100,
		       CF_DIGESTS);
	/* B: CHECK CONDITION with sense in a SCSI Response */
	cf_stream_data_in(&s, p[1], 0, 0, 0, 4096, TOELESS_ISCSI_FLAG_FINAL, CF_DIGESTS, CF_CORRUPT_NONE, 0);
	cf_stream_scsi_rsp(t, &s, p[1], 0, 0, 0x02, 0, 0, 18, CF_DIGESTS);
	/* C: iSCSI response "target failure" */
	cf_stream_scsi_rsp(t, &s, p[2], 0, 0x01, 0, 0, 0, 0, CF_DIGESTS);
	/* D: a bad data digest */
	cf_stream_data_in(&s, p[3], 0, 0, 0, 3000, TOELESS_ISCSI_FLAG_FINAL | TOELESS_ISCSI_DATAIN_STATUS, CF_DIGESTS,
			  CF_CORRUPT_DATA_DIGEST, -EBADMSG);
	/* E: past the end */
	cf_stream_data_in(&s, p[4], 0, 0, 1, 4096, TOELESS_ISCSI_FLAG_FINAL, CF_DIGESTS, CF_CORRUPT_NONE, -ERANGE);
	cf_stream_scsi_rsp(t, &s, p[4], 0, 0, 0, 0, 0, 0, CF_DIGESTS);
	/* F: the same bytes twice */
	cf_stream_data_in(&s, p[5], 0, 0, 0, 8192, 0, CF_DIGESTS, CF_CORRUPT_NONE, 0);
	cf_stream_data_in(&s, p[5], 0, 1, 4096, 4096, TOELESS_ISCSI_FLAG_FINAL | TOELESS_ISCSI_DATAIN_STATUS,
			  CF_DIGESTS, CF_CORRUPT_NONE, -EEXIST);
	/* H: overflow, no data at all: a good status that promised 1000 bytes (-ENODATA) */
	cf_stream_scsi_rsp(t, &s, p[7], 0, 0, 0, TOELESS_ISCSI_RSP_OVERFLOW, 7, 0, CF_DIGESTS);
	/* no post: no completion */
	cf_stream_data_in(&s, NULL, 0x9fe, 0, 0, 512, TOELESS_ISCSI_FLAG_FINAL | TOELESS_ISCSI_DATAIN_STATUS,
			  CF_DIGESTS, CF_CORRUPT_NONE, 0);
	cf_stream_scsi_rsp(t, &s, NULL, 0x9fd, 0, 0, 0, 0, 0, CF_DIGESTS);
	/* G: cancelled */
	CF_RC(t, toeless_sgl_cancel(c.ctx, p[6]->itt), 0);
	ok = send_stream(t, &c, &s, cf_rand(&t->rng) % 2, cf_rand(&t->rng));
	if (!ok)
		goto out;
	/* the queue's descriptor says so while completions wait */
	struct pollfd pf = { .fd = toeless_cq_fd(c.cq), .events = POLLIN };
	if (poll(&pf, 1, t->timeout_ms) != 1) {
		cf_fail(t, "completions wait, but the queue's descriptor is not readable");
		goto out;
	}
	ok = cf_wait_posts(t, &c, &ps, NULL);
	if (!ok)
		goto out;
	pf.revents = 0;
	cf_progress(&c);
	if (poll(&pf, 1, 0) != 0) {
		struct toeless_completion x;
		if (toeless_cq_poll(c.cq, &x, 1) == 0) {
			cf_fail(t, "the queue is empty, but its descriptor is still readable");
			goto out;
		}
	}
	/* the fields of each */
	struct toeless_completion *cq;
	cq = &p[0]->c;
	CF_CHECK(t,
		 cq->status == 0 && (cq->flags & TOELESS_CQE_F_SCSI_STATUS) && (cq->flags & TOELESS_CQE_F_UNDERFLOW) &&
			 !(cq->flags & TOELESS_CQE_F_OVERFLOW) && cq->residual == 100 && cq->scsi_status == 0 &&
			 cq->bytes_placed == 6000 && cq->data_digest == TOELESS_DIGEST_OK,
		 "status in the final Data-In with underflow: status %d flags 0x%x residual %u scsi %u placed %" PRIu64
		 " digest %u",
		 cq->status, cq->flags, cq->residual, cq->scsi_status, cq->bytes_placed, cq->data_digest);
	cq = &p[1]->c;
	CF_CHECK(t,
		 cq->status == 0 && (cq->flags & TOELESS_CQE_F_SCSI_STATUS) && cq->scsi_status == 0x02 &&
			 cq->response == 0 && cq->bytes_placed == 4096,
		 "CHECK CONDITION in a SCSI Response: status %d flags 0x%x scsi %u response %u placed %" PRIu64
		 " (the SCSI status goes in scsi_status, not in status)",
		 cq->status, cq->flags, cq->scsi_status, cq->response, cq->bytes_placed);
	cq = &p[2]->c;
	CF_CHECK(t, cq->status == -EIO && cq->response == 0x01,
		 "iSCSI response 0x01: status %d response %u, expected -EIO and 1", cq->status, cq->response);
	cq = &p[3]->c;
	CF_CHECK(t, cq->status == -EBADMSG && cq->data_digest == TOELESS_DIGEST_BAD,
		 "bad data digest: status %d data_digest %u, expected -EBADMSG and BAD", cq->status, cq->data_digest);
	CF_CHECK(t, p[4]->c.status == -ERANGE, "Data-In past the SGL: status %d, expected -ERANGE", p[4]->c.status);
	CF_CHECK(t, p[5]->c.status == -EEXIST, "Data-In over placed bytes: status %d, expected -EEXIST",
		 p[5]->c.status);
	CF_CHECK(t, p[6]->c.status == -ECANCELED, "cancelled: status %d, expected -ECANCELED", p[6]->c.status);
	cq = &p[7]->c;
	CF_CHECK(t,
		 cq->status == -ENODATA && (cq->flags & TOELESS_CQE_F_OVERFLOW) && cq->residual == 7 &&
			 cq->bytes_placed == 0 && cq->bytes_valid == 0,
		 "overflow with no data: status %d flags 0x%x residual %u placed %" PRIu64 " valid %" PRIu64
		 ", expected -ENODATA",
		 cq->status, cq->flags, cq->residual, cq->bytes_placed, cq->bytes_valid);
	for (int i = 0; i < 8; i++)
		CF_CHECK(t, p[i]->c.ctx == c.ctx && p[i]->c.user_data == p[i]->user_data,
			 "ITT 0x%x: completion carries the wrong context or user_data", p[i]->itt);
	ok = cf_post_verify(t, p[0], 6000) && cf_post_verify(t, p[1], 4096);
	if (!ok)
		goto out;
	struct toeless_stats st;
	if (!cf_ctx_stats(t, &c, &st))
		goto out;
	CF_CHECK(t, st.sgl_posted == 8 && st.sgl_completed == 2 && st.sgl_failed == 5 && st.sgl_cancelled == 1,
		 "counters: posted %" PRIu64 " completed %" PRIu64 " failed %" PRIu64 " cancelled %" PRIu64
		 ", expected 8, 2, 5, 1",
		 st.sgl_posted, st.sgl_completed, st.sgl_failed, st.sgl_cancelled);
	/* an ITT is reusable after its completion */
	struct cf_post *again = cf_post_new(t, &ps, 0x900, 100, 1, false);
	ok = again && cf_post_submit(t, &c, again);
	CF_RC(t, toeless_sgl_cancel(c.ctx, 0x900), 0);
	ok = ok && cf_wait_posts(t, &c, &ps, NULL) && expect_status(t, again, -ECANCELED) &&
	     cf_expect_quiet(t, &c, &ps, 50);
out:
	cf_stream_free(&s);
	cf_posts_free(&ps);
}

/* ---- limits ---- */

/* n SGEs of lo..hi bytes in one canary allocation, separated by gaps the
 * library must leave alone; *reg covers the whole area when the device
 * needs registration.  Returns the area (the gaps are 0x5A). */
static uint8_t *carve(struct cf_t *t, int n, uint32_t lo, uint32_t hi, struct iovec *iov, size_t *area_len)
{
	size_t align = t->caps.sge_align ? t->caps.sge_align : 1;
	size_t need = 0;
	uint32_t *len = malloc(sizeof(*len) * (size_t)n), *gap = malloc(sizeof(*gap) * (size_t)n);
	if (!len || !gap) {
		free(len);
		free(gap);
		cf_fail(t, "out of memory");
		return NULL;
	}
	for (int i = 0; i < n; i++) {
		len[i] = (uint32_t)(lo + cf_trand(t) % (hi - lo + 1));
		gap[i] = (uint32_t)(1 + cf_trand(t) % 32);
		need += (len[i] + gap[i] + align - 1) / align * align;
	}
	uint8_t *area = cf_alloc(t, need, align);
	if (!area) {
		free(len);
		free(gap);
		return NULL;
	}
	size_t off = 0;
	for (int i = 0; i < n; i++) {
		iov[i].iov_base = area + off;
		iov[i].iov_len = len[i];
		off += (len[i] + gap[i] + align - 1) / align * align;
	}
	*area_len = need;
	free(len);
	free(gap);
	return area;
}

/* The bytes of the area outside the SGEs are still 0x5A. */
static bool gaps_intact(struct cf_t *t, const uint8_t *area, size_t area_len, const struct iovec *iov, int n)
{
	size_t off = 0;
	for (int i = 0; i <= n; i++) {
		size_t end = i < n ? (size_t)((const uint8_t *)iov[i].iov_base - area) : area_len;
		for (size_t k = off; k < end; k++)
			if (area[k] != 0x5A) {
				cf_fail(t, "a byte between SGE %d and SGE %d (not in any SGE) was written", i, i + 1);
				return false;
			}
		if (i < n)
			off = end + iov[i].iov_len;
	}
	return true;
}

void case_limits_sge(struct cf_t *t)
{
	int n = (int)t->caps.max_sge;
	struct iovec *iov = calloc((size_t)n + 1, sizeof(*iov));
	if (!iov) {
		cf_fail(t, "out of memory");
		return;
	}
	for (int round = 0; round < 2; round++) {
		bool seg = round == 1;
		struct cf_conn c;
		if (!cf_conn_open(t, &c, NULL, CF_DIGESTS, 65536, 0))
			break;
		size_t area_len;
		uint8_t *area = carve(t, n + 1, 1, n > 256 ? 16 : 64, iov, &area_len);
		toeless_mr *mr;
		bool ok = area && cf_mr(t, area, area_len, &mr);
		struct cf_posts ps;
		cf_posts_init(&ps, 0xa00 + (uint64_t)round);
		struct cf_stream s;
		cf_stream_init(t, &s);
		if (ok) {
			int rc = toeless_sgl_post(c.ctx, 0xa00, iov, n + 1, 1);
			if (rc != -E2BIG) {
				cf_fail(t, "a post of caps.max_sge + 1 = %d SGEs returned %d (%s), expected -E2BIG",
					n + 1, rc, toeless_strerror(rc));
				ok = false;
			}
		}
		struct cf_post *p = ok ? cf_post_new_iov(t, &ps, 0xa00, iov, n) : NULL;
		ok = ok && p && cf_post_submit(t, &c, p);
		uint32_t k = 0;
		for (uint64_t off = 0; ok && off < p->total; k++) {
			uint32_t len = (uint32_t)(64 + cf_rand(&t->rng) % 4033);
			if (len > p->total - off)
				len = (uint32_t)(p->total - off);
			cf_stream_data_in(&s, p, 0, k, off, len,
					  off + len == p->total ? TOELESS_ISCSI_FLAG_FINAL | TOELESS_ISCSI_DATAIN_STATUS
								: 0,
					  CF_DIGESTS, CF_CORRUPT_NONE, 0);
			off += len;
		}
		ok = ok && send_stream(t, &c, &s, seg, cf_rand(&t->rng)) && cf_wait_posts(t, &c, &ps, NULL) &&
		     expect_status(t, p, 0) && cf_post_verify(t, p, p->total) &&
		     gaps_intact(t, area, area_len, iov, n + 1);
		if (ok)
			cf_diag(t, "%d SGEs, %" PRIu64 " bytes in %u PDUs, %s: %" PRIu64 " bytes placed by the engine",
				n, p->total, k, seg ? "segmented" : "arrived whole", p->c.bytes_engine);
		else
			cf_diag(t, "a post of caps.max_sge = %d SGEs, data %s", n, seg ? "segmented" : "arrived whole");
		cf_stream_free(&s);
		cf_posts_free(&ps);
		if (!ok || !cf_conn_destroy(t, &c))
			break;
	}
	free(iov);
}

void case_limits_tasks(struct cf_t *t)
{
	uint32_t cap = cf_iter(t, 4096);
	uint32_t m = t->caps.max_tasks < cap ? t->caps.max_tasks : cap;
	if (m < t->caps.max_tasks)
		cf_diag(t, "caps.max_tasks is %u: %u posts tested", t->caps.max_tasks, m);
	if (t->caps.max_tasks < UINT32_MAX) {
		int fd, peer;
		toeless_cq *cq = cf_cq(t, 0);
		if (!cq || !cf_socketpair(t, &fd, &peer))
			return;
		struct toeless_ctx_attr a = {
			.size = sizeof(a), .fd = fd, .cq = cq, .max_tasks = t->caps.max_tasks + 1
		};
		toeless_ctx *ctx = NULL;
		int rc = toeless_ctx_create(t->dev, &a, &ctx);
		if (rc == 0)
			toeless_ctx_destroy(ctx);
		CF_CHECK(t, rc == -EINVAL,
			 "a context with max_tasks = caps.max_tasks + 1 was %s (%d), expected -EINVAL",
			 rc ? "refused" : "created", rc);
	}
	struct cf_conn c;
	if (!cf_conn_open(t, &c, NULL, TOELESS_CTX_DATA_DIGEST, 65536, m))
		return;
	struct iovec *iov = calloc(m, sizeof(*iov));
	uint32_t *order = calloc(m, sizeof(*order));
	struct cf_posts ps, ps2;
	cf_posts_init(&ps, 0xb00);
	cf_posts_init(&ps2, 0xb01);
	struct cf_stream s;
	cf_stream_init(t, &s);
	size_t area_len;
	toeless_mr *mr;
	uint8_t *area = iov && order ? carve(t, (int)m, 16, 128, iov, &area_len) : NULL;
	bool ok = area && cf_mr(t, area, area_len, &mr);
	for (uint32_t i = 0; i < m && ok; i++) {
		struct cf_post *p = cf_post_new_iov(t, &ps, 0xb000 + i, &iov[i], 1);
		ok = p && cf_post_submit(t, &c, p);
		if (!ok)
			cf_diag(t, "post %u of caps.max_tasks %u refused", i + 1, m);
	}
	if (ok) {
		int rc = toeless_sgl_post(c.ctx, 0xbfff0, &iov[0], 1, 1);
		if (rc != -ENOSPC) {
			cf_fail(t, "post %u with max_tasks %u outstanding returned %d (%s), expected -ENOSPC", m + 1, m,
				rc, toeless_strerror(rc));
			ok = false;
		}
	}
	for (uint32_t i = 0; i < m; i++)
		order[i] = i;
	cf_shuffle(order, m, &t->rng);
	for (uint32_t i = 0; i < m && ok; i++) {
		struct cf_post *p = &ps.p[order[i]];
		cf_stream_data_in(&s, p, 0, 0, 0, (uint32_t)p->total,
				  TOELESS_ISCSI_FLAG_FINAL | TOELESS_ISCSI_DATAIN_STATUS, c.digests, CF_CORRUPT_NONE,
				  0);
	}
	ok = ok && send_stream(t, &c, &s, cf_rand(&t->rng) % 2, cf_rand(&t->rng)) && cf_wait_posts(t, &c, &ps, NULL);
	for (uint32_t i = 0; i < m && ok; i++)
		ok = expect_status(t, &ps.p[i], 0) && cf_post_verify(t, &ps.p[i], ps.p[i].total);
	ok = ok && gaps_intact(t, area, area_len, iov, (int)m);
	struct toeless_stats st;
	if (ok && cf_ctx_stats(t, &c, &st))
		cf_diag(t,
			"%u posts at once: %" PRIu64 " bytes placed by the engine, %" PRIu64
			" posts it refused for resources (placed by software)",
			m, st.bytes_placed_engine, st.engine_post_full);
	/* all of them again, then destroy with every one outstanding */
	for (uint32_t i = 0; i < m && ok; i++) {
		struct cf_post *p = cf_post_new_iov(t, &ps2, 0xb000 + i, &iov[i], 1);
		ok = p && cf_post_submit(t, &c, p);
	}
	ok = ok && cf_conn_destroy(t, &c) && cf_wait_posts(t, &c, &ps2, NULL);
	for (uint32_t i = 0; i < m && ok; i++)
		ok = expect_status(t, &ps2.p[i], -ECANCELED);
	free(iov);
	free(order);
	cf_stream_free(&s);
	cf_posts_free(&ps);
	cf_posts_free(&ps2);
}

void case_limits_contexts(struct cf_t *t)
{
	struct rlimit rl;
	uint32_t fdcap = 256;
	if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur / 4 < fdcap)
		fdcap = (uint32_t)(rl.rlim_cur / 4);
	uint32_t k = t->caps.max_contexts < fdcap ? t->caps.max_contexts : fdcap;
	bool exact = k == t->caps.max_contexts;
	if (!exact)
		cf_diag(t, "caps.max_contexts is %u: %u contexts tested, the limit itself is not reached",
			t->caps.max_contexts, k);
	toeless_cq *cq = cf_cq(t, 0);
	struct cf_conn *c = calloc(k + 1, sizeof(*c));
	struct cf_posts ps;
	cf_posts_init(&ps, 0xc00);
	bool ok = cq && c;
	for (uint32_t i = 0; i < k && ok; i++) {
		ok = cf_conn_open(t, &c[i], cq, i % 2 ? CF_DIGESTS : 0, 8192, 4);
		if (!ok)
			cf_diag(t, "context %u of caps.max_contexts %u", i + 1, t->caps.max_contexts);
	}
	if (ok && exact) {
		int fd, peer;
		ok = cf_socketpair(t, &fd, &peer);
		struct toeless_ctx_attr a = { .size = sizeof(a), .fd = fd, .cq = cq };
		toeless_ctx *ctx = NULL;
		int rc = ok ? toeless_ctx_create(t->dev, &a, &ctx) : 0;
		if (ok && rc != -ENOSPC) {
			if (!rc)
				toeless_ctx_destroy(ctx);
			cf_fail(t, "context %u with caps.max_contexts %u open: %d (%s), expected -ENOSPC", k + 1, k, rc,
				toeless_strerror(rc));
			ok = false;
		}
	}
	/* every one of them works */
	for (uint32_t i = 0; i < k && ok; i++) {
		struct cf_post *p = cf_post_new(t, &ps, 0xc00 + i, 1000 + i, 1 + (int)(i % 2), false);
		ok = p && cf_post_submit(t, &c[i], p);
		struct cf_stream s;
		cf_stream_init(t, &s);
		if (ok) {
			cf_stream_data_in(&s, p, 0, 0, 0, (uint32_t)p->total,
					  TOELESS_ISCSI_FLAG_FINAL | TOELESS_ISCSI_DATAIN_STATUS, c[i].digests,
					  CF_CORRUPT_NONE, 0);
			ok = send_stream(t, &c[i], &s, false, 0);
		}
		cf_stream_free(&s);
	}
	/* the shared queue: wait on any of them */
	ok = ok && cf_wait_posts(t, &c[0], &ps, NULL);
	for (int i = 0; i < ps.n && ok; i++)
		ok = expect_status(t, &ps.p[i], 0) && cf_post_verify(t, &ps.p[i], ps.p[i].total);
	/* a slot freed is a slot to use */
	if (ok && exact) {
		ok = cf_conn_destroy(t, &c[0]) && cf_conn_open(t, &c[k], cq, 0, 8192, 0);
		if (!ok)
			cf_diag(t, "a new context after one of %u was destroyed", k);
	}
	free(c);
	cf_posts_free(&ps);
}

void case_limits_recv_dsl(struct cf_t *t)
{
	uint32_t cap = 1u << 20;
	uint32_t l = t->caps.max_recv_dsl < cap ? t->caps.max_recv_dsl : cap;
	if (l < t->caps.max_recv_dsl)
		cf_diag(t, "caps.max_recv_dsl is %u: PDUs of %u bytes tested", t->caps.max_recv_dsl, l);
	if (t->caps.max_recv_dsl < 16777215) {
		int fd, peer;
		toeless_cq *cq = cf_cq(t, 0);
		if (!cq || !cf_socketpair(t, &fd, &peer))
			return;
		struct toeless_ctx_attr a = { .size = sizeof(a), .fd = fd, .cq = cq };
		a.params.max_recv_dsl = t->caps.max_recv_dsl + 1;
		toeless_ctx *ctx = NULL;
		int rc = toeless_ctx_create(t->dev, &a, &ctx);
		if (!rc)
			toeless_ctx_destroy(ctx);
		CF_CHECK(t, rc == -EINVAL, "MaxRecvDataSegmentLength caps.max_recv_dsl + 1: %d (%s), expected -EINVAL",
			 rc, toeless_strerror(rc));
	}
	struct cf_conn c;
	if (!cf_conn_open(t, &c, NULL, CF_DIGESTS, l, 0))
		return;
	struct cf_posts ps;
	cf_posts_init(&ps, 0xd00);
	struct cf_stream s, s2;
	cf_stream_init(t, &s);
	cf_stream_init(t, &s2);
	struct cf_post *p = cf_post_new(t, &ps, 0xd00, 2 * (uint64_t)l, 3, true);
	bool ok = p && cf_post_submit(t, &c, p);
	if (ok) {
		cf_stream_data_in(&s, p, 0, 0, 0, l, 0, CF_DIGESTS, CF_CORRUPT_NONE, 0);
		cf_stream_data_in(&s, p, 0, 1, l, l, TOELESS_ISCSI_FLAG_FINAL | TOELESS_ISCSI_DATAIN_STATUS, CF_DIGESTS,
				  CF_CORRUPT_NONE, 0);
		ok = send_stream(t, &c, &s, cf_rand(&t->rng) % 2, cf_rand(&t->rng)) &&
		     cf_wait_posts(t, &c, &ps, NULL) && expect_status(t, p, 0) && cf_post_verify(t, p, p->total);
	}
	/* one byte more than negotiated: the header is delivered, the context fails */
	struct cf_post *q = ok ? cf_post_new(t, &ps, 0xd01, (uint64_t)l + 1, 1, false) : NULL;
	ok = ok && q && cf_post_submit(t, &c, q);
	if (ok) {
		struct cf_exp *e = cf_stream_data_in(&s2, q, 0, 0, 0, l + 1, 0, CF_DIGESTS, CF_CORRUPT_NONE, -EMSGSIZE);
		e->placed = false;
		e->task_done = -1;
		e->data_digest = -1;
		/* the whole PDU goes out (a device in the path may hold a header
		 * until its PDU is complete); the library stops at the header */
		struct cf_writer *w = cf_writer_start(t, c.peer, s2.wire.p, s2.wire.len, CF_SPLIT_WHOLE, 0, 0);
		ok = w && cf_stream_recv(t, &c, &s2, 0, 1, NULL);
		struct toeless_completion x;
		int n = 0;
		/* a wait, not a count of tries: a loaded machine is slow */
		for (int i = 0; ok && i < t->timeout_ms && n == 0; i++) {
			n = toeless_cq_poll(c.cq, &x, 1);
			if (!n)
				cf_sleep_ms(1);
		}
		if (ok && (n != 1 || x.type != TOELESS_CQE_ERROR || x.status != -EMSGSIZE)) {
			cf_fail(t,
				"a PDU longer than MaxRecvDataSegmentLength: expected one TOELESS_CQE_ERROR with "
				"-EMSGSIZE, got %d completion(s) (type %u, status %d)",
				n, n ? x.type : 0, n ? x.status : 0);
			ok = false;
		}
		ok = ok && cf_conn_destroy(t, &c) && cf_wait_posts(t, &c, &ps, NULL) && expect_status(t, q, -ECANCELED);
		if (w) {
			/* nobody reads the rest: stop the writer before its buffer goes */
			shutdown(c.peer, SHUT_RDWR);
			cf_writer_join(w);
		}
	}
	cf_stream_free(&s);
	cf_stream_free(&s2);
	cf_posts_free(&ps);
}

/* ---- queues ---- */

void case_queue_full(struct cf_t *t)
{
	uint32_t m = t->caps.max_tasks < 8 ? t->caps.max_tasks : 8;
	struct cf_conn c;
	if (!cf_conn_open(t, &c, NULL, TOELESS_CTX_DATA_DIGEST, 65536, m))
		return;
	struct cf_posts ps;
	cf_posts_init(&ps, 0xe00);
	struct cf_stream s, s2;
	cf_stream_init(t, &s);
	cf_stream_init(t, &s2);
	bool ok = true;
	for (uint32_t i = 0; i < m && ok; i++) {
		struct cf_post *p = cf_post_new(t, &ps, 0xe00 + i, 1024, 1, false);
		ok = p && cf_post_submit(t, &c, p);
	}
	struct cf_post *extra = ok ? cf_post_new(t, &ps, 0xeff, 1024, 1, false) : NULL;
	if (ok && extra) {
		int rc = toeless_sgl_post(c.ctx, extra->itt, extra->iov, extra->iovcnt, extra->user_data);
		if (rc != -ENOSPC) {
			cf_fail(t, "post %u with a table of %u full returned %d (%s), expected -ENOSPC", m + 1, m, rc,
				toeless_strerror(rc));
			ok = false;
		}
	}
	/* one finishes: there is room again */
	if (ok) {
		cf_stream_data_in(&s, &ps.p[0], 0, 0, 0, 1024, TOELESS_ISCSI_FLAG_FINAL | TOELESS_ISCSI_DATAIN_STATUS,
				  c.digests, CF_CORRUPT_NONE, 0);
		ok = send_stream(t, &c, &s, false, 0) && cf_wait_one(t, &c, &ps, &ps.p[0]) &&
		     expect_status(t, &ps.p[0], 0) && cf_post_submit(t, &c, extra);
	}
	for (uint32_t i = 1; i < m && ok; i++)
		ok = toeless_sgl_cancel(c.ctx, ps.p[i].itt) == 0;
	if (ok) {
		cf_stream_data_in(&s2, extra, 0, 0, 0, 1024, TOELESS_ISCSI_FLAG_FINAL | TOELESS_ISCSI_DATAIN_STATUS,
				  c.digests, CF_CORRUPT_NONE, 0);
		ok = send_stream(t, &c, &s2, false, 0) && cf_wait_posts(t, &c, &ps, NULL) &&
		     expect_status(t, extra, 0) && cf_post_verify(t, extra, 1024);
	}
	cf_stream_free(&s);
	cf_stream_free(&s2);
	cf_posts_free(&ps);
	if (!ok)
		return;

	/* a queue of depth 1 fed by two contexts: it grows, nothing is lost */
	toeless_cq *cq = cf_cq(t, 1);
	struct cf_conn a, b;
	if (!cq || !cf_conn_open(t, &a, cq, 0, 8192, 0) || !cf_conn_open(t, &b, cq, CF_DIGESTS, 8192, 0))
		return;
	cf_posts_init(&ps, 0xe10);
	struct cf_stream sa, sb;
	cf_stream_init(t, &sa);
	cf_stream_init(t, &sb);
	uint32_t per = m * 4 < 32 ? m * 4 : 32;
	for (uint32_t i = 0; i < per && ok; i++) {
		struct cf_post *pa = cf_post_new(t, &ps, 0xe100 + i, 700, 1, false);
		struct cf_post *pb = pa ? cf_post_new(t, &ps, 0xe100 + i, 900, 2, false) : NULL;
		ok = pb && cf_post_submit(t, &a, pa) && cf_post_submit(t, &b, pb);
		if (ok) {
			cf_stream_data_in(&sa, pa, 0, 0, 0, 700, TOELESS_ISCSI_FLAG_FINAL | TOELESS_ISCSI_DATAIN_STATUS,
					  0, CF_CORRUPT_NONE, 0);
			cf_stream_data_in(&sb, pb, 0, 0, 0, 900, TOELESS_ISCSI_FLAG_FINAL | TOELESS_ISCSI_DATAIN_STATUS,
					  CF_DIGESTS, CF_CORRUPT_NONE, 0);
		}
		if (!ok)
			cf_diag(t, "posts of %u per context on a queue of depth 1", per);
	}
	/* everything completes before anyone polls */
	ok = ok && send_stream(t, &a, &sa, false, 0) && send_stream(t, &b, &sb, false, 0) &&
	     cf_wait_posts(t, &a, &ps, NULL);
	for (int i = 0; i < ps.n && ok; i++)
		ok = expect_status(t, &ps.p[i], 0) && cf_post_verify(t, &ps.p[i], ps.p[i].total);
	if (ok && t->caps.max_cq_depth < UINT32_MAX) {
		struct toeless_cq_attr qa = { .size = sizeof(qa), .depth = t->caps.max_cq_depth + 1 };
		toeless_cq *big = NULL;
		int rc = toeless_cq_create(t->dev, &qa, &big);
		if (!rc)
			toeless_cq_destroy(big);
		if (rc != -EINVAL)
			cf_fail(t, "a queue deeper than caps.max_cq_depth: %d (%s), expected -EINVAL", rc,
				toeless_strerror(rc));
	}
	cf_stream_free(&sa);
	cf_stream_free(&sb);
	cf_posts_free(&ps);
}

/* ---- memory registration ---- */

void case_mr_register(struct cf_t *t)
{
	uint8_t x[16];
	toeless_mr *bad = NULL;
	CF_RC(t, toeless_mr_reg(t->dev, NULL, 16, &bad), -EINVAL);
	CF_RC(t, toeless_mr_reg(t->dev, x, 0, &bad), -EINVAL);
	CF_RC(t, toeless_mr_dereg(NULL), -EINVAL);
	struct cf_conn c;
	if (!cf_conn_open(t, &c, NULL, CF_DIGESTS, 65536, 0))
		return;
	struct cf_posts ps;
	cf_posts_init(&ps, 0xf00);
	for (int round = 0; round < 2 && !cf_failed(t); round++) {
		bool seg = round == 1;
		struct iovec iov[3];
		size_t area_len;
		uint8_t *area = carve(t, 3, 1000, 20000, iov, &area_len);
		toeless_mr *mr, *inner;
		if (!area || !cf_mr(t, area, area_len, &mr))
			return;
		struct cf_post *p = cf_post_new_iov(t, &ps, 0xf00 + (uint32_t)round, iov, 3);
		if (!p || !cf_post_submit(t, &c, p))
			return;
		int rc = toeless_mr_dereg(mr);
		if (rc == 0) {
			cf_forget_mr(t, mr);
			/* the engine cannot have this memory: only software places */
			if (t->caps.flags & TOELESS_CAP_DDP) {
				cf_fail(t,
					"toeless_mr_dereg of memory an outstanding SGL post uses returned 0, expected "
					"-EBUSY (the engine may still place into it)");
				return;
			}
			cf_diag(t,
				"note: toeless_mr_dereg of memory an outstanding post uses returned 0, not -EBUSY as "
				"toeless.h documents (no engine here: software places into it)");
			if (!cf_mr(t, area, area_len, &mr))
				return;
		} else {
			CF_CHECK(t, rc == -EBUSY, "toeless_mr_dereg while a post uses it: %d (%s), expected -EBUSY", rc,
				 toeless_strerror(rc));
		}
		struct cf_stream s;
		cf_stream_init(t, &s);
		uint64_t half = p->total / 2;
		cf_stream_data_in(&s, p, 0, 0, 0, (uint32_t)half, 0, CF_DIGESTS, CF_CORRUPT_NONE, 0);
		cf_stream_data_in(&s, p, 0, 1, half, (uint32_t)(p->total - half),
				  TOELESS_ISCSI_FLAG_FINAL | TOELESS_ISCSI_DATAIN_STATUS, CF_DIGESTS, CF_CORRUPT_NONE,
				  0);
		bool ok = send_stream(t, &c, &s, seg, cf_rand(&t->rng)) && cf_wait_posts(t, &c, &ps, NULL) &&
			  expect_status(t, p, 0) && cf_post_verify(t, p, p->total) &&
			  gaps_intact(t, area, area_len, iov, 3);
		cf_stream_free(&s);
		if (!ok)
			return;
		rc = toeless_mr_dereg(mr);
		if (rc == 0)
			cf_forget_mr(t, mr);
		CF_CHECK(t, rc == 0, "toeless_mr_dereg after the post completed: %d (%s)", rc, toeless_strerror(rc));

		/* a registration inside another; an SGL half in registered memory */
		uint8_t *other = cf_alloc(t, 5000, 0);
		if (!other || !cf_mr(t, area, area_len, &mr) || !cf_mr(t, iov[1].iov_base, iov[1].iov_len, &inner))
			return;
		struct iovec mix[2] = { iov[1], { other, 5000 } };
		struct cf_post *q = cf_post_new_iov(t, &ps, 0xf10 + (uint32_t)round, mix, 2);
		if (!q || !cf_post_submit(t, &c, q))
			return;
		cf_stream_init(t, &s);
		cf_stream_data_in(&s, q, 0, 0, 0, (uint32_t)q->total,
				  TOELESS_ISCSI_FLAG_FINAL | TOELESS_ISCSI_DATAIN_STATUS, CF_DIGESTS, CF_CORRUPT_NONE,
				  0);
		ok = send_stream(t, &c, &s, seg, cf_rand(&t->rng)) && cf_wait_posts(t, &c, &ps, NULL) &&
		     expect_status(t, q, 0) && cf_post_verify(t, q, q->total);
		cf_stream_free(&s);
		if (!ok)
			return;
		CF_RC(t, toeless_mr_dereg(inner), 0);
		cf_forget_mr(t, inner);
		CF_RC(t, toeless_mr_dereg(mr), 0);
		cf_forget_mr(t, mr);
	}
	cf_posts_free(&ps);
}

/* ---- threads ---- */

static unsigned digest_pick(uint64_t *rng)
{
	static const unsigned sets[4] = { 0, CF_DIGESTS, TOELESS_CTX_DATA_DIGEST, TOELESS_CTX_HEADER_DIGEST };
	return sets[cf_rand(rng) % 4];
}

struct thr {
	struct cf_t *t;
	int id;
	int nconn;
	int rounds;
	uint64_t rng;
	pthread_t th;
	uint64_t bytes;
};

static void *thread_main(void *arg)
{
	struct thr *h = arg;
	struct cf_t *t = h->t;
	struct cf_conn c[4];
	toeless_cq *cq = cf_cq(t, 8);
	if (!cq)
		return NULL;
	for (int i = 0; i < h->nconn; i++)
		if (!cf_conn_open(t, &c[i], cq, digest_pick(&h->rng), 65536, 0))
			return NULL;
	uint32_t max_sge = t->caps.max_sge < 8 ? t->caps.max_sge : 8;
	for (int r = 0; r < h->rounds && !cf_failed(t); r++) {
		struct cf_posts ps;
		cf_posts_init(&ps, 0x1000 + (uint64_t)h->id * 0x100 + (uint64_t)r);
		struct cf_stream s[4];
		struct cf_writer *w[4] = { NULL };
		for (int i = 0; i < 4; i++)
			cf_stream_init(t, &s[i]);
		bool ok = true;
		for (int i = 0; i < h->nconn && ok; i++) {
			for (int k = 0; k < 2 && ok; k++) {
				uint64_t total = 1 + cf_rand(&h->rng) % 32768;
				struct cf_post *p =
					cf_post_new(t, &ps, (uint32_t)(0x10000 * (h->id + 1) + r * 16 + i * 2 + k),
						    total, (int)(1 + cf_rand(&h->rng) % max_sge), cf_rand(&h->rng) % 2);
				ok = p && cf_post_submit(t, &c[i], p);
				uint64_t off = 0;
				uint32_t sn = 0;
				while (ok && off < total) {
					uint32_t len = (uint32_t)(1 + cf_rand(&h->rng) % 8192);
					if (len > total - off)
						len = (uint32_t)(total - off);
					cf_stream_data_in(&s[i], p, 0, sn++, off, len,
							  off + len == total ? TOELESS_ISCSI_FLAG_FINAL |
										       TOELESS_ISCSI_DATAIN_STATUS
									     : 0,
							  c[i].digests, CF_CORRUPT_NONE, 0);
					off += len;
				}
				h->bytes += total;
			}
		}
		for (int i = 0; i < h->nconn && ok; i++)
			ok = (w[i] = cf_writer_start(t, c[i].peer, s[i].wire.p, s[i].wire.len, CF_SPLIT_RANDOM,
						     1 + cf_rand(&h->rng) % 8192, cf_rand(&h->rng))) != NULL;
		for (int i = 0; i < h->nconn && ok; i++)
			ok = cf_stream_recv(t, &c[i], &s[i], 0, -1, NULL);
		for (int i = 0; i < h->nconn && ok; i++) {
			ok = cf_writer_join(w[i]);
			w[i] = NULL;
		}
		ok = ok && cf_wait_posts(t, &c[0], &ps, NULL);
		for (int i = 0; i < ps.n && ok; i++) {
			if (ps.p[i].c.status) {
				cf_fail(t, "thread %d: ITT 0x%x completed with %d (%s)", h->id, ps.p[i].itt,
					ps.p[i].c.status, toeless_strerror(ps.p[i].c.status));
				ok = false;
			}
			ok = ok && cf_post_verify(t, &ps.p[i], ps.p[i].total);
		}
		for (int i = 0; i < h->nconn; i++)
			cf_writer_stop(w[i]); /* left running after a failure */
		for (int i = 0; i < h->nconn; i++)
			cf_stream_free(&s[i]);
		cf_posts_free(&ps);
		if (!ok)
			break;
	}
	for (int i = 0; i < h->nconn && !cf_failed(t); i++)
		cf_conn_destroy(t, &c[i]);
	return NULL;
}

void case_threads_contexts(struct cf_t *t)
{
	enum { T = 4 };
	struct thr h[T];
	uint32_t per = t->caps.max_contexts / T;
	if (per > 4)
		per = 4;
	int nth = per ? T : (int)(t->caps.max_contexts < T ? t->caps.max_contexts : T);
	if (!per)
		per = 1;
	for (int i = 0; i < nth; i++) {
		h[i] = (struct thr){
			.t = t, .id = i, .nconn = (int)per, .rounds = (int)cf_iter(t, 6), .rng = cf_rand(&t->rng)
		};
		if (pthread_create(&h[i].th, NULL, thread_main, &h[i])) {
			cf_fail(t, "cannot start thread %d", i);
			nth = i;
			break;
		}
	}
	uint64_t bytes = 0;
	for (int i = 0; i < nth; i++) {
		pthread_join(h[i].th, NULL);
		bytes += h[i].bytes;
	}
	cf_diag(t, "%d threads x %u contexts x %d rounds, %" PRIu64 " bytes placed", nth, per, (int)cf_iter(t, 6),
		bytes);
}
