/*
 * Default ops: the core fills every optional op an engine leaves NULL with
 * one of these when the device is opened (as rdma-core gives providers
 * dummy verbs), so the call sites never test for NULL.  Each default does
 * exactly what include/toeless_backend.h ("Optional ops") documents for a
 * NULL op: nothing is offloaded and the software path takes the work.
 *
 * SPDX-License-Identifier: MIT
 */
#include "config.h"

#include <errno.h>

#include "toeless_int.h"

/* Accepted, but the engine cannot reach it: SGEs carry mr_priv NULL. */
static int def_mr_reg(void *dev_priv, void *addr, size_t len, void **mr_priv)
{
	(void)dev_priv, (void)addr, (void)len;
	*mr_priv = NULL;
	return 0;
}

static void def_mr_dereg(void *dev_priv, void *mr_priv)
{
	(void)dev_priv, (void)mr_priv;
}

/* -EOPNOTSUPP: every context is served in software, so no other ctx_ op
 * is ever called (the core does not log this expected refusal). */
static int def_ctx_create(void *dev_priv, toeless_ctx *ctx, const struct toeless_backend_ctx_info *info,
			  void **ctx_priv)
{
	(void)dev_priv, (void)ctx, (void)info, (void)ctx_priv;
	return -EOPNOTSUPP;
}

static void def_ctx_destroy(void *ctx_priv)
{
	(void)ctx_priv;
}

/* An engine that is not told about new digests would check the wrong
 * ones: it cannot follow, and is dropped for this context. */
static int def_ctx_set_params(void *ctx_priv, const struct toeless_ctx_params *params, uint64_t stream_pos)
{
	(void)ctx_priv, (void)params, (void)stream_pos;
	return -EOPNOTSUPP;
}

static void def_ctx_progress(void *ctx_priv)
{
	(void)ctx_priv;
}

/* Never called: without sgl_post the core offers no SGL (tl_ops_fill
 * tells the device); there only for a complete table. */
static int def_sgl_post(void *ctx_priv, uint32_t itt, const struct toeless_backend_sge *sges, int n)
{
	(void)ctx_priv, (void)itt, (void)sges, (void)n;
	return -EOPNOTSUPP;
}

/* Released at once. */
static int def_sgl_release(void *ctx_priv, uint32_t itt)
{
	(void)ctx_priv, (void)itt;
	return 0;
}

/* No record: software places and checks every PDU. */
static int def_rx_pdu(void *ctx_priv, const struct toeless_rx_query *q, struct toeless_rx_record *rec)
{
	(void)ctx_priv, (void)q, (void)rec;
	return -ENOENT;
}

static void def_rx_resync_reply(void *ctx_priv, uint64_t pos, int is_header)
{
	(void)ctx_priv, (void)pos, (void)is_header;
}

/* Computed on the host and completed at once. */
static int def_crc_submit(void *dev_priv, toeless_cq *cq, const struct toeless_backend_crc *reqs, int n)
{
	(void)dev_priv;
	for (int i = 0; i < n; i++)
		toeless_backend_crc_done(cq, reqs[i].id, toeless_crc32c_iov(reqs[i].seed, reqs[i].iov, reqs[i].iovcnt),
					 0);
	return n;
}

static void def_progress(void *dev_priv)
{
	(void)dev_priv;
}

static int def_tx_pdu(void *ctx_priv, uint64_t tx_pos, uint32_t hdr_len, uint32_t data_len, uint32_t flags)
{
	(void)ctx_priv;
	(void)tx_pos;
	(void)hdr_len;
	(void)data_len;
	(void)flags;
	return -EOPNOTSUPP;
}

bool tl_ops_fill(struct toeless_backend_ops *dst, const struct toeless_backend_ops *src)
{
	bool offers_sgls = src->sgl_post != NULL;

	/* The table the core knows: the engine's, zero-extended or cut. */
	memset(dst, 0, sizeof(*dst));
	memcpy(dst, src, src->size < sizeof(*dst) ? src->size : sizeof(*dst));
	dst->size = sizeof(*dst);
	/* a registration the engine never made is never taken back */
	if (!dst->mr_reg)
		dst->mr_dereg = NULL;
#define TL_FILL(op)                                                                                                    \
	if (!dst->op)                                                                                                  \
		dst->op = def_##op;
	TL_FILL(mr_reg)
	TL_FILL(mr_dereg)
	TL_FILL(ctx_create)
	TL_FILL(ctx_destroy)
	TL_FILL(ctx_set_params)
	TL_FILL(ctx_progress)
	TL_FILL(sgl_post)
	TL_FILL(sgl_release)
	TL_FILL(rx_pdu)
	TL_FILL(rx_resync_reply)
	TL_FILL(crc_submit)
	TL_FILL(progress)
	TL_FILL(tx_pdu)
#undef TL_FILL
	return offers_sgls;
}
