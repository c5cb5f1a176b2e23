/*
 * The hw backend against toeless-devsim: the fast path with the device
 * placing the data, and every injected fault.
 *
 * Each test starts its own toeless-devsim (tests/hw/hwtest.c) between a
 * target socket the test writes PDUs to and the host socket the library
 * reads.  The counters prove who did the work: bytes_placed_engine and
 * data_digests_engine for the device, bytes_placed_sw, sw_fallback_pdus,
 * resyncs, engine_post_full for the software paths under faults.  Data is
 * always checked against what the target sent; corrupted digests must
 * always be reported.
 *
 * Skips (77) when toeless-devsim is not built or this machine does not let
 * a process write another's memory (process_vm_writev).
 *
 * SPDX-License-Identifier: MIT
 */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "../helpers.h"
#include "hwtest.h"
#include "pdu.h"
#include "toeless.h"

#define HD TOELESS_CTX_HEADER_DIGEST
#define DD TOELESS_CTX_DATA_DIGEST

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

/* One host connection through a private device model. */
struct hs {
	struct hwt_env env;
	int host, target;
	toeless_device *dev;
	toeless_cq *cq;
	toeless_ctx *ctx;
	unsigned digests;
	uint32_t mrdsl;
};

static void hs_ctx(struct hs *s, unsigned digests, uint32_t mrdsl)
{
	s->digests = digests;
	s->mrdsl = mrdsl;
	s->ctx = th_ctx_create(s->dev, s->cq, s->host, digests, mrdsl);
}

static void hs_open_nctx(struct hs *s, const char *const *faults)
{
	memset(s, 0, sizeof(*s));
	hwt_start(&s->env, faults);
	s->dev = th_dev_open(s->env.spec);
	s->cq = th_cq_create(s->dev, 0);
	hwt_connect(&s->env, &s->host, &s->target);
}

static void hs_open(struct hs *s, const char *const *faults, unsigned digests, uint32_t mrdsl)
{
	hs_open_nctx(s, faults);
	hs_ctx(s, digests, mrdsl);
}

static void hs_close(struct hs *s)
{
	if (s->ctx)
		ck_assert_int_eq(toeless_ctx_destroy(s->ctx), 0);
	struct toeless_completion c[64];
	while (toeless_cq_poll(s->cq, c, 64) > 0)
		;
	ck_assert_int_eq(toeless_cq_destroy(s->cq), 0);
	ck_assert_int_eq(toeless_device_close(s->dev), 0);
	close(s->host);
	close(s->target);
	hwt_stop(&s->env);
}

/* Wait for one completion, letting the context progress in between. */
static void hs_wait_cqe(struct hs *s, struct toeless_completion *out)
{
	for (int i = 0; i < 5000; i++) {
		if (toeless_cq_poll(s->cq, out, 1) == 1)
			return;
		struct toeless_pdu pdu;
		int rc = toeless_pdu_recv(s->ctx, &pdu);
		ck_assert_msg(rc == -EAGAIN, "unexpected PDU while waiting: %d", rc);
		sleep_ms(1);
	}
	ck_abort_msg("no completion within 5 s");
}

static void hs_stats(struct hs *s, struct toeless_stats *st)
{
	th_ctx_stats(s->ctx, st);
}

/* A registered buffer. */
struct rbuf {
	uint8_t *p;
	size_t len;
	toeless_mr *mr;
};

static void rbuf_alloc(struct hs *s, struct rbuf *b, size_t len, bool reg)
{
	b->len = len;
	b->p = th_canary_alloc(len);
	memset(b->p, 0, len);
	b->mr = NULL;
	if (reg)
		ck_assert_int_eq(toeless_mr_reg(s->dev, b->p, len, &b->mr), 0);
}

static void rbuf_free(struct rbuf *b)
{
	ck_assert(th_canary_ok(b->p, b->len));
	if (b->mr)
		ck_assert_int_eq(toeless_mr_dereg(b->mr), 0);
	th_canary_free(b->p);
}

/* Post buf as nsge pieces under itt. */
static void post(struct hs *s, uint32_t itt, uint8_t *buf, size_t len, int nsge)
{
	struct iovec iov[16];
	size_t per = len / (size_t)nsge, off = 0;
	for (int i = 0; i < nsge; i++) {
		iov[i].iov_base = buf + off;
		iov[i].iov_len = i == nsge - 1 ? len - off : per;
		off += iov[i].iov_len;
	}
	ck_assert_int_eq(toeless_sgl_post(s->ctx, itt, iov, nsge, 0x1000 + itt), 0);
}

/* The target's side of one read: Data-In PDUs of pdu_len, status in the last. */
static void target_data(struct th_buf *out, unsigned digests, uint32_t itt, const uint8_t *data, size_t len,
			uint32_t pdu_len)
{
	uint32_t sn = 0;
	for (size_t off = 0; off < len; off += pdu_len) {
		uint32_t n = len - off < pdu_len ? (uint32_t)(len - off) : pdu_len;
		bool last = off + n == len;
		th_append_data_in(out, digests, itt, sn++, (uint32_t)off, data + off, n,
				  last ? (TOELESS_ISCSI_FLAG_FINAL | TOELESS_ISCSI_DATAIN_STATUS) : 0, 0, 0);
	}
}

struct rd_result {
	int pdus, engine_pdus, bad_pdus;
	struct toeless_completion c;
};

/* Receive PDUs until the task of itt is done. */
static void recv_task(struct hs *s, uint32_t itt, struct rd_result *r)
{
	memset(r, 0, sizeof(*r));
	for (;;) {
		struct toeless_pdu pdu;
		int rc = th_recv(s->ctx, s->host, &pdu, TH_TIMEOUT_MS);
		ck_assert_msg(rc == 0 || rc == -EBADMSG, "recv: %d %s", rc, toeless_strerror(rc));
		ck_assert_int_eq(pdu.opcode, TOELESS_ISCSI_OP_DATA_IN);
		ck_assert_uint_eq(pdu.itt, itt);
		ck_assert(pdu.flags & TOELESS_PDU_F_PLACED);
		ck_assert_ptr_null(pdu.data);
		r->pdus++;
		if (pdu.flags & TOELESS_PDU_F_ENGINE)
			r->engine_pdus++;
		if (rc == -EBADMSG) {
			ck_assert_int_eq(pdu.data_digest, TOELESS_DIGEST_BAD);
			r->bad_pdus++;
		} else if (s->digests & DD) {
			ck_assert_int_eq(pdu.data_digest, TOELESS_DIGEST_OK);
		}
		if (pdu.flags & TOELESS_PDU_F_TASK_DONE)
			break;
	}
	hs_wait_cqe(s, &r->c);
	ck_assert_int_eq(r->c.type, TOELESS_CQE_SGL);
	ck_assert_uint_eq(r->c.itt, itt);
}

/* One whole read: post, target sends, host receives, data checked. */
static void do_read(struct hs *s, uint32_t itt, struct rbuf *b, size_t len, uint32_t pdu_len, int nsge,
		    struct rd_result *r)
{
	uint8_t *want = malloc(len);
	th_fill_pattern(want, len, itt * 7919u);
	memset(b->p, 0, len);
	post(s, itt, b->p, len, nsge);
	struct th_buf out;
	th_buf_init(&out);
	target_data(&out, s->digests, itt, want, len, pdu_len);
	ck_assert_int_eq(th_write_all(s->target, out.p, out.len), 0);
	th_buf_free(&out);
	recv_task(s, itt, r);
	if (r->bad_pdus == 0) {
		ck_assert_int_eq(r->c.status, 0);
		ck_assert(memcmp(b->p, want, len) == 0);
	} else {
		ck_assert_int_eq(r->c.status, -EBADMSG);
	}
	ck_assert_uint_eq(r->c.bytes_placed, len);
	free(want);
}

