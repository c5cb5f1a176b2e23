/*
 * Completion queues: a ring of completions plus an eventfd that is readable
 * while the ring holds entries, and the bookkeeping of asynchronous CRC
 * requests delivered to the queue.
 *
 * Producers (contexts on any thread, backends through
 * toeless_backend_crc_done()) reserve room before they start work that will
 * complete, so a push never fails: a completion is never dropped because
 * the queue was full.  The ring grows instead; its depth is only the initial
 * size.  One mutex per queue; contexts on different queues share nothing.
 *
 * The eventfd is written once when the ring goes from empty to non-empty
 * and read (cleared) when a poll empties it, so it is readable exactly while
 * completions wait, for level-triggered epoll and uv_poll alike.  A queue
 * created with TOELESS_CQ_POLLED has no eventfd: its caller polls after
 * each call that can complete something, and the write and read (two
 * system calls per batch, doc/performance.md) are skipped.
 *
 * SPDX-License-Identifier: MIT
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "toeless_int.h"
#include "oahash.h"

#define TL_CQ_DEFAULT_DEPTH 1024
#define TL_CRC_TABLE_MIN    64

/* ---- ring ---- */

/* Make room for at least need entries, keeping order.  Caller holds the
 * lock.  On failure nothing changes. */
static int cq_grow(toeless_cq *cq, uint64_t need)
{
	struct toeless_completion *ring;
	uint64_t cap = cq->cap ? cq->cap : 1;
	uint32_t first;

	if (need <= cq->cap)
		return 0;
	while (cap < need)
		cap *= 2;
	if (cap > UINT32_MAX)
		return -ENOMEM;
	ring = malloc(cap * sizeof(*ring));
	if (!ring)
		return -ENOMEM;
	/* Unwrap: the oldest entry goes to index 0. */
	first = cq->cap - cq->head;
	if (first > cq->count)
		first = cq->count;
	memcpy(ring, cq->ring + cq->head, first * sizeof(*ring));
	memcpy(ring + first, cq->ring, (cq->count - first) * sizeof(*ring));
	free(cq->ring);
	cq->ring = ring;
	cq->cap = (uint32_t)cap;
	cq->head = 0;
	return 0;
}

static int cq_reserve_locked(toeless_cq *cq, uint32_t n)
{
	int rc = cq_grow(cq, (uint64_t)cq->count + cq->reserved + n);

	if (rc)
		return rc;
	cq->reserved += n;
	return 0;
}

static void cq_signal(toeless_cq *cq)
{
	uint64_t one = 1;
	ssize_t r;

	if (cq->signalled || cq->polled)
		return;
	/* Cannot fail short of a closed descriptor: the counter is 0 or 1. */
	r = write(cq->efd, &one, sizeof(one));
	(void)r;
	cq->signalled = true;
}

static void cq_push_locked(toeless_cq *cq, const struct toeless_completion *c)
{
	uint32_t tail;

	if (TL_LIKELY(cq->reserved > 0)) {
		cq->reserved--;
	} else if (cq->count + cq->reserved >= cq->cap && cq_grow(cq, (uint64_t)cq->cap + 1) != 0) {
		/* A push without a reservation is a core bug; never write
		 * past the ring for it. */
		return;
	}
	tail = cq->head + cq->count;
	if (tail >= cq->cap)
		tail -= cq->cap;
	cq->ring[tail] = *c;
	cq->count++;
	cq_signal(cq);
}

int tl_cq_reserve(toeless_cq *cq, uint32_t n)
{
	int rc;

	pthread_mutex_lock(&cq->lock);
	rc = cq_reserve_locked(cq, n);
	pthread_mutex_unlock(&cq->lock);
	return rc;
}

void tl_cq_unreserve(toeless_cq *cq, uint32_t n)
{
	pthread_mutex_lock(&cq->lock);
	cq->reserved -= n <= cq->reserved ? n : cq->reserved;
	pthread_mutex_unlock(&cq->lock);
}

void tl_cq_push(toeless_cq *cq, const struct toeless_completion *c)
{
	pthread_mutex_lock(&cq->lock);
	cq_push_locked(cq, c);
	pthread_mutex_unlock(&cq->lock);
}

void tl_cq_bind(toeless_cq *cq)
{
	pthread_mutex_lock(&cq->lock);
	cq->n_ctx++;
	pthread_mutex_unlock(&cq->lock);
}

void tl_cq_unbind(toeless_cq *cq)
{
	pthread_mutex_lock(&cq->lock);
	if (cq->n_ctx)
		cq->n_ctx--;
	pthread_mutex_unlock(&cq->lock);
}

