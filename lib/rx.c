/*
 * The receive engine: toeless_pdu_recv().
 *
 * The host reads every PDU from its own socket (TOE-less).  For each PDU the
 * engine is asked whether it already placed the payload and checked the
 * digests; if not, the payload of a Data-In for a posted ITT goes straight
 * into the posted SGL with readv (no intermediate copy) and its CRC is taken
 * over the bytes just received, while they are hot in cache.
 *
 * Syscalls per PDU matter more than the CRC: while a data segment is read,
 * the same readv also asks for the pad, the data digest and the next PDU's
 * BHS (+ header digest).  It never asks for more than that, so when a header
 * has been parsed the socket's read position is exactly the first payload
 * byte of that PDU — which is what lets an engine (and MSG_TRUNC) work.
 *
 * State lives in ctx->rx so any call can stop at -EAGAIN and resume.
 *
 * SPDX-License-Identifier: MIT
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "toeless_int.h"

/* readv entries used for one placement step: SGL slice + trailer + lookahead */
#define RX_IOV_MAX 64

static inline uint32_t hd_len(const toeless_ctx *ctx)
{
	return (ctx->params.flags & TOELESS_CTX_HEADER_DIGEST) ? 4 : 0;
}

static inline uint32_t dd_len(const toeless_ctx *ctx)
{
	return (ctx->params.flags & TOELESS_CTX_DATA_DIGEST) ? 4 : 0;
}

void tl_rx_init(struct tl_rx_state *rx, uint64_t pos)
{
	memset(rx, 0, sizeof(*rx));
	rx->phase = TL_RX_BHS;
	rx->pos = pos;
	rx->pdu_pos = pos;
}

int tl_rx_alloc(toeless_ctx *ctx)
{
	struct tl_rx_state *rx = &ctx->rx;
	rx->hdr = ctx->hdr_store; /* in the context: no pointer to chase per PDU */
	if (!rx->ahs_copy && !(rx->ahs_copy = malloc(1020)))
		return -ENOMEM;
	/* data segment + pad + data digest of the largest PDU we accept */
	uint32_t need = ctx->params.max_recv_dsl + 8;
	if (rx->buf_cap < need) {
		uint8_t *nb = malloc(need);
		if (!nb)
			return -ENOMEM;
		free(rx->buf);
		rx->buf = nb;
		rx->buf_cap = need;
	}
	return 0;
}

void tl_rx_free(toeless_ctx *ctx)
{
	free(ctx->rx.ahs_copy);
	free(ctx->rx.buf);
	ctx->rx.hdr = ctx->rx.ahs_copy = ctx->rx.buf = NULL;
	ctx->rx.buf_cap = 0;
}

bool tl_rx_idle(const toeless_ctx *ctx)
{
	return ctx->rx.phase == TL_RX_BHS && ctx->rx.hdr_have == 0;
}

bool tl_rx_can_switch(const toeless_ctx *ctx, uint32_t new_flags)
{
	/* Raw lookahead bytes of the next header may already be in: they stay
	 * valid under new parameters as long as they do not reach past the
	 * shortest header the new parameters allow. */
	uint32_t min_hdr = TOELESS_BHS_LEN + ((new_flags & TOELESS_CTX_HEADER_DIGEST) ? 4 : 0);
	return ctx->rx.phase == TL_RX_BHS && ctx->rx.hdr_have <= min_hdr;
}

void tl_rx_detach_task(toeless_ctx *ctx, struct tl_task *task)
{
	struct tl_rx_state *rx = &ctx->rx;
	if (rx->task == task && rx->phase == TL_RX_DATA) {
		rx->task = NULL;
		rx->discard = true;
		/* what this PDU placed so far no longer counts; its digest
		 * cannot be completed over bytes we stop receiving */
		rx->pdu_err = rx->pdu_err ? rx->pdu_err : -ECANCELED;
	}
}

/* ---- socket reads ---- */

/* readv with the context's accounting.  Returns bytes (> 0) or a negative
 * errno: -EAGAIN, -EPIPE (EOF at a PDU boundary), -ECONNRESET (EOF mid-PDU
 * or a socket error). */
