/*
 * scale: the per-operation cost of SGL post + placement + completion with
 * 1, 1 000, 100 000 and 1 000 000 tasks outstanding, spread over 1 and over
 * 10 000 contexts; and the library's memory per outstanding task and per
 * context.
 *
 * One operation, for a task picked at random among the N outstanding:
 *   (untimed)  the peer end of the task's socket is sent one Data-In PDU
 *              (4 KiB data segment, F and S bits: the task's only PDU);
 *   (timed)    toeless_pdu_recv() on the task's context places it in the
 *              task's SGL and completes the task; toeless_cq_poll() takes
 *              the completion; toeless_sgl_post() posts the ITT again.
 * So N stays outstanding, and tasks are touched in random order, as a
 * loaded initiator touches them (the worst case for caches).  Every
 * operation finds only its own PDU in its socket, in every configuration,
 * so the system calls per operation are the same everywhere (the header
 * read, the data read; the completion queue's eventfd write and read).
 *
 * Sockets: AF_UNIX socketpairs.  Each end of a pair is the socket of one
 * context (the other end is where its PDUs are written), so C contexts take
 * C descriptors; RLIMIT_NOFILE is raised to its hard limit, and if that is
 * still too few the context count is lowered (and printed).
 *
 * The per-op time is CLOCK_MONOTONIC around each operation; a repetition's
 * figure is the mean over its operations after dropping the slowest 1 % (a
 * preemption by another process on this shared 2-CPU machine costs
 * milliseconds and is not the library's).  The comparison is against the
 * smallest configuration (1 task, 1 context), alternated with every other
 * configuration rep by rep; ratio = median of per-rep ratios.
 *
 * Memory: mallinfo2() (heap + mmap in use) before and after creating the
 * contexts, and before and after posting the tasks; the destination
 * buffers are a pool of 64 shared by all tasks and are not counted.  Kernel
 * socket memory is not counted either.
 *
 * Task table (issue 14): by default each context is created with a direct
 * task table (toeless_ctx_attr.itt_slots) of as many entries as its share
 * of the largest task count, rounded up to a power of two: the ITTs here
 * are small integers (task / contexts).  BENCH_SCALE_TABLE=hash runs
 * without it (the hash alone), for the before/after comparison.
 *
 * Environment: BENCH_SCALE_OPS (operations per repetition, default 20000;
 * QUICK 4000), BENCH_SCALE_CTX (default 10000), BENCH_SCALE_MAX (largest
 * task count, default 1000000).  For profiling: BENCH_SCALE_ONLY=N (measure
 * only at N tasks), BENCH_SCALE_SERIES=1|2 (only the 1-context or the
 * many-context series), BENCH_SCALE_PROFILE=1 (no baseline or bare runs),
 * and callgrind --toggle-collect=library_op.
 *
 * SPDX-License-Identifier: MIT
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "toeless.h"
#include "bench.h"

#define SEG  4096u
#define POOL 64

static toeless_device *dev;
static uint8_t *pool[POOL];
static uint8_t payload[SEG];

struct world {
	const char *name;
	int nctx;
	toeless_ctx **ctx;
	int *wfd; /* where context i's PDUs are written */
	int *rfd; /* context i's own socket */
	int *fds; /* all descriptors, to close */
	int nfds;
	toeless_cq *cq;
	uint32_t ntasks;
	uint64_t rng;
	double *op_ns; /* per-op times of the last run */
	int op_cap;
};

static int use_direct = 1;

