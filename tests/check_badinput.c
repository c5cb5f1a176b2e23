/*
 * Bad input, from the caller and from the wire (issue 2): each gets its
 * exact error code (include/toeless.h, doc/receive-path.md) and nothing is
 * ever written outside the caller's buffers (canary bytes around every SGE,
 * guard pages where the SGL ends at a page boundary).
 *
 * SPDX-License-Identifier: MIT
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "helpers.h"
#include "pdu.h"

static const unsigned DG_BOTH = TOELESS_CTX_HEADER_DIGEST | TOELESS_CTX_DATA_DIGEST;

static bool all_zero(const uint8_t *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (p[i])
			return false;
	return true;
}

/* The context failed with err: one ERROR completion, -ENOTCONN from then on. */
static void assert_failed(struct th_conn *c, int err)
{
	struct toeless_completion q[4];
	int n = th_cq_drain(c->cq, q, 4);
	int errors = 0;
	for (int i = 0; i < n; i++) {
		if (q[i].type == TOELESS_CQE_ERROR) {
			errors++;
			ck_assert_int_eq(q[i].status, err);
			ck_assert_ptr_eq(q[i].ctx, c->ctx);
		}
	}
	ck_assert_int_eq(errors, 1);
	struct toeless_pdu pdu;
	ck_assert_int_eq(toeless_pdu_recv(c->ctx, &pdu), -ENOTCONN);
	ck_assert_int_eq(toeless_pdu_recv(c->ctx, &pdu), -ENOTCONN);
	uint8_t b[8];
	struct iovec iov = { b, sizeof(b) };
	ck_assert_int_eq(toeless_sgl_post(c->ctx, 0x7777, &iov, 1, 0), -ENOTCONN);
	uint8_t bhs[48];
	th_bhs_init(bhs, TOELESS_ISCSI_OP_NOP_OUT, 0x80, 1);
	ck_assert_int_eq(toeless_pdu_send(c->ctx, bhs, NULL, 0, NULL, 0), -ENOTCONN);
	/* and no second ERROR completion */
	ck_assert_int_eq(th_cq_drain(c->cq, NULL, 0), 0);
}

/* ---- caller's bad arguments ---- */

START_TEST(test_null_args)
{
	struct th_conn c;
	th_conn_open(&c, TH_SOCK_UNIX, 0, 0);
	toeless_device *dev = NULL;
	struct toeless_device_attr da = { .size = 0 };

	ck_assert_ptr_nonnull(toeless_strerror(0));
	ck_assert_ptr_nonnull(toeless_strerror(-EBADMSG));
	ck_assert_ptr_nonnull(toeless_strerror(EBADMSG));
	ck_assert_ptr_nonnull(toeless_strerror(-123456));
	ck_assert_ptr_nonnull(toeless_version());

	ck_assert_int_eq(toeless_device_open("sw", NULL, NULL), -EINVAL);
	ck_assert_int_eq(toeless_device_open("sw", &da, &dev), -EINVAL);
	ck_assert_ptr_null(dev);
	ck_assert_int_eq(toeless_device_open("no-such-backend", NULL, &dev), -ENOENT);
	ck_assert_ptr_null(dev);
	ck_assert_int_eq(toeless_device_close(NULL), -EINVAL);
	struct toeless_caps caps = { .size = 0 };
	ck_assert_int_eq(toeless_device_query(NULL, &caps), -EINVAL);
	ck_assert_int_eq(toeless_device_query(c.dev, NULL), -EINVAL);
	ck_assert_int_eq(toeless_device_query(c.dev, &caps), -EINVAL);

	uint8_t mem[64];
	toeless_mr *mr = NULL;
	ck_assert_int_eq(toeless_mr_reg(NULL, mem, sizeof(mem), &mr), -EINVAL);
	ck_assert_int_eq(toeless_mr_reg(c.dev, NULL, sizeof(mem), &mr), -EINVAL);
	ck_assert_int_eq(toeless_mr_reg(c.dev, mem, 0, &mr), -EINVAL);
	ck_assert_int_eq(toeless_mr_reg(c.dev, mem, sizeof(mem), NULL), -EINVAL);
	ck_assert_int_eq(toeless_mr_dereg(NULL), -EINVAL);

	toeless_cq *cq = NULL;
	struct toeless_cq_attr ca = { .size = sizeof(ca) };
	ck_assert_int_eq(toeless_cq_create(NULL, &ca, &cq), -EINVAL);
	ck_assert_int_eq(toeless_cq_create(c.dev, &ca, NULL), -EINVAL);
	ck_assert_int_eq(toeless_cq_destroy(NULL), -EINVAL);
	ck_assert_int_lt(toeless_cq_fd(NULL), 0);
	struct toeless_completion q;
	ck_assert_int_eq(toeless_cq_poll(NULL, &q, 1), -EINVAL);
	ck_assert_int_eq(toeless_cq_poll(c.cq, NULL, 1), -EINVAL);
	ck_assert_int_eq(toeless_cq_poll(c.cq, &q, 0), -EINVAL);
	ck_assert_int_eq(toeless_cq_poll(c.cq, &q, -1), -EINVAL);

	struct toeless_ctx_attr a;
	toeless_ctx *ctx = NULL;
	th_ctx_attr_init(&a, c.fd, c.cq, 0, 0);
	ck_assert_int_eq(toeless_ctx_create(NULL, &a, &ctx), -EINVAL);
	ck_assert_int_eq(toeless_ctx_create(c.dev, NULL, &ctx), -EINVAL);
	ck_assert_int_eq(toeless_ctx_create(c.dev, &a, NULL), -EINVAL);
	ck_assert_ptr_null(ctx);
	ck_assert_int_eq(toeless_ctx_destroy(NULL), -EINVAL);
	struct toeless_ctx_params p = { 0 };
	ck_assert_int_eq(toeless_ctx_set_params(NULL, &p), -EINVAL);
	ck_assert_int_eq(toeless_ctx_set_params(c.ctx, NULL), -EINVAL);
	p.reserved[4] = 7; /* a parameter this library does not know */
	ck_assert_int_eq(toeless_ctx_set_params(c.ctx, &p), -EINVAL);
	ck_assert_uint_eq(toeless_ctx_user_data(NULL), 0);

	uint8_t buf[16];
	struct iovec iov[2] = { { buf, 8 }, { buf + 8, 8 } };
	ck_assert_int_eq(toeless_sgl_post(NULL, 1, iov, 2, 0), -EINVAL);
	ck_assert_int_eq(toeless_sgl_post(c.ctx, 1, NULL, 2, 0), -EINVAL);
	ck_assert_int_eq(toeless_sgl_post(c.ctx, 1, iov, 0, 0), -EINVAL);
	ck_assert_int_eq(toeless_sgl_post(c.ctx, 1, iov, -1, 0), -EINVAL);
	iov[1].iov_len = 0;
	ck_assert_int_eq(toeless_sgl_post(c.ctx, 1, iov, 2, 0), -EINVAL);
	iov[1].iov_len = 8;
	iov[0].iov_base = NULL;
	ck_assert_int_eq(toeless_sgl_post(c.ctx, 1, iov, 2, 0), -EINVAL);
	iov[0].iov_base = buf;
	ck_assert_int_eq(toeless_sgl_cancel(NULL, 1), -EINVAL);
	/* none of the refused posts exists */
	ck_assert_int_eq(toeless_sgl_cancel(c.ctx, 1), -ENOENT);

	struct toeless_pdu pdu;
	ck_assert_int_eq(toeless_pdu_recv(NULL, &pdu), -EINVAL);
	ck_assert_int_eq(toeless_pdu_recv(c.ctx, NULL), -EINVAL);

	uint8_t bhs[48];
	th_bhs_init(bhs, TOELESS_ISCSI_OP_NOP_OUT, 0x80, 1);
	uint8_t ahs[8] = { 0, 5, 2, 0, 0, 0, 0, 1 };
	ck_assert_int_eq(toeless_pdu_send(NULL, bhs, NULL, 0, NULL, 0), -EINVAL);
	ck_assert_int_eq(toeless_pdu_send(c.ctx, NULL, NULL, 0, NULL, 0), -EINVAL);
	ck_assert_int_eq(toeless_pdu_send(c.ctx, bhs, NULL, 8, NULL, 0), -EINVAL);
	ck_assert_int_eq(toeless_pdu_send(c.ctx, bhs, ahs, 0, NULL, 1), -EINVAL);
	ck_assert_int_eq(toeless_pdu_send(c.ctx, bhs, NULL, 0, iov, -1), -EINVAL);
	ck_assert_int_eq(toeless_ctx_flush(NULL), -EINVAL);

	ck_assert_uint_eq(toeless_crc32c(0x1234, NULL, 0), 0x1234);
	ck_assert_uint_eq(toeless_crc32c_iov(0x1234, NULL, 0), 0x1234);
	struct toeless_crc_req r = { .iov = iov, .iovcnt = 1 };
	ck_assert_int_eq(toeless_crc_submit(NULL, c.cq, &r, 1), -EINVAL);
	ck_assert_int_eq(toeless_crc_submit(c.dev, NULL, &r, 1), -EINVAL);
	ck_assert_int_eq(toeless_crc_submit(c.dev, c.cq, NULL, 1), -EINVAL);
	ck_assert_int_eq(toeless_crc_submit(c.dev, c.cq, &r, 0), -EINVAL);
	r.iov = NULL;
	ck_assert_int_eq(toeless_crc_submit(c.dev, c.cq, &r, 1), -EINVAL);

	struct toeless_stats st = { .size = sizeof(st) };
	ck_assert_int_eq(toeless_ctx_stats(NULL, &st), -EINVAL);
	ck_assert_int_eq(toeless_ctx_stats(c.ctx, NULL), -EINVAL);
	ck_assert_int_eq(toeless_device_stats(NULL, &st), -EINVAL);
	ck_assert_int_eq(toeless_device_stats(c.dev, NULL), -EINVAL);

	/* nothing above touched the socket or the queue */
	ck_assert_int_eq(th_inq(c.peer), 0);
	ck_assert_int_eq(th_cq_drain(c.cq, NULL, 0), 0);
	th_ctx_stats(c.ctx, &st);
	ck_assert_uint_eq(st.sgl_posted, 0);
	ck_assert_uint_eq(st.pdus_tx, 0);
	ck_assert_uint_eq(st.bytes_tx, 0);
	th_conn_close(&c);
}
END_TEST

