/*
 * toeless-nic: following iSCSI PDUs in TCP sequence space, one segment at
 * a time in wire order, as a TOE-less NIC does.
 *
 * In sync (NIC_SYNC) each byte of an in-order segment moves a small state
 * machine: header, payload, pad, data digest.  When a header is complete
 * the NIC publishes the PDU's record (open: HWIF_F_WIRE_RECORDS) before
 * the segment that completed it is forwarded, so the host never reads a
 * header whose record is still to come.  Payload of in-order segments is
 * placed into the SGL of the ITT (process_vm_writev) as it passes, and
 * bytes_placed grows with it; at the PDU's end the data digest verdict is
 * written and the record is made final.  Nothing is ever held: the
 * segment goes on to the host right after.
 *
 * A segment wholly before the expected sequence is a retransmission the
 * NIC has handled: it passes untouched (no double placement, no digest
 * counted twice); one overlapping it is handled from the expected byte.
 * A gap (a lost or reordered segment): the open record is made final as
 * it stands (a prefix placed, digest unchecked) and placement stops.
 * When the gap lies inside the payload, the next header's sequence is
 * still known: the NIC follows from there speculatively (NIC_SPEC) and
 * asks the host (RESYNC_REQ); otherwise it hunts for a plausible header
 * in the segments that come (NIC_HUNT).  Only a "yes" from the host, which
 * answers from what it has read itself, brings it back to NIC_SYNC, at
 * the next PDU boundary; a "no" sends it hunting.  While not in sync it
 * publishes no record and places nothing.
 *
 * SPDX-License-Identifier: MIT
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "nic.h"
#include "toeless_iscsi.h"

static inline uint32_t seq_of(const struct dv_conn *c, uint64_t off)
{
	return c->irs + 1 + (uint32_t)off;
}

/* Bytes of the current PDU still to come after the header (part != HDR). */
static uint64_t pdu_left(const struct dv_conn *c)
{
	uint32_t dd = c->dsl ? dv_dd_len(c->ctx) : 0;
	return (uint64_t)(c->dsl - c->got) + c->pad_left + (dd - c->dd_have);
}

static void hdr_reset(struct dv_conn *c)
{
	c->part = NIC_HDR;
	c->hdr_have = 0;
	c->hdr_need = 48;
}

/* ---- records ---- */

static struct hwif_rqe *rec_at(struct dv_conn *c)
{
	struct dv_ctx *x = c->ctx;
	if (c->rec_delayed)
		return &c->rec_late;
	return &x->rq[c->rec_idx & (x->att->rq_n - 1)];
}

/* Fault delay-records: the record is built aside and published MS ms after
 * it is final, long after the host read the PDU (in software: it found no
 * record).  Placement goes on as for any record, as a NIC's payload DMA
 * would; the late record is stale when it comes and the host must ignore
 * it. */
static bool rec_delay(struct dv_conn *c)
{
	const struct dv_faults *f = &dv.o.f;
	if (!f->delay_records_every || ++c->n_delay % f->delay_records_every)
		return false;
	c->rec_delayed = true;
	DV_STAT(c->ctx->att, faults_injected, 1);
	return true;
}

static void rec_delay_queue(struct dv_conn *c)
{
	struct dv_delayed *d = malloc(sizeof(*d));
	c->rec_delayed = false;
	if (!d)
		return; /* a record lost: always correct */
	d->next = NULL;
	d->ctx = c->ctx;
	d->due_ms = dv_now_ms() + dv.o.f.delay_ms;
	d->rec = c->rec_late;
	*dv.delayed_tail = d;
	dv.delayed_tail = &d->next;
	dv_tick_need();
}

