/*
 * Connection contexts, SGL post/cancel, and the task release flow.
 *
 * A task's life: POSTED (buffers lent to the library) -> finished by the
 * final Data-In, a SCSI Response, a cancel or destroy -> RELEASING while the
 * engine still holds the SGL -> completed on the CQ and removed, the ITT free
 * again.  The CQ slot for the completion is reserved at post time, so a
 * completion can never be lost to a full queue or a failed allocation.
 *
 * SPDX-License-Identifier: MIT
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>

#include "toeless_int.h"

/* How long destroy waits for an engine to release SGLs before it declares
 * the device failed (a device that holds buffers forever is broken). */
#define TL_RELEASE_TIMEOUT_MS 5000

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

static bool engine_usable(const toeless_ctx *ctx)
{
	return ctx->engine && !tl_device_failed(ctx->dev);
}

/* Length of the leading range [0, n) placed with no hole. */
static uint64_t task_valid_prefix(const struct tl_task *task)
{
	return task->nranges && task->ranges[0].lo == 0 ? task->ranges[0].hi : 0;
}

/*
 * A good status is a promise about the data: exactly the first E bytes of
 * the transfer, E = SGL length - residual under underflow, else the SGL
 * length.  The library knows which ranges were placed, so it holds the
 * target to it here, for every initiator: a hole, extra bytes past E or a
 * missing tail must not look like success (toeless.h, struct
 * toeless_completion).  Only statuses that promise data are judged.
 */
static int32_t task_judge_data(const struct tl_task *task)
{
	if (task->status || !task->has_status || task->response)
		return task->status;
	if (task->scsi_status != TOELESS_ISCSI_SCSI_GOOD && !task->status_datain)
		return 0;
	uint64_t want = task->total;
	if (task->cflags & TOELESS_CQE_F_UNDERFLOW)
		want = task->residual >= task->total ? 0 : task->total - task->residual;
	bool exact = want == 0 ? task->nranges == 0
			       : task->nranges == 1 && task->ranges[0].lo == 0 && task->ranges[0].hi == want;
	return exact ? 0 : -ENODATA;
}

static void task_complete(toeless_ctx *ctx, struct tl_task *task)
{
	struct toeless_completion c = {
		.type = TOELESS_CQE_SGL,
		.status = task->status,
		.user_data = task->user_data,
		.ctx = ctx,
		.itt = task->itt,
		.flags = task->cflags,
		.bytes_placed = task->bytes_placed,
		.bytes_engine = task->bytes_engine,
		.residual = task->residual,
		.scsi_status = task->scsi_status,
		.response = task->response,
		.data_digest = task->worst_digest,
		.bytes_valid = task_valid_prefix(task),
	};
	if (c.status == 0 && (c.status = task_judge_data(task)) != 0)
		tl_log(ctx->dev, TOELESS_LOG_WARN,
		       "ITT 0x%08x: good status but placed bytes are not [0, SGL length%s): %llu of %llu leading bytes "
		       "valid, %llu placed in %u ranges",
		       task->itt, (task->cflags & TOELESS_CQE_F_UNDERFLOW) ? " - residual" : "",
		       (unsigned long long)c.bytes_valid, (unsigned long long)task->total,
		       (unsigned long long)task->bytes_placed, task->nranges);
	if (task->has_status)
		c.flags |= TOELESS_CQE_F_SCSI_STATUS;
	if (task->bytes_engine)
		c.flags |= TOELESS_CQE_F_ENGINE;
	if (task->mrs) {
		for (int i = 0; i < task->iovcnt; i++)
			if (task->mrs[i])
				tl_mr_put(task->mrs[i]);
	}
	if (c.status == 0)
		TL_STAT_INC(&ctx->stats, sgl_completed);
	else if (c.status == -ECANCELED)
		TL_STAT_INC(&ctx->stats, sgl_cancelled);
	else
		TL_STAT_INC(&ctx->stats, sgl_failed);
	tl_task_remove(&ctx->tasks, task);
	tl_cq_push(ctx->cq, &c);
}

void tl_task_finish(toeless_ctx *ctx, struct tl_task *task, int32_t status)
{
	if (task->state != TL_TASK_POSTED)
		return;
	if (task->status == 0)
		task->status = status;
	task->state = TL_TASK_RELEASING;
	tl_rx_detach_task(ctx, task);
	if (task->engine_owned && engine_usable(ctx)) {
		if (ctx->dev->ops->sgl_release(ctx->priv, task->itt) == 1) {
			ctx->releasing++;
			return;
		}
	}
	task_complete(ctx, task);
}

void toeless_backend_count_anomaly(toeless_ctx *ctx)
{
	if (ctx)
		TL_STAT_INC(&ctx->stats, engine_anomalies);
}

void toeless_backend_sgl_released(toeless_ctx *ctx, uint32_t itt)
{
	if (!ctx)
		return;
	struct tl_task *task = tl_task_find(&ctx->tasks, itt);
	if (!task || task->state != TL_TASK_RELEASING || !task->engine_owned) {
		/* a duplicate or a release for something the engine never held */
		TL_STAT_INC(&ctx->stats, engine_anomalies);
		tl_log(ctx->dev, TOELESS_LOG_WARN, "engine released ITT 0x%08x it does not hold: ignored", itt);
		return;
	}
	ctx->releasing--;
	task->engine_owned = 0;
	task_complete(ctx, task);
}