/* ---- attach, capabilities, auto ---- */

START_TEST(test_attach_caps)
{
	struct hwt_env e;
	hwt_start(&e, NULL);
	toeless_device *dev = th_dev_open(e.spec);
	struct toeless_caps caps;
	th_query(dev, &caps);
	ck_assert_str_eq(caps.backend, "hw");
	ck_assert_uint_eq(
		caps.flags & (TOELESS_CAP_DDP | TOELESS_CAP_DDP_NEEDS_REG | TOELESS_CAP_CRC_RX | TOELESS_CAP_CRC_ASYNC),
		TOELESS_CAP_DDP | TOELESS_CAP_DDP_NEEDS_REG | TOELESS_CAP_CRC_RX | TOELESS_CAP_CRC_ASYNC);
	ck_assert_uint_ge(caps.max_contexts, 1);
	ck_assert_uint_ge(caps.max_sge, 16);
	ck_assert_int_eq(toeless_device_close(dev), 0);

	/* "hw" through the environment; "auto" picks hw when it is there */
	setenv("TOELESS_HW_DEVICE", e.ctl, 1);
	unsetenv("TOELESS_BACKEND");
	dev = th_dev_open("hw");
	th_query(dev, &caps);
	ck_assert_str_eq(caps.backend, "hw");
	ck_assert_int_eq(toeless_device_close(dev), 0);
	dev = th_dev_open("auto");
	th_query(dev, &caps);
	ck_assert_str_eq(caps.backend, "hw");
	ck_assert_int_eq(toeless_device_close(dev), 0);
	hwt_stop(&e);

	/* no device: -ENODEV, and auto falls back to software */
	dev = NULL;
	ck_assert_int_eq(toeless_device_open(e.spec, NULL, &dev), -ENODEV);
	ck_assert_ptr_null(dev);
	dev = th_dev_open("auto");
	th_query(dev, &caps);
	ck_assert_str_eq(caps.backend, "sw");
	ck_assert_int_eq(toeless_device_close(dev), 0);
	unsetenv("TOELESS_HW_DEVICE");
}
END_TEST

/* Receive coalescing is read from the environment at open: both values
 * valid turn it on (said at INFO), an invalid one is refused with a
 * warning and leaves it off, one PDU is no coalescing. */
struct co_log {
	char text[4096];
};
static void co_log_fn(int level, const char *msg, void *arg)
{
	struct co_log *l = arg;
	(void)level;
	size_t n = strlen(l->text);
	snprintf(l->text + n, sizeof(l->text) - n, "%s\n", msg);
}

static void co_open(const char *spec, const char *frames, const char *usecs, struct co_log *l)
{
	memset(l, 0, sizeof(*l));
	setenv("TOELESS_HW_RX_FRAMES", frames, 1);
	setenv("TOELESS_HW_RX_USECS", usecs, 1);
	struct toeless_device_attr a = {
		.size = sizeof(a), .log_fn = co_log_fn, .log_arg = l, .log_level = TOELESS_LOG_INFO
	};
	toeless_device *dev = NULL;
	ck_assert_int_eq(toeless_device_open(spec, &a, &dev), 0);
	ck_assert_int_eq(toeless_device_close(dev), 0);
	unsetenv("TOELESS_HW_RX_FRAMES");
	unsetenv("TOELESS_HW_RX_USECS");
}

START_TEST(test_coalesce_settings)
{
	struct hwt_env e;
	struct co_log l;
	hwt_start(&e, NULL);
	co_open(e.spec, "8", "5000", &l);
	ck_assert_msg(strstr(l.text, "receive coalescing: 8 PDUs or 5000 us"), "%s", l.text);
	ck_assert_ptr_null(strstr(l.text, "ignored"));
	co_open(e.spec, "64", "100000", &l);
	ck_assert_msg(strstr(l.text, "receive coalescing: 64 PDUs or 100000 us"), "%s", l.text);
	const char *bad[][2] = { { "abc", "5000" }, { "8", "5ms" }, { "65", "5000" }, { "8", "100001" },
				 { "-4", "5000" },  { "8", "" },    { "1", "5000" },  { "8", "0" } };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		co_open(e.spec, bad[i][0], bad[i][1], &l);
		ck_assert_msg(!strstr(l.text, "receive coalescing:"), "%s/%s: %s", bad[i][0], bad[i][1], l.text);
		/* out of range or not a number: said; empty, 0 or 1 PDU: simply off */
		bool said = strstr(l.text, "ignored") != NULL;
		ck_assert_msg(said == (i < 5), "%s/%s: %s", bad[i][0], bad[i][1], l.text);
	}
	hwt_stop(&e);
}
END_TEST

/* Features withheld by the device at attach are not claimed. */
START_TEST(test_feature_negotiation)
{
	struct hwt_env e;
	const char *faults[] = { "no-crc", "no-digest", NULL };
	hwt_start(&e, faults);
	toeless_device *dev = th_dev_open(e.spec);
	struct toeless_caps caps;
	th_query(dev, &caps);
	ck_assert(caps.flags & TOELESS_CAP_DDP);
	ck_assert(!(caps.flags & TOELESS_CAP_CRC_ASYNC));
	ck_assert(!(caps.flags & TOELESS_CAP_CRC_RX));
	ck_assert_int_eq(toeless_device_close(dev), 0);
	hwt_stop(&e);
}
END_TEST

/* ---- the fast path ---- */

static const unsigned digest_sets[4] = { 0, HD, DD, HD | DD };

/* The device places every byte and checks every digest; software neither
 * places nor checks.  _i picks the digests. */
START_TEST(test_fastpath_engine_places)
{
	struct hs s;
	hs_open(&s, NULL, digest_sets[_i], 65536);
	struct rbuf b;
	rbuf_alloc(&s, &b, 256 * 1024, true);
	struct rd_result r;
	size_t total = 0;
	int pdus = 0;
	const uint32_t pdu_lens[] = { 8192, 65536, 1000, 4093 };
	for (int t = 0; t < 8; t++) {
		size_t len = (size_t)(64 * 1024 + t * 4099);
		uint32_t pl = pdu_lens[t % 4];
		do_read(&s, 0x100 + (uint32_t)t, &b, len, pl, 1 + t % 4, &r);
		ck_assert_int_eq(r.engine_pdus, r.pdus);
		ck_assert_uint_eq(r.c.bytes_engine, len);
		ck_assert(r.c.flags & TOELESS_CQE_F_ENGINE);
		total += len;
		pdus += r.pdus;
	}
	struct toeless_stats st;
	hs_stats(&s, &st);
	ck_assert_uint_eq(st.bytes_placed_engine, total);
	ck_assert_uint_eq(st.bytes_placed_engine_host, 0); /* the device placed it, not the host's CPU */
	ck_assert_uint_eq(st.bytes_placed_sw, 0);
	ck_assert_uint_eq(st.sw_fallback_pdus, 0);
	ck_assert_uint_eq(st.data_in_placed, (uint64_t)pdus);
	ck_assert_uint_eq(st.data_digests_engine, (s.digests & DD) ? (uint64_t)pdus : 0);
	ck_assert_uint_eq(st.data_digests_checked, st.data_digests_engine);
	ck_assert_uint_eq(st.engine_anomalies, 0);
	ck_assert_uint_eq(st.sgl_completed, 8);
	rbuf_free(&b);
	hs_close(&s);
}
END_TEST

/* Slow-path PDUs (NOP-In with data, SCSI Response with sense) between
 * placed Data-In come through intact, with records but nothing placed. */