static ssize_t rx_readv(toeless_ctx *ctx, struct iovec *iov, int n)
{
	ssize_t r;
	do {
		r = readv(ctx->fd, iov, n);
	} while (r < 0 && errno == EINTR);
	TL_STAT_INC(&ctx->stats, recv_syscalls);
	if (r > 0) {
		ctx->rx.pos += (uint64_t)r;
		TL_STAT_ADD(&ctx->stats, bytes_rx, (uint64_t)r);
		return r;
	}
	if (r == 0)
		return tl_rx_idle(ctx) ? -EPIPE : -ECONNRESET;
	if (errno == EAGAIN || errno == EWOULDBLOCK)
		return -EAGAIN;
	return errno == ECONNRESET || errno == EPIPE ? -ECONNRESET : -errno;
}

/* Consume n bytes the engine already placed, without copying them where
 * the kernel can discard (TCP MSG_TRUNC). */
static ssize_t rx_skip(toeless_ctx *ctx, uint32_t n)
{
	ssize_t r;
	if (ctx->is_tcp) {
		do {
			/* the kernel discards; buf is passed only so that memory
			 * checkers see a valid destination (n <= buf_cap) */
			r = recv(ctx->fd, ctx->rx.buf, n, MSG_TRUNC);
		} while (r < 0 && errno == EINTR);
		TL_STAT_INC(&ctx->stats, recv_syscalls);
		if (r > 0) {
			ctx->rx.pos += (uint64_t)r;
			TL_STAT_ADD(&ctx->stats, bytes_rx, (uint64_t)r);
			return r;
		}
		if (r == 0)
			return -ECONNRESET;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return -EAGAIN;
		if (errno != EINVAL && errno != EOPNOTSUPP)
			return -errno;
		ctx->is_tcp = false; /* kernel without MSG_TRUNC discard: copy */
	}
	struct iovec iov = { ctx->rx.buf, n < ctx->rx.buf_cap ? n : ctx->rx.buf_cap };
	return rx_readv(ctx, &iov, 1);
}

/* ---- wake-ups (TOELESS_CTX_RCVLOWAT) ---- */

/* Below this, a PDU's remainder usually arrives in the segment that wakes
 * the caller anyway: not worth a setsockopt. */
#define RX_LOWAT_MIN 4096

/* Linux grows the receive buffer for a low-water mark it cannot hold and
 * then clamps the receive window at that mark (tcp_set_rcvlowat).  The
 * first large PDU of a new connection, before autotuning has grown the
 * buffer, would clamp the window at one PDU for the connection's life: the
 * target could never have more than one PDU in flight.  So grow the buffer
 * once, when the context is created, to a mark far above any PDU (the
 * kernel bounds it by tcp_rmem[2] / 2), and go back to 1: later marks are
 * below the buffer and clamp nothing.  A buffer the application sized
 * itself (SO_RCVBUF) is left alone by the kernel. */
#define RX_LOWAT_WINDOW (4 << 20)

void tl_rx_lowat_prepare(toeless_ctx *ctx)
{
	int v = RX_LOWAT_WINDOW, one = 1;
	if (setsockopt(ctx->fd, SOL_SOCKET, SO_RCVLOWAT, &v, sizeof(v)) == 0)
		(void)setsockopt(ctx->fd, SOL_SOCKET, SO_RCVLOWAT, &one, sizeof(one));
}

/* About to return -EAGAIN: the caller will sleep until the socket is
 * readable.  Once a PDU's BHS is in, make it readable only once this PDU
 * can complete (the bytes it still needs, never more: what follows it may
 * not come before we answer); before a BHS, on any byte again (the next
 * PDU may be shorter than any threshold).  TCP only: AF_UNIX poll readiness
 * ignores SO_RCVLOWAT.  Set only when it changes, so a steady stream that
 * never waits pays nothing. */