START_TEST(test_post_e2big)
{
	struct th_conn c;
	th_conn_open(&c, TH_SOCK_UNIX, 0, 0);
	struct toeless_caps caps;
	th_query(c.dev, &caps);
	ck_assert_uint_gt(caps.max_sge, 0);
	ck_assert_uint_lt(caps.max_sge, 1u << 20);
	uint32_t n = caps.max_sge + 1;
	uint8_t *mem = calloc(n, 1);
	struct iovec *iov = calloc(n, sizeof(*iov));
	for (uint32_t i = 0; i < n; i++)
		iov[i] = (struct iovec){ mem + i, 1 };
	ck_assert_int_eq(toeless_sgl_post(c.ctx, 1, iov, (int)n, 0), -E2BIG);
	ck_assert_int_eq(toeless_sgl_cancel(c.ctx, 1), -ENOENT);
	ck_assert_int_eq(toeless_sgl_post(c.ctx, 1, iov, (int)caps.max_sge, 0), 0);
	/* the full-size SGL works: one Data-In over every SGE */
	uint8_t *data = malloc(caps.max_sge);
	th_fill_pattern(data, caps.max_sge, 5);
	struct th_buf w;
	th_buf_init(&w);
	th_append_data_in(&w, 0, 1, 0, 0, data, caps.max_sge, TOELESS_ISCSI_FLAG_FINAL | TOELESS_ISCSI_DATAIN_STATUS, 0,
			  0);
	th_feed(c.peer, c.fd, w.p, w.len);
	struct toeless_pdu pdu;
	ck_assert_int_eq(th_recv(c.ctx, c.fd, &pdu, TH_TIMEOUT_MS), 0);
	ck_assert_mem_eq(mem, data, caps.max_sge);
	ck_assert_uint_eq(mem[caps.max_sge], 0);
	struct toeless_completion q;
	ck_assert_int_eq(th_cq_wait(c.cq, &q, 1, TH_TIMEOUT_MS), 1);
	ck_assert_int_eq(q.status, 0);
	ck_assert_uint_eq(q.bytes_placed, caps.max_sge);
	th_buf_free(&w);
	free(data);
	free(iov);
	free(mem);
	th_conn_close(&c);
}
END_TEST

START_TEST(test_post_twice)
{
	struct th_conn c;
	th_conn_open(&c, TH_SOCK_UNIX, 0, 0);
	uint8_t *a = th_canary_alloc(64), *b = th_canary_alloc(64);
	struct iovec ia = { a, 64 }, ib = { b, 64 };
	ck_assert_int_eq(toeless_sgl_post(c.ctx, 9, &ia, 1, 1), 0);
	ck_assert_int_eq(toeless_sgl_post(c.ctx, 9, &ib, 1, 2), -EEXIST);
	/* the first post still owns the ITT */
	uint8_t data[64];
	th_fill_pattern(data, 64, 9);
	struct th_buf w;
	th_buf_init(&w);
	th_append_data_in(&w, 0, 9, 0, 0, data, 64, TOELESS_ISCSI_FLAG_FINAL | TOELESS_ISCSI_DATAIN_STATUS, 0, 0);
	th_feed(c.peer, c.fd, w.p, w.len);
	struct toeless_pdu pdu;
	ck_assert_int_eq(th_recv(c.ctx, c.fd, &pdu, TH_TIMEOUT_MS), 0);
	ck_assert_uint_eq(pdu.user_data, 1);
	ck_assert_mem_eq(a, data, 64);
	ck_assert(all_zero(b, 64));
	ck_assert(th_canary_ok(a, 64));
	ck_assert(th_canary_ok(b, 64));
	struct toeless_completion q[2];
	ck_assert_int_eq(th_cq_drain(c.cq, q, 2), 1);
	ck_assert_uint_eq(q[0].user_data, 1);
	struct toeless_stats st;
	th_ctx_stats(c.ctx, &st);
	ck_assert_uint_eq(st.sgl_posted, 1);
	th_buf_free(&w);
	th_canary_free(a);
	th_canary_free(b);
	th_conn_close(&c);
}
END_TEST

