/*
 * What a good SCSI status promises: a task whose target reports GOOD (or a
 * status in the final Data-In) completes with status 0 only when the bytes
 * placed are exactly [0, SGL length - residual) under underflow, or
 * [0, SGL length) otherwise; else -ENODATA, with bytes_valid saying how
 * many leading bytes arrived (toeless.h, struct toeless_completion).
 *
 * Every case runs on "sw" (software places everything) and on "mock" (the
 * engine places whole PDUs, and with _i odd, only the first 100 bytes of
 * each, software the rest), so the judgement does not depend on who placed.
 *
 * SPDX-License-Identifier: MIT
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "toeless.h"
#include "toeless_mock.h"
#include "pdu.h"
#include "helpers.h"

#define DD      TOELESS_CTX_DATA_DIGEST
#define FINAL_S (TOELESS_ISCSI_FLAG_FINAL | TOELESS_ISCSI_DATAIN_STATUS)
#define LEN     2048u

struct cc {
	struct th_conn c;
	uint8_t *buf;     /* the SGL: LEN bytes between canaries */
	uint8_t src[LEN]; /* what the target sends */
	struct th_buf w;
};

/* _i: 0 sw, 1 mock placing whole PDUs, 2 mock placing 100 bytes of each */
static void cc_open(struct cc *t, int variant)
{
	struct toeless_ctx_attr a;
	th_ctx_attr_init(&a, -1, NULL, DD, 0);
	th_conn_open_spec(&t->c, TH_SOCK_UNIX, variant ? "mock" : "sw", &a);
	if (variant == 2) {
		struct toeless_mock_fault f = { .size = sizeof(f),
						.kind = TOELESS_MOCK_FAULT_PARTIAL_PLACEMENT,
						.count = TOELESS_MOCK_FOREVER,
						.value = 100 };
		ck_assert_int_gt(toeless_mock_fault_add(t->c.dev, &f), 0);
	}
	t->buf = th_canary_alloc(LEN);
	memset(t->buf, 0, LEN);
	th_fill_pattern(t->src, LEN, 21);
	th_buf_init(&t->w);
	struct iovec iov[2] = { { t->buf, 700 }, { t->buf + 700, LEN - 700 } };
	ck_assert_int_eq(toeless_sgl_post(t->c.ctx, 0x51, iov, 2, 0x51), 0);
}

static void cc_data(struct cc *t, uint32_t datasn, uint32_t off, uint32_t len, uint8_t flags, uint8_t status,
		    uint32_t residual)
{
	th_append_data_in(&t->w, DD, 0x51, datasn, off, t->src + off, len, flags, status, residual);
}

static void cc_rsp(struct cc *t, uint8_t status, uint8_t flags, uint32_t residual)
{
	uint8_t bhs[48];
	th_bhs_scsi_rsp(bhs, 0x51, 0, status, flags, residual);
	th_append_bhs(&t->w, DD, bhs, NULL, 0);
}

/* Send what was built, receive every PDU, return the one completion. */
static struct toeless_completion cc_run(struct cc *t, int npdus, int variant)
{
	th_feed(t->c.peer, t->c.fd, t->w.p, t->w.len);
	struct toeless_pdu pdu;
	for (int i = 0; i < npdus; i++)
		ck_assert_int_eq(th_recv(t->c.ctx, t->c.fd, &pdu, TH_TIMEOUT_MS), 0);
	struct toeless_completion q;
	ck_assert_int_eq(th_cq_wait(t->c.cq, &q, 1, TH_TIMEOUT_MS), 1);
	ck_assert_int_eq(q.type, TOELESS_CQE_SGL);
	ck_assert_uint_eq(q.itt, 0x51);
	ck_assert(th_canary_ok(t->buf, LEN));
	if (variant && q.bytes_placed)
		ck_assert(q.flags & TOELESS_CQE_F_ENGINE); /* the engine did place some of it */
	return q;
}

static void cc_close(struct cc *t)
{
	th_buf_free(&t->w);
	th_canary_free(t->buf);
	th_conn_close(&t->c);
}