static void rx_lowat_update(toeless_ctx *ctx)
{
	struct tl_rx_state *rx = &ctx->rx;
	uint32_t need = 0, want = 0;
	if (rx->phase == TL_RX_DATA) {
		need = rx->seg_len + rx->trailer_len - rx->data_have;
	} else if (rx->phase == TL_RX_HDR_REST) {
		/* the BHS is in: the PDU's length is known.  Targets that write
		 * header, digest, data and data digest separately (tgtd) are
		 * waited for once, not four times; but not for a length we
		 * will refuse (-EMSGSIZE is reported as soon as the header is) */
		uint32_t dsl = toeless_bhs_dsl(rx->hdr);
		need = rx->hdr_len - rx->hdr_have;
		if (dsl && dsl <= ctx->params.max_recv_dsl)
			need += dsl + toeless_pad_len(dsl) + dd_len(ctx);
	}
	if (need >= RX_LOWAT_MIN)
		want = need;
	if (want == rx->lowat)
		return;
	int v = want ? (int)want : 1;
	if (setsockopt(ctx->fd, SOL_SOCKET, SO_RCVLOWAT, &v, sizeof(v)) == 0) {
		rx->lowat = want;
	} else if (!rx->lowat) {
		/* refused from the start: leave the socket as it is */
		ctx->rcvlowat = false;
		tl_log(ctx->dev, TOELESS_LOG_INFO, "SO_RCVLOWAT refused (%s): one wake-up per segment",
		       toeless_strerror(-errno));
	}
}

/* ---- header ---- */

static void rx_fail(toeless_ctx *ctx, int err)
{
	if (err == -EPROTO || err == -EMSGSIZE)
		TL_STAT_INC(&ctx->stats, protocol_errors);
	tl_ctx_fail(ctx, err);
}

/* Every field is set one by one: GCC compiles a memset of the whole struct
 * to "rep stos", whose start-up costs ~45 cycles, paid once per PDU
 * (doc/performance.md).  The assertion fails when a field is added after
 * reserved[], so none can be left unset here. */
_Static_assert(sizeof(struct toeless_pdu) ==
		       offsetof(struct toeless_pdu, reserved) + sizeof(((struct toeless_pdu *)0)->reserved),
	       "fill_pdu_header() sets every field of struct toeless_pdu: update it");

static void fill_pdu_header(toeless_ctx *ctx, struct toeless_pdu *pdu)
{
	struct tl_rx_state *rx = &ctx->rx;
	memcpy(pdu->bhs, rx->bhs, TOELESS_BHS_LEN);
	pdu->ahs = rx->ahs_len ? rx->ahs_copy : NULL;
	pdu->ahs_len = rx->ahs_len;
	pdu->data_len = rx->data_len;
	pdu->data = NULL;
	pdu->flags = 0;
	pdu->opcode = toeless_bhs_opcode(rx->bhs);
	pdu->hdr_digest = rx->hdr_digest;
	pdu->data_digest = TOELESS_DIGEST_NONE;
	pdu->reserved0 = 0;
	pdu->itt = toeless_bhs_itt(rx->bhs);
	pdu->status = 0;
	pdu->stream_pos = rx->pdu_pos;
	pdu->user_data = 0;
	pdu->reserved[0] = 0;
	pdu->reserved[1] = 0;
}

/* Resync handshake: answer the engine's question when we pass its position. */
static void resync_check(toeless_ctx *ctx)
{
	struct tl_rx_state *rx = &ctx->rx;
	rx->hist[rx->hist_n++ % 8] = rx->pdu_pos;
	if (!rx->resync_wanted || rx->pdu_pos < rx->resync_pos)
		return;
	int is_header = rx->pdu_pos == rx->resync_pos;
	rx->resync_wanted = false;
	if (is_header)
		TL_STAT_INC(&ctx->stats, resyncs);
	if (tl_engine_usable(ctx))
		ctx->dev->ops->rx_resync_reply(ctx->priv, rx->resync_pos, is_header);
}

void toeless_backend_resync_request(toeless_ctx *ctx, uint64_t pos)
{
	if (!ctx)
		return;
	struct tl_rx_state *rx = &ctx->rx;
	/* a position already passed is answered from the recent history */
	uint64_t cur = tl_rx_idle(ctx) ? rx->pos : rx->pdu_pos;
	if (pos <= cur) {
		int is_header = pos == cur; /* cur is a header start, idle or not */
		uint32_t n = rx->hist_n < 8 ? rx->hist_n : 8;
		for (uint32_t i = 0; i < n; i++)
			is_header |= rx->hist[i] == pos;
		if (is_header)
			TL_STAT_INC(&ctx->stats, resyncs);
		if (tl_engine_usable(ctx))
			ctx->dev->ops->rx_resync_reply(ctx->priv, pos, is_header);
		return;
	}
	rx->resync_wanted = true;
	rx->resync_pos = pos;
}

