/*
 * The ITT task table (lib/task.c, internal API of toeless_int.h): lookup
 * with many ITTs, duplicates and limits, placement ranges against a bitmap
 * reference, and SGL slicing against a naive byte-by-byte reference.
 *
 * SPDX-License-Identifier: MIT
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"
#include "toeless_int.h"

/* A bijection on 32 bits (murmur3's finaliser): distinct inputs give
 * distinct ITTs that look random. */
static uint32_t mix32(uint32_t h)
{
	h ^= h >> 16;
	h *= 0x85ebca6bu;
	h ^= h >> 13;
	h *= 0xc2b2ae35u;
	h ^= h >> 16;
	return h;
}

static uint8_t arena[1 << 16];

static struct tl_task *add_ok(struct tl_task_table *t, uint32_t itt, void *base, size_t len)
{
	struct iovec iov = { base, len };
	struct tl_task *task = NULL;
	int rc = tl_task_add(t, itt, &iov, 1, &task);
	TH_CHECK(rc == 0, "tl_task_add(0x%08x): %d", itt, rc);
	TH_CHECK(task && task->itt == itt, "tl_task_add(0x%08x) gave a wrong task", itt);
	return task;
}

/* Table modes the lookup tests run in (loop index): 0 the hash alone; 1 a
 * direct table of 64 entries, so that most ITTs collide and go to the
 * hash; 2 a direct table of at least max entries (up to 2^16). */
static int tasks_init(struct tl_task_table *t, uint32_t max, int mode)
{
	uint32_t direct = 0;
	if (mode == 1)
		direct = 64;
	else if (mode == 2)
		for (direct = 1; direct < max && direct < (1u << 16); direct *= 2)
			;
	return tl_tasks_init(t, max, direct);
}

/* Every task the walk of tl_task_at() visits, each once. */
static uint32_t walk_count(const struct tl_task_table *t)
{
	uint32_t n = 0;
	for (uint32_t i = 0; i < tl_tasks_span(t); i++)
		if (tl_task_at(t, i))
			n++;
	return n;
}

START_TEST(test_direct)
{
	struct tl_task_table t;
	struct iovec iov = { arena, 10 };
	struct tl_task *x = NULL;

	ck_assert_int_eq(tl_tasks_init(&t, 8, 3), -EINVAL); /* not a power of two */
	ck_assert_int_eq(tl_tasks_init(&t, 64, 16), 0);
	/* small integers: each in its own entry, line-aligned, no hash */
	struct tl_task *d[16];
	for (uint32_t i = 0; i < 16; i++) {
		d[i] = add_ok(&t, i, arena + i, 10);
		ck_assert_ptr_eq(d[i], &t.direct[i]);
		ck_assert(d[i]->in_direct);
		ck_assert_uint_eq((uintptr_t)d[i] % 64, 0);
	}
	ck_assert_uint_eq(t.hcount, 0);
	ck_assert_uint_eq(walk_count(&t), 16);
	/* a slot index under a sequence number (toeless-iscsi's ITTs): same
	 * low bits as an outstanding ITT, so it goes to the hash */
	struct tl_task *h = add_ok(&t, 1u << 16 | 5, arena + 100, 7);
	ck_assert(!h->in_direct);
	ck_assert_uint_eq(t.hcount, 1);
	ck_assert_uint_eq(t.count, 17);
	ck_assert_ptr_eq(tl_task_find(&t, 5), d[5]);
	ck_assert_ptr_eq(tl_task_find(&t, 1u << 16 | 5), h);
	ck_assert_ptr_null(tl_task_find(&t, 2u << 16 | 5));
	ck_assert_ptr_null(tl_task_find(&t, 16));
	ck_assert_int_eq(tl_task_add(&t, 5, &iov, 1, &x), -EEXIST);
	ck_assert_int_eq(tl_task_add(&t, 1u << 16 | 5, &iov, 1, &x), -EEXIST);
	ck_assert_uint_eq(walk_count(&t), 17);
	/* the direct entry freed: its ITT is gone, the hashed one stays, and
	 * the next ITT with those low bits takes the entry again */
	tl_task_remove(&t, d[5]);
	ck_assert_uint_eq(t.count, 16);
	ck_assert_ptr_null(tl_task_find(&t, 5));
	ck_assert_ptr_eq(tl_task_find(&t, 1u << 16 | 5), h);
	struct tl_task *e = add_ok(&t, 2u << 16 | 5, arena + 200, 3);
	ck_assert_ptr_eq(e, &t.direct[5]);
	ck_assert_uint_eq(e->total, 3);
	ck_assert_uint_eq(e->bytes_placed, 0);
	ck_assert_int_eq(e->status, 0);
	ck_assert_ptr_eq(e->iov, e->iov_inline);
	tl_task_remove(&t, h);
	ck_assert_uint_eq(t.hcount, 0);
	ck_assert_ptr_eq(tl_task_find(&t, 2u << 16 | 5), e);
	ck_assert_ptr_null(tl_task_find(&t, 1u << 16 | 5));
	/* a large SGL in a direct entry: heap storage freed with it (ASan) */
	struct iovec big[5] = { { arena, 1 }, { arena + 1, 1 }, { arena + 2, 1 }, { arena + 3, 1 }, { arena + 4, 1 } };
	tl_task_remove(&t, d[7]);
	ck_assert_int_eq(tl_task_add(&t, 7, big, 5, &x), 0);
	ck_assert_ptr_eq(x, &t.direct[7]);
	ck_assert_uint_eq(x->total, 5);
	ck_assert_int_eq(tl_task_mark_range(x, 0, 2), 0);
	ck_assert_int_eq(tl_task_mark_range(x, 3, 4), 0); /* a second range: heap */
	tl_tasks_fini(&t);                                /* frees what the direct entries hold */
}
END_TEST

