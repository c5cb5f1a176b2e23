/*
 * The mock engine: placement by the "engine" (the counters prove who placed
 * what), and every fault it can inject, with the error codes, completion
 * statuses and counters the library must show for each; data stays correct
 * and a corrupted digest is never reported good.
 *
 * Data-In PDUs are serialised by tests/helpers.c (digests from its own
 * bitwise CRC32C) and fed whole into a socket pair before the receive, so
 * the engine can always see a PDU's payload when it is asked about it.
 *
 * SPDX-License-Identifier: MIT
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "toeless.h"
#include "toeless_mock.h"
#include "pdu.h"
#include "helpers.h"

#define DIG_HD  TOELESS_CTX_HEADER_DIGEST
#define DIG_DD  TOELESS_CTX_DATA_DIGEST
#define DIG_ALL (DIG_HD | DIG_DD)
#define FINAL_S (TOELESS_ISCSI_FLAG_FINAL | TOELESS_ISCSI_DATAIN_STATUS)

/* ---- one connection to a mock device ---- */

struct mc {
	int fd, peer;
	unsigned digests;
	toeless_device *dev;
	toeless_cq *cq;
	toeless_ctx *ctx;
};

/* th_conn_open_spec's connection, with the digests kept for the Data-In we build */
static void mc_open(struct mc *c, const char *spec, enum th_sock kind, unsigned digests)
{
	struct th_conn t;
	struct toeless_ctx_attr a;

	th_ctx_attr_init(&a, -1, NULL, digests, 0);
	th_conn_open_spec(&t, kind, spec, &a);
	*c = (struct mc){ .fd = t.fd, .peer = t.peer, .digests = digests, .dev = t.dev, .cq = t.cq, .ctx = t.ctx };
}

static void mc_close(struct mc *c)
{
	struct toeless_completion cqe[64];
	if (c->ctx)
		ck_assert_int_eq(toeless_ctx_destroy(c->ctx), 0);
	c->ctx = NULL;
	while (toeless_cq_poll(c->cq, cqe, 64) > 0)
		;
	ck_assert_int_eq(toeless_cq_destroy(c->cq), 0);
	ck_assert_int_eq(toeless_device_close(c->dev), 0);
	close(c->fd);
	close(c->peer);
}

static int mc_recv(struct mc *c, struct toeless_pdu *pdu)
{
	return th_recv(c->ctx, c->fd, pdu, TH_TIMEOUT_MS);
}

/* Put a serialised stream into the socket and wait until it is readable. */
static void mc_feed(struct mc *c, struct th_buf *b)
{
	th_feed(c->peer, c->fd, b->p, b->len);
	b->len = 0;
}

/* One Data-In, fed at once. */
static void mc_data_in(struct mc *c, uint32_t itt, uint32_t sn, uint32_t off, const uint8_t *src, uint32_t len,
		       uint8_t flags)
{
	struct th_buf b;
	th_buf_init(&b);
	th_append_data_in(&b, c->digests, itt, sn, off, src + off, len, flags, 0, 0);
	mc_feed(c, &b);
	th_buf_free(&b);
}

static void post1(struct mc *c, uint32_t itt, void *buf, size_t len, uint64_t cookie)
{
	struct iovec iov = { buf, len };
	ck_assert_int_eq(toeless_sgl_post(c->ctx, itt, &iov, 1, cookie), 0);
}

static struct toeless_mock_stats mstats(toeless_device *dev)
{
	struct toeless_mock_stats s;
	memset(&s, 0, sizeof(s));
	s.size = sizeof(s);
	ck_assert_int_eq(toeless_mock_stats(dev, &s), 0);
	return s;
}

static struct toeless_stats cstats(toeless_ctx *ctx)
{
	struct toeless_stats s;
	th_ctx_stats(ctx, &s);
	return s;
}

static struct toeless_stats dstats(toeless_device *dev)
{
	struct toeless_stats s;
	memset(&s, 0, sizeof(s));
	s.size = sizeof(s);
	ck_assert_int_eq(toeless_device_stats(dev, &s), 0);
	return s;
}

static int add_fault(toeless_device *dev, uint32_t kind, uint32_t after, uint32_t count, uint32_t value)
{
	struct toeless_mock_fault f;
	memset(&f, 0, sizeof(f));
	f.size = sizeof(f);
	f.kind = kind;
	f.after = after;
	f.count = count;
	f.value = value;
	int id = toeless_mock_fault_add(dev, &f);
	ck_assert_int_gt(id, 0);
	return id;
}

static int add_fault_itt(toeless_device *dev, uint32_t kind, uint32_t itt, uint32_t value)
{
	struct toeless_mock_fault f;
	memset(&f, 0, sizeof(f));
	f.size = sizeof(f);
	f.kind = kind;
	f.flags = TOELESS_MOCK_FAULT_F_ITT;
	f.itt = itt;
	f.value = value;
	int id = toeless_mock_fault_add(dev, &f);
	ck_assert_int_gt(id, 0);
	return id;
}

/* Exactly one SGL completion. */
static struct toeless_completion wait_sgl(struct mc *c)
{
	struct toeless_completion cqe[2];
	ck_assert_int_eq(th_cq_wait(c->cq, cqe, 1, TH_TIMEOUT_MS), 1);
	ck_assert_int_eq(cqe[0].type, TOELESS_CQE_SGL);
	ck_assert_int_eq(toeless_cq_poll(c->cq, cqe + 1, 1), 0);
	return cqe[0];
}

/* Drive the context (toeless_pdu_recv lets the engine progress) until one
 * completion arrives; returns the number of receive calls it took. */
static int drive_until_completion(struct mc *c, struct toeless_completion *out, int max_calls)
{
	for (int i = 1; i <= max_calls; i++) {
		struct toeless_pdu pdu;
		ck_assert_int_eq(toeless_pdu_recv(c->ctx, &pdu), -EAGAIN);
		int n = toeless_cq_poll(c->cq, out, 1);
		ck_assert_int_ge(n, 0);
		if (n == 1)
			return i;
	}
	return -1;
}

static int log_count(toeless_device *dev, uint32_t op, int32_t ret)
{
	struct toeless_mock_call calls[256];
	int n = toeless_mock_log(dev, calls, 256);
	ck_assert_int_ge(n, 0);
	int k = 0;
	for (int i = 0; i < n; i++)
		if (calls[i].op == op && calls[i].ret == ret)
			k++;
	return k;
}

/* ---- arguments, capabilities, the scripting API's own errors ---- */

START_TEST(test_args_and_caps)
{
	toeless_device *dev = th_dev_open("mock");
	struct toeless_caps caps;
	th_query(dev, &caps);
	ck_assert_str_eq(caps.backend, "mock");
	ck_assert_uint_eq(caps.flags, TOELESS_CAP_DDP | TOELESS_CAP_CRC_RX | TOELESS_CAP_CRC_ASYNC);
	ck_assert_uint_eq(caps.max_sge, 16);
	ck_assert_uint_eq(caps.max_tasks, 256);
	ck_assert_uint_eq(caps.max_contexts, 64);
	ck_assert_uint_eq(caps.max_crc_batch, 64);
	ck_assert_int_eq(toeless_device_close(dev), 0);

	dev = th_dev_open("mock:ddp=0,seed=5,max_sge=4,max_tasks=8,max_contexts=2,max_crc_batch=3,log=0");
	th_query(dev, &caps);
	ck_assert_uint_eq(caps.flags, TOELESS_CAP_CRC_RX | TOELESS_CAP_CRC_ASYNC);
	ck_assert_uint_eq(caps.max_sge, 4);
	ck_assert_uint_eq(caps.max_tasks, 8);
	ck_assert_uint_eq(caps.max_contexts, 2);
	ck_assert_uint_eq(caps.max_crc_batch, 3);
	struct toeless_mock_call call;
	ck_assert_int_eq(toeless_mock_log(dev, &call, 1), 0); /* log=0 keeps nothing */
	ck_assert_int_eq(toeless_device_close(dev), 0);

	dev = th_dev_open("mock:needs_reg=1,max_engine_tasks=0x10,crc_queue=8");
	th_query(dev, &caps);
	ck_assert(caps.flags & TOELESS_CAP_DDP_NEEDS_REG);
	ck_assert_int_eq(toeless_device_close(dev), 0);

	static const char *const bad[] = {
		"mock:bogus=1",      "mock:ddp=2",         "mock:ddp=",    "mock:ddp",
		"mock:=1",           "mock:ddp=1,,seed=2", "mock:seed=1,", "mock:max_sge=0",
		"mock:max_sge=5000", "mock:max_tasks=-1",  "mock:log=12x", "mock:max_recv_dsl=100",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		dev = NULL;
		ck_assert_msg(toeless_device_open(bad[i], NULL, &dev) == -EINVAL, "%s accepted", bad[i]);
		ck_assert_ptr_null(dev);
	}
}
END_TEST

