/*
 * Transmit digest insertion (TOELESS_CAP_CRC_TX, the backend op tx_pdu):
 * toeless_pdu_send() hands each PDU that wants a digest to the engine
 * before its first byte is written, with the right stream position,
 * header and data lengths and digest flags, and then sends zeros where
 * the digests go; when the engine does not advertise the capability,
 * lacks the op, declines the context or refuses the PDU, the host computes
 * every digest itself (checked against isa-l and the bitwise reference).
 *
 * The engine is a table in this file, opened with tl_device_open_ops():
 * it records what it was asked and writes nothing (it has no wire).
 *
 * SPDX-License-Identifier: MIT
 */
#include "config.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <isa-l/crc.h>

#include "backends.h"
#include "helpers.h"
#include "toeless_backend.h"
#include "toeless_iscsi.h"

/* ---- the recording engine ---- */

enum txe_mode {
	TXE_ACCEPT = 0, /* CRC_TX advertised, tx_pdu takes every PDU */
	TXE_DECLINE,    /* CRC_TX advertised, tx_pdu refuses (-EBUSY: a full queue) */
	TXE_NOCAP,      /* tx_pdu present, CRC_TX not advertised */
	TXE_NOCTX,      /* CRC_TX advertised, ctx_create declines every context */
	TXE_NOOP,       /* CRC_TX advertised, no tx_pdu op (a plugin built before it was appended:
			 * the loader zero-extends its table) */
};

struct txe_call {
	void *ctx_priv;
	uint64_t pos;
	uint32_t hdr_len, data_len, flags;
};

static struct {
	enum txe_mode mode;
	struct txe_call calls[256];
	int ncalls;
	int ctx_token;
} txe;

static int txe_open(toeless_device *dev, const char *args, void **priv)
{
	(void)dev;
	(void)args;
	*priv = &txe;
	return 0;
}

static void txe_close(void *priv)
{
	(void)priv;
}

static int txe_query(void *priv, struct toeless_caps *caps)
{
	(void)priv;
	snprintf(caps->backend, sizeof(caps->backend), "txe");
	snprintf(caps->backend_version, sizeof(caps->backend_version), "0");
	caps->flags = txe.mode == TXE_NOCAP ? 0 : TOELESS_CAP_CRC_TX;
	caps->max_contexts = 8;
	caps->max_sge = 16;
	caps->max_tasks = 64;
	caps->max_recv_dsl = 262144;
	caps->sge_align = 1;
	return 0;
}

static int txe_ctx_create(void *dev_priv, toeless_ctx *ctx, const struct toeless_backend_ctx_info *info,
			  void **ctx_priv)
{
	(void)dev_priv;
	(void)ctx;
	(void)info;
	if (txe.mode == TXE_NOCTX)
		return -EOPNOTSUPP;
	*ctx_priv = &txe.ctx_token;
	return 0;
}

static void txe_ctx_destroy(void *ctx_priv)
{
	(void)ctx_priv;
}

static int txe_tx_pdu(void *ctx_priv, uint64_t tx_pos, uint32_t hdr_len, uint32_t data_len, uint32_t flags)
{
	ck_assert_int_lt(txe.ncalls, 256);
	txe.calls[txe.ncalls++] = (struct txe_call){ ctx_priv, tx_pos, hdr_len, data_len, flags };
	return txe.mode == TXE_DECLINE ? -EBUSY : 0;
}

static toeless_device *txe_dev(enum txe_mode mode)
{
	static struct toeless_backend_ops ops;
	memset(&ops, 0, sizeof(ops));
	ops.size = sizeof(ops);
	ops.abi_version = TOELESS_BACKEND_ABI;
	ops.name = "txe";
	ops.version = "0";
	ops.open = txe_open;
	ops.close = txe_close;
	ops.query = txe_query;
	ops.ctx_create = txe_ctx_create;
	ops.ctx_destroy = txe_ctx_destroy;
	ops.tx_pdu = mode == TXE_NOOP ? NULL : txe_tx_pdu;
	memset(&txe, 0, sizeof(txe));
	txe.mode = mode;
	struct toeless_device_attr a = { .size = sizeof(a) };
	toeless_device *dev = NULL;
	ck_assert_int_eq(tl_device_open_ops(&ops, "", &a, &dev), 0);
	return dev;
}

/* toeless_crc32c's convention from isa-l's raw CRC */
static uint32_t isal_crc(const void *p, size_t len)
{
	return ~crc32_iscsi((unsigned char *)(uintptr_t)p, (int)len, 0xFFFFFFFFu);
}

/* ---- the test ---- */

/* PDUs of every shape: no data, every pad, AHS, several iovecs. */
static const uint32_t lens[] = { 0, 1, 2, 3, 4, 5, 7, 8, 13, 512, 1021, 4093, 8192, 0, 65536 };
#define NLENS ((int)(sizeof(lens) / sizeof(lens[0])))

/* Send every PDU of lens[] on a context with digests dg on a txe device in
 * mode; check the wire, the calls and the counter.  _i: digests (0..3). */