START_TEST(test_fastpath_mixed)
{
	struct hs s;
	hs_open(&s, NULL, HD | DD, 8192);
	struct rbuf b;
	rbuf_alloc(&s, &b, 32768, true);
	uint8_t want[32768], ping[100], sense[18];
	th_fill_pattern(want, sizeof(want), 3);
	th_fill_pattern(ping, sizeof(ping), 4);
	memset(sense, 0x70, sizeof(sense));
	post(&s, 1, b.p, 16384, 2);         /* the SGL is the expected transfer */
	post(&s, 2, b.p + 16384, 16384, 1); /* a task that ends with a SCSI Response */
	struct th_buf out;
	th_buf_init(&out);
	uint8_t bhs[48];
	th_bhs_nop_in(bhs, 0xffffffff, 0x55);
	th_append_bhs(&out, HD | DD, bhs, ping, sizeof(ping));
	th_append_data_in(&out, HD | DD, 1, 0, 0, want, 8192, 0, 0, 0);
	th_append_data_in(&out, HD | DD, 2, 0, 0, want + 16384, 8192, 0, 0, 0);
	th_append_data_in(&out, HD | DD, 1, 1, 8192, want + 8192, 8192,
			  TOELESS_ISCSI_FLAG_FINAL | TOELESS_ISCSI_DATAIN_STATUS, 0, 0);
	uint8_t seg[64];
	size_t seglen = th_sense_segment(seg, sense, sizeof(sense));
	th_bhs_scsi_rsp(bhs, 2, 0, 2 /* CHECK CONDITION */, TOELESS_ISCSI_RSP_UNDERFLOW, 8192);
	th_append_bhs(&out, HD | DD, bhs, seg, (uint32_t)seglen);
	ck_assert_int_eq(th_write_all(s.target, out.p, out.len), 0);
	th_buf_free(&out);

	struct toeless_pdu pdu;
	ck_assert_int_eq(th_recv(s.ctx, s.host, &pdu, TH_TIMEOUT_MS), 0);
	ck_assert_int_eq(pdu.opcode, TOELESS_ISCSI_OP_NOP_IN);
	ck_assert_uint_eq(pdu.data_len, sizeof(ping));
	ck_assert(memcmp(pdu.data, ping, sizeof(ping)) == 0);
	ck_assert_int_eq(pdu.data_digest, TOELESS_DIGEST_OK);
	for (int i = 0; i < 3; i++) {
		ck_assert_int_eq(th_recv(s.ctx, s.host, &pdu, TH_TIMEOUT_MS), 0);
		ck_assert_int_eq(pdu.opcode, TOELESS_ISCSI_OP_DATA_IN);
		ck_assert(pdu.flags & TOELESS_PDU_F_ENGINE);
	}
	ck_assert_int_eq(th_recv(s.ctx, s.host, &pdu, TH_TIMEOUT_MS), 0);
	ck_assert_int_eq(pdu.opcode, TOELESS_ISCSI_OP_SCSI_RSP);
	ck_assert_uint_eq(pdu.data_len, seglen);
	ck_assert(memcmp(pdu.data, seg, seglen) == 0);
	struct toeless_completion c[2];
	hs_wait_cqe(&s, &c[0]);
	hs_wait_cqe(&s, &c[1]);
	for (int i = 0; i < 2; i++) {
		ck_assert_int_eq(c[i].status, 0);
		if (c[i].itt == 2) {
			ck_assert_uint_eq(c[i].scsi_status, 2);
			ck_assert_uint_eq(c[i].bytes_engine, 8192);
			ck_assert(c[i].flags & TOELESS_CQE_F_UNDERFLOW);
		} else {
			ck_assert_uint_eq(c[i].bytes_engine, 16384);
		}
	}
	ck_assert(memcmp(b.p, want, 16384) == 0);
	ck_assert(memcmp(b.p + 16384, want + 16384, 8192) == 0);
	struct toeless_stats st;
	hs_stats(&s, &st);
	ck_assert_uint_eq(st.bytes_placed_engine, 16384 + 8192);
	ck_assert_uint_eq(st.bytes_slow_path, sizeof(ping) + seglen);
	ck_assert_uint_eq(st.bytes_placed_sw, 0);
	rbuf_free(&b);
	hs_close(&s);
}
END_TEST

/* Regression: without HeaderDigest, a PDU with no data segment (a SCSI
 * Response, a NOP-In) whose 48 bytes are the last the device read is
 * forwarded at once.  The device model used to leave its loop as soon as
 * the input was used up, before it saw that the header was complete, and
 * held the PDU waiting for bytes that never came.  _i: DataDigest or not. */
START_TEST(test_dataless_pdu_at_end)
{
	static const unsigned sets[2] = { 0, DD };
	struct hs s;
	hs_open(&s, NULL, sets[_i], 8192);
	struct rbuf b;
	rbuf_alloc(&s, &b, 32768, true);
	uint8_t *want = malloc(32768);
	th_fill_pattern(want, 32768, 31);
	uint8_t bhs[48];
	struct toeless_pdu pdu;
	struct toeless_completion c;

	/* 1: Data-In then a SCSI Response ending the stream, in one write */
	post(&s, 0x80, b.p, 16384, 2);
	struct th_buf out;
	th_buf_init(&out);
	th_append_data_in(&out, s.digests, 0x80, 0, 0, want, 8192, 0, 0, 0);
	th_append_data_in(&out, s.digests, 0x80, 1, 8192, want + 8192, 8192, TOELESS_ISCSI_FLAG_FINAL, 0, 0);
	th_bhs_scsi_rsp(bhs, 0x80, 0, 0, 0, 0);
	th_append_bhs(&out, s.digests, bhs, NULL, 0);
	ck_assert_int_eq(th_write_all(s.target, out.p, out.len), 0);
	th_buf_free(&out);
	for (int i = 0; i < 2; i++) {
		ck_assert_int_eq(th_recv(s.ctx, s.host, &pdu, TH_TIMEOUT_MS), 0);
		ck_assert_int_eq(pdu.opcode, TOELESS_ISCSI_OP_DATA_IN);
		ck_assert(pdu.flags & TOELESS_PDU_F_ENGINE);
	}
	ck_assert_int_eq(th_recv(s.ctx, s.host, &pdu, TH_TIMEOUT_MS), 0);
	ck_assert_int_eq(pdu.opcode, TOELESS_ISCSI_OP_SCSI_RSP);
	ck_assert_uint_eq(pdu.itt, 0x80);
	ck_assert_uint_eq(pdu.data_len, 0);
	hs_wait_cqe(&s, &c);
	ck_assert_int_eq(c.type, TOELESS_CQE_SGL);
	ck_assert_uint_eq(c.itt, 0x80);
	ck_assert_int_eq(c.status, 0);
	ck_assert_uint_eq(c.bytes_engine, 16384);
	ck_assert(memcmp(b.p, want, 16384) == 0);

	/* 2: a lone header-only NOP-In, nothing after it */
	th_buf_init(&out);
	th_bhs_nop_in(bhs, 0xffffffff, 0x77);
	th_append_bhs(&out, s.digests, bhs, NULL, 0);
	ck_assert_int_eq(th_write_all(s.target, out.p, out.len), 0);
	th_buf_free(&out);
	ck_assert_int_eq(th_recv(s.ctx, s.host, &pdu, TH_TIMEOUT_MS), 0);
	ck_assert_int_eq(pdu.opcode, TOELESS_ISCSI_OP_NOP_IN);
	ck_assert_uint_eq(pdu.data_len, 0);

	/* 3: a SCSI Response whose header comes in two pieces, the second
	 * ending exactly at the end of the header */
	post(&s, 0x81, b.p + 16384, 16384, 1);
	th_buf_init(&out);
	th_append_data_in(&out, s.digests, 0x81, 0, 0, want + 16384, 8192, 0, 0, 0);
	th_append_data_in(&out, s.digests, 0x81, 1, 8192, want + 24576, 8192, TOELESS_ISCSI_FLAG_FINAL, 0, 0);
	th_bhs_scsi_rsp(bhs, 0x81, 0, 0, 0, 0);
	th_append_bhs(&out, s.digests, bhs, NULL, 0);
	ck_assert_int_eq(th_write_all(s.target, out.p, out.len - 20), 0);
	sleep_ms(20);
	ck_assert_int_eq(th_write_all(s.target, out.p + out.len - 20, 20), 0);
	th_buf_free(&out);
	for (int i = 0; i < 2; i++) {
		ck_assert_int_eq(th_recv(s.ctx, s.host, &pdu, TH_TIMEOUT_MS), 0);
		ck_assert_int_eq(pdu.opcode, TOELESS_ISCSI_OP_DATA_IN);
		ck_assert(pdu.flags & TOELESS_PDU_F_ENGINE);
	}
	ck_assert_int_eq(th_recv(s.ctx, s.host, &pdu, TH_TIMEOUT_MS), 0);
	ck_assert_int_eq(pdu.opcode, TOELESS_ISCSI_OP_SCSI_RSP);
	ck_assert_uint_eq(pdu.itt, 0x81);
	hs_wait_cqe(&s, &c);
	ck_assert_uint_eq(c.itt, 0x81);
	ck_assert_int_eq(c.status, 0);
	ck_assert_uint_eq(c.bytes_engine, 16384);
	ck_assert(memcmp(b.p + 16384, want + 16384, 16384) == 0);

	struct toeless_stats st;
	hs_stats(&s, &st);
	ck_assert_uint_eq(st.bytes_placed_engine, 32768);
	ck_assert_uint_eq(st.bytes_placed_sw, 0);
	ck_assert_uint_eq(st.sw_fallback_pdus, 0);
	ck_assert_uint_eq(st.engine_anomalies, 0);
	free(want);
	rbuf_free(&b);
	hs_close(&s);
}
END_TEST

