/*
 * The ITT task table: posted SGLs by Initiator Task Tag.
 *
 * ITTs are chosen by the initiator and may be any 32-bit value, so lookup is
 * a hash (open addressing, linear probing, backward-shift deletion) that
 * grows with the number of tasks: memory follows what is outstanding, not
 * the configured limit.  Task structs are recycled through a free list so a
 * steady state of post/complete does not call malloc for SGLs of up to
 * TL_INLINE_SGE entries.
 *
 * An initiator whose ITTs are small integers (or carry one in their low
 * bits, like a slot index under a sequence number) can ask for a direct
 * table at context creation (toeless_ctx_attr.itt_slots): an array of
 * tasks indexed by itt & dmask, each entry confirmed by its own itt.  A
 * lookup is then one cache line, the task's own, instead of a hash slot
 * and then the task.  An ITT whose entry is taken by another outstanding
 * ITT goes to the hash instead: every 32-bit ITT still works, only slower.
 *
 * SPDX-License-Identifier: MIT
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>

#include "toeless_int.h"
#include "oahash.h"

#define TL_TABLE_MIN 16

static inline uint32_t itt_hash(uint32_t itt)
{
	/* Fibonacci hashing: initiators often use sequential ITTs, which this
	 * spreads; the top bits are the best mixed. */
	return (uint32_t)((itt * 0x9E3779B1u) ^ ((itt * 0x9E3779B1u) >> 16));
}

static bool slot_empty(const void *slot)
{
	return !((const struct tl_slot *)slot)->task;
}

static uint32_t slot_hash(const void *slot)
{
	return itt_hash(((const struct tl_slot *)slot)->itt);
}

int tl_tasks_init(struct tl_task_table *t, uint32_t max, uint32_t direct)
{
	memset(t, 0, sizeof(*t));
	if (direct & (direct - 1))
		return -EINVAL;
	t->slots = calloc(TL_TABLE_MIN, sizeof(*t->slots));
	if (!t->slots)
		return -ENOMEM;
	t->mask = TL_TABLE_MIN - 1;
	t->max = max;
	if (direct) {
		/* calloc: the pages of entries never used are never touched;
		 * one line more to align the entries on lines */
		t->direct_mem = calloc((size_t)direct * sizeof(struct tl_task) + 64, 1);
		if (!t->direct_mem) {
			free(t->slots);
			t->slots = NULL;
			return -ENOMEM;
		}
		t->direct = (struct tl_task *)(((uintptr_t)t->direct_mem + 63) & ~(uintptr_t)63);
		t->dmask = direct - 1;
	}
	return 0;
}

uint32_t tl_tasks_span(const struct tl_task_table *t)
{
	return (t->direct ? t->dmask + 1 : 0) + t->mask + 1;
}

struct tl_task *tl_task_at(const struct tl_task_table *t, uint32_t i)
{
	if (t->direct) {
		if (i <= t->dmask)
			return t->direct[i].state ? &t->direct[i] : NULL;
		i -= t->dmask + 1;
	}
	return t->slots[i].task;
}

static struct tl_task *task_alloc(void)
{
	return aligned_alloc(64, sizeof(struct tl_task));
}

static void task_free_storage(struct tl_task *task)
{
	if (task->iov != task->iov_inline)
		free(task->iov);
	if (task->ends != task->ends_inline)
		free(task->ends);
	if (task->ranges != task->range_inline)
		free(task->ranges);
	free(task->mrs);
}

void tl_tasks_fini(struct tl_task_table *t)
{
	for (uint32_t i = 0; t->direct && i <= t->dmask; i++)
		if (t->direct[i].state)
			task_free_storage(&t->direct[i]);
	free(t->direct_mem);
	for (uint32_t i = 0; t->slots && i <= t->mask; i++) {
		if (t->slots[i].task) {
			task_free_storage(t->slots[i].task);
			free(t->slots[i].task);
		}
	}
	free(t->slots);
	while (t->free) {
		struct tl_task *n = t->free->next_free;
		free(t->free);
		t->free = n;
	}
	memset(t, 0, sizeof(*t));
}

