/*
 * The wire NIC's tracker (tools/toeless-nic/seqtrack.c) in-process: target
 * PDUs cut into TCP segments are fed to nic_track_segment() in wire order,
 * some segments lost, and the records, resync requests and the sequence
 * number the tracker expects next are checked.  No TUN, no namespaces, no
 * host process: the context's queues are plain memory here, as they are in
 * the shared mapping the driver sees.
 *
 * Regression (issue 12): a lost segment that ended exactly at a PDU's end,
 * on a connection without DataDigest (or a PDU without data), left the
 * tracker waiting for a data digest that does not exist; it took the next
 * header's first 4 bytes as one and then looped for ever without taking a
 * byte, which froze the whole NIC (the driver then saw an SGL_CLAIM go
 * unanswered and declared the device failed).
 *
 * SPDX-License-Identifier: MIT
 */
#include "config.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../tools/toeless-nic/nic.h"
#include "../helpers.h"
#include "toeless_iscsi.h"

/* What the tracker needs from the rest of the NIC (wire.c, txdigest.c). */
struct nic nic;
const uint64_t dv_model_features = HWIF_F_ALL;
const char dv_model_name[] = "check_seqtrack";
struct dv_conn *dv_conn_find(const struct hwif_ctx_block *b)
{
	(void)b;
	return NULL;
}
void dv_track_tx_pdu(struct dv_ctx *ctx, const struct hwif_sqe *e)
{
	(void)ctx;
	(void)e;
}

#define RQ_N 64
#define CQ_N 64
#define IRS  0xfffff000u /* the stream crosses sequence number 0 */

struct rig {
	struct hwif_ctx_block blk;
	struct hwif_rqe rq[RQ_N];
	struct hwif_cqe cq[CQ_N];
	struct dv_att att;
	struct dv_ctx ctx;
	struct dv_conn conn;
};

static void rig_init(struct rig *r, uint32_t ctx_flags)
{
	memset(r, 0, sizeof(*r));
	memset(&nic, 0, sizeof(nic));
	r->att.rq_n = RQ_N;
	r->att.cq_n = CQ_N;
	r->att.sq_n = 16;
	r->att.features = HWIF_F_ALL;
	r->att.max_contexts = 1;
	r->att.ctx = &r->ctx;
	r->ctx.att = &r->att;
	r->ctx.active = true;
	r->ctx.blk = &r->blk;
	r->ctx.rq = r->rq;
	r->ctx.cq = r->cq;
	r->ctx.irq = -1;
	r->ctx.flags = ctx_flags;
	r->ctx.max_dsl = 8192;
	r->conn.irs = IRS;
	r->conn.tgt_max = IRS + 1; /* nothing passed yet: the first byte is a header */
	r->conn.have_irs = true;
	r->ctx.conn = &r->conn;
	ck_assert_int_eq(dv_track_bind(&r->conn, &r->ctx), 0);
	ck_assert_int_eq(r->conn.mode, NIC_SYNC);
}

/* A Data-In PDU (F bit, no status) at p: header, header digest, data,
 * pad, data digest as ctx_flags say.  Returns its length. */
static uint32_t data_in(uint8_t *p, uint32_t ctx_flags, uint32_t itt, uint32_t dsl, uint32_t boff)
{
	uint8_t *h = p;
	memset(h, 0, 48);
	h[0] = TOELESS_ISCSI_OP_DATA_IN;
	h[1] = 0x80;
	toeless_bhs_set_lengths(h, 0, dsl);
	toeless_put_be32(h + 16, itt);
	toeless_put_be32(h + 20, 0xffffffffu);
	toeless_put_be32(h + 40, boff);
	uint32_t n = 48;
	if (ctx_flags & HWIF_CTX_HDR_DIGEST) {
		toeless_put_le32(p + n, dv_crc32c(0, h, 48));
		n += 4;
	}
	uint8_t *d = p + n;
	for (uint32_t i = 0; i < dsl; i++)
		d[i] = (uint8_t)(itt * 7 + i);
	uint32_t pad = toeless_pad_len(dsl);
	memset(d + dsl, 0, pad);
	n += dsl + pad;
	if (dsl && (ctx_flags & HWIF_CTX_DATA_DIGEST)) {
		toeless_put_le32(p + n, dv_crc32c(0, d, dsl + pad));
		n += 4;
	}
	return n;
}

/* Segment [off, off + len) of the stream s, as the target sent it. */
static void seg(struct rig *r, const uint8_t *s, uint32_t off, uint32_t len)
{
	static uint8_t copy[65536];
	memcpy(copy, s + off, len);
	nic_track_segment(&r->conn, IRS + 1 + off, copy, len);
}

