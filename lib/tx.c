/*
 * The send helper: toeless_pdu_send() and toeless_ctx_flush().
 *
 * A PDU goes out as one gather write: header (BHS + AHS + header digest),
 * the caller's data iovecs as they are (no copy), then pad + data digest.
 * sendmsg(MSG_NOSIGNAL) rather than writev, so a peer that went away is an
 * -EPIPE return and not a SIGPIPE in the caller's process.
 *
 * With an engine that inserts transmit digests (TOELESS_CAP_CRC_TX and
 * its tx_pdu op took the PDU), the digest bytes go out as zeros and the
 * engine writes the values into the segments on the wire; the host then
 * neither reads the data nor computes a CRC.
 *
 * SPDX-License-Identifier: MIT
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "toeless_int.h"

void tl_tx_free(toeless_ctx *ctx)
{
	free(ctx->tx.iov_heap);
	ctx->tx.iov_heap = NULL;
	ctx->tx.iov_heap_cap = 0;
}

/* Write what is pending.  0 when all is out, -EAGAIN, or a socket error. */
static int tx_push(toeless_ctx *ctx)
{
	struct tl_tx_state *tx = &ctx->tx;
	while (tx->iovcnt > 0) {
		struct msghdr msg = { 0 };
		msg.msg_iov = tx->iov;
		msg.msg_iovlen = (size_t)(tx->iovcnt < IOV_MAX ? tx->iovcnt : IOV_MAX);
		ssize_t r;
		do {
			r = sendmsg(ctx->fd, &msg, MSG_NOSIGNAL);
		} while (r < 0 && errno == EINTR);
		TL_STAT_INC(&ctx->stats, send_syscalls);
		if (r < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return -EAGAIN;
			int err = -errno;
			tx->pending = 0;
			tx->iovcnt = 0;
			tl_ctx_fail(ctx, err);
			return err;
		}
		TL_STAT_ADD(&ctx->stats, bytes_tx, (uint64_t)r);
		size_t left = (size_t)r;
		while (tx->iovcnt > 0 && left >= tx->iov->iov_len) {
			left -= tx->iov->iov_len;
			tx->iov++;
			tx->iovcnt--;
		}
		if (left) {
			tx->iov->iov_base = (uint8_t *)tx->iov->iov_base + left;
			tx->iov->iov_len -= left;
		}
	}
	tx->pending = 0;
	TL_STAT_INC(&ctx->stats, pdus_tx);
	return 0;
}

int toeless_pdu_send(toeless_ctx *ctx, const uint8_t bhs[TOELESS_BHS_LEN], const void *ahs, uint32_t ahs_len,
		     const struct iovec *data, int iovcnt)
{
	if (!ctx || !bhs || iovcnt < 0 || (iovcnt > 0 && !data))
		return -EINVAL;
	if ((ahs_len && !ahs) || ahs_len % 4 || ahs_len > 1020)
		return -EINVAL;
	if (ctx->failed)
		return -ENOTCONN;
	struct tl_tx_state *tx = &ctx->tx;
	if (tx->pending)
		return -EBUSY;

	uint64_t data_len = 0;
	int nonempty = 0;
	for (int i = 0; i < iovcnt; i++) {
		if (data[i].iov_len && !data[i].iov_base)
			return -EINVAL;
		data_len += data[i].iov_len;
		nonempty += data[i].iov_len != 0;
	}
	if (data_len > TOELESS_ISCSI_MAX_DSL || (ctx->params.max_send_dsl && data_len > ctx->params.max_send_dsl))
		return -EMSGSIZE;

	/* header, data entries, trailer */
	int need = 1 + nonempty + 1;
	struct iovec *iov = tx->iov_store;
	if (need > (int)(sizeof(tx->iov_store) / sizeof(tx->iov_store[0]))) {
		if (need > tx->iov_heap_cap) {
			struct iovec *n = realloc(tx->iov_heap, sizeof(*n) * (size_t)need);
			if (!n)
				return -ENOMEM;
			tx->iov_heap = n;
			tx->iov_heap_cap = need;
		}
		iov = tx->iov_heap;
	}

	uint8_t *h = tx->hdr;
	uint32_t hlen = TOELESS_BHS_LEN + ahs_len;
	memcpy(h, bhs, TOELESS_BHS_LEN);
	toeless_bhs_set_lengths(h, ahs_len, (uint32_t)data_len);
	if (ahs_len)
		memcpy(h + TOELESS_BHS_LEN, ahs, ahs_len);
	/* Which digests the engine inserts: asked before any byte of the PDU
	 * is written, so its transmit record exists when the segments pass. */
	uint32_t want = (ctx->params.flags & TOELESS_CTX_HEADER_DIGEST ? TOELESS_TX_HDR_DIGEST : 0) |
			(data_len && (ctx->params.flags & TOELESS_CTX_DATA_DIGEST) ? TOELESS_TX_DATA_DIGEST : 0);
	uint32_t by_engine = 0;
	if (want && ctx->engine && ctx->dev->tx_digests && !tl_device_failed(ctx->dev) &&
	    ctx->dev->ops->tx_pdu(ctx->priv, tx->pos, hlen, (uint32_t)data_len, want) == 0) {
		by_engine = want;
		TL_STAT_ADD(&ctx->stats, tx_digests_offloaded, (uint64_t)__builtin_popcount(want));
	}
	if (ctx->params.flags & TOELESS_CTX_HEADER_DIGEST) {
		toeless_put_le32(h + hlen, by_engine & TOELESS_TX_HDR_DIGEST ? 0 : toeless_crc32c(0, h, hlen));
		hlen += 4;
	}
	int n = 0;
	iov[n].iov_base = h;
	iov[n++].iov_len = hlen;
	for (int i = 0; i < iovcnt; i++)
		if (data[i].iov_len)
			iov[n++] = data[i];
	if (data_len) {
		uint32_t pad = toeless_pad_len((uint32_t)data_len);
		uint32_t tlen = pad;
		memset(tx->trailer, 0, sizeof(tx->trailer));
		if (ctx->params.flags & TOELESS_CTX_DATA_DIGEST) {
			/* The digest is taken now: the caller's buffers must stay
			 * unchanged until the bytes are sent (see toeless.h). */
			uint32_t crc = 0;
			if (!(by_engine & TOELESS_TX_DATA_DIGEST)) {
				crc = toeless_crc32c_iov(0, data, iovcnt);
				crc = toeless_crc32c(crc, tx->trailer, pad);
			}
			toeless_put_le32(tx->trailer + pad, crc);
			tlen += 4;
		}
		if (tlen) {
			iov[n].iov_base = tx->trailer;
			iov[n++].iov_len = tlen;
		}
	}
	tx->iov = iov;
	tx->iovcnt = n;
	tx->pending = 1;
	for (int i = 0; i < n; i++)
		tx->pos += iov[i].iov_len;
	int rc = tx_push(ctx);
	return rc == -EAGAIN ? -EINPROGRESS : rc;
}

int toeless_ctx_flush(toeless_ctx *ctx)
{
	if (!ctx)
		return -EINVAL;
	if (!ctx->tx.pending)
		return ctx->failed ? -ENOTCONN : 0;
	return tx_push(ctx);
}
