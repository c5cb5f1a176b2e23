/*
 * Shared helpers of the libtoeless benchmarks.  See bench.h.
 *
 * SPDX-License-Identifier: MIT
 */
#include "config.h"

#include <errno.h>
#include <malloc.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <isa-l/crc.h>

#include "toeless.h"
#include "bench.h"

uint64_t bench_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t bench_thread_cpu_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

long bench_env_long(const char *name, long def)
{
	const char *s = getenv(name);
	if (!s || !*s)
		return def;
	char *end;
	long v = strtol(s, &end, 10);
	if (*end)
		bench_die("%s=%s: not a number", name, s);
	return v;
}

int bench_reps(void)
{
	long r = bench_env_long("BENCH_REPS", 7);
	return r < 5 ? 5 : (int)r;
}

int bench_quick(void)
{
	return bench_env_long("BENCH_QUICK", 0) != 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

double bench_median(const double *v, int n)
{
	if (n <= 0)
		return 0;
	double *s = malloc(sizeof(*s) * (size_t)n);
	if (!s)
		bench_die("out of memory");
	memcpy(s, v, sizeof(*s) * (size_t)n);
	qsort(s, (size_t)n, sizeof(*s), cmp_double);
	double m = n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
	free(s);
	return m;
}

struct figure {
	char name[64];
	double value;
	char unit[16];
};
static struct figure *figures;
static int n_figures, cap_figures;

void bench_figure(const char *name, double value, const char *unit)
{
	if (n_figures == cap_figures) {
		cap_figures = cap_figures ? cap_figures * 2 : 64;
		figures = realloc(figures, sizeof(*figures) * (size_t)cap_figures);
		if (!figures)
			bench_die("out of memory");
	}
	struct figure *f = &figures[n_figures++];
	snprintf(f->name, sizeof(f->name), "%s", name);
	snprintf(f->unit, sizeof(f->unit), "%s", unit);
	f->value = value;
}

void bench_emit(void)
{
	printf("\n");
	for (int i = 0; i < n_figures; i++) {
		const struct figure *f = &figures[i];
		double a = f->value < 0 ? -f->value : f->value;
		if (a != 0 && (a >= 1e6 || a < 1e-3))
			printf("BENCH %s %.4g %s\n", f->name, f->value, f->unit);
		else if (a >= 100)
			printf("BENCH %s %.1f %s\n", f->name, f->value, f->unit);
		else
			printf("BENCH %s %.4f %s\n", f->name, f->value, f->unit);
	}
	fflush(stdout);
	free(figures);
	figures = NULL;
	n_figures = cap_figures = 0;
}

void bench_printf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	fflush(stdout);
}