static bool rec_open(struct dv_conn *c, uint8_t hdr_digest)
{
	struct dv_ctx *x = c->ctx;
	const struct dv_faults *f = &dv.o.f;
	uint32_t cap = x->att->rq_n;
	if (f->rq_limit && f->rq_limit < cap)
		cap = f->rq_limit;
	if (x->rq_tail - HWIF_LOAD(&x->blk->rq_head) >= cap) {
		DV_STAT(x->att, records_dropped, 1);
		return false; /* the host takes this PDU in software */
	}
	if (f->drop_records_every && ++x->rec_seq % f->drop_records_every == 0) {
		DV_STAT(x->att, records_dropped, 1);
		DV_STAT(x->att, faults_injected, 1);
		return false;
	}
	struct hwif_rqe *r = rec_delay(c) ? &c->rec_late : &x->rq[x->rq_tail & (x->att->rq_n - 1)];
	memset(r, 0, sizeof(*r));
	r->stream_pos = dv_host_pos(c->ctx, c->pdu_off);
	r->itt = c->itt;
	r->data_len = c->dsl;
	r->opcode = toeless_bhs_opcode(c->hdr);
	r->hdr_digest = hdr_digest;
	r->data_digest = c->dsl && dv_dd_len(x) ? HWIF_DIGEST_UNCHECKED : HWIF_DIGEST_NONE;
	r->seq = seq_of(c, c->pdu_off);
	c->rec_open = true;
	if (c->rec_delayed)
		return true;
	c->rec_idx = x->rq_tail;
	HWIF_STORE(&x->blk->rq_tail, ++x->rq_tail);
	DV_STAT(x->att, records, 1);
	return true;
}

/* Make the open record final: what is placed stays placed; the digest
 * verdict only when every payload byte was seen. */
static void rec_final(struct dv_conn *c, uint8_t data_digest, uint8_t flags)
{
	if (!c->rec_open)
		return;
	struct hwif_rqe *r = rec_at(c);
	r->data_digest = data_digest;
	if (c->placed) {
		flags |= HWIF_REC_F_PLACED;
		r->gen = c->gen;
	}
	HWIF_STORE(&r->bytes_placed, c->placed);
	HWIF_STORE(&r->flags, (uint8_t)(r->flags | flags | HWIF_REC_F_FINAL));
	c->rec_open = false;
	if (c->rec_delayed) {
		rec_delay_queue(c);
		return;
	}
	dv_ctx_irq(c->ctx);
}

/* ---- loss of sync, hunt, resync ---- */

static void request_resync(struct dv_conn *c, uint64_t off)
{
	struct dv_ctx *x = c->ctx;
	c->spec_off = off;
	x->resync_wait = false;
	if (!(x->att->features & HWIF_F_RESYNC))
		return;
	bool bad = nic.wf.bad_guess && ++c->n_requests % nic.wf.bad_guess == 0;
	struct hwif_cqe e = { .type = HWIF_CQE_RESYNC_REQ, .value = dv_host_pos(c->ctx, off) + (bad ? 1 : 0) };
	if (!dv_ctx_cqe(x, &e))
		return; /* asked again at the next boundary */
	x->resync_wait = true;
	x->resync_pos = e.value;
	DV_STAT(x->att, resync_requests, 1);
	dv_ctx_irq(x);
	if (bad) {
		/* a wrong guess (fault): not followed; the host must say no */
		nic.st.bad_guesses++;
		c->mode = NIC_WAIT;
	}
	dv_log(2, "slot %u: resync request for host position %llu (seq %u)%s", x->slot, (unsigned long long)e.value,
	       seq_of(c, off), bad ? " (wrong on purpose)" : "");
}

static void lose_sync(struct dv_conn *c, const char *why)
{
	rec_final(c, HWIF_DIGEST_UNCHECKED, 0);
	c->placing = false;
	c->mode = NIC_HUNT;
	c->confirm_pending = false;
	c->ctx->resync_wait = false;
	nic.st.hunts++;
	dv_log(1, "slot %u: lost sync at seq %u (%s): hunting", c->ctx->slot, c->nxt, why);
}

static void consume(struct dv_conn *c, uint8_t *p, uint32_t len);

/* Look for a plausible header in a segment; follow from it and ask. */
static void hunt(struct dv_conn *c, uint32_t seq, uint8_t *p, uint32_t len)
{
	struct dv_ctx *x = c->ctx;
	uint32_t need = 48 + dv_hd_len(x);
	for (uint32_t i = 0; i + need <= len; i++) {
		if (!dv_target_opcode(p[i]) || !dv_plausible_hdr(x, p + i))
			continue;
		c->nxt_off += (uint64_t)(int64_t)(int32_t)(seq + i - c->nxt);
		c->nxt = seq + i;
		c->mode = NIC_SPEC;
		c->confirm_pending = false;
		hdr_reset(c);
		request_resync(c, c->nxt_off);
		dv_log(2, "slot %u: candidate header at seq %u", x->slot, c->nxt);
		consume(c, p + i, len - i);
		return;
	}
}

