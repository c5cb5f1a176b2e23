/*
 * The send helper: toeless_pdu_send() / toeless_ctx_flush().  What goes on
 * the wire is decoded by the tests' own parser and checked against the
 * independent CRC32C; partial writes on a non-blocking socket with a tiny
 * send buffer and a slow reader; -EBUSY while a PDU is pending; counters;
 * a peer that went away.
 *
 * SPDX-License-Identifier: MIT
 */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "helpers.h"
#include "pdu.h"

static const unsigned DG_BOTH = TOELESS_CTX_HEADER_DIGEST | TOELESS_CTX_DATA_DIGEST;

/* Check one parsed PDU against what was sent. */
static void check_parsed(const struct th_parsed *p, unsigned dg, const uint8_t bhs[48], const uint8_t *ahs,
			 uint32_t ahs_len, const uint8_t *data, uint32_t len)
{
	ck_assert_mem_eq(p->bhs, bhs, 4);
	ck_assert_mem_eq(p->bhs + 8, bhs + 8, 40);
	ck_assert_uint_eq(p->bhs[4], ahs_len / 4);
	ck_assert_uint_eq(p->ahs_len, ahs_len);
	if (ahs_len)
		ck_assert_mem_eq(p->ahs, ahs, ahs_len);
	ck_assert_uint_eq(p->data_len, len);
	if (len)
		ck_assert_mem_eq(p->data, data, len);
	ck_assert(p->pad_zero);
	ck_assert_uint_eq(p->has_hdr_digest, !!(dg & TOELESS_CTX_HEADER_DIGEST));
	if (p->has_hdr_digest)
		ck_assert_uint_eq(p->hdr_digest, p->hdr_digest_calc);
	if ((dg & TOELESS_CTX_DATA_DIGEST) && len) {
		ck_assert(p->has_data_digest);
		ck_assert_uint_eq(p->data_digest, p->data_digest_calc);
	} else {
		ck_assert(!p->has_data_digest);
	}
}

/* Digests off / header / both; AHS of 0..3 words; data in 1..5 iovecs with
 * empty ones mixed in; data lengths 0..9 (every pad). _i: digests. */
START_TEST(test_send_variants)
{
	unsigned dg = (unsigned)_i;
	struct th_conn c;
	th_conn_open(&c, TH_SOCK_UNIX, dg, 0);
	uint64_t rs = 42 + (uint64_t)_i;
	uint8_t bhs[48], ahs[12], data[9];
	size_t total = 0;
	int npdu = 0;
	struct th_buf exp;
	th_buf_init(&exp);
	for (uint32_t words = 0; words < 4; words++) {
		for (uint32_t len = 0; len < 10; len++) {
			th_bhs_init(bhs, TOELESS_ISCSI_OP_TEXT_REQ, 0x80, (uint32_t)npdu);
			for (int i = 20; i < 48; i++)
				bhs[i] = (uint8_t)th_rand(&rs);
			/* AHS of this many words: one AHS with AHSLength 4*words-3 */
			uint32_t ahs_len = words * 4;
			if (words) {
				uint32_t l = ahs_len - 3;
				ahs[0] = (uint8_t)(l >> 8);
				ahs[1] = (uint8_t)l;
				ahs[2] = 0x7f;
				for (uint32_t i = 3; i < ahs_len; i++)
					ahs[i] = (uint8_t)th_rand(&rs);
			}
			th_fill_pattern(data, len, (uint32_t)npdu);
			/* cut data into up to 5 iovecs, some empty */
			struct iovec iov[5];
			memset(iov, 0, sizeof(iov));
			int n = 0;
			uint32_t at = 0;
			while (n < 4 && at < len) {
				uint32_t l = th_rand_range(&rs, 0, len - at);
				iov[n++] = (struct iovec){ data + at, l };
				at += l;
			}
			iov[n++] = (struct iovec){ data + at, len - at };
			struct iovec copy[5];
			memcpy(copy, iov, sizeof(iov));
			/* no data: sometimes no iovecs at all, sometimes empty ones */
			bool pass = len || th_rand(&rs) % 2;
			int rc = toeless_pdu_send(c.ctx, bhs, words ? ahs : NULL, ahs_len, pass ? iov : NULL,
						  pass ? n : 0);
			ck_assert_int_eq(rc, 0);
			/* the caller's iovecs are not modified */
			ck_assert_mem_eq(copy, iov, sizeof(iov));
			struct th_pdu tp;
			memset(&tp, 0, sizeof(tp));
			memcpy(tp.bhs, bhs, 48);
			tp.ahs = ahs;
			tp.ahs_len = ahs_len;
			tp.data = data;
			tp.data_len = len;
			tp.digests = dg;
			th_pdu_append(&exp, &tp);
			total += th_pdu_wire_len(&tp);
			npdu++;
			struct th_parsed p;
			uint8_t got[48 + 12 + 4 + 12 + 4];
			size_t wl = th_pdu_wire_len(&tp);
			ck_assert_int_eq(th_read_full(c.peer, got, wl, TH_TIMEOUT_MS), 0);
			ck_assert_uint_eq(th_pdu_parse(got, wl, dg, &p), wl);
			check_parsed(&p, dg, bhs, ahs, ahs_len, data, len);
			/* byte for byte what the reference builder makes */
			ck_assert_mem_eq(got, exp.p + exp.len - wl, wl);
		}
	}
	ck_assert_int_eq(th_inq(c.peer), 0);
	struct toeless_stats st;
	th_ctx_stats(c.ctx, &st);
	ck_assert_uint_eq(st.pdus_tx, (uint64_t)npdu);
	ck_assert_uint_eq(st.bytes_tx, total);
	ck_assert_uint_ge(st.send_syscalls, (uint64_t)npdu);
	th_buf_free(&exp);
	th_conn_close(&c);
}
END_TEST

