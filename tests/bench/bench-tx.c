/*
 * tx.<segment>: the send helper with both digests against a bare writev of
 * the same PDUs, over loopback TCP.
 *
 *   toeless  toeless_pdu_send(ctx, bhs, NULL, 0, data iov, 1) with
 *            HeaderDigest and DataDigest on: the library computes both
 *            digests and gathers header, data, pad and digests into one
 *            sendmsg.
 *   writev   the same PDUs, digests computed beforehand (outside the timed
 *            span), sent with one writev {header + digest, data, trailer}.
 *
 * Data-Out PDUs of 8 KiB, 64 KiB and 256 KiB data segments for QD tasks of
 * TASK bytes, cycled; a drain thread reads the socket into a scratch buffer.
 * Before timing, one cycle of each is read back and compared byte for byte
 * with the pre-built stream.  Throughput is payload bytes over wall time
 * until the drain thread saw EOF; CPU is the sending thread's
 * CLOCK_THREAD_CPUTIME_ID per GiB of payload.
 *
 * Environment: BENCH_TX_MIB (payload per run, default 512; QUICK 64).
 *
 * SPDX-License-Identifier: MIT
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "toeless.h"
#include "bench.h"

#define ITT_BASE   0x200u
#define TASK_BYTES (1u << 20)
#define QD         4

enum { M_TOELESS, M_WRITEV, NM };
static const char *mname[NM] = { "toeless", "writev" };

struct pdu_desc {
	uint8_t bhs[BENCH_BHS];     /* template for the library (lengths set) */
	uint8_t hdr[BENCH_BHS + 4]; /* BHS + header digest, for writev */
	uint8_t trailer[8];         /* pad + data digest, for writev */
	uint32_t trailer_len;
	const uint8_t *data;
	uint32_t len;
};

static uint8_t *src[QD];
static struct pdu_desc *pdus;
static int npdus;
static uint8_t *expect_stream;
static size_t expect_len;
static toeless_device *dev;
static toeless_cq *cq;

static void build(uint32_t seg)
{
	uint32_t per_task = TASK_BYTES / seg;
	npdus = QD * (int)per_task;
	free(pdus);
	free(expect_stream);
	pdus = calloc((size_t)npdus, sizeof(*pdus));
	expect_stream = malloc((size_t)npdus * (BENCH_BHS + 4 + seg + 3 + 4));
	if (!pdus || !expect_stream)
		bench_die("out of memory");
	expect_len = 0;
	int k = 0;
	for (int t = 0; t < QD; t++) {
		for (uint32_t i = 0; i < per_task; i++, k++) {
			struct pdu_desc *p = &pdus[k];
			uint32_t off = i * seg;
			bench_bhs_data_out(p->bhs, ITT_BASE + (uint32_t)t, 0x1000u + (uint32_t)t, i, off, seg,
					   i + 1 == per_task ? BENCH_F_FINAL : 0);
			p->data = src[t] + off;
			p->len = seg;
			uint8_t *o = expect_stream + expect_len;
			size_t n = bench_pdu_write(o, p->bhs, p->data, seg, 1, 1);
			memcpy(p->hdr, o, BENCH_BHS + 4);
			p->trailer_len = bench_pad(seg) + 4;
			memcpy(p->trailer, o + BENCH_BHS + 4 + seg, p->trailer_len);
			expect_len += n;
		}
	}
}

struct drain {
	int fd;
	int verify; /* compare with expect_stream (one cycle) */
	uint64_t bytes;
	int mismatch;
};

static void *drain_main(void *arg)
{
	struct drain *d = arg;
	size_t cap = 1 << 20;
	uint8_t *buf = malloc(cap);
	if (!buf)
		bench_die("out of memory");
	for (;;) {
		ssize_t r = read(d->fd, buf, cap);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			bench_die("drain read: %s", strerror(errno));
		if (r == 0)
			break;
		if (d->verify) {
			if (d->bytes + (uint64_t)r > expect_len || memcmp(buf, expect_stream + d->bytes, (size_t)r))
				d->mismatch = 1;
		}
		d->bytes += (uint64_t)r;
	}
	free(buf);
	return NULL;
}

