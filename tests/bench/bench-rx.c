/*
 * rx.<segment>.<digests>: the receive engine over loopback TCP.
 *
 * A sender thread streams pre-built Data-In PDUs (8 KiB, 64 KiB, 256 KiB data
 * segments; digests none / header / both) for QD tasks of TASK bytes each,
 * cycling over the same ITTs; the receiving (main) thread takes them with
 * one of three receivers, into the same destination buffers:
 *
 *   toeless  toeless_pdu_recv() with every task's SGL posted under its ITT;
 *            on the task's completion it is posted again (the next cycle).
 *   readv    the ceiling: a bare readv loop that knows the stream layout and
 *            reads each PDU with one readv {header, destination, trailer};
 *            it parses nothing and checks no digest.
 *   floor    (readv-crc) the same readv loop plus one isa-l CRC pass over
 *            the bytes a digest covers (the header when HeaderDigest is on;
 *            the payload and pad just read when DataDigest is on), each
 *            compared with the digest received: the least any software
 *            receiver with digests can do.  Without digests it is the
 *            readv ceiling itself (not run again).
 *   naive    a naive stack: read() the header, check its digest, read() the
 *            data segment into a staging buffer, memcpy it to the
 *            destination, then CRC it in a second pass.
 *
 * Per repetition the three run back to back on fresh connections, in a
 * rotating order, each for the same number of bytes.  Throughput is
 * payload bytes over wall time from the first read to EOF; CPU is the
 * receiving thread's CLOCK_THREAD_CPUTIME_ID over the same span, per GiB
 * of payload.  The destination buffers are checked against the payload
 * after every run (outside the timed span).
 *
 * Two modes, each a full table:
 *   streaming  the sender writes while the receiver reads (the setting the
 *              issue asks for).  On loopback the sender is as fast as the
 *              receiver, so all three are sender-bound; a receiver that
 *              empties the socket sleeps in readv and pays the wake-up on
 *              its own CPU clock, which flatters slower receivers.
 *   prefilled  (root: SO_RCVBUFFORCE) the whole run is queued in the
 *              receiver's socket before the clock starts; the receiver never
 *              waits, so CPU per GiB is the receive work alone and
 *              throughput is the receiver's own.  Figures: rx.<cfg>.pre.*.
 *
 * Environment: BENCH_RX_MIB (payload per streaming run, default 512; QUICK
 * 64), BENCH_RX_PRE_MIB (per prefilled run, default 64), BENCH_RX_MODES
 * (stream,pre), BENCH_RX_TASK_KIB (task size, default 1024), BENCH_RX_QD
 * (tasks, default 4), BENCH_RX_ONLY=toeless|readv|naive|readv-crc and
 * BENCH_RX_CONFIG=64k.both (profiling).
 *
 * SPDX-License-Identifier: MIT
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "toeless.h"
#include "bench.h"

#define ITT_BASE 0x100u

enum { M_TOELESS, M_READV, M_NAIVE, M_FLOOR, NM };
static const char *mname[NM] = { "toeless", "readv", "naive", "readv-crc" };

struct layout {
	uint32_t task, off, len;
};

struct config {
	uint32_t seg;
	int hd, dd;
	const char *seg_name, *dig_name;
};

/* shared by every run of one configuration */
static uint32_t task_bytes;
static int qd;
static uint8_t **src, **dst;
static uint8_t *stream;
static size_t stream_len;
static struct layout *lay;
static int nlay;
static toeless_device *dev;
static toeless_cq *cq;

struct sender {
	int fd;
	long cycles;
	int ready; /* prefilled mode: written once every byte sits in the receiver's queue */
};

static void *sender_main(void *arg)
{
	struct sender *s = arg;
	for (long i = 0; i < s->cycles; i++)
		bench_write_all(s->fd, stream, stream_len);
	if (s->ready >= 0) {
		/* wait until the kernel has moved everything to the receiver */
		for (int i = 0; i < 20000; i++) {
			int outq = 0;
			if (ioctl(s->fd, TIOCOUTQ, &outq) || outq == 0)
				break;
			usleep(100);
		}
	}
	shutdown(s->fd, SHUT_WR);
	if (s->ready >= 0 && write(s->ready, "", 1) != 1)
		bench_die("sender: ready pipe");
	return NULL;
}

