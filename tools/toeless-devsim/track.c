/*
 * toeless-devsim: following PDU boundaries on the target->host stream.
 *
 * In sync (DV_SYNC) the model holds each PDU until it has all of it, then:
 * checks the header and data digests, places a Data-In payload into the
 * SGL posted for its ITT (process_vm_writev into registered host memory),
 * releases the SGL when the PDU ends the task, publishes the PDU's record
 * on the context's RQ, and only then forwards the PDU's bytes to the host.
 * So by the time the host can read a header, its record is published (or
 * never will be: a dropped or delayed record is a fault, and the host's
 * software path takes that PDU).
 *
 * Out of sync the bytes pass at once.  DV_HUNT scans for a plausible target
 * PDU header (opcode, lengths, and with HeaderDigest its CRC); DV_SPEC
 * follows from such a candidate and asks the host (RESYNC_REQ) whether it
 * is a header; the host's answer (RESYNC_REPLY) confirms (DV_TRAIL, then
 * DV_SYNC at the next boundary) or sends the model back to hunting.
 *
 * SPDX-License-Identifier: MIT
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "devsim.h"
#include "toeless_iscsi.h"

/* Bytes a PDU occupies on the wire, from its complete header. */
static uint64_t wire_rest(const struct dv_ctx *x, const uint8_t *h)
{
	uint32_t dsl = toeless_bhs_dsl(h);
	return (uint64_t)dsl + toeless_pad_len(dsl) + (dsl ? dv_dd_len(x) : 0);
}

/* ---- history (bytes passed before a context binds) ---- */

void dv_track_hist_add(struct dv_conn *c, const uint8_t *data, size_t len)
{
	if (!c->hist)
		return;
	uint64_t off = c->off;
	if (len > DV_HIST) {
		off += len - DV_HIST;
		data += len - DV_HIST;
		len = DV_HIST;
	}
	size_t at = (size_t)(off % DV_HIST);
	size_t first = DV_HIST - at < len ? DV_HIST - at : len;
	memcpy(c->hist + at, data, first);
	memcpy(c->hist, data + first, len - first);
}

/* ---- streaming parse (TRAIL, SPEC): the bytes pass at once ---- */

static void enter_hunt(struct dv_conn *c, uint32_t skip);
static void parse_only(struct dv_conn *c, const uint8_t *data, size_t len);

static void request_resync(struct dv_conn *c, uint64_t off)
{
	struct dv_ctx *x = c->ctx;
	c->spec_pos = off;
	if (!(x->att->features & HWIF_F_RESYNC))
		return;
	struct hwif_cqe e = { .type = HWIF_CQE_RESYNC_REQ, .value = dv_host_pos(c->ctx, off) };
	if (dv_ctx_cqe(x, &e)) {
		x->resync_wait = true;
		x->resync_pos = e.value;
		DV_STAT(x->att, resync_requests, 1);
		dv_ctx_irq(x);
		dv_log(2, "slot %u: resync request for host position %llu", x->slot, (unsigned long long)e.value);
	}
}

/* Parse data; returns the bytes consumed.  live: the bytes after a
 * boundary have not been forwarded yet, so the model may go to DV_SYNC
 * there (and stops at that boundary to let the caller switch). */
static size_t stream_parse(struct dv_conn *c, const uint8_t *data, size_t len, bool live)
{
	struct dv_ctx *x = c->ctx;
	size_t used = 0;
	while (used < len) {
		if (c->skip) {
			size_t n = c->skip < len - used ? (size_t)c->skip : len - used;
			c->skip -= n;
			used += n;
			c->off += n;
			if (c->skip)
				continue;
			goto boundary;
		}
		if (!c->hdr_need)
			c->hdr_need = 48 + dv_hd_len(x);
		size_t n = c->hdr_need - c->hdr_have;
		if (n > len - used)
			n = len - used;
		memcpy(c->hdr + c->hdr_have, data + used, n);
		c->hdr_have += (uint32_t)n;
		used += n;
		c->off += n;
		if (c->hdr_have < c->hdr_need)
			continue;
		if (c->hdr_need == 48 + dv_hd_len(x) && c->hdr[4]) {
			/* an AHS: the digest follows it */
			uint32_t ahs = (uint32_t)c->hdr[4] * 4;
			if (dv_hd_len(x)) {
				/* the 4 bytes read as "digest" are AHS; read on */
			}
			c->hdr_need = 48 + ahs + dv_hd_len(x);
			if (c->mode == DV_SPEC) {
				enter_hunt(c, c->hunt_skip);
				return used;
			}
			continue;
		}
		if (c->mode == DV_SPEC ? !dv_plausible_hdr(x, c->hdr)
				       : (!dv_target_opcode(c->hdr[0]) || toeless_bhs_dsl(c->hdr) > DV_MAX_DSL)) {
			dv_log(1, "slot %u: implausible header at offset %llu while following: hunting", x->slot,
			       (unsigned long long)(c->off - c->hdr_have));
			enter_hunt(c, 0);
			return used;
		}
		c->skip = wire_rest(x, c->hdr);
		c->hdr_have = 0;
		c->hdr_need = 0;
		if (c->skip)
			continue;
	boundary:
		if (c->mode == DV_TRAIL && live) {
			c->mode = DV_SYNC;
			c->pdu_have = c->hdr_len = c->pdu_len = 0;
			c->bhs_ok = false;
			return used;
		}
		if (c->mode == DV_SPEC && !x->resync_wait)
			request_resync(c, c->off);
	}
	return used;
}