static toeless_ctx *make_ctx(int fd)
{
	struct toeless_ctx_attr a = { .size = sizeof(a), .fd = fd, .cq = cq };
	a.params.flags = TOELESS_CTX_HEADER_DIGEST | TOELESS_CTX_DATA_DIGEST;
	a.params.max_send_dsl = 262144;
	toeless_ctx *ctx;
	int rc = toeless_ctx_create(dev, &a, &ctx);
	if (rc)
		bench_die("toeless_ctx_create: %s", toeless_strerror(rc));
	return ctx;
}

static void send_cycles(int m, int fd, toeless_ctx *ctx, long cycles)
{
	for (long c = 0; c < cycles; c++) {
		for (int k = 0; k < npdus; k++) {
			const struct pdu_desc *p = &pdus[k];
			if (m == M_TOELESS) {
				struct iovec d = { (void *)(uintptr_t)p->data, p->len };
				int rc = toeless_pdu_send(ctx, p->bhs, NULL, 0, &d, 1);
				if (rc)
					bench_die("toeless_pdu_send: %s", toeless_strerror(rc));
			} else {
				struct iovec iov[3] = {
					{ (void *)(uintptr_t)p->hdr, BENCH_BHS + 4 },
					{ (void *)(uintptr_t)p->data, p->len },
					{ (void *)(uintptr_t)p->trailer, p->trailer_len },
				};
				size_t want = BENCH_BHS + 4 + p->len + p->trailer_len;
				ssize_t r = writev(fd, iov, 3);
				if (r < 0 || (size_t)r != want) {
					/* blocking socket: a short write is rare; finish it */
					if (r < 0 && errno != EINTR)
						bench_die("writev: %s", strerror(errno));
					size_t done = r < 0 ? 0 : (size_t)r;
					for (int i = 0; i < 3; i++) {
						if (done >= iov[i].iov_len) {
							done -= iov[i].iov_len;
							continue;
						}
						bench_write_all(fd, (uint8_t *)iov[i].iov_base + done,
								iov[i].iov_len - done);
						done = 0;
					}
				}
			}
		}
	}
}

struct result {
	double gbps, cpu_per_gib;
};

static struct result run_one(int m, long cycles, int verify)
{
	int sfd, rfd;
	bench_tcp_pair(&sfd, &rfd);
	struct drain d = { .fd = rfd, .verify = verify };
	pthread_t th;
	if (pthread_create(&th, NULL, drain_main, &d))
		bench_die("pthread_create");
	toeless_ctx *ctx = m == M_TOELESS ? make_ctx(sfd) : NULL;
	uint64_t c0 = bench_thread_cpu_ns(), t0 = bench_now_ns();
	send_cycles(m, sfd, ctx, cycles);
	uint64_t c1 = bench_thread_cpu_ns();
	shutdown(sfd, SHUT_WR);
	pthread_join(th, NULL);
	uint64_t t1 = bench_now_ns();
	if (ctx)
		toeless_ctx_destroy(ctx);
	close(sfd);
	close(rfd);
	uint64_t payload = (uint64_t)cycles * QD * TASK_BYTES;
	if (d.bytes != (uint64_t)cycles * expect_len)
		bench_die("%s: drained %llu bytes, expected %llu", mname[m], (unsigned long long)d.bytes,
			  (unsigned long long)((uint64_t)cycles * expect_len));
	if (d.mismatch)
		bench_die("%s: the bytes sent differ from the expected PDUs", mname[m]);
	struct result r = {
		.gbps = (double)payload / (double)(t1 - t0),
		.cpu_per_gib = (double)(c1 - c0) / 1e9 / ((double)payload / (1u << 30)),
	};
	return r;
}