/* Read until the whole header (BHS, AHS, header digest) is in rx->hdr. */
static int read_header(toeless_ctx *ctx)
{
	struct tl_rx_state *rx = &ctx->rx;
	for (;;) {
		if (rx->hdr_have >= TOELESS_BHS_LEN && rx->phase == TL_RX_BHS) {
			/* the BHS tells how long the rest of the header is */
			rx->ahs_len = toeless_bhs_ahs_len(rx->hdr);
			rx->hdr_len = TOELESS_BHS_LEN + rx->ahs_len + hd_len(ctx);
			rx->phase = TL_RX_HDR_REST;
		}
		if (rx->phase == TL_RX_HDR_REST && rx->hdr_have >= rx->hdr_len)
			return 0;
		uint32_t want = rx->phase == TL_RX_BHS ? TOELESS_BHS_LEN + hd_len(ctx) : rx->hdr_len;
		struct iovec iov = { rx->hdr + rx->hdr_have, want - rx->hdr_have };
		ssize_t r = rx_readv(ctx, &iov, 1);
		if (r < 0)
			return (int)r;
		rx->hdr_have += (uint32_t)r;
	}
}

/* A new header is in rx->hdr: reset the per-PDU state from it. */
static void begin_pdu(struct tl_rx_state *rx, uint32_t digest_len)
{
	const uint8_t *h = rx->hdr;
	memcpy(rx->bhs, h, TOELESS_BHS_LEN);
	rx->data_len = toeless_bhs_dsl(h);
	rx->seg_len = rx->data_len + toeless_pad_len(rx->data_len);
	rx->trailer_len = rx->data_len ? digest_len : 0;
	rx->data_have = 0;
	rx->task = NULL;
	rx->pdu_err = 0;
	rx->discard = false;
	rx->skip = 0;
	rx->engine_bytes = 0;
	rx->engine_host = false;
	rx->engine_checked = false;
	rx->crc = 0;
	rx->crc_done = 0;
	rx->hdr_digest = TOELESS_DIGEST_NONE;
	rx->engine_data_digest = TOELESS_DIGEST_NONE;
	if (rx->ahs_len)
		memcpy(rx->ahs_copy, h + TOELESS_BHS_LEN, rx->ahs_len);
}

/* Header digest, AHS and segment length: 0, or why the PDU is refused. */
static int check_header(toeless_ctx *ctx)
{
	struct tl_rx_state *rx = &ctx->rx;
	const uint8_t *h = rx->hdr;
	if (hd_len(ctx)) {
		uint32_t covered = TOELESS_BHS_LEN + rx->ahs_len;
		uint32_t want = toeless_get_le32(h + covered);
		TL_STAT_INC(&ctx->stats, hdr_digests_checked);
		if (toeless_crc32c(0, h, covered) != want) {
			rx->hdr_digest = TOELESS_DIGEST_BAD;
			TL_STAT_INC(&ctx->stats, hdr_digest_errors);
			return -EBADMSG;
		}
		rx->hdr_digest = TOELESS_DIGEST_OK;
	}
	if (rx->ahs_len && tl_ahs_validate(h + TOELESS_BHS_LEN, rx->ahs_len) != 0)
		return -EPROTO;
	if (rx->data_len > ctx->params.max_recv_dsl)
		return -EMSGSIZE;
	return 0;
}

/* The posted task a Data-In or SCSI Response is for, else NULL. */
static struct tl_task *find_task(toeless_ctx *ctx, uint8_t op, uint32_t itt)
{
	if (op != TOELESS_ISCSI_OP_DATA_IN && op != TOELESS_ISCSI_OP_SCSI_RSP)
		return NULL;
	struct tl_task *task = tl_task_find(&ctx->tasks, itt);
	if (task && task->state == TL_TASK_POSTED)
		return task;
	if (op == TOELESS_ISCSI_OP_DATA_IN)
		TL_STAT_INC(&ctx->stats, unknown_itt_pdus);
	return NULL;
}

/* Ask the engine what it did with this PDU.  Returns 1 with *rec filled,
 * 0 when it has no record, -EBADMSG when it found the header digest bad
 * (a digest error is never reported as good, whoever found it). */