/* ---- hunting ---- */

static void enter_hunt(struct dv_conn *c, uint32_t skip)
{
	c->mode = DV_HUNT;
	c->win_len = 0;
	c->win_off = c->off;
	c->hunt_skip = skip;
	c->hdr_have = c->hdr_need = 0;
	c->skip = 0;
	c->spec_confirmed = false;
	if (c->ctx)
		c->ctx->resync_wait = false;
}

static size_t hunt(struct dv_conn *c, const uint8_t *data, size_t len)
{
	struct dv_ctx *x = c->ctx;
	uint32_t need = 48 + dv_hd_len(x);
	size_t used = 0;
	while (used < len) {
		size_t n = sizeof(c->win) - c->win_len;
		if (n > len - used)
			n = len - used;
		memcpy(c->win + c->win_len, data + used, n);
		c->win_len += (uint32_t)n;
		used += n;
		c->off += n;
		uint32_t i = 0;
		for (; i + need <= c->win_len; i++) {
			if (!dv_target_opcode(c->win[i]) || !dv_plausible_hdr(x, c->win + i))
				continue;
			if (c->hunt_skip) {
				c->hunt_skip--;
				continue;
			}
			/* a candidate: follow it, and ask the host */
			uint64_t cand = c->win_off + i;
			uint32_t rest = c->win_len - i;
			uint8_t tmp[sizeof(c->win)];
			memcpy(tmp, c->win + i, rest);
			c->mode = DV_SPEC;
			c->spec_confirmed = false;
			c->hdr_have = c->hdr_need = 0;
			c->skip = 0;
			c->off = cand;
			x->resync_wait = false;
			request_resync(c, cand);
			parse_only(c, tmp, rest);
			dv_log(2, "slot %u: candidate header at offset %llu", x->slot, (unsigned long long)cand);
			return used;
		}
		if (i) {
			memmove(c->win, c->win + i, c->win_len - i);
			c->win_len -= i;
			c->win_off += i;
		}
	}
	return used;
}

/* Feed bytes that were already forwarded (no SYNC possible). */
static void parse_only(struct dv_conn *c, const uint8_t *data, size_t len)
{
	while (len && c->ctx) {
		size_t n;
		if (c->mode == DV_HUNT)
			n = hunt(c, data, len);
		else if (c->mode == DV_TRAIL || c->mode == DV_SPEC)
			n = stream_parse(c, data, len, false);
		else
			break;
		data += n;
		len -= n;
	}
}

/* ---- in sync ---- */

static void drop_held(struct dv_conn *c, bool rescan)
{
	uint8_t *held = c->pdu;
	uint32_t have = c->pdu_have;
	c->pdu = NULL;
	c->pdu_cap = c->pdu_have = c->hdr_len = c->pdu_len = 0;
	c->bhs_ok = false;
	if (!have) {
		free(held);
		return;
	}
	if (rescan)
		parse_only(c, held, have);
	else
		c->off += have;
	dv_emit(c, held, have, true);
}

void dv_track_lose_sync(struct dv_conn *c, uint32_t skip, const char *why)
{
	if (!c->ctx)
		return;
	dv_log(1, "slot %u: lost sync at offset %llu (%s)", c->ctx->slot, (unsigned long long)c->off, why);
	uint64_t start = c->off;
	enter_hunt(c, skip);
	c->win_off = start;
	drop_held(c, true);
}

