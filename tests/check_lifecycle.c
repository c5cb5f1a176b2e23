/*
 * Object lifecycles: cancel and destroy with posts outstanding (every post
 * completes exactly once, buffers untouched after), ITT reuse only after
 * the completion, device/CQ teardown order, context creation limits and bad
 * attributes, toeless_ctx_set_params() between PDUs only, and the counters
 * of destroyed contexts kept in toeless_device_stats().
 *
 * SPDX-License-Identifier: MIT
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "helpers.h"
#include "backends.h"
#include "toeless_backend.h"
#include "pdu.h"
#include "toeless_mock.h"

static const unsigned DG_BOTH = TOELESS_CTX_HEADER_DIGEST | TOELESS_CTX_DATA_DIGEST;

static bool all_zero(const uint8_t *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (p[i])
			return false;
	return true;
}

/* Cancel some of several posts: -ECANCELED completions for exactly those,
 * with nothing placed; a Data-In for a cancelled ITT is then an ordinary
 * PDU and its buffer stays untouched; the others work on. */
START_TEST(test_cancel_outstanding)
{
	struct th_conn c;
	th_conn_open(&c, TH_SOCK_UNIX, DG_BOTH, 0);
	uint8_t *b[3];
	for (int i = 0; i < 3; i++) {
		b[i] = th_canary_alloc(128);
		struct iovec iov = { b[i], 128 };
		ck_assert_int_eq(toeless_sgl_post(c.ctx, 0x100 + (uint32_t)i, &iov, 1, 1000 + (uint64_t)i), 0);
	}
	ck_assert_int_eq(toeless_sgl_cancel(c.ctx, 0x100), 0);
	ck_assert_int_eq(toeless_sgl_cancel(c.ctx, 0x102), 0);
	struct toeless_completion q[4];
	ck_assert_int_eq(th_cq_wait(c.cq, q, 2, TH_TIMEOUT_MS), 2);
	ck_assert_int_eq(th_cq_drain(c.cq, q + 2, 2), 0);
	bool seen[3] = { false, false, false };
	for (int k = 0; k < 2; k++) {
		ck_assert_uint_eq(q[k].type, TOELESS_CQE_SGL);
		ck_assert_int_eq(q[k].status, -ECANCELED);
		ck_assert_ptr_eq(q[k].ctx, c.ctx);
		ck_assert_uint_eq(q[k].bytes_placed, 0);
		ck_assert_uint_eq(q[k].user_data, 1000 + (q[k].itt - 0x100));
		ck_assert(q[k].itt == 0x100 || q[k].itt == 0x102);
		ck_assert(!seen[q[k].itt - 0x100]);
		seen[q[k].itt - 0x100] = true;
	}
	uint8_t d[128];
	th_fill_pattern(d, sizeof(d), 1);
	struct th_buf w;
	th_buf_init(&w);
	for (uint32_t i = 0; i < 3; i++)
		th_append_data_in(&w, DG_BOTH, 0x100 + i, 0, 0, d, 128,
				  TOELESS_ISCSI_FLAG_FINAL | TOELESS_ISCSI_DATAIN_STATUS, 0, 0);
	th_feed(c.peer, c.fd, w.p, w.len);
	struct toeless_pdu pdu;
	for (uint32_t i = 0; i < 3; i++) {
		ck_assert_int_eq(th_recv(c.ctx, c.fd, &pdu, TH_TIMEOUT_MS), 0);
		ck_assert_uint_eq(pdu.itt, 0x100 + i);
		if (i == 1) {
			ck_assert_uint_eq(pdu.flags, TOELESS_PDU_F_PLACED | TOELESS_PDU_F_TASK_DONE);
		} else {
			ck_assert_uint_eq(pdu.flags, 0);
			ck_assert_ptr_nonnull(pdu.data);
			ck_assert_mem_eq(pdu.data, d, 128);
		}
	}
	ck_assert(all_zero(b[0], 128));
	ck_assert_mem_eq(b[1], d, 128);
	ck_assert(all_zero(b[2], 128));
	for (int i = 0; i < 3; i++)
		ck_assert(th_canary_ok(b[i], 128));
	ck_assert_int_eq(th_cq_wait(c.cq, q, 1, TH_TIMEOUT_MS), 1);
	ck_assert_uint_eq(q[0].itt, 0x101);
	ck_assert_int_eq(q[0].status, 0);
	struct toeless_stats st;
	th_ctx_stats(c.ctx, &st);
	ck_assert_uint_eq(st.sgl_cancelled, 2);
	ck_assert_uint_eq(st.sgl_completed, 1);
	ck_assert_uint_eq(st.sgl_failed, 0);
	ck_assert_uint_eq(st.unknown_itt_pdus, 2);
	th_buf_free(&w);
	for (int i = 0; i < 3; i++)
		th_canary_free(b[i]);
	th_conn_close(&c);
}
END_TEST

/* Cancel while a Data-In for the task is half placed: once the completion
 * is out, the rest of that payload must not touch the buffer, and the
 * stream stays in step.  _i: 0 cancel, 1 destroy. */
START_TEST(test_cancel_mid_pdu)
{
	struct th_conn c;
	th_conn_open(&c, TH_SOCK_TCP, DG_BOTH, 0);
	uint8_t *b = th_canary_alloc(1000);
	struct iovec iov[2] = { { b, 500 }, { b + 500, 500 } };
	ck_assert_int_eq(toeless_sgl_post(c.ctx, 0x200, iov, 2, 0x200), 0);
	uint8_t d[1000];
	th_fill_pattern(d, sizeof(d), 2);
	struct th_buf w;
	th_buf_init(&w);
	th_append_data_in(&w, DG_BOTH, 0x200, 0, 0, d, 1000, TOELESS_ISCSI_FLAG_FINAL | TOELESS_ISCSI_DATAIN_STATUS, 0,
			  0);
	uint8_t bhs[48];
	th_bhs_nop_in(bhs, 0x201, 0xffffffff);
	size_t nop = th_append_bhs(&w, DG_BOTH, bhs, "next", 4);
	size_t part = 52 + 300;
	th_feed(c.peer, c.fd, w.p, part);
	struct toeless_pdu pdu;
	ck_assert_int_eq(toeless_pdu_recv(c.ctx, &pdu), -EAGAIN);
	struct toeless_completion q[2];
	if (_i == 0) {
		ck_assert_int_eq(toeless_sgl_cancel(c.ctx, 0x200), 0);
	} else {
		ck_assert_int_eq(toeless_ctx_destroy(c.ctx), 0);
		c.ctx = NULL;
	}
	ck_assert_int_eq(th_cq_wait(c.cq, q, 1, TH_TIMEOUT_MS), 1);
	ck_assert_uint_eq(q[0].type, TOELESS_CQE_SGL);
	ck_assert_int_eq(q[0].status, -ECANCELED);
	ck_assert_uint_eq(q[0].user_data, 0x200);
	uint8_t *snap = malloc(1000);
	memcpy(snap, b, 1000);
	/* whatever landed before the cancel is a prefix of the payload */
	for (int i = 0; i < 1000; i++)
		ck_assert(b[i] == 0 || b[i] == d[i]);
	if (_i == 0) {
		th_feed(c.peer, c.fd, w.p + part, w.len - part);
		int rc = th_recv(c.ctx, c.fd, &pdu, TH_TIMEOUT_MS);
		ck_assert_int_ne(rc, -EAGAIN);
		ck_assert_uint_eq(pdu.itt, 0x200);
		ck_assert_uint_eq(pdu.flags & TOELESS_PDU_F_PLACED, 0);
		/* the stream is still in step */
		ck_assert_int_eq(th_recv(c.ctx, c.fd, &pdu, TH_TIMEOUT_MS), 0);
		ck_assert_uint_eq(pdu.stream_pos, nop);
		ck_assert_mem_eq(pdu.data, "next", 4);
		ck_assert_int_eq(th_cq_drain(c.cq, NULL, 0), 0); /* no second completion */
	}
	ck_assert_mem_eq(b, snap, 1000);
	ck_assert(th_canary_ok(b, 1000));
	free(snap);
	th_buf_free(&w);
	th_canary_free(b);
	th_conn_close(&c);
}
END_TEST