START_TEST(test_api_rejects_non_mock)
{
	toeless_device *sw = th_dev_open("sw");
	struct toeless_mock_fault f = { .size = sizeof(f), .kind = TOELESS_MOCK_FAULT_DATA_DIGEST };
	struct toeless_mock_stats st = { .size = sizeof(st) };
	struct toeless_mock_call call;
	ck_assert_int_eq(toeless_mock_fault_add(sw, &f), -EINVAL);
	ck_assert_int_eq(toeless_mock_fault_add(NULL, &f), -EINVAL);
	ck_assert_int_eq(toeless_mock_fault_remove(sw, 1), -EINVAL);
	ck_assert_int_eq(toeless_mock_fault_clear(sw), -EINVAL);
	ck_assert_int_eq(toeless_mock_fault_fired(sw, 1), -EINVAL);
	ck_assert_int_eq(toeless_mock_stats(sw, &st), -EINVAL);
	ck_assert_int_eq(toeless_mock_stats(NULL, &st), -EINVAL);
	ck_assert_int_eq(toeless_mock_log(sw, &call, 1), -EINVAL);
	ck_assert_int_eq(toeless_mock_log_clear(sw), -EINVAL);
	ck_assert_int_eq(toeless_device_close(sw), 0);

	toeless_device *dev = th_dev_open("mock");
	ck_assert_int_eq(toeless_mock_fault_add(dev, NULL), -EINVAL);
	f.kind = 0;
	ck_assert_int_eq(toeless_mock_fault_add(dev, &f), -EINVAL);
	f.kind = 99;
	ck_assert_int_eq(toeless_mock_fault_add(dev, &f), -EINVAL);
	f.kind = TOELESS_MOCK_FAULT_DATA_DIGEST;
	f.flags = 1u << 7;
	ck_assert_int_eq(toeless_mock_fault_add(dev, &f), -EINVAL);
	f.flags = TOELESS_MOCK_FAULT_F_RANDOM;
	f.permille = 1001;
	ck_assert_int_eq(toeless_mock_fault_add(dev, &f), -EINVAL);
	f.flags = 0;
	f.size = 0;
	ck_assert_int_eq(toeless_mock_fault_add(dev, &f), -EINVAL);
	f.size = sizeof(f);
	ck_assert_int_eq(toeless_mock_log(dev, &call, 0), -EINVAL);
	st.size = 0;
	ck_assert_int_eq(toeless_mock_stats(dev, &st), -EINVAL);

	/* ids, removal, the table limit */
	int ids[32];
	for (int i = 0; i < 32; i++) {
		ids[i] = toeless_mock_fault_add(dev, &f);
		ck_assert_int_gt(ids[i], 0);
		if (i)
			ck_assert_int_gt(ids[i], ids[i - 1]);
	}
	ck_assert_int_eq(toeless_mock_fault_add(dev, &f), -ENOSPC);
	ck_assert_int_eq(toeless_mock_fault_fired(dev, ids[3]), 0);
	ck_assert_int_eq(toeless_mock_fault_remove(dev, ids[3]), 0);
	ck_assert_int_eq(toeless_mock_fault_remove(dev, ids[3]), -ENOENT);
	ck_assert_int_eq(toeless_mock_fault_fired(dev, ids[3]), -ENOENT);
	ck_assert_int_gt(toeless_mock_fault_add(dev, &f), ids[31]);
	ck_assert_int_eq(toeless_mock_fault_clear(dev), 0);
	ck_assert_int_eq(toeless_mock_fault_fired(dev, ids[0]), -ENOENT);

	/* a caller with a smaller (older) stats struct gets only that much */
	struct {
		struct toeless_mock_stats s;
		uint64_t guard;
	} small;
	memset(&small, 0xee, sizeof(small));
	small.s.size = offsetof(struct toeless_mock_stats, mr_reg);
	ck_assert_int_eq(toeless_mock_stats(dev, &small.s), 0);
	ck_assert_uint_eq(small.s.size, offsetof(struct toeless_mock_stats, mr_reg));
	ck_assert_uint_eq(small.s.mr_reg, 0xeeeeeeeeeeeeeeeeull);

	ck_assert_str_eq(toeless_mock_op_name(TOELESS_MOCK_OP_SGL_POST), "sgl_post");
	ck_assert_str_eq(toeless_mock_op_name(TOELESS_MOCK_EV_CRC_DONE), "crc_done");
	ck_assert_str_eq(toeless_mock_op_name(0), "?");
	ck_assert_str_eq(toeless_mock_fault_name(TOELESS_MOCK_FAULT_LOSE_SYNC), "lose_sync");
	ck_assert_str_eq(toeless_mock_fault_name(1000), "?");
	ck_assert_int_eq(toeless_device_close(dev), 0);
}
END_TEST

/* ---- placement by the engine ---- */

/* _i: bit 0 socket kind, bits 1-2 digests.  Four Data-In with pads 0..3,
 * out of order, into three SGEs between canaries; a NOP-In in between. */
START_TEST(test_engine_places)
{
	enum th_sock kind = (enum th_sock)(_i & 1);
	unsigned dig = (unsigned)(_i >> 1) & 3;
	bool dd = dig & DIG_DD;
	struct mc c;
	mc_open(&c, "mock", kind, dig);

	static const uint32_t len[4] = { 1000, 1001, 1002, 1003 };
	static const uint32_t off[4] = { 0, 1000, 2001, 3003 };
	const uint32_t total = 4006;
	uint8_t *src = malloc(total);
	th_fill_pattern(src, total, 11 + (uint32_t)_i);
	uint8_t *b0 = th_canary_alloc(1500), *b1 = th_canary_alloc(7), *b2 = th_canary_alloc(2499);
	struct iovec iov[3] = { { b0, 1500 }, { b1, 7 }, { b2, 2499 } };
	ck_assert_int_eq(toeless_sgl_post(c.ctx, 0x42, iov, 3, 0xc00c1e), 0);

	struct th_buf b;
	th_buf_init(&b);
	static const int order[4] = { 2, 0, 1, 3 };
	for (int k = 0; k < 4; k++) {
		int i = order[k];
		th_append_data_in(&b, dig, 0x42, (uint32_t)i, off[i], src + off[i], len[i], k == 3 ? FINAL_S : 0, 0, 0);
		if (k == 1) {
			uint8_t bhs[48];
			th_bhs_nop_in(bhs, 0x99, 0xffffffff);
			th_append_bhs(&b, dig, bhs, "hello", 5);
		}
	}
	mc_feed(&c, &b);

	struct toeless_pdu pdu;
	for (int k = 0; k < 5; k++) {
		ck_assert_int_eq(mc_recv(&c, &pdu), 0);
		ck_assert_int_eq(pdu.hdr_digest, (dig & DIG_HD) ? TOELESS_DIGEST_OK : TOELESS_DIGEST_NONE);
		ck_assert_int_eq(pdu.data_digest, dd ? TOELESS_DIGEST_OK : TOELESS_DIGEST_NONE);
		if (k == 2) {
			ck_assert_int_eq(pdu.opcode, TOELESS_ISCSI_OP_NOP_IN);
			ck_assert_uint_eq(pdu.flags & (TOELESS_PDU_F_PLACED | TOELESS_PDU_F_ENGINE), 0);
			ck_assert_ptr_nonnull(pdu.data);
			ck_assert_mem_eq(pdu.data, "hello", 5);
			continue;
		}
		ck_assert_int_eq(pdu.opcode, TOELESS_ISCSI_OP_DATA_IN);
		ck_assert_uint_eq(pdu.flags & (TOELESS_PDU_F_PLACED | TOELESS_PDU_F_ENGINE),
				  TOELESS_PDU_F_PLACED | TOELESS_PDU_F_ENGINE);
		ck_assert_ptr_null(pdu.data);
		ck_assert_uint_eq(pdu.user_data, 0xc00c1e);
	}
	ck_assert(pdu.flags & TOELESS_PDU_F_TASK_DONE);

	struct toeless_completion cqe = wait_sgl(&c);
	ck_assert_int_eq(cqe.status, 0);
	ck_assert_uint_eq(cqe.itt, 0x42);
	ck_assert_uint_eq(cqe.user_data, 0xc00c1e);
	ck_assert_uint_eq(cqe.bytes_placed, total);
	ck_assert_uint_eq(cqe.bytes_engine, total);
	ck_assert(cqe.flags & TOELESS_CQE_F_ENGINE);
	ck_assert(cqe.flags & TOELESS_CQE_F_SCSI_STATUS);
	ck_assert_int_eq(cqe.data_digest, dd ? TOELESS_DIGEST_OK : TOELESS_DIGEST_NONE);

	/* the bytes, and nothing outside them */
	ck_assert_mem_eq(b0, src, 1500);
	ck_assert_mem_eq(b1, src + 1500, 7);
	ck_assert_mem_eq(b2, src + 1507, 2499);
	ck_assert(th_canary_ok(b0, 1500) && th_canary_ok(b1, 7) && th_canary_ok(b2, 2499));

	/* the engine did it, software did not */
	struct toeless_stats st = cstats(c.ctx);
	ck_assert_uint_eq(st.data_in_placed, 4);
	ck_assert_uint_eq(st.bytes_placed_engine, total);
	ck_assert_uint_eq(st.bytes_placed_sw, 0);
	ck_assert_uint_eq(st.data_digests_engine, dd ? 4 : 0);
	/* ... but with the host's CPU (MSG_PEEK): not hardware placement */
	ck_assert_uint_eq(st.bytes_placed_engine_host, total);
	ck_assert_uint_eq(st.data_digests_engine_host, dd ? 4 : 0);
	ck_assert_uint_eq(st.data_digests_checked, dd ? 5 : 0); /* + the NOP-In, in software */
	ck_assert_uint_eq(st.sw_fallback_pdus, 0);
	ck_assert_uint_eq(st.engine_post_full, 0);
	ck_assert_uint_eq(st.bytes_slow_path, 5);
	ck_assert_uint_eq(st.sgl_completed, 1);
	struct toeless_mock_stats ms = mstats(c.dev);
	ck_assert_uint_eq(ms.sgl_post_accepted, 1);
	ck_assert_uint_eq(ms.rx_placed_full, 4);
	ck_assert_uint_eq(ms.rx_placed_partial, 0);
	ck_assert_uint_eq(ms.bytes_placed, total);
	ck_assert_uint_eq(ms.data_digests_ok, dd ? 4 : 0);
	ck_assert_uint_eq(ms.rx_pdu_answered, 4);
	ck_assert_uint_eq(ms.rx_pdu_declined, 1);
	ck_assert_uint_eq(ms.sgl_release, 1);
	ck_assert_uint_eq(ms.engine_sgls, 0);
	ck_assert_uint_eq(ms.faults_fired, 0);
	ck_assert_uint_eq(ms.anomalies, 0);

	/* the log tells the same story, call by call */
	struct toeless_mock_call calls[64];
	int n = toeless_mock_log(c.dev, calls, 64);
	int placed = 0, posts = 0;
	for (int i = 0; i < n; i++) {
		if (i)
			ck_assert_uint_eq(calls[i].seq, calls[i - 1].seq + 1);
		if (calls[i].op == TOELESS_MOCK_OP_RX_PDU && calls[i].ret == 0) {
			ck_assert_uint_eq(calls[i].itt, 0x42);
			ck_assert_uint_eq(calls[i].value, len[order[placed]]);
			placed++;
		}
		if (calls[i].op == TOELESS_MOCK_OP_SGL_POST) {
			ck_assert_uint_eq(calls[i].value, 3);
			ck_assert_uint_eq(calls[i].ctx_id, 1);
			posts++;
		}
	}
	ck_assert_int_eq(placed, 4);
	ck_assert_int_eq(posts, 1);

	th_canary_free(b0);
	th_canary_free(b1);
	th_canary_free(b2);
	th_buf_free(&b);
	free(src);
	mc_close(&c);
}
END_TEST