/* A hole in the middle hidden behind an underflow residual of its size. */
START_TEST(test_hole_under_residual)
{
	struct cc t;
	cc_open(&t, _i);
	cc_data(&t, 0, 0, 512, 0, 0, 0);
	cc_data(&t, 1, 1024, LEN - 1024, FINAL_S | TOELESS_ISCSI_DATAIN_UNDERFLOW, 0, 512);
	struct toeless_completion q = cc_run(&t, 2, _i);
	ck_assert_int_eq(q.status, -ENODATA);
	ck_assert_uint_eq(q.bytes_placed, LEN - 512);
	ck_assert_uint_eq(q.bytes_valid, 512);
	ck_assert(q.flags & TOELESS_CQE_F_UNDERFLOW);
	ck_assert_mem_eq(t.buf, t.src, 512);
	struct toeless_stats st;
	th_ctx_stats(t.c.ctx, &st);
	ck_assert_uint_eq(st.sgl_failed, 1);
	ck_assert_uint_eq(st.sgl_completed, 0);
	cc_close(&t);
}
END_TEST

/* All bytes sent, yet the residual says the last 512 were not: data past
 * SGL length - residual. */
START_TEST(test_data_past_residual)
{
	struct cc t;
	cc_open(&t, _i);
	cc_data(&t, 0, 0, LEN, FINAL_S | TOELESS_ISCSI_DATAIN_UNDERFLOW, 0, 512);
	struct toeless_completion q = cc_run(&t, 1, _i);
	ck_assert_int_eq(q.status, -ENODATA);
	ck_assert_uint_eq(q.bytes_valid, LEN);
	cc_close(&t);
}
END_TEST

/* GOOD without underflow but the tail never came: by the final Data-In,
 * and by a SCSI Response. */
START_TEST(test_missing_tail)
{
	for (int by_rsp = 0; by_rsp < 2; by_rsp++) {
		struct cc t;
		cc_open(&t, _i);
		cc_data(&t, 0, 0, 1000, by_rsp ? TOELESS_ISCSI_FLAG_FINAL : FINAL_S, 0, 0);
		if (by_rsp)
			cc_rsp(&t, 0, 0, 0);
		struct toeless_completion q = cc_run(&t, 1 + by_rsp, _i);
		ck_assert_int_eq(q.status, -ENODATA);
		ck_assert_uint_eq(q.bytes_valid, 1000);
		ck_assert_mem_eq(t.buf, t.src, 1000);
		cc_close(&t);
	}
}
END_TEST

/* No Data-In at all: with residual == SGL length under underflow the
 * target promised nothing and [0, 0) is exact (status 0, bytes_valid 0);
 * without the underflow it promised everything (-ENODATA); with the
 * overflow bit too. */
START_TEST(test_no_data)
{
	static const struct {
		uint8_t flags;
		uint32_t residual;
		int status;
	} k[] = {
		{ TOELESS_ISCSI_RSP_UNDERFLOW, LEN, 0 },
		{ TOELESS_ISCSI_RSP_UNDERFLOW, LEN + 100, 0 },
		{ TOELESS_ISCSI_RSP_UNDERFLOW, LEN - 1, -ENODATA },
		{ 0, 0, -ENODATA },
		{ TOELESS_ISCSI_RSP_OVERFLOW, 5, -ENODATA },
	};
	for (size_t n = 0; n < sizeof(k) / sizeof(k[0]); n++) {
		struct cc t;
		cc_open(&t, _i);
		cc_rsp(&t, 0, k[n].flags, k[n].residual);
		struct toeless_completion q = cc_run(&t, 1, 0);
		ck_assert_int_eq(q.status, k[n].status);
		ck_assert_uint_eq(q.bytes_valid, 0);
		ck_assert_uint_eq(q.bytes_placed, 0);
		cc_close(&t);
	}
}
END_TEST

/* What a good status promises, kept: exact underflow, overflow with all
 * bytes, out of order but complete. */