START_TEST(test_reserved_itt)
{
	struct th_conn c;
	th_conn_open(&c, TH_SOCK_UNIX, 0, 0);
	uint8_t b[8];
	struct iovec iov = { b, 8 };
	ck_assert_int_eq(toeless_sgl_post(c.ctx, 0xffffffffu, &iov, 1, 0), -EINVAL);
	ck_assert_int_eq(toeless_sgl_cancel(c.ctx, 0xffffffffu), -ENOENT);
	/* its neighbours are ordinary ITTs */
	ck_assert_int_eq(toeless_sgl_post(c.ctx, 0xfffffffeu, &iov, 1, 0), 0);
	ck_assert_int_eq(toeless_sgl_post(c.ctx, 0, &iov, 1, 0), 0);
	th_conn_close(&c);
}
END_TEST

START_TEST(test_cancel_unknown)
{
	struct th_conn c;
	th_conn_open(&c, TH_SOCK_UNIX, 0, 0);
	ck_assert_int_eq(toeless_sgl_cancel(c.ctx, 1), -ENOENT);
	uint8_t b[8];
	struct iovec iov = { b, 8 };
	ck_assert_int_eq(toeless_sgl_post(c.ctx, 2, &iov, 1, 0), 0);
	ck_assert_int_eq(toeless_sgl_cancel(c.ctx, 1), -ENOENT);
	ck_assert_int_eq(toeless_sgl_cancel(c.ctx, 2), 0);
	ck_assert_int_eq(toeless_sgl_cancel(c.ctx, 2), -ENOENT); /* already finishing or done */
	struct toeless_completion q[2];
	ck_assert_int_eq(th_cq_wait(c.cq, q, 1, TH_TIMEOUT_MS), 1);
	ck_assert_int_eq(th_cq_drain(c.cq, q + 1, 1), 0);
	ck_assert_int_eq(q[0].status, -ECANCELED);
	ck_assert_int_eq(toeless_sgl_cancel(c.ctx, 2), -ENOENT);
	th_conn_close(&c);
}
END_TEST

START_TEST(test_max_tasks)
{
	struct toeless_ctx_attr a;
	th_ctx_attr_init(&a, -1, NULL, 0, 0);
	a.max_tasks = 4;
	struct th_conn c;
	th_conn_open_attr(&c, TH_SOCK_UNIX, &a);
	uint8_t b[5][8];
	struct iovec iov[5];
	for (int i = 0; i < 5; i++)
		iov[i] = (struct iovec){ b[i], 8 };
	for (uint32_t i = 0; i < 4; i++)
		ck_assert_int_eq(toeless_sgl_post(c.ctx, 100 + i, &iov[i], 1, i), 0);
	ck_assert_int_eq(toeless_sgl_post(c.ctx, 104, &iov[4], 1, 4), -ENOSPC);
	ck_assert_int_eq(toeless_sgl_cancel(c.ctx, 104), -ENOENT);
	/* once one is released, there is room again */
	ck_assert_int_eq(toeless_sgl_cancel(c.ctx, 101), 0);
	struct toeless_completion q;
	ck_assert_int_eq(th_cq_wait(c.cq, &q, 1, TH_TIMEOUT_MS), 1);
	ck_assert_int_eq(toeless_sgl_post(c.ctx, 104, &iov[4], 1, 4), 0);
	ck_assert_int_eq(toeless_sgl_post(c.ctx, 105, &iov[1], 1, 5), -ENOSPC);
	th_conn_close(&c);
}
END_TEST

/* ---- bad input from the wire ---- */

/* Data-In past the end of the SGL: -ERANGE, payload discarded, nothing
 * written anywhere; the task completes -ERANGE.  _i: digests. */
START_TEST(test_datain_past_end)
{
	unsigned dg = (unsigned)_i;
	struct th_conn c;
	th_conn_open(&c, TH_SOCK_UNIX, dg, 0);
	uint8_t *s0 = th_canary_alloc(37), *s1 = th_canary_alloc(63);
	struct iovec iov[2] = { { s0, 37 }, { s1, 63 } };
	ck_assert_int_eq(toeless_sgl_post(c.ctx, 0x10, iov, 2, 0xabc), 0);
	uint8_t data[600];
	th_fill_pattern(data, sizeof(data), 1);
	struct th_buf w;
	th_buf_init(&w);
	/* straddles the end, starts at the end, starts far past, wraps 32 bits */
	static const uint32_t offs[] = { 50, 100, 4096, 0xffffff00u, 0xfffffffcu };
	static const uint32_t lens[] = { 51, 1, 10, 512, 5 };
	for (int k = 0; k < 5; k++)
		th_append_data_in(&w, dg, 0x10, (uint32_t)k, offs[k], data, lens[k], 0, 0, 0);
	th_feed(c.peer, c.fd, w.p, w.len);
	struct toeless_pdu pdu;
	for (int k = 0; k < 5; k++) {
		int rc = th_recv(c.ctx, c.fd, &pdu, TH_TIMEOUT_MS);
		ck_assert_msg(rc == -ERANGE, "offset %u len %u: %d", offs[k], lens[k], rc);
		ck_assert_int_eq(pdu.status, -ERANGE);
		ck_assert_uint_eq(pdu.itt, 0x10);
		ck_assert_uint_eq(pdu.opcode, TOELESS_ISCSI_OP_DATA_IN);
		ck_assert_uint_eq(pdu.data_len, lens[k]);
		ck_assert_uint_eq(pdu.flags & TOELESS_PDU_F_PLACED, 0);
		ck_assert_uint_eq(pdu.flags & TOELESS_PDU_F_TASK_DONE, 0);
		ck_assert(all_zero(s0, 37));
		ck_assert(all_zero(s1, 63));
	}
	ck_assert(th_canary_ok(s0, 37));
	ck_assert(th_canary_ok(s1, 63));
	ck_assert_int_eq(th_cq_drain(c.cq, NULL, 0), 0); /* not finished yet */
	/* the connection goes on: the rest of the read arrives and ends the task */
	size_t mark = w.len;
	th_append_data_in(&w, dg, 0x10, 5, 0, data, 100, TOELESS_ISCSI_FLAG_FINAL | TOELESS_ISCSI_DATAIN_STATUS, 0, 0);
	th_feed(c.peer, c.fd, w.p + mark, w.len - mark);
	ck_assert_int_eq(th_recv(c.ctx, c.fd, &pdu, TH_TIMEOUT_MS), 0);
	ck_assert_uint_eq(pdu.flags, TOELESS_PDU_F_PLACED | TOELESS_PDU_F_TASK_DONE);
	ck_assert_mem_eq(s0, data, 37);
	ck_assert_mem_eq(s1, data + 37, 63);
	ck_assert(th_canary_ok(s0, 37));
	ck_assert(th_canary_ok(s1, 63));
	struct toeless_completion q;
	ck_assert_int_eq(th_cq_wait(c.cq, &q, 1, TH_TIMEOUT_MS), 1);
	ck_assert_uint_eq(q.type, TOELESS_CQE_SGL);
	ck_assert_int_eq(q.status, -ERANGE);
	ck_assert_uint_eq(q.user_data, 0xabc);
	ck_assert_uint_eq(q.bytes_placed, 100);
	struct toeless_stats st;
	th_ctx_stats(c.ctx, &st);
	ck_assert_uint_eq(st.placement_errors, 5);
	ck_assert_uint_eq(st.sgl_failed, 1);
	ck_assert_uint_eq(st.sgl_completed, 0);
	ck_assert_uint_eq(st.bytes_placed_sw, 100);
	ck_assert_uint_eq(st.pdus_rx, 6);
	th_buf_free(&w);
	th_canary_free(s0);
	th_canary_free(s1);
	th_conn_close(&c);
}
END_TEST