static int ask_engine(toeless_ctx *ctx, bool offered, struct toeless_rx_record *rec)
{
	struct tl_rx_state *rx = &ctx->rx;
	const uint8_t *h = rx->hdr;
	if (!tl_engine_usable(ctx))
		return 0;
	struct toeless_rx_query q = {
		.size = sizeof(q),
		.stream_pos = rx->pdu_pos,
		.payload_pos = rx->pdu_pos + rx->hdr_len,
		.bhs = h,
		.data_len = rx->data_len,
		.itt = toeless_bhs_itt(h),
		.buffer_offset = toeless_bhs_buffer_offset(h),
		.sgl_posted_to_engine = offered,
	};
	if (ctx->dev->ops->rx_pdu(ctx->priv, &q, rec) != 0)
		return 0;
	if (rec->hdr_digest == TOELESS_DIGEST_BAD) {
		rx->hdr_digest = TOELESS_DIGEST_BAD;
		TL_STAT_INC(&ctx->stats, hdr_digest_errors);
		return -EBADMSG;
	}
	if (rec->bytes_placed && !offered) {
		/* placed what it was not offered: the rule is broken */
		TL_STAT_INC(&ctx->stats, engine_anomalies);
		tl_log(ctx->dev, TOELESS_LOG_WARN,
		       "engine placed %u bytes of a PDU for ITT 0x%08x it was not offered: ignored", rec->bytes_placed,
		       q.itt);
	}
	return 1;
}

/* Plan a Data-In payload's placement into its task: what the engine placed
 * (and checked) is skipped in the socket, software places the rest, and a
 * payload the core refused (place_rc) goes to scratch. */
static void plan_placement(toeless_ctx *ctx, int place_rc, bool offered, const struct toeless_rx_record *rec)
{
	struct tl_rx_state *rx = &ctx->rx;
	struct tl_task *task = rx->task;
	uint64_t lo = toeless_bhs_buffer_offset(rx->hdr);
	rx->place_off = (uint32_t)lo;
	if (!rx->data_len)
		return;
	if (place_rc) {
		rx->pdu_err = place_rc;
		rx->discard = true;
		TL_STAT_INC(&ctx->stats, placement_errors);
	}
	if (rec && rec->bytes_placed && offered) {
		rx->engine_bytes = rec->bytes_placed < rx->data_len ? rec->bytes_placed : rx->data_len;
		rx->engine_host = (rec->flags & TOELESS_RX_REC_HOST_CPU) != 0;
		rx->skip = rx->engine_bytes;
		if (rx->engine_bytes == rx->data_len &&
		    (rec->data_digest == TOELESS_DIGEST_OK || rec->data_digest == TOELESS_DIGEST_BAD)) {
			rx->engine_checked = true;
			rx->engine_data_digest = rec->data_digest;
		}
	} else if (task->engine_owned) {
		TL_STAT_INC(&ctx->stats, sw_fallback_pdus);
	}
	/* Software is about to write the rest into an SGL the engine holds:
	 * claim it first, so that an engine placing ahead of us never writes
	 * over what software placed. */
	if (offered && rx->engine_bytes < rx->data_len && tl_engine_usable(ctx) && ctx->dev->ops->sgl_claim)
		ctx->dev->ops->sgl_claim(ctx->priv, task->itt, lo + rx->engine_bytes, lo + rx->data_len);
}

/* The header is complete: check it, decide where the payload goes.
 * Returns 1 when the PDU needs a data phase, 0 when it is complete (no
 * data), or a negative errno for a PDU to deliver with an error. */
static int start_pdu(toeless_ctx *ctx)
{
	struct tl_rx_state *rx = &ctx->rx;
	const uint8_t *h = rx->hdr;

	begin_pdu(rx, dd_len(ctx));
	resync_check(ctx);
	int rc = check_header(ctx);
	if (rc)
		return rc;

	uint8_t op = toeless_bhs_opcode(h);
	struct tl_task *task = rx->task = find_task(ctx, op, toeless_bhs_itt(h));
	bool data_in = task && op == TOELESS_ISCSI_OP_DATA_IN;

	/* Judge the placement before the engine is asked: a payload the core
	 * rejects (outside the SGL, over placed bytes) is not offered to it,
	 * so an engine that places inside rx_pdu() never writes it into the
	 * caller's buffer (toeless_backend.h, "Buffers"). */
	int place_rc = 0;
	if (data_in && rx->data_len) {
		uint64_t lo = toeless_bhs_buffer_offset(h);
		place_rc = tl_task_check_range(task, lo, lo + rx->data_len);
	}
	bool offered = data_in && task->engine_owned && place_rc == 0;
	struct toeless_rx_record rec = { .size = sizeof(rec) };
	int have_rec = ask_engine(ctx, offered, &rec);
	if (have_rec < 0)
		return have_rec;
	if (data_in)
		plan_placement(ctx, place_rc, offered, have_rec ? &rec : NULL);

	rx->hdr_have = 0; /* header consumed: rx->hdr may take the lookahead */
	if (rx->data_len == 0)
		return 0;
	rx->phase = TL_RX_DATA;
	return 1;
}