/* Destroy with many posts outstanding (some partly placed): every post
 * completes exactly once, -ECANCELED, with its own cookie and the bytes
 * placed so far; no ERROR completion. */
/* Loop index: no direct task table, one of 64 entries (most of these ITTs
 * collide there and go to the hash), one of 8192 (toeless_ctx_attr.itt_slots):
 * destroy's walk finds every post in both. */
START_TEST(test_destroy_outstanding)
{
	const int n = (int)th_iter(500) > 5000 ? 5000 : (int)th_iter(500);
	static const uint32_t slots[] = { 0, 64, 8192 };
	struct th_conn c;
	struct toeless_ctx_attr ta;
	th_ctx_attr_init(&ta, -1, NULL, 0, 0);
	ta.max_tasks = 8192;
	ta.itt_slots = slots[_i];
	th_conn_open_attr(&c, TH_SOCK_UNIX, &ta);
	uint8_t *mem = calloc((size_t)n, 16);
	for (int i = 0; i < n; i++) {
		struct iovec iov = { mem + 16 * i, 16 };
		ck_assert_int_eq(toeless_sgl_post(c.ctx, (uint32_t)i * 7919u, &iov, 1, 0xd000000ull + (uint64_t)i), 0);
	}
	/* the first 10 get half their data */
	uint8_t d[8];
	memset(d, 0xee, sizeof(d));
	struct th_buf w;
	th_buf_init(&w);
	for (int i = 0; i < 10 && i < n; i++)
		th_append_data_in(&w, 0, (uint32_t)i * 7919u, 0, 4, d, 8, 0, 0, 0);
	th_feed(c.peer, c.fd, w.p, w.len);
	struct toeless_pdu pdu;
	for (int i = 0; i < 10 && i < n; i++)
		ck_assert_int_eq(th_recv(c.ctx, c.fd, &pdu, TH_TIMEOUT_MS), 0);
	ck_assert_int_eq(th_cq_drain(c.cq, NULL, 0), 0);
	toeless_ctx *ctx = c.ctx;
	ck_assert_int_eq(toeless_ctx_destroy(c.ctx), 0);
	c.ctx = NULL;
	struct toeless_completion *q = calloc((size_t)n + 1, sizeof(*q));
	ck_assert_int_eq(th_cq_wait(c.cq, q, n, TH_TIMEOUT_MS), n);
	ck_assert_int_eq(th_cq_drain(c.cq, q + n, 1), 0);
	uint8_t *seen = calloc((size_t)n, 1);
	for (int k = 0; k < n; k++) {
		ck_assert_uint_eq(q[k].type, TOELESS_CQE_SGL);
		ck_assert_int_eq(q[k].status, -ECANCELED);
		ck_assert_ptr_eq(q[k].ctx, ctx);
		uint64_t i = q[k].user_data - 0xd000000ull;
		ck_assert_uint_lt(i, (uint64_t)n);
		ck_assert_uint_eq(q[k].itt, (uint32_t)i * 7919u);
		ck_assert_msg(!seen[i], "post %llu completed twice", (unsigned long long)i);
		seen[i] = 1;
		ck_assert_uint_eq(q[k].bytes_placed, i < 10 ? 8 : 0);
	}
	/* and their buffers: placed bytes where Data-In went, zero elsewhere */
	for (int i = 0; i < n; i++) {
		for (int j = 0; j < 16; j++)
			TH_CHECK(mem[16 * i + j] == (i < 10 && j >= 4 && j < 12 ? 0xee : 0), "post %d byte %d", i, j);
	}
	struct toeless_stats st = { .size = sizeof(st) };
	ck_assert_int_eq(toeless_device_stats(c.dev, &st), 0);
	ck_assert_uint_eq(st.sgl_cancelled, (uint64_t)n);
	ck_assert_uint_eq(st.sgl_posted, (uint64_t)n);
	free(seen);
	free(q);
	free(mem);
	th_buf_free(&w);
	th_conn_close(&c);
}
END_TEST

/* toeless-iscsi's ITTs (a 15-bit sequence number over a slot index) with a
 * direct table of 16: reads for every slot, then a second generation with
 * the same slots while the first is still posted (those go to the hash),
 * all placed, digests checked, completed once, with the right cookie.
 * Loop index 1 runs the same with TOELESS_CTX_RCVLOWAT over TCP. */
START_TEST(test_itt_slots)
{
	enum { SLOTS = 16, LEN = 3000 };
	struct th_conn c;
	struct toeless_ctx_attr ta;
	unsigned dg = TOELESS_CTX_HEADER_DIGEST | TOELESS_CTX_DATA_DIGEST;
	th_ctx_attr_init(&ta, -1, NULL, dg, 0);
	ta.max_tasks = 2 * SLOTS;
	ta.itt_slots = SLOTS;
	ta.flags = _i ? TOELESS_CTX_RCVLOWAT : 0;
	th_conn_open_attr(&c, _i ? TH_SOCK_TCP : TH_SOCK_UNIX, &ta);
	static uint8_t buf[2][SLOTS][LEN], src[LEN];
	th_fill_pattern(src, LEN, 99);
	struct th_buf w;
	th_buf_init(&w);
	for (uint32_t g = 0; g < 2; g++)
		for (uint32_t i = 0; i < SLOTS; i++) {
			uint32_t itt = (g + 1) << 16 | i;
			struct iovec iov = { buf[g][i], LEN };
			ck_assert_int_eq(toeless_sgl_post(c.ctx, itt, &iov, 1, 100 * g + i), 0);
			/* two Data-In each, the second with the status */
			th_append_data_in(&w, dg, itt, 0, 0, src, 1000, 0, 0, 0);
			th_append_data_in(&w, dg, itt, 1, 1000, src + 1000, LEN - 1000,
					  TOELESS_ISCSI_FLAG_FINAL | TOELESS_ISCSI_DATAIN_STATUS, 0, 0);
		}
	struct th_writer_opts wo = { .split = TH_SPLIT_FIXED, .chunk = 1448, .drain_fd = -1, .delay_us = 50 };
	struct th_writer *wr = th_writer_start(c.peer, w.p, w.len, &wo);
	struct toeless_pdu pdu;
	for (int k = 0; k < 4 * SLOTS; k++) {
		ck_assert_int_eq(th_recv(c.ctx, c.fd, &pdu, TH_TIMEOUT_MS), 0);
		ck_assert(pdu.flags & TOELESS_PDU_F_PLACED);
		ck_assert_uint_eq(pdu.data_digest, TOELESS_DIGEST_OK);
	}
	ck_assert_uint_eq(th_writer_join(wr), w.len);
	struct toeless_completion q[2 * SLOTS + 1];
	ck_assert_int_eq(th_cq_wait(c.cq, q, 2 * SLOTS, TH_TIMEOUT_MS), 2 * SLOTS);
	ck_assert_int_eq(th_cq_drain(c.cq, q + 2 * SLOTS, 1), 0);
	uint8_t seen[2][SLOTS];
	memset(seen, 0, sizeof(seen));
	for (int k = 0; k < 2 * SLOTS; k++) {
		ck_assert_int_eq(q[k].status, 0);
		uint32_t g = (uint32_t)q[k].user_data / 100, i = (uint32_t)q[k].user_data % 100;
		ck_assert_uint_eq(q[k].itt, (g + 1) << 16 | i);
		ck_assert_uint_eq(q[k].bytes_placed, LEN);
		ck_assert(!seen[g][i]);
		seen[g][i] = 1;
		ck_assert_mem_eq(buf[g][i], src, LEN);
	}
	struct toeless_stats st;
	th_ctx_stats(c.ctx, &st);
	ck_assert_uint_eq(st.data_in_placed, 4 * SLOTS);
	ck_assert_uint_eq(st.unknown_itt_pdus, 0);
	th_buf_free(&w);
	th_conn_close(&c);
}
END_TEST