START_TEST(test_basic)
{
	struct tl_task_table t;
	ck_assert_int_eq(tasks_init(&t, 16, _i), 0);
	ck_assert_ptr_null(tl_task_find(&t, 0));
	ck_assert_ptr_null(tl_task_find(&t, 0xffffffffu));
	struct iovec iov[3] = { { arena, 10 }, { arena + 100, 1 }, { arena + 200, 7 } };
	struct tl_task *a = NULL;
	ck_assert_int_eq(tl_task_add(&t, 0, iov, 3, &a), 0);
	ck_assert_ptr_nonnull(a);
	ck_assert_uint_eq(a->itt, 0);
	ck_assert_int_eq(a->iovcnt, 3);
	ck_assert_uint_eq(a->total, 18);
	ck_assert_uint_eq(a->bytes_placed, 0);
	ck_assert_ptr_eq(a->iov[1].iov_base, arena + 100);
	ck_assert_uint_eq(a->iov[2].iov_len, 7);
	ck_assert_uint_eq(t.count, 1);
	/* the caller's iovec array is copied */
	iov[1].iov_base = NULL;
	ck_assert_ptr_eq(a->iov[1].iov_base, arena + 100);
	ck_assert_ptr_eq(tl_task_find(&t, 0), a);
	ck_assert_ptr_null(tl_task_find(&t, 1));
	struct tl_task *b = add_ok(&t, 0xffffffffu, arena, 1);
	ck_assert_ptr_eq(tl_task_find(&t, 0xffffffffu), b);
	ck_assert_ptr_eq(tl_task_find(&t, 0), a);
	tl_task_remove(&t, a);
	ck_assert_uint_eq(t.count, 1);
	ck_assert_ptr_null(tl_task_find(&t, 0));
	ck_assert_ptr_eq(tl_task_find(&t, 0xffffffffu), b);
	tl_task_remove(&t, b);
	ck_assert_uint_eq(t.count, 0);
	ck_assert_ptr_null(tl_task_find(&t, 0xffffffffu));
	tl_tasks_fini(&t);
}
END_TEST

START_TEST(test_duplicate)
{
	struct tl_task_table t;
	ck_assert_int_eq(tasks_init(&t, 16, _i), 0);
	struct tl_task *a = add_ok(&t, 42, arena, 100);
	struct iovec iov = { arena + 1000, 5 };
	struct tl_task *b = (struct tl_task *)(uintptr_t)1;
	ck_assert_int_eq(tl_task_add(&t, 42, &iov, 1, &b), -EEXIST);
	ck_assert_uint_eq(t.count, 1);
	/* the posted task is untouched */
	ck_assert_ptr_eq(tl_task_find(&t, 42), a);
	ck_assert_ptr_eq(a->iov[0].iov_base, arena);
	ck_assert_uint_eq(a->total, 100);
	/* after removal the ITT can be added again */
	tl_task_remove(&t, a);
	b = add_ok(&t, 42, arena + 1000, 5);
	ck_assert_uint_eq(b->total, 5);
	tl_tasks_fini(&t);
}
END_TEST