void bench_die(const char *fmt, ...)
{
	va_list ap;
	fflush(stdout);
	fprintf(stderr, "bench: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	exit(1);
}

void bench_banner(const char *what)
{
	char model[128] = "unknown CPU";
	FILE *f = fopen("/proc/cpuinfo", "r");
	if (f) {
		char line[256];
		while (fgets(line, sizeof(line), f)) {
			if (!strncmp(line, "model name", 10)) {
				char *p = strchr(line, ':');
				if (p) {
					p += 1 + (p[1] == ' ');
					p[strcspn(p, "\n")] = 0;
					snprintf(model, sizeof(model), "%s", p);
				}
				break;
			}
		}
		fclose(f);
	}
	struct utsname u;
	uname(&u);
	bench_printf("== %s ==\n", what);
	bench_printf("libtoeless %s; %s, %ld CPUs online; Linux %s; %d repetitions, alternated%s\n", toeless_version(),
		     model, sysconf(_SC_NPROCESSORS_ONLN), u.release, bench_reps(),
		     bench_quick() ? "; QUICK (smoke run, noisy)" : "");
}

void *bench_alloc(size_t len)
{
	size_t rounded = (len + 4095) & ~(size_t)4095;
	void *p = aligned_alloc(4096, rounded ? rounded : 4096);
	if (!p)
		bench_die("out of memory (%zu bytes)", len);
	memset(p, 0, rounded);
	return p;
}

uint64_t bench_rand(uint64_t *state)
{
	uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

void bench_fill(void *buf, size_t len, uint64_t seed)
{
	uint8_t *p = buf;
	uint64_t st = seed;
	while (len >= 8) {
		uint64_t v = bench_rand(&st);
		memcpy(p, &v, 8);
		p += 8;
		len -= 8;
	}
	while (len--)
		*p++ = (uint8_t)bench_rand(&st);
}

size_t bench_heap_in_use(void)
{
	struct mallinfo2 mi = mallinfo2();
	return mi.uordblks + mi.hblkhd;
}

uint32_t bench_crc32c(uint32_t crc, const void *buf, size_t len)
{
	return ~crc32_iscsi((unsigned char *)(uintptr_t)buf, (int)len, ~crc);
}

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static void put_le32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static void set_dsl(uint8_t *bhs, uint32_t dsl)
{
	bhs[4] = 0;
	bhs[5] = (uint8_t)(dsl >> 16);
	bhs[6] = (uint8_t)(dsl >> 8);
	bhs[7] = (uint8_t)dsl;
}

void bench_bhs_data_in(uint8_t *bhs, uint32_t itt, uint32_t datasn, uint32_t offset, uint32_t dsl, uint8_t flags)
{
	memset(bhs, 0, BENCH_BHS);
	bhs[0] = BENCH_OP_DATA_IN;
	bhs[1] = flags;
	set_dsl(bhs, dsl);
	put_be32(bhs + 16, itt);
	put_be32(bhs + 20, 0xffffffffu); /* TTT */
	put_be32(bhs + 24, datasn + 1);  /* StatSN (with S) */
	put_be32(bhs + 28, 1);           /* ExpCmdSN */
	put_be32(bhs + 32, 64);          /* MaxCmdSN */
	put_be32(bhs + 36, datasn);
	put_be32(bhs + 40, offset);
}

void bench_bhs_data_out(uint8_t *bhs, uint32_t itt, uint32_t ttt, uint32_t datasn, uint32_t offset, uint32_t dsl,
			uint8_t flags)
{
	memset(bhs, 0, BENCH_BHS);
	bhs[0] = BENCH_OP_DATA_OUT;
	bhs[1] = flags;
	set_dsl(bhs, dsl);
	put_be32(bhs + 16, itt);
	put_be32(bhs + 20, ttt);
	put_be32(bhs + 28, 1); /* ExpStatSN */
	put_be32(bhs + 36, datasn);
	put_be32(bhs + 40, offset);
}

size_t bench_pdu_write(uint8_t *out, const uint8_t *bhs, const void *data, uint32_t dsl, int hdr_digest,
		       int data_digest)
{
	size_t n = 0;
	memcpy(out, bhs, BENCH_BHS);
	set_dsl(out, dsl);
	n = BENCH_BHS;
	if (hdr_digest) {
		put_le32(out + n, bench_crc32c(0, out, BENCH_BHS));
		n += 4;
	}
	if (dsl) {
		uint32_t pad = bench_pad(dsl);
		memcpy(out + n, data, dsl);
		memset(out + n + dsl, 0, pad);
		if (data_digest)
			put_le32(out + n + dsl + pad, bench_crc32c(0, out + n, dsl + pad));
		n += dsl + pad + (data_digest ? 4 : 0);
	}
	return n;
}

static int tcp_pair(int *a, int *b, int buf)
{
	int forced = 0;
	int l = socket(AF_INET, SOCK_STREAM, 0);
	if (l < 0)
		bench_die("socket: %s", strerror(errno));
	/* the receive buffer is set on the listener (the accepted socket
	 * inherits it) before the handshake, so the window scale fits it */
	if (buf && setsockopt(l, SOL_SOCKET, SO_RCVBUFFORCE, &buf, sizeof(buf)))
		forced = -1;
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(sa);
	if (bind(l, (struct sockaddr *)&sa, sizeof(sa)) || listen(l, 1) || getsockname(l, (struct sockaddr *)&sa, &sl))
		bench_die("listen on loopback: %s", strerror(errno));
	int c = socket(AF_INET, SOCK_STREAM, 0);
	if (c < 0)
		bench_die("socket: %s", strerror(errno));
	if (buf && setsockopt(c, SOL_SOCKET, SO_SNDBUFFORCE, &buf, sizeof(buf)))
		forced = -1;
	if (connect(c, (struct sockaddr *)&sa, sizeof(sa)))
		bench_die("connect on loopback: %s", strerror(errno));
	int s = accept(l, NULL, NULL);
	if (s < 0)
		bench_die("accept: %s", strerror(errno));
	close(l);
	*a = c;
	*b = s;
	return forced;
}

void bench_tcp_pair(int *a, int *b)
{
	tcp_pair(a, b, 0);
}

int bench_tcp_pair_buf(int *a, int *b, int buf)
{
	return tcp_pair(a, b, buf);
}

void bench_write_all(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	while (len) {
		ssize_t r = write(fd, p, len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			bench_die("write: %s", r < 0 ? strerror(errno) : "short");
		p += r;
		len -= (size_t)r;
	}
}

long bench_raise_nofile(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl))
		return 1024;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
		getrlimit(RLIMIT_NOFILE, &rl);
	}
	return rl.rlim_cur == RLIM_INFINITY ? 1L << 20 : (long)rl.rlim_cur;
}