static int rcvlowat_of(int fd)
{
	int v = -1;
	socklen_t l = sizeof(v);
	ck_assert_int_eq(getsockopt(fd, SOL_SOCKET, SO_RCVLOWAT, &v, &l), 0);
	return v;
}

static bool readable_now(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	return poll(&p, 1, 0) == 1 && (p.revents & POLLIN);
}

/* The receive buffer a context with TOELESS_CTX_RCVLOWAT must have after
 * create: Linux clamps the window at a low-water mark it had to grow the
 * buffer for, so create grows it once to 4 MiB (bounded by tcp_rmem[2] / 2)
 * and later marks clamp nothing.  0 when /proc does not say. */
static long lowat_rcvbuf_floor(long *def_out)
{
	long lo, def, max;
	FILE *f = fopen("/proc/sys/net/ipv4/tcp_rmem", "r");
	if (!f)
		return 0;
	int n = fscanf(f, "%ld %ld %ld", &lo, &def, &max);
	fclose(f);
	if (n != 3)
		return 0;
	*def_out = def;
	return max / 2 < (4L << 20) ? max / 2 : (4L << 20);
}

/* Create with TOELESS_CTX_RCVLOWAT sizes the socket's receive buffer once
 * (so no later mark clamps the window at one PDU) and leaves the mark at 1;
 * without the flag the socket is not touched (loop index 0). */
START_TEST(test_rcvlowat_window)
{
	long def = 0, floor = lowat_rcvbuf_floor(&def);
	if (!floor)
		return;
	struct th_conn c;
	struct toeless_ctx_attr ta;
	th_ctx_attr_init(&ta, -1, NULL, 0, 0);
	ta.flags = _i ? TOELESS_CTX_RCVLOWAT : 0;
	th_conn_open_attr(&c, TH_SOCK_TCP, &ta);
	int rcvbuf = 0;
	socklen_t l = sizeof(rcvbuf);
	ck_assert_int_eq(getsockopt(c.fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, &l), 0);
	ck_assert_int_eq(rcvlowat_of(c.fd), 1);
	if (_i)
		ck_assert_msg(rcvbuf >= floor, "receive buffer %d, at least %ld expected", rcvbuf, floor);
	else if (def < floor)
		ck_assert_msg(rcvbuf < floor, "receive buffer %d grown without the flag", rcvbuf);
	th_conn_close(&c);
}
END_TEST

/* TOELESS_CTX_RCVLOWAT over TCP: a PDU that stops half way leaves the
 * socket readable only once the rest is in (one wake-up, not one per
 * segment); between PDUs any byte wakes it again (a short PDU after a long
 * one is not held back); destroy gives the socket its default back.
 * Without the flag nothing changes (loop index 0). */