START_TEST(test_max)
{
	struct tl_task_table t;
	ck_assert_int_eq(tasks_init(&t, 8, _i), 0);
	struct tl_task *tasks[8];
	for (uint32_t i = 0; i < 8; i++)
		tasks[i] = add_ok(&t, mix32(i), arena, 10);
	struct iovec iov = { arena, 10 };
	struct tl_task *x = NULL;
	ck_assert_int_eq(tl_task_add(&t, mix32(100), &iov, 1, &x), -ENOSPC);
	ck_assert_ptr_null(tl_task_find(&t, mix32(100)));
	ck_assert_uint_eq(t.count, 8);
	tl_task_remove(&t, tasks[3]);
	add_ok(&t, mix32(100), arena, 10);
	ck_assert_int_eq(tl_task_add(&t, mix32(101), &iov, 1, &x), -ENOSPC);
	for (uint32_t i = 0; i < 8; i++)
		if (i != 3)
			ck_assert_ptr_eq(tl_task_find(&t, mix32(i)), tasks[i]);
	tl_tasks_fini(&t);
}
END_TEST

/* 100k random ITTs: add all, find all, miss absent ones, remove half, find
 * again, add the removed ones back.  Quadratic lookup would blow the
 * suite's timeout by orders of magnitude. */
START_TEST(test_100k)
{
	/* 100k normally; TOELESS_TEST_ITER scales it (valgrind runs a fifth) */
	const uint32_t n = th_iter(100000);
	struct tl_task_table t;
	ck_assert_int_eq(tasks_init(&t, 2 * n, _i), 0);
	struct tl_task **tasks = calloc(n, sizeof(*tasks));
	uint32_t salt = (uint32_t)th_seed(0x5eed);
	for (uint32_t i = 0; i < n; i++)
		tasks[i] = add_ok(&t, mix32(i ^ salt), arena + (i & 0xfff), 1 + (i & 7));
	ck_assert_uint_eq(t.count, n);
	for (uint32_t i = 0; i < n; i++)
		TH_CHECK(tl_task_find(&t, mix32(i ^ salt)) == tasks[i], "ITT %u not found", i);
	for (uint32_t i = n; i < 2 * n; i++)
		TH_CHECK(tl_task_find(&t, mix32(i ^ salt)) == NULL, "absent ITT %u found", i);
	for (uint32_t i = 0; i < n; i += 2)
		tl_task_remove(&t, tasks[i]);
	ck_assert_uint_eq(t.count, n / 2);
	for (uint32_t i = 0; i < n; i++) {
		struct tl_task *f = tl_task_find(&t, mix32(i ^ salt));
		if (i & 1)
			TH_CHECK(f == tasks[i] && f->total == 1 + (i & 7), "kept ITT %u lost", i);
		else
			TH_CHECK(f == NULL, "removed ITT %u still found", i);
	}
	for (uint32_t i = 0; i < n; i += 2)
		tasks[i] = add_ok(&t, mix32(i ^ salt), arena, 3);
	for (uint32_t i = 0; i < n; i++)
		TH_CHECK(tl_task_find(&t, mix32(i ^ salt)) == tasks[i], "re-added ITT %u not found", i);
	free(tasks);
	tl_tasks_fini(&t);
}
END_TEST

/* ITT patterns initiators use, and ones built to collide in low or high bits. */
START_TEST(test_patterns)
{
	const uint32_t n = th_iter(20000);
	static const uint32_t shifts[] = { 0, 8, 12, 16, 20 };
	for (size_t s = 0; s < sizeof(shifts) / sizeof(shifts[0]); s++) {
		struct tl_task_table t;
		ck_assert_int_eq(tasks_init(&t, n, _i), 0);
		uint32_t m = shifts[s] ? (0xffffffffu >> shifts[s]) + 1 : n;
		uint32_t cnt = n < m ? n : m;
		for (uint32_t i = 0; i < cnt; i++)
			add_ok(&t, i << shifts[s], arena, 1);
		for (uint32_t i = 0; i < cnt; i++) {
			struct tl_task *f = tl_task_find(&t, i << shifts[s]);
			TH_CHECK(f && f->itt == i << shifts[s], "ITT 0x%x not found", i << shifts[s]);
		}
		/* remove in an order that exercises the deletion shifts */
		for (uint32_t i = 0; i < cnt; i += 3)
			tl_task_remove(&t, tl_task_find(&t, i << shifts[s]));
		for (uint32_t i = 0; i < cnt; i++) {
			struct tl_task *f = tl_task_find(&t, i << shifts[s]);
			TH_CHECK((f == NULL) == (i % 3 == 0), "ITT 0x%x: wrong after removals", i << shifts[s]);
		}
		tl_tasks_fini(&t);
	}
}
END_TEST