struct tl_task *tl_task_find(const struct tl_task_table *t, uint32_t itt)
{
	if (t->direct) {
		struct tl_task *d = &t->direct[itt & t->dmask];
		if (TL_LIKELY(d->state && d->itt == itt))
			return d;
		if (TL_LIKELY(!t->hcount))
			return NULL;
	}
	uint32_t i = itt_hash(itt) & t->mask;
	for (;;) {
		const struct tl_slot *s = &t->slots[i];
		if (!s->task)
			return NULL;
		if (s->itt == itt)
			return s->task;
		i = (i + 1) & t->mask;
	}
}

static void table_insert(struct tl_slot *slots, uint32_t mask, uint32_t itt, struct tl_task *task)
{
	uint32_t i = tl_oa_free_slot(slots, sizeof(*slots), mask, itt_hash(itt), slot_empty);

	slots[i].itt = itt;
	slots[i].task = task;
}

static int table_grow(struct tl_task_table *t)
{
	uint32_t nmask = t->mask * 2 + 1;
	struct tl_slot *ns = calloc((size_t)nmask + 1, sizeof(*ns));
	if (!ns)
		return -ENOMEM;
	tl_oa_rehash(ns, nmask, t->slots, t->mask, sizeof(*ns), slot_empty, slot_hash);
	free(t->slots);
	t->slots = ns;
	t->mask = nmask;
	return 0;
}

int tl_task_add(struct tl_task_table *t, uint32_t itt, const struct iovec *iov, int iovcnt, struct tl_task **out)
{
	if (tl_task_find(t, itt))
		return -EEXIST;
	if (t->count >= t->max)
		return -ENOSPC;
	struct tl_task *task = NULL;
	if (t->direct && !t->direct[itt & t->dmask].state) {
		task = &t->direct[itt & t->dmask];
	} else {
		/* keep the load factor at or below 1/2 so probes stay short */
		if ((t->hcount + 1) * 2 > t->mask + 1) {
			int rc = table_grow(t);
			if (rc)
				return rc;
		}
		task = t->free;
		if (task)
			t->free = task->next_free;
		else if (!(task = task_alloc()))
			return -ENOMEM;
	}
	bool direct = t->direct && task >= t->direct && task <= &t->direct[t->dmask];
	/* hot line and cold fields; the inline storage is written below */
	memset(task, 0, offsetof(struct tl_task, iov_inline));
	memset(&task->user_data, 0, sizeof(*task) - offsetof(struct tl_task, user_data));
	task->in_direct = direct;
	task->itt = itt;
	task->iovcnt = iovcnt;
	task->iov = task->iov_inline;
	task->ends = task->ends_inline;
	task->ranges = task->range_inline;
	task->ranges_cap = 1;
	if (iovcnt > TL_INLINE_SGE) {
		task->iov = malloc(sizeof(*task->iov) * (size_t)iovcnt);
		task->ends = malloc(sizeof(*task->ends) * (size_t)iovcnt);
		if (!task->iov || !task->ends) {
			task_free_storage(task);
			if (!direct) {
				task->next_free = t->free;
				t->free = task;
			}
			return -ENOMEM;
		}
	}
	uint64_t total = 0;
	for (int i = 0; i < iovcnt; i++) {
		task->iov[i] = iov[i];
		total += iov[i].iov_len;
		task->ends[i] = total;
	}
	task->total = total;
	task->state = TL_TASK_POSTED;
	task->worst_digest = TOELESS_DIGEST_NONE;
	if (!direct) {
		table_insert(t->slots, t->mask, itt, task);
		t->hcount++;
	}
	t->count++;
	*out = task;
	return 0;
}

void tl_task_remove(struct tl_task_table *t, struct tl_task *task)
{
	if (task->in_direct) {
		t->count--;
		task_free_storage(task);
		task->state = 0; /* the entry is free again */
		return;
	}
	uint32_t i = itt_hash(task->itt) & t->mask;
	while (t->slots[i].task != task)
		i = (i + 1) & t->mask;
	/* backward-shift deletion: no tombstones, so lookups stay O(1) */
	tl_oa_remove(t->slots, sizeof(*t->slots), t->mask, i, slot_empty, slot_hash);
	t->count--;
	t->hcount--;
	/* keep inline storage for reuse; free what was allocated for this post */
	task_free_storage(task);
	task->iov = task->iov_inline;
	task->ends = task->ends_inline;
	task->ranges = task->range_inline;
	task->mrs = NULL;
	task->next_free = t->free;
	t->free = task;
}

