/*
 * The life of a posted SGL: post and offer to the engine, finish (final
 * Data-In, SCSI Response, cancel, destroy), release by the engine, and the
 * one completion on the CQ.
 *
 * A task's life: POSTED (buffers lent to the library) -> finished -> RELEASING
 * while the engine still holds the SGL -> completed on the CQ and removed, the
 * ITT free again.  The CQ slot for the completion is reserved at post time, so
 * a completion can never be lost to a full queue or a failed allocation.
 *
 * SPDX-License-Identifier: MIT
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include "toeless_int.h"

/* How long destroy waits for an engine to release SGLs before it declares
 * the device failed (a device that holds buffers forever is broken). */
#define TL_RELEASE_TIMEOUT_MS 5000

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
	if (task->engine_owned && tl_engine_usable(ctx)) {
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

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

void tl_sgl_release_all(toeless_ctx *ctx)
{
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
			tl_log(ctx->dev, TOELESS_LOG_ERR, "engine kept %u SGLs past %d ms: device declared failed",
			       ctx->releasing, TL_RELEASE_TIMEOUT_MS);
			toeless_backend_device_error(ctx->dev, -ETIMEDOUT);
			complete_orphaned_releases(ctx);
			break;
		}
		sleep_ms(1);
	}
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
	if (tl_engine_usable(ctx) && ctx->dev->offers_sgls)
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