/* Random add/remove against a bitmap over 4096 keys. */
START_TEST(test_random_ops)
{
	enum { KEYS = 4096 };
	struct tl_task_table t;
	ck_assert_int_eq(tasks_init(&t, KEYS, _i), 0);
	static struct tl_task *ref[KEYS];
	memset(ref, 0, sizeof(ref));
	uint64_t rs = th_seed(0xabc);
	uint32_t salt = (uint32_t)th_rand(&rs);
	uint32_t count = 0;
	unsigned ops = th_iter(60000);
	for (unsigned op = 0; op < ops; op++) {
		uint32_t k = (uint32_t)(th_rand(&rs) % KEYS);
		uint32_t itt = mix32(k) ^ salt;
		/* bias towards keeping the table around half full */
		bool want_add = (th_rand(&rs) % KEYS) >= count;
		if (want_add) {
			struct iovec iov = { arena + k, 1 + (k & 15) };
			struct tl_task *task = NULL;
			int rc = tl_task_add(&t, itt, &iov, 1, &task);
			if (ref[k]) {
				TH_CHECK(rc == -EEXIST, "duplicate add: %d", rc);
			} else {
				TH_CHECK(rc == 0, "add: %d", rc);
				ref[k] = task;
				count++;
			}
		} else if (ref[k]) {
			tl_task_remove(&t, ref[k]);
			ref[k] = NULL;
			count--;
		}
		TH_CHECK(t.count == count, "op %u: count %u, expected %u", op, t.count, count);
		uint32_t q = (uint32_t)(th_rand(&rs) % KEYS);
		TH_CHECK(tl_task_find(&t, mix32(q) ^ salt) == ref[q], "op %u: key %u found wrong", op, q);
	}
	for (uint32_t k = 0; k < KEYS; k++) {
		struct tl_task *f = tl_task_find(&t, mix32(k) ^ salt);
		ck_assert_ptr_eq(f, ref[k]);
		if (f)
			ck_assert_uint_eq(f->total, 1 + (k & 15));
	}
	tl_tasks_fini(&t);
}
END_TEST

/* ---- placement ranges ---- */