/* A segment after a gap at the expected sequence. */
static void gap(struct dv_conn *c, uint32_t seq, uint8_t *p, uint32_t len)
{
	uint32_t rel = seq - c->nxt;
	nic.st.gaps++;
	rec_final(c, HWIF_DIGEST_UNCHECKED, 0);
	c->placing = false;
	c->crc_ok = false;
	if (c->part != NIC_HDR && rel <= pdu_left(c)) {
		/* inside the payload: the next header's place is known */
		uint64_t next = c->nxt_off + pdu_left(c);
		uint32_t skip = rel;
		uint32_t n = c->dsl - c->got < skip ? c->dsl - c->got : skip;
		c->got += n;
		skip -= n;
		n = c->pad_left < skip ? c->pad_left : skip;
		c->pad_left -= n;
		skip -= n;
		c->dd_have += skip;
		if (c->got == c->dsl && c->part == NIC_DATA)
			c->part = c->pad_left ? NIC_PAD : NIC_DD;
		if (c->pad_left == 0 && c->part == NIC_PAD)
			c->part = NIC_DD;
		c->nxt += rel;
		c->nxt_off += rel;
		c->mode = NIC_SPEC;
		c->confirm_pending = false;
		request_resync(c, next);
		if (c->mode == NIC_SPEC)
			consume(c, p, len);
		return;
	}
	lose_sync(c, "gap");
	hunt(c, seq, p, len);
}

/* ---- the PDU state machine ---- */

static void pdu_end(struct dv_conn *c)
{
	struct dv_ctx *x = c->ctx;
	struct dv_att *a = x->att;
	if (c->mode == NIC_SYNC && c->rec_open) {
		uint8_t dd = HWIF_DIGEST_NONE, flags = 0;
		uint8_t op = toeless_bhs_opcode(c->hdr);
		if (c->dsl && dv_dd_len(x)) {
			if (!(a->features & HWIF_F_DIGEST_RX) || !c->crc_ok) {
				dd = HWIF_DIGEST_UNCHECKED;
			} else {
				bool ok = c->crc == toeless_get_le32(c->dd);
				dd = ok ? HWIF_DIGEST_OK : HWIF_DIGEST_BAD;
				DV_STAT(a, digests_checked, 1);
				if (!ok)
					DV_STAT(a, digest_errors, 1);
			}
		}
		struct dv_sgl *s = (op == TOELESS_ISCSI_OP_DATA_IN || op == TOELESS_ISCSI_OP_SCSI_RSP)
					   ? dv_sgl_find(x, c->itt)
					   : NULL;
		if (s && (a->features & HWIF_F_AUTO_RELEASE) &&
		    ((op == TOELESS_ISCSI_OP_DATA_IN && (c->hdr[1] & TOELESS_ISCSI_DATAIN_STATUS)) ||
		     op == TOELESS_ISCSI_OP_SCSI_RSP)) {
			flags |= HWIF_REC_F_RELEASED;
			rec_at(c)->gen = s->gen;
			dv_sgl_drop(x, s);
		}
		rec_final(c, dd, flags);
		DV_STAT(a, pdus_seen, 1);
		const struct dv_faults *f = &dv.o.f;
		if (f->lose_sync_every && ++c->segs % f->lose_sync_every == 0) {
			DV_STAT(a, faults_injected, 1);
			hdr_reset(c);
			lose_sync(c, "fault");
			return;
		}
		if (f->reset_after && !dv.reset_done && ++dv.pdus_total >= f->reset_after) {
			dv.reset_done = true;
			dv_reset_device("fault");
			return;
		}
		dv_die_check();
	}
	c->placing = false;
	hdr_reset(c);
	if (c->mode == NIC_SPEC && c->confirm_pending) {
		c->mode = NIC_SYNC;
		c->confirm_pending = false;
		dv_log(1, "slot %u: in sync again at seq %u", x->slot, c->nxt);
	} else if (c->mode == NIC_SPEC && !x->resync_wait) {
		request_resync(c, c->nxt_off);
	}
}