/* Memory the device cannot reach (not registered): software places. */
START_TEST(test_unregistered_software)
{
	struct hs s;
	hs_open(&s, NULL, HD | DD, 8192);
	struct rbuf b;
	rbuf_alloc(&s, &b, 65536, false);
	struct rd_result r;
	do_read(&s, 9, &b, 65536, 8192, 3, &r);
	ck_assert_int_eq(r.engine_pdus, 0);
	struct toeless_stats st;
	hs_stats(&s, &st);
	ck_assert_uint_eq(st.bytes_placed_sw, 65536);
	ck_assert_uint_eq(st.bytes_placed_engine, 0);
	ck_assert_uint_eq(st.data_digests_engine, 0);
	ck_assert_uint_eq(st.data_digests_checked, 8);
	rbuf_free(&b);
	hs_close(&s);
}
END_TEST

/* Many tasks in flight at once, interleaved PDUs, several SGEs. */
START_TEST(test_fastpath_interleaved)
{
	struct hs s;
	hs_open(&s, NULL, HD | DD, 16384);
	enum { NT = 16, LEN = 48 * 1024, PL = 4096 };
	struct rbuf b;
	rbuf_alloc(&s, &b, NT * LEN, true);
	uint8_t *want = malloc(NT * LEN);
	th_fill_pattern(want, NT * LEN, 77);
	for (int t = 0; t < NT; t++)
		post(&s, 0x2000 + (uint32_t)t, b.p + t * LEN, LEN, 1 + t % 5);
	struct th_buf out;
	th_buf_init(&out);
	for (int k = 0; k < LEN / PL; k++)
		for (int t = 0; t < NT; t++) {
			bool last = k == LEN / PL - 1;
			th_append_data_in(&out, HD | DD, 0x2000 + (uint32_t)t, (uint32_t)k, (uint32_t)(k * PL),
					  want + t * LEN + k * PL, PL,
					  last ? TOELESS_ISCSI_FLAG_FINAL | TOELESS_ISCSI_DATAIN_STATUS : 0, 0, 0);
		}
	struct th_writer_opts wo = { .split = TH_SPLIT_RANDOM, .chunk = 3000, .seed = 5, .drain_fd = -1 };
	struct th_writer *w = th_writer_start(s.target, out.p, out.len, &wo);
	int done = 0;
	while (done < NT) {
		struct toeless_pdu pdu;
		ck_assert_int_eq(th_recv(s.ctx, s.host, &pdu, TH_TIMEOUT_MS), 0);
		ck_assert(pdu.flags & TOELESS_PDU_F_ENGINE);
		if (pdu.flags & TOELESS_PDU_F_TASK_DONE)
			done++;
	}
	ck_assert_uint_eq(th_writer_join(w), out.len);
	th_buf_free(&out);
	for (int t = 0; t < NT; t++) {
		struct toeless_completion c;
		hs_wait_cqe(&s, &c);
		ck_assert_int_eq(c.status, 0);
		ck_assert_uint_eq(c.bytes_engine, LEN);
	}
	ck_assert(memcmp(b.p, want, NT * LEN) == 0);
	struct toeless_stats st;
	hs_stats(&s, &st);
	ck_assert_uint_eq(st.bytes_placed_engine, NT * LEN);
	ck_assert_uint_eq(st.bytes_placed_sw, 0);
	free(want);
	rbuf_free(&b);
	hs_close(&s);
}
END_TEST

/* Cancel: the device lets go, the completion says so, the ITT is reusable. */
START_TEST(test_cancel_and_repost)
{
	struct hs s;
	hs_open(&s, NULL, DD, 8192);
	struct rbuf b;
	rbuf_alloc(&s, &b, 32768, true);
	post(&s, 7, b.p, 32768, 2);
	ck_assert_int_eq(toeless_sgl_post(s.ctx, 7, &(struct iovec){ b.p, 10 }, 1, 0), -EEXIST);
	ck_assert_int_eq(toeless_sgl_cancel(s.ctx, 7), 0);
	struct toeless_completion c;
	hs_wait_cqe(&s, &c);
	ck_assert_int_eq(c.status, -ECANCELED);
	struct rd_result r;
	do_read(&s, 7, &b, 32768, 8192, 2, &r);
	ck_assert_int_eq(r.engine_pdus, r.pdus);
	/* destroy with posts outstanding: every one completes cancelled */
	post(&s, 8, b.p, 16384, 1);
	post(&s, 9, b.p + 16384, 16384, 1);
	ck_assert_int_eq(toeless_ctx_destroy(s.ctx), 0);
	s.ctx = NULL;
	struct toeless_completion cc[4];
	ck_assert_int_eq(toeless_cq_poll(s.cq, cc, 4), 2);
	ck_assert_int_eq(cc[0].status, -ECANCELED);
	ck_assert_int_eq(cc[1].status, -ECANCELED);
	rbuf_free(&b);
	hs_close(&s);
}
END_TEST

/* A context created while bytes wait unread: the device follows them
 * from its history and is in sync for what comes next. */