/* toeless.h: TOELESS_DIGEST_UNCHECKED is "never seen on delivery".  A
 * Data-In whose payload was discarded (-ERANGE, -EEXIST) still arrived
 * whole with its digest: it is delivered OK or BAD, never UNCHECKED, and a
 * wrong digest is never reported OK.  _i: 0 good digest, 1 corrupted. */
START_TEST(test_discarded_digest)
{
	struct th_conn c;
	th_conn_open(&c, TH_SOCK_UNIX, DG_BOTH, 0);
	uint8_t *b = th_canary_alloc(64);
	struct iovec iov = { b, 64 };
	ck_assert_int_eq(toeless_sgl_post(c.ctx, 0x15, &iov, 1, 0), 0);
	uint8_t d[100];
	th_fill_pattern(d, sizeof(d), 15);
	struct th_buf w;
	th_buf_init(&w);
	th_append_data_in(&w, DG_BOTH, 0x15, 0, 0, d, 32, 0, 0, 0);
	struct th_pdu p;
	memset(&p, 0, sizeof(p));
	p.digests = DG_BOTH;
	p.corrupt = _i ? TH_CORRUPT_DATA_DIGEST : TH_CORRUPT_NONE;
	th_bhs_data_in(p.bhs, 0x15, 1, 40, 0, 0, 0); /* past the end */
	p.data = d;
	p.data_len = 30;
	th_pdu_append(&w, &p);
	th_bhs_data_in(p.bhs, 0x15, 2, 16, 0, 0, 0); /* overlapping */
	p.data_len = 8;
	th_pdu_append(&w, &p);
	th_feed(c.peer, c.fd, w.p, w.len);
	struct toeless_pdu pdu;
	ck_assert_int_eq(th_recv(c.ctx, c.fd, &pdu, TH_TIMEOUT_MS), 0);
	for (int k = 0; k < 2; k++) {
		int rc = th_recv(c.ctx, c.fd, &pdu, TH_TIMEOUT_MS);
		ck_assert(rc == (k ? -EEXIST : -ERANGE) || (_i && rc == -EBADMSG));
		ck_assert_uint_ne(pdu.data_digest, TOELESS_DIGEST_UNCHECKED);
		ck_assert_uint_eq(pdu.data_digest, _i ? TOELESS_DIGEST_BAD : TOELESS_DIGEST_OK);
	}
	ck_assert_mem_eq(b, d, 32);
	ck_assert(all_zero(b + 32, 32));
	ck_assert(th_canary_ok(b, 64));
	th_buf_free(&w);
	th_canary_free(b);
	th_conn_close(&c);
}
END_TEST

/* An SGL whose last byte is the last byte before an inaccessible page and
 * whose first byte follows one: a write one byte outside faults.  Data
 * lengths with every pad, with the data digest, exactly filling the SGL;
 * then a Data-In running past the end.  _i: 0 unix, 1 tcp. */
START_TEST(test_guard_pages)
{
	struct th_conn c;
	th_conn_open(&c, (enum th_sock)_i, DG_BOTH, 0);
	uint8_t data[4096];
	th_fill_pattern(data, sizeof(data), 4);
	struct th_buf w;
	th_buf_init(&w);
	struct toeless_pdu pdu;
	for (uint32_t len = 1; len <= 9; len++) {
		uint8_t *g0 = th_guard_alloc(len), *g1 = th_guard_alloc(3);
		struct iovec iov[2] = { { g0, len }, { g1, 3 } };
		uint32_t itt = 0x900 + len;
		ck_assert_int_eq(toeless_sgl_post(c.ctx, itt, iov, 2, len), 0);
		w.len = 0;
		/* too long by one byte, then the real thing in two PDUs */
		th_append_data_in(&w, DG_BOTH, itt, 0, 0, data, len + 4, 0, 0, 0);
		th_append_data_in(&w, DG_BOTH, itt, 1, 0, data, len, 0, 0, 0);
		th_append_data_in(&w, DG_BOTH, itt, 2, len, data + len, 3,
				  TOELESS_ISCSI_FLAG_FINAL | TOELESS_ISCSI_DATAIN_STATUS, 0, 0);
		th_feed(c.peer, c.fd, w.p, w.len);
		ck_assert_int_eq(th_recv(c.ctx, c.fd, &pdu, TH_TIMEOUT_MS), -ERANGE);
		ck_assert_int_eq(th_recv(c.ctx, c.fd, &pdu, TH_TIMEOUT_MS), 0);
		ck_assert_int_eq(th_recv(c.ctx, c.fd, &pdu, TH_TIMEOUT_MS), 0);
		ck_assert_mem_eq(g0, data, len);
		ck_assert_mem_eq(g1, data + len, 3);
		struct toeless_completion q;
		ck_assert_int_eq(th_cq_wait(c.cq, &q, 1, TH_TIMEOUT_MS), 1);
		ck_assert_int_eq(q.status, -ERANGE);
		ck_assert_uint_eq(q.bytes_placed, len + 3);
		th_guard_free(g0, len);
		th_guard_free(g1, 3);
	}
	th_buf_free(&w);
	th_conn_close(&c);
}
END_TEST

/* Data over bytes already placed: -EEXIST, the placed bytes stay as they
 * were, the task completes -EEXIST.  _i: digests. */
START_TEST(test_datain_overlap)
{
	unsigned dg = (unsigned)_i;
	struct th_conn c;
	th_conn_open(&c, TH_SOCK_TCP, dg, 0);
	uint8_t *b = th_canary_alloc(100);
	struct iovec iov = { b, 100 };
	ck_assert_int_eq(toeless_sgl_post(c.ctx, 0x20, &iov, 1, 7), 0);
	uint8_t d1[100], d2[100];
	th_fill_pattern(d1, 100, 1);
	th_fill_pattern(d2, 100, 2);
	struct th_buf w;
	th_buf_init(&w);
	th_append_data_in(&w, dg, 0x20, 0, 0, d1, 60, 0, 0, 0);
	th_append_data_in(&w, dg, 0x20, 1, 40, d2 + 40, 60, 0, 0, 0); /* overlaps [40, 60) */
	th_append_data_in(&w, dg, 0x20, 2, 10, d2 + 10, 1, 0, 0, 0);  /* inside */
	th_append_data_in(&w, dg, 0x20, 3, 60, d1 + 60, 40, TOELESS_ISCSI_FLAG_FINAL | TOELESS_ISCSI_DATAIN_STATUS, 0,
			  0);
	th_feed(c.peer, c.fd, w.p, w.len);
	struct toeless_pdu pdu;
	ck_assert_int_eq(th_recv(c.ctx, c.fd, &pdu, TH_TIMEOUT_MS), 0);
	ck_assert_int_eq(th_recv(c.ctx, c.fd, &pdu, TH_TIMEOUT_MS), -EEXIST);
	ck_assert_int_eq(pdu.status, -EEXIST);
	ck_assert_uint_eq(pdu.itt, 0x20);
	ck_assert_uint_eq(pdu.flags & TOELESS_PDU_F_PLACED, 0);
	ck_assert_mem_eq(b, d1, 60);
	ck_assert(all_zero(b + 60, 40));
	ck_assert_int_eq(th_recv(c.ctx, c.fd, &pdu, TH_TIMEOUT_MS), -EEXIST);
	ck_assert_mem_eq(b, d1, 60);
	ck_assert_int_eq(th_recv(c.ctx, c.fd, &pdu, TH_TIMEOUT_MS), 0);
	ck_assert_uint_eq(pdu.flags, TOELESS_PDU_F_PLACED | TOELESS_PDU_F_TASK_DONE);
	ck_assert_mem_eq(b, d1, 100);
	ck_assert(th_canary_ok(b, 100));
	struct toeless_completion q;
	ck_assert_int_eq(th_cq_wait(c.cq, &q, 1, TH_TIMEOUT_MS), 1);
	ck_assert_int_eq(q.status, -EEXIST);
	ck_assert_uint_eq(q.bytes_placed, 100);
	ck_assert_uint_eq(q.user_data, 7);
	struct toeless_stats st;
	th_ctx_stats(c.ctx, &st);
	ck_assert_uint_eq(st.placement_errors, 2);
	ck_assert_uint_eq(st.sgl_failed, 1);
	th_buf_free(&w);
	th_canary_free(b);
	th_conn_close(&c);
}
END_TEST