/* A PDU whose payload has not all arrived when its header is read is
 * missed by the engine; software places it. */
START_TEST(test_engine_misses_incomplete_pdu)
{
	struct mc c;
	mc_open(&c, "mock", TH_SOCK_UNIX, DIG_DD);
	uint8_t src[2000], dst[2000];
	th_fill_pattern(src, sizeof(src), 3);
	post1(&c, 7, dst, sizeof(dst), 1);

	struct th_buf b;
	th_buf_init(&b);
	th_append_data_in(&b, DIG_DD, 7, 0, 0, src, 2000, FINAL_S, 0, 0);
	size_t cut = 48 + 700;
	th_feed(c.peer, c.fd, b.p, cut);
	struct toeless_pdu pdu;
	ck_assert_int_eq(toeless_pdu_recv(c.ctx, &pdu), -EAGAIN);
	th_feed(c.peer, c.fd, b.p + cut, b.len - cut);
	ck_assert_int_eq(mc_recv(&c, &pdu), 0);
	ck_assert(pdu.flags & TOELESS_PDU_F_PLACED);
	ck_assert(!(pdu.flags & TOELESS_PDU_F_ENGINE));
	ck_assert_int_eq(pdu.data_digest, TOELESS_DIGEST_OK);
	ck_assert_mem_eq(dst, src, sizeof(src));

	struct toeless_completion cqe = wait_sgl(&c);
	ck_assert_int_eq(cqe.status, 0);
	ck_assert_uint_eq(cqe.bytes_engine, 0);
	ck_assert(!(cqe.flags & TOELESS_CQE_F_ENGINE));
	struct toeless_stats st = cstats(c.ctx);
	ck_assert_uint_eq(st.sw_fallback_pdus, 1);
	ck_assert_uint_eq(st.bytes_placed_sw, 2000);
	ck_assert_uint_eq(st.bytes_placed_engine, 0);
	ck_assert_uint_eq(st.data_digests_engine, 0);
	ck_assert_uint_eq(st.data_digests_checked, 1);
	struct toeless_mock_stats ms = mstats(c.dev);
	ck_assert_uint_eq(ms.rx_pdu_declined, 1);
	ck_assert_uint_eq(ms.bytes_placed, 0);
	th_buf_free(&b);
	mc_close(&c);
}
END_TEST

/* A digest corrupted on the wire: the engine finds it (full placement) and
 * software finds it (after a partial placement).  _i: 0 engine, 1 partial. */
START_TEST(test_corrupt_digest_detected)
{
	struct mc c;
	mc_open(&c, "mock", TH_SOCK_TCP, DIG_ALL);
	if (_i == 1)
		add_fault(c.dev, TOELESS_MOCK_FAULT_PARTIAL_PLACEMENT, 0, TOELESS_MOCK_FOREVER, 64);
	uint8_t src[1024], dst[1024];
	th_fill_pattern(src, sizeof(src), 5);
	post1(&c, 9, dst, sizeof(dst), 2);
	struct th_buf b;
	th_buf_init(&b);
	struct th_pdu p;
	memset(&p, 0, sizeof(p));
	th_bhs_data_in(p.bhs, 9, 0, 0, 0, 0, 0);
	p.data = src;
	p.data_len = 512;
	p.digests = DIG_ALL;
	p.corrupt = TH_CORRUPT_DATA_DIGEST;
	th_pdu_append(&b, &p);
	th_append_data_in(&b, DIG_ALL, 9, 1, 512, src + 512, 512, FINAL_S, 0, 0);
	mc_feed(&c, &b);

	struct toeless_pdu pdu;
	ck_assert_int_eq(mc_recv(&c, &pdu), -EBADMSG);
	ck_assert_int_eq(pdu.status, -EBADMSG);
	ck_assert_int_eq(pdu.data_digest, TOELESS_DIGEST_BAD);
	ck_assert_int_eq(!!(pdu.flags & TOELESS_PDU_F_ENGINE), _i == 0);
	ck_assert_int_eq(mc_recv(&c, &pdu), 0);
	ck_assert_int_eq(pdu.data_digest, TOELESS_DIGEST_OK);

	struct toeless_completion cqe = wait_sgl(&c);
	ck_assert_int_eq(cqe.status, -EBADMSG);
	ck_assert_int_eq(cqe.data_digest, TOELESS_DIGEST_BAD);
	ck_assert_mem_eq(dst, src, sizeof(src)); /* placed, but never reported good */
	struct toeless_stats st = cstats(c.ctx);
	ck_assert_uint_eq(st.data_digest_errors, 1);
	ck_assert_uint_eq(st.sgl_failed, 1);
	struct toeless_mock_stats ms = mstats(c.dev);
	if (_i == 0) {
		ck_assert_uint_eq(st.data_digests_engine, 2);
		ck_assert_uint_eq(ms.data_digests_bad, 1);
		ck_assert_uint_eq(ms.data_digests_ok, 1);
		ck_assert_uint_eq(st.bytes_placed_engine, 1024);
	} else {
		ck_assert_uint_eq(st.data_digests_engine, 0);
		ck_assert_uint_eq(ms.rx_placed_partial, 2);
		ck_assert_uint_eq(st.bytes_placed_engine, 128);
		ck_assert_uint_eq(st.bytes_placed_sw, 1024 - 128);
	}
	th_buf_free(&b);
	mc_close(&c);
}
END_TEST

/* ---- faults ---- */

START_TEST(test_fault_data_digest)
{
	struct mc c;
	mc_open(&c, "mock", TH_SOCK_UNIX, DIG_DD);
	int id = add_fault(c.dev, TOELESS_MOCK_FAULT_DATA_DIGEST, 1, 1, 0);
	uint8_t src[3000], dst[3000];
	th_fill_pattern(src, sizeof(src), 8);
	post1(&c, 1, dst, sizeof(dst), 10);
	struct th_buf b;
	th_buf_init(&b);
	for (uint32_t i = 0; i < 3; i++)
		th_append_data_in(&b, DIG_DD, 1, i, i * 1000, src + i * 1000, 1000, i == 2 ? FINAL_S : 0, 0, 0);
	mc_feed(&c, &b);

	struct toeless_pdu pdu;
	ck_assert_int_eq(mc_recv(&c, &pdu), 0);
	ck_assert_int_eq(pdu.data_digest, TOELESS_DIGEST_OK);
	ck_assert_int_eq(mc_recv(&c, &pdu), -EBADMSG); /* the second placed PDU */
	ck_assert_int_eq(pdu.data_digest, TOELESS_DIGEST_BAD);
	ck_assert(pdu.flags & TOELESS_PDU_F_ENGINE);
	ck_assert_int_eq(mc_recv(&c, &pdu), 0); /* count 1: only that one */
	ck_assert_int_eq(pdu.data_digest, TOELESS_DIGEST_OK);

	struct toeless_completion cqe = wait_sgl(&c);
	ck_assert_int_eq(cqe.status, -EBADMSG);
	ck_assert_int_eq(cqe.data_digest, TOELESS_DIGEST_BAD);
	ck_assert_uint_eq(cqe.user_data, 10);
	ck_assert_int_eq(toeless_mock_fault_fired(c.dev, id), 1);
	struct toeless_stats st = cstats(c.ctx);
	ck_assert_uint_eq(st.data_digest_errors, 1);
	ck_assert_uint_eq(st.data_digests_engine, 3);
	ck_assert_uint_eq(st.sgl_failed, 1);
	struct toeless_mock_stats ms = mstats(c.dev);
	ck_assert_uint_eq(ms.faults_fired, 1);
	ck_assert_uint_eq(ms.data_digests_bad, 1);
	ck_assert_uint_eq(ms.data_digests_ok, 2);

	struct toeless_mock_call calls[64];
	int n = toeless_mock_log(c.dev, calls, 64), seen = 0;
	for (int i = 0; i < n; i++)
		if (calls[i].faults & (1u << TOELESS_MOCK_FAULT_DATA_DIGEST)) {
			ck_assert_uint_eq(calls[i].op, TOELESS_MOCK_OP_RX_PDU);
			seen++;
		}
	ck_assert_int_eq(seen, 1);
	th_buf_free(&b);
	mc_close(&c);
}
END_TEST

/* The engine calls a header bad: the PDU is delivered as bad, the context
 * fails, outstanding posts complete cancelled on destroy. */