START_TEST(test_bind_behind_the_wire)
{
	struct hs s;
	hs_open_nctx(&s, NULL);
	uint8_t ping[52];
	th_fill_pattern(ping, sizeof(ping), 1);
	struct th_buf out;
	th_buf_init(&out);
	uint8_t bhs[48];
	th_bhs_nop_in(bhs, 0xffffffff, 1);
	th_append_bhs(&out, 0, bhs, ping, sizeof(ping));
	th_feed(s.target, s.host, out.p, out.len);
	th_buf_free(&out);
	hs_ctx(&s, 0, 8192);
	struct rbuf b;
	rbuf_alloc(&s, &b, 16384, true);
	struct toeless_pdu pdu;
	ck_assert_int_eq(th_recv(s.ctx, s.host, &pdu, TH_TIMEOUT_MS), 0);
	ck_assert_int_eq(pdu.opcode, TOELESS_ISCSI_OP_NOP_IN);
	struct rd_result r;
	do_read(&s, 3, &b, 16384, 4096, 1, &r);
	if (hwt_wire()) {
		/* the wire NIC keeps no copy of what it passed: it hunts for
		 * the boundary and asks (device-interface.md); once the host
		 * confirmed, it follows every PDU */
		struct toeless_stats st;
		hs_stats(&s, &st);
		ck_assert_uint_ge(st.resyncs, 1);
		do_read(&s, 4, &b, 16384, 4096, 1, &r);
	}
	ck_assert_int_eq(r.engine_pdus, 4);
	rbuf_free(&b);
	hs_close(&s);
}
END_TEST

/* Login without digests, then the negotiated digests from a boundary. */
START_TEST(test_set_params)
{
	struct hs s;
	hs_open(&s, NULL, 0, 8192);
	uint8_t bhs[48], txt[200];
	th_fill_pattern(txt, sizeof(txt), 2);
	struct th_buf out;
	th_buf_init(&out);
	th_bhs_init(bhs, TOELESS_ISCSI_OP_LOGIN_RSP, TOELESS_ISCSI_FLAG_FINAL, 1);
	th_append_bhs(&out, 0, bhs, txt, sizeof(txt));
	ck_assert_int_eq(th_write_all(s.target, out.p, out.len), 0);
	th_buf_free(&out);
	struct toeless_pdu pdu;
	ck_assert_int_eq(th_recv(s.ctx, s.host, &pdu, TH_TIMEOUT_MS), 0);
	ck_assert_int_eq(pdu.opcode, TOELESS_ISCSI_OP_LOGIN_RSP);
	struct toeless_ctx_params p = { .flags = HD | DD, .max_recv_dsl = 65536 };
	ck_assert_int_eq(toeless_ctx_set_params(s.ctx, &p), 0);
	s.digests = HD | DD;
	struct rbuf b;
	rbuf_alloc(&s, &b, 131072, true);
	struct rd_result r;
	do_read(&s, 4, &b, 131072, 65536, 2, &r);
	ck_assert_int_eq(r.engine_pdus, 2);
	struct toeless_stats st;
	hs_stats(&s, &st);
	ck_assert_uint_eq(st.data_digests_engine, 2);
	rbuf_free(&b);
	hs_close(&s);
}
END_TEST

/* Two connections on one device. */
START_TEST(test_two_contexts)
{
	struct hs s;
	hs_open(&s, NULL, HD | DD, 8192);
	int host2, target2;
	hwt_connect(&s.env, &host2, &target2);
	toeless_ctx *ctx2 = th_ctx_create(s.dev, s.cq, host2, HD | DD, 8192);
	struct rbuf b;
	rbuf_alloc(&s, &b, 65536, true);
	uint8_t want[32768];
	th_fill_pattern(want, sizeof(want), 11);
	post(&s, 1, b.p, 32768, 1);
	ck_assert_int_eq(toeless_sgl_post(ctx2, 1, &(struct iovec){ b.p + 32768, 32768 }, 1, 2), 0);
	struct th_buf out;
	th_buf_init(&out);
	target_data(&out, HD | DD, 1, want, sizeof(want), 8192);
	ck_assert_int_eq(th_write_all(s.target, out.p, out.len), 0);
	ck_assert_int_eq(th_write_all(target2, out.p, out.len), 0);
	th_buf_free(&out);
	for (int k = 0; k < 2; k++) {
		toeless_ctx *cx = k ? ctx2 : s.ctx;
		int fd = k ? host2 : s.host;
		for (int i = 0; i < 4; i++) {
			struct toeless_pdu pdu;
			ck_assert_int_eq(th_recv(cx, fd, &pdu, TH_TIMEOUT_MS), 0);
			ck_assert(pdu.flags & TOELESS_PDU_F_ENGINE);
		}
	}
	struct toeless_completion c[2];
	ck_assert_int_eq(th_cq_wait(s.cq, c, 2, TH_TIMEOUT_MS), 2);
	ck_assert_int_eq(c[0].status, 0);
	ck_assert_int_eq(c[1].status, 0);
	ck_assert(memcmp(b.p, want, 32768) == 0);
	ck_assert(memcmp(b.p + 32768, want, 32768) == 0);
	ck_assert_int_eq(toeless_ctx_destroy(ctx2), 0);
	close(host2);
	close(target2);
	rbuf_free(&b);
	hs_close(&s);
}
END_TEST

/* Long SGLs: up to what the queue carries the device places; longer ones
 * are software's (never an error). */
START_TEST(test_long_sgl)
{
	struct hs s;
	hs_open(&s, NULL, HD | DD, 65536);
	const int counts[2] = { 120, 900 };
	struct rbuf b;
	rbuf_alloc(&s, &b, 900 * 512, true);
	for (int k = 0; k < 2; k++) {
		int n = counts[k];
		size_t len = (size_t)n * 512;
		struct iovec *iov = calloc((size_t)n, sizeof(*iov));
		for (int i = 0; i < n; i++) {
			iov[i].iov_base = b.p + (size_t)i * 512;
			iov[i].iov_len = 512;
		}
		uint8_t *want = malloc(len);
		th_fill_pattern(want, len, (uint32_t)n);
		ck_assert_int_eq(toeless_sgl_post(s.ctx, 0x900 + (uint32_t)k, iov, n, 0), 0);
		struct th_buf out;
		th_buf_init(&out);
		target_data(&out, HD | DD, 0x900 + (uint32_t)k, want, len, 65536);
		ck_assert_int_eq(th_write_all(s.target, out.p, out.len), 0);
		th_buf_free(&out);
		struct rd_result r;
		recv_task(&s, 0x900 + (uint32_t)k, &r);
		ck_assert_int_eq(r.c.status, 0);
		ck_assert(memcmp(b.p, want, len) == 0);
		ck_assert_uint_eq(r.c.bytes_engine, k == 0 ? len : 0);
		free(want);
		free(iov);
	}
	rbuf_free(&b);
	hs_close(&s);
}
END_TEST

/* ---- asynchronous CRC requests ---- */

START_TEST(test_crc_requests)
{
	struct hs s;
	hs_open_nctx(&s, NULL);
	struct rbuf b;
	rbuf_alloc(&s, &b, 100000, true);
	th_fill_pattern(b.p, b.len, 9);
	uint8_t *unreg = malloc(5000);
	th_fill_pattern(unreg, 5000, 10);
	struct iovec v0[1] = { { b.p, b.len } };
	struct iovec v1[3] = { { b.p, 10 }, { b.p + 500, 33333 }, { b.p + 99000, 1000 } };
	struct iovec v2[1] = { { unreg, 5000 } };
	struct toeless_crc_req req[3] = {
		{ v0, 1, 0, 100 },
		{ v1, 3, 0x12345678, 101 },
		{ v2, 1, 0, 102 },
	};
	int n = toeless_crc_submit(s.dev, s.cq, req, 3);
	ck_assert_int_eq(n, 3);
	struct toeless_completion c[3];
	ck_assert_int_eq(th_cq_wait(s.cq, c, 3, TH_TIMEOUT_MS), 3);
	for (int i = 0; i < 3; i++) {
		ck_assert_int_eq(c[i].type, TOELESS_CQE_CRC);
		ck_assert_int_eq(c[i].status, 0);
		int k = (int)(c[i].user_data - 100);
		uint32_t want = th_crc32c_iov(req[k].seed, req[k].iov, req[k].iovcnt);
		ck_assert_uint_eq(c[i].crc, want);
	}
	free(unreg);
	rbuf_free(&b);
	hs_close(&s);
}
END_TEST