/* Data-In for an ITT with no post: an ordinary PDU with its data. */
START_TEST(test_datain_unposted)
{
	struct th_conn c;
	th_conn_open(&c, TH_SOCK_UNIX, DG_BOTH, 0);
	uint8_t *b = th_canary_alloc(50);
	struct iovec iov = { b, 50 };
	ck_assert_int_eq(toeless_sgl_post(c.ctx, 0x30, &iov, 1, 0), 0);
	uint8_t d[50];
	th_fill_pattern(d, 50, 3);
	struct th_buf w;
	th_buf_init(&w);
	th_append_data_in(&w, DG_BOTH, 0x31, 0, 0, d, 50, TOELESS_ISCSI_FLAG_FINAL | TOELESS_ISCSI_DATAIN_STATUS, 0, 0);
	th_append_data_in(&w, DG_BOTH, 0x30 << 8, 0, 0, d, 7, 0, 0, 0);
	th_feed(c.peer, c.fd, w.p, w.len);
	struct toeless_pdu pdu;
	ck_assert_int_eq(th_recv(c.ctx, c.fd, &pdu, TH_TIMEOUT_MS), 0);
	ck_assert_uint_eq(pdu.itt, 0x31);
	ck_assert_uint_eq(pdu.flags, 0);
	ck_assert_uint_eq(pdu.data_len, 50);
	ck_assert_ptr_nonnull(pdu.data);
	ck_assert_mem_eq(pdu.data, d, 50);
	ck_assert_uint_eq(pdu.data_digest, TOELESS_DIGEST_OK);
	ck_assert_int_eq(th_recv(c.ctx, c.fd, &pdu, TH_TIMEOUT_MS), 0);
	ck_assert_uint_eq(pdu.itt, 0x3000);
	ck_assert_mem_eq(pdu.data, d, 7);
	ck_assert(all_zero(b, 50));
	ck_assert(th_canary_ok(b, 50));
	ck_assert_int_eq(th_cq_drain(c.cq, NULL, 0), 0);
	struct toeless_stats st;
	th_ctx_stats(c.ctx, &st);
	ck_assert_uint_eq(st.unknown_itt_pdus, 2);
	ck_assert_uint_eq(st.bytes_slow_path, 57);
	ck_assert_uint_eq(st.data_in_placed, 0);
	th_buf_free(&w);
	th_canary_free(b);
	th_conn_close(&c);
}
END_TEST

/* DataSegmentLength above MaxRecvDataSegmentLength: -EMSGSIZE with the
 * header delivered; the context fails.  _i: 0 a posted Data-In, 1 a NOP-In
 * claiming 2^24-1 bytes, 2 a posted Data-In over TCP with digests. */
START_TEST(test_dsl_too_big)
{
	struct th_conn c;
	unsigned dg = _i == 2 ? DG_BOTH : 0;
	th_conn_open(&c, _i == 2 ? TH_SOCK_TCP : TH_SOCK_UNIX, dg, 512);
	uint8_t *b = th_canary_alloc(1024);
	struct iovec iov = { b, 1024 };
	ck_assert_int_eq(toeless_sgl_post(c.ctx, 0x40, &iov, 1, 0x40), 0);
	uint8_t d[1100];
	th_fill_pattern(d, sizeof(d), 4);
	struct th_buf w;
	th_buf_init(&w);
	/* a good PDU of exactly the limit first */
	th_append_data_in(&w, dg, 0x40, 0, 0, d, 512, 0, 0, 0);
	size_t bad = w.len;
	if (_i == 1) {
		uint8_t bhs[48];
		th_bhs_nop_in(bhs, 0x41, 0xffffffff);
		struct th_pdu p = { .data = d, .data_len = 600, .digests = dg, .keep_lengths = true };
		memcpy(p.bhs, bhs, 48);
		p.bhs[5] = p.bhs[6] = p.bhs[7] = 0xff;
		th_pdu_append(&w, &p);
	} else {
		th_append_data_in(&w, dg, 0x40, 1, 512, d + 512, 513, 0, 0, 0);
	}
	th_feed(c.peer, c.fd, w.p, w.len);
	struct toeless_pdu pdu;
	ck_assert_int_eq(th_recv(c.ctx, c.fd, &pdu, TH_TIMEOUT_MS), 0);
	ck_assert_mem_eq(b, d, 512);
	int rc = th_recv(c.ctx, c.fd, &pdu, TH_TIMEOUT_MS);
	ck_assert_int_eq(rc, -EMSGSIZE);
	ck_assert_int_eq(pdu.status, -EMSGSIZE);
	ck_assert_mem_eq(pdu.bhs, w.p + bad, 48);
	ck_assert_uint_eq(pdu.stream_pos, bad);
	ck_assert_uint_eq(pdu.data_len, _i == 1 ? 0xffffffu : 513u);
	ck_assert_uint_eq(pdu.flags & TOELESS_PDU_F_PLACED, 0);
	/* nothing of the oversized payload landed */
	ck_assert(all_zero(b + 512, 512));
	ck_assert(th_canary_ok(b, 1024));
	assert_failed(&c, -EMSGSIZE);
	struct toeless_stats st;
	th_ctx_stats(c.ctx, &st);
	ck_assert_uint_eq(st.protocol_errors, 1);
	ck_assert_uint_eq(st.pdus_rx, 2); /* the oversized header was delivered too */
	/* destroying it still completes the post, as cancelled */
	ck_assert_int_eq(toeless_ctx_destroy(c.ctx), 0);
	c.ctx = NULL;
	struct toeless_completion q;
	ck_assert_int_eq(th_cq_wait(c.cq, &q, 1, TH_TIMEOUT_MS), 1);
	ck_assert_uint_eq(q.type, TOELESS_CQE_SGL);
	ck_assert_int_eq(q.status, -ECANCELED);
	ck_assert_uint_eq(q.user_data, 0x40);
	ck_assert(all_zero(b + 512, 512));
	th_buf_free(&w);
	th_canary_free(b);
	th_conn_close(&c);
}
END_TEST

/* An AHS chain that runs past TotalAHSLength: -EPROTO, header delivered,
 * context failed.  _i: digests (the header digest is right, the header is not). */