START_TEST(test_range_basic)
{
	struct tl_task_table t;
	ck_assert_int_eq(tl_tasks_init(&t, 4, 0), 0);
	struct iovec iov[2] = { { arena, 600 }, { arena + 1000, 400 } };
	struct tl_task *task;
	ck_assert_int_eq(tl_task_add(&t, 7, iov, 2, &task), 0);
	ck_assert_uint_eq(task->total, 1000);
	ck_assert_int_eq(tl_task_check_range(task, 0, 1000), 0);
	ck_assert_int_eq(tl_task_check_range(task, 0, 1001), -ERANGE);
	ck_assert_int_eq(tl_task_check_range(task, 999, 1001), -ERANGE);
	ck_assert_int_eq(tl_task_check_range(task, 1000, 1001), -ERANGE);
	ck_assert_int_eq(tl_task_check_range(task, 0xfffffff0ull, 0x100000010ull), -ERANGE);
	ck_assert_int_eq(tl_task_mark_range(task, 0, 1001), -ERANGE);
	ck_assert_uint_eq(task->bytes_placed, 0);
	/* in order */
	ck_assert_int_eq(tl_task_mark_range(task, 0, 100), 0);
	ck_assert_int_eq(tl_task_mark_range(task, 100, 300), 0);
	ck_assert_uint_eq(task->nranges, 1);
	ck_assert_uint_eq(task->bytes_placed, 300);
	/* overlap at either edge, inside, around */
	ck_assert_int_eq(tl_task_check_range(task, 299, 301), -EEXIST);
	ck_assert_int_eq(tl_task_check_range(task, 0, 1), -EEXIST);
	ck_assert_int_eq(tl_task_check_range(task, 50, 60), -EEXIST);
	ck_assert_int_eq(tl_task_mark_range(task, 0, 1000), -EEXIST);
	ck_assert_uint_eq(task->bytes_placed, 300);
	/* a gap, then fill it: the ranges merge */
	ck_assert_int_eq(tl_task_mark_range(task, 500, 600), 0);
	ck_assert_uint_eq(task->nranges, 2);
	ck_assert_int_eq(tl_task_check_range(task, 300, 501), -EEXIST);
	ck_assert_int_eq(tl_task_check_range(task, 300, 500), 0);
	ck_assert_int_eq(tl_task_mark_range(task, 300, 500), 0);
	ck_assert_uint_eq(task->nranges, 1);
	ck_assert_uint_eq(task->ranges[0].lo, 0);
	ck_assert_uint_eq(task->ranges[0].hi, 600);
	/* out of order from the end */
	ck_assert_int_eq(tl_task_mark_range(task, 900, 1000), 0);
	ck_assert_int_eq(tl_task_mark_range(task, 700, 800), 0);
	ck_assert_int_eq(tl_task_mark_range(task, 800, 900), 0);
	ck_assert_uint_eq(task->nranges, 2);
	ck_assert_int_eq(tl_task_check_range(task, 600, 701), -EEXIST);
	ck_assert_int_eq(tl_task_mark_range(task, 600, 700), 0);
	ck_assert_uint_eq(task->nranges, 1);
	ck_assert_uint_eq(task->bytes_placed, 1000);
	ck_assert_int_eq(tl_task_check_range(task, 999, 1000), -EEXIST);
	tl_tasks_fini(&t);
}
END_TEST

/* Random ranges against a bitmap: the verdicts, bytes_placed and the
 * merged range list must match exactly. */
START_TEST(test_range_random)
{
	uint64_t rs = th_seed(0x7a7);
	unsigned iters = th_iter(200);
	static uint8_t map[4096];
	for (unsigned it = 0; it < iters; it++) {
		struct tl_task_table t;
		ck_assert_int_eq(tl_tasks_init(&t, 4, 0), 0);
		uint32_t total = th_rand_range(&rs, 1, sizeof(map));
		struct iovec iov = { arena, total };
		struct tl_task *task;
		ck_assert_int_eq(tl_task_add(&t, it, &iov, 1, &task), 0);
		memset(map, 0, sizeof(map));
		uint64_t placed = 0;
		uint32_t maxlen = th_rand_range(&rs, 1, total);
		for (int op = 0; op < 300; op++) {
			uint64_t lo = th_rand_range(&rs, 0, total + 8);
			uint64_t hi = lo + th_rand_range(&rs, 1, maxlen);
			int exp = 0;
			if (hi > total) {
				exp = -ERANGE;
			} else {
				for (uint64_t b = lo; b < hi; b++)
					if (map[b])
						exp = -EEXIST;
			}
			int rc1 = tl_task_check_range(task, lo, hi);
			int rc2 = tl_task_mark_range(task, lo, hi);
			TH_CHECK(rc1 == exp && rc2 == exp, "[%llu, %llu) of %u: check %d mark %d, expected %d",
				 (unsigned long long)lo, (unsigned long long)hi, total, rc1, rc2, exp);
			if (!exp) {
				memset(map + lo, 1, hi - lo);
				placed += hi - lo;
			}
			TH_CHECK(task->bytes_placed == placed, "bytes_placed %llu, expected %llu",
				 (unsigned long long)task->bytes_placed, (unsigned long long)placed);
		}
		/* the range list is the runs of the bitmap */
		uint32_t k = 0;
		for (uint32_t b = 0; b < total;) {
			if (!map[b]) {
				b++;
				continue;
			}
			uint32_t e = b;
			while (e < total && map[e])
				e++;
			ck_assert_uint_lt(k, task->nranges);
			ck_assert_uint_eq(task->ranges[k].lo, b);
			ck_assert_uint_eq(task->ranges[k].hi, e);
			k++;
			b = e;
		}
		ck_assert_uint_eq(k, task->nranges);
		tl_tasks_fini(&t);
	}
}
END_TEST