/* Regression: zero-length CRC requests and zero-length iovec entries
 * (whose base may be NULL or outside every region) complete with status 0
 * and the right digest: the seed itself when there are no bytes.  The
 * driver used to hand the device an empty SGE naming region 0, which the
 * device refuses (-EFAULT). */
START_TEST(test_crc_zero_length)
{
	struct hs s;
	hs_open_nctx(&s, NULL);
	struct rbuf b;
	rbuf_alloc(&s, &b, 16384, true);
	th_fill_pattern(b.p, b.len, 12);
	uint8_t unreg[16];
	struct iovec v0[1] = { { b.p + 100, 0 } };
	struct iovec v1[1] = { { NULL, 0 } };
	struct iovec v2[3] = { { b.p, 0 }, { NULL, 0 }, { unreg, 0 } };
	struct iovec v3[5] = { { b.p, 1000 }, { NULL, 0 }, { unreg, 0 }, { b.p + 5000, 0 }, { b.p + 2000, 3000 } };
	/* more entries than one device request holds, most of them empty */
	struct iovec v4[70];
	for (int k = 0; k < 70; k++) {
		v4[k].iov_base = k % 2 ? NULL : b.p + 100 * k;
		v4[k].iov_len = k % 30 == 4 ? 777 : 0;
	}
	struct toeless_crc_req req[5] = {
		{ v0, 1, 0, 200 }, { v1, 1, 0xdeadbeef, 201 },  { v2, 3, 0x12345678, 202 },
		{ v3, 5, 0, 203 }, { v4, 70, 0x0badf00d, 204 },
	};
	ck_assert_int_eq(toeless_crc_submit(s.dev, s.cq, req, 5), 5);
	struct toeless_completion c[5];
	ck_assert_int_eq(th_cq_wait(s.cq, c, 5, TH_TIMEOUT_MS), 5);
	bool seen[5] = { false };
	for (int i = 0; i < 5; i++) {
		ck_assert_int_eq(c[i].type, TOELESS_CQE_CRC);
		int k = (int)(c[i].user_data - 200);
		ck_assert(k >= 0 && k < 5 && !seen[k]);
		seen[k] = true;
		ck_assert_msg(c[i].status == 0, "request %d completed with %d", k, c[i].status);
		uint32_t want = req[k].seed;
		for (int j = 0; j < req[k].iovcnt; j++)
			if (req[k].iov[j].iov_len)
				want = th_crc32c(want, req[k].iov[j].iov_base, req[k].iov[j].iov_len);
		ck_assert_uint_eq(c[i].crc, want);
	}
	/* no bytes: the digest is the seed */
	for (int i = 0; i < 5; i++)
		if (c[i].user_data == 201)
			ck_assert_uint_eq(c[i].crc, 0xdeadbeef);
	rbuf_free(&b);
	hs_close(&s);
}
END_TEST

/* CRC requests the device never answers (it died): they complete with an
 * error, and the queue can be destroyed. */
START_TEST(test_crc_device_gone)
{
	struct hs s;
	hs_open_nctx(&s, NULL);
	struct rbuf b;
	rbuf_alloc(&s, &b, 4096, true);
	kill(s.env.pid, SIGSTOP);
	struct iovec v = { b.p, 4096 };
	struct toeless_crc_req req = { &v, 1, 0, 7 };
	ck_assert_int_eq(toeless_crc_submit(s.dev, s.cq, &req, 1), 1);
	kill(s.env.pid, SIGKILL);
	struct toeless_completion c;
	ck_assert_int_eq(th_cq_wait(s.cq, &c, 1, TH_TIMEOUT_MS), 1);
	ck_assert_int_eq(c.type, TOELESS_CQE_CRC);
	ck_assert_int_eq(c.status, -EIO);
	/* the failed device still serves: on the host */
	ck_assert_int_eq(toeless_crc_submit(s.dev, s.cq, &req, 1), 1);
	ck_assert_int_eq(th_cq_wait(s.cq, &c, 1, TH_TIMEOUT_MS), 1);
	ck_assert_int_eq(c.status, 0);
	ck_assert_uint_eq(c.crc, th_crc32c(0, b.p, 4096));
	rbuf_free(&b);
	hs_close(&s);
}
END_TEST

/* ---- faults ---- */

/* Paced tasks: the host reads each before the target sends the next, so
 * the resync handshake can complete between them. */
static void paced_reads(struct hs *s, int ntasks, size_t len, uint32_t pl, struct toeless_stats *st, int *bad_total)
{
	struct rbuf b;
	rbuf_alloc(s, &b, len, true);
	int bad = 0;
	for (int t = 0; t < ntasks; t++) {
		struct rd_result r;
		do_read(s, 0x300 + (uint32_t)t, &b, len, pl, 1 + t % 3, &r);
		bad += r.bad_pdus;
		/* let the handshake and late records settle */
		struct toeless_pdu pdu;
		sleep_ms(2);
		ck_assert_int_eq(toeless_pdu_recv(s->ctx, &pdu), -EAGAIN);
	}
	hs_stats(s, st);
	if (bad_total)
		*bad_total = bad;
	rbuf_free(&b);
}

/* A Data-In the device saw before it held the SGL is placed by software;
 * a duplicate of it that the device sees later, holding the SGL, must not
 * land over those bytes: the host claimed them (sgl_claim, SGL_CLAIM)
 * before writing, and the device declines it.  The core rejects the
 * duplicate -EEXIST and the buffer keeps the bytes placed first, byte for
 * byte (issue #10 item 5).  _i: the digest set. */
START_TEST(test_duplicate_never_reaches_buffer)
{
	struct hs s;
	hs_open(&s, NULL, digest_sets[_i], 8192);
	struct rbuf b;
	rbuf_alloc(&s, &b, 16384, true);
	uint8_t first[16384], dup[8192];
	th_fill_pattern(first, sizeof(first), 41);
	th_fill_pattern(dup, sizeof(dup), 42);
	struct th_buf out;
	th_buf_init(&out);
	th_append_data_in(&out, s.digests, 9, 0, 0, first, 8192, 0, 0, 0);
	ck_assert_int_eq(th_write_all(s.target, out.p, out.len), 0);
	/* all of it passed the device, which held no SGL for ITT 9 yet */
	for (int t = 0; th_inq(s.host) < (int)out.len; t++) {
		ck_assert_int_lt(t, 5000);
		sleep_ms(1);
	}
	post(&s, 9, b.p, 16384, 2);
	struct toeless_pdu pdu;
	ck_assert_int_eq(th_recv(s.ctx, s.host, &pdu, TH_TIMEOUT_MS), 0);
	ck_assert(pdu.flags & TOELESS_PDU_F_PLACED);
	ck_assert(!(pdu.flags & TOELESS_PDU_F_ENGINE)); /* software placed it */
	ck_assert(memcmp(b.p, first, 8192) == 0);

	out.len = 0;
	th_append_data_in(&out, s.digests, 9, 1, 0, dup, 8192, 0, 0, 0);
	th_append_data_in(&out, s.digests, 9, 2, 8192, first + 8192, 8192,
			  TOELESS_ISCSI_FLAG_FINAL | TOELESS_ISCSI_DATAIN_STATUS, 0, 0);
	ck_assert_int_eq(th_write_all(s.target, out.p, out.len), 0);
	ck_assert_int_eq(th_recv(s.ctx, s.host, &pdu, TH_TIMEOUT_MS), -EEXIST);
	ck_assert(!(pdu.flags & TOELESS_PDU_F_PLACED));
	ck_assert(memcmp(b.p, first, 8192) == 0);
	ck_assert_int_eq(th_recv(s.ctx, s.host, &pdu, TH_TIMEOUT_MS), 0);
	ck_assert(pdu.flags & TOELESS_PDU_F_ENGINE); /* the device still places what is new */
	struct toeless_completion c;
	hs_wait_cqe(&s, &c);
	ck_assert_int_eq(c.status, -EEXIST);
	ck_assert_uint_eq(c.bytes_valid, 16384);
	ck_assert(memcmp(b.p, first, sizeof(first)) == 0);
	struct toeless_stats st;
	hs_stats(&s, &st);
	ck_assert_uint_eq(st.placement_errors, 1);
	ck_assert_uint_eq(st.bytes_placed_engine, 8192);
	th_buf_free(&out);
	rbuf_free(&b);
	hs_close(&s);
}
END_TEST

