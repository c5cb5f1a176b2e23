/*
 * toeless-nic, transmit digests (interface 1.3, HWIF_F_DIGEST_TX).
 *
 * Before the host writes a PDU it posts a transmit record (HWIF_OP_TX_PDU:
 * its transmit position, header and data lengths, which digests), and it
 * sends zeros where those digests go.  The position becomes a TCP sequence
 * number through the host's initial sequence number (from its SYN) and
 * the bytes it sent before the context existed (tx_wire_off).
 *
 * As the host's segments pass, the NIC copies the header and runs the
 * data CRC over data and pad, in sequence order; the host's kernel sends
 * new bytes in order, so when a digest's segment passes every byte before
 * it has been seen.  It writes the digest bytes into whichever segment
 * carries them and the caller fixes the TCP checksum.  A retransmission
 * (any cut of the same bytes) gets the same values from the record, which
 * is kept until the target acknowledges the PDU's last byte.  A digest
 * whose bytes were not all seen in order stays zero and is counted
 * (tx_misses): the target then refuses the PDU, as it would on a wire.
 *
 * SPDX-License-Identifier: MIT
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "nic.h"

static uint32_t hd_len(const struct nic_txrec *r)
{
	return r->flags & HWIF_TX_HDR_DIGEST ? 4 : 0;
}

static uint32_t rec_total(const struct nic_txrec *r)
{
	return r->hlen + hd_len(r) + r->dlen + r->pad + (r->flags & HWIF_TX_DATA_DIGEST ? 4 : 0);
}

void dv_track_tx_pdu(struct dv_ctx *x, const struct hwif_sqe *e)
{
	struct dv_conn *c = x->conn;
	if (!c || !c->have_iss || e->u.tx.hdr_len < 48 || e->u.tx.hdr_len > 48 + 1020) {
		nic.st.tx_misses++;
		DV_STAT(x->att, tx_digest_misses, 1);
		return;
	}
	struct nic_txrec *r = calloc(1, sizeof(*r));
	if (!r) {
		nic.st.tx_misses++;
		DV_STAT(x->att, tx_digest_misses, 1);
		return;
	}
	r->seq = c->iss + 1 + (uint32_t)(x->blk->tx_wire_off + e->u.tx.pos);
	r->hlen = e->u.tx.hdr_len;
	r->dlen = e->u.tx.data_len;
	r->pad = (4 - (r->dlen & 3)) & 3;
	r->flags = e->u.tx.flags & (HWIF_TX_HDR_DIGEST | HWIF_TX_DATA_DIGEST);
	if (!r->dlen)
		r->flags &= ~HWIF_TX_DATA_DIGEST;
	r->end = r->seq + rec_total(r);
	if (nic.wf.tx_skip && nic_rand() % 1000 < nic.wf.tx_skip) {
		r->skip = true;
		nic.st.f_tx_skip++;
	}
	if (!c->tx_tail)
		c->tx_tail = &c->tx_head;
	*c->tx_tail = r;
	c->tx_tail = &r->next;
	nic.st.tx_records++;
}

/* Write the 4 digest bytes at record offset at, where the segment
 * [a, b) (record offsets) holds them.  Returns true when it wrote. */
static bool put_digest(struct dv_conn *c, struct nic_txrec *r, uint8_t *p, int64_t a, int64_t b, uint32_t at,
		       bool known, uint32_t val, bool *sent)
{
	if (b <= (int64_t)at || a >= (int64_t)at + 4)
		return false;
	struct dv_att *att = c->ctx ? c->ctx->att : NULL;
	if (!known) {
		nic.st.tx_misses++;
		if (att)
			DV_STAT(att, tx_digest_misses, 1);
		return false;
	}
	uint8_t v[4] = { (uint8_t)val, (uint8_t)(val >> 8), (uint8_t)(val >> 16), (uint8_t)(val >> 24) };
	for (int64_t i = at; i < (int64_t)at + 4; i++)
		if (i >= a && i < b)
			p[i - a] = v[i - at];
	if (*sent) {
		nic.st.tx_reinserted++;
		if (att)
			DV_STAT(att, tx_digests_reinserted, 1);
	} else {
		nic.st.tx_inserted++;
		if (att)
			DV_STAT(att, tx_digests_inserted, 1);
	}
	*sent = true;
	return true;
}

bool nic_tx_segment(struct dv_conn *c, uint32_t seq, uint8_t *p, uint32_t len)
{
	bool wrote = false;
	for (struct nic_txrec *r = c->tx_head; r; r = r->next) {
		if (r->skip)
			continue;
		/* the segment in record offsets: [a, b) */
		int64_t a = (int32_t)(seq - r->seq), b = a + len;
		int64_t tot = rec_total(r);
		if (b <= 0)
			break; /* records are in sequence order: the rest lie later */
		if (a >= tot)
			continue;
		/* header bytes, in order */
		int64_t hend = b < (int64_t)r->hlen ? b : (int64_t)r->hlen;
		if (a <= (int64_t)r->h_have && (int64_t)r->h_have < hend) {
			memcpy(r->hdr + r->h_have, p + (r->h_have - a), (size_t)(hend - r->h_have));
			r->h_have = (uint32_t)hend;
		}
		if ((r->flags & HWIF_TX_HDR_DIGEST) && !r->hd_known && r->h_have == r->hlen) {
			r->hd = dv_crc32c(0, r->hdr, r->hlen);
			r->hd_known = true;
		}
		/* data and pad, in order, through the running CRC */
		if (r->flags & HWIF_TX_DATA_DIGEST) {
			int64_t d0 = r->hlen + hd_len(r), d1 = d0 + r->dlen + r->pad;
			int64_t cur = d0 + r->d_have, dend = b < d1 ? b : d1;
			if (a <= cur && cur < dend) {
				r->dcrc = dv_crc32c(r->dcrc, p + (cur - a), (size_t)(dend - cur));
				r->d_have += (uint32_t)(dend - cur);
			}
			if (!r->dd_known && d0 + r->d_have == d1) {
				r->dd = r->dcrc;
				r->dd_known = true;
			}
			wrote |= put_digest(c, r, p, a, b, (uint32_t)d1, r->dd_known, r->dd, &r->dd_sent);
		}
		if (r->flags & HWIF_TX_HDR_DIGEST)
			wrote |= put_digest(c, r, p, a, b, r->hlen, r->hd_known, r->hd, &r->hd_sent);
	}
	return wrote;
}

void nic_tx_acked(struct dv_conn *c, uint32_t ack)
{
	while (c->tx_head && (int32_t)(ack - c->tx_head->end) >= 0) {
		struct nic_txrec *r = c->tx_head;
		c->tx_head = r->next;
		free(r);
		nic.st.tx_acked++;
	}
	if (!c->tx_head)
		c->tx_tail = &c->tx_head;
}

void nic_tx_reset(struct dv_conn *c)
{
	while (c->tx_head) {
		struct nic_txrec *r = c->tx_head;
		c->tx_head = r->next;
		free(r);
	}
	c->tx_tail = &c->tx_head;
}