/*
 * PDU 1 in two segments, the second lost; PDU 2, 3 and 4 one segment each.
 * The lost segment ends exactly where PDU 2 starts (the case that hung),
 * cut inside the data (_i & 8 clear) or just after it (pad and digest
 * lost, or the last data byte when there are none).  _i & 3: digests
 * (header, data); _i & 4: a data length with pad.
 */
START_TEST(test_gap_at_pdu_end)
{
	static uint8_t s[65536];
	uint32_t fl = ((_i & 1) ? HWIF_CTX_HDR_DIGEST : 0) | ((_i & 2) ? HWIF_CTX_DATA_DIGEST : 0);
	uint32_t dsl = (_i & 4) ? 391 : 392;
	uint32_t hlen = 48 + ((fl & HWIF_CTX_HDR_DIGEST) ? 4 : 0);
	struct rig *r = calloc(1, sizeof(*r));
	ck_assert_ptr_nonnull(r);
	alarm(5); /* the bug was a loop that never returned: fail, do not hang */
	rig_init(r, fl);
	uint32_t off[5];
	off[0] = 0;
	for (int k = 0; k < 4; k++)
		off[k + 1] = off[k] + data_in(s + off[k], fl, 0x100 + (uint32_t)k, dsl, 0);
	uint32_t cut = hlen + ((_i & 8) ? dsl : dsl / 2);
	if (cut == off[1])
		cut--; /* nothing after the data: lose its last byte */

	seg(r, s, 0, cut);
	ck_assert_uint_eq(r->ctx.rq_tail, 1); /* PDU 1's record, open */
	ck_assert_uint_eq(r->rq[0].stream_pos, 0);
	/* [cut, off[1]) is lost; PDU 2 arrives: a gap inside PDU 1, whose end is known */
	seg(r, s, off[1], off[2] - off[1]);
	ck_assert_uint_eq(nic.st.gaps, 1);
	ck_assert(HWIF_LOAD(&r->rq[0].flags) & HWIF_REC_F_FINAL);
	ck_assert_uint_ne(r->rq[0].data_digest, HWIF_DIGEST_OK); /* no verdict on bytes it did not see */
	ck_assert_uint_ne(r->rq[0].data_digest, HWIF_DIGEST_BAD);
	/* it asked about PDU 2's header and followed PDU 2 from there, whole */
	ck_assert_uint_eq(r->ctx.cq_tail, 1);
	ck_assert_uint_eq(r->cq[0].type, HWIF_CQE_RESYNC_REQ);
	ck_assert_uint_eq(r->cq[0].value, off[1]);
	ck_assert_int_eq(r->conn.mode, NIC_SPEC);
	ck_assert_uint_eq(r->conn.nxt, IRS + 1 + off[2]);
	ck_assert_uint_eq(r->ctx.rq_tail, 1); /* no record while not in sync */
	/* the host says yes: in sync at PDU 3, whose record is right */
	dv_track_resync_reply(&r->ctx, off[1], true);
	ck_assert_int_eq(r->conn.mode, NIC_SYNC);
	seg(r, s, off[2], off[3] - off[2]);
	seg(r, s, off[3], off[4] - off[3]);
	ck_assert_uint_eq(r->ctx.rq_tail, 3);
	for (int k = 1; k < 3; k++) {
		const struct hwif_rqe *q = &r->rq[k];
		ck_assert_uint_eq(q->stream_pos, off[k + 1]);
		ck_assert_uint_eq(q->seq, IRS + 1 + off[k + 1]);
		ck_assert_uint_eq(q->itt, 0x100 + (uint32_t)k + 1);
		ck_assert_uint_eq(q->data_len, dsl);
		ck_assert(q->flags & HWIF_REC_F_FINAL);
		ck_assert_uint_eq(q->hdr_digest, (fl & HWIF_CTX_HDR_DIGEST) ? HWIF_DIGEST_OK : HWIF_DIGEST_NONE);
		ck_assert_uint_eq(q->data_digest, (fl & HWIF_CTX_DATA_DIGEST) ? HWIF_DIGEST_OK : HWIF_DIGEST_NONE);
	}
	ck_assert_uint_eq(r->ctx.cq_tail, 1); /* nothing more to ask */
	ck_assert_uint_eq(nic.st.hunts, 0);
	ck_assert_uint_eq(r->conn.nxt, IRS + 1 + off[4]);
	alarm(0);
	dv_track_unbind(&r->conn);
	free(r);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("seqtrack");
	TH_LOOP_TEST(s, test_gap_at_pdu_end, 0, 16);
	return th_run_suite(s);
}