int main(void)
{
	static const uint32_t segs[] = { 8192, 65536, 262144 };
	static const char *seg_names[] = { "8k", "64k", "256k" };
	int reps = bench_reps();
	long mib = bench_env_long("BENCH_TX_MIB", bench_quick() ? 64 : 512);
	long cycles = mib * 1048576L / ((long)QD * TASK_BYTES);
	if (cycles < 1)
		cycles = 1;

	int rc = toeless_device_open("sw", NULL, &dev);
	if (rc)
		bench_die("toeless_device_open(sw): %s", toeless_strerror(rc));
	struct toeless_cq_attr ca = { .size = sizeof(ca) };
	if ((rc = toeless_cq_create(dev, &ca, &cq)))
		bench_die("toeless_cq_create: %s", toeless_strerror(rc));
	for (int t = 0; t < QD; t++) {
		src[t] = bench_alloc(TASK_BYTES);
		bench_fill(src[t], TASK_BYTES, 2000 + (uint64_t)t);
	}

	bench_banner("tx: send helper (both digests) vs bare writev, loopback TCP");
	bench_printf("Data-Out PDUs for %d tasks x %u KiB, %ld MiB of payload per run; drain = 2nd thread\n", QD,
		     TASK_BYTES / 1024, cycles * QD * (long)TASK_BYTES / 1048576);
	bench_printf("GB/s = payload / wall time until the drain saw EOF; s/GiB = sending thread CPU\n\n");
	bench_printf("%-6s %9s %9s | %8s %8s | %9s %9s\n", "seg", "toeless", "writev", "cpu tl", "writev", "tput",
		     "cpu");
	bench_printf("%-6s %9s %9s | %8s %8s | %9s %9s\n", "", "GB/s", "GB/s", "s/GiB", "s/GiB", "ratio", "ratio");

	for (size_t s = 0; s < sizeof(segs) / sizeof(segs[0]); s++) {
		build(segs[s]);
		run_one(M_TOELESS, 1, 1); /* correctness: exact bytes */
		run_one(M_WRITEV, 1, 1);
		struct result r[NM][64];
		double tr[64], cr[64];
		if (reps > 64)
			reps = 64;
		for (int i = 0; i < reps; i++) {
			for (int k = 0; k < NM; k++) {
				int m = (k + i) % NM;
				r[m][i] = run_one(m, cycles, 0);
			}
			tr[i] = r[M_TOELESS][i].gbps / r[M_WRITEV][i].gbps;
			cr[i] = r[M_TOELESS][i].cpu_per_gib / r[M_WRITEV][i].cpu_per_gib;
		}
		double g[NM], cpu[NM];
		for (int m = 0; m < NM; m++) {
			double v[64], w[64];
			for (int i = 0; i < reps; i++) {
				v[i] = r[m][i].gbps;
				w[i] = r[m][i].cpu_per_gib;
			}
			g[m] = bench_median(v, reps);
			cpu[m] = bench_median(w, reps);
		}
		double mt = bench_median(tr, reps), mc = bench_median(cr, reps);
		bench_printf("%-6s %9.2f %9.2f | %8.3f %8.3f | %9.3f %9.3f\n", seg_names[s], g[M_TOELESS], g[M_WRITEV],
			     cpu[M_TOELESS], cpu[M_WRITEV], mt, mc);
		char name[64];
		snprintf(name, sizeof(name), "tx.%s.tput_ratio", seg_names[s]);
		bench_figure(name, mt, "ratio");
		snprintf(name, sizeof(name), "tx.%s.cpu_ratio", seg_names[s]);
		bench_figure(name, mc, "ratio");
		snprintf(name, sizeof(name), "tx.%s.toeless_gbps", seg_names[s]);
		bench_figure(name, g[M_TOELESS], "GB/s");
		snprintf(name, sizeof(name), "tx.%s.writev_gbps", seg_names[s]);
		bench_figure(name, g[M_WRITEV], "GB/s");
	}
	bench_printf("\nratios are medians of per-repetition ratios (toeless / writev); target: tput >= 0.90\n");
	bench_emit();

	for (int t = 0; t < QD; t++)
		free(src[t]);
	free(pdus);
	free(expect_stream);
	toeless_cq_destroy(cq);
	toeless_device_close(dev);
	return 0;
}