static void world_init(struct world *w, const char *name, int nctx, uint32_t per_ctx_tasks)
{
	memset(w, 0, sizeof(*w));
	w->name = name;
	w->nctx = nctx;
	w->rng = 0x5eed0000u + (uint64_t)nctx;
	struct toeless_cq_attr ca = { .size = sizeof(ca) };
	int rc = toeless_cq_create(dev, &ca, &w->cq);
	if (rc)
		bench_die("toeless_cq_create: %s", toeless_strerror(rc));
	w->ctx = calloc((size_t)nctx, sizeof(*w->ctx));
	w->wfd = calloc((size_t)nctx, sizeof(*w->wfd));
	w->rfd = calloc((size_t)nctx, sizeof(*w->rfd));
	w->fds = calloc((size_t)nctx + 1, sizeof(*w->fds));
	if (!w->ctx || !w->wfd || !w->rfd || !w->fds)
		bench_die("out of memory");
	for (int i = 0; i < nctx; i += 2) {
		int sv[2];
		if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv))
			bench_die("socketpair (%d contexts): %s", i, strerror(errno));
		int big = 1 << 20;
		setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
		setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
		w->fds[w->nfds++] = sv[0];
		w->fds[w->nfds++] = sv[1];
		/* context i reads sv[0] (written at sv[1]); context i+1 the reverse */
		for (int k = 0; k < 2 && i + k < nctx; k++) {
			struct toeless_ctx_attr a = { .size = sizeof(a),
						      .fd = sv[k],
						      .cq = w->cq,
						      .max_tasks = 1u << 20,
						      .user_data = (uint64_t)(i + k),
						      .itt_slots = use_direct ? per_ctx_tasks : 0 };
			rc = toeless_ctx_create(dev, &a, &w->ctx[i + k]);
			if (rc)
				bench_die("toeless_ctx_create #%d: %s", i + k, toeless_strerror(rc));
			w->wfd[i + k] = sv[1 - k];
			w->rfd[i + k] = sv[k];
		}
	}
}

static void world_fini(struct world *w)
{
	struct toeless_completion c[256];
	for (int i = 0; i < w->nctx; i++) {
		toeless_ctx_destroy(w->ctx[i]);
		while (toeless_cq_poll(w->cq, c, 256) > 0)
			;
	}
	for (int i = 0; i < w->nfds; i++)
		close(w->fds[i]);
	toeless_cq_destroy(w->cq);
	free(w->ctx);
	free(w->wfd);
	free(w->rfd);
	free(w->fds);
	free(w->op_ns);
}

static inline void task_of(const struct world *w, uint32_t t, int *ci, uint32_t *itt)
{
	*ci = (int)(t % (uint32_t)w->nctx);
	*itt = t / (uint32_t)w->nctx;
}

static inline struct iovec task_iov(uint32_t t)
{
	struct iovec iov = { pool[t % POOL], SEG };
	return iov;
}