static void publish(struct dv_conn *c, struct hwif_rqe *r)
{
	struct dv_ctx *x = c->ctx;
	const struct dv_faults *f = &dv.o.f;
	uint64_t n = ++c->n_records;
	r->seq = x->rec_seq++;
	if (f->drop_records_every && n % f->drop_records_every == 0) {
		DV_STAT(x->att, records_dropped, 1);
		DV_STAT(x->att, faults_injected, 1);
		return;
	}
	if (f->delay_records_every && n % f->delay_records_every == 0) {
		struct dv_delayed *d = malloc(sizeof(*d));
		if (d) {
			d->next = NULL;
			d->ctx = x;
			d->due_ms = dv_now_ms() + f->delay_ms;
			d->rec = *r;
			*dv.delayed_tail = d;
			dv.delayed_tail = &d->next;
			DV_STAT(x->att, faults_injected, 1);
			dv_tick_need();
			return;
		}
	}
	dv_publish(x, r);
}

/* A whole PDU is held in c->pdu: act on it, publish, forward. */
static void complete_pdu(struct dv_conn *c)
{
	struct dv_ctx *x = c->ctx;
	struct dv_att *a = x->att;
	const struct dv_faults *f = &dv.o.f;
	uint8_t *h = c->pdu;
	uint8_t op = toeless_bhs_opcode(h);
	uint32_t dsl = toeless_bhs_dsl(h), pad = toeless_pad_len(dsl);
	uint32_t itt = toeless_bhs_itt(h);
	uint8_t *payload = h + c->hdr_len;
	struct hwif_rqe r = {
		.stream_pos = dv_host_pos(c->ctx, c->off),
		.itt = itt,
		.data_len = dsl,
		.opcode = op,
		.hdr_digest = dv_hd_len(x) ? HWIF_DIGEST_OK : HWIF_DIGEST_NONE,
		.data_digest = HWIF_DIGEST_NONE,
	};
	if (!(a->features & HWIF_F_DIGEST_RX) && dv_hd_len(x))
		r.hdr_digest = HWIF_DIGEST_UNCHECKED;

	if (op == TOELESS_ISCSI_OP_DATA_IN && dsl && f->corrupt_data_every &&
	    ++c->n_datain % f->corrupt_data_every == 0) {
		payload[dsl / 2] ^= 0x01; /* the wire flipped a bit before the device saw it */
		DV_STAT(a, faults_injected, 1);
	}
	if (dsl && dv_dd_len(x)) {
		if (a->features & HWIF_F_DIGEST_RX) {
			bool ok = dv_crc32c(0, payload, dsl + pad) == toeless_get_le32(payload + dsl + pad);
			r.data_digest = ok ? HWIF_DIGEST_OK : HWIF_DIGEST_BAD;
			DV_STAT(a, digests_checked, 1);
			if (!ok)
				DV_STAT(a, digest_errors, 1);
		} else {
			r.data_digest = HWIF_DIGEST_UNCHECKED;
		}
	}
	struct dv_sgl *s =
		(op == TOELESS_ISCSI_OP_DATA_IN || op == TOELESS_ISCSI_OP_SCSI_RSP) ? dv_sgl_find(x, itt) : NULL;
	if (s && op == TOELESS_ISCSI_OP_DATA_IN && dsl && (a->features & HWIF_F_DDP)) {
		uint64_t boff = toeless_bhs_buffer_offset(h);
		if (!s->no_place && boff + dsl <= s->total && !dv_sgl_overlaps(s, boff, boff + dsl)) {
			uint32_t w = dv_place(x, s, boff, payload, dsl);
			if (w) {
				r.flags |= HWIF_REC_F_PLACED;
				r.gen = s->gen;
				r.bytes_placed = w;
				dv_sgl_mark(s, boff, boff + w);
				DV_STAT(a, bytes_placed, w);
			}
		}
		/* outside the SGL or over placed bytes: not ours to write;
		 * the host's software path reports it */
	}
	if (s && (a->features & HWIF_F_AUTO_RELEASE) &&
	    ((op == TOELESS_ISCSI_OP_DATA_IN && (h[1] & TOELESS_ISCSI_DATAIN_STATUS)) ||
	     op == TOELESS_ISCSI_OP_SCSI_RSP)) {
		r.flags |= HWIF_REC_F_RELEASED;
		r.gen = s->gen;
		dv_sgl_drop(x, s);
	}
	DV_STAT(a, pdus_seen, 1);
	publish(c, &r);

	uint8_t *buf = c->pdu;
	uint32_t len = c->pdu_len;
	c->pdu = NULL;
	c->pdu_cap = c->pdu_have = c->hdr_len = c->pdu_len = 0;
	c->bhs_ok = false;
	c->off += len;
	dv_emit(c, buf, len, true);

	if (f->lose_sync_every && ++c->n_pdus % f->lose_sync_every == 0 && c->ctx) {
		DV_STAT(a, faults_injected, 1);
		dv_track_lose_sync(c, f->lose_sync_n, "fault");
	}
	if (f->reset_after && !dv.reset_done && ++dv.pdus_total >= f->reset_after) {
		dv.reset_done = true;
		dv_reset_device("fault");
	}
	dv_die_check();
}