/* The device loses the PDU boundary every 5 PDUs for 2 PDUs: those go to
 * software, the device resynchronises through the handshake. */
START_TEST(test_fault_lose_sync)
{
	const char *faults[] = { "lose-sync=5:2", NULL };
	struct hs s;
	hs_open(&s, faults, digest_sets[_i], 8192);
	struct toeless_stats st;
	paced_reads(&s, 12, 65536, 8192, &st, NULL);
	ck_assert_uint_gt(st.sw_fallback_pdus, 0);
	ck_assert_uint_gt(st.bytes_placed_sw, 0);
	ck_assert_uint_gt(st.bytes_placed_engine, 0);
	ck_assert_uint_eq(st.bytes_placed_engine + st.bytes_placed_sw, 12 * 65536);
	ck_assert_uint_gt(st.resyncs, 0);
	/* engine work after a resync: more engine bytes than before the first loss */
	ck_assert_uint_gt(st.bytes_placed_engine, 5 * 8192);
	if (s.digests & DD)
		ck_assert_uint_eq(st.data_digests_checked, 12 * 8);
	hs_close(&s);
}
END_TEST

/* Corrupted payload: the device reports the bad digest; the host delivers
 * -EBADMSG and the task fails. */
START_TEST(test_fault_corrupt_engine)
{
	const char *faults[] = { "corrupt-data=3", NULL };
	struct hs s;
	hs_open(&s, faults, HD | DD, 8192);
	struct toeless_stats st;
	int bad = 0;
	paced_reads(&s, 4, 49152, 8192, &st, &bad);
	ck_assert_int_eq(bad, 8); /* 24 Data-In, every third corrupted */
	ck_assert_uint_eq(st.data_digest_errors, 8);
	ck_assert_uint_eq(st.data_digests_engine, 24);
	ck_assert_uint_eq(st.sgl_failed, 4);
	hs_close(&s);
}
END_TEST

/* Corrupted payload on PDUs the device has no record for: software checks
 * and still finds every one. */
START_TEST(test_fault_corrupt_software)
{
	const char *faults[] = { "corrupt-data=2", "drop-records=2", NULL };
	struct hs s;
	hs_open(&s, faults, HD | DD, 8192);
	struct toeless_stats st;
	int bad = 0;
	paced_reads(&s, 4, 32768, 8192, &st, &bad);
	ck_assert_int_eq(bad, 8);
	ck_assert_uint_eq(st.data_digest_errors, 8);
	ck_assert_uint_eq(st.data_digests_engine, 8);
	ck_assert_uint_eq(st.sw_fallback_pdus, 8);
	hs_close(&s);
}
END_TEST

/* A corrupted header: the context fails with a bad header digest. */
START_TEST(test_fault_corrupt_header)
{
	const char *faults[] = { "corrupt-hdr=2", NULL };
	struct hs s;
	hs_open(&s, faults, HD | DD, 8192);
	struct rbuf b;
	rbuf_alloc(&s, &b, 32768, true);
	uint8_t want[32768];
	th_fill_pattern(want, sizeof(want), 1);
	post(&s, 5, b.p, sizeof(want), 1);
	struct th_buf out;
	th_buf_init(&out);
	target_data(&out, HD | DD, 5, want, sizeof(want), 8192);
	ck_assert_int_eq(th_write_all(s.target, out.p, out.len), 0);
	th_buf_free(&out);
	struct toeless_pdu pdu;
	ck_assert_int_eq(th_recv(s.ctx, s.host, &pdu, TH_TIMEOUT_MS), 0);
	ck_assert_int_eq(th_recv(s.ctx, s.host, &pdu, TH_TIMEOUT_MS), -EBADMSG);
	ck_assert_int_eq(pdu.hdr_digest, TOELESS_DIGEST_BAD);
	ck_assert_int_eq(toeless_pdu_recv(s.ctx, &pdu), -ENOTCONN);
	struct toeless_stats st;
	hs_stats(&s, &st);
	ck_assert_uint_eq(st.hdr_digest_errors, 1);
	ck_assert_int_eq(toeless_ctx_destroy(s.ctx), 0); /* gives the buffers back */
	s.ctx = NULL;
	rbuf_free(&b);
	hs_close(&s);
}
END_TEST

/* Every other record dropped: those PDUs take the software path. */
START_TEST(test_fault_drop_records)
{
	const char *faults[] = { "drop-records=2", NULL };
	struct hs s;
	hs_open(&s, faults, digest_sets[_i], 8192);
	struct toeless_stats st;
	paced_reads(&s, 4, 65536, 8192, &st, NULL);
	ck_assert_uint_eq(st.sw_fallback_pdus, 16);
	ck_assert_uint_eq(st.bytes_placed_sw, 16 * 8192);
	ck_assert_uint_eq(st.bytes_placed_engine, 16 * 8192);
	hs_close(&s);
}
END_TEST

/* Every other record late: software takes those PDUs, the late records
 * are recognised as stale and ignored (counted).  The delay is long next to
 * scheduling noise: a host that reads a PDU later than the delay finds its
 * record in time and (rightly) uses it, so a short delay made this test
 * fail on a loaded machine. */
START_TEST(test_fault_delay_records)
{
	const char *faults[] = { "delay-records=2:200", NULL };
	struct hs s;
	hs_open(&s, faults, HD | DD, 8192);
	struct rbuf b;
	rbuf_alloc(&s, &b, 16384, true);
	uint64_t placed = 0;
	for (int t = 0; t < 8; t++) {
		struct rd_result r;
		do_read(&s, 0x40 + (uint32_t)t, &b, 16384, 8192, 1, &r);
		placed += r.c.bytes_engine;
		sleep_ms(230); /* the late record arrives before the next PDU */
	}
	struct toeless_stats st;
	hs_stats(&s, &st);
	ck_assert_uint_eq(st.sw_fallback_pdus, 8);
	ck_assert_uint_eq(st.bytes_placed_engine, 8 * 8192);
	ck_assert_uint_eq(placed, 8 * 8192);
	ck_assert_uint_ge(st.engine_anomalies, 7);
	rbuf_free(&b);
	hs_close(&s);
}
END_TEST

/* The device holds 2 SGLs at most: further posts are refused, counted, and
 * placed by software. */