static void header_done(struct dv_conn *c)
{
	struct dv_ctx *x = c->ctx;
	struct dv_att *a = x->att;
	const uint8_t *h = c->hdr;
	uint8_t hdig = dv_hd_len(x) ? HWIF_DIGEST_OK : HWIF_DIGEST_NONE;
	if (dv_hd_len(x) && !(a->features & HWIF_F_DIGEST_RX))
		hdig = HWIF_DIGEST_UNCHECKED;
	/* every target PDU up to the 24-bit limit is followed: a segment
	 * longer than MaxRecvDataSegmentLength is the host's to judge */
	if (c->mode == NIC_SPEC ? !dv_plausible_hdr(x, h) : (!dv_target_opcode(h[0]) || h[4])) {
		lose_sync(c, "implausible header");
		return;
	}
	c->pdu_off = c->nxt_off - c->hdr_need;
	c->itt = toeless_bhs_itt(h);
	c->dsl = toeless_bhs_dsl(h);
	c->got = 0;
	c->pad_left = toeless_pad_len(c->dsl);
	c->dd_have = 0;
	c->crc = 0;
	c->crc_ok = true;
	c->placed = 0;
	c->placing = false;
	if (dv_hd_len(x) && (a->features & HWIF_F_DIGEST_RX) &&
	    dv_crc32c(0, h, c->hdr_need - 4) != toeless_get_le32(h + c->hdr_need - 4)) {
		if (c->mode == NIC_SYNC && rec_open(c, HWIF_DIGEST_BAD)) {
			DV_STAT(a, digest_errors, 1);
			rec_final(c, HWIF_DIGEST_NONE, 0);
		}
		lose_sync(c, "header digest error"); /* its lengths cannot be trusted */
		return;
	}
	c->part = NIC_DATA;
	if (c->mode == NIC_SYNC && rec_open(c, hdig)) {
		struct dv_sgl *s = toeless_bhs_opcode(h) == TOELESS_ISCSI_OP_DATA_IN ? dv_sgl_find(x, c->itt) : NULL;
		c->boff = toeless_bhs_buffer_offset(h);
		if (s && c->dsl && (a->features & HWIF_F_DDP) && !s->no_place && c->boff + c->dsl <= s->total &&
		    !dv_sgl_overlaps(s, c->boff, c->boff + c->dsl)) {
			c->placing = true;
			c->gen = s->gen;
		}
	}
	if (!c->dsl)
		pdu_end(c);
}

static void place_chunk(struct dv_conn *c, const uint8_t *p, uint32_t n)
{
	struct dv_ctx *x = c->ctx;
	struct dv_sgl *s = dv_sgl_find(x, c->itt);
	uint64_t lo = c->boff + c->got;
	if (!s || s->gen != c->gen || s->no_place || c->placed != c->got || dv_sgl_overlaps(s, lo, lo + n)) {
		c->placing = false; /* released, claimed by the host, or not contiguous: stop */
		return;
	}
	uint32_t w = dv_place(x, s, lo, p, n);
	if (w) {
		dv_sgl_mark(s, lo, lo + w);
		DV_STAT(x->att, bytes_placed, w);
		c->placed += w;
		HWIF_STORE(&rec_at(c)->bytes_placed, c->placed);
	}
	if (w < n)
		c->placing = false;
}

/* Device faults corrupt-hdr and corrupt-data (--fault, as the relay model
 * has them): a bit of the segment flipped as it passes, before the NIC's
 * own checks, so the NIC and the host see the same wrong byte (the caller
 * fixes the TCP checksum: only the iSCSI digests can tell). */
static void fault_hdr(struct dv_conn *c, uint8_t *p, uint32_t n)
{
	const uint32_t at = 24; /* StatSN */
	if (!dv.o.f.corrupt_hdr_every || !dv_hd_len(c->ctx) || c->hdr_have > at || c->hdr_have + n <= at)
		return;
	if (++c->n_hdrs % dv.o.f.corrupt_hdr_every)
		return;
	p[at - c->hdr_have] ^= 0x01;
	c->seg_changed = true;
	DV_STAT(c->ctx->att, faults_injected, 1);
}

static void fault_data(struct dv_conn *c, uint8_t *p, uint32_t n)
{
	uint32_t at = c->dsl / 2;
	if (!dv.o.f.corrupt_data_every || toeless_bhs_opcode(c->hdr) != TOELESS_ISCSI_OP_DATA_IN || c->got > at ||
	    c->got + n <= at)
		return;
	if (++c->n_datain % dv.o.f.corrupt_data_every)
		return;
	p[at - c->got] ^= 0x01;
	c->seg_changed = true;
	DV_STAT(c->ctx->att, faults_injected, 1);
}