static bool held_grow(struct dv_conn *c, uint32_t need)
{
	if (c->pdu_cap >= need)
		return true;
	uint32_t cap = c->pdu_cap ? c->pdu_cap : 4096;
	while (cap < need)
		cap *= 2;
	uint8_t *n = realloc(c->pdu, cap);
	if (!n)
		return false;
	c->pdu = n;
	c->pdu_cap = cap;
	return true;
}

static size_t sync_input(struct dv_conn *c, const uint8_t *data, size_t len)
{
	struct dv_ctx *x = c->ctx;
	size_t used = 0;
	/* Each step may find that the bytes it wants are already held (a
	 * header without AHS and HeaderDigest is complete with the BHS; a PDU
	 * without data with its header): the loop runs until a step is short
	 * of bytes, not until the input is used up, or a PDU whose last byte
	 * ended the input would wait for bytes that never come. */
	while (c->ctx && c->mode == DV_SYNC && (used < len || c->pdu_have)) {
		uint32_t want = !c->bhs_ok    ? 48
				: !c->hdr_len ? 48 + (uint32_t)c->pdu[4] * 4 + dv_hd_len(x)
					      : c->pdu_len;
		if (!held_grow(c, want)) {
			dv_track_lose_sync(c, 0, "out of memory");
			return used;
		}
		size_t n = want - c->pdu_have;
		if (n > len - used)
			n = len - used;
		memcpy(c->pdu + c->pdu_have, data + used, n);
		c->pdu_have += (uint32_t)n;
		used += n;
		if (c->pdu_have < want)
			break;
		if (!c->bhs_ok) {
			if (dv.o.f.corrupt_hdr_every && dv_hd_len(x) && ++c->n_hdrs % dv.o.f.corrupt_hdr_every == 0) {
				c->pdu[24] ^= 0x01; /* the wire flipped a header bit */
				DV_STAT(x->att, faults_injected, 1);
			}
			if (!dv_target_opcode(c->pdu[0]) || toeless_bhs_dsl(c->pdu) > DV_MAX_DSL) {
				dv_track_lose_sync(c, 0, "implausible header");
				return used;
			}
			c->bhs_ok = true;
			continue; /* now the AHS and header digest */
		}
		if (!c->hdr_len) {
			c->hdr_len = c->pdu_have;
			if (dv_hd_len(x) && (x->att->features & HWIF_F_DIGEST_RX) &&
			    dv_crc32c(0, c->pdu, c->hdr_len - 4) != toeless_get_le32(c->pdu + c->hdr_len - 4)) {
				/* the lengths of a bad header cannot be trusted */
				struct hwif_rqe r = { .stream_pos = dv_host_pos(c->ctx, c->off),
						      .itt = toeless_bhs_itt(c->pdu),
						      .data_len = toeless_bhs_dsl(c->pdu),
						      .opcode = c->pdu[0] & 0x3f,
						      .hdr_digest = HWIF_DIGEST_BAD };
				DV_STAT(x->att, digest_errors, 1);
				publish(c, &r);
				dv_track_lose_sync(c, 0, "header digest error");
				return used;
			}
			c->pdu_len = c->hdr_len + (uint32_t)wire_rest(x, c->pdu);
			if (c->pdu_len > c->hdr_len)
				continue;
		}
		complete_pdu(c);
	}
	return used;
}

void dv_track_input(struct dv_conn *c, const uint8_t *data, size_t len)
{
	while (len && !c->closing) {
		size_t n;
		switch (c->ctx ? c->mode : DV_UNTRACKED) {
		case DV_SYNC: n = sync_input(c, data, len); break;
		case DV_TRAIL:
		case DV_SPEC:
			n = stream_parse(c, data, len, true);
			dv_emit(c, (uint8_t *)(uintptr_t)data, n, false);
			break;
		case DV_HUNT:
			n = hunt(c, data, len);
			dv_emit(c, (uint8_t *)(uintptr_t)data, n, false);
			break;
		default:
			c->mode = DV_UNTRACKED;
			dv_track_hist_add(c, data, len);
			c->off += len;
			dv_emit(c, (uint8_t *)(uintptr_t)data, len, false);
			n = len;
			break;
		}
		data += n;
		len -= n;
	}
}