/* ---- data ---- */

/* The current payload goes into a posted SGL (else into rx->buf). */
static inline bool rx_placing(const struct tl_rx_state *rx)
{
	return rx->task && !rx->discard && toeless_bhs_opcode(rx->bhs) == TOELESS_ISCSI_OP_DATA_IN;
}

/* The engine placed the first bytes of this payload but did not check the
 * digest: take the CRC over them where they landed, in the SGL. */
static void crc_engine_placed(toeless_ctx *ctx)
{
	struct tl_rx_state *rx = &ctx->rx;
	struct iovec iov[RX_IOV_MAX];
	while (rx->crc_done < rx->engine_bytes) {
		uint64_t covered;
		int n = tl_task_slice(rx->task, (uint64_t)rx->place_off + rx->crc_done, rx->engine_bytes - rx->crc_done,
				      iov, RX_IOV_MAX, &covered);
		rx->crc = toeless_crc32c_iov(rx->crc, iov, n);
		rx->crc_done += (uint32_t)covered;
	}
}

/* Extend the running data CRC over the first len payload bytes that the
 * last readv put into iov[0..n): the bytes just received, still in cache,
 * without looking the SGL up again. */
static void crc_received(struct tl_rx_state *rx, const struct iovec *iov, int n, uint32_t len)
{
	for (int i = 0; i < n && len; i++) {
		uint32_t take = iov[i].iov_len < len ? (uint32_t)iov[i].iov_len : len;
		rx->crc = toeless_crc32c(rx->crc, iov[i].iov_base, take);
		len -= take;
		rx->crc_done += take;
	}
}

/* Bytes of the lookahead (next PDU's BHS + header digest) to ask for. */
static inline uint32_t lookahead_len(const toeless_ctx *ctx)
{
	return TOELESS_BHS_LEN + hd_len(ctx);
}

/* Read the data segment, pad, data digest, and opportunistically the next
 * header.  Returns 0 when the current PDU is complete. */
static int read_data(toeless_ctx *ctx)
{
	struct tl_rx_state *rx = &ctx->rx;
	uint32_t pad = rx->seg_len - rx->data_len;

	/* bytes the engine placed: consume without copying */
	while (rx->skip) {
		ssize_t r = rx_skip(ctx, rx->skip);
		if (r < 0)
			return (int)r;
		rx->skip -= (uint32_t)r;
		rx->data_have += (uint32_t)r;
	}
	if (dd_len(ctx) && rx->engine_bytes && !rx->engine_checked && rx_placing(rx))
		crc_engine_placed(ctx);

	uint32_t total = rx->seg_len + rx->trailer_len;
	while (rx->data_have < total) {
		struct iovec iov[RX_IOV_MAX + 2];
		int n = 0;
		bool to_end = true;
		if (rx->data_have < rx->data_len) {
			uint32_t left = rx->data_len - rx->data_have;
			if (rx_placing(rx)) {
				uint64_t covered;
				n = tl_task_slice(rx->task, (uint64_t)rx->place_off + rx->data_have, left, iov,
						  RX_IOV_MAX, &covered);
				to_end = covered == left;
			} else {
				/* slow path, or a discarded payload (kept whole in
				 * the context's buffer so its digest is still checked) */
				iov[0].iov_base = rx->buf + rx->data_have;
				iov[0].iov_len = left;
				n = 1;
			}
		}
		int n_payload = n; /* the entries above hold payload; the rest do not */
		if (to_end) {
			/* pad + digest: into the trailer when placing, so the
			 * SGL is never written past the payload */
			uint32_t tdone = rx->data_have > rx->data_len ? rx->data_have - rx->data_len : 0;
			uint32_t tlen = pad + rx->trailer_len;
			if (tdone < tlen) {
				iov[n].iov_base = rx->trailer + tdone;
				iov[n].iov_len = tlen - tdone;
				n++;
			}
			if (rx->hdr_have == 0) {
				iov[n].iov_base = rx->hdr;
				iov[n].iov_len = lookahead_len(ctx);
				n++;
			}
		}
		ssize_t r = rx_readv(ctx, iov, n);
		if (r < 0)
			return (int)r;
		uint32_t mine = total - rx->data_have;
		if ((uint64_t)r > mine) {
			rx->hdr_have = (uint32_t)((uint64_t)r - mine); /* next PDU's header bytes */
			r = mine;
		}
		uint32_t payload_before = rx->data_have;
		rx->data_have += (uint32_t)r;
		if (dd_len(ctx) && !rx->engine_checked && payload_before < rx->data_len)
			crc_received(rx, iov, n_payload,
				     (rx->data_have < rx->data_len ? rx->data_have : rx->data_len) - payload_before);
	}
	return 0;
}