static void build_stream(const struct config *c)
{
	uint32_t per_task = task_bytes / c->seg;
	nlay = qd * (int)per_task;
	free(lay);
	lay = calloc((size_t)nlay, sizeof(*lay));
	free(stream);
	size_t max = (size_t)nlay * (BENCH_BHS + 4 + c->seg + 3 + 4);
	stream = malloc(max);
	if (!lay || !stream)
		bench_die("out of memory");
	size_t n = 0;
	int k = 0;
	for (int t = 0; t < qd; t++) {
		for (uint32_t i = 0; i < per_task; i++) {
			uint8_t bhs[BENCH_BHS];
			uint32_t off = i * c->seg;
			uint8_t fl = i + 1 == per_task ? BENCH_F_FINAL | BENCH_F_STATUS : 0;
			bench_bhs_data_in(bhs, ITT_BASE + (uint32_t)t, i, off, c->seg, fl);
			n += bench_pdu_write(stream + n, bhs, src[t] + off, c->seg, c->hd, c->dd);
			lay[k].task = (uint32_t)t;
			lay[k].off = off;
			lay[k].len = c->seg;
			k++;
		}
	}
	stream_len = n;
}

/* ---- receivers; each returns payload bytes received ---- */

static uint64_t rx_toeless(int fd, const struct config *c, double *syscalls_per_pdu)
{
	struct toeless_ctx_attr a = { .size = sizeof(a), .fd = fd, .cq = cq, .max_tasks = (uint32_t)qd };
	a.params.flags = (c->hd ? TOELESS_CTX_HEADER_DIGEST : 0) | (c->dd ? TOELESS_CTX_DATA_DIGEST : 0);
	a.params.max_recv_dsl = c->seg < 8192 ? 8192 : c->seg;
	toeless_ctx *ctx;
	int rc = toeless_ctx_create(dev, &a, &ctx);
	if (rc)
		bench_die("toeless_ctx_create: %s", toeless_strerror(rc));
	for (int t = 0; t < qd; t++) {
		struct iovec iov = { dst[t], task_bytes };
		if ((rc = toeless_sgl_post(ctx, ITT_BASE + (uint32_t)t, &iov, 1, (uint64_t)t)))
			bench_die("toeless_sgl_post: %s", toeless_strerror(rc));
	}
	uint64_t bytes = 0;
	struct toeless_pdu pdu;
	struct toeless_completion cqe[16];
	for (;;) {
		rc = toeless_pdu_recv(ctx, &pdu);
		if (rc == -EPIPE)
			break;
		if (rc)
			bench_die("toeless_pdu_recv: %s", toeless_strerror(rc));
		if (!(pdu.flags & TOELESS_PDU_F_PLACED))
			bench_die("a Data-In was not placed (opcode 0x%02x itt 0x%x)", pdu.opcode, pdu.itt);
		bytes += pdu.data_len;
		if (pdu.flags & TOELESS_PDU_F_TASK_DONE) {
			int n = toeless_cq_poll(cq, cqe, 16);
			for (int i = 0; i < n; i++) {
				if (cqe[i].type != TOELESS_CQE_SGL || cqe[i].status ||
				    cqe[i].bytes_placed != task_bytes)
					bench_die("bad completion: type %d status %d placed %llu", cqe[i].type,
						  cqe[i].status, (unsigned long long)cqe[i].bytes_placed);
				uint64_t t = cqe[i].user_data;
				struct iovec iov = { dst[t], task_bytes };
				if ((rc = toeless_sgl_post(ctx, cqe[i].itt, &iov, 1, t)))
					bench_die("toeless_sgl_post: %s", toeless_strerror(rc));
			}
		}
	}
	struct toeless_stats st = { .size = sizeof(st) };
	toeless_ctx_stats(ctx, &st);
	*syscalls_per_pdu = st.pdus_rx ? (double)st.recv_syscalls / (double)st.pdus_rx : 0;
	if (st.hdr_digest_errors || st.data_digest_errors)
		bench_die("digest errors on a clean stream");
	toeless_ctx_destroy(ctx);
	while (toeless_cq_poll(cq, cqe, 16) > 0) /* the cancelled posts */
		;
	return bytes;
}