/* More data iovecs than fit in one writev (IOV_MAX): 2500 one-byte
 * iovecs and a 1020-byte AHS. */
START_TEST(test_send_many_iovecs)
{
	struct th_conn c;
	th_conn_open(&c, TH_SOCK_TCP, DG_BOTH, 0);
	enum { N = 2500 };
	uint8_t *data = malloc(N);
	th_fill_pattern(data, N, 11);
	struct iovec *iov = malloc(sizeof(*iov) * N);
	for (int i = 0; i < N; i++)
		iov[i] = (struct iovec){ data + i, 1 };
	uint8_t bhs[48], ahs[1020];
	th_bhs_init(bhs, TOELESS_ISCSI_OP_SCSI_CMD, 0x80, 0xabcdef);
	ahs[0] = (uint8_t)(1017 >> 8);
	ahs[1] = (uint8_t)(1017 & 0xff);
	ahs[2] = 1;
	th_fill_pattern(ahs + 3, 1017, 12);
	int rc = toeless_pdu_send(c.ctx, bhs, ahs, 1020, iov, N);
	while (rc == -EINPROGRESS || rc == -EAGAIN) {
		struct pollfd pf = { .fd = c.fd, .events = POLLOUT };
		poll(&pf, 1, 100);
		rc = toeless_ctx_flush(c.ctx);
	}
	ck_assert_int_eq(rc, 0);
	size_t wl = 48 + 1020 + 4 + N + toeless_pad_len(N) + 4;
	uint8_t *got = malloc(wl);
	ck_assert_int_eq(th_read_full(c.peer, got, wl, TH_TIMEOUT_MS), 0);
	struct th_parsed p;
	ck_assert_uint_eq(th_pdu_parse(got, wl, DG_BOTH, &p), wl);
	check_parsed(&p, DG_BOTH, bhs, ahs, 1020, data, N);
	for (int i = 0; i < N; i++) {
		ck_assert_ptr_eq(iov[i].iov_base, data + i);
		ck_assert_uint_eq(iov[i].iov_len, 1);
	}
	free(got);
	free(iov);
	free(data);
	th_conn_close(&c);
}
END_TEST

/* ---- partial writes ---- */

struct slow_reader {
	pthread_t thr;
	int fd;
	uint8_t *buf;
	size_t want, got;
	int err;
};

static void *slow_reader_main(void *arg)
{
	struct slow_reader *r = arg;
	int idle = 0;
	while (r->got < r->want) {
		size_t n = r->want - r->got;
		if (n > 3000)
			n = 3000;
		ssize_t k = recv(r->fd, r->buf + r->got, n, MSG_DONTWAIT);
		if (k > 0) {
			r->got += (size_t)k;
			idle = 0;
			struct timespec ts = { 0, 200000 }; /* slow: 0.2 ms per read */
			nanosleep(&ts, NULL);
			continue;
		}
		if (k == 0) {
			r->err = -EPIPE;
			break;
		}
		if (errno != EAGAIN && errno != EWOULDBLOCK) {
			r->err = -errno;
			break;
		}
		struct pollfd pf = { .fd = r->fd, .events = POLLIN };
		if (poll(&pf, 1, 100) == 0 && ++idle > 50) {
			r->err = -ETIMEDOUT;
			break;
		}
	}
	return NULL;
}