START_TEST(test_fault_hdr_digest)
{
	struct mc c;
	mc_open(&c, "mock", TH_SOCK_UNIX, DIG_HD);
	int id = add_fault(c.dev, TOELESS_MOCK_FAULT_HDR_DIGEST, 1, 1, 0);
	uint8_t dst[100];
	post1(&c, 3, dst, sizeof(dst), 33);
	struct th_buf b;
	th_buf_init(&b);
	uint8_t bhs[48];
	th_bhs_nop_in(bhs, 0x10, 0xffffffff);
	th_append_bhs(&b, DIG_HD, bhs, NULL, 0);
	th_bhs_nop_in(bhs, 0x11, 0xffffffff);
	th_append_bhs(&b, DIG_HD, bhs, "abcd", 4);
	mc_feed(&c, &b);

	struct toeless_pdu pdu;
	ck_assert_int_eq(mc_recv(&c, &pdu), 0);
	ck_assert_int_eq(pdu.hdr_digest, TOELESS_DIGEST_OK);
	ck_assert_int_eq(mc_recv(&c, &pdu), -EBADMSG);
	ck_assert_int_eq(pdu.hdr_digest, TOELESS_DIGEST_BAD);
	ck_assert_uint_eq(pdu.itt, 0x11);
	ck_assert_int_eq(toeless_pdu_recv(c.ctx, &pdu), -ENOTCONN);
	ck_assert_int_eq(toeless_mock_fault_fired(c.dev, id), 1);

	struct toeless_completion cqe[4];
	ck_assert_int_eq(th_cq_wait(c.cq, cqe, 1, TH_TIMEOUT_MS), 1);
	ck_assert_int_eq(cqe[0].type, TOELESS_CQE_ERROR);
	ck_assert_int_eq(cqe[0].status, -EBADMSG);
	struct toeless_stats st = cstats(c.ctx);
	ck_assert_uint_eq(st.hdr_digest_errors, 1);

	ck_assert_int_eq(toeless_ctx_destroy(c.ctx), 0);
	c.ctx = NULL;
	ck_assert_int_eq(th_cq_wait(c.cq, cqe, 1, TH_TIMEOUT_MS), 1);
	ck_assert_int_eq(cqe[0].type, TOELESS_CQE_SGL);
	ck_assert_int_eq(cqe[0].status, -ECANCELED);
	ck_assert_uint_eq(cqe[0].user_data, 33);
	ck_assert_uint_eq(mstats(c.dev).engine_sgls, 0);
	th_buf_free(&b);
	mc_close(&c);

	/* without HeaderDigest there is no header digest to call bad */
	mc_open(&c, "mock", TH_SOCK_UNIX, 0);
	id = add_fault(c.dev, TOELESS_MOCK_FAULT_HDR_DIGEST, 0, TOELESS_MOCK_FOREVER, 0);
	th_buf_init(&b);
	th_bhs_nop_in(bhs, 0x12, 0xffffffff);
	th_append_bhs(&b, 0, bhs, NULL, 0);
	mc_feed(&c, &b);
	ck_assert_int_eq(mc_recv(&c, &pdu), 0);
	ck_assert_int_eq(toeless_mock_fault_fired(c.dev, id), 0);
	th_buf_free(&b);
	mc_close(&c);
}
END_TEST

/* The engine loses the PDU boundary for two PDUs: software takes them, the
 * engine asks for the next header, the library confirms it, and placement
 * resumes.  _i: 0 the whole stream is in the socket at once (the library
 * has read ahead into the next header when it is asked); 1 one PDU at a
 * time. */
START_TEST(test_fault_lose_sync)
{
	struct mc c;
	mc_open(&c, "mock", TH_SOCK_UNIX, DIG_ALL);
	int id = add_fault(c.dev, TOELESS_MOCK_FAULT_LOSE_SYNC, 1, 2, 0);
	enum { N = 8, L = 512 };
	uint8_t src[N * L], dst[N * L];
	th_fill_pattern(src, sizeof(src), 21);
	memset(dst, 0, sizeof(dst));
	post1(&c, 5, dst, sizeof(dst), 55);

	struct th_buf b;
	th_buf_init(&b);
	size_t starts[N];
	for (uint32_t i = 0; i < N; i++)
		starts[i] = th_append_data_in(&b, DIG_ALL, 5, i, i * L, src + i * L, L, i == N - 1 ? FINAL_S : 0, 0, 0);
	if (_i == 0)
		th_feed(c.peer, c.fd, b.p, b.len);

	struct toeless_pdu pdu;
	bool engine[N];
	for (int i = 0; i < N; i++) {
		if (_i == 1)
			th_feed(c.peer, c.fd, b.p + starts[i], (i + 1 < N ? starts[i + 1] : b.len) - starts[i]);
		ck_assert_int_eq(mc_recv(&c, &pdu), 0);
		ck_assert_int_eq(pdu.data_digest, TOELESS_DIGEST_OK);
		ck_assert_uint_eq(pdu.stream_pos, starts[i]);
		engine[i] = pdu.flags & TOELESS_PDU_F_ENGINE;
	}
	ck_assert_mem_eq(dst, src, sizeof(src));
	ck_assert(engine[0]);
	ck_assert(!engine[1] && !engine[2]);
	ck_assert_msg(engine[N - 1], "placement did not resume after the resync");
	struct toeless_completion cqe = wait_sgl(&c);
	ck_assert_int_eq(cqe.status, 0);
	ck_assert_int_eq(toeless_mock_fault_fired(c.dev, id), 2);

	struct toeless_stats st = cstats(c.ctx);
	struct toeless_mock_stats ms = mstats(c.dev);
	int sw = 0;
	for (int i = 0; i < N; i++)
		sw += !engine[i];
	ck_assert_uint_eq(st.sw_fallback_pdus, (uint64_t)sw);
	ck_assert_uint_eq(st.bytes_placed_sw, (uint64_t)sw * L);
	ck_assert_uint_eq(st.bytes_placed_engine, (uint64_t)(N - sw) * L);
	ck_assert_uint_eq(ms.resync_requests, 1);
	ck_assert_uint_eq(ms.resync_confirmed, 1);
	ck_assert_uint_eq(st.resyncs, 1);
	ck_assert_uint_eq(ms.anomalies, 0);

	/* the engine asked for the header right after the lost PDUs */
	struct toeless_mock_call calls[128];
	int n = toeless_mock_log(c.dev, calls, 128), req = 0;
	for (int i = 0; i < n; i++)
		if (calls[i].op == TOELESS_MOCK_EV_RESYNC_REQUEST) {
			ck_assert_uint_eq(calls[i].pos, starts[3]);
			req++;
		}
	ck_assert_int_eq(req, 1);
	th_buf_free(&b);
	mc_close(&c);
}
END_TEST

START_TEST(test_fault_partial_placement)
{
	struct mc c;
	mc_open(&c, "mock", TH_SOCK_TCP, DIG_DD);
	int id = add_fault(c.dev, TOELESS_MOCK_FAULT_PARTIAL_PLACEMENT, 0, 1, 300);
	uint8_t src[2000], dst[2000];
	th_fill_pattern(src, sizeof(src), 4);
	post1(&c, 2, dst, sizeof(dst), 20);
	struct th_buf b;
	th_buf_init(&b);
	th_append_data_in(&b, DIG_DD, 2, 0, 0, src, 1001, 0, 0, 0);
	th_append_data_in(&b, DIG_DD, 2, 1, 1001, src + 1001, 999, FINAL_S, 0, 0);
	mc_feed(&c, &b);

	struct toeless_pdu pdu;
	ck_assert_int_eq(mc_recv(&c, &pdu), 0);
	ck_assert(pdu.flags & TOELESS_PDU_F_PLACED);
	ck_assert(!(pdu.flags & TOELESS_PDU_F_ENGINE)); /* software finished it */
	ck_assert_int_eq(pdu.data_digest, TOELESS_DIGEST_OK);
	ck_assert_int_eq(mc_recv(&c, &pdu), 0);
	ck_assert(pdu.flags & TOELESS_PDU_F_ENGINE);
	ck_assert_mem_eq(dst, src, sizeof(src));

	struct toeless_completion cqe = wait_sgl(&c);
	ck_assert_int_eq(cqe.status, 0);
	ck_assert_uint_eq(cqe.bytes_placed, 2000);
	ck_assert_uint_eq(cqe.bytes_engine, 300 + 999);
	ck_assert(cqe.flags & TOELESS_CQE_F_ENGINE);
	ck_assert_int_eq(toeless_mock_fault_fired(c.dev, id), 1);
	struct toeless_stats st = cstats(c.ctx);
	ck_assert_uint_eq(st.bytes_placed_engine, 300 + 999);
	ck_assert_uint_eq(st.bytes_placed_sw, 1001 - 300);
	ck_assert_uint_eq(st.data_digests_engine, 1);
	ck_assert_uint_eq(st.data_digests_checked, 2);
	ck_assert_uint_eq(st.data_digest_errors, 0);
	struct toeless_mock_stats ms = mstats(c.dev);
	ck_assert_uint_eq(ms.rx_placed_partial, 1);
	ck_assert_uint_eq(ms.rx_placed_full, 1);
	ck_assert_uint_eq(ms.bytes_placed, 300 + 999);
	th_buf_free(&b);
	mc_close(&c);
}
END_TEST

/* A Data-In over bytes software placed (the engine missed the first PDU
 * because it had not all arrived, _i 0; or placed only its first 300
 * bytes, _i 1) is rejected -EEXIST and never reaches the buffer: the
 * bytes placed first stay, byte for byte (issue #10 item 5). */