/* readv everything iov describes; 0 at EOF before the first byte, else 1. */
static int readv_full(int fd, struct iovec *iov, int n)
{
	int first = 1;
	while (n > 0) {
		ssize_t r = readv(fd, iov, n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			bench_die("readv: %s", strerror(errno));
		if (r == 0) {
			if (first)
				return 0;
			bench_die("EOF mid-PDU");
		}
		first = 0;
		size_t left = (size_t)r;
		while (n > 0 && left >= iov->iov_len) {
			left -= iov->iov_len;
			iov++;
			n--;
		}
		if (n > 0 && left) {
			iov->iov_base = (uint8_t *)iov->iov_base + left;
			iov->iov_len -= left;
		}
	}
	return 1;
}

static uint64_t rx_readv(int fd, const struct config *c)
{
	uint8_t hdr[BENCH_BHS + 4], trailer[8];
	uint32_t hlen = BENCH_BHS + (c->hd ? 4 : 0);
	uint32_t tlen = bench_pad(c->seg) + (c->dd ? 4 : 0);
	uint64_t bytes = 0;
	for (int k = 0;; k = k + 1 == nlay ? 0 : k + 1) {
		struct iovec iov[3] = {
			{ hdr, hlen },
			{ dst[lay[k].task] + lay[k].off, lay[k].len },
			{ trailer, tlen },
		};
		if (!readv_full(fd, iov, tlen ? 3 : 2))
			break;
		bytes += lay[k].len;
	}
	return bytes;
}

static uint32_t get_le32(const uint8_t *p);

/* The floor: the ceiling's readv plus one CRC pass over what the digests
 * cover, checked against the digests received. */
static uint64_t rx_readv_crc(int fd, const struct config *c)
{
	uint8_t hdr[BENCH_BHS + 4], trailer[8];
	uint32_t hlen = BENCH_BHS + (c->hd ? 4 : 0);
	uint32_t pad = bench_pad(c->seg), tlen = pad + (c->dd ? 4 : 0);
	uint64_t bytes = 0;
	for (int k = 0;; k = k + 1 == nlay ? 0 : k + 1) {
		uint8_t *d = dst[lay[k].task] + lay[k].off;
		struct iovec iov[3] = {
			{ hdr, hlen },
			{ d, lay[k].len },
			{ trailer, tlen },
		};
		if (!readv_full(fd, iov, tlen ? 3 : 2))
			break;
		if (c->hd && bench_crc32c(0, hdr, BENCH_BHS) != get_le32(hdr + BENCH_BHS))
			bench_die("readv-crc: header digest");
		if (c->dd && bench_crc32c(bench_crc32c(0, d, lay[k].len), trailer, pad) != get_le32(trailer + pad))
			bench_die("readv-crc: data digest");
		bytes += lay[k].len;
	}
	return bytes;
}

static int read_full(int fd, void *buf, size_t len)
{
	struct iovec iov = { buf, len };
	return readv_full(fd, &iov, 1);
}

static uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint32_t get_le32(const uint8_t *p)
{
	return (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}

static uint64_t rx_naive(int fd, const struct config *c, uint8_t *staging)
{
	uint8_t hdr[BENCH_BHS + 4];
	uint32_t hlen = BENCH_BHS + (c->hd ? 4 : 0);
	uint64_t bytes = 0;
	for (;;) {
		if (!read_full(fd, hdr, hlen))
			break;
		if (c->hd && bench_crc32c(0, hdr, BENCH_BHS) != get_le32(hdr + BENCH_BHS))
			bench_die("naive: header digest");
		uint32_t dsl = (uint32_t)hdr[5] << 16 | (uint32_t)hdr[6] << 8 | hdr[7];
		uint32_t itt = get_be32(hdr + 16), off = get_be32(hdr + 40);
		uint32_t pad = bench_pad(dsl), seg = dsl + pad + (c->dd ? 4 : 0);
		if ((hdr[0] & 0x3f) != BENCH_OP_DATA_IN || itt - ITT_BASE >= (uint32_t)qd || off + dsl > task_bytes)
			bench_die("naive: unexpected PDU");
		if (!read_full(fd, staging, seg))
			bench_die("naive: EOF mid-PDU");
		uint8_t *d = dst[itt - ITT_BASE] + off;
		memcpy(d, staging, dsl);
		if (c->dd) {
			uint32_t crc = bench_crc32c(0, d, dsl);
			crc = bench_crc32c(crc, staging + dsl, pad);
			if (crc != get_le32(staging + dsl + pad))
				bench_die("naive: data digest");
		}
		bytes += dsl;
	}
	return bytes;
}

struct result {
	double gbps, cpu_per_gib, sc_per_pdu;
};

/* Socket buffers of the prefilled mode: room for the whole run in the
 * receiver's queue. */
#define PREFILL_BUF (256 << 20)

static struct result run_one(int m, const struct config *c, long cycles, uint8_t *staging, int prefill)
{
	for (int t = 0; t < qd; t++)
		memset(dst[t], 0, task_bytes);
	int rfd, sfd, ready[2] = { -1, -1 };
	if (prefill) {
		if (bench_tcp_pair_buf(&sfd, &rfd, PREFILL_BUF) || pipe(ready))
			bench_die("prefilled mode: cannot force %d MiB socket buffers (needs root)", PREFILL_BUF >> 20);
	} else {
		bench_tcp_pair(&rfd, &sfd);
	}
	struct sender s = { sfd, cycles, ready[1] };
	pthread_t th;
	if (pthread_create(&th, NULL, sender_main, &s))
		bench_die("pthread_create");
	if (prefill) {
		char b;
		if (read(ready[0], &b, 1) != 1)
			bench_die("prefilled mode: ready pipe");
		close(ready[0]);
		close(ready[1]);
	}
	struct result res = { 0 };
	uint64_t c0 = bench_thread_cpu_ns(), t0 = bench_now_ns(), bytes;
	if (m == M_TOELESS)
		bytes = rx_toeless(rfd, c, &res.sc_per_pdu);
	else if (m == M_READV)
		bytes = rx_readv(rfd, c);
	else if (m == M_FLOOR)
		bytes = rx_readv_crc(rfd, c);
	else
		bytes = rx_naive(rfd, c, staging);
	uint64_t t1 = bench_now_ns(), c1 = bench_thread_cpu_ns();
	pthread_join(th, NULL);
	close(rfd);
	close(sfd);
	uint64_t expect = (uint64_t)cycles * qd * task_bytes;
	if (bytes != expect)
		bench_die("%s: received %llu payload bytes, expected %llu", mname[m], (unsigned long long)bytes,
			  (unsigned long long)expect);
	for (int t = 0; t < qd; t++)
		if (memcmp(dst[t], src[t], task_bytes))
			bench_die("%s: task %d's buffer differs from the payload sent", mname[m], t);
	res.gbps = (double)bytes / (double)(t1 - t0);
	res.cpu_per_gib = (double)(c1 - c0) / 1e9 / ((double)bytes / (1u << 30));
	return res;
}

static const struct config configs[] = {
	{ 8192, 0, 0, "8k", "none" },     { 8192, 1, 0, "8k", "header" },     { 8192, 1, 1, "8k", "both" },
	{ 65536, 0, 0, "64k", "none" },   { 65536, 1, 0, "64k", "header" },   { 65536, 1, 1, "64k", "both" },
	{ 262144, 0, 0, "256k", "none" }, { 262144, 1, 0, "256k", "header" }, { 262144, 1, 1, "256k", "both" },
};

static void table_header(void)
{
	bench_printf("%-12s %7s %7s %7s %7s | %6s %6s %6s %6s | %7s %7s %7s %7s %7s %7s | %5s\n", "config", "toeless",
		     "readv", "rv+crc", "naive", "cpu tl", "readv", "rv+crc", "naive", "tput/", "tput/", "tput/",
		     "cpu/", "cpu/", "cpu/", "sc/");
	bench_printf("%-12s %7s %7s %7s %7s | %6s %6s %6s %6s | %7s %7s %7s %7s %7s %7s | %5s\n", "", "GB/s", "GB/s",
		     "GB/s", "GB/s", "s/GiB", "s/GiB", "s/GiB", "s/GiB", "ceiling", "floor", "naive", "ceiling",
		     "floor", "naive", "PDU");
}

/* Every configuration, every receiver, reps times alternated. */
static void run_mode(int prefill, long cycles, int reps, uint8_t *staging, const char *only, const char *only_cfg)
{
	for (size_t ci = 0; ci < sizeof(configs) / sizeof(configs[0]); ci++) {
		const struct config *c = &configs[ci];
		char label[32];
		snprintf(label, sizeof(label), "%s.%s", c->seg_name, c->dig_name);
		if (only_cfg && strcmp(only_cfg, label))
			continue;
		build_stream(c);
		struct result r[NM][64];
		double tc[64], tn[64], cc[64], cn[64], tf[64], cf[64];
		int digests = c->hd || c->dd;
		if (reps > 64)
			reps = 64;
		for (int i = 0; i < reps; i++) {
			for (int k = 0; k < NM; k++) {
				int m = (k + i) % NM;
				if (only && strcmp(only, mname[m]))
					continue;
				if (m == M_FLOOR && !digests)
					continue; /* no digest: the floor is the ceiling */
				r[m][i] = run_one(m, c, cycles, staging, prefill);
			}
			if (only)
				continue;
			if (!digests)
				r[M_FLOOR][i] = r[M_READV][i];
			tf[i] = r[M_TOELESS][i].gbps / r[M_FLOOR][i].gbps;
			cf[i] = r[M_TOELESS][i].cpu_per_gib / r[M_FLOOR][i].cpu_per_gib;
			tc[i] = r[M_TOELESS][i].gbps / r[M_READV][i].gbps;
			tn[i] = r[M_TOELESS][i].gbps / r[M_NAIVE][i].gbps;
			cc[i] = r[M_TOELESS][i].cpu_per_gib / r[M_READV][i].cpu_per_gib;
			cn[i] = r[M_TOELESS][i].cpu_per_gib / r[M_NAIVE][i].cpu_per_gib;
		}
		if (only)
			continue;
		double g[NM], cpu[NM], sc[64];
		for (int m = 0; m < NM; m++) {
			double v[64], w[64];
			for (int i = 0; i < reps; i++) {
				v[i] = r[m][i].gbps;
				w[i] = r[m][i].cpu_per_gib;
			}
			g[m] = bench_median(v, reps);
			cpu[m] = bench_median(w, reps);
		}
		for (int i = 0; i < reps; i++)
			sc[i] = r[M_TOELESS][i].sc_per_pdu;
		double mtc = bench_median(tc, reps), mtn = bench_median(tn, reps);
		double mcc = bench_median(cc, reps), mcn = bench_median(cn, reps), msc = bench_median(sc, reps);
		double mtf = bench_median(tf, reps), mcf = bench_median(cf, reps);
		bench_printf("%-12s %7.2f %7.2f %7.2f %7.2f | %6.3f %6.3f %6.3f %6.3f | %7.3f %7.3f %7.3f %7.3f %7.3f "
			     "%7.3f | %5.2f\n",
			     label, g[M_TOELESS], g[M_READV], g[M_FLOOR], g[M_NAIVE], cpu[M_TOELESS], cpu[M_READV],
			     cpu[M_FLOOR], cpu[M_NAIVE], mtc, mtf, mtn, mcc, mcf, mcn, msc);
		char name[64];
#define FIG(suffix, val, unit)                                                                                         \
	do {                                                                                                           \
		snprintf(name, sizeof(name), "rx.%s%s.%s", label, prefill ? ".pre" : "", suffix);                      \
		bench_figure(name, val, unit);                                                                         \
	} while (0)
		FIG("tput_vs_ceiling", mtc, "ratio");
		FIG("tput_vs_naive", mtn, "ratio");
		FIG("cpu_vs_ceiling", mcc, "ratio");
		FIG("cpu_vs_naive", mcn, "ratio");
		FIG("tput_vs_floor", mtf, "ratio");
		FIG("cpu_vs_floor", mcf, "ratio");
		FIG("floor_gbps", g[M_FLOOR], "GB/s");
		FIG("floor_cpu", cpu[M_FLOOR], "s/GiB");
		FIG("toeless_gbps", g[M_TOELESS], "GB/s");
		FIG("ceiling_gbps", g[M_READV], "GB/s");
		FIG("naive_gbps", g[M_NAIVE], "GB/s");
		FIG("toeless_cpu", cpu[M_TOELESS], "s/GiB");
		FIG("ceiling_cpu", cpu[M_READV], "s/GiB");
		FIG("naive_cpu", cpu[M_NAIVE], "s/GiB");
		FIG("syscalls_per_pdu", msc, "count");
#undef FIG
	}
}

int main(void)
{
	int reps = bench_reps();
	long mib = bench_env_long("BENCH_RX_MIB", bench_quick() ? 64 : 512);
	long pre_mib = bench_env_long("BENCH_RX_PRE_MIB", 64);
	const char *modes = getenv("BENCH_RX_MODES");
	task_bytes = (uint32_t)bench_env_long("BENCH_RX_TASK_KIB", 1024) * 1024u;
	qd = (int)bench_env_long("BENCH_RX_QD", 4);
	const char *only = getenv("BENCH_RX_ONLY"), *only_cfg = getenv("BENCH_RX_CONFIG");
	if (task_bytes < 262144 || task_bytes % 262144 || qd < 1)
		bench_die("BENCH_RX_TASK_KIB must be a multiple of 256 and BENCH_RX_QD at least 1");

	int rc = toeless_device_open("sw", NULL, &dev);
	if (rc)
		bench_die("toeless_device_open(sw): %s", toeless_strerror(rc));
	struct toeless_cq_attr ca = { .size = sizeof(ca) };
	if ((rc = toeless_cq_create(dev, &ca, &cq)))
		bench_die("toeless_cq_create: %s", toeless_strerror(rc));
	src = calloc((size_t)qd, sizeof(*src));
	dst = calloc((size_t)qd, sizeof(*dst));
	for (int t = 0; t < qd; t++) {
		src[t] = bench_alloc(task_bytes);
		dst[t] = bench_alloc(task_bytes);
		bench_fill(src[t], task_bytes, 1000 + (uint64_t)t);
	}
	uint8_t *staging = bench_alloc(262144 + 8);

	bench_banner("rx: receive engine over loopback TCP, Data-In into posted SGLs");
	long cycles = mib * 1048576L / ((long)qd * task_bytes);
	if (cycles < 1)
		cycles = 1;
	long pre_cycles = pre_mib * 1048576L / ((long)qd * task_bytes);
	if (pre_cycles < 1)
		pre_cycles = 1;
	if (reps > 64)
		reps = 64;
	bench_printf("%d tasks x %u KiB of Data-In, cycled; receiver = main thread, sender = 2nd thread\n", qd,
		     task_bytes / 1024);
	bench_printf("GB/s = payload bytes / wall time; s/GiB = receiving thread CPU per GiB of payload\n");
	if (!modes || strstr(modes, "stream")) {
		bench_printf("\n-- streaming: the sender writes while the receiver reads, %ld MiB per run --\n",
			     cycles * qd * (long)task_bytes / 1048576);
		table_header();
		run_mode(0, cycles, reps, staging, only, only_cfg);
	}
	if (!modes || strstr(modes, "pre")) {
		int a, b;
		if (bench_tcp_pair_buf(&a, &b, PREFILL_BUF)) {
			bench_printf("\n-- prefilled: SKIPPED (forcing %d MiB socket buffers needs root) --\n",
				     PREFILL_BUF >> 20);
		} else {
			bench_printf("\n-- prefilled: %ld MiB already queued in the receiver's socket before the clock "
				     "starts: the receiver never waits --\n",
				     pre_cycles * qd * (long)task_bytes / 1048576);
			table_header();
			run_mode(1, pre_cycles, reps, staging, only, only_cfg);
		}
		close(a);
		close(b);
	}
	bench_printf("\nratios are medians of per-repetition ratios (toeless / other). Targets: tput/ceiling >= 0.90 "
		     "(both digests), >= 0.95 (none);\ncpu/ceiling <= 1.15 and cpu/naive <= 0.85 (both digests); "
		     "prefilled, both digests: cpu/floor <= 1.03 at 64k and 256k, <= 1.08 at 8k.\n"
		     "floor (rv+crc) = the readv ceiling plus one isa-l CRC pass over the digested bytes (= readv "
		     "without digests).\nFigures of the prefilled runs are named rx.<config>.pre.*\n");
	bench_emit();

	for (int t = 0; t < qd; t++) {
		free(src[t]);
		free(dst[t]);
	}
	free(src);
	free(dst);
	free(staging);
	free(stream);
	free(lay);
	toeless_cq_destroy(cq);
	toeless_device_close(dev);
	return 0;
}