/* A tiny SO_SNDBUF, a slow reader: -EINPROGRESS, -EBUSY for the next PDU
 * and for toeless_ctx_set_params(), toeless_ctx_flush() until 0, every byte
 * intact; then the next PDU goes out.  _i: bit 0 TCP, bits 1..2 digests. */
START_TEST(test_partial_writes)
{
	unsigned dg = (unsigned)_i >> 1;
	struct th_conn c;
	th_conn_open(&c, (enum th_sock)(_i & 1), dg, 0);
	/* tiny send buffer; for TCP a receive window small enough that the
	 * reader holds the sender up, but not so small that TCP's silly
	 * window avoidance turns every window update into a delayed ACK */
	int sz = 4096, rsz = 65536;
	ck_assert_int_eq(setsockopt(c.fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz)), 0);
	ck_assert_int_eq(setsockopt(c.peer, SOL_SOCKET, SO_RCVBUF, &rsz, sizeof(rsz)), 0);

	const uint32_t len = 700001; /* pad 3 */
	uint8_t *data = malloc(len);
	th_fill_pattern(data, len, 21);
	struct iovec iov[3] = { { data, 1 }, { data + 1, 333333 }, { data + 333334, len - 333334 } };
	struct iovec iov_copy[3];
	memcpy(iov_copy, iov, sizeof(iov));
	uint8_t bhs[48], bhs2[48];
	th_bhs_init(bhs, TOELESS_ISCSI_OP_DATA_OUT, 0x80, 0x1001);
	th_bhs_init(bhs2, TOELESS_ISCSI_OP_NOP_OUT, 0x80, 0x1002);

	struct th_pdu t1 = { .data = data, .data_len = len, .digests = dg };
	memcpy(t1.bhs, bhs, 48);
	struct th_pdu t2 = { .data = "tail", .data_len = 4, .digests = dg };
	memcpy(t2.bhs, bhs2, 48);
	struct th_buf exp;
	th_buf_init(&exp);
	th_pdu_append(&exp, &t1);
	th_pdu_append(&exp, &t2);

	int rc = toeless_pdu_send(c.ctx, bhs, NULL, 0, iov, 3);
	ck_assert_int_eq(rc, -EINPROGRESS);
	ck_assert_mem_eq(iov, iov_copy, sizeof(iov));
	struct iovec tiov = { (void *)"tail", 4 };
	ck_assert_int_eq(toeless_pdu_send(c.ctx, bhs2, NULL, 0, &tiov, 1), -EBUSY);
	struct toeless_ctx_params p = { .flags = dg };
	ck_assert_int_eq(toeless_ctx_set_params(c.ctx, &p), -EBUSY);
	struct toeless_stats st;
	th_ctx_stats(c.ctx, &st);
	ck_assert_uint_eq(st.pdus_tx, 0);
	ck_assert_uint_lt(st.bytes_tx, exp.len);

	struct slow_reader r = { .fd = c.peer, .want = exp.len };
	r.buf = malloc(exp.len);
	ck_assert_int_eq(pthread_create(&r.thr, NULL, slow_reader_main, &r), 0);
	int flushes = 0, eagain = 0;
	for (;;) {
		rc = toeless_ctx_flush(c.ctx);
		flushes++;
		if (rc == 0)
			break;
		ck_assert_int_eq(rc, -EAGAIN);
		eagain++;
		/* still pending: still busy */
		if (eagain == 1)
			ck_assert_int_eq(toeless_pdu_send(c.ctx, bhs2, NULL, 0, &tiov, 1), -EBUSY);
		struct pollfd pf = { .fd = c.fd, .events = POLLOUT };
		ck_assert_int_ge(poll(&pf, 1, TH_TIMEOUT_MS), 1);
	}
	ck_assert_int_gt(eagain, 0);
	ck_assert_int_eq(toeless_ctx_flush(c.ctx), 0); /* nothing left */
	th_ctx_stats(c.ctx, &st);
	ck_assert_uint_eq(st.pdus_tx, 1);
	ck_assert_uint_eq(st.bytes_tx, th_pdu_wire_len(&t1));
	/* the next PDU goes straight out */
	rc = toeless_pdu_send(c.ctx, bhs2, NULL, 0, &tiov, 1);
	while (rc == -EINPROGRESS || rc == -EAGAIN) {
		struct pollfd pf = { .fd = c.fd, .events = POLLOUT };
		poll(&pf, 1, 100);
		rc = toeless_ctx_flush(c.ctx);
	}
	ck_assert_int_eq(rc, 0);
	pthread_join(r.thr, NULL);
	ck_assert_int_eq(r.err, 0);
	ck_assert_uint_eq(r.got, exp.len);
	ck_assert_mem_eq(r.buf, exp.p, exp.len);
	struct th_parsed pp;
	ck_assert_uint_eq(th_pdu_parse(r.buf, exp.len, dg, &pp), th_pdu_wire_len(&t1));
	check_parsed(&pp, dg, bhs, NULL, 0, data, len);
	ck_assert_int_eq(th_inq(c.peer), 0);
	th_ctx_stats(c.ctx, &st);
	ck_assert_uint_eq(st.pdus_tx, 2);
	ck_assert_uint_eq(st.bytes_tx, exp.len);
	ck_assert_uint_ge(st.send_syscalls, 3);
	/* a partial send is not an error */
	ck_assert_int_eq(th_cq_drain(c.cq, NULL, 0), 0);
	free(r.buf);
	free(data);
	th_buf_free(&exp);
	th_conn_close(&c);
}
END_TEST