START_TEST(test_duplicate_never_reaches_buffer)
{
	struct mc c;
	mc_open(&c, "mock", TH_SOCK_UNIX, DIG_DD);
	if (_i == 1)
		add_fault(c.dev, TOELESS_MOCK_FAULT_PARTIAL_PLACEMENT, 0, 1, 300);
	uint8_t first[2000], dup[2000];
	th_fill_pattern(first, sizeof(first), 31);
	th_fill_pattern(dup, sizeof(dup), 32);
	uint8_t *dst = th_canary_alloc(2000);
	memset(dst, 0, 2000);
	post1(&c, 9, dst, 2000, 9);

	struct th_buf b;
	th_buf_init(&b);
	th_append_data_in(&b, DIG_DD, 9, 0, 0, first, 1000, 0, 0, 0);
	size_t cut = _i == 0 ? 48 + 500 : b.len; /* _i 0: the engine sees half of it */
	th_feed(c.peer, c.fd, b.p, cut);
	struct toeless_pdu pdu;
	if (_i == 0) {
		ck_assert_int_eq(toeless_pdu_recv(c.ctx, &pdu), -EAGAIN);
		th_feed(c.peer, c.fd, b.p + cut, b.len - cut);
	}
	ck_assert_int_eq(mc_recv(&c, &pdu), 0);
	ck_assert(!(pdu.flags & TOELESS_PDU_F_ENGINE)); /* software placed (some of) it */
	ck_assert_mem_eq(dst, first, 1000);

	/* the duplicate, whole in the socket when asked: the engine could
	 * place it, and must not */
	b.len = 0;
	th_append_data_in(&b, DIG_DD, 9, 1, _i == 0 ? 0 : 500, dup, _i == 0 ? 1000 : 500, 0, 0, 0);
	th_append_data_in(&b, DIG_DD, 9, 2, 1000, first + 1000, 1000, FINAL_S, 0, 0);
	mc_feed(&c, &b);
	ck_assert_int_eq(mc_recv(&c, &pdu), -EEXIST);
	ck_assert(!(pdu.flags & (TOELESS_PDU_F_PLACED | TOELESS_PDU_F_ENGINE)));
	ck_assert_mem_eq(dst, first, 1000);
	ck_assert_int_eq(mc_recv(&c, &pdu), 0);
	ck_assert(pdu.flags & TOELESS_PDU_F_ENGINE);
	ck_assert_mem_eq(dst, first, 2000);
	ck_assert(th_canary_ok(dst, 2000));

	struct toeless_completion cqe = wait_sgl(&c);
	ck_assert_int_eq(cqe.status, -EEXIST);
	ck_assert_uint_eq(cqe.bytes_valid, 2000);
	struct toeless_stats st = cstats(c.ctx);
	ck_assert_uint_eq(st.placement_errors, 1);
	ck_assert_uint_eq(st.engine_anomalies, 0);
	ck_assert_uint_eq(mstats(c.dev).bytes_placed, (_i == 0 ? 0 : 300) + 1000);
	th_buf_free(&b);
	th_canary_free(dst);
	mc_close(&c);
}
END_TEST

/* A release held for three progress calls: the completion, and the ITT,
 * come back only then.  _i: 0 cancel, 1 the task finishes normally. */
START_TEST(test_fault_delay_release)
{
	struct mc c;
	mc_open(&c, "mock", TH_SOCK_UNIX, 0);
	int id = add_fault(c.dev, TOELESS_MOCK_FAULT_DELAY_RELEASE, 0, 1, 3);
	uint8_t src[256], dst[256];
	th_fill_pattern(src, sizeof(src), 6);
	post1(&c, 4, dst, sizeof(dst), 44);
	uint64_t before;
	if (_i == 0) {
		ck_assert_int_eq(toeless_sgl_cancel(c.ctx, 4), 0);
		before = mstats(c.dev).ctx_progress;                     /* the release happened here */
		ck_assert_int_eq(toeless_sgl_cancel(c.ctx, 4), -ENOENT); /* already finishing */
	} else {
		struct toeless_pdu pdu;
		mc_data_in(&c, 4, 0, 0, src, 256, FINAL_S);
		ck_assert_int_eq(mc_recv(&c, &pdu), 0);
		before = mstats(c.dev).ctx_progress;
		ck_assert(pdu.flags & TOELESS_PDU_F_TASK_DONE);
		ck_assert_mem_eq(dst, src, sizeof(src));
	}
	struct toeless_completion cqe;
	ck_assert_int_eq(toeless_cq_poll(c.cq, &cqe, 1), 0);
	struct iovec iov = { dst, sizeof(dst) };
	ck_assert_int_eq(toeless_sgl_post(c.ctx, 4, &iov, 1, 45), -EEXIST); /* not released yet */

	int calls = drive_until_completion(&c, &cqe, 20);
	ck_assert_int_gt(calls, 0);
	ck_assert_uint_ge(mstats(c.dev).ctx_progress - before, 3);
	ck_assert_int_eq(cqe.type, TOELESS_CQE_SGL);
	ck_assert_int_eq(cqe.status, _i == 0 ? -ECANCELED : 0);
	ck_assert_uint_eq(cqe.user_data, 44);
	ck_assert_int_eq(toeless_mock_fault_fired(c.dev, id), 1);
	struct toeless_mock_stats ms = mstats(c.dev);
	ck_assert_uint_eq(ms.sgl_release_delayed, 1);
	ck_assert_uint_eq(ms.sgl_released, 1);
	ck_assert_uint_eq(ms.engine_sgls, 0);
	ck_assert_int_eq(log_count(c.dev, TOELESS_MOCK_OP_SGL_RELEASE, 1), 1);
	ck_assert_int_eq(log_count(c.dev, TOELESS_MOCK_EV_SGL_RELEASED, 0), 1);
	struct toeless_stats st = cstats(c.ctx);
	ck_assert_uint_eq(st.engine_anomalies, 0);

	/* the ITT is free again */
	ck_assert_int_eq(toeless_sgl_post(c.ctx, 4, &iov, 1, 46), 0);
	mc_close(&c);
}
END_TEST

/* Completions of a batch in reverse order: SGL releases delivered by one
 * progress call, and CRC requests reaped by one poll. */
START_TEST(test_fault_reorder)
{
	struct mc c;
	mc_open(&c, "mock", TH_SOCK_UNIX, 0);
	int id = add_fault(c.dev, TOELESS_MOCK_FAULT_REORDER_COMPLETIONS, 0, 2, 0);
	add_fault(c.dev, TOELESS_MOCK_FAULT_DELAY_RELEASE, 0, 3, 1);
	uint8_t buf[3][64];
	for (uint32_t i = 0; i < 3; i++)
		post1(&c, 100 + i, buf[i], sizeof(buf[i]), i);
	/* destroy finishes all three before it lets the engine progress */
	ck_assert_int_eq(toeless_ctx_destroy(c.ctx), 0);
	c.ctx = NULL;
	struct toeless_completion cqe[8];
	ck_assert_int_eq(th_cq_wait(c.cq, cqe, 3, TH_TIMEOUT_MS), 3);
	ck_assert_int_eq(toeless_cq_poll(c.cq, cqe + 3, 5), 0);

	uint32_t released[3];
	int nr = 0;
	struct toeless_mock_call calls[64];
	int n = toeless_mock_log(c.dev, calls, 64);
	for (int i = 0; i < n; i++)
		if (calls[i].op == TOELESS_MOCK_OP_SGL_RELEASE) {
			ck_assert_int_lt(nr, 3);
			released[nr++] = calls[i].itt;
		}
	ck_assert_int_eq(nr, 3);
	for (int i = 0; i < 3; i++) {
		ck_assert_int_eq(cqe[i].type, TOELESS_CQE_SGL);
		ck_assert_int_eq(cqe[i].status, -ECANCELED);
		ck_assert_uint_eq(cqe[i].itt, released[2 - i]); /* last released, first completed */
	}
	ck_assert_int_eq(toeless_mock_fault_fired(c.dev, id), 1);

	/* CRC: four requests, reaped by one poll, completed 4, 3, 2, 1 */
	uint8_t data[4][100];
	struct iovec iov[4];
	struct toeless_crc_req req[4];
	for (int i = 0; i < 4; i++) {
		th_fill_pattern(data[i], sizeof(data[i]), 40 + (uint32_t)i);
		iov[i] = (struct iovec){ data[i], sizeof(data[i]) };
		req[i] = (struct toeless_crc_req){ .iov = &iov[i], .iovcnt = 1, .seed = 0, .user_data = (uint64_t)i };
	}
	ck_assert_int_eq(toeless_crc_submit(c.dev, c.cq, req, 4), 4);
	ck_assert_uint_eq(mstats(c.dev).crc_queued, 4);
	ck_assert_int_eq(th_cq_wait(c.cq, cqe, 4, TH_TIMEOUT_MS), 4);
	for (int i = 0; i < 4; i++) {
		ck_assert_int_eq(cqe[i].type, TOELESS_CQE_CRC);
		ck_assert_int_eq(cqe[i].status, 0);
		ck_assert_uint_eq(cqe[i].user_data, (uint64_t)(3 - i));
		ck_assert_uint_eq(cqe[i].crc, th_crc32c(0, data[3 - i], sizeof(data[0])));
	}
	ck_assert_int_eq(toeless_mock_fault_fired(c.dev, id), 2);
	ck_assert_uint_eq(dstats(c.dev).engine_anomalies, 0);
	mc_close(&c);
}
END_TEST

/* Every completion twice: the library takes the first and counts the
 * second as an anomaly. */
