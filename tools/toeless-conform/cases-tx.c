/*
 * toeless-conform: the transmit side, toeless_pdu_send().
 *
 * Whoever computes them, the digests on the wire must be right: the
 * target side (this program, the peer of the connection) reads every byte
 * that arrives, parses the PDUs and checks each header and data digest
 * against the bitwise reference CRC, and the header, AHS, data and pad
 * against what was sent.  With TOELESS_CAP_CRC_TX the library sends zeros
 * where the digests go and the engine writes them into the segments on
 * their way (a wire device: tools/toeless-nic); without it the library
 * computes them and the engine must not be asked (tx_digests_offloaded
 * stays 0).  A retransmission is the wire's business: run these cases
 * through a wire NIC that loses host->target segments after inserting
 * (toeless-nic --wire tx-drop=N), and the digests of the retransmitted
 * segments are checked the same way.
 *
 * SPDX-License-Identifier: MIT
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "conform.h"

/* One PDU to send: where its bytes are in the case's source buffer. */
struct tx_pdu {
	uint8_t bhs[48];
	uint32_t ahs_len;
	uint8_t ahs[16];
	uint32_t data_len;
	size_t data_off; /* in the source buffer */
	int iovcnt;      /* the data cut into this many iovecs */
};

/* The target side: reads exactly want bytes (blocking) while the library
 * sends, so that no PDU size is limited by the socket buffers. */
struct tx_reader {
	pthread_t th;
	int fd;
	uint8_t *buf;
	size_t want, got;
	int err;
};

static void *tx_reader_main(void *arg)
{
	struct tx_reader *r = arg;
	while (r->got < r->want) {
		ssize_t n = read(r->fd, r->buf + r->got, r->want - r->got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			r->err = n < 0 ? errno : EPIPE;
			break;
		}
		r->got += (size_t)n;
	}
	return NULL;
}

static size_t pad4(size_t n)
{
	return (4 - (n & 3)) & 3;
}

static size_t pdu_wire_len(const struct tx_pdu *p, unsigned digests)
{
	size_t n = 48 + p->ahs_len + (digests & TOELESS_CTX_HEADER_DIGEST ? 4 : 0);
	if (p->data_len)
		n += p->data_len + pad4(p->data_len) + (digests & TOELESS_CTX_DATA_DIGEST ? 4 : 0);
	return n;
}

static uint32_t get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Send one PDU, cutting its data into p->iovcnt iovecs; waits for the
 * socket while the library holds a partly sent PDU. */
static bool tx_send(struct cf_t *t, struct cf_conn *c, const struct tx_pdu *p, const uint8_t *src)
{
	struct iovec iov[8];
	int n = 0;
	size_t off = 0;
	for (int i = 0; i < p->iovcnt && p->data_len; i++) {
		size_t left = p->data_len - off;
		size_t len = i == p->iovcnt - 1 ? left : (size_t)cf_range(&t->rng, 0, (uint32_t)left);
		iov[n].iov_base = (void *)(src + p->data_off + off);
		iov[n++].iov_len = len;
		off += len;
	}
	int rc = toeless_pdu_send(c->ctx, p->bhs, p->ahs_len ? p->ahs : NULL, p->ahs_len, n ? iov : NULL, n);
	int waited = 0;
	while (rc == -EINPROGRESS || rc == -EAGAIN) {
		struct pollfd pf = { .fd = c->fd, .events = POLLOUT };
		if (poll(&pf, 1, 100) == 0 && (waited += 100) > t->timeout_ms) {
			cf_fail(t, "toeless_pdu_send: the socket took nothing for %d ms (is the peer reading?)",
				t->timeout_ms);
			return false;
		}
		rc = toeless_ctx_flush(c->ctx);
	}
	if (rc) {
		cf_fail(t, "toeless_pdu_send of a %" PRIu32 "-byte PDU: %s", p->data_len, toeless_strerror(rc));
		return false;
	}
	return true;
}

/* Check the bytes the peer received against the PDUs sent: header, AHS,
 * data and pad as given, each digest equal to the reference CRC. */