/* Index of the first range whose hi > lo (binary search). */
static uint32_t range_lower(const struct tl_task *task, uint64_t lo)
{
	uint32_t a = 0, b = task->nranges;
	while (a < b) {
		uint32_t m = (a + b) / 2;
		if (task->ranges[m].hi <= lo)
			a = m + 1;
		else
			b = m;
	}
	return a;
}

int tl_task_check_range(const struct tl_task *task, uint64_t lo, uint64_t hi)
{
	if (hi < lo || hi > task->total)
		return -ERANGE;
	if (lo == hi)
		return 0;
	/* fast path: in-order data extends the single range */
	if (task->nranges == 1 && task->ranges[0].lo == 0 && task->ranges[0].hi == lo)
		return 0;
	uint32_t k = range_lower(task, lo);
	if (k < task->nranges && task->ranges[k].lo < hi)
		return -EEXIST;
	return 0;
}

int tl_task_mark_range(struct tl_task *task, uint64_t lo, uint64_t hi)
{
	int rc = tl_task_check_range(task, lo, hi);
	if (rc || lo == hi)
		return rc;
	uint32_t k = range_lower(task, lo);
	/* merge with the neighbour on the left (ends exactly at lo) and/or the
	 * right (starts exactly at hi) */
	bool left = k > 0 && task->ranges[k - 1].hi == lo;
	bool right = k < task->nranges && task->ranges[k].lo == hi;
	if (left && right) {
		task->ranges[k - 1].hi = task->ranges[k].hi;
		memmove(&task->ranges[k], &task->ranges[k + 1], (task->nranges - k - 1) * sizeof(*task->ranges));
		task->nranges--;
	} else if (left) {
		task->ranges[k - 1].hi = hi;
	} else if (right) {
		task->ranges[k].lo = lo;
	} else {
		if (task->nranges == task->ranges_cap) {
			uint32_t ncap = task->ranges_cap * 2;
			struct tl_range *nr = malloc(sizeof(*nr) * ncap);
			if (!nr)
				return -ENOMEM;
			memcpy(nr, task->ranges, sizeof(*nr) * task->nranges);
			if (task->ranges != task->range_inline)
				free(task->ranges);
			task->ranges = nr;
			task->ranges_cap = ncap;
		}
		memmove(&task->ranges[k + 1], &task->ranges[k], (task->nranges - k) * sizeof(*task->ranges));
		task->ranges[k].lo = lo;
		task->ranges[k].hi = hi;
		task->nranges++;
	}
	task->bytes_placed += hi - lo;
	return 0;
}

/* Index of the SGE holding byte offset off (off < total). */
static int sge_index(struct tl_task *task, uint64_t off)
{
	/* in-order streams continue where the last slice ended */
	int c = task->cur_idx;
	if (c < task->iovcnt && off < task->ends[c] && (c == 0 || off >= task->ends[c - 1]))
		return c;
	int a = 0, b = task->iovcnt - 1;
	while (a < b) {
		int m = (a + b) / 2;
		if (task->ends[m] <= off)
			a = m + 1;
		else
			b = m;
	}
	return a;
}

int tl_task_slice(struct tl_task *task, uint64_t off, uint64_t len, struct iovec *out, int max, uint64_t *covered)
{
	*covered = 0;
	if (len == 0)
		return 0;
	int i = sge_index(task, off);
	int n = 0;
	while (len > 0 && n < max) {
		uint64_t start = i ? task->ends[i - 1] : 0;
		uint64_t in = off - start;
		uint64_t avail = task->iov[i].iov_len - in;
		uint64_t take = avail < len ? avail : len;
		out[n].iov_base = (uint8_t *)task->iov[i].iov_base + in;
		out[n].iov_len = take;
		n++;
		off += take;
		len -= take;
		*covered += take;
		if (take == avail)
			i++;
	}
	task->cur_idx = i < task->iovcnt ? i : task->iovcnt - 1;
	return n;
}
