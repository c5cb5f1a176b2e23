/*
 * Connection contexts: creation and parameter checks, parameter changes,
 * progress, failure and teardown.  What happens to a posted SGL (offer to
 * the engine, finish, release, completion) is lib/sgl.c's.
 *
 * SPDX-License-Identifier: MIT
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "toeless_int.h"

static int params_check(const toeless_device *dev, const struct toeless_ctx_params *in, struct toeless_ctx_params *out)
{
	if (!in)
		return -EINVAL;
	*out = *in;
	/* a parameter this library does not know: refuse rather than ignore */
	for (size_t i = 0; i < sizeof(out->reserved) / sizeof(out->reserved[0]); i++)
		if (out->reserved[i])
			return -EINVAL;
	if (out->flags & ~(uint32_t)(TOELESS_CTX_HEADER_DIGEST | TOELESS_CTX_DATA_DIGEST))
		return -EINVAL;
	if (out->max_recv_dsl == 0)
		out->max_recv_dsl = TL_DEFAULT_RECV_DSL;
	/* RFC 7143: MaxRecvDataSegmentLength is 512 .. 2^24-1 */
	if (out->max_recv_dsl < 512 || out->max_recv_dsl > TOELESS_ISCSI_MAX_DSL ||
	    out->max_recv_dsl > dev->caps.max_recv_dsl)
		return -EINVAL;
	if (out->max_send_dsl > TOELESS_ISCSI_MAX_DSL)
		return -EINVAL;
	return 0;
}

static int socket_check(toeless_ctx *ctx, int fd)
{
	int type = 0, domain = 0, proto = 0;
	socklen_t len = sizeof(type);
	if (fd < 0 || getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0 || type != SOCK_STREAM)
		return -EINVAL;
	len = sizeof(domain);
	if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) != 0)
		return -EINVAL;
	len = sizeof(proto);
	if (getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &proto, &len) != 0)
		proto = 0;
	ctx->is_tcp = (domain == AF_INET || domain == AF_INET6) && proto == IPPROTO_TCP;
	return 0;
}

int toeless_ctx_create(toeless_device *dev, const struct toeless_ctx_attr *attr, toeless_ctx **out)
{
	if (!dev || !attr || !out)
		return -EINVAL;
	struct toeless_ctx_attr a;
	int rc = tl_attr_copy(&a, sizeof(a), attr);
	if (rc)
		return rc;
	if (!a.cq || a.cq->dev != dev)
		return -EINVAL;
	/* line-aligned: its layout is by cache line (toeless_int.h) */
	toeless_ctx *ctx = aligned_alloc(64, sizeof(*ctx));
	if (!ctx)
		return -ENOMEM;
	memset(ctx, 0, sizeof(*ctx));
	ctx->dev = dev;
	ctx->cq = a.cq;
	ctx->fd = a.fd;
	ctx->user_data = a.user_data;
	ctx->stats.size = sizeof(ctx->stats);
	if ((rc = socket_check(ctx, a.fd)) || (rc = params_check(dev, &a.params, &ctx->params)))
		goto fail_free;
	if (a.max_tasks == 0)
		a.max_tasks = TL_DEFAULT_MAX_TASKS < dev->caps.max_tasks ? TL_DEFAULT_MAX_TASKS : dev->caps.max_tasks;
	if (a.max_tasks > dev->caps.max_tasks) {
		rc = -EINVAL;
		goto fail_free;
	}
	/* the direct table: a power of two, no larger than max_tasks needs */
	uint32_t direct = 0;
	if (a.itt_slots) {
		uint64_t lim = 1;
		while (lim < a.max_tasks)
			lim *= 2;
		if (a.itt_slots > lim || a.itt_slots > TL_DIRECT_MAX) {
			rc = -EINVAL;
			goto fail_free;
		}
		for (direct = 1; direct < a.itt_slots; direct *= 2)
			;
	}
	if (a.flags & ~(uint32_t)TOELESS_CTX_RCVLOWAT) {
		rc = -EINVAL;
		goto fail_free;
	}
	/* only TCP's poll readiness follows SO_RCVLOWAT */
	ctx->rcvlowat = (a.flags & TOELESS_CTX_RCVLOWAT) != 0 && ctx->is_tcp;

	pthread_mutex_lock(&dev->lock);
	if (dev->n_ctx >= dev->caps.max_contexts) {
		pthread_mutex_unlock(&dev->lock);
		rc = -ENOSPC;
		goto fail_free;
	}
	dev->n_ctx++; /* claimed now so concurrent creates honour the limit */
	pthread_mutex_unlock(&dev->lock);

	if ((rc = tl_tasks_init(&ctx->tasks, a.max_tasks, direct)))
		goto fail_unclaim;
	tl_rx_init(&ctx->rx, a.stream_pos);
	if ((rc = tl_rx_alloc(ctx)))
		goto fail_tasks;
	if ((rc = tl_cq_reserve(ctx->cq, 1)))
		goto fail_rx;
	ctx->error_reserved = true;

	/* An engine that cannot take this connection is a normal outcome: the
	 * software path serves it. */
	if (!tl_device_failed(dev)) {
		struct toeless_backend_ctx_info info = {
			.size = sizeof(info),
			.fd = a.fd,
			.params = ctx->params,
			.max_tasks = a.max_tasks,
			.stream_pos = a.stream_pos,
		};
		int brc = dev->ops->ctx_create(dev->priv, ctx, &info, &ctx->priv);
		if (brc == 0)
			ctx->engine = true;
		else if (dev->backend_ops->ctx_create)
			tl_log(dev, TOELESS_LOG_INFO, "engine declined context (%s): software path",
			       toeless_strerror(brc));
	}
	if (ctx->rcvlowat)
		tl_rx_lowat_prepare(ctx);
	tl_cq_bind(ctx->cq);
	tl_device_ctx_added(dev, ctx);
	*out = ctx;
	return 0;

fail_rx:
	tl_rx_free(ctx);
fail_tasks:
	tl_tasks_fini(&ctx->tasks);
fail_unclaim:
	pthread_mutex_lock(&dev->lock);
	dev->n_ctx--;
	pthread_mutex_unlock(&dev->lock);
fail_free:
	free(ctx);
	return rc;
}