static bool tx_verify(struct cf_t *t, const struct tx_pdu *pdus, int n, const uint8_t *src, const uint8_t *wire,
		      size_t len, unsigned digests, const char *mode)
{
	size_t at = 0;
	for (int i = 0; i < n; i++) {
		const struct tx_pdu *p = &pdus[i];
		const uint8_t *w = wire + at;
		if (at + pdu_wire_len(p, digests) > len) {
			cf_fail(t, "%s: PDU %d (%" PRIu32 " data bytes) runs past the %zu bytes received", mode, i,
				p->data_len, len);
			return false;
		}
		uint32_t dsl = (uint32_t)w[5] << 16 | (uint32_t)w[6] << 8 | w[7];
		if (memcmp(w, p->bhs, 4) || memcmp(w + 8, p->bhs + 8, 40) || w[4] != p->ahs_len / 4 ||
		    dsl != p->data_len) {
			cf_fail(t,
				"%s: PDU %d: the header on the wire is not the one sent (data length %" PRIu32
				" on the wire, %" PRIu32 " sent)",
				mode, i, dsl, p->data_len);
			return false;
		}
		size_t hlen = 48 + p->ahs_len;
		if (p->ahs_len && memcmp(w + 48, p->ahs, p->ahs_len)) {
			cf_fail(t, "%s: PDU %d: AHS differs", mode, i);
			return false;
		}
		size_t o = hlen;
		if (digests & TOELESS_CTX_HEADER_DIGEST) {
			uint32_t want = cf_crc32c(0, w, hlen), got = get_le32(w + o);
			if (got != want) {
				cf_fail(t,
					"%s: PDU %d (AHS %" PRIu32 ", data %" PRIu32 "): header digest 0x%08" PRIx32
					" on the wire, 0x%08" PRIx32 " expected%s",
					mode, i, p->ahs_len, p->data_len, got, want,
					got == 0 ? " (the zero placeholder: nobody inserted it)" : "");
				return false;
			}
			o += 4;
		}
		if (p->data_len) {
			if (memcmp(w + o, src + p->data_off, p->data_len)) {
				cf_fail(t, "%s: PDU %d: data differs from what was sent", mode, i);
				return false;
			}
			size_t pad = pad4(p->data_len);
			for (size_t k = 0; k < pad; k++)
				if (w[o + p->data_len + k]) {
					cf_fail(t, "%s: PDU %d: pad byte %zu is 0x%02x, not 0", mode, i, k,
						w[o + p->data_len + k]);
					return false;
				}
			if (digests & TOELESS_CTX_DATA_DIGEST) {
				uint32_t want = cf_crc32c(0, w + o, p->data_len + pad);
				uint32_t got = get_le32(w + o + p->data_len + pad);
				if (got != want) {
					cf_fail(t,
						"%s: PDU %d (data %" PRIu32 " bytes, pad %zu): data digest 0x%08" PRIx32
						" on the wire, 0x%08" PRIx32 " expected%s",
						mode, i, p->data_len, pad, got, want,
						got == 0 ? " (the zero placeholder: nobody inserted it)" : "");
					return false;
				}
			}
		}
		at += pdu_wire_len(p, digests);
	}
	if (at != len) {
		cf_fail(t, "%s: %zu bytes received, the PDUs make %zu", mode, len, at);
		return false;
	}
	return true;
}

/* Lengths that matter to a digest inserter: none, every pad, a segment's
 * worth on both sides (1448: an Ethernet MSS), a header digest that ends
 * up in the next segment, large ones spanning many segments. */
static const uint32_t tx_lengths[] = { 0,    1,    2,    3,    4,    5,    7,     8,     13,    511,    1021,  1396,
				       1447, 1448, 1449, 2896, 4093, 8192, 65535, 65536, 65537, 131075, 262144 };

/* Send count PDUs on a fresh context with these digests and check them on
 * the peer.  *offloaded: the context's tx_digests_offloaded; *wanted: the
 * digests the PDUs carried. */