START_TEST(test_ahs_past_pdu)
{
	unsigned dg = (unsigned)_i;
	struct th_conn c;
	th_conn_open(&c, TH_SOCK_UNIX, dg, 0);
	uint8_t ahs[8] = { 0x00, 0x11, 0x01, 0x00, 1, 2, 3, 4 }; /* AHSLength 17 in 8 bytes */
	struct th_pdu p;
	memset(&p, 0, sizeof(p));
	th_bhs_nop_in(p.bhs, 0x50, 0xffffffff);
	p.ahs = ahs;
	p.ahs_len = 8;
	p.data = "abcdefgh";
	p.data_len = 8;
	p.digests = dg;
	struct th_buf w;
	th_buf_init(&w);
	th_pdu_append(&w, &p);
	th_feed(c.peer, c.fd, w.p, w.len);
	struct toeless_pdu pdu;
	ck_assert_int_eq(th_recv(c.ctx, c.fd, &pdu, TH_TIMEOUT_MS), -EPROTO);
	ck_assert_int_eq(pdu.status, -EPROTO);
	ck_assert_mem_eq(pdu.bhs, w.p, 48);
	ck_assert_uint_eq(pdu.itt, 0x50);
	if (dg & TOELESS_CTX_HEADER_DIGEST)
		ck_assert_uint_eq(pdu.hdr_digest, TOELESS_DIGEST_OK);
	assert_failed(&c, -EPROTO);
	struct toeless_stats st;
	th_ctx_stats(c.ctx, &st);
	ck_assert_uint_eq(st.protocol_errors, 1);
	th_buf_free(&w);
	th_conn_close(&c);
}
END_TEST

/* The peer closes.  A NOP-In (header digest, 5 bytes, pad 3, data digest:
 * 64 bytes) then a Data-In for a posted ITT (10 bytes, pad 2: 68 bytes),
 * cut after every byte count 0..132: 0, 64 and 132 are PDU boundaries
 * (-EPIPE after the whole PDUs), the rest are mid-PDU (-ECONNRESET after the
 * whole PDUs, context failed) -- including cuts inside the second header,
 * which the library may already have read ahead.  _i: 0 unix, 1 tcp. */
START_TEST(test_peer_close)
{
	uint8_t d[10], bhs[48];
	th_fill_pattern(d, sizeof(d), 6);
	struct th_buf w;
	th_buf_init(&w);
	th_bhs_nop_in(bhs, 0x61, 0xffffffff);
	th_append_bhs(&w, DG_BOTH, bhs, "hello", 5);
	size_t end1 = w.len;
	th_append_data_in(&w, DG_BOTH, 0x60, 0, 0, d, 10, TOELESS_ISCSI_FLAG_FINAL | TOELESS_ISCSI_DATAIN_STATUS, 0, 0);
	ck_assert_uint_eq(end1, 64);
	ck_assert_uint_eq(w.len, 132);
	for (size_t cut = 0; cut <= w.len; cut++) {
		struct th_conn c;
		th_conn_open(&c, (enum th_sock)_i, DG_BOTH, 0);
		uint8_t *b = th_canary_alloc(10);
		struct iovec iov = { b, 10 };
		ck_assert_int_eq(toeless_sgl_post(c.ctx, 0x60, &iov, 1, 0x60), 0);
		if (cut)
			th_feed(c.peer, c.fd, w.p, cut);
		ck_assert_int_eq(shutdown(c.peer, SHUT_WR), 0);
		struct toeless_pdu pdu;
		int whole = cut >= w.len ? 2 : cut >= end1 ? 1 : 0;
		for (int k = 0; k < whole; k++) {
			int rc = th_recv(c.ctx, c.fd, &pdu, TH_TIMEOUT_MS);
			ck_assert_msg(rc == 0, "closed after %zu bytes: PDU %d returned %d", cut, k, rc);
			ck_assert_uint_eq(pdu.itt, k ? 0x60 : 0x61);
		}
		if (whole == 2)
			ck_assert_mem_eq(b, d, 10);
		int rc = th_recv(c.ctx, c.fd, &pdu, TH_TIMEOUT_MS);
		if (cut == 0 || cut == end1 || cut == w.len) {
			ck_assert_msg(rc == -EPIPE, "closed after %zu bytes: %d, expected -EPIPE", cut, rc);
		} else {
			ck_assert_msg(rc == -ECONNRESET, "closed after %zu bytes: %d, expected -ECONNRESET", cut, rc);
			/* whatever landed is a prefix of the payload */
			for (int i = 0; i < 10; i++)
				ck_assert(b[i] == 0 || b[i] == d[i]);
			assert_failed(&c, -ECONNRESET);
			ck_assert_int_eq(toeless_ctx_destroy(c.ctx), 0);
			c.ctx = NULL;
			struct toeless_completion q;
			ck_assert_int_eq(th_cq_wait(c.cq, &q, 1, TH_TIMEOUT_MS), 1);
			ck_assert_int_eq(q.status, -ECANCELED);
		}
		ck_assert(th_canary_ok(b, 10));
		th_conn_close(&c);
		th_canary_free(b);
	}
	th_buf_free(&w);
}
END_TEST

/* Header digest mismatch: -EBADMSG, hdr_digest BAD, context failed.  The
 * damage is in the digest, in the DataSegmentLength (which must not be
 * believed), or in the Buffer Offset of a posted Data-In (nothing placed).
 * _i: which. */
START_TEST(test_hdr_digest_bad)
{
	struct th_conn c;
	th_conn_open(&c, TH_SOCK_UNIX, DG_BOTH, 0);
	uint8_t *b = th_canary_alloc(100);
	struct iovec iov = { b, 100 };
	ck_assert_int_eq(toeless_sgl_post(c.ctx, 0x70, &iov, 1, 0), 0);
	uint8_t d[100];
	th_fill_pattern(d, sizeof(d), 7);
	struct th_buf w;
	th_buf_init(&w);
	th_append_data_in(&w, DG_BOTH, 0x70, 0, 0, d, 40, 0, 0, 0);
	size_t bad = w.len;
	struct th_pdu p;
	memset(&p, 0, sizeof(p));
	th_bhs_data_in(p.bhs, 0x70, 1, 40, TOELESS_ISCSI_FLAG_FINAL | TOELESS_ISCSI_DATAIN_STATUS, 0, 0);
	p.data = d + 40;
	p.data_len = 60;
	p.digests = DG_BOTH;
	if (_i == 0) {
		p.corrupt = TH_CORRUPT_HDR_DIGEST;
	} else if (_i == 1) {
		p.corrupt = TH_CORRUPT_BYTE;
		p.corrupt_off = 5; /* DataSegmentLength high byte: 60 + 4 MiB */
	} else {
		p.corrupt = TH_CORRUPT_BYTE;
		p.corrupt_off = 43; /* Buffer Offset: 40 -> 104 (0x28 ^ 0x40), past the SGL */
	}
	th_pdu_append(&w, &p);
	th_feed(c.peer, c.fd, w.p, w.len);
	struct toeless_pdu pdu;
	ck_assert_int_eq(th_recv(c.ctx, c.fd, &pdu, TH_TIMEOUT_MS), 0);
	ck_assert_int_eq(th_recv(c.ctx, c.fd, &pdu, TH_TIMEOUT_MS), -EBADMSG);
	ck_assert_int_eq(pdu.status, -EBADMSG);
	ck_assert_uint_eq(pdu.hdr_digest, TOELESS_DIGEST_BAD);
	ck_assert_mem_eq(pdu.bhs, w.p + bad, 48);
	ck_assert_uint_eq(pdu.stream_pos, bad);
	ck_assert_uint_eq(pdu.flags & (TOELESS_PDU_F_PLACED | TOELESS_PDU_F_TASK_DONE), 0);
	ck_assert_mem_eq(b, d, 40);
	ck_assert(all_zero(b + 40, 60));
	ck_assert(th_canary_ok(b, 100));
	assert_failed(&c, -EBADMSG);
	struct toeless_stats st;
	th_ctx_stats(c.ctx, &st);
	ck_assert_uint_eq(st.hdr_digest_errors, 1);
	ck_assert_uint_eq(st.hdr_digests_checked, 2);
	ck_assert_uint_eq(st.pdus_rx, 2); /* the header with the bad digest was delivered too */
	th_buf_free(&w);
	th_canary_free(b);
	th_conn_close(&c);
}
END_TEST