/* The data digest's verdict, the engine's where it checked the whole
 * payload, else ours over data and pad (the pad sits in rx->trailer). */
static uint8_t judge_data_digest(toeless_ctx *ctx)
{
	struct tl_rx_state *rx = &ctx->rx;
	uint8_t verdict;
	if (rx->engine_checked) {
		verdict = rx->engine_data_digest;
		TL_STAT_INC(&ctx->stats, data_digests_engine);
		if (rx->engine_host)
			TL_STAT_INC(&ctx->stats, data_digests_engine_host);
	} else {
		uint32_t pad = rx->seg_len - rx->data_len;
		uint32_t crc = toeless_crc32c(rx->crc, rx->trailer, pad);
		verdict = crc == toeless_get_le32(rx->trailer + pad) ? TOELESS_DIGEST_OK : TOELESS_DIGEST_BAD;
	}
	TL_STAT_INC(&ctx->stats, data_digests_checked);
	if (verdict == TOELESS_DIGEST_BAD)
		TL_STAT_INC(&ctx->stats, data_digest_errors);
	return verdict;
}

/* Mark the Data-In payload just placed in its task and count who placed it.
 * Returns 0 or the task table's verdict on the range. */
static int account_placement(toeless_ctx *ctx, struct tl_task *task, struct toeless_pdu *pdu)
{
	struct tl_rx_state *rx = &ctx->rx;
	uint64_t lo = rx->place_off;
	int rc = tl_task_mark_range(task, lo, lo + rx->data_len);
	task->bytes_engine += rx->engine_bytes;
	TL_STAT_ADD(&ctx->stats, bytes_placed_engine, rx->engine_bytes);
	if (rx->engine_host)
		TL_STAT_ADD(&ctx->stats, bytes_placed_engine_host, rx->engine_bytes);
	TL_STAT_ADD(&ctx->stats, bytes_placed_sw, rx->data_len - rx->engine_bytes);
	TL_STAT_INC(&ctx->stats, data_in_placed);
	pdu->flags |= TOELESS_PDU_F_PLACED;
	if (rx->engine_bytes == rx->data_len)
		pdu->flags |= TOELESS_PDU_F_ENGINE;
	return rc;
}

/* The task's SCSI status, from a Data-In with the S bit or a SCSI Response
 * (which alone carries a response code); the two PDUs keep the underflow
 * and overflow bits in the same places of byte 1. */
_Static_assert(TOELESS_ISCSI_DATAIN_UNDERFLOW == TOELESS_ISCSI_RSP_UNDERFLOW &&
		       TOELESS_ISCSI_DATAIN_OVERFLOW == TOELESS_ISCSI_RSP_OVERFLOW,
	       "take_status() reads both PDUs' residual flags alike");

static void take_status(struct tl_task *task, const uint8_t *h, uint8_t op)
{
	task->has_status = 1;
	if (op == TOELESS_ISCSI_OP_DATA_IN)
		task->status_datain = 1;
	else
		task->response = h[2];
	task->scsi_status = h[3];
	task->residual = toeless_bhs_residual(h);
	if (toeless_bhs_flags(h) & TOELESS_ISCSI_RSP_UNDERFLOW)
		task->cflags |= TOELESS_CQE_F_UNDERFLOW;
	if (toeless_bhs_flags(h) & TOELESS_ISCSI_RSP_OVERFLOW)
		task->cflags |= TOELESS_CQE_F_OVERFLOW;
}