START_TEST(test_exact_is_success)
{
	for (int k = 0; k < 3; k++) {
		struct cc t;
		cc_open(&t, _i);
		uint32_t want = LEN;
		if (k == 0) {
			want = LEN - 512;
			cc_data(&t, 0, 0, 1000, 0, 0, 0);
			cc_data(&t, 1, 1000, want - 1000, FINAL_S | TOELESS_ISCSI_DATAIN_UNDERFLOW, 0, 512);
		} else if (k == 1) {
			cc_data(&t, 0, 0, LEN, FINAL_S | TOELESS_ISCSI_DATAIN_OVERFLOW, 0, 4096);
		} else {
			cc_data(&t, 0, 1024, LEN - 1024, 0, 0, 0);
			cc_data(&t, 1, 0, 1024, TOELESS_ISCSI_FLAG_FINAL, 0, 0);
			cc_rsp(&t, 0, 0, 0);
		}
		struct toeless_completion q = cc_run(&t, k == 2 ? 3 : k == 0 ? 2 : 1, _i);
		ck_assert_int_eq(q.status, 0);
		ck_assert_uint_eq(q.bytes_valid, want);
		ck_assert_uint_eq(q.bytes_placed, want);
		ck_assert_mem_eq(t.buf, t.src, want);
		cc_close(&t);
	}
}
END_TEST

/* CHECK CONDITION promises no data: not judged (status 0), bytes_valid
 * still tells what arrived. */
START_TEST(test_check_condition_not_judged)
{
	struct cc t;
	cc_open(&t, _i);
	cc_data(&t, 0, 0, 300, 0, 0, 0);
	cc_data(&t, 1, 600, 100, TOELESS_ISCSI_FLAG_FINAL, 0, 0);
	cc_rsp(&t, 0x02, 0, 0);
	struct toeless_completion q = cc_run(&t, 3, _i);
	ck_assert_int_eq(q.status, 0);
	ck_assert_uint_eq(q.scsi_status, 0x02);
	ck_assert_uint_eq(q.bytes_valid, 300);
	ck_assert_uint_eq(q.bytes_placed, 400);
	cc_close(&t);
}
END_TEST

/* Another error wins over -ENODATA: a duplicate stays -EEXIST. */
START_TEST(test_first_error_wins)
{
	struct cc t;
	cc_open(&t, _i);
	cc_data(&t, 0, 0, 512, 0, 0, 0);
	cc_data(&t, 1, 0, 512, FINAL_S, 0, 0);
	th_feed(t.c.peer, t.c.fd, t.w.p, t.w.len);
	struct toeless_pdu pdu;
	ck_assert_int_eq(th_recv(t.c.ctx, t.c.fd, &pdu, TH_TIMEOUT_MS), 0);
	ck_assert_int_eq(th_recv(t.c.ctx, t.c.fd, &pdu, TH_TIMEOUT_MS), -EEXIST);
	struct toeless_completion q;
	ck_assert_int_eq(th_cq_wait(t.c.cq, &q, 1, TH_TIMEOUT_MS), 1);
	ck_assert_int_eq(q.status, -EEXIST);
	ck_assert_uint_eq(q.bytes_valid, 512);
	cc_close(&t);
}
END_TEST

START_TEST(test_strerror)
{
	ck_assert_str_ne(toeless_strerror(-ENODATA), "unknown error");
	ck_assert_uint_eq(offsetof(struct toeless_completion, bytes_valid), 64);
	ck_assert_uint_eq(sizeof(struct toeless_completion), 88);
}
END_TEST

static Suite *complete_suite(void)
{
	Suite *s = suite_create("complete");
	TH_LOOP_TEST(s, test_hole_under_residual, 0, 3);
	TH_LOOP_TEST(s, test_data_past_residual, 0, 3);
	TH_LOOP_TEST(s, test_missing_tail, 0, 3);
	TH_LOOP_TEST(s, test_no_data, 0, 3);
	TH_LOOP_TEST(s, test_exact_is_success, 0, 3);
	TH_LOOP_TEST(s, test_check_condition_not_judged, 0, 3);
	TH_LOOP_TEST(s, test_first_error_wins, 0, 3);
	TH_TEST(s, test_strerror);
	return s;
}

int main(void)
{
	return th_run_suite(complete_suite());
}