START_TEST(test_flush_idle)
{
	struct th_conn c;
	th_conn_open(&c, TH_SOCK_UNIX, 0, 0);
	ck_assert_int_eq(toeless_ctx_flush(c.ctx), 0);
	uint8_t bhs[48];
	th_bhs_init(bhs, TOELESS_ISCSI_OP_NOP_OUT, 0x80, 1);
	ck_assert_int_eq(toeless_pdu_send(c.ctx, bhs, NULL, 0, NULL, 0), 0);
	ck_assert_int_eq(toeless_ctx_flush(c.ctx), 0);
	ck_assert_int_eq(th_inq(c.peer), 48);
	struct toeless_stats st;
	th_ctx_stats(c.ctx, &st);
	ck_assert_uint_eq(st.pdus_tx, 1);
	ck_assert_uint_eq(st.bytes_tx, 48);
	th_conn_close(&c);
}
END_TEST

/* A peer that went away: an error (-EPIPE or -ECONNRESET), not a SIGPIPE
 * that kills the caller; the context fails; -ENOTCONN from then on.
 * _i: 0 unix, 1 tcp. */
START_TEST(test_send_peer_gone)
{
	struct th_conn c;
	th_conn_open(&c, (enum th_sock)_i, DG_BOTH, 0);
	close(c.peer);
	c.peer = -1;
	uint8_t bhs[48], data[1000];
	memset(data, 1, sizeof(data));
	th_bhs_init(bhs, TOELESS_ISCSI_OP_NOP_OUT, 0x80, 1);
	struct iovec iov = { data, sizeof(data) };
	int rc = 0;
	/* TCP may accept a write or two before it learns of the reset */
	for (int k = 0; k < 50 && (rc == 0 || rc == -EINPROGRESS || rc == -EAGAIN); k++) {
		rc = rc == 0 ? toeless_pdu_send(c.ctx, bhs, NULL, 0, &iov, 1) : toeless_ctx_flush(c.ctx);
		if (rc == 0 || rc == -EINPROGRESS || rc == -EAGAIN) {
			struct timespec ts = { 0, 2000000 };
			nanosleep(&ts, NULL);
		}
	}
	ck_assert_msg(rc == -EPIPE || rc == -ECONNRESET, "send to a closed peer: %d", rc);
	ck_assert_int_eq(toeless_pdu_send(c.ctx, bhs, NULL, 0, &iov, 1), -ENOTCONN);
	struct toeless_completion q;
	ck_assert_int_eq(th_cq_drain(c.cq, &q, 1), 1);
	ck_assert_uint_eq(q.type, TOELESS_CQE_ERROR);
	ck_assert_int_eq(q.status, rc);
	th_conn_close(&c);
}
END_TEST