/* ---- slicing ---- */

/* The reference: walk byte by byte. */
static int naive_slice(const struct iovec *sgl, int cnt, uint64_t off, uint64_t len, struct iovec *out, int max,
		       uint64_t *covered)
{
	int n = 0;
	*covered = 0;
	uint64_t pos = 0;
	for (int i = 0; i < cnt && len; i++) {
		uint64_t s = pos, e = pos + sgl[i].iov_len;
		pos = e;
		if (e <= off)
			continue;
		if (n == max)
			break;
		uint64_t from = off > s ? off - s : 0;
		uint64_t take = sgl[i].iov_len - from;
		if (take > len)
			take = len;
		out[n].iov_base = (uint8_t *)sgl[i].iov_base + from;
		out[n].iov_len = take;
		n++;
		off += take;
		len -= take;
		*covered += take;
	}
	return n;
}

static void random_sgl(uint64_t *rs, struct iovec *sgl, int cnt, uint32_t maxlen)
{
	size_t at = 0;
	for (int i = 0; i < cnt; i++) {
		uint32_t l = th_rand_range(rs, 1, maxlen);
		at += th_rand_range(rs, 0, 3); /* gaps between SGEs */
		if (at + l > sizeof(arena))
			at = 0;
		sgl[i].iov_base = arena + at;
		sgl[i].iov_len = l;
		at += l;
	}
}

static void compare_slice(struct tl_task *task, const struct iovec *sgl, int cnt, uint64_t off, uint64_t len, int max)
{
	struct iovec got[80], exp[80];
	uint64_t gcov = 12345, ecov;
	int en = naive_slice(sgl, cnt, off, len, exp, max, &ecov);
	int gn = tl_task_slice(task, off, len, got, max, &gcov);
	TH_CHECK(gn == en, "slice(off %llu, len %llu, max %d): %d entries, expected %d", (unsigned long long)off,
		 (unsigned long long)len, max, gn, en);
	TH_CHECK(gcov == ecov, "slice(off %llu, len %llu, max %d): covers %llu, expected %llu", (unsigned long long)off,
		 (unsigned long long)len, max, (unsigned long long)gcov, (unsigned long long)ecov);
	for (int i = 0; i < en; i++)
		TH_CHECK(got[i].iov_base == exp[i].iov_base && got[i].iov_len == exp[i].iov_len,
			 "slice(off %llu, len %llu, max %d): entry %d differs", (unsigned long long)off,
			 (unsigned long long)len, max, i);
}

START_TEST(test_slice_random)
{
	uint64_t rs = th_seed(0x511ce);
	unsigned iters = th_iter(400);
	struct iovec sgl[64];
	for (unsigned it = 0; it < iters; it++) {
		struct tl_task_table t;
		ck_assert_int_eq(tl_tasks_init(&t, 4, 0), 0);
		int cnt = (int)th_rand_range(&rs, 1, 64);
		random_sgl(&rs, sgl, cnt, th_rand_range(&rs, 1, 300));
		struct tl_task *task;
		ck_assert_int_eq(tl_task_add(&t, it, sgl, cnt, &task), 0);
		uint64_t total = 0;
		for (int i = 0; i < cnt; i++)
			total += sgl[i].iov_len;
		ck_assert_uint_eq(task->total, total);
		for (int q = 0; q < 40; q++) {
			uint64_t off = th_rand(&rs) % total;
			uint64_t len = 1 + th_rand(&rs) % (total - off);
			int max = (int)th_rand_range(&rs, 1, 70);
			compare_slice(task, sgl, cnt, off, len, max);
		}
		/* exact SGE boundaries and single bytes */
		uint64_t pos = 0;
		for (int i = 0; i < cnt; i++) {
			compare_slice(task, sgl, cnt, pos, 1, 1);
			compare_slice(task, sgl, cnt, pos, total - pos, 80);
			pos += sgl[i].iov_len;
			compare_slice(task, sgl, cnt, pos - 1, 1, 2);
		}
		compare_slice(task, sgl, cnt, 0, 0, 4);
		tl_tasks_fini(&t);
	}
}
END_TEST