static void consume(struct dv_conn *c, uint8_t *p, uint32_t len)
{
	while (len && (c->mode == NIC_SYNC || c->mode == NIC_SPEC)) {
		uint32_t n;
		switch (c->part) {
		case NIC_HDR:
			n = c->hdr_need - c->hdr_have;
			if (n > len)
				n = len;
			if (c->mode == NIC_SYNC)
				fault_hdr(c, p, n);
			memcpy(c->hdr + c->hdr_have, p, n);
			c->hdr_have += n;
			break;
		case NIC_DATA:
			n = c->dsl - c->got < len ? c->dsl - c->got : len;
			if (c->mode == NIC_SYNC)
				fault_data(c, p, n);
			c->crc = dv_crc32c(c->crc, p, n);
			if (c->placing)
				place_chunk(c, p, n);
			c->got += n;
			break;
		case NIC_PAD:
			n = c->pad_left < len ? c->pad_left : len;
			c->crc = dv_crc32c(c->crc, p, n);
			c->pad_left -= n;
			break;
		default: {
			/* the PDU's data digest: 4 bytes, or none (no DataDigest,
			 * or no data).  n is 0 when it is complete already: a gap
			 * that ended exactly at the PDU's end (gap()) leaves it
			 * so, and the check below ends the PDU; taking 4 bytes
			 * there regardless took the next header's first bytes
			 * as a digest and then spun on n == 0 for ever */
			uint32_t dd = c->dsl ? dv_dd_len(c->ctx) : 0;
			n = dd - c->dd_have < len ? dd - c->dd_have : len;
			memcpy(c->dd + c->dd_have, p, n);
			c->dd_have += n;
			break;
		}
		}
		p += n;
		len -= n;
		c->nxt += n;
		c->nxt_off += n;
		if (c->part == NIC_HDR) {
			if (c->hdr_have < c->hdr_need)
				continue;
			if (c->hdr_need == 48) {
				c->hdr_need = 48 + (uint32_t)c->hdr[4] * 4 + dv_hd_len(c->ctx);
				if (c->hdr_need > 48)
					continue;
			}
			header_done(c);
			continue;
		}
		if (c->part == NIC_DATA && c->got == c->dsl)
			c->part = NIC_PAD;
		if (c->part == NIC_PAD && c->pad_left == 0)
			c->part = NIC_DD;
		if (c->part == NIC_DD && c->dd_have == (c->dsl ? dv_dd_len(c->ctx) : 0))
			pdu_end(c);
	}
}

static void track_segment(struct dv_conn *c, uint32_t seq, uint8_t *p, uint32_t len)
{
	int32_t rel = (int32_t)(seq - c->nxt);
	switch (c->mode) {
	case NIC_SYNC:
	case NIC_SPEC:
		if ((int64_t)rel + len <= 0) {
			nic.st.segs_retrans++; /* handled already: harmless */
			return;
		}
		if (rel < 0) {
			p += -rel;
			len -= (uint32_t)-rel;
			seq = c->nxt;
			rel = 0;
		}
		if (rel > 0) {
			gap(c, seq, p, len);
			return;
		}
		consume(c, p, len);
		if (c->mode == NIC_HUNT && (int32_t)(seq + len - c->nxt) > 0) {
			/* lost sync inside this segment: hunt in the rest */
			uint32_t k = c->nxt - seq;
			hunt(c, c->nxt, p + k, len - k);
		}
		return;
	case NIC_HUNT:
		if ((int32_t)(seq + len - c->nxt) <= 0)
			return; /* nothing new */
		if (rel < 0) {
			p += -rel;
			len -= (uint32_t)-rel;
			seq = c->nxt;
		}
		c->nxt_off += (uint64_t)(int64_t)(int32_t)(seq + len - c->nxt);
		c->nxt = seq + len;
		hunt(c, seq, p, len);
		return;
	default: return; /* NIC_WAIT: nothing followed until the host answers */
	}
}

bool nic_track_segment(struct dv_conn *c, uint32_t seq, uint8_t *p, uint32_t len)
{
	c->seg_changed = false;
	if (c->ctx && len)
		track_segment(c, seq, p, len);
	return c->seg_changed;
}

int nic_track_hdr_at(const struct dv_conn *c, uint32_t seq, uint32_t len)
{
	if (c->mode != NIC_SYNC || seq != c->nxt)
		return -1;
	if (c->part == NIC_HDR)
		return c->hdr_have == 0 ? 0 : -1;
	uint64_t left = pdu_left(c);
	return left < len ? (int)left : -1;
}

/* ---- binding, parameters, resync replies (the device side calls these) ---- */