/* ---- binding, parameters, resync ---- */

int dv_track_bind(struct dv_conn *c, struct dv_ctx *x)
{
	if (c->ctx)
		return -EBUSY;
	uint64_t w = x->blk->wire_off, f = c->off;
	c->ctx = x;
	c->pdu_have = c->hdr_len = c->pdu_len = 0;
	c->bhs_ok = false;
	c->n_pdus = c->n_hdrs = c->n_datain = c->n_records = 0;
	if (w == f) {
		c->mode = DV_SYNC;
		return 0;
	}
	uint64_t kept = f - c->hist_from < DV_HIST ? f - c->hist_from : DV_HIST;
	if (w < f && f - w <= kept && c->hist) {
		/* the host has not read everything we passed: follow the
		 * bytes it still will read, from the history */
		c->mode = DV_TRAIL;
		c->off = w;
		c->skip = 0;
		c->hdr_have = c->hdr_need = 0;
		while (c->off < f && c->mode == DV_TRAIL) {
			uint64_t at = c->off % DV_HIST;
			size_t n = (size_t)(f - c->off);
			if (n > DV_HIST - at)
				n = (size_t)(DV_HIST - at);
			stream_parse(c, c->hist + at, n, false);
		}
		if (c->mode == DV_HUNT) {
			/* could not follow: hunt in what comes */
			c->off = f;
			enter_hunt(c, 0);
		} else if (c->skip == 0 && c->hdr_have == 0) {
			c->mode = DV_SYNC;
		}
		dv_log(1, "slot %u: bound %llu bytes behind the wire: %s", x->slot, (unsigned long long)(f - w),
		       c->mode == DV_SYNC    ? "in sync"
		       : c->mode == DV_TRAIL ? "following"
					     : "hunting");
		return 0;
	}
	enter_hunt(c, 0);
	return 0;
}

void dv_track_unbind(struct dv_conn *c)
{
	if (c->ctx && c->mode == DV_SYNC)
		drop_held(c, false);
	free(c->pdu);
	c->pdu = NULL;
	c->pdu_cap = c->pdu_have = c->hdr_len = c->pdu_len = 0;
	c->bhs_ok = false;
	c->mode = DV_UNTRACKED;
	c->ctx = NULL;
	c->hist_from = c->off; /* what passed while tracked is not in the history */
}

void dv_track_modify(struct dv_ctx *x)
{
	struct dv_conn *c = x->conn;
	uint64_t want = x->blk->host_pos;
	bool at_boundary = c && c->mode == DV_SYNC && c->pdu_have == 0 && dv_host_pos(c->ctx, c->off) == want;
	x->flags = x->blk->flags;
	x->max_dsl = x->blk->max_recv_dsl ? x->blk->max_recv_dsl : 8192;
	if (c && !at_boundary)
		dv_track_lose_sync(c, 0, "parameters changed away from a boundary");
}

void dv_track_resync_reply(struct dv_ctx *x, uint64_t pos, bool is_header)
{
	struct dv_conn *c = x->conn;
	if (!x->resync_wait || pos != x->resync_pos || !c || c->mode != DV_SPEC)
		return;
	x->resync_wait = false;
	if (dv_host_pos(c->ctx, c->spec_pos) != pos)
		return;
	if (!is_header) {
		dv_log(1, "slot %u: host denied a header at %llu: hunting on", x->slot, (unsigned long long)pos);
		enter_hunt(c, 0);
		return;
	}
	DV_STAT(x->att, resyncs, 1);
	dv_log(1, "slot %u: resynchronised at host position %llu", x->slot, (unsigned long long)pos);
	c->spec_confirmed = true;
	c->mode = DV_TRAIL;
	if (c->skip == 0 && c->hdr_have == 0) {
		c->mode = DV_SYNC;
		c->pdu_have = c->hdr_len = c->pdu_len = 0;
		c->bhs_ok = false;
	}
}

/* The relay terminates TCP and never grants HWIF_F_DIGEST_TX: a record
 * the host sends anyway is ignored (the digests stay zero, the target
 * refuses them, which is the host's bug to see). */
void dv_track_tx_pdu(struct dv_ctx *x, const struct hwif_sqe *e)
{
	(void)x;
	(void)e;
}