static bool tx_run(struct cf_t *t, unsigned digests, int count, uint64_t *offloaded, uint64_t *wanted, const char *mode)
{
	struct cf_conn c;
	if (!cf_conn_open(t, &c, NULL, digests, 65536, 0))
		return false;
	struct tx_pdu *pdus = cf_tmalloc(t, sizeof(*pdus) * (size_t)count);
	size_t src_len = 0, wire_len = 0;
	uint32_t max_len = 262144;
	for (int i = 0; i < count; i++) {
		struct tx_pdu *p = &pdus[i];
		memset(p, 0, sizeof(*p));
		int nl = (int)(sizeof(tx_lengths) / sizeof(tx_lengths[0]));
		p->data_len = i < nl ? tx_lengths[i] : cf_range(&t->rng, 0, i % 4 ? 9000 : max_len);
		if (p->data_len > max_len)
			p->data_len = max_len;
		/* a Data-Out, with an AHS now and then (header digests cover it) */
		cf_fill(p->bhs, 48, &t->rng);
		p->bhs[0] = TOELESS_ISCSI_OP_DATA_OUT;
		p->ahs_len = (uint32_t)(i % 5 == 3 ? 4 * cf_range(&t->rng, 1, 4) : 0);
		cf_fill(p->ahs, sizeof(p->ahs), &t->rng);
		p->data_off = src_len;
		p->iovcnt = (int)cf_range(&t->rng, 1, 8);
		src_len += p->data_len;
		wire_len += pdu_wire_len(p, digests);
		*wanted += (digests & TOELESS_CTX_HEADER_DIGEST ? 1 : 0) +
			   (p->data_len && (digests & TOELESS_CTX_DATA_DIGEST) ? 1 : 0);
	}
	uint8_t *src = cf_tmalloc(t, src_len + 1);
	cf_fill(src, src_len, &t->rng);
	struct tx_reader r = { .fd = c.peer, .buf = cf_tmalloc(t, wire_len + 1), .want = wire_len };
	if (pthread_create(&r.th, NULL, tx_reader_main, &r)) {
		cf_fail(t, "pthread_create failed");
		return false;
	}
	bool ok = true;
	for (int i = 0; i < count && ok; i++)
		ok = tx_send(t, &c, &pdus[i], src);
	if (!ok)
		shutdown(c.peer, SHUT_RDWR); /* the reader must not wait for bytes that never come */
	pthread_join(r.th, NULL);
	if (!ok)
		return false;
	if (r.err) {
		cf_fail(t, "%s: the peer read %zu of %zu bytes: %s", mode, r.got, r.want, strerror(r.err));
		return false;
	}
	struct toeless_stats st;
	if (!tx_verify(t, pdus, count, src, r.buf, r.got, digests, mode) || !cf_ctx_stats(t, &c, &st))
		return false;
	if (st.pdus_tx != (uint64_t)count) {
		cf_fail(t, "%s: pdus_tx %" PRIu64 ", %d sent", mode, st.pdus_tx, count);
		return false;
	}
	*offloaded += st.tx_digests_offloaded;
	cf_tfree(t, src);
	cf_tfree(t, r.buf);
	cf_tfree(t, pdus);
	return true;
}

void case_tx_digests(struct cf_t *t)
{
	static const struct {
		unsigned digests;
		const char *name;
	} modes[] = {
		{ CF_DIGESTS, "both digests" },
		{ TOELESS_CTX_HEADER_DIGEST, "header digest" },
		{ TOELESS_CTX_DATA_DIGEST, "data digest" },
	};
	uint64_t offloaded = 0, wanted = 0;
	for (size_t m = 0; m < sizeof(modes) / sizeof(modes[0]); m++) {
		int count = (int)cf_iter(t, m == 0 ? 96 : 32);
		if (count < 24)
			count = 24; /* every length of tx_lengths at least */
		if (!tx_run(t, modes[m].digests, count, &offloaded, &wanted, modes[m].name))
			return;
	}
	bool engine = (t->caps.flags & TOELESS_CAP_CRC_TX) != 0;
	cf_diag(t, "%" PRIu64 " digests on the wire, all right; %" PRIu64 " of them left to the engine (%s)", wanted,
		offloaded, engine ? "TOELESS_CAP_CRC_TX" : "no TOELESS_CAP_CRC_TX: the library computes them");
	CF_CHECK(t, engine || offloaded == 0,
		 "the backend does not advertise TOELESS_CAP_CRC_TX, yet %" PRIu64 " digests were left to its engine",
		 offloaded);
	CF_CHECK(t, offloaded <= wanted, "%" PRIu64 " digests counted offloaded, only %" PRIu64 " were sent", offloaded,
		 wanted);
}

void case_tx_engine(struct cf_t *t)
{
	if (!(t->caps.flags & TOELESS_CAP_CRC_TX)) {
		cf_skip(t, "the backend does not advertise TOELESS_CAP_CRC_TX");
		return;
	}
	uint64_t offloaded = 0, wanted = 0;
	if (!tx_run(t, CF_DIGESTS, (int)cf_iter(t, 64) < 24 ? 24 : (int)cf_iter(t, 64), &offloaded, &wanted,
		    "engine digests"))
		return;
	cf_diag(t, "the engine inserted %" PRIu64 " of %" PRIu64 " digests; every one checked on the wire", offloaded,
		wanted);
	CF_CHECK(t, offloaded > 0,
		 "the backend advertises TOELESS_CAP_CRC_TX, but its engine took none of the %" PRIu64
		 " digests of a fresh context",
		 wanted);
}