/* ---- public ---- */

int toeless_cq_create(toeless_device *dev, const struct toeless_cq_attr *attr, toeless_cq **out)
{
	struct toeless_cq_attr a;
	toeless_cq *cq;
	int rc;

	if (!dev || !out)
		return -EINVAL;
	memset(&a, 0, sizeof(a));
	if (attr) {
		rc = tl_attr_copy(&a, sizeof(a), attr);
		if (rc)
			return rc;
	}
	if (!a.depth)
		a.depth = TL_CQ_DEFAULT_DEPTH;
	if (a.depth > dev->caps.max_cq_depth)
		return -EINVAL;
	/* pad0 is not checked: it was padding, which older callers may have
	 * left with any value */
	if ((a.flags & ~(uint32_t)TOELESS_CQ_POLLED) || a.reserved)
		return -EINVAL;

	cq = calloc(1, sizeof(*cq));
	if (!cq)
		return -ENOMEM;
	cq->dev = dev;
	cq->crc_next_id = 1;
	cq->ring = malloc((size_t)a.depth * sizeof(*cq->ring));
	if (!cq->ring) {
		rc = -ENOMEM;
		goto err_free;
	}
	cq->cap = a.depth;
	cq->polled = (a.flags & TOELESS_CQ_POLLED) != 0;
	cq->efd = -1;
	if (!cq->polled && (cq->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0) {
		rc = -errno;
		goto err_free;
	}
	rc = -pthread_mutex_init(&cq->lock, NULL);
	if (rc)
		goto err_close;

	pthread_mutex_lock(&dev->lock);
	dev->n_cq++;
	pthread_mutex_unlock(&dev->lock);
	*out = cq;
	return 0;

err_close:
	if (cq->efd >= 0)
		close(cq->efd);
err_free:
	free(cq->ring);
	free(cq);
	return rc;
}

int toeless_cq_destroy(toeless_cq *cq)
{
	toeless_device *dev;

	if (!cq)
		return -EINVAL;
	pthread_mutex_lock(&cq->lock);
	/* Outstanding CRC requests may still be completed by the engine:
	 * their slots and ids must stay valid. */
	if (cq->n_ctx || cq->crc_count) {
		pthread_mutex_unlock(&cq->lock);
		return -EBUSY;
	}
	pthread_mutex_unlock(&cq->lock);

	dev = cq->dev;
	pthread_mutex_lock(&dev->lock);
	dev->n_cq--;
	pthread_mutex_unlock(&dev->lock);
	if (cq->efd >= 0)
		close(cq->efd);
	pthread_mutex_destroy(&cq->lock);
	free(cq->crc);
	free(cq->ring);
	free(cq);
	return 0;
}

int toeless_cq_fd(toeless_cq *cq)
{
	if (!cq)
		return -EINVAL;
	return cq->polled ? -EOPNOTSUPP : cq->efd;
}

int toeless_cq_poll(toeless_cq *cq, struct toeless_completion *out, int max)
{
	toeless_device *dev;
	uint32_t n, first;

	if (!cq || !out || max <= 0)
		return -EINVAL;
	dev = cq->dev;
	/* Reap engine completions first (outside our lock: the backend
	 * delivers them through toeless_backend_crc_done()). */
	if (!tl_device_failed(dev))
		dev->ops->progress(dev->priv);

	pthread_mutex_lock(&cq->lock);
	n = cq->count < (uint32_t)max ? cq->count : (uint32_t)max;
	first = cq->cap - cq->head;
	if (first > n)
		first = n;
	memcpy(out, cq->ring + cq->head, first * sizeof(*out));
	memcpy(out + first, cq->ring, (n - first) * sizeof(*out));
	cq->head += n;
	if (cq->head >= cq->cap)
		cq->head -= cq->cap;
	cq->count -= n;
	if (cq->count == 0) {
		cq->head = 0;
		if (cq->signalled) {
			uint64_t v;
			ssize_t r = read(cq->efd, &v, sizeof(v));

			(void)r;
			cq->signalled = false;
		}
	}
	pthread_mutex_unlock(&cq->lock);
	return (int)n;
}

/* ---- asynchronous CRC bookkeeping ---- */

/* Ids are handed out in sequence, so the low bits are already spread and
 * consecutive requests land in consecutive slots: the id is its own hash. */
static bool crc_slot_empty(const void *slot)
{
	return !((const struct tl_crc_pending *)slot)->id;
}

static uint32_t crc_slot_hash(const void *slot)
{
	return (uint32_t)((const struct tl_crc_pending *)slot)->id;
}

static void crc_insert(toeless_cq *cq, uint64_t id, uint64_t user_data)
{
	uint32_t i = tl_oa_free_slot(cq->crc, sizeof(*cq->crc), cq->crc_mask, (uint32_t)id, crc_slot_empty);

	cq->crc[i].id = id;
	cq->crc[i].user_data = user_data;
}

/* Keep the table at most half full for n more entries. */
static int crc_table_reserve(toeless_cq *cq, uint32_t n)
{
	uint64_t need = ((uint64_t)cq->crc_count + n) * 2;
	uint64_t size = cq->crc ? (uint64_t)cq->crc_mask + 1 : 0;
	struct tl_crc_pending *old = cq->crc;
	uint32_t old_size = (uint32_t)size;

	if (need <= size)
		return 0;
	if (size < TL_CRC_TABLE_MIN)
		size = TL_CRC_TABLE_MIN;
	while (size < need)
		size *= 2;
	if (size > (1ull << 31))
		return -ENOMEM;
	cq->crc = calloc(size, sizeof(*cq->crc));
	if (!cq->crc) {
		cq->crc = old;
		return -ENOMEM;
	}
	cq->crc_mask = (uint32_t)size - 1;
	tl_oa_rehash(cq->crc, cq->crc_mask, old, old_size - 1, sizeof(*old), crc_slot_empty, crc_slot_hash);
	free(old);
	return 0;
}

/* Remove id; true and *user_data when it was outstanding. */
static bool crc_remove(toeless_cq *cq, uint64_t id, uint64_t *user_data)
{
	uint32_t i;

	if (!cq->crc || !id)
		return false;
	for (i = (uint32_t)id & cq->crc_mask; cq->crc[i].id != id; i = (i + 1) & cq->crc_mask)
		if (!cq->crc[i].id)
			return false;
	if (user_data)
		*user_data = cq->crc[i].user_data;
	tl_oa_remove(cq->crc, sizeof(*cq->crc), cq->crc_mask, i, crc_slot_empty, crc_slot_hash);
	cq->crc_count--;
	return true;
}

int tl_cq_crc_begin(toeless_cq *cq, const struct toeless_crc_req *reqs, int n, uint64_t *first_id)
{
	int rc;

	if (n <= 0)
		return -EINVAL;
	pthread_mutex_lock(&cq->lock);
	rc = crc_table_reserve(cq, (uint32_t)n);
	if (!rc)
		rc = cq_reserve_locked(cq, (uint32_t)n);
	if (!rc) {
		*first_id = cq->crc_next_id;
		for (int i = 0; i < n; i++)
			crc_insert(cq, cq->crc_next_id++, reqs[i].user_data);
		cq->crc_count += (uint32_t)n;
	}
	pthread_mutex_unlock(&cq->lock);
	return rc;
}

void tl_cq_crc_abort(toeless_cq *cq, uint64_t first_id, int n)
{
	uint32_t found = 0;

	pthread_mutex_lock(&cq->lock);
	for (int i = 0; i < n; i++)
		if (crc_remove(cq, first_id + (uint64_t)i, NULL))
			found++;
	cq->reserved -= found <= cq->reserved ? found : cq->reserved;
	pthread_mutex_unlock(&cq->lock);
}

void toeless_backend_crc_done(toeless_cq *cq, uint64_t id, uint32_t crc, int status)
{
	toeless_device *dev;
	uint64_t user_data = 0;
	bool known;

	if (!cq)
		return;
	dev = cq->dev;
	pthread_mutex_lock(&cq->lock);
	known = crc_remove(cq, id, &user_data);
	if (known) {
		struct toeless_completion c;

		memset(&c, 0, sizeof(c));
		c.type = TOELESS_CQE_CRC;
		c.status = status > 0 ? -status : status;
		c.user_data = user_data;
		c.crc = crc;
		cq_push_locked(cq, &c);
	} else {
		cq->crc_anomalies++;
	}
	pthread_mutex_unlock(&cq->lock);

	/* Device counters after the queue lock: the two are never nested. */
	pthread_mutex_lock(&dev->lock);
	if (known)
		TL_STAT_INC(&dev->retired, crc_requests);
	else
		TL_STAT_INC(&dev->retired, engine_anomalies);
	pthread_mutex_unlock(&dev->lock);
	if (!known)
		tl_log(dev, TOELESS_LOG_WARN, "%s: CRC completion for unknown request %llu ignored", dev->caps.backend,
		       (unsigned long long)id);
}