/* After a device failure nothing will release what the engine held. */
static void complete_orphaned_releases(toeless_ctx *ctx)
{
	struct tl_task_table *t = &ctx->tasks;
	for (uint32_t i = 0; i < tl_tasks_span(t) && ctx->releasing; i++) {
		struct tl_task *task = tl_task_at(t, i);
		if (task && task->state == TL_TASK_RELEASING) {
			ctx->releasing--;
			task_complete(ctx, task);
			i--; /* backward shift may have moved another task into slot i */
		}
	}
}

void tl_ctx_progress(toeless_ctx *ctx)
{
	if (!ctx->engine)
		return;
	if (tl_device_failed(ctx->dev)) {
		if (ctx->releasing)
			complete_orphaned_releases(ctx);
		return;
	}
	ctx->dev->ops->ctx_progress(ctx->priv);
	if (tl_device_failed(ctx->dev) && ctx->releasing)
		complete_orphaned_releases(ctx);
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

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

int toeless_ctx_destroy(toeless_ctx *ctx)
{
	if (!ctx)
		return -EINVAL;
	toeless_device *dev = ctx->dev;
	struct tl_task_table *t = &ctx->tasks;
	for (uint32_t i = 0; i < tl_tasks_span(t); i++) {
		struct tl_task *task = tl_task_at(t, i);
		if (task && task->state == TL_TASK_POSTED) {
			uint32_t before = t->count;
			tl_task_finish(ctx, task, -ECANCELED);
			if (t->count != before)
				i--; /* removed: slot i may now hold a shifted task */
		}
	}
	for (long waited = 0; ctx->releasing; waited++) {
		tl_ctx_progress(ctx);
		if (!ctx->releasing)
			break;
		if (waited >= TL_RELEASE_TIMEOUT_MS) {
			tl_log(dev, TOELESS_LOG_ERR, "engine kept %u SGLs past %d ms: device declared failed",
			       ctx->releasing, TL_RELEASE_TIMEOUT_MS);
			toeless_backend_device_error(dev, -ETIMEDOUT);
			complete_orphaned_releases(ctx);
			break;
		}
		sleep_ms(1);
	}
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
	if (engine_usable(ctx)) {
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

/* Offer the SGL to the engine; on any refusal software places it. */
static void offer_to_engine(toeless_ctx *ctx, struct tl_task *task)
{
	toeless_device *dev = ctx->dev;
	struct toeless_backend_sge stack_sges[8];
	struct toeless_backend_sge *sges = stack_sges;
	int n = task->iovcnt;
	bool all_registered = true;

	if (n > 8 && !(sges = malloc(sizeof(*sges) * (size_t)n)))
		return;
	task->mrs = calloc((size_t)n, sizeof(*task->mrs));
	if (!task->mrs)
		goto out;
	for (int i = 0; i < n; i++) {
		toeless_mr *mr = tl_mr_get(dev, task->iov[i].iov_base, task->iov[i].iov_len);
		task->mrs[i] = mr;
		sges[i].addr = task->iov[i].iov_base;
		sges[i].len = task->iov[i].iov_len;
		sges[i].mr_priv = mr ? mr->priv : NULL;
		sges[i].mr_offset = mr ? (size_t)((uint8_t *)task->iov[i].iov_base - mr->addr) : 0;
		all_registered &= mr != NULL;
	}
	int rc = -EOPNOTSUPP;
	if (all_registered || !(dev->caps.flags & TOELESS_CAP_DDP_NEEDS_REG))
		rc = dev->ops->sgl_post(ctx->priv, task->itt, sges, n);
	if (rc == 0) {
		task->engine_owned = 1;
	} else {
		if (rc == -ENOSPC)
			TL_STAT_INC(&ctx->stats, engine_post_full);
		for (int i = 0; i < n; i++)
			if (task->mrs[i])
				tl_mr_put(task->mrs[i]);
		free(task->mrs);
		task->mrs = NULL;
	}
out:
	if (sges != stack_sges)
		free(sges);
}

int toeless_sgl_post(toeless_ctx *ctx, uint32_t itt, const struct iovec *iov, int iovcnt, uint64_t user_data)
{
	if (!ctx || !iov || iovcnt <= 0 || itt == TOELESS_ISCSI_RESERVED_TAG)
		return -EINVAL;
	for (int i = 0; i < iovcnt; i++)
		if (!iov[i].iov_base || iov[i].iov_len == 0)
			return -EINVAL;
	if ((uint32_t)iovcnt > ctx->dev->caps.max_sge)
		return -E2BIG;
	if (ctx->failed)
		return -ENOTCONN;
	tl_ctx_progress(ctx);

	int rc = tl_cq_reserve(ctx->cq, 1);
	if (rc)
		return rc;
	struct tl_task *task;
	if ((rc = tl_task_add(&ctx->tasks, itt, iov, iovcnt, &task))) {
		tl_cq_unreserve(ctx->cq, 1);
		return rc;
	}
	task->user_data = user_data;
	if (engine_usable(ctx) && ctx->dev->offers_sgls)
		offer_to_engine(ctx, task);
	TL_STAT_INC(&ctx->stats, sgl_posted);
	return 0;
}

int toeless_sgl_cancel(toeless_ctx *ctx, uint32_t itt)
{
	if (!ctx)
		return -EINVAL;
	tl_ctx_progress(ctx);
	struct tl_task *task = tl_task_find(&ctx->tasks, itt);
	if (!task || task->state != TL_TASK_POSTED)
		return -ENOENT;
	tl_task_finish(ctx, task, -ECANCELED);
	return 0;
}