START_TEST(test_fault_duplicate)
{
	struct mc c;
	mc_open(&c, "mock", TH_SOCK_UNIX, 0);
	int id = add_fault(c.dev, TOELESS_MOCK_FAULT_DUPLICATE_COMPLETIONS, 0, 2, 0);

	uint8_t d1[10] = "123456789", d2[33];
	th_fill_pattern(d2, sizeof(d2), 2);
	struct iovec iov[2] = { { d1, 9 }, { d2, sizeof(d2) } };
	struct toeless_crc_req req[2] = {
		{ .iov = &iov[0], .iovcnt = 1, .seed = 0, .user_data = 1 },
		{ .iov = &iov[1], .iovcnt = 1, .seed = 0x1234, .user_data = 2 },
	};
	ck_assert_int_eq(toeless_crc_submit(c.dev, c.cq, req, 2), 2);
	struct toeless_completion cqe[4];
	ck_assert_int_eq(th_cq_wait(c.cq, cqe, 2, TH_TIMEOUT_MS), 2);
	ck_assert_int_eq(toeless_cq_poll(c.cq, cqe + 2, 2), 0); /* no third */
	ck_assert_uint_eq(cqe[0].user_data, 1);
	ck_assert_uint_eq(cqe[0].crc, 0xE3069283u);
	ck_assert_uint_eq(cqe[1].user_data, 2);
	ck_assert_uint_eq(cqe[1].crc, th_crc32c(0x1234, d2, sizeof(d2)));
	ck_assert_uint_eq(dstats(c.dev).engine_anomalies, 2);
	ck_assert_uint_eq(mstats(c.dev).crc_done, 4);
	ck_assert_int_eq(toeless_mock_fault_fired(c.dev, id), 2);

	/* an SGL release reported twice */
	ck_assert_int_eq(toeless_mock_fault_clear(c.dev), 0);
	id = add_fault(c.dev, TOELESS_MOCK_FAULT_DUPLICATE_COMPLETIONS, 0, 1, 0);
	uint8_t dst[64];
	post1(&c, 8, dst, sizeof(dst), 88);
	ck_assert_int_eq(toeless_sgl_cancel(c.ctx, 8), 0);
	ck_assert_int_gt(drive_until_completion(&c, cqe, 10), 0);
	ck_assert_int_eq(cqe[0].status, -ECANCELED);
	ck_assert_uint_eq(cqe[0].itt, 8);
	ck_assert_int_eq(toeless_cq_poll(c.cq, cqe, 4), 0);
	ck_assert_int_eq(log_count(c.dev, TOELESS_MOCK_EV_SGL_RELEASED, 0), 2);
	ck_assert_uint_eq(cstats(c.ctx).engine_anomalies, 1);
	ck_assert_uint_eq(cstats(c.ctx).sgl_cancelled, 1);
	ck_assert_int_eq(toeless_mock_fault_fired(c.dev, id), 1);
	post1(&c, 8, dst, sizeof(dst), 89); /* the ITT is free */
	mc_close(&c);
}
END_TEST

/* The engine out of resources: software places those tasks, counted, and
 * no I/O fails.  _i: 0 the max_engine_tasks limit, 1 the EXHAUSTION fault. */
START_TEST(test_fault_exhaustion)
{
	struct mc c;
	mc_open(&c, _i == 0 ? "mock:max_engine_tasks=2" : "mock", TH_SOCK_UNIX, DIG_DD);
	int id = 0;
	if (_i == 1) {
		struct toeless_mock_fault f = { .size = sizeof(f),
						.kind = TOELESS_MOCK_FAULT_EXHAUSTION,
						.after = 2,
						.count = 1,
						.ops = 1u << TOELESS_MOCK_OP_SGL_POST };
		id = toeless_mock_fault_add(c.dev, &f);
		ck_assert_int_gt(id, 0);
	}
	uint8_t src[3][700], dst[3][700];
	for (uint32_t i = 0; i < 3; i++) {
		th_fill_pattern(src[i], 700, 60 + i);
		post1(&c, 20 + i, dst[i], 700, i);
	}
	ck_assert_uint_eq(cstats(c.ctx).engine_post_full, 1);
	ck_assert_uint_eq(mstats(c.dev).sgl_post_nospc, 1);
	ck_assert_uint_eq(mstats(c.dev).engine_sgls, 2);

	struct th_buf b;
	th_buf_init(&b);
	for (uint32_t i = 0; i < 3; i++)
		th_append_data_in(&b, DIG_DD, 20 + i, 0, 0, src[i], 700, FINAL_S, 0, 0);
	mc_feed(&c, &b);
	struct toeless_pdu pdu;
	for (int i = 0; i < 3; i++) {
		ck_assert_int_eq(mc_recv(&c, &pdu), 0);
		ck_assert_int_eq(!!(pdu.flags & TOELESS_PDU_F_ENGINE), i < 2);
		ck_assert_int_eq(pdu.data_digest, TOELESS_DIGEST_OK);
		ck_assert_mem_eq(dst[i], src[i], 700);
	}
	struct toeless_completion cqe[4];
	ck_assert_int_eq(th_cq_wait(c.cq, cqe, 3, TH_TIMEOUT_MS), 3);
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(cqe[i].status, 0);
	struct toeless_stats st = cstats(c.ctx);
	ck_assert_uint_eq(st.bytes_placed_engine, 1400);
	ck_assert_uint_eq(st.bytes_placed_sw, 700);
	ck_assert_uint_eq(st.sw_fallback_pdus, 0); /* the engine never held that task */
	ck_assert_uint_eq(st.sgl_completed, 3);
	if (id)
		ck_assert_int_eq(toeless_mock_fault_fired(c.dev, id), 1);

	/* crc_submit accepts fewer, then none */
	toeless_mock_fault_clear(c.dev);
	struct toeless_mock_fault f = { .size = sizeof(f),
					.kind = TOELESS_MOCK_FAULT_EXHAUSTION,
					.count = 1,
					.value = 1,
					.ops = 1u << TOELESS_MOCK_OP_CRC_SUBMIT };
	ck_assert_int_gt(toeless_mock_fault_add(c.dev, &f), 0);
	f.after = 1;
	f.value = 0;
	ck_assert_int_gt(toeless_mock_fault_add(c.dev, &f), 0);
	struct iovec iov = { src[0], 700 };
	struct toeless_crc_req req[3];
	for (int i = 0; i < 3; i++)
		req[i] = (struct toeless_crc_req){ .iov = &iov, .iovcnt = 1, .user_data = (uint64_t)i };
	ck_assert_int_eq(toeless_crc_submit(c.dev, c.cq, req, 3), 1);
	ck_assert_int_eq(toeless_crc_submit(c.dev, c.cq, req, 3), -EAGAIN); /* the second fault: none */
	ck_assert_int_eq(toeless_crc_submit(c.dev, c.cq, req, 3), 3);
	ck_assert_int_eq(th_cq_wait(c.cq, cqe, 4, TH_TIMEOUT_MS), 4);
	for (int i = 0; i < 4; i++) {
		ck_assert_int_eq(cqe[i].status, 0);
		ck_assert_uint_eq(cqe[i].crc, th_crc32c(0, src[0], 700));
	}
	th_buf_free(&b);
	mc_close(&c);
}
END_TEST

/* The device dies at the second PDU the engine is asked about: I/O goes
 * on in software, SGLs it held are given back, queued CRC requests fail,
 * new work never reaches it. */