/* Post tasks until n are outstanding. */
static void world_grow(struct world *w, uint32_t n)
{
	for (uint32_t t = w->ntasks; t < n; t++) {
		int ci;
		uint32_t itt;
		task_of(w, t, &ci, &itt);
		struct iovec iov = task_iov(t);
		int rc = toeless_sgl_post(w->ctx[ci], itt, &iov, 1, t);
		if (rc)
			bench_die("toeless_sgl_post (task %u of %u): %s", t, n, toeless_strerror(rc));
	}
	w->ntasks = n;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* The timed part of one operation.  Not inlined, so that a profiler can
 * be told to look at exactly this (callgrind --toggle-collect=library_op). */
__attribute__((noinline)) static void library_op(toeless_ctx *ctx, toeless_cq *cq, uint32_t itt, uint32_t t,
						 struct toeless_pdu *pdu, struct toeless_completion *c, int *rc, int *n,
						 int *prc)
{
	*rc = toeless_pdu_recv(ctx, pdu);
	*n = toeless_cq_poll(cq, c, 1);
	struct iovec iov = task_iov(t);
	*prc = toeless_sgl_post(ctx, itt, &iov, 1, t);
}

/* ops operations on random tasks; returns the trimmed mean ns per op, and
 * the plain mean in *mean.  bare: instead of the library, two plain readv
 * calls take the PDU (header, then data) -- what the same operation costs
 * the kernel alone, in the same pattern of sockets. */
static double world_run(struct world *w, int ops, double *mean, int bare)
{
	if (ops > w->op_cap) {
		free(w->op_ns);
		if (!(w->op_ns = malloc(sizeof(double) * (size_t)ops)))
			bench_die("out of memory");
		w->op_cap = ops;
	}
	uint8_t bhs[BENCH_BHS];
	struct toeless_pdu pdu;
	struct toeless_completion c;
	for (int k = 0; k < ops; k++) {
		uint32_t t = (uint32_t)(bench_rand(&w->rng) % w->ntasks);
		int ci;
		uint32_t itt;
		task_of(w, t, &ci, &itt);
		bench_bhs_data_in(bhs, itt, 0, 0, SEG, BENCH_F_FINAL | BENCH_F_STATUS);
		struct iovec out[2] = { { bhs, BENCH_BHS }, { payload, SEG } };
		if (writev(w->wfd[ci], out, 2) != BENCH_BHS + SEG)
			bench_die("writev: %s", strerror(errno));

		if (bare) {
			uint8_t h[BENCH_BHS];
			struct iovec in[2] = { { h, BENCH_BHS }, { pool[t % POOL], SEG } };
			uint64_t t0 = bench_now_ns();
			ssize_t r1 = readv(w->rfd[ci], &in[0], 1);
			ssize_t r2 = readv(w->rfd[ci], &in[1], 1);
			uint64_t t1 = bench_now_ns();
			if (r1 != BENCH_BHS || r2 != SEG || memcmp(h, bhs, BENCH_BHS))
				bench_die("%s: bare readv", w->name);
			w->op_ns[k] = (double)(t1 - t0);
			continue;
		}
		int rc, n, prc;
		uint64_t t0 = bench_now_ns();
		library_op(w->ctx[ci], w->cq, itt, t, &pdu, &c, &rc, &n, &prc);
		uint64_t t1 = bench_now_ns();

		if (rc || !(pdu.flags & TOELESS_PDU_F_TASK_DONE) || pdu.user_data != t)
			bench_die("%s: toeless_pdu_recv: %s (flags 0x%x)", w->name, toeless_strerror(rc), pdu.flags);
		if (n != 1 || c.type != TOELESS_CQE_SGL || c.status || c.bytes_placed != SEG || c.user_data != t)
			bench_die("%s: bad completion (n %d status %d)", w->name, n, c.status);
		if (prc)
			bench_die("%s: toeless_sgl_post: %s", w->name, toeless_strerror(prc));
		w->op_ns[k] = (double)(t1 - t0);
	}
	double sum = 0;
	for (int k = 0; k < ops; k++)
		sum += w->op_ns[k];
	*mean = sum / ops;
	qsort(w->op_ns, (size_t)ops, sizeof(double), cmp_double);
	int keep = ops - ops / 100;
	sum = 0;
	for (int k = 0; k < keep; k++)
		sum += w->op_ns[k];
	return sum / keep;
}

int main(void)
{
	int reps = bench_reps();
	int ops = (int)bench_env_long("BENCH_SCALE_OPS", bench_quick() ? 4000 : 20000);
	long want_ctx = bench_env_long("BENCH_SCALE_CTX", 10000);
	uint32_t max_tasks = (uint32_t)bench_env_long("BENCH_SCALE_MAX", 1000000);
	/* profiling aids: measure only at this task count / only this series
	 * (1 or N contexts) / without the baseline and bare runs */
	uint32_t only = (uint32_t)bench_env_long("BENCH_SCALE_ONLY", 0);
	long series = bench_env_long("BENCH_SCALE_SERIES", 0);
	int profile = bench_env_long("BENCH_SCALE_PROFILE", 0) != 0;
	const char *table = getenv("BENCH_SCALE_TABLE");
	use_direct = !(table && !strcmp(table, "hash"));
	if (reps > 64)
		reps = 64;

	long nofile = bench_raise_nofile();
	long nctx = want_ctx;
	if (nctx > nofile - 64)
		nctx = (nofile - 64) & ~1L;
	int rc = toeless_device_open("sw", NULL, &dev);
	if (rc)
		bench_die("toeless_device_open(sw): %s", toeless_strerror(rc));
	struct toeless_caps caps = { .size = sizeof(caps) };
	toeless_device_query(dev, &caps);
	if (nctx > (long)caps.max_contexts - 4)
		nctx = (long)caps.max_contexts - 4;
	for (int i = 0; i < POOL; i++)
		pool[i] = bench_alloc(SEG);
	bench_fill(payload, SEG, 77);

	bench_banner("scale: SGL post + placement + completion vs outstanding tasks and contexts");
	bench_printf("RLIMIT_NOFILE %ld: %ld contexts on %ld AF_UNIX socketpairs (both ends used)%s\n", nofile, nctx,
		     (nctx + 1) / 2, nctx < want_ctx ? " -- FEWER THAN ASKED: descriptor limit" : "");
	bench_printf("op = recv 1 Data-In (4 KiB, S bit) + poll its completion + post the ITT again; tasks picked "
		     "at random; %d ops per rep\n",
		     ops);
	bench_printf("ns/op: mean without the slowest 1%%; ratio: vs 1 task on 1 context, alternated\n");
	bench_printf("task table: %s\n\n", use_direct ? "direct (itt_slots: each context's share of the tasks)"
						      : "hash (BENCH_SCALE_TABLE=hash)");

	struct world base, w1, wn;
	world_init(&base, "1x1", 1, 1);
	world_grow(&base, 1);

	/* memory per context */
	size_t h0 = bench_heap_in_use();
	world_init(&wn, "many", (int)nctx, (uint32_t)((max_tasks + (uint32_t)nctx - 1) / (uint32_t)nctx));
	size_t h1 = bench_heap_in_use();
	double per_ctx = (double)(h1 - h0) / (double)nctx;
	world_init(&w1, "one", 1, max_tasks);

	static const uint32_t counts[] = { 1, 1000, 100000, 1000000 };
	struct world *worlds[2] = { &w1, &wn };
	double per_task[2] = { 0, 0 };
	double ratio_at_max[2] = { 0, 0 }, lib_at_max[2] = { 0, 0 };
	bench_printf("%-8s %8s | %8s %8s %8s | %8s %8s | %7s %7s\n", "tasks", "contexts", "ns/op", "mean", "base",
		     "bare", "bare", "ratio", "library");
	bench_printf("%-8s %8s | %8s %8s %8s | %8s %8s | %7s %7s\n", "", "", "", "", "1x1", "", "base", "", "ratio");
	for (int wi = 0; wi < 2; wi++) {
		struct world *w = worlds[wi];
		size_t hm0 = 0;
		if (series && w->nctx != (series == 1 ? 1 : nctx))
			continue;
		for (size_t ni = 0; ni < sizeof(counts) / sizeof(counts[0]); ni++) {
			uint32_t n = counts[ni] < max_tasks ? counts[ni] : max_tasks;
			if (ni && n <= w->ntasks)
				break;
			world_grow(w, n);
			if (only && n != only)
				continue;
			if (n == 1)
				hm0 = bench_heap_in_use();
			else
				per_task[wi] = (double)(bench_heap_in_use() - hm0) / (double)(n - 1);
			/* per rep: this configuration and the 1x1 baseline, each with
			 * the library and bare, in an order that rotates */
			double v[64], vb[64], bare[64], bareb[64], r[64], lr[64], mean[64], dummy;
			world_run(w, ops / 4, &dummy, 0); /* settle */
			world_run(&base, ops / 4, &dummy, 0);
			for (int i = 0; i < reps; i++) {
				for (int k = 0; k < 4; k++) {
					if (profile && k) {
						vb[i] = bare[i] = bareb[i] = 1;
						continue;
					}
					switch ((k + i) % 4) {
					case 0: v[i] = world_run(w, ops, &mean[i], 0); break;
					case 1: vb[i] = world_run(&base, ops, &dummy, 0); break;
					case 2: bare[i] = world_run(w, ops, &dummy, 1); break;
					default: bareb[i] = world_run(&base, ops, &dummy, 1); break;
					}
				}
				r[i] = v[i] / vb[i];
				lr[i] = (v[i] - bare[i]) / (vb[i] - bareb[i]);
			}
			double mv = bench_median(v, reps), mb = bench_median(vb, reps), mr = bench_median(r, reps);
			double mm = bench_median(mean, reps), mbare = bench_median(bare, reps);
			double mbareb = bench_median(bareb, reps), mlr = bench_median(lr, reps);
			bench_printf("%-8u %8d | %8.0f %8.0f %8.0f | %8.0f %8.0f | %7.3f %7.3f\n", n, w->nctx, mv, mm,
				     mb, mbare, mbareb, mr, mlr);
			char name[64];
			snprintf(name, sizeof(name), "scale.%u.%d.ns_per_op", n, w->nctx);
			bench_figure(name, mv, "ns");
			snprintf(name, sizeof(name), "scale.%u.%d.ratio", n, w->nctx);
			bench_figure(name, mr, "ratio");
			snprintf(name, sizeof(name), "scale.%u.%d.bare_ns", n, w->nctx);
			bench_figure(name, mbare, "ns");
			snprintf(name, sizeof(name), "scale.%u.%d.library_ratio", n, w->nctx);
			bench_figure(name, mlr, "ratio");
			ratio_at_max[wi] = mr;
			lib_at_max[wi] = mlr;
		}
	}
	bench_printf(
		"\nbare = the same PDUs taken by two plain readv calls (header, data) without the library: the\n"
		"kernel's share.  library ratio = (ns/op - bare) / (base - bare of base): the library's own share.\n");
	bench_printf("\nmemory (library heap, mallinfo2): %.0f bytes per context (default MaxRecvDataSegmentLength "
		     "8192),\n  %.0f bytes per outstanding task on 1 context, %.0f spread over %ld contexts\n",
		     per_ctx, per_task[0], per_task[1], nctx);
	bench_printf("target (issue 14, direct table): ratio at the largest task count <= 1.5 on 1 context (%.3f),\n"
		     "  <= 2.5 over %ld contexts (%.3f); the library's own share: %.3f and %.3f\n",
		     ratio_at_max[0], nctx, ratio_at_max[1], lib_at_max[0], lib_at_max[1]);
	bench_printf("earlier target: ratio at the largest task count <= 1.25 (1 context: %.3f, %ld contexts: %.3f;\n"
		     "  the library's own share: %.3f and %.3f)\n",
		     ratio_at_max[0], nctx, ratio_at_max[1], lib_at_max[0], lib_at_max[1]);
	if (use_direct)
		bench_printf(
			"  (direct table: its entries, 192 bytes each, are allocated at context creation and counted\n"
			"  per context, as address space: calloc, pages touched only as tasks use them)\n");
	bench_figure("scale.direct_table", use_direct, "bool");
	bench_figure("scale.mem.per_context", per_ctx, "bytes");
	bench_figure("scale.mem.per_task", per_task[0], "bytes");
	char name[64];
	snprintf(name, sizeof(name), "scale.mem.per_task.%ldctx", nctx);
	bench_figure(name, per_task[1], "bytes");
	bench_emit();

	world_fini(&w1);
	world_fini(&wn);
	world_fini(&base);
	for (int i = 0; i < POOL; i++)
		free(pool[i]);
	toeless_device_close(dev);
	return 0;
}