int dv_track_bind(struct dv_conn *c, struct dv_ctx *x)
{
	if (c->ctx)
		return -EBUSY;
	c->ctx = x;
	c->nxt_off = x->blk->wire_off;
	c->nxt = seq_of(c, c->nxt_off);
	c->rec_open = c->placing = c->confirm_pending = c->rec_delayed = false;
	c->n_requests = c->segs = 0;
	hdr_reset(c);
	if (c->nxt == c->tgt_max) {
		c->mode = NIC_SYNC; /* the host has read all we passed: the next byte is a header */
	} else {
		/* bytes passed that the host has not read yet: a NIC keeps no
		 * copy of them, so it finds the boundary again */
		c->mode = NIC_HUNT;
		c->nxt = c->tgt_max;
		c->nxt_off = c->nxt - c->irs - 1;
	}
	dv_log(1, "slot %u: following seq %u (ISN %u, host position %llu): %s", x->slot, c->nxt, c->irs,
	       (unsigned long long)x->blk->host_pos, c->mode == NIC_SYNC ? "in sync" : "hunting");
	return 0;
}

void dv_track_unbind(struct dv_conn *c)
{
	if (c->ctx)
		rec_final(c, HWIF_DIGEST_UNCHECKED, 0);
	c->ctx = NULL;
	c->mode = NIC_UNTRACKED;
}

void dv_track_modify(struct dv_ctx *x)
{
	struct dv_conn *c = x->conn;
	bool at_boundary = c && c->mode == NIC_SYNC && c->part == NIC_HDR && c->hdr_have == 0 &&
			   dv_host_pos(c->ctx, c->nxt_off) == x->blk->host_pos;
	x->flags = x->blk->flags;
	x->max_dsl = x->blk->max_recv_dsl ? x->blk->max_recv_dsl : 8192;
	if (c && !at_boundary && c->mode != NIC_UNTRACKED)
		lose_sync(c, "parameters changed away from a boundary");
}

void dv_track_resync_reply(struct dv_ctx *x, uint64_t pos, bool is_header)
{
	struct dv_conn *c = x->conn;
	if (!c || !x->resync_wait || pos != x->resync_pos)
		return; /* an answer to a question no longer asked */
	x->resync_wait = false;
	if (!is_header) {
		nic.st.resync_denied++;
		dv_log(1, "slot %u: host denied a header at %llu: hunting", x->slot, (unsigned long long)pos);
		c->mode = NIC_HUNT;
		c->confirm_pending = false;
		return;
	}
	if (c->mode != NIC_SPEC || dv_host_pos(c->ctx, c->spec_off) != pos)
		return;
	DV_STAT(x->att, resyncs, 1);
	dv_log(1, "slot %u: host confirmed a header at %llu", x->slot, (unsigned long long)pos);
	if (c->part == NIC_HDR && c->hdr_have == 0) {
		c->mode = NIC_SYNC;
	} else {
		c->confirm_pending = true; /* in sync from the next boundary */
	}
}

void nic_print_stats(void)
{
	const struct nic_stats *s = &nic.st;
	dv_log(1,
	       "wire: host->target %llu pkts %llu B, target->host %llu pkts %llu B, non-TCP %llu; tracked segs %llu, "
	       "retransmitted (handled) %llu, gaps %llu, hunts %llu, resync denied %llu (wrong guesses %llu); "
	       "faults: drop %llu reorder %llu dup %llu delay %llu split %llu corrupt-data %llu corrupt-hdr %llu",
	       (unsigned long long)s->pkts_a2b, (unsigned long long)s->bytes_a2b, (unsigned long long)s->pkts_b2a,
	       (unsigned long long)s->bytes_b2a, (unsigned long long)s->non_tcp, (unsigned long long)s->segs_tracked,
	       (unsigned long long)s->segs_retrans, (unsigned long long)s->gaps, (unsigned long long)s->hunts,
	       (unsigned long long)s->resync_denied, (unsigned long long)s->bad_guesses, (unsigned long long)s->f_drop,
	       (unsigned long long)s->f_reorder, (unsigned long long)s->f_dup, (unsigned long long)s->f_delay,
	       (unsigned long long)s->f_split, (unsigned long long)s->f_corrupt_data,
	       (unsigned long long)s->f_corrupt_hdr);
	dv_log(1,
	       "tx digests: records %llu, inserted %llu, reinserted (retransmissions) %llu, misses %llu, acked %llu; "
	       "faults: tx-drop %llu tx-skip %llu",
	       (unsigned long long)s->tx_records, (unsigned long long)s->tx_inserted,
	       (unsigned long long)s->tx_reinserted, (unsigned long long)s->tx_misses, (unsigned long long)s->tx_acked,
	       (unsigned long long)s->f_tx_drop, (unsigned long long)s->f_tx_skip);
}