/* Data digest mismatch on a placed Data-In: -EBADMSG, data_digest BAD,
 * the task completes -EBADMSG with data_digest BAD, the connection goes on.
 * _i: 0 the digest itself, 1 a payload byte, 2 a pad byte; bit 2: TCP. */
START_TEST(test_data_digest_bad_placed)
{
	struct th_conn c;
	th_conn_open(&c, (enum th_sock)(_i >> 2), DG_BOTH, 0);
	uint8_t *b = th_canary_alloc(99);
	struct iovec iov = { b, 99 };
	ck_assert_int_eq(toeless_sgl_post(c.ctx, 0x80, &iov, 1, 0x80), 0);
	uint8_t d[99];
	th_fill_pattern(d, sizeof(d), 8);
	struct th_buf w;
	th_buf_init(&w);
	th_append_data_in(&w, DG_BOTH, 0x80, 0, 0, d, 33, 0, 0, 0);
	struct th_pdu p;
	memset(&p, 0, sizeof(p));
	th_bhs_data_in(p.bhs, 0x80, 1, 33, 0, 0, 0);
	p.data = d + 33;
	p.data_len = 33; /* pad 3 */
	p.digests = DG_BOTH;
	switch (_i & 3) {
	case 0: p.corrupt = TH_CORRUPT_DATA_DIGEST; break;
	case 1:
		p.corrupt = TH_CORRUPT_BYTE;
		p.corrupt_off = 52 + 17;
		break;
	default:
		p.corrupt = TH_CORRUPT_BYTE;
		p.corrupt_off = 52 + 33 + 1;
		break;
	}
	size_t bad = th_pdu_append(&w, &p);
	th_append_data_in(&w, DG_BOTH, 0x80, 2, 66, d + 66, 33, TOELESS_ISCSI_FLAG_FINAL | TOELESS_ISCSI_DATAIN_STATUS,
			  0, 0);
	uint8_t bhs[48];
	th_bhs_nop_in(bhs, 0x81, 0xffffffff);
	th_append_bhs(&w, DG_BOTH, bhs, "after", 5);
	th_feed(c.peer, c.fd, w.p, w.len);
	struct toeless_pdu pdu;
	ck_assert_int_eq(th_recv(c.ctx, c.fd, &pdu, TH_TIMEOUT_MS), 0);
	ck_assert_uint_eq(pdu.data_digest, TOELESS_DIGEST_OK);
	ck_assert_int_eq(th_recv(c.ctx, c.fd, &pdu, TH_TIMEOUT_MS), -EBADMSG);
	ck_assert_int_eq(pdu.status, -EBADMSG);
	ck_assert_uint_eq(pdu.stream_pos, bad);
	ck_assert_uint_eq(pdu.hdr_digest, TOELESS_DIGEST_OK);
	ck_assert_uint_eq(pdu.data_digest, TOELESS_DIGEST_BAD);
	ck_assert_uint_eq(pdu.itt, 0x80);
	ck_assert_int_eq(th_recv(c.ctx, c.fd, &pdu, TH_TIMEOUT_MS), 0);
	ck_assert_uint_eq(pdu.flags & TOELESS_PDU_F_TASK_DONE, TOELESS_PDU_F_TASK_DONE);
	ck_assert_uint_eq(pdu.data_digest, TOELESS_DIGEST_OK);
	/* the connection is fine */
	ck_assert_int_eq(th_recv(c.ctx, c.fd, &pdu, TH_TIMEOUT_MS), 0);
	ck_assert_mem_eq(pdu.data, "after", 5);
	ck_assert(th_canary_ok(b, 99));
	struct toeless_completion q[2];
	ck_assert_int_eq(th_cq_drain(c.cq, q, 2), 1);
	ck_assert_uint_eq(q[0].type, TOELESS_CQE_SGL);
	ck_assert_int_eq(q[0].status, -EBADMSG);
	ck_assert_uint_eq(q[0].data_digest, TOELESS_DIGEST_BAD);
	ck_assert_uint_eq(q[0].user_data, 0x80);
	struct toeless_stats st;
	th_ctx_stats(c.ctx, &st);
	ck_assert_uint_eq(st.data_digest_errors, 1);
	ck_assert_uint_eq(st.data_digests_checked, 4);
	ck_assert_uint_eq(st.sgl_failed, 1);
	ck_assert_uint_eq(st.sgl_completed, 0);
	th_buf_free(&w);
	th_canary_free(b);
	th_conn_close(&c);
}
END_TEST

/* Data digest mismatch on a slow-path PDU: -EBADMSG, data_digest BAD; the
 * context goes on.  _i: 0 NOP-In, 1 Data-In for an unposted ITT, 2 a SCSI
 * Response ending a posted task (which then fails -EBADMSG). */
START_TEST(test_data_digest_bad_slow)
{
	struct th_conn c;
	th_conn_open(&c, TH_SOCK_UNIX, DG_BOTH, 0);
	uint8_t buf[16];
	memset(buf, 0, sizeof(buf));
	struct iovec iov = { buf, 16 };
	ck_assert_int_eq(toeless_sgl_post(c.ctx, 0x92, &iov, 1, 0x92), 0);
	struct th_pdu p;
	memset(&p, 0, sizeof(p));
	if (_i == 0)
		th_bhs_nop_in(p.bhs, 0x90, 0xffffffff);
	else if (_i == 1)
		th_bhs_data_in(p.bhs, 0x91, 0, 0, TOELESS_ISCSI_FLAG_FINAL, 0, 0);
	else
		th_bhs_scsi_rsp(p.bhs, 0x92, 0, 0x02, 0, 0);
	uint8_t d[22];
	th_fill_pattern(d, sizeof(d), 9);
	p.data = d;
	p.data_len = 22;
	p.digests = DG_BOTH;
	p.corrupt = TH_CORRUPT_DATA_DIGEST;
	struct th_buf w;
	th_buf_init(&w);
	th_pdu_append(&w, &p);
	uint8_t bhs[48];
	th_bhs_nop_in(bhs, 0x93, 0xffffffff);
	th_append_bhs(&w, DG_BOTH, bhs, "ok", 2);
	th_feed(c.peer, c.fd, w.p, w.len);
	struct toeless_pdu pdu;
	ck_assert_int_eq(th_recv(c.ctx, c.fd, &pdu, TH_TIMEOUT_MS), -EBADMSG);
	ck_assert_int_eq(pdu.status, -EBADMSG);
	ck_assert_uint_eq(pdu.hdr_digest, TOELESS_DIGEST_OK);
	ck_assert_uint_eq(pdu.data_digest, TOELESS_DIGEST_BAD);
	ck_assert_uint_eq(pdu.data_len, 22);
	ck_assert_int_eq(th_recv(c.ctx, c.fd, &pdu, TH_TIMEOUT_MS), 0);
	ck_assert_uint_eq(pdu.itt, 0x93);
	ck_assert_mem_eq(pdu.data, "ok", 2);
	struct toeless_completion q[2];
	int n = th_cq_drain(c.cq, q, 2);
	if (_i == 2) {
		ck_assert_int_eq(n, 1);
		ck_assert_uint_eq(q[0].type, TOELESS_CQE_SGL);
		ck_assert_int_eq(q[0].status, -EBADMSG);
		ck_assert_uint_eq(q[0].data_digest, TOELESS_DIGEST_BAD);
	} else {
		ck_assert_int_eq(n, 0);
	}
	ck_assert(all_zero(buf, 16));
	struct toeless_stats st;
	th_ctx_stats(c.ctx, &st);
	ck_assert_uint_eq(st.data_digest_errors, 1);
	th_buf_free(&w);
	th_conn_close(&c);
}
END_TEST