START_TEST(test_fault_device_failure)
{
	struct mc c;
	mc_open(&c, "mock", TH_SOCK_TCP, DIG_ALL);
	struct toeless_mock_fault f = { .size = sizeof(f),
					.kind = TOELESS_MOCK_FAULT_DEVICE_FAILURE,
					.after = 1,
					.ops = 1u << TOELESS_MOCK_OP_RX_PDU };
	int id = toeless_mock_fault_add(c.dev, &f);
	ck_assert_int_gt(id, 0);
	add_fault_itt(c.dev, TOELESS_MOCK_FAULT_DELAY_RELEASE, 31, 1000);

	/* a queued CRC request, which the dying device must not strand */
	uint8_t crcbuf[64];
	th_fill_pattern(crcbuf, sizeof(crcbuf), 1);
	struct iovec civ = { crcbuf, sizeof(crcbuf) };
	struct toeless_crc_req creq = { .iov = &civ, .iovcnt = 1, .user_data = 77 };
	ck_assert_int_eq(toeless_crc_submit(c.dev, c.cq, &creq, 1), 1);

	uint8_t src[4000], dst[4000], held[16];
	th_fill_pattern(src, sizeof(src), 9);
	post1(&c, 30, dst, sizeof(dst), 30);
	post1(&c, 31, held, sizeof(held), 31);
	ck_assert_int_eq(toeless_sgl_cancel(c.ctx, 31), 0); /* held by the engine for 1000 progress calls */

	struct th_buf b;
	th_buf_init(&b);
	for (uint32_t i = 0; i < 4; i++)
		th_append_data_in(&b, DIG_ALL, 30, i, i * 1000, src + i * 1000, 1000, i == 3 ? FINAL_S : 0, 0, 0);
	mc_feed(&c, &b);
	struct toeless_pdu pdu;
	for (int i = 0; i < 4; i++) {
		ck_assert_int_eq(mc_recv(&c, &pdu), 0);
		ck_assert_int_eq(!!(pdu.flags & TOELESS_PDU_F_ENGINE), i == 0);
		ck_assert_int_eq(pdu.data_digest, TOELESS_DIGEST_OK);
	}
	ck_assert_mem_eq(dst, src, sizeof(src));
	ck_assert_int_eq(toeless_mock_fault_fired(c.dev, id), 1);

	struct toeless_completion cqe[4];
	ck_assert_int_eq(th_cq_wait(c.cq, cqe, 3, TH_TIMEOUT_MS), 3);
	ck_assert_int_eq(toeless_cq_poll(c.cq, cqe + 3, 1), 0);
	bool seen_crc = false, seen30 = false, seen31 = false;
	for (int i = 0; i < 3; i++) {
		if (cqe[i].type == TOELESS_CQE_CRC) {
			ck_assert_uint_eq(cqe[i].user_data, 77);
			ck_assert_int_eq(cqe[i].status, -EIO);
			seen_crc = true;
		} else if (cqe[i].itt == 30) {
			ck_assert_int_eq(cqe[i].status, 0);
			ck_assert_uint_eq(cqe[i].bytes_placed, 4000);
			ck_assert_uint_eq(cqe[i].bytes_engine, 1000);
			seen30 = true;
		} else {
			ck_assert_uint_eq(cqe[i].itt, 31);
			ck_assert_int_eq(cqe[i].status, -ECANCELED);
			seen31 = true;
		}
	}
	ck_assert(seen_crc && seen30 && seen31);
	struct toeless_stats st = cstats(c.ctx);
	ck_assert_uint_eq(st.bytes_placed_engine, 1000);
	ck_assert_uint_eq(st.bytes_placed_sw, 3000);
	struct toeless_mock_stats ms = mstats(c.dev);
	ck_assert_uint_eq(ms.device_errors, 1);
	ck_assert_int_eq(log_count(c.dev, TOELESS_MOCK_EV_DEVICE_ERROR, -EIO), 1);

	/* afterwards: posts, receives and CRC requests all in software */
	uint64_t calls = ms.calls;
	post1(&c, 32, dst, 1000, 32);
	mc_data_in(&c, 32, 0, 0, src, 1000, FINAL_S);
	memset(dst, 0, sizeof(dst));
	ck_assert_int_eq(mc_recv(&c, &pdu), 0);
	ck_assert(!(pdu.flags & TOELESS_PDU_F_ENGINE));
	ck_assert_mem_eq(dst, src, 1000);
	cqe[0] = wait_sgl(&c);
	ck_assert_int_eq(cqe[0].status, 0);
	ck_assert_uint_eq(cqe[0].bytes_engine, 0);
	ck_assert_int_eq(toeless_crc_submit(c.dev, c.cq, &creq, 1), 1);
	ck_assert_int_eq(th_cq_wait(c.cq, cqe, 1, TH_TIMEOUT_MS), 1);
	ck_assert_int_eq(cqe[0].status, 0);
	ck_assert_uint_eq(cqe[0].crc, th_crc32c(0, crcbuf, sizeof(crcbuf)));

	/* a new connection on the failed device works, in software */
	int sv[2];
	th_sockpair(TH_SOCK_UNIX, sv);
	th_set_nonblock(sv[0], true);
	toeless_ctx *ctx2 = th_ctx_create(c.dev, c.cq, sv[0], 0, 0);
	struct iovec iov = { dst, 500 };
	ck_assert_int_eq(toeless_sgl_post(ctx2, 1, &iov, 1, 1), 0);
	b.len = 0;
	th_append_data_in(&b, 0, 1, 0, 0, src + 7, 500, FINAL_S, 0, 0);
	th_feed(sv[1], sv[0], b.p, b.len);
	ck_assert_int_eq(th_recv(ctx2, sv[0], &pdu, TH_TIMEOUT_MS), 0);
	ck_assert_mem_eq(dst, src + 7, 500);
	ck_assert_int_eq(toeless_ctx_destroy(ctx2), 0);
	close(sv[0]);
	close(sv[1]);
	ck_assert_uint_eq(mstats(c.dev).calls, calls); /* the dead engine was not asked */
	th_buf_free(&b);
	mc_close(&c);
}
END_TEST

/* The device dies inside other ops: the call that saw it die still does
 * its job in software.  _i: 0 sgl_post, 1 ctx_create, 2 mr_reg. */
START_TEST(test_device_failure_at_op)
{
	static const uint32_t ops[3] = { TOELESS_MOCK_OP_SGL_POST, TOELESS_MOCK_OP_CTX_CREATE, TOELESS_MOCK_OP_MR_REG };
	toeless_device *dev = th_dev_open("mock");
	toeless_cq *cq = th_cq_create(dev, 0);
	struct toeless_mock_fault f = { .size = sizeof(f),
					.kind = TOELESS_MOCK_FAULT_DEVICE_FAILURE,
					.ops = 1u << ops[_i] };
	int id = toeless_mock_fault_add(dev, &f);
	ck_assert_int_gt(id, 0);

	uint8_t src[800], *dst = malloc(800);
	th_fill_pattern(src, sizeof(src), 31);
	toeless_mr *mr = NULL;
	ck_assert_int_eq(toeless_mr_reg(dev, dst, 800, &mr), 0);
	int sv[2];
	th_sockpair(TH_SOCK_UNIX, sv);
	th_set_nonblock(sv[0], true);
	toeless_ctx *ctx = th_ctx_create(dev, cq, sv[0], DIG_DD, 0);
	struct iovec iov = { dst, 800 };
	ck_assert_int_eq(toeless_sgl_post(ctx, 6, &iov, 1, 6), 0);
	ck_assert_int_eq(toeless_mock_fault_fired(dev, id), 1);
	ck_assert_uint_eq(mstats(dev).device_errors, 1);

	struct th_buf b;
	th_buf_init(&b);
	th_append_data_in(&b, DIG_DD, 6, 0, 0, src, 800, FINAL_S, 0, 0);
	th_feed(sv[1], sv[0], b.p, b.len);
	struct toeless_pdu pdu;
	ck_assert_int_eq(th_recv(ctx, sv[0], &pdu, TH_TIMEOUT_MS), 0);
	ck_assert(pdu.flags & TOELESS_PDU_F_PLACED);
	ck_assert(!(pdu.flags & TOELESS_PDU_F_ENGINE));
	ck_assert_int_eq(pdu.data_digest, TOELESS_DIGEST_OK);
	ck_assert_mem_eq(dst, src, sizeof(src));
	struct toeless_completion cqe[2];
	ck_assert_int_eq(th_cq_wait(cq, cqe, 1, TH_TIMEOUT_MS), 1);
	ck_assert_int_eq(cqe[0].status, 0);
	ck_assert_uint_eq(cqe[0].bytes_engine, 0);
	ck_assert_uint_eq(mstats(dev).bytes_placed, 0);

	ck_assert_int_eq(toeless_ctx_destroy(ctx), 0);
	ck_assert_int_eq(toeless_mr_dereg(mr), 0);
	ck_assert_int_eq(toeless_cq_destroy(cq), 0);
	ck_assert_int_eq(toeless_device_close(dev), 0);
	close(sv[0]);
	close(sv[1]);
	th_buf_free(&b);
	free(dst);
}
END_TEST

/* Destroy with posts outstanding, some of them held by the engine for a
 * while: every post completes, cancelled, once released; the engine holds
 * nothing afterwards. */
START_TEST(test_destroy_with_outstanding)
{
	struct mc c;
	mc_open(&c, "mock:max_engine_tasks=6", TH_SOCK_UNIX, DIG_DD);
	add_fault_itt(c.dev, TOELESS_MOCK_FAULT_DELAY_RELEASE, 3, 5);
	add_fault_itt(c.dev, TOELESS_MOCK_FAULT_DELAY_RELEASE, 5, 2);
	uint8_t buf[8][128], src[128];
	th_fill_pattern(src, sizeof(src), 12);
	for (uint32_t i = 0; i < 8; i++)
		post1(&c, i, buf[i], sizeof(buf[i]), 1000 + i); /* 6 to the engine, 2 to software */
	ck_assert_uint_eq(cstats(c.ctx).engine_post_full, 2);

	/* one task gets part of its data first */
	struct toeless_pdu pdu;
	mc_data_in(&c, 3, 0, 0, src, 64, 0);
	ck_assert_int_eq(mc_recv(&c, &pdu), 0);
	ck_assert(pdu.flags & TOELESS_PDU_F_ENGINE);
	/* one is cancelled before destroy, its release still held */
	ck_assert_int_eq(toeless_sgl_cancel(c.ctx, 5), 0);

	ck_assert_int_eq(toeless_ctx_destroy(c.ctx), 0);
	c.ctx = NULL;
	struct toeless_completion cqe[10];
	ck_assert_int_eq(th_cq_wait(c.cq, cqe, 8, TH_TIMEOUT_MS), 8);
	ck_assert_int_eq(toeless_cq_poll(c.cq, cqe + 8, 2), 0);
	uint32_t seen = 0;
	for (int i = 0; i < 8; i++) {
		ck_assert_int_eq(cqe[i].type, TOELESS_CQE_SGL);
		ck_assert_int_eq(cqe[i].status, -ECANCELED);
		ck_assert_uint_eq(cqe[i].user_data, 1000 + cqe[i].itt);
		seen |= 1u << cqe[i].itt;
		if (cqe[i].itt == 3)
			ck_assert_uint_eq(cqe[i].bytes_engine, 64);
	}
	ck_assert_uint_eq(seen, 0xff);
	ck_assert_mem_eq(buf[3], src, 64);
	struct toeless_mock_stats ms = mstats(c.dev);
	ck_assert_uint_eq(ms.engine_sgls, 0);
	ck_assert_uint_eq(ms.sgl_release, 6);
	ck_assert_uint_eq(ms.sgl_release_delayed, 2);
	ck_assert_uint_eq(ms.sgl_released, 2);
	ck_assert_uint_eq(ms.ctx_destroy, 1);
	ck_assert_uint_eq(ms.anomalies, 0);
	struct toeless_stats ds = dstats(c.dev);
	ck_assert_uint_eq(ds.sgl_cancelled, 8);
	ck_assert_uint_eq(ds.engine_anomalies, 0);
	mc_close(&c);
}
END_TEST