/* The whole PDU is in: verify the data digest, account the placement, and
 * finish the task if this PDU ends it. */
static int finish_pdu(toeless_ctx *ctx, struct toeless_pdu *pdu)
{
	struct tl_rx_state *rx = &ctx->rx;
	const uint8_t *h = rx->bhs;
	uint8_t op = toeless_bhs_opcode(h);
	struct tl_task *task = rx->task;
	int err = rx->pdu_err == -ECANCELED ? 0 : rx->pdu_err;

	/* the data phase is over: finishing the task below must not detach */
	rx->phase = TL_RX_BHS;

	fill_pdu_header(ctx, pdu);
	if (rx->data_len && rx->trailer_len) {
		pdu->data_digest = judge_data_digest(ctx);
		if (pdu->data_digest == TOELESS_DIGEST_BAD && !err)
			err = -EBADMSG;
	}
	if (task) {
		/* task is set for a Data-In or a SCSI Response only */
		bool data_in = op == TOELESS_ISCSI_OP_DATA_IN;
		if (data_in && !rx->discard && rx->data_len) {
			int rc = account_placement(ctx, task, pdu);
			if (rc && !err)
				err = rc;
		}
		pdu->user_data = task->user_data;
		if (pdu->data_digest > task->worst_digest)
			task->worst_digest = pdu->data_digest;
		if (!data_in || (toeless_bhs_flags(h) & TOELESS_ISCSI_DATAIN_STATUS)) {
			take_status(task, h, op);
			int32_t st;
			if (data_in) {
				if (err && task->status == 0)
					task->status = err;
				st = task->status;
			} else {
				st = err ? err : (task->response ? -EIO : 0);
			}
			tl_task_finish(ctx, task, st);
			pdu->flags |= TOELESS_PDU_F_TASK_DONE;
		} else if (err && task->status == 0) {
			task->status = err;
		}
	}
	if (!(pdu->flags & TOELESS_PDU_F_PLACED) && rx->data_len && !rx->discard) {
		pdu->data = rx->buf;
		TL_STAT_ADD(&ctx->stats, bytes_slow_path, rx->data_len);
	}
	return err;
}

/* Reset for the next PDU; lookahead bytes already in rx->hdr are kept. */
static void next_pdu(toeless_ctx *ctx)
{
	struct tl_rx_state *rx = &ctx->rx;
	rx->phase = TL_RX_BHS;
	rx->pdu_pos += rx->hdr_len + rx->seg_len + rx->trailer_len;
	rx->hdr_len = 0;
	rx->task = NULL;
	TL_STAT_INC(&ctx->stats, pdus_rx);
}

int toeless_pdu_recv(toeless_ctx *ctx, struct toeless_pdu *pdu)
{
	if (!ctx || !pdu)
		return -EINVAL;
	if (ctx->failed)
		return -ENOTCONN;
	tl_ctx_progress(ctx);

	struct tl_rx_state *rx = &ctx->rx;
	int rc;
	if (rx->phase != TL_RX_DATA) {
		rc = read_header(ctx);
		if (rc < 0)
			goto read_error;
		rc = start_pdu(ctx);
		if (rc < 0) {
			/* deliver the header so the caller sees what was wrong;
			 * it is a PDU delivered, and counted as one */
			fill_pdu_header(ctx, pdu);
			pdu->status = rc;
			TL_STAT_INC(&ctx->stats, pdus_rx);
			rx_fail(ctx, rc);
			return rc;
		}
		if (rc == 0) {
			rc = finish_pdu(ctx, pdu);
			next_pdu(ctx);
			pdu->status = rc;
			return rc;
		}
	}
	rc = read_data(ctx);
	if (rc < 0)
		goto read_error;
	rc = finish_pdu(ctx, pdu);
	next_pdu(ctx);
	pdu->status = rc;
	return rc;

read_error:
	if (rc != -EAGAIN)
		rx_fail(ctx, rc);
	else if (ctx->rcvlowat)
		rx_lowat_update(ctx);
	return rc;
}