/* Send: data longer than params.max_send_dsl (-EMSGSIZE) and bad AHS
 * lengths (-EINVAL) send nothing and leave the context usable. */
START_TEST(test_send_bad)
{
	struct toeless_ctx_attr a;
	th_ctx_attr_init(&a, -1, NULL, DG_BOTH, 0);
	a.params.max_send_dsl = 600;
	struct th_conn c;
	th_conn_open_attr(&c, TH_SOCK_UNIX, &a);
	uint8_t bhs[48], data[700], ahs[1024];
	th_bhs_init(bhs, TOELESS_ISCSI_OP_SCSI_CMD, 0x80, 1);
	memset(data, 0x5a, sizeof(data));
	memset(ahs, 0, sizeof(ahs));
	struct iovec iov[2] = { { data, 300 }, { data + 300, 301 } };
	ck_assert_int_eq(toeless_pdu_send(c.ctx, bhs, NULL, 0, iov, 2), -EMSGSIZE);
	for (uint32_t bad = 1; bad < 4; bad++)
		ck_assert_int_eq(toeless_pdu_send(c.ctx, bhs, ahs, bad, NULL, 0), -EINVAL);
	ck_assert_int_eq(toeless_pdu_send(c.ctx, bhs, ahs, 1021, NULL, 0), -EINVAL);
	ck_assert_int_eq(toeless_pdu_send(c.ctx, bhs, ahs, 1024, NULL, 0), -EINVAL);
	ck_assert_int_eq(toeless_pdu_send(c.ctx, bhs, ahs, 6, NULL, 0), -EINVAL);
	ck_assert_int_eq(th_inq(c.peer), 0);
	struct toeless_stats st;
	th_ctx_stats(c.ctx, &st);
	ck_assert_uint_eq(st.bytes_tx, 0);
	ck_assert_uint_eq(st.pdus_tx, 0);
	/* exactly the limit is fine */
	iov[1].iov_len = 300;
	ck_assert_int_eq(toeless_pdu_send(c.ctx, bhs, NULL, 0, iov, 2), 0);
	uint8_t got[48 + 4 + 600 + 4];
	ck_assert_int_eq(th_read_full(c.peer, got, sizeof(got), TH_TIMEOUT_MS), 0);
	struct th_parsed pp;
	ck_assert_uint_eq(th_pdu_parse(got, sizeof(got), DG_BOTH, &pp), sizeof(got));
	ck_assert_uint_eq(pp.data_len, 600);
	ck_assert_int_eq(th_inq(c.peer), 0);
	th_conn_close(&c);
}
END_TEST

/* A TCP reset from the peer (at a PDU boundary): -ECONNRESET, context failed. */
START_TEST(test_peer_reset)
{
	struct th_conn c;
	th_conn_open(&c, TH_SOCK_TCP, 0, 0);
	uint8_t bhs[48];
	th_bhs_nop_in(bhs, 0xc0, 0xffffffff);
	struct th_buf w;
	th_buf_init(&w);
	th_append_bhs(&w, 0, bhs, "abc", 3);
	th_feed(c.peer, c.fd, w.p, w.len);
	struct toeless_pdu pdu;
	ck_assert_int_eq(th_recv(c.ctx, c.fd, &pdu, TH_TIMEOUT_MS), 0);
	/* unread data in the peer's receive queue makes close() send a RST */
	uint8_t out[48];
	th_bhs_init(out, TOELESS_ISCSI_OP_NOP_OUT, 0x80, 1);
	ck_assert_int_eq(toeless_pdu_send(c.ctx, out, NULL, 0, NULL, 0), 0);
	ck_assert_int_eq(th_read_full(c.peer, out, 1, TH_TIMEOUT_MS), 0); /* 47 bytes stay unread */
	close(c.peer);
	c.peer = -1;
	int rc = th_recv(c.ctx, c.fd, &pdu, TH_TIMEOUT_MS);
	ck_assert_int_eq(rc, -ECONNRESET);
	assert_failed(&c, -ECONNRESET);
	th_buf_free(&w);
	th_conn_close(&c);
}
END_TEST

/* Data longer than a DataSegmentLength can say (2^24 - 1) is refused even
 * when no max_send_dsl is set: the 24-bit field must never wrap. */
START_TEST(test_send_dsl_overflow)
{
	struct th_conn c;
	th_conn_open(&c, TH_SOCK_UNIX, 0, 0);
	enum { CHUNK = 1 << 20 };
	uint8_t *big = calloc(1, CHUNK);
	struct iovec iov[17];
	for (int i = 0; i < 17; i++)
		iov[i] = (struct iovec){ big, CHUNK };
	iov[16].iov_len = 0; /* 16 MiB exactly: one byte too many */
	uint8_t bhs[48];
	th_bhs_init(bhs, TOELESS_ISCSI_OP_DATA_OUT, 0x80, 1);
	ck_assert_int_eq(toeless_pdu_send(c.ctx, bhs, NULL, 0, iov, 17), -EMSGSIZE);
	iov[16].iov_len = CHUNK;
	ck_assert_int_eq(toeless_pdu_send(c.ctx, bhs, NULL, 0, iov, 17), -EMSGSIZE);
	ck_assert_int_eq(th_inq(c.peer), 0);
	struct toeless_stats st;
	th_ctx_stats(c.ctx, &st);
	ck_assert_uint_eq(st.bytes_tx, 0);
	free(big);
	th_conn_close(&c);
}
END_TEST

static Suite *badinput_suite(void)
{
	Suite *s = suite_create("badinput");
	TH_TEST(s, test_null_args);
	TH_TEST(s, test_post_e2big);
	TH_TEST(s, test_post_twice);
	TH_TEST(s, test_reserved_itt);
	TH_TEST(s, test_cancel_unknown);
	TH_TEST(s, test_max_tasks);
	TH_LOOP_TEST(s, test_datain_past_end, 0, 4);
	TH_LOOP_TEST(s, test_discarded_digest, 0, 2);
	TH_LOOP_TEST(s, test_guard_pages, 0, 2);
	TH_LOOP_TEST(s, test_datain_overlap, 0, 4);
	TH_TEST(s, test_datain_unposted);
	TH_LOOP_TEST(s, test_dsl_too_big, 0, 3);
	TH_LOOP_TEST(s, test_ahs_past_pdu, 0, 4);
	TH_LOOP_TEST(s, test_peer_close, 0, 2);
	TH_LOOP_TEST(s, test_hdr_digest_bad, 0, 3);
	TH_LOOP_TEST(s, test_data_digest_bad_placed, 0, 8);
	TH_LOOP_TEST(s, test_data_digest_bad_slow, 0, 3);
	TH_TEST(s, test_send_bad);
	TH_TEST(s, test_peer_reset);
	TH_TEST(s, test_send_dsl_overflow);
	return s;
}

int main(void)
{
	return th_run_suite(badinput_suite());
}