/* A header digest covers the AHS: every AHS length from 4 to 1020. */
START_TEST(test_send_ahs_lengths)
{
	struct th_conn c;
	th_conn_open(&c, TH_SOCK_UNIX, TOELESS_CTX_HEADER_DIGEST, 0);
	uint8_t bhs[48], ahs[1020], got[48 + 1020 + 4];
	th_bhs_init(bhs, TOELESS_ISCSI_OP_SCSI_CMD, 0x80, 3);
	for (uint32_t l = 4; l <= 1020; l += 4) {
		ahs[0] = (uint8_t)((l - 3) >> 8);
		ahs[1] = (uint8_t)(l - 3);
		ahs[2] = 1;
		th_fill_pattern(ahs + 3, l - 3, l);
		ck_assert_int_eq(toeless_pdu_send(c.ctx, bhs, ahs, l, NULL, 0), 0);
		ck_assert_int_eq(th_read_full(c.peer, got, 48 + l + 4, TH_TIMEOUT_MS), 0);
		struct th_parsed p;
		ck_assert_uint_eq(th_pdu_parse(got, 48 + l + 4, TOELESS_CTX_HEADER_DIGEST, &p), 48 + l + 4);
		check_parsed(&p, TOELESS_CTX_HEADER_DIGEST, bhs, ahs, l, NULL, 0);
	}
	th_conn_close(&c);
}
END_TEST

/* Sending and receiving on one context interleave without disturbing each other. */
START_TEST(test_send_while_receiving)
{
	struct th_conn c;
	th_conn_open(&c, TH_SOCK_TCP, DG_BOTH, 0);
	uint8_t *buf = th_canary_alloc(3000);
	struct iovec piov = { buf, 3000 };
	ck_assert_int_eq(toeless_sgl_post(c.ctx, 0x44, &piov, 1, 1), 0);
	uint8_t d[3000];
	th_fill_pattern(d, sizeof(d), 44);
	struct th_buf in;
	th_buf_init(&in);
	th_append_data_in(&in, DG_BOTH, 0x44, 0, 0, d, 1500, 0, 0, 0);
	size_t half = in.len;
	th_append_data_in(&in, DG_BOTH, 0x44, 1, 1500, d + 1500, 1500,
			  TOELESS_ISCSI_FLAG_FINAL | TOELESS_ISCSI_DATAIN_STATUS, 0, 0);
	/* half of the first Data-In, then send a PDU, then the rest */
	th_feed(c.peer, c.fd, in.p, half / 2);
	struct toeless_pdu pdu;
	ck_assert_int_eq(toeless_pdu_recv(c.ctx, &pdu), -EAGAIN);
	uint8_t bhs[48];
	th_bhs_init(bhs, TOELESS_ISCSI_OP_NOP_OUT, 0x80, 9);
	struct iovec siov = { d, 17 };
	ck_assert_int_eq(toeless_pdu_send(c.ctx, bhs, NULL, 0, &siov, 1), 0);
	th_feed(c.peer, c.fd, in.p + half / 2, in.len - half / 2);
	ck_assert_int_eq(th_recv(c.ctx, c.fd, &pdu, TH_TIMEOUT_MS), 0);
	ck_assert_int_eq(th_recv(c.ctx, c.fd, &pdu, TH_TIMEOUT_MS), 0);
	ck_assert_uint_eq(pdu.flags, TOELESS_PDU_F_PLACED | TOELESS_PDU_F_TASK_DONE);
	ck_assert_mem_eq(buf, d, 3000);
	ck_assert(th_canary_ok(buf, 3000));
	size_t wl = 48 + 4 + 17 + 3 + 4;
	uint8_t got[76];
	ck_assert_int_eq(th_read_full(c.peer, got, wl, TH_TIMEOUT_MS), 0);
	struct th_parsed p;
	ck_assert_uint_eq(th_pdu_parse(got, wl, DG_BOTH, &p), wl);
	check_parsed(&p, DG_BOTH, bhs, NULL, 0, d, 17);
	th_buf_free(&in);
	th_canary_free(buf);
	th_conn_close(&c);
}
END_TEST

static Suite *tx_suite(void)
{
	Suite *s = suite_create("tx");
	TH_LOOP_TEST(s, test_send_variants, 0, 4);
	TH_TEST(s, test_send_many_iovecs);
	TH_LOOP_TEST(s, test_partial_writes, 0, 8);
	TH_TEST(s, test_flush_idle);
	TH_LOOP_TEST(s, test_send_peer_gone, 0, 2);
	TH_TEST(s, test_send_ahs_lengths);
	TH_TEST(s, test_send_while_receiving);
	return s;
}

int main(void)
{
	return th_run_suite(tx_suite());
}