static void run(enum txe_mode mode, unsigned dg)
{
	toeless_device *dev = txe_dev(mode);
	int sv[2];
	th_sockpair(TH_SOCK_UNIX, sv);
	th_set_nonblock(sv[0], true);
	toeless_cq *cq = th_cq_create(dev, 0);
	toeless_ctx *ctx = th_ctx_create(dev, cq, sv[0], dg, 65536);
	uint8_t *data = malloc(65536 + 16), *wire = malloc(65536 + 1200);
	ck_assert_ptr_nonnull(data);
	ck_assert_ptr_nonnull(wire);
	uint64_t pos = 0, want_off = 0;
	int want_calls = 0;
	bool engine = mode == TXE_ACCEPT;
	for (int i = 0; i < NLENS; i++) {
		uint32_t len = lens[i], ahs_len = (uint32_t)(i % 3) * 4;
		uint8_t bhs[48], ahs[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
		th_bhs_init(bhs, TOELESS_ISCSI_OP_DATA_OUT, TOELESS_ISCSI_FLAG_FINAL, 0x100u + (uint32_t)i);
		th_fill_pattern(data, len, (uint32_t)i * 77u + dg);
		struct iovec iov[3] = { { data, len / 3 }, { data + len / 3, 0 }, { data + len / 3, len - len / 3 } };
		int n0 = txe.ncalls;
		ck_assert_int_eq(
			toeless_pdu_send(ctx, bhs, ahs_len ? ahs : NULL, ahs_len, len ? iov : NULL, len ? 3 : 0), 0);
		uint32_t flags = (dg & TOELESS_CTX_HEADER_DIGEST ? TOELESS_TX_HDR_DIGEST : 0) |
				 (len && (dg & TOELESS_CTX_DATA_DIGEST) ? TOELESS_TX_DATA_DIGEST : 0);
		/* asked once per PDU that wants a digest, before the PDU's bytes;
		 * never when the engine cannot insert */
		bool asked = flags && (mode == TXE_ACCEPT || mode == TXE_DECLINE);
		ck_assert_int_eq(txe.ncalls - n0, asked ? 1 : 0);
		if (asked) {
			const struct txe_call *c = &txe.calls[n0];
			ck_assert_ptr_eq(c->ctx_priv, &txe.ctx_token);
			ck_assert_uint_eq(c->pos, pos);
			ck_assert_uint_eq(c->hdr_len, 48 + ahs_len);
			ck_assert_uint_eq(c->data_len, len);
			ck_assert_uint_eq(c->flags, flags);
			want_calls++;
			if (engine)
				want_off += (uint64_t)__builtin_popcount(flags);
		}
		struct th_pdu tp = { .ahs_len = ahs_len, .data_len = len, .digests = dg };
		size_t wl = th_pdu_wire_len(&tp);
		ck_assert_int_eq(th_read_full(sv[1], wire, wl, 5000), 0);
		struct th_parsed p;
		ck_assert_uint_eq(th_pdu_parse(wire, wl, dg, &p), wl);
		ck_assert_uint_eq(p.data_len, len);
		ck_assert(p.pad_zero);
		if (len)
			ck_assert_mem_eq(p.data, data, len);
		if (p.has_hdr_digest) {
			/* the engine's: the placeholder zeros; the host's: the right value */
			uint32_t right = isal_crc(wire, 48 + ahs_len);
			ck_assert_uint_eq(right, p.hdr_digest_calc);
			ck_assert_uint_eq(p.hdr_digest, engine ? 0 : right);
		}
		if (p.has_data_digest) {
			uint32_t right = isal_crc(p.data, len + p.pad_len);
			ck_assert_uint_eq(right, p.data_digest_calc);
			ck_assert_uint_eq(p.data_digest, engine ? 0 : right);
		}
		pos += wl;
	}
	ck_assert_int_eq(txe.ncalls, want_calls);
	struct toeless_stats st;
	th_ctx_stats(ctx, &st);
	ck_assert_uint_eq(st.tx_digests_offloaded, want_off);
	ck_assert_uint_eq(st.pdus_tx, NLENS);
	ck_assert_uint_eq(st.bytes_tx, pos);
	if (engine && dg)
		ck_assert_uint_gt(st.tx_digests_offloaded, 0);
	ck_assert_int_eq(toeless_ctx_destroy(ctx), 0);
	ck_assert_int_eq(toeless_cq_destroy(cq), 0);
	ck_assert_int_eq(toeless_device_close(dev), 0);
	close(sv[0]);
	close(sv[1]);
	free(data);
	free(wire);
}

/* CRC_TX negotiated: every digest goes to the engine, zeros on the wire. */
START_TEST(test_tx_engine_takes)
{
	run(TXE_ACCEPT, (unsigned)_i);
}
END_TEST

/* The engine refuses a PDU: asked, then the host computes. */
START_TEST(test_tx_engine_declines)
{
	run(TXE_DECLINE, (unsigned)_i);
}
END_TEST

/* No CRC_TX: the op is never called, the host computes. */
START_TEST(test_tx_no_cap)
{
	run(TXE_NOCAP, (unsigned)_i);
}
END_TEST

/* The engine declined the context: software path, host digests. */
START_TEST(test_tx_no_ctx)
{
	run(TXE_NOCTX, (unsigned)_i);
}
END_TEST

/* CRC_TX without the op, as an older plugin's table reads: host digests. */
START_TEST(test_tx_no_op)
{
	run(TXE_NOOP, (unsigned)_i);
}
END_TEST

static Suite *txdigest_suite(void)
{
	Suite *s = suite_create("txdigest");
	TCase *tc = tcase_create("core");
	/* _i: digests none, header, data, both */
	tcase_add_loop_test(tc, test_tx_engine_takes, 0, 4);
	tcase_add_loop_test(tc, test_tx_engine_declines, 0, 4);
	tcase_add_loop_test(tc, test_tx_no_cap, 0, 4);
	tcase_add_loop_test(tc, test_tx_no_ctx, 0, 4);
	tcase_add_loop_test(tc, test_tx_no_op, 0, 4);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return th_run_suite(txdigest_suite());
}
