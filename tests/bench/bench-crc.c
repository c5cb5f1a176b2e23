/*
 * crc.<size>: the synchronous CRC helper against isa-l's crc32_iscsi called
 * directly, and asynchronous batched submission against the synchronous
 * helper, over 48 B, 512 B, 4 KiB, 64 KiB and 1 MiB.
 *
 * Each repetition runs every variant back to back, in an order that rotates
 * from one repetition to the next, each for the same number of operations
 * (calibrated so the raw loop takes ~BENCH_CRC_MS milliseconds, default 5),
 * and there are at least 21 repetitions (BENCH_REPS if larger).  The buffer
 * is the same for all and stays in cache, so the figures are per-call cost,
 * not memory bandwidth.
 *
 *   raw    isa-l directly:   c = ~crc32_iscsi(buf, n, ~c)  (chained)
 *   sync   the helper:       c = toeless_crc32c(c, buf, n) (chained: the
 *          same value, computed through the library)
 *   raw-i  isa-l directly, independent calls:  acc ^= ~crc32_iscsi(buf, n, ~0)
 *   sync-i the helper, independent calls:      acc ^= toeless_crc32c(0, buf, n)
 *   async  toeless_crc_submit() of BENCH_CRC_BATCH requests (default 64),
 *          then toeless_cq_poll() until all of them completed
 *
 * The chained loops are the headline (crc.<size>.sync_ratio): each digest
 * is consumed before the next one starts, as in a receive path that
 * compares a header digest before it parses the header, so they measure
 * the cost of one call including its latency.  The independent loops let
 * the CPU overlap consecutive calls (isa-l folds with PCLMUL even at 48 B,
 * a long latency with a high throughput); they are reported too
 * (crc.<size>.sync_ratio_indep) and discussed in doc/performance.md.
 *
 * Figures: crc.<size>.sync_ratio (sync/raw ops/s, chained),
 * crc.<size>.sync_ratio_indep, crc.<size>.async_ops (ops/s),
 * crc.<size>.async_ratio (async/sync-i ops/s: both are independent
 * requests).  Targets: sync_ratio >= 0.95 at 4 KiB and above, >= 0.85 at
 * 48 B.
 *
 * SPDX-License-Identifier: MIT
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <isa-l/crc.h>

#include "toeless.h"
#include "bench.h"

static volatile uint32_t sink;

static const size_t sizes[] = { 48, 512, 4096, 65536, 1048576 };
#define NSIZES (sizeof(sizes) / sizeof(sizes[0]))

enum { V_RAW, V_SYNC, V_RAWI, V_SYNCI, V_ASYNC, NV };

static toeless_device *dev;
static toeless_cq *cq;
static int batch;

static double run_raw_chain(const uint8_t *buf, size_t len, long iters)
{
	uint32_t r = 0;
	uint64_t t0 = bench_now_ns();
	for (long i = 0; i < iters; i++)
		r = ~crc32_iscsi((unsigned char *)(uintptr_t)buf, (int)len, ~r);
	uint64_t t = bench_now_ns() - t0;
	sink ^= r;
	return (double)iters * 1e9 / (double)(t ? t : 1);
}

static double run_sync_chain(const uint8_t *buf, size_t len, long iters)
{
	uint32_t c = 0;
	uint64_t t0 = bench_now_ns();
	for (long i = 0; i < iters; i++)
		c = toeless_crc32c(c, buf, len);
	uint64_t t = bench_now_ns() - t0;
	sink ^= c;
	return (double)iters * 1e9 / (double)(t ? t : 1);
}

static double run_raw(const uint8_t *buf, size_t len, long iters)
{
	uint32_t acc = 0;
	uint64_t t0 = bench_now_ns();
	for (long i = 0; i < iters; i++)
		acc ^= ~crc32_iscsi((unsigned char *)(uintptr_t)buf, (int)len, 0xffffffffu);
	uint64_t t = bench_now_ns() - t0;
	sink ^= acc;
	return (double)iters * 1e9 / (double)(t ? t : 1);
}

static double run_sync(const uint8_t *buf, size_t len, long iters)
{
	uint32_t acc = 0;
	uint64_t t0 = bench_now_ns();
	for (long i = 0; i < iters; i++)
		acc ^= toeless_crc32c(0, buf, len);
	uint64_t t = bench_now_ns() - t0;
	sink ^= acc;
	return (double)iters * 1e9 / (double)(t ? t : 1);
}

static double run_async(const uint8_t *buf, size_t len, long iters, uint32_t expect)
{
	struct iovec iov = { (void *)(uintptr_t)buf, len };
	struct toeless_crc_req *reqs = calloc((size_t)batch, sizeof(*reqs));
	struct toeless_completion *cqe = calloc((size_t)batch, sizeof(*cqe));
	if (!reqs || !cqe)
		bench_die("out of memory");
	for (int i = 0; i < batch; i++) {
		reqs[i].iov = &iov;
		reqs[i].iovcnt = 1;
		reqs[i].user_data = (uint64_t)i;
	}
	long done = 0, bad = 0;
	uint64_t t0 = bench_now_ns();
	while (done < iters) {
		int want = iters - done < batch ? (int)(iters - done) : batch;
		int sub = 0;
		while (sub < want) {
			int rc = toeless_crc_submit(dev, cq, reqs + sub, want - sub);
			if (rc == -EAGAIN) {
				int got = toeless_cq_poll(cq, cqe, batch);
				if (got < 0)
					bench_die("toeless_cq_poll: %s", toeless_strerror(got));
				continue;
			}
			if (rc < 0)
				bench_die("toeless_crc_submit: %s", toeless_strerror(rc));
			sub += rc;
		}
		int left = want;
		while (left > 0) {
			int got = toeless_cq_poll(cq, cqe, batch);
			if (got < 0)
				bench_die("toeless_cq_poll: %s", toeless_strerror(got));
			for (int i = 0; i < got; i++)
				bad += cqe[i].type != TOELESS_CQE_CRC || cqe[i].status != 0 || cqe[i].crc != expect;
			left -= got;
		}
		done += want;
	}
	uint64_t t = bench_now_ns() - t0;
	free(reqs);
	free(cqe);
	if (bad)
		bench_die("async CRC: %ld wrong completions", bad);
	return (double)iters * 1e9 / (double)(t ? t : 1);
}

int main(void)
{
	/* Short runs, many of them: on a shared machine the load changes on a
	 * scale of tens of milliseconds, so each comparison is made of runs a
	 * few milliseconds long, at least 21 times over. */
	int reps = bench_reps() < 21 ? 21 : bench_reps();
	long target_ms = bench_env_long("BENCH_CRC_MS", bench_quick() ? 2 : 5);
	batch = (int)bench_env_long("BENCH_CRC_BATCH", 64);
	if (batch < 1)
		batch = 1;

	int rc = toeless_device_open("sw", NULL, &dev);
	if (rc)
		bench_die("toeless_device_open(sw): %s", toeless_strerror(rc));
	struct toeless_cq_attr ca = { .size = sizeof(ca), .depth = (uint32_t)batch * 2 };
	if ((rc = toeless_cq_create(dev, &ca, &cq)))
		bench_die("toeless_cq_create: %s", toeless_strerror(rc));

	uint8_t *buf = bench_alloc(sizes[NSIZES - 1]);
	bench_fill(buf, sizes[NSIZES - 1], 42);

	bench_banner("crc: CRC32C helper vs isa-l crc32_iscsi (in-cache buffer)");
	bench_printf("%d repetitions of ~%ld ms runs per variant and size\n", reps, target_ms);
	bench_printf("async: backend sw, batch %d requests per toeless_crc_submit\n\n", batch);
	bench_printf("%-6s %12s %12s %8s | %12s %12s %8s | %12s %10s | %7s\n", "", "chained", "", "", "independent", "",
		     "", "async", "", "sync");
	bench_printf("%-6s %12s %12s %8s | %12s %12s %8s | %12s %10s | %7s\n", "size", "raw ops/s", "sync ops/s",
		     "sync/raw", "raw ops/s", "sync ops/s", "sync/raw", "ops/s", "async/sync", "GB/s");

	for (size_t s = 0; s < NSIZES; s++) {
		size_t len = sizes[s];
		uint32_t expect = bench_crc32c(0, buf, len);
		if (toeless_crc32c(0, buf, len) != expect)
			bench_die("toeless_crc32c disagrees with isa-l at %zu bytes", len);

		/* calibrate: iterations for ~target_ms of the raw loop */
		long iters = 1000;
		for (;;) {
			double ops = run_raw(buf, len, iters);
			double ms = (double)iters / ops * 1e3;
			if (ms >= target_ms / 4.0 || iters > (1L << 30)) {
				iters = (long)((double)iters * (double)target_ms / (ms > 0.001 ? ms : 0.001));
				break;
			}
			iters *= 8;
		}
		if (iters < batch)
			iters = batch;

		double ops[NV][64], r_sync[64], r_synci[64], r_async[64];
		if (reps > 64)
			reps = 64;
		run_sync(buf, len, iters / 8 + 1); /* warm the library path */
		run_async(buf, len, iters / 8 + 1, expect);
		for (int r = 0; r < reps; r++) {
			for (int k = 0; k < NV; k++) {
				int v = (k + r) % NV;
				if (v == V_RAW)
					ops[v][r] = run_raw_chain(buf, len, iters);
				else if (v == V_SYNC)
					ops[v][r] = run_sync_chain(buf, len, iters);
				else if (v == V_RAWI)
					ops[v][r] = run_raw(buf, len, iters);
				else if (v == V_SYNCI)
					ops[v][r] = run_sync(buf, len, iters);
				else
					ops[v][r] = run_async(buf, len, iters, expect);
			}
			r_sync[r] = ops[V_SYNC][r] / ops[V_RAW][r];
			r_synci[r] = ops[V_SYNCI][r] / ops[V_RAWI][r];
			r_async[r] = ops[V_ASYNC][r] / ops[V_SYNCI][r];
		}
		double m[NV];
		for (int v = 0; v < NV; v++)
			m[v] = bench_median(ops[v], reps);
		double ms = bench_median(r_sync, reps), ma = bench_median(r_async, reps);
		double msi = bench_median(r_synci, reps);
		char label[16];
		if (len >= 1048576)
			snprintf(label, sizeof(label), "%zuM", len >> 20);
		else if (len >= 1024)
			snprintf(label, sizeof(label), "%zuK", len >> 10);
		else
			snprintf(label, sizeof(label), "%zu", len);
		bench_printf("%-6s %12.0f %12.0f %8.3f | %12.0f %12.0f %8.3f | %12.0f %10.3f | %7.2f\n", label,
			     m[V_RAW], m[V_SYNC], ms, m[V_RAWI], m[V_SYNCI], msi, m[V_ASYNC], ma,
			     m[V_SYNC] * (double)len / 1e9);

		char name[64];
		snprintf(name, sizeof(name), "crc.%s.raw_ops", label);
		bench_figure(name, m[V_RAW], "ops/s");
		snprintf(name, sizeof(name), "crc.%s.sync_ops", label);
		bench_figure(name, m[V_SYNC], "ops/s");
		snprintf(name, sizeof(name), "crc.%s.sync_ratio", label);
		bench_figure(name, ms, "ratio");
		snprintf(name, sizeof(name), "crc.%s.sync_ratio_indep", label);
		bench_figure(name, msi, "ratio");
		snprintf(name, sizeof(name), "crc.%s.async_ops", label);
		bench_figure(name, m[V_ASYNC], "ops/s");
		snprintf(name, sizeof(name), "crc.%s.async_ratio", label);
		bench_figure(name, ma, "ratio");
	}
	bench_printf(
		"\nratios are medians of per-repetition ratios; targets (chained sync/raw): >= 0.95 from 4K, "
		">= 0.85 at 48\nasync/sync compares with the independent sync loop (both are independent requests)\n");
	bench_emit();

	toeless_cq_destroy(cq);
	toeless_device_close(dev);
	free(buf);
	return 0;
}