START_TEST(test_rcvlowat)
{
	enum { LEN = 65536 };
	unsigned dg = TOELESS_CTX_HEADER_DIGEST | TOELESS_CTX_DATA_DIGEST;
	struct th_conn c;
	struct toeless_ctx_attr ta;
	th_ctx_attr_init(&ta, -1, NULL, dg, LEN);
	ta.flags = _i ? TOELESS_CTX_RCVLOWAT : 0;
	th_conn_open_attr(&c, TH_SOCK_TCP, &ta);
	int big = 4 << 20;
	setsockopt(c.fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
	uint8_t *dst = calloc(1, LEN), *src = malloc(LEN);
	th_fill_pattern(src, LEN, 5);
	struct iovec iov = { dst, LEN };
	ck_assert_int_eq(toeless_sgl_post(c.ctx, 9, &iov, 1, 9), 0);
	struct th_buf w;
	th_buf_init(&w);
	th_append_data_in(&w, dg, 9, 0, 0, src, LEN, TOELESS_ISCSI_FLAG_FINAL | TOELESS_ISCSI_DATAIN_STATUS, 0, 0);
	size_t first = 52 + 20000;
	th_feed(c.peer, c.fd, w.p, first);
	struct toeless_pdu pdu;
	ck_assert_int_eq(toeless_pdu_recv(c.ctx, &pdu), -EAGAIN);
	uint32_t rest = (uint32_t)(w.len - first);
	if (_i) {
		ck_assert_int_eq(rcvlowat_of(c.fd), (int)rest);
		/* most of the rest arrives: still not worth waking up */
		ck_assert_int_eq(th_write_all(c.peer, w.p + first, rest - 100), 0);
		usleep(20000);
		ck_assert(!readable_now(c.fd));
		ck_assert_int_eq(th_write_all(c.peer, w.p + first + rest - 100, 100), 0);
	} else {
		ck_assert_int_eq(rcvlowat_of(c.fd), 1);
		ck_assert_int_eq(th_write_all(c.peer, w.p + first, rest - 100), 0);
		ck_assert_int_eq(th_write_all(c.peer, w.p + first + rest - 100, 100), 0);
	}
	ck_assert_int_eq(th_recv(c.ctx, c.fd, &pdu, TH_TIMEOUT_MS), 0);
	ck_assert(pdu.flags & TOELESS_PDU_F_TASK_DONE);
	ck_assert_uint_eq(pdu.data_digest, TOELESS_DIGEST_OK);
	ck_assert_mem_eq(dst, src, LEN);
	/* between PDUs: back to any byte, so a 48-byte NOP-In wakes us */
	ck_assert_int_eq(toeless_pdu_recv(c.ctx, &pdu), -EAGAIN);
	ck_assert_int_eq(rcvlowat_of(c.fd), 1);
	uint8_t nop[48];
	th_bhs_nop_in(nop, 0xffffffffu, 1);
	struct th_buf w2;
	th_buf_init(&w2);
	th_append_bhs(&w2, dg, nop, NULL, 0);
	ck_assert_int_eq(th_write_all(c.peer, w2.p, w2.len), 0);
	ck_assert_int_eq(th_recv(c.ctx, c.fd, &pdu, TH_TIMEOUT_MS), 0);
	ck_assert_uint_eq(pdu.opcode, TOELESS_ISCSI_OP_NOP_IN);
	/* a target that writes the BHS alone (tgtd writes BHS, header digest,
	 * data and data digest separately): once the BHS is in, the whole PDU
	 * is waited for */
	ck_assert_int_eq(toeless_sgl_post(c.ctx, 9, &iov, 1, 9), 0);
	th_feed(c.peer, c.fd, w.p, 48);
	ck_assert_int_eq(toeless_pdu_recv(c.ctx, &pdu), -EAGAIN);
	ck_assert_int_eq(rcvlowat_of(c.fd), _i ? (int)(w.len - 48) : 1);
	ck_assert_int_eq(th_write_all(c.peer, w.p + 48, w.len - 48), 0);
	ck_assert_int_eq(th_recv(c.ctx, c.fd, &pdu, TH_TIMEOUT_MS), 0);
	ck_assert(pdu.flags & TOELESS_PDU_F_TASK_DONE);
	ck_assert_int_eq(toeless_pdu_recv(c.ctx, &pdu), -EAGAIN);
	ck_assert_int_eq(rcvlowat_of(c.fd), 1);
	/* a short remainder (< 4 KiB) is not worth a setsockopt */
	struct iovec iov2 = { dst, 6000 };
	ck_assert_int_eq(toeless_sgl_post(c.ctx, 10, &iov2, 1, 10), 0);
	struct th_buf w3;
	th_buf_init(&w3);
	th_append_data_in(&w3, dg, 10, 0, 0, src, 6000, TOELESS_ISCSI_FLAG_FINAL | TOELESS_ISCSI_DATAIN_STATUS, 0, 0);
	th_feed(c.peer, c.fd, w3.p, 52 + 3000);
	ck_assert_int_eq(toeless_pdu_recv(c.ctx, &pdu), -EAGAIN);
	ck_assert_int_eq(rcvlowat_of(c.fd), 1);
	/* a long one left half way, then destroy: the socket is given back at 1 */
	ck_assert_int_eq(th_write_all(c.peer, w3.p + 52 + 3000, w3.len - 52 - 3000), 0);
	ck_assert_int_eq(th_recv(c.ctx, c.fd, &pdu, TH_TIMEOUT_MS), 0);
	ck_assert_int_eq(toeless_sgl_post(c.ctx, 9, &iov, 1, 9), 0);
	th_feed(c.peer, c.fd, w.p, first);
	ck_assert_int_eq(toeless_pdu_recv(c.ctx, &pdu), -EAGAIN);
	ck_assert_int_eq(rcvlowat_of(c.fd), _i ? (int)rest : 1);
	ck_assert_int_eq(toeless_ctx_destroy(c.ctx), 0);
	c.ctx = NULL;
	ck_assert_int_eq(rcvlowat_of(c.fd), 1);
	th_buf_free(&w);
	th_buf_free(&w2);
	th_buf_free(&w3);
	free(dst);
	free(src);
	th_conn_close(&c);
}
END_TEST

/* The same against the mock engine holding every SGL and releasing it
 * late (and twice): destroy still completes each post exactly once. */
START_TEST(test_destroy_engine_held)
{
	struct toeless_ctx_attr a;
	th_ctx_attr_init(&a, -1, NULL, 0, 0);
	struct th_conn c;
	th_conn_open_spec(&c, TH_SOCK_UNIX, "mock", &a);
	struct toeless_mock_fault f = { .size = sizeof(f),
					.kind = _i ? TOELESS_MOCK_FAULT_DUPLICATE_COMPLETIONS
						   : TOELESS_MOCK_FAULT_DELAY_RELEASE,
					.count = TOELESS_MOCK_FOREVER,
					.value = 3 };
	ck_assert_int_gt(toeless_mock_fault_add(c.dev, &f), 0);
	enum { N = 100 };
	static uint8_t mem[N][8];
	for (int i = 0; i < N; i++) {
		struct iovec iov = { mem[i], 8 };
		ck_assert_int_eq(toeless_sgl_post(c.ctx, (uint32_t)i + 1, &iov, 1, (uint64_t)i), 0);
	}
	ck_assert_int_eq(toeless_ctx_destroy(c.ctx), 0);
	c.ctx = NULL;
	struct toeless_completion q[N + 1];
	ck_assert_int_eq(th_cq_wait(c.cq, q, N, TH_TIMEOUT_MS), N);
	ck_assert_int_eq(th_cq_drain(c.cq, q + N, 1), 0);
	bool seen[N];
	memset(seen, 0, sizeof(seen));
	for (int k = 0; k < N; k++) {
		ck_assert_uint_eq(q[k].type, TOELESS_CQE_SGL);
		ck_assert_int_eq(q[k].status, -ECANCELED);
		ck_assert_uint_lt(q[k].user_data, N);
		ck_assert(!seen[q[k].user_data]);
		seen[q[k].user_data] = true;
	}
	th_conn_close(&c);
}
END_TEST

/* An ITT can be posted again once its completion is queued: at once with
 * software, only after the engine let go with a delaying engine. */
START_TEST(test_itt_reuse)
{
	struct th_conn c;
	th_conn_open(&c, TH_SOCK_UNIX, 0, 0);
	uint8_t b[32], d[32];
	memset(b, 0, sizeof(b));
	th_fill_pattern(d, sizeof(d), 3);
	struct iovec iov = { b, 32 };
	/* complete by S bit, repost, complete by cancel, repost, complete by response */
	ck_assert_int_eq(toeless_sgl_post(c.ctx, 77, &iov, 1, 1), 0);
	ck_assert_int_eq(toeless_sgl_post(c.ctx, 77, &iov, 1, 2), -EEXIST);
	struct th_buf w;
	th_buf_init(&w);
	th_append_data_in(&w, 0, 77, 0, 0, d, 32, TOELESS_ISCSI_FLAG_FINAL | TOELESS_ISCSI_DATAIN_STATUS, 0, 0);
	th_feed(c.peer, c.fd, w.p, w.len);
	struct toeless_pdu pdu;
	ck_assert_int_eq(th_recv(c.ctx, c.fd, &pdu, TH_TIMEOUT_MS), 0);
	ck_assert_uint_eq(pdu.flags & TOELESS_PDU_F_TASK_DONE, TOELESS_PDU_F_TASK_DONE);
	ck_assert_int_eq(toeless_sgl_post(c.ctx, 77, &iov, 1, 3), 0);
	ck_assert_int_eq(toeless_sgl_cancel(c.ctx, 77), 0);
	ck_assert_int_eq(toeless_sgl_post(c.ctx, 77, &iov, 1, 4), 0);
	uint8_t bhs[48];
	/* no data: GOOD with an underflow residual of the whole transfer */
	th_bhs_scsi_rsp(bhs, 77, 0, 0, TOELESS_ISCSI_RSP_UNDERFLOW, 32);
	w.len = 0;
	th_append_bhs(&w, 0, bhs, NULL, 0);
	th_feed(c.peer, c.fd, w.p, w.len);
	ck_assert_int_eq(th_recv(c.ctx, c.fd, &pdu, TH_TIMEOUT_MS), 0);
	ck_assert_uint_eq(pdu.flags, TOELESS_PDU_F_TASK_DONE);
	ck_assert_int_eq(toeless_sgl_post(c.ctx, 77, &iov, 1, 5), 0);
	struct toeless_completion q[4];
	ck_assert_int_eq(th_cq_drain(c.cq, q, 4), 3);
	ck_assert_uint_eq(q[0].user_data, 1);
	ck_assert_int_eq(q[0].status, 0);
	ck_assert_uint_eq(q[1].user_data, 3);
	ck_assert_int_eq(q[1].status, -ECANCELED);
	ck_assert_uint_eq(q[2].user_data, 4);
	ck_assert_int_eq(q[2].status, 0);
	th_buf_free(&w);
	th_conn_close(&c);
}
END_TEST

START_TEST(test_itt_reuse_delayed_release)
{
	struct toeless_ctx_attr a;
	th_ctx_attr_init(&a, -1, NULL, 0, 0);
	struct th_conn c;
	th_conn_open_spec(&c, TH_SOCK_UNIX, "mock", &a);
	struct toeless_mock_fault f = { .size = sizeof(f), .kind = TOELESS_MOCK_FAULT_DELAY_RELEASE, .value = 3 };
	ck_assert_int_gt(toeless_mock_fault_add(c.dev, &f), 0);
	uint8_t b[32];
	struct iovec iov = { b, 32 };
	ck_assert_int_eq(toeless_sgl_post(c.ctx, 9, &iov, 1, 1), 0);
	ck_assert_int_eq(toeless_sgl_cancel(c.ctx, 9), 0);
	/* the engine still holds it: not released, not reusable, not cancellable again */
	struct toeless_completion q[2];
	ck_assert_int_eq(toeless_cq_poll(c.cq, q, 2), 0);
	ck_assert_int_eq(toeless_sgl_post(c.ctx, 9, &iov, 1, 2), -EEXIST);
	ck_assert_int_eq(toeless_sgl_cancel(c.ctx, 9), -ENOENT);
	/* let it progress */
	struct toeless_pdu pdu;
	int n = 0;
	for (int k = 0; k < 20 && n == 0; k++) {
		ck_assert_int_eq(toeless_pdu_recv(c.ctx, &pdu), -EAGAIN);
		n = toeless_cq_poll(c.cq, q, 2);
	}
	ck_assert_int_eq(n, 1);
	ck_assert_int_eq(q[0].status, -ECANCELED);
	ck_assert_uint_eq(q[0].user_data, 1);
	ck_assert_int_eq(toeless_sgl_post(c.ctx, 9, &iov, 1, 3), 0);
	th_conn_close(&c);
}
END_TEST

/* toeless_ctx_progress() alone (no socket activity) delivers a release the
 * engine made late, and reports how many finished posts it still holds. */
START_TEST(test_ctx_progress_delivers_release)
{
	struct toeless_ctx_attr a;
	th_ctx_attr_init(&a, -1, NULL, 0, 0);
	struct th_conn c;
	th_conn_open_spec(&c, TH_SOCK_UNIX, "mock", &a);
	struct toeless_mock_fault f = {
		.size = sizeof(f), .kind = TOELESS_MOCK_FAULT_DELAY_RELEASE, .count = 2, .value = 2
	};
	ck_assert_int_gt(toeless_mock_fault_add(c.dev, &f), 0);
	uint8_t b1[32], b2[32];
	struct iovec i1 = { b1, 32 }, i2 = { b2, 32 };
	ck_assert_int_eq(toeless_sgl_post(c.ctx, 1, &i1, 1, 11), 0);
	ck_assert_int_eq(toeless_sgl_post(c.ctx, 2, &i2, 1, 12), 0);
	ck_assert_int_eq(toeless_ctx_progress(NULL), -EINVAL);
	ck_assert_int_eq(toeless_ctx_progress(c.ctx), 0); /* nothing finished yet */
	ck_assert_int_eq(toeless_sgl_cancel(c.ctx, 1), 0);
	ck_assert_int_eq(toeless_sgl_cancel(c.ctx, 2), 0);
	struct toeless_completion q[3];
	ck_assert_int_eq(toeless_cq_poll(c.cq, q, 3), 0);
	int held = 2, got = 0, calls = 0;
	while (held > 0 && calls < 10) {
		held = toeless_ctx_progress(c.ctx);
		ck_assert_int_ge(held, 0);
		calls++;
		got += toeless_cq_poll(c.cq, q + got, 3 - got);
	}
	ck_assert_int_eq(held, 0);
	ck_assert_int_eq(got, 2);
	ck_assert_int_eq(q[0].status, -ECANCELED);
	ck_assert_int_eq(q[1].status, -ECANCELED);
	ck_assert_uint_eq(q[0].user_data + q[1].user_data, 23);
	th_conn_close(&c);
}
END_TEST

/* Teardown order: a device with a context, a CQ or a registration is
 * -EBUSY; a CQ with a context delivering to it is -EBUSY. */
START_TEST(test_close_order)
{
	struct th_conn c;
	th_conn_open(&c, TH_SOCK_UNIX, 0, 0);
	ck_assert_int_eq(toeless_device_close(c.dev), -EBUSY);
	ck_assert_int_eq(toeless_cq_destroy(c.cq), -EBUSY);
	uint8_t b[8];
	struct iovec iov = { b, 8 };
	ck_assert_int_eq(toeless_sgl_post(c.ctx, 1, &iov, 1, 1), 0);
	ck_assert_int_eq(toeless_ctx_destroy(c.ctx), 0);
	c.ctx = NULL;
	ck_assert_int_eq(toeless_device_close(c.dev), -EBUSY);
	static uint8_t region[4096];
	toeless_mr *mr = NULL;
	ck_assert_int_eq(toeless_mr_reg(c.dev, region, sizeof(region), &mr), 0);
	ck_assert_int_eq(toeless_cq_destroy(c.cq), 0); /* unpolled completion discarded */
	c.cq = NULL;
	ck_assert_int_eq(toeless_device_close(c.dev), -EBUSY);
	ck_assert_int_eq(toeless_mr_dereg(mr), 0);
	ck_assert_int_eq(toeless_device_close(c.dev), 0);
	c.dev = NULL;
	th_conn_close(&c);
}
END_TEST

/* toeless_ctx_create() refuses bad attributes with -EINVAL and leaves
 * nothing behind. */
START_TEST(test_ctx_create_bad)
{
	struct th_conn c;
	th_conn_open(&c, TH_SOCK_UNIX, 0, 0);
	struct toeless_caps caps;
	th_query(c.dev, &caps);
	toeless_device *dev2 = th_dev_open("sw");
	toeless_cq *cq2 = th_cq_create(dev2, 0);
	int pfd[2];
	ck_assert_int_eq(pipe(pfd), 0);
	int udp = socket(AF_INET, SOCK_DGRAM, 0);
	ck_assert_int_ge(udp, 0);
	int closed = dup(c.fd);
	ck_assert_int_ge(closed, 0);
	close(closed);

	struct toeless_ctx_attr a;
	toeless_ctx *ctx = NULL;
	for (int k = 0; k < 16; k++) {
		th_ctx_attr_init(&a, c.fd, c.cq, 0, 0);
		switch (k) {
		case 0: a.fd = -1; break;
		case 1: a.fd = closed; break;
		case 2: a.fd = pfd[0]; break; /* not a socket */
		case 3: a.fd = udp; break;    /* not a stream */
		case 4: a.cq = NULL; break;
		case 5: a.cq = cq2; break; /* another device's queue */
		case 6: a.size = 0; break;
		case 7: a.params.reserved[0] = 1; break; /* a parameter this library does not know */
		case 8: a.params.max_recv_dsl = caps.max_recv_dsl + 1; break;
		case 9: a.params.max_recv_dsl = TOELESS_ISCSI_MAX_DSL + 1; break;
		case 10: a.params.max_send_dsl = TOELESS_ISCSI_MAX_DSL + 1; break;
		case 11: a.max_tasks = caps.max_tasks + 1; break;
		case 13:
			a.max_tasks = 100;
			a.itt_slots = 129;
			break; /* more than max_tasks rounded up */
		case 14:
			a.max_tasks = 1u << 25;
			a.itt_slots = (1u << 24) + 1;
			break;                            /* over 2^24 */
		case 15: a.flags = 1u << 9; break;        /* an unknown attribute flag */
		default: a.params.flags = 1u << 7; break; /* an unknown flag */
		}
		int rc = toeless_ctx_create(c.dev, &a, &ctx);
		ck_assert_msg(rc == -EINVAL, "bad attr %d: %d, expected -EINVAL", k, rc);
		ck_assert_ptr_null(ctx);
	}
	/* a good one after all that; the failures left nothing to destroy */
	th_ctx_attr_init(&a, c.fd, c.cq, 0, 0);
	ck_assert_int_eq(toeless_ctx_create(c.dev, &a, &ctx), 0);
	ck_assert_int_eq(toeless_ctx_destroy(ctx), 0);
	ck_assert_int_eq(toeless_cq_destroy(cq2), 0);
	ck_assert_int_eq(toeless_device_close(dev2), 0);
	close(pfd[0]);
	close(pfd[1]);
	close(udp);
	th_conn_close(&c);
}
END_TEST

/* caps.max_contexts is enforced (-ENOSPC) and failures do not use up slots. */
START_TEST(test_max_contexts)
{
	toeless_device *dev = th_dev_open("mock:max_contexts=4");
	struct toeless_caps caps;
	th_query(dev, &caps);
	ck_assert_uint_eq(caps.max_contexts, 4);
	toeless_cq *cq = th_cq_create(dev, 0);
	int sv[2];
	th_sockpair(TH_SOCK_UNIX, sv);
	toeless_ctx *ctx[5] = { NULL };
	struct toeless_ctx_attr a;
	for (int i = 0; i < 4; i++) {
		th_ctx_attr_init(&a, sv[0], cq, 0, 0);
		ck_assert_int_eq(toeless_ctx_create(dev, &a, &ctx[i]), 0);
		/* a bad create in between takes no slot */
		a.fd = -1;
		toeless_ctx *x = NULL;
		ck_assert_int_eq(toeless_ctx_create(dev, &a, &x), -EINVAL);
	}
	th_ctx_attr_init(&a, sv[0], cq, 0, 0);
	ck_assert_int_eq(toeless_ctx_create(dev, &a, &ctx[4]), -ENOSPC);
	ck_assert_int_eq(toeless_ctx_create(dev, &a, &ctx[4]), -ENOSPC);
	ck_assert_int_eq(toeless_ctx_destroy(ctx[2]), 0);
	ck_assert_int_eq(toeless_ctx_create(dev, &a, &ctx[2]), 0);
	ck_assert_int_eq(toeless_ctx_create(dev, &a, &ctx[4]), -ENOSPC);
	for (int i = 0; i < 4; i++)
		ck_assert_int_eq(toeless_ctx_destroy(ctx[i]), 0);
	/* all slots free again */
	for (int i = 0; i < 4; i++)
		ck_assert_int_eq(toeless_ctx_create(dev, &a, &ctx[i]), 0);
	for (int i = 0; i < 4; i++)
		ck_assert_int_eq(toeless_ctx_destroy(ctx[i]), 0);
	ck_assert_int_eq(toeless_cq_destroy(cq), 0);
	ck_assert_int_eq(toeless_device_close(dev), 0);
	close(sv[0]);
	close(sv[1]);
}
END_TEST

/* toeless_ctx_set_params(): -EBUSY with a PDU half received; -EINVAL for
 * bad parameters (the old ones stay); fine between PDUs. */
START_TEST(test_set_params_busy)
{
	struct th_conn c;
	th_conn_open(&c, TH_SOCK_UNIX, 0, 0);
	uint8_t bhs[48], d[100];
	th_fill_pattern(d, sizeof(d), 4);
	struct th_buf w;
	th_buf_init(&w);
	th_bhs_nop_in(bhs, 0x1, 0xffffffff);
	th_append_bhs(&w, 0, bhs, d, 100);
	struct toeless_ctx_params p = { .flags = DG_BOTH };
	/* header and part of the data */
	th_feed(c.peer, c.fd, w.p, 60);
	struct toeless_pdu pdu;
	ck_assert_int_eq(toeless_pdu_recv(c.ctx, &pdu), -EAGAIN);
	ck_assert_int_eq(toeless_ctx_set_params(c.ctx, &p), -EBUSY);
	th_feed(c.peer, c.fd, w.p + 60, w.len - 60);
	ck_assert_int_eq(th_recv(c.ctx, c.fd, &pdu, TH_TIMEOUT_MS), 0);
	ck_assert_mem_eq(pdu.data, d, 100);
	ck_assert_uint_eq(pdu.hdr_digest, TOELESS_DIGEST_NONE);
	/* bad parameters: refused, the old ones stay */
	struct toeless_ctx_params bad = p;
	bad.reserved[2] = 1; /* unknown parameter */
	ck_assert_int_eq(toeless_ctx_set_params(c.ctx, &bad), -EINVAL);
	bad = p;
	bad.flags = 1u << 9;
	ck_assert_int_eq(toeless_ctx_set_params(c.ctx, &bad), -EINVAL);
	bad = p;
	bad.max_recv_dsl = TOELESS_ISCSI_MAX_DSL + 1;
	ck_assert_int_eq(toeless_ctx_set_params(c.ctx, &bad), -EINVAL);
	w.len = 0;
	th_append_bhs(&w, 0, bhs, d, 7);
	th_feed(c.peer, c.fd, w.p, w.len);
	ck_assert_int_eq(th_recv(c.ctx, c.fd, &pdu, TH_TIMEOUT_MS), 0);
	ck_assert_uint_eq(pdu.hdr_digest, TOELESS_DIGEST_NONE);
	ck_assert_mem_eq(pdu.data, d, 7);
	/* between PDUs: accepted, and it applies to the next PDU */
	ck_assert_int_eq(toeless_ctx_set_params(c.ctx, &p), 0);
	w.len = 0;
	th_append_bhs(&w, DG_BOTH, bhs, d, 9);
	th_feed(c.peer, c.fd, w.p, w.len);
	ck_assert_int_eq(th_recv(c.ctx, c.fd, &pdu, TH_TIMEOUT_MS), 0);
	ck_assert_uint_eq(pdu.hdr_digest, TOELESS_DIGEST_OK);
	ck_assert_uint_eq(pdu.data_digest, TOELESS_DIGEST_OK);
	ck_assert_mem_eq(pdu.data, d, 9);
	th_buf_free(&w);
	th_conn_close(&c);
}
END_TEST

/* A destroyed context's counters stay in toeless_device_stats(); an open
 * one's are added in. */
START_TEST(test_device_stats_retained)
{
	toeless_device *dev = th_dev_open("sw");
	toeless_cq *cq = th_cq_create(dev, 0);
	int s1[2], s2[2];
	th_sockpair(TH_SOCK_UNIX, s1);
	th_sockpair(TH_SOCK_TCP, s2);
	th_set_nonblock(s1[0], true);
	th_set_nonblock(s2[0], true);
	toeless_ctx *c1 = th_ctx_create(dev, cq, s1[0], TOELESS_CTX_HEADER_DIGEST, 0);
	toeless_ctx *c2 = th_ctx_create(dev, cq, s2[0], 0, 0);
	struct th_buf w;
	th_buf_init(&w);
	uint8_t bhs[48];
	th_bhs_nop_in(bhs, 5, 0xffffffff);
	for (int i = 0; i < 3; i++)
		th_append_bhs(&w, TOELESS_CTX_HEADER_DIGEST, bhs, "abc", 3);
	th_feed(s1[1], s1[0], w.p, w.len);
	struct toeless_pdu pdu;
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(th_recv(c1, s1[0], &pdu, TH_TIMEOUT_MS), 0);
	ck_assert_int_eq(toeless_pdu_send(c1, bhs, NULL, 0, NULL, 0), 0);
	uint8_t b[8];
	memset(b, 7, sizeof(b));
	struct iovec iov = { b, 8 };
	ck_assert_int_eq(toeless_sgl_post(c1, 1, &iov, 1, 0), 0);
	ck_assert_int_eq(toeless_pdu_send(c2, bhs, NULL, 0, &iov, 1), 0);
	ck_assert_int_eq(toeless_pdu_send(c2, bhs, NULL, 0, NULL, 0), 0);
	struct toeless_stats s1st, s2st, dst;
	th_ctx_stats(c1, &s1st);
	th_ctx_stats(c2, &s2st);
	ck_assert_uint_eq(s1st.pdus_rx, 3);
	ck_assert_uint_eq(s1st.bytes_rx, w.len);
	ck_assert_uint_eq(s1st.pdus_tx, 1);
	ck_assert_uint_eq(s1st.bytes_tx, 52);
	ck_assert_uint_eq(s2st.pdus_tx, 2);
	ck_assert_uint_eq(s2st.bytes_tx, 48 + 8 + 48);
	ck_assert_int_eq(toeless_ctx_destroy(c1), 0);
	memset(&dst, 0xff, sizeof(dst));
	dst.size = sizeof(dst);
	ck_assert_int_eq(toeless_device_stats(dev, &dst), 0);
	ck_assert_uint_eq(dst.pdus_rx, 3);
	ck_assert_uint_eq(dst.bytes_rx, w.len);
	ck_assert_uint_eq(dst.hdr_digests_checked, 3);
	ck_assert_uint_eq(dst.pdus_tx, 3);
	ck_assert_uint_eq(dst.bytes_tx, 52 + 48 + 8 + 48);
	ck_assert_uint_eq(dst.sgl_posted, 1);
	ck_assert_uint_eq(dst.sgl_cancelled, 1);
	ck_assert_int_eq(toeless_ctx_destroy(c2), 0);
	ck_assert_int_eq(toeless_device_stats(dev, &dst), 0);
	ck_assert_uint_eq(dst.pdus_tx, 3);
	ck_assert_uint_eq(dst.bytes_tx, 52 + 48 + 8 + 48);
	ck_assert_uint_eq(dst.pdus_rx, 3);
	/* a short struct gets only what fits */
	uint8_t raw[sizeof(struct toeless_stats) + 8];
	memset(raw, 0x5c, sizeof(raw));
	struct toeless_stats *sh = (struct toeless_stats *)(void *)raw;
	sh->size = offsetof(struct toeless_stats, pdus_tx);
	ck_assert_int_eq(toeless_device_stats(dev, sh), 0);
	ck_assert_uint_eq(sh->pdus_rx, 3);
	for (size_t i = offsetof(struct toeless_stats, pdus_tx); i < sizeof(raw); i++)
		ck_assert_uint_eq(raw[i], 0x5c);
	th_buf_free(&w);
	ck_assert_int_eq(toeless_cq_destroy(cq), 0);
	ck_assert_int_eq(toeless_device_close(dev), 0);
	close(s1[0]);
	close(s1[1]);
	close(s2[0]);
	close(s2[1]);
}
END_TEST

/* Two contexts on one queue: each completion names its own context. */
START_TEST(test_shared_cq)
{
	toeless_device *dev = th_dev_open("sw");
	toeless_cq *cq = th_cq_create(dev, 4); /* small: the queue must grow */
	int s1[2], s2[2];
	th_sockpair(TH_SOCK_UNIX, s1);
	th_sockpair(TH_SOCK_UNIX, s2);
	struct toeless_ctx_attr a;
	th_ctx_attr_init(&a, s1[0], cq, 0, 0);
	a.user_data = 111;
	toeless_ctx *c1 = NULL, *c2 = NULL;
	ck_assert_int_eq(toeless_ctx_create(dev, &a, &c1), 0);
	a.fd = s2[0];
	a.user_data = 222;
	ck_assert_int_eq(toeless_ctx_create(dev, &a, &c2), 0);
	ck_assert_uint_eq(toeless_ctx_user_data(c1), 111);
	ck_assert_uint_eq(toeless_ctx_user_data(c2), 222);
	uint8_t b[40][4];
	for (int i = 0; i < 20; i++) {
		struct iovec iov = { b[i], 4 };
		ck_assert_int_eq(toeless_sgl_post(c1, (uint32_t)i, &iov, 1, 100 + (uint64_t)i), 0);
		iov.iov_base = b[20 + i];
		ck_assert_int_eq(toeless_sgl_post(c2, (uint32_t)i, &iov, 1, 200 + (uint64_t)i), 0);
	}
	ck_assert_int_eq(toeless_ctx_destroy(c2), 0);
	ck_assert_int_eq(toeless_sgl_cancel(c1, 5), 0);
	struct toeless_completion q[22];
	ck_assert_int_eq(th_cq_wait(cq, q, 21, TH_TIMEOUT_MS), 21);
	ck_assert_int_eq(th_cq_drain(cq, q + 21, 1), 0);
	int from2 = 0;
	for (int k = 0; k < 21; k++) {
		ck_assert_int_eq(q[k].status, -ECANCELED);
		if (q[k].ctx == c1) {
			ck_assert_uint_eq(q[k].user_data, 105);
			ck_assert_uint_eq(q[k].itt, 5);
		} else {
			ck_assert_ptr_eq(q[k].ctx, c2);
			ck_assert_uint_eq(q[k].user_data, 200 + q[k].itt);
			from2++;
		}
	}
	ck_assert_int_eq(from2, 20);
	ck_assert_int_eq(toeless_cq_destroy(cq), -EBUSY);
	ck_assert_int_eq(toeless_ctx_destroy(c1), 0);
	ck_assert_int_eq(th_cq_wait(cq, q, 19, TH_TIMEOUT_MS), 19);
	ck_assert_int_eq(toeless_cq_destroy(cq), 0);
	ck_assert_int_eq(toeless_device_close(dev), 0);
	close(s1[0]);
	close(s1[1]);
	close(s2[0]);
	close(s2[1]);
}
END_TEST

/* Destroy and cancel: a post that already failed keeps its first error
 * (and counts in sgl_failed); the others complete -ECANCELED (toeless.h,
 * toeless_ctx_destroy()). */
START_TEST(test_destroy_keeps_first_error)
{
	struct th_conn c;
	th_conn_open(&c, TH_SOCK_UNIX, 0, 0);
	static uint8_t b[3][256];
	uint8_t d[256];
	th_fill_pattern(d, sizeof(d), 5);
	for (uint32_t k = 0; k < 3; k++) {
		struct iovec iov = { b[k], 256 };
		ck_assert_int_eq(toeless_sgl_post(c.ctx, 0x60 + k, &iov, 1, 0x60 + k), 0);
	}
	struct th_buf w;
	th_buf_init(&w);
	th_append_data_in(&w, 0, 0x60, 0, 0, d, 128, 0, 0, 0);
	th_append_data_in(&w, 0, 0x60, 1, 64, d, 128, 0, 0, 0);  /* over placed bytes */
	th_append_data_in(&w, 0, 0x61, 0, 200, d, 100, 0, 0, 0); /* past the SGL */
	th_feed(c.peer, c.fd, w.p, w.len);
	struct toeless_pdu pdu;
	ck_assert_int_eq(th_recv(c.ctx, c.fd, &pdu, TH_TIMEOUT_MS), 0);
	ck_assert_int_eq(th_recv(c.ctx, c.fd, &pdu, TH_TIMEOUT_MS), -EEXIST);
	ck_assert_int_eq(th_recv(c.ctx, c.fd, &pdu, TH_TIMEOUT_MS), -ERANGE);
	ck_assert_int_eq(toeless_sgl_cancel(c.ctx, 0x61), 0);
	struct toeless_stats st;
	th_ctx_stats(c.ctx, &st);
	ck_assert_int_eq(toeless_ctx_destroy(c.ctx), 0);
	c.ctx = NULL;
	struct toeless_completion q[4];
	ck_assert_int_eq(th_cq_drain(c.cq, q, 4), 3);
	for (int i = 0; i < 3; i++) {
		if (q[i].itt == 0x60) {
			ck_assert_int_eq(q[i].status, -EEXIST);
			ck_assert_uint_eq(q[i].bytes_valid, 128);
		} else if (q[i].itt == 0x61) {
			ck_assert_int_eq(q[i].status, -ERANGE);
		} else {
			ck_assert_uint_eq(q[i].itt, 0x62);
			ck_assert_int_eq(q[i].status, -ECANCELED);
		}
	}
	th_buf_free(&w);
	th_conn_close(&c);
}
END_TEST

/* Counters after a destroy that keeps errors: two failed, one cancelled. */
START_TEST(test_destroy_error_counters)
{
	struct th_conn c;
	th_conn_open(&c, TH_SOCK_UNIX, 0, 0);
	static uint8_t b[2][64];
	uint8_t d[64];
	th_fill_pattern(d, sizeof(d), 6);
	for (uint32_t k = 0; k < 2; k++) {
		struct iovec iov = { b[k], 64 };
		ck_assert_int_eq(toeless_sgl_post(c.ctx, 0x70 + k, &iov, 1, 0), 0);
	}
	struct th_buf w;
	th_buf_init(&w);
	th_append_data_in(&w, 0, 0x70, 0, 32, d, 64, 0, 0, 0); /* past the SGL */
	th_feed(c.peer, c.fd, w.p, w.len);
	struct toeless_pdu pdu;
	ck_assert_int_eq(th_recv(c.ctx, c.fd, &pdu, TH_TIMEOUT_MS), -ERANGE);
	toeless_device *dev = c.dev;
	ck_assert_int_eq(toeless_ctx_destroy(c.ctx), 0);
	c.ctx = NULL;
	struct toeless_stats st;
	memset(&st, 0, sizeof(st));
	st.size = sizeof(st);
	ck_assert_int_eq(toeless_device_stats(dev, &st), 0);
	ck_assert_uint_eq(st.sgl_failed, 1);
	ck_assert_uint_eq(st.sgl_cancelled, 1);
	ck_assert_uint_eq(st.sgl_completed, 0);
	th_buf_free(&w);
	th_conn_close(&c);
}
END_TEST

static char last_log[512];
static void keep_log(int level, const char *msg, void *arg)
{
	(void)level;
	(void)arg;
	snprintf(last_log, sizeof(last_log), "%s", msg);
}
static int nop_open(toeless_device *dev, const char *args, void **priv)
{
	(void)dev;
	(void)args;
	*priv = NULL;
	return 0;
}
static void nop_close(void *priv)
{
	(void)priv;
}

/* A table without a required op is refused, and the message names it. */
START_TEST(test_missing_op_named)
{
	struct toeless_backend_ops ops = {
		.size = sizeof(ops),
		.abi_version = TOELESS_BACKEND_ABI,
		.name = "lacks",
		.open = nop_open,
		.close = nop_close, /* no query */
	};
	struct toeless_device_attr a = { .size = sizeof(a), .log_fn = keep_log };
	toeless_device *dev = NULL;
	last_log[0] = 0;
	ck_assert_int_eq(tl_device_open_ops(&ops, "", &a, &dev), -EPROTO);
	ck_assert_msg(strstr(last_log, "lacks") && strstr(last_log, "missing: query"), "log: %s", last_log);
	ops.query = NULL;
	ops.close = NULL;
	ck_assert_int_eq(tl_device_open_ops(&ops, "", &a, &dev), -EPROTO);
	ck_assert_msg(strstr(last_log, "missing: close, query"), "log: %s", last_log);
}
END_TEST

static Suite *lifecycle_suite(void)
{
	Suite *s = suite_create("lifecycle");
	TH_TEST(s, test_cancel_outstanding);
	TH_LOOP_TEST(s, test_cancel_mid_pdu, 0, 2);
	TH_LOOP_TEST(s, test_destroy_outstanding, 0, 3);
	TH_LOOP_TEST(s, test_itt_slots, 0, 2);
	TH_LOOP_TEST(s, test_rcvlowat, 0, 2);
	TH_LOOP_TEST(s, test_rcvlowat_window, 0, 2);
	TH_LOOP_TEST(s, test_destroy_engine_held, 0, 2);
	TH_TEST(s, test_itt_reuse);
	TH_TEST(s, test_itt_reuse_delayed_release);
	TH_TEST(s, test_close_order);
	TH_TEST(s, test_ctx_create_bad);
	TH_TEST(s, test_max_contexts);
	TH_TEST(s, test_set_params_busy);
	TH_TEST(s, test_device_stats_retained);
	TH_TEST(s, test_shared_cq);
	TH_TEST(s, test_ctx_progress_delivers_release);
	TH_TEST(s, test_destroy_keeps_first_error);
	TH_TEST(s, test_destroy_error_counters);
	TH_TEST(s, test_missing_op_named);
	return s;
}

int main(void)
{
	return th_run_suite(lifecycle_suite());
}