/* In-order streams (the cursor path), with jumps back and forth between them. */
START_TEST(test_slice_sequential)
{
	uint64_t rs = th_seed(0x5e9);
	unsigned iters = th_iter(200);
	struct iovec sgl[40];
	for (unsigned it = 0; it < iters; it++) {
		struct tl_task_table t;
		ck_assert_int_eq(tl_tasks_init(&t, 4, 0), 0);
		int cnt = (int)th_rand_range(&rs, 1, 40);
		random_sgl(&rs, sgl, cnt, 97);
		struct tl_task *task;
		ck_assert_int_eq(tl_task_add(&t, it, sgl, cnt, &task), 0);
		uint64_t total = task->total;
		uint64_t off = 0;
		while (off < total) {
			uint64_t len = 1 + th_rand(&rs) % (total - off < 64 ? total - off : 64);
			int max = (int)th_rand_range(&rs, 1, 8);
			uint64_t cov;
			struct iovec tmp[8];
			/* a stale cursor from a far-away slice must not matter */
			if (th_rand(&rs) % 4 == 0) {
				uint64_t o2 = th_rand(&rs) % total;
				compare_slice(task, sgl, cnt, o2, 1, 1);
			}
			compare_slice(task, sgl, cnt, off, len, max);
			tl_task_slice(task, off, len, tmp, max, &cov);
			ck_assert_uint_gt(cov, 0);
			off += cov;
		}
		tl_tasks_fini(&t);
	}
}
END_TEST

/* Covering bytes through the slices writes exactly the SGL's bytes. */
START_TEST(test_slice_fill)
{
	uint64_t rs = th_seed(0xf111);
	struct iovec sgl[32];
	unsigned iters = th_iter(100);
	for (unsigned it = 0; it < iters; it++) {
		memset(arena, 0, sizeof(arena));
		int cnt = (int)th_rand_range(&rs, 1, 32);
		random_sgl(&rs, sgl, cnt, 200);
		/* make the SGEs disjoint: lay them out with gaps of 1..3 */
		size_t at = 1;
		for (int i = 0; i < cnt; i++) {
			sgl[i].iov_base = arena + at;
			at += sgl[i].iov_len + 1 + (size_t)(i % 3);
		}
		struct tl_task_table t;
		ck_assert_int_eq(tl_tasks_init(&t, 4, 0), 0);
		struct tl_task *task;
		ck_assert_int_eq(tl_task_add(&t, 1, sgl, cnt, &task), 0);
		uint64_t total = task->total;
		uint8_t *src = malloc(total);
		th_fill_pattern(src, total, it);
		/* write random pieces through slices */
		uint64_t off = 0;
		while (off < total) {
			uint64_t len = 1 + th_rand(&rs) % (total - off);
			struct iovec v[32];
			uint64_t cov;
			int n = tl_task_slice(task, off, len, v, 32, &cov);
			ck_assert_uint_eq(cov, len);
			uint64_t s = off;
			for (int i = 0; i < n; i++) {
				memcpy(v[i].iov_base, src + s, v[i].iov_len);
				s += v[i].iov_len;
			}
			off += len;
		}
		uint64_t s = 0;
		for (int i = 0; i < cnt; i++) {
			ck_assert_mem_eq(sgl[i].iov_base, src + s, sgl[i].iov_len);
			s += sgl[i].iov_len;
			/* the gap after each SGE was not written */
			ck_assert_uint_eq(((uint8_t *)sgl[i].iov_base)[sgl[i].iov_len], 0);
		}
		ck_assert_uint_eq(arena[0], 0);
		free(src);
		tl_tasks_fini(&t);
	}
}
END_TEST

static Suite *task_suite(void)
{
	Suite *s = suite_create("task");
	TH_LOOP_TEST(s, test_basic, 0, 3);
	TH_LOOP_TEST(s, test_duplicate, 0, 3);
	TH_LOOP_TEST(s, test_max, 0, 3);
	TH_LOOP_TEST(s, test_100k, 0, 3);
	TH_LOOP_TEST(s, test_patterns, 0, 3);
	TH_LOOP_TEST(s, test_random_ops, 0, 3);
	TH_TEST(s, test_direct);
	TH_TEST(s, test_range_basic);
	TH_TEST(s, test_range_random);
	TH_TEST(s, test_slice_random);
	TH_TEST(s, test_slice_sequential);
	TH_TEST(s, test_slice_fill);
	return s;
}

int main(void)
{
	return th_run_suite(task_suite());
}