/* Faults limited to one ITT, and random faults that repeat with the seed. */
static uint32_t random_bad_mask(const char *spec)
{
	struct mc c;
	mc_open(&c, spec, TH_SOCK_UNIX, DIG_DD);
	struct toeless_mock_fault f = { .size = sizeof(f),
					.kind = TOELESS_MOCK_FAULT_DATA_DIGEST,
					.flags = TOELESS_MOCK_FAULT_F_RANDOM,
					.count = TOELESS_MOCK_FOREVER,
					.permille = 500 };
	ck_assert_int_gt(toeless_mock_fault_add(c.dev, &f), 0);
	enum { N = 24, L = 64 };
	uint8_t src[N * L], dst[N * L];
	th_fill_pattern(src, sizeof(src), 77);
	post1(&c, 1, dst, sizeof(dst), 0);
	struct th_buf b;
	th_buf_init(&b);
	for (uint32_t i = 0; i < N; i++)
		th_append_data_in(&b, DIG_DD, 1, i, i * L, src + i * L, L, 0, 0, 0);
	mc_feed(&c, &b);
	uint32_t mask = 0;
	for (int i = 0; i < N; i++) {
		struct toeless_pdu pdu;
		int rc = mc_recv(&c, &pdu);
		ck_assert(rc == 0 || rc == -EBADMSG);
		ck_assert_int_eq(rc == -EBADMSG, pdu.data_digest == TOELESS_DIGEST_BAD);
		if (rc)
			mask |= 1u << i;
	}
	ck_assert_uint_eq(mstats(c.dev).faults_fired, (uint64_t)__builtin_popcount(mask));
	th_buf_free(&b);
	mc_close(&c);
	return mask;
}

START_TEST(test_fault_filters)
{
	uint32_t a = random_bad_mask("mock:seed=7");
	ck_assert_uint_eq(random_bad_mask("mock:seed=7"), a);
	ck_assert_uint_ne(a, 0);
	ck_assert_uint_ne(a, 0xffffff);
	ck_assert_uint_ne(random_bad_mask("mock:seed=8"), a);

	struct mc c;
	mc_open(&c, "mock", TH_SOCK_UNIX, DIG_DD);
	int id = add_fault_itt(c.dev, TOELESS_MOCK_FAULT_DATA_DIGEST, 2, 0);
	uint8_t src[100], d1[100], d2[100];
	th_fill_pattern(src, sizeof(src), 1);
	post1(&c, 1, d1, sizeof(d1), 1);
	post1(&c, 2, d2, sizeof(d2), 2);
	mc_data_in(&c, 1, 0, 0, src, 100, FINAL_S);
	mc_data_in(&c, 2, 0, 0, src, 100, FINAL_S);
	struct toeless_pdu pdu;
	ck_assert_int_eq(mc_recv(&c, &pdu), 0);
	ck_assert_int_eq(mc_recv(&c, &pdu), -EBADMSG);
	ck_assert_uint_eq(pdu.itt, 2);
	ck_assert_int_eq(toeless_mock_fault_fired(c.dev, id), 1);
	mc_close(&c);
}
END_TEST

/* needs_reg: unregistered memory is placed by software, registered memory
 * by the engine; ddp=0: the engine never places. */
START_TEST(test_needs_reg_and_no_ddp)
{
	struct mc c;
	mc_open(&c, "mock:needs_reg=1", TH_SOCK_UNIX, 0);
	uint8_t src[300], *mem = malloc(600);
	th_fill_pattern(src, sizeof(src), 2);
	toeless_mr *mr = NULL;
	ck_assert_int_eq(toeless_mr_reg(c.dev, mem, 300, &mr), 0);
	post1(&c, 1, mem, 300, 1);       /* registered */
	post1(&c, 2, mem + 300, 300, 2); /* not */
	mc_data_in(&c, 1, 0, 0, src, 300, FINAL_S);
	mc_data_in(&c, 2, 0, 0, src, 300, FINAL_S);
	struct toeless_pdu pdu;
	ck_assert_int_eq(mc_recv(&c, &pdu), 0);
	ck_assert(pdu.flags & TOELESS_PDU_F_ENGINE);
	ck_assert_int_eq(mc_recv(&c, &pdu), 0);
	ck_assert(!(pdu.flags & TOELESS_PDU_F_ENGINE));
	ck_assert_mem_eq(mem, src, 300);
	ck_assert_mem_eq(mem + 300, src, 300);
	struct toeless_completion cqe[2];
	ck_assert_int_eq(th_cq_wait(c.cq, cqe, 2, TH_TIMEOUT_MS), 2);
	ck_assert_uint_eq(mstats(c.dev).mr_reg, 1);
	ck_assert_uint_eq(mstats(c.dev).sgl_post_accepted, 1);
	ck_assert_int_eq(toeless_mr_dereg(mr), 0);
	ck_assert_uint_eq(mstats(c.dev).mr_dereg, 1);
	mc_close(&c);
	free(mem);

	mc_open(&c, "mock:ddp=0", TH_SOCK_UNIX, DIG_DD);
	uint8_t dst[300];
	post1(&c, 1, dst, sizeof(dst), 1);
	mc_data_in(&c, 1, 0, 0, src, 300, FINAL_S);
	ck_assert_int_eq(mc_recv(&c, &pdu), 0);
	ck_assert(pdu.flags & TOELESS_PDU_F_PLACED);
	ck_assert(!(pdu.flags & TOELESS_PDU_F_ENGINE));
	ck_assert_mem_eq(dst, src, 300);
	ck_assert_uint_eq(mstats(c.dev).bytes_placed, 0);
	ck_assert_uint_eq(mstats(c.dev).sgl_post_accepted, 0);
	mc_close(&c);
}
END_TEST

/* The log keeps the last N calls, oldest first. */
START_TEST(test_call_log)
{
	toeless_device *dev = th_dev_open("mock:log=4");
	toeless_cq *cq = th_cq_create(dev, 0);
	uint8_t data[8] = { 0 };
	struct iovec iov = { data, sizeof(data) };
	struct toeless_crc_req req = { .iov = &iov, .iovcnt = 1 };
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(toeless_crc_submit(dev, cq, &req, 1), 1);
	struct toeless_mock_call calls[8];
	ck_assert_int_eq(toeless_mock_log(dev, calls, 8), 3);
	for (int i = 0; i < 3; i++) {
		ck_assert_uint_eq(calls[i].op, TOELESS_MOCK_OP_CRC_SUBMIT);
		ck_assert_uint_eq(calls[i].seq, (uint64_t)i + 1);
		ck_assert_int_eq(calls[i].ret, 1);
	}
	struct toeless_completion cqe[4];
	ck_assert_int_eq(th_cq_wait(cq, cqe, 3, TH_TIMEOUT_MS), 3);
	/* progress (1 entry) + 3 crc_done: the ring keeps the last 4 */
	ck_assert_int_eq(toeless_mock_log(dev, calls, 8), 4);
	ck_assert_uint_eq(calls[0].op, TOELESS_MOCK_OP_PROGRESS);
	ck_assert_uint_eq(calls[0].value, 3);
	for (int i = 1; i < 4; i++) {
		ck_assert_uint_eq(calls[i].op, TOELESS_MOCK_EV_CRC_DONE);
		ck_assert_uint_eq(calls[i].seq, calls[i - 1].seq + 1);
		ck_assert_uint_eq(calls[i].value, th_crc32c(0, data, sizeof(data)));
	}
	ck_assert_int_eq(toeless_mock_log(dev, calls, 2), 2); /* the newest two */
	ck_assert_uint_eq(calls[1].seq, 7);
	ck_assert_int_eq(toeless_mock_log_clear(dev), 0);
	ck_assert_int_eq(toeless_mock_log(dev, calls, 8), 0);
	ck_assert_int_eq(toeless_crc_submit(dev, cq, &req, 1), 1);
	ck_assert_int_eq(toeless_mock_log(dev, calls, 8), 1);
	ck_assert_uint_eq(calls[0].seq, 8);
	ck_assert_int_eq(th_cq_wait(cq, cqe, 1, TH_TIMEOUT_MS), 1);
	struct toeless_mock_stats ms = mstats(dev);
	ck_assert_uint_eq(ms.crc_submit, 4);
	ck_assert_uint_eq(ms.crc_accepted, 4);
	ck_assert_uint_eq(ms.crc_done, 4);
	ck_assert_uint_eq(ms.crc_queued, 0);
	ck_assert_int_eq(toeless_cq_destroy(cq), 0);
	ck_assert_int_eq(toeless_device_close(dev), 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("mock");
	TH_TEST(s, test_args_and_caps);
	TH_TEST(s, test_api_rejects_non_mock);
	TH_LOOP_TEST(s, test_engine_places, 0, 8);
	TH_TEST(s, test_engine_misses_incomplete_pdu);
	TH_LOOP_TEST(s, test_corrupt_digest_detected, 0, 2);
	TH_TEST(s, test_fault_data_digest);
	TH_TEST(s, test_fault_hdr_digest);
	TH_LOOP_TEST(s, test_fault_lose_sync, 0, 2);
	TH_TEST(s, test_fault_partial_placement);
	TH_LOOP_TEST(s, test_duplicate_never_reaches_buffer, 0, 2);
	TH_LOOP_TEST(s, test_fault_delay_release, 0, 2);
	TH_TEST(s, test_fault_reorder);
	TH_TEST(s, test_fault_duplicate);
	TH_LOOP_TEST(s, test_fault_exhaustion, 0, 2);
	TH_TEST(s, test_fault_device_failure);
	TH_LOOP_TEST(s, test_device_failure_at_op, 0, 3);
	TH_TEST(s, test_destroy_with_outstanding);
	TH_TEST(s, test_fault_filters);
	TH_TEST(s, test_needs_reg_and_no_ddp);
	TH_TEST(s, test_call_log);
	return th_run_suite(s);
}