START_TEST(test_fault_sgl_limit)
{
	const char *faults[] = { "sgl-limit=2", NULL };
	struct hs s;
	hs_open(&s, faults, HD | DD, 8192);
	struct rbuf b;
	rbuf_alloc(&s, &b, 4 * 16384, true);
	uint8_t *want = malloc(4 * 16384);
	th_fill_pattern(want, 4 * 16384, 21);
	struct th_buf out;
	th_buf_init(&out);
	for (int t = 0; t < 4; t++) {
		post(&s, 0x50 + (uint32_t)t, b.p + t * 16384, 16384, 1);
		target_data(&out, HD | DD, 0x50 + (uint32_t)t, want + t * 16384, 16384, 4096);
	}
	ck_assert_int_eq(th_write_all(s.target, out.p, out.len), 0);
	th_buf_free(&out);
	for (int t = 0; t < 4; t++) {
		struct rd_result r;
		recv_task(&s, 0x50 + (uint32_t)t, &r);
		ck_assert_int_eq(r.c.status, 0);
		ck_assert_uint_eq(r.c.bytes_engine, t < 2 ? 16384 : 0);
	}
	ck_assert(memcmp(b.p, want, 4 * 16384) == 0);
	struct toeless_stats st;
	hs_stats(&s, &st);
	ck_assert_uint_eq(st.engine_post_full, 2);
	ck_assert_uint_eq(st.bytes_placed_engine, 2 * 16384);
	ck_assert_uint_eq(st.bytes_placed_sw, 2 * 16384);
	free(want);
	rbuf_free(&b);
	hs_close(&s);
}
END_TEST

/* The record queue fills while the host is not reading: the records that
 * did not fit are lost and those PDUs go to software. */
START_TEST(test_fault_rq_full)
{
	const char *faults[] = { "rq-limit=3", NULL };
	struct hs s;
	hs_open(&s, faults, HD | DD, 8192);
	struct rbuf b;
	rbuf_alloc(&s, &b, 16 * 4096, true);
	uint8_t *want = malloc(16 * 4096);
	th_fill_pattern(want, 16 * 4096, 8);
	post(&s, 0x60, b.p, 16 * 4096, 4);
	struct th_buf out;
	th_buf_init(&out);
	target_data(&out, HD | DD, 0x60, want, 16 * 4096, 4096);
	ck_assert_int_eq(th_write_all(s.target, out.p, out.len), 0);
	th_buf_free(&out);
	sleep_ms(100); /* the device has passed everything on before we read */
	struct rd_result r;
	recv_task(&s, 0x60, &r);
	ck_assert_int_eq(r.c.status, 0);
	ck_assert(memcmp(b.p, want, 16 * 4096) == 0);
	ck_assert_int_eq(r.engine_pdus, 3);
	struct toeless_stats st;
	hs_stats(&s, &st);
	ck_assert_uint_eq(st.sw_fallback_pdus, 13);
	ck_assert_uint_eq(st.bytes_placed_engine, 3 * 4096);
	free(want);
	rbuf_free(&b);
	hs_close(&s);
}
END_TEST

/* The device resets mid-task: the driver sees it, the core goes on in
 * software, nothing is lost and nothing is left held. */
START_TEST(test_fault_reset)
{
	const char *faults[] = { "reset-after=3", NULL };
	struct hs s;
	hs_open(&s, faults, HD | DD, 8192);
	struct rbuf b;
	rbuf_alloc(&s, &b, 65536, true);
	struct rd_result r;
	do_read(&s, 0x70, &b, 65536, 8192, 2, &r);
	/* the records of the 3 PDUs before the reset count only if the host
	 * read them before it saw the reset: after it, it trusts nothing */
	int before = r.engine_pdus;
	ck_assert_int_le(before, 3);
	do_read(&s, 0x71, &b, 65536, 8192, 2, &r);
	ck_assert_int_eq(r.engine_pdus, 0);
	struct toeless_stats st;
	hs_stats(&s, &st);
	ck_assert_uint_eq(st.bytes_placed_engine, (uint64_t)before * 8192);
	ck_assert_uint_eq(st.bytes_placed_sw, 2 * 65536 - (uint64_t)before * 8192);
	/* a post after the reset is simply software's, and so is a new context */
	post(&s, 0x72, b.p, 8192, 1);
	ck_assert_int_eq(toeless_sgl_cancel(s.ctx, 0x72), 0);
	struct toeless_completion c;
	hs_wait_cqe(&s, &c);
	ck_assert_int_eq(c.status, -ECANCELED);
	rbuf_free(&b);
	hs_close(&s);
}
END_TEST

/* The device process dies: the library notices and goes on (the relay is
 * gone too, so the connection ends; nothing hangs).  The wire NIC is the
 * wire: it comes back, TCP carries on and software places what follows. */
START_TEST(test_device_gone)
{
	struct hs s;
	hs_open(&s, NULL, HD | DD, 8192);
	struct rbuf b;
	rbuf_alloc(&s, &b, 16384, true);
	post(&s, 1, b.p, 16384, 1);
	kill(s.env.pid, SIGKILL);
	sleep_ms(50);
	if (hwt_wire()) {
		hwt_wire_restart(&s.env);
		uint8_t want[16384];
		th_fill_pattern(want, sizeof(want), 1 * 7919u);
		struct th_buf out;
		th_buf_init(&out);
		target_data(&out, s.digests, 1, want, sizeof(want), 8192);
		ck_assert_int_eq(th_write_all(s.target, out.p, out.len), 0);
		th_buf_free(&out);
		struct rd_result r;
		recv_task(&s, 1, &r);
		ck_assert_int_eq(r.c.status, 0);
		ck_assert_int_eq(r.engine_pdus, 0);
		ck_assert(memcmp(b.p, want, sizeof(want)) == 0);
		struct toeless_stats st;
		hs_stats(&s, &st);
		ck_assert_uint_eq(st.bytes_placed_sw, sizeof(want));
		rbuf_free(&b);
		hs_close(&s);
		return;
	}
	struct toeless_pdu pdu;
	int rc = th_recv(s.ctx, s.host, &pdu, TH_TIMEOUT_MS);
	ck_assert(rc == -EPIPE || rc == -ECONNRESET);
	ck_assert_int_eq(toeless_ctx_destroy(s.ctx), 0); /* must not wait for the dead device */
	s.ctx = NULL;
	struct toeless_completion c;
	ck_assert_int_eq(th_cq_wait(s.cq, &c, 1, TH_TIMEOUT_MS), 1);
	rbuf_free(&b);
	hs_close(&s);
}
END_TEST

int main(void)
{
	const char *why = hwt_skip_reason();
	if (why) {
		printf("SKIP: %s\n", why);
		return 77;
	}
	unsetenv("TOELESS_BACKEND");
	Suite *s = suite_create("hw");
	TH_TEST(s, test_attach_caps);
	TH_TEST(s, test_feature_negotiation);
	TH_TEST(s, test_coalesce_settings);
	TH_LOOP_TEST(s, test_fastpath_engine_places, 0, 4);
	TH_TEST(s, test_fastpath_mixed);
	TH_LOOP_TEST(s, test_dataless_pdu_at_end, 0, 2);
	TH_TEST(s, test_unregistered_software);
	TH_TEST(s, test_fastpath_interleaved);
	TH_TEST(s, test_cancel_and_repost);
	TH_TEST(s, test_bind_behind_the_wire);
	TH_TEST(s, test_set_params);
	TH_TEST(s, test_two_contexts);
	TH_TEST(s, test_long_sgl);
	TH_TEST(s, test_crc_requests);
	TH_TEST(s, test_crc_zero_length);
	TH_TEST(s, test_crc_device_gone);
	TH_LOOP_TEST(s, test_duplicate_never_reaches_buffer, 0, 4);
	TH_LOOP_TEST(s, test_fault_lose_sync, 0, 4);
	TH_TEST(s, test_fault_corrupt_engine);
	TH_TEST(s, test_fault_corrupt_software);
	TH_TEST(s, test_fault_corrupt_header);
	TH_LOOP_TEST(s, test_fault_drop_records, 0, 4);
	TH_TEST(s, test_fault_delay_records);
	TH_TEST(s, test_fault_sgl_limit);
	TH_TEST(s, test_fault_rq_full);
	TH_TEST(s, test_fault_reset);
	TH_TEST(s, test_device_gone);
	return th_run_suite(s);
}