void tl_ctx_fail(toeless_ctx *ctx, int err)
{
	if (ctx->failed)
		return;
	ctx->failed = err;
	tl_log(ctx->dev, TOELESS_LOG_WARN, "context failed: %s", toeless_strerror(err));
	if (ctx->error_reserved) {
		struct toeless_completion c = {
			.type = TOELESS_CQE_ERROR,
			.status = err,
			.user_data = ctx->user_data,
			.ctx = ctx,
		};
		ctx->error_reserved = false;
		tl_cq_push(ctx->cq, &c);
	}
}

int toeless_ctx_destroy(toeless_ctx *ctx)
{
	if (!ctx)
		return -EINVAL;
	toeless_device *dev = ctx->dev;
	tl_sgl_release_all(ctx);
	if (ctx->engine)
		dev->ops->ctx_destroy(ctx->priv);
	if (ctx->rx.lowat) {
		/* the socket stays the caller's: give it back as it was */
		int one = 1;
		(void)setsockopt(ctx->fd, SOL_SOCKET, SO_RCVLOWAT, &one, sizeof(one));
	}
	if (ctx->error_reserved)
		tl_cq_unreserve(ctx->cq, 1);
	tl_cq_unbind(ctx->cq);
	tl_device_ctx_removed(dev, ctx);
	tl_tasks_fini(&ctx->tasks);
	tl_rx_free(ctx);
	tl_tx_free(ctx);
	pthread_mutex_lock(&dev->lock);
	dev->n_ctx--;
	pthread_mutex_unlock(&dev->lock);
	free(ctx);
	return 0;
}

int toeless_ctx_set_params(toeless_ctx *ctx, const struct toeless_ctx_params *params)
{
	if (!ctx || !params)
		return -EINVAL;
	struct toeless_ctx_params p;
	int rc = params_check(ctx->dev, params, &p);
	if (rc)
		return rc;
	if (ctx->failed)
		return -ENOTCONN;
	if (!tl_rx_can_switch(ctx, p.flags) || ctx->tx.pending)
		return -EBUSY;
	struct toeless_ctx_params old = ctx->params;
	ctx->params = p;
	if ((rc = tl_rx_alloc(ctx))) {
		ctx->params = old;
		return rc;
	}
	if (tl_engine_usable(ctx)) {
		const struct toeless_backend_ops *ops = ctx->dev->ops;
		/* an engine that is not told about new digests would check the
		 * wrong ones: without the op it cannot follow either */
		int brc = ops->ctx_set_params(ctx->priv, &p, ctx->rx.pdu_pos);
		if (brc != 0) {
			if (ctx->tasks.count && !tl_device_failed(ctx->dev)) {
				/* it may still hold SGLs: it cannot be dropped now
				 * (a failed device holds nothing) */
				ctx->params = old;
				return -EBUSY;
			}
			tl_log(ctx->dev, TOELESS_LOG_INFO, "engine cannot follow new parameters (%s): software path",
			       toeless_strerror(brc));
			ctx->engine = false;
			ops->ctx_destroy(ctx->priv);
			ctx->priv = NULL;
		}
	}
	return 0;
}

int toeless_ctx_progress(toeless_ctx *ctx)
{
	if (!ctx)
		return -EINVAL;
	tl_ctx_progress(ctx);
	return (int)ctx->releasing;
}

uint64_t toeless_ctx_user_data(const toeless_ctx *ctx)
{
	return ctx ? ctx->user_data : 0;
}

int toeless_ctx_stats(toeless_ctx *ctx, struct toeless_stats *stats)
{
	if (!ctx || !stats)
		return -EINVAL;
	return tl_stats_export(&ctx->stats, stats);
}
