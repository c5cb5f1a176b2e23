/*
 * CRC32C: the RFC 3720 B.4 vectors (tests/vectors/crc32c.txt), the wire byte
 * order and residue, agreement with an independent bitwise CRC32C over
 * random lengths and alignments, the inline path for short buffers and the
 * isa-l path it stands in for, chaining, iovec lists, and asynchronous
 * requests on the software backend and on an engine that defers them.
 *
 * SPDX-License-Identifier: MIT
 */
#include "config.h"

#include <check.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <isa-l/crc.h>

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#endif
#endif
#ifndef RUNNING_ON_VALGRIND
#define RUNNING_ON_VALGRIND 0
#endif

#include "toeless.h"
#include "toeless_backend.h"
#include "backends.h"
#include "crc.h"

/* ---- an independent CRC32C: bit by bit, reflected 0x82F63B78 ---- */

static uint32_t ref_crc32c(uint32_t crc, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	uint32_t r = ~crc;

	while (len--) {
		r ^= *p++;
		for (int k = 0; k < 8; k++)
			r = (r >> 1) ^ (0x82F63B78u & (0u - (r & 1)));
	}
	return ~r;
}

static uint64_t rnd_state;

static uint64_t rnd(void)
{
	/* splitmix64: deterministic, so a failure reproduces */
	uint64_t z = (rnd_state += 0x9E3779B97F4A7C15ull);

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

static uint32_t rnd_range(uint32_t lo, uint32_t hi)
{
	return lo + (uint32_t)(rnd() % ((uint64_t)hi - lo + 1));
}

static void rnd_fill(uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)rnd();
}

/* TOELESS_TEST_ITER scales random iteration counts (e.g. 0.2 under valgrind). */
static unsigned iters(unsigned def)
{
	const char *e = getenv("TOELESS_TEST_ITER");
	double f = e ? atof(e) : 1.0;
	unsigned n = (unsigned)(def * (f > 0 ? f : 1.0));

	return n ? n : 1;
}

static void setup_rnd(void)
{
	rnd_state = 0x746f656c657373ull;
}

/* ---- the vectors file ---- */

struct vec {
	char name[64];
	uint8_t data[256];
	size_t len;
	uint32_t value;
	uint8_t wire[4];
};

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Hex digits of tok (an even number of them) appended to v->data. */
static void put_hex(struct vec *v, const char *tok)
{
	size_t n = strlen(tok);

	ck_assert_msg(n % 2 == 0, "%s: odd hex token %s", v->name, tok);
	for (size_t i = 0; i < n; i += 2) {
		int hi = hexval(tok[i]), lo = hexval(tok[i + 1]);

		ck_assert_msg(hi >= 0 && lo >= 0, "%s: bad hex token %s", v->name, tok);
		ck_assert(v->len < sizeof(v->data));
		v->data[v->len++] = (uint8_t)(hi << 4 | lo);
	}
}

static void parse_input(struct vec *v, const char *line, char **tok, int n)
{
	if (n == 3 && !strcmp(tok[1], "x")) {
		/* "32 x 00" */
		int count = atoi(tok[0]);

		ck_assert(count > 0 && (size_t)count <= sizeof(v->data));
		for (int i = 0; i < count; i++)
			put_hex(v, tok[2]);
	} else if (n >= 1 && !strcmp(tok[0], "ASCII")) {
		/* ASCII "text": take the quoted text from the line itself */
		const char *q1 = strchr(line, '"'), *q2 = q1 ? strchr(q1 + 1, '"') : NULL;

		ck_assert_msg(q1 && q2, "%s: unterminated string", v->name);
		v->len = (size_t)(q2 - q1 - 1);
		memcpy(v->data, q1 + 1, v->len);
	} else if (n >= 4 && !strcmp(tok[n - 2], "...")) {
		/* "00 01 02 ... 1f": an arithmetic run */
		int a = (int)strtol(tok[0], NULL, 16), b = (int)strtol(tok[1], NULL, 16);
		int z = (int)strtol(tok[n - 1], NULL, 16), step = b - a;

		ck_assert(step == 1 || step == -1);
		for (int x = a;; x += step) {
			v->data[v->len++] = (uint8_t)x;
			if (x == z)
				break;
			ck_assert(v->len < sizeof(v->data));
		}
	} else {
		for (int i = 0; i < n; i++)
			put_hex(v, tok[i]);
	}
}

static int load_vectors(struct vec *vs, int max)
{
	const char *path = getenv("TOELESS_VECTORS");
	char line[1024];
	FILE *f;
	int nv = 0;

	ck_assert_msg(path != NULL, "TOELESS_VECTORS is not set (make check sets it)");
	f = fopen(path, "r");
	ck_assert_msg(f != NULL, "cannot open %s", path);
	while (fgets(line, sizeof(line), f)) {
		char copy[1024], *tok[64], *save = NULL;
		int n = 0;
		struct vec *v;

		if (line[0] == '#' || line[0] == '\n')
			continue;
		strcpy(copy, line);
		for (char *t = strtok_r(copy, " \t\r\n", &save); t && n < 64; t = strtok_r(NULL, " \t\r\n", &save))
			tok[n++] = t;
		if (n == 0)
			continue;
		/* name, input..., value, 4 wire bytes */
		ck_assert_msg(n >= 7, "short vector line: %s", line);
		ck_assert(nv < max);
		v = &vs[nv++];
		memset(v, 0, sizeof(*v));
		snprintf(v->name, sizeof(v->name), "%s", tok[0]);
		ck_assert_msg(!strncmp(tok[n - 5], "0x", 2), "%s: no value", v->name);
		v->value = (uint32_t)strtoul(tok[n - 5], NULL, 16);
		for (int i = 0; i < 4; i++)
			v->wire[i] = (uint8_t)strtoul(tok[n - 4 + i], NULL, 16);
		parse_input(v, line, tok + 1, n - 6);
	}
	fclose(f);
	return nv;
}

static const struct vec *find_vec(const struct vec *vs, int n, const char *name)
{
	for (int i = 0; i < n; i++)
		if (!strcmp(vs[i].name, name))
			return &vs[i];
	return NULL;
}

START_TEST(test_vectors)
{
	struct vec vs[32];
	int n = load_vectors(vs, 32);
	static const struct {
		const char *name;
		size_t len;
	} expect[] = {
		{ "zeros32", 32 },        { "ones32", 32 },      { "incrementing32", 32 },
		{ "decrementing32", 32 }, { "check-string", 9 }, { "read10-bhs", 48 },
	};

	ck_assert_int_ge(n, 6);
	for (size_t i = 0; i < sizeof(expect) / sizeof(expect[0]); i++) {
		const struct vec *v = find_vec(vs, n, expect[i].name);

		ck_assert_msg(v != NULL, "vector %s missing", expect[i].name);
		ck_assert_uint_eq(v->len, expect[i].len);
	}
	/* The parser read what the file says, not something else. */
	ck_assert_uint_eq(find_vec(vs, n, "incrementing32")->data[31], 0x1f);
	ck_assert_uint_eq(find_vec(vs, n, "decrementing32")->data[0], 0x1f);
	ck_assert_uint_eq(find_vec(vs, n, "read10-bhs")->data[32], 0x28);

	for (int i = 0; i < n; i++) {
		const struct vec *v = &vs[i];
		uint8_t buf[260], wire[4];
		uint32_t got = toeless_crc32c(0, v->data, v->len);

		ck_assert_msg(got == v->value, "%s: 0x%08x, expected 0x%08x", v->name, got, v->value);
		ck_assert_msg(ref_crc32c(0, v->data, v->len) == v->value, "%s: reference disagrees", v->name);
		/* On the wire: least significant byte first. */
		wire[0] = (uint8_t)got;
		wire[1] = (uint8_t)(got >> 8);
		wire[2] = (uint8_t)(got >> 16);
		wire[3] = (uint8_t)(got >> 24);
		ck_assert_msg(!memcmp(wire, v->wire, 4), "%s: wire order", v->name);
		/* Residue: segment followed by its digest. */
		memcpy(buf, v->data, v->len);
		memcpy(buf + v->len, v->wire, 4);
		ck_assert_uint_eq(toeless_crc32c(0, buf, v->len + 4), 0x48674BC7u);
		ck_assert_uint_eq(crc32_iscsi(buf, (int)v->len + 4, 0xFFFFFFFFu), 0xB798B438u);
		/* And the iovec form over the same bytes. */
		{
			struct iovec iov[2] = { { buf, v->len / 2 }, { buf + v->len / 2, v->len - v->len / 2 } };

			ck_assert_uint_eq(toeless_crc32c_iov(0, iov, 2), v->value);
		}
	}
}
END_TEST

START_TEST(test_check_string)
{
	ck_assert_uint_eq(toeless_crc32c(0, "123456789", 9), 0xE3069283u);
	ck_assert_uint_eq(ref_crc32c(0, "123456789", 9), 0xE3069283u);
	/* Nothing to extend: the digest is unchanged. */
	ck_assert_uint_eq(toeless_crc32c(0, "", 0), 0);
	ck_assert_uint_eq(toeless_crc32c(0xE3069283u, NULL, 0), 0xE3069283u);
	ck_assert_uint_eq(toeless_crc32c(0x12345678u, "x", 0), 0x12345678u);
}
END_TEST

START_TEST(test_vs_reference)
{
	const size_t max = 70000;
	uint8_t *buf = malloc(max + 64);
	unsigned n = iters(60);

	ck_assert_ptr_nonnull(buf);
	rnd_fill(buf, max + 64);
	/* Every short length at every alignment: isa-l has separate code for
	 * heads and tails. */
	for (size_t len = 0; len <= 300; len++)
		for (size_t al = 0; al < 16; al++)
			ck_assert_msg(toeless_crc32c(0, buf + al, len) == ref_crc32c(0, buf + al, len),
				      "len %zu align %zu", len, al);
	for (unsigned i = 0; i < n; i++) {
		size_t len = rnd_range(0, (uint32_t)max), al = rnd_range(0, 63);
		uint32_t seed = (i & 1) ? (uint32_t)rnd() : 0;

		ck_assert_msg(toeless_crc32c(seed, buf + al, len) == ref_crc32c(seed, buf + al, len),
			      "len %zu align %zu seed 0x%x", len, al, seed);
	}
	free(buf);
}
END_TEST

/* The inline SSE4.2 path (lengths up to TL_CRC_INLINE_MAX) and the isa-l
 * path give the same digests: every length 0..64 (and a little past the
 * switch-over), every alignment 0..15, seeds 0 and random, both paths, and
 * the RFC 3720 vectors through both. */
START_TEST(test_inline_small)
{
	uint8_t buf[TL_CRC_INLINE_MAX + 8 + 16];
	struct vec vs[32];
	int nv = load_vectors(vs, 32);
	bool cpu = false;

#if defined(__x86_64__)
	__builtin_cpu_init();
	cpu = __builtin_cpu_supports("sse4.2");
#endif
	/* On by default exactly when the CPU allows it. */
	ck_assert_int_eq(tl_crc_inline_active(), cpu);
	rnd_fill(buf, sizeof(buf));
	for (int pass = 0; pass < 2; pass++) {
		bool on = pass == 0;

		tl_crc_inline_set(on);
		ck_assert_int_eq(tl_crc_inline_active(), on && cpu);
		for (size_t len = 0; len <= TL_CRC_INLINE_MAX + 8; len++)
			for (size_t al = 0; al < 16; al++) {
				uint32_t seed = (uint32_t)rnd();

				ck_assert_msg(toeless_crc32c(0, buf + al, len) == ref_crc32c(0, buf + al, len),
					      "inline %d: len %zu align %zu", on, len, al);
				ck_assert_msg(toeless_crc32c(seed, buf + al, len) == ref_crc32c(seed, buf + al, len),
					      "inline %d: len %zu align %zu seed 0x%x", on, len, al, seed);
			}
		for (int i = 0; i < nv; i++)
			ck_assert_msg(toeless_crc32c(0, vs[i].data, vs[i].len) == vs[i].value, "inline %d: vector %s",
				      on, vs[i].name);
		/* a 48-byte header digest chained from a previous value */
		ck_assert_uint_eq(toeless_crc32c(toeless_crc32c(0, buf, 20), buf + 20, 28), ref_crc32c(0, buf, 48));
	}
	tl_crc_inline_set(true);
	ck_assert_int_eq(tl_crc_inline_active(), cpu);
}
END_TEST

START_TEST(test_chaining)
{
	const size_t max = 70000;
	uint8_t *buf = malloc(max);
	unsigned n = iters(200);

	ck_assert_ptr_nonnull(buf);
	rnd_fill(buf, max);
	for (unsigned i = 0; i < n; i++) {
		size_t len = rnd_range(0, (uint32_t)max), off = 0;
		uint32_t whole = toeless_crc32c(0, buf, len), c = 0;
		int pieces = (int)rnd_range(1, 8);

		for (int k = 0; k < pieces; k++) {
			size_t part = k == pieces - 1 ? len - off : rnd_range(0, (uint32_t)(len - off));

			c = toeless_crc32c(c, buf + off, part);
			off += part;
		}
		ck_assert_uint_eq(off, len);
		ck_assert_msg(c == whole, "len %zu in %d pieces", len, pieces);
	}
	free(buf);
}
END_TEST

START_TEST(test_iov)
{
	const size_t max = 70000;
	uint8_t *buf = malloc(max);
	struct iovec iov[64];
	unsigned n = iters(200);

	ck_assert_ptr_nonnull(buf);
	rnd_fill(buf, max);
	for (unsigned i = 0; i < n; i++) {
		size_t len = rnd_range(0, (uint32_t)max), off = 0;
		uint32_t seed = (uint32_t)rnd();
		int cnt = (int)rnd_range(1, 64);

		for (int k = 0; k < cnt; k++) {
			/* zero-length entries included */
			size_t part = k == cnt - 1 ? len - off : rnd_range(0, (uint32_t)((len - off) / 2));

			iov[k].iov_base = buf + off;
			iov[k].iov_len = part;
			off += part;
		}
		ck_assert_msg(toeless_crc32c_iov(seed, iov, cnt) == ref_crc32c(seed, buf, len), "len %zu in %d iovecs",
			      len, cnt);
	}
	/* Zero-length entries with a NULL base are nothing. */
	iov[0].iov_base = NULL;
	iov[0].iov_len = 0;
	iov[1].iov_base = buf;
	iov[1].iov_len = 100;
	ck_assert_uint_eq(toeless_crc32c_iov(7, iov, 2), ref_crc32c(7, buf, 100));
	ck_assert_uint_eq(toeless_crc32c_iov(0xabcdef01u, NULL, 0), 0xabcdef01u);
	ck_assert_uint_eq(toeless_crc32c_iov(0xabcdef01u, iov, 0), 0xabcdef01u);
	free(buf);
}
END_TEST

/* A read-only buffer of len bytes (rounded up to pages) that repeats a
 * random block of 257 pages: one memfd mapped over and over, so gigabytes
 * cost a megabyte.  The odd period keeps a misplaced pointer visible. */
static uint8_t *map_pattern(size_t len, size_t *maplen)
{
	const size_t page = 4096, block = 257 * page;
	size_t total = (len + block - 1) / block * block;
	uint8_t *base, *tmp = malloc(block);
	int fd = memfd_create("toeless-crc", MFD_CLOEXEC);

	ck_assert(fd >= 0 && tmp);
	rnd_fill(tmp, block);
	ck_assert_int_eq(write(fd, tmp, block), (ssize_t)block);
	free(tmp);
	base = mmap(NULL, total, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	ck_assert(base != MAP_FAILED);
	for (size_t off = 0; off < total; off += block)
		ck_assert(mmap(base + off, block, PROT_READ, MAP_SHARED | MAP_FIXED, fd, 0) == base + off);
	close(fd);
	*maplen = total;
	return base;
}

/* isa-l takes an int length: longer buffers go in pieces, with the same
 * result as chaining by hand in other pieces.  Past 4 GiB, so that a length
 * cut to 32 bits shows.  About a second of CPU: not under valgrind. */
START_TEST(test_huge)
{
	const size_t len = (1ull << 32) + 4093;
	size_t maplen, off = 0;
	uint8_t *p;
	uint32_t whole, c = 0;

	if (RUNNING_ON_VALGRIND)
		return;
	p = map_pattern(len, &maplen);
	whole = toeless_crc32c(0, p, len);
	while (off < len) {
		size_t part = len - off < 999999937 ? len - off : 999999937; /* a prime */

		c = toeless_crc32c(c, p + off, part);
		off += part;
	}
	ck_assert_uint_eq(whole, c);
	/* Not the digest of a truncated length. */
	ck_assert_uint_ne(whole, toeless_crc32c(0, p, len & 0xffffffffu));
	ck_assert_uint_ne(whole, toeless_crc32c(0, p, len & 0x7fffffffu));
	munmap(p, maplen);
}
END_TEST

/* ---- asynchronous requests ---- */

static int fd_readable(int fd)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	int rc = poll(&pfd, 1, 0);

	ck_assert_int_ge(rc, 0);
	return rc == 1 && (pfd.revents & POLLIN);
}

static uint64_t dev_stat_crc(toeless_device *dev, uint64_t *anomalies)
{
	struct toeless_stats st;

	memset(&st, 0, sizeof(st));
	st.size = sizeof(st);
	ck_assert_int_eq(toeless_device_stats(dev, &st), 0);
	if (anomalies)
		*anomalies = st.engine_anomalies;
	return st.crc_requests;
}

struct batch {
	struct toeless_crc_req *reqs;
	struct iovec *iovs;
	uint32_t *expect;
	uint8_t *seen;
	int n;
};

/* n requests over random pieces of buf, each split into 1..4 iovecs. */
static void batch_make(struct batch *b, int n, uint8_t *buf, size_t buflen, uint64_t tag)
{
	b->n = n;
	b->reqs = calloc((size_t)n, sizeof(*b->reqs));
	b->iovs = calloc((size_t)n * 4, sizeof(*b->iovs));
	b->expect = calloc((size_t)n, sizeof(*b->expect));
	b->seen = calloc((size_t)n, 1);
	ck_assert(b->reqs && b->iovs && b->expect && b->seen);
	for (int i = 0; i < n; i++) {
		size_t off = rnd_range(0, (uint32_t)(buflen / 2)), len = rnd_range(1, (uint32_t)(buflen / 2));
		int cnt = (int)rnd_range(1, 4);
		struct iovec *iov = &b->iovs[i * 4];
		size_t o = off;

		for (int k = 0; k < cnt; k++) {
			size_t part = k == cnt - 1 ? off + len - o : rnd_range(0, (uint32_t)(off + len - o));

			iov[k].iov_base = buf + o;
			iov[k].iov_len = part;
			o += part;
		}
		b->reqs[i].iov = iov;
		b->reqs[i].iovcnt = cnt;
		b->reqs[i].seed = (i % 3 == 0) ? (uint32_t)rnd() : 0;
		b->reqs[i].user_data = tag << 32 | (uint64_t)i;
		b->expect[i] = ref_crc32c(b->reqs[i].seed, buf + off, len);
	}
}

static void batch_free(struct batch *b)
{
	free(b->reqs);
	free(b->iovs);
	free(b->expect);
	free(b->seen);
}

/* Take every completion of b from cq, polling max at a time. */
static void batch_collect(toeless_cq *cq, struct batch *b, uint64_t tag, int max)
{
	struct toeless_completion c[64];
	int got = 0;

	ck_assert_int_le(max, 64);
	while (got < b->n) {
		int r = toeless_cq_poll(cq, c, max);

		ck_assert_int_gt(r, 0);
		ck_assert_int_le(r, max);
		for (int i = 0; i < r; i++) {
			uint64_t idx = c[i].user_data & 0xffffffffu;

			ck_assert_uint_eq(c[i].type, TOELESS_CQE_CRC);
			ck_assert_int_eq(c[i].status, 0);
			ck_assert_uint_eq(c[i].user_data >> 32, tag);
			ck_assert_uint_lt(idx, (uint64_t)b->n);
			ck_assert_msg(!b->seen[idx], "request %llu completed twice", (unsigned long long)idx);
			b->seen[idx] = 1;
			ck_assert_msg(c[i].crc == b->expect[idx], "request %llu: 0x%08x, expected 0x%08x",
				      (unsigned long long)idx, c[i].crc, b->expect[idx]);
			ck_assert_ptr_null(c[i].ctx);
		}
		got += r;
	}
}

START_TEST(test_submit_sw)
{
	static const int sizes[] = { 1, 7, 64, 300, 1024 };
	const size_t buflen = 20000;
	uint8_t *buf = malloc(buflen);
	toeless_device *dev;
	toeless_cq *cq;
	struct toeless_cq_attr ca = { .size = sizeof(ca), .depth = 16 };
	struct toeless_completion c;
	uint64_t total = 0;

	ck_assert_ptr_nonnull(buf);
	rnd_fill(buf, buflen);
	ck_assert_int_eq(toeless_device_open("sw", NULL, &dev), 0);
	ck_assert_int_eq(toeless_cq_create(dev, &ca, &cq), 0);
	ck_assert(!fd_readable(toeless_cq_fd(cq)));
	for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		struct batch b;

		batch_make(&b, sizes[s], buf, buflen, s + 1);
		ck_assert_int_eq(toeless_crc_submit(dev, cq, b.reqs, b.n), b.n);
		ck_assert(fd_readable(toeless_cq_fd(cq)));
		batch_collect(cq, &b, s + 1, 1 + (int)(s * 13 % 64));
		ck_assert_int_eq(toeless_cq_poll(cq, &c, 1), 0);
		ck_assert(!fd_readable(toeless_cq_fd(cq)));
		total += (uint64_t)b.n;
		batch_free(&b);
	}
	ck_assert_uint_eq(dev_stat_crc(dev, NULL), total);
	ck_assert_int_eq(toeless_cq_destroy(cq), 0);
	ck_assert_int_eq(toeless_device_close(dev), 0);
	free(buf);
}
END_TEST

START_TEST(test_submit_clamp)
{
	uint8_t buf[64] = { 1, 2, 3 };
	struct iovec iov = { buf, sizeof(buf) };
	struct toeless_crc_req *reqs = calloc(1500, sizeof(*reqs));
	struct toeless_completion *c = calloc(1500, sizeof(*c));
	struct toeless_caps caps = { .size = sizeof(caps) };
	toeless_device *dev;
	toeless_cq *cq;
	int n;

	ck_assert(reqs && c);
	ck_assert_int_eq(toeless_device_open("sw", NULL, &dev), 0);
	ck_assert_int_eq(toeless_device_query(dev, &caps), 0);
	ck_assert_uint_eq(caps.max_crc_batch, 1024);
	ck_assert_int_eq(toeless_cq_create(dev, NULL, &cq), 0);
	for (int i = 0; i < 1500; i++) {
		reqs[i].iov = &iov;
		reqs[i].iovcnt = 1;
		reqs[i].user_data = (uint64_t)i;
	}
	/* More than max_crc_batch: the first max_crc_batch are taken. */
	ck_assert_int_eq(toeless_crc_submit(dev, cq, reqs, 1500), 1024);
	n = toeless_cq_poll(cq, c, 1500);
	ck_assert_int_eq(n, 1024);
	for (int i = 0; i < n; i++) {
		ck_assert_uint_eq(c[i].user_data, (uint64_t)i);
		ck_assert_uint_eq(c[i].crc, ref_crc32c(0, buf, sizeof(buf)));
	}
	/* The rest, resubmitted. */
	ck_assert_int_eq(toeless_crc_submit(dev, cq, reqs + 1024, 476), 476);
	ck_assert_int_eq(toeless_cq_poll(cq, c, 1500), 476);
	ck_assert_uint_eq(c[0].user_data, 1024);
	ck_assert_int_eq(toeless_cq_destroy(cq), 0);
	ck_assert_int_eq(toeless_device_close(dev), 0);
	free(reqs);
	free(c);
}
END_TEST

START_TEST(test_submit_bad_args)
{
	uint8_t buf[16] = { 0 };
	struct iovec iov = { buf, sizeof(buf) };
	struct iovec null_iov = { NULL, 4 }, empty_iov = { NULL, 0 };
	struct toeless_crc_req ok = { .iov = &iov, .iovcnt = 1, .user_data = 5 };
	struct toeless_crc_req bad[2];
	struct toeless_completion c[4];
	toeless_device *dev, *dev2;
	toeless_cq *cq, *cq2;

	ck_assert_int_eq(toeless_device_open("sw", NULL, &dev), 0);
	ck_assert_int_eq(toeless_device_open("sw", NULL, &dev2), 0);
	ck_assert_int_eq(toeless_cq_create(dev, NULL, &cq), 0);
	ck_assert_int_eq(toeless_cq_create(dev2, NULL, &cq2), 0);

	ck_assert_int_eq(toeless_crc_submit(NULL, cq, &ok, 1), -EINVAL);
	ck_assert_int_eq(toeless_crc_submit(dev, NULL, &ok, 1), -EINVAL);
	ck_assert_int_eq(toeless_crc_submit(dev, cq, NULL, 1), -EINVAL);
	ck_assert_int_eq(toeless_crc_submit(dev, cq, &ok, 0), -EINVAL);
	ck_assert_int_eq(toeless_crc_submit(dev, cq, &ok, -3), -EINVAL);
	/* a queue of another device */
	ck_assert_int_eq(toeless_crc_submit(dev, cq2, &ok, 1), -EINVAL);

	bad[0] = ok;
	bad[1] = ok;
	bad[1].iovcnt = 0;
	ck_assert_int_eq(toeless_crc_submit(dev, cq, bad, 2), -EINVAL);
	bad[1].iovcnt = -1;
	ck_assert_int_eq(toeless_crc_submit(dev, cq, bad, 2), -EINVAL);
	bad[1].iovcnt = 1;
	bad[1].iov = NULL;
	ck_assert_int_eq(toeless_crc_submit(dev, cq, bad, 2), -EINVAL);
	bad[1].iov = &null_iov;
	ck_assert_int_eq(toeless_crc_submit(dev, cq, bad, 2), -EINVAL);
	/* A rejected batch leaves nothing behind, not even its good half. */
	ck_assert_int_eq(toeless_cq_poll(cq, c, 4), 0);
	ck_assert(!fd_readable(toeless_cq_fd(cq)));

	/* A NULL base with length 0 is an empty buffer, fine. */
	bad[1].iov = &empty_iov;
	bad[1].seed = 0x1234;
	bad[1].user_data = 6;
	ck_assert_int_eq(toeless_crc_submit(dev, cq, bad, 2), 2);
	ck_assert_int_eq(toeless_cq_poll(cq, c, 4), 2);
	ck_assert_uint_eq(c[0].user_data, 5);
	ck_assert_uint_eq(c[0].crc, ref_crc32c(0, buf, sizeof(buf)));
	ck_assert_uint_eq(c[1].user_data, 6);
	ck_assert_uint_eq(c[1].crc, 0x1234);

	ck_assert_int_eq(toeless_cq_destroy(cq2), 0);
	ck_assert_int_eq(toeless_cq_destroy(cq), 0);
	ck_assert_int_eq(toeless_device_close(dev2), 0);
	ck_assert_int_eq(toeless_device_close(dev), 0);
}
END_TEST

/* Completions an engine reports for ids it never got are ignored and
 * counted, and so are repeats. */
START_TEST(test_crc_done_anomalies)
{
	uint8_t buf[8] = "abcdefgh";
	struct iovec iov = { buf, sizeof(buf) };
	struct toeless_crc_req req = { .iov = &iov, .iovcnt = 1, .user_data = 77 };
	struct toeless_completion c[2];
	toeless_device *dev;
	toeless_cq *cq;
	uint64_t anomalies;

	ck_assert_int_eq(toeless_device_open("sw", NULL, &dev), 0);
	ck_assert_int_eq(toeless_cq_create(dev, NULL, &cq), 0);
	toeless_backend_crc_done(cq, 12345, 0xdead, 0);
	toeless_backend_crc_done(cq, 0, 0xdead, 0);
	ck_assert_int_eq(toeless_cq_poll(cq, c, 2), 0);
	ck_assert_uint_eq(dev_stat_crc(dev, &anomalies), 0);
	ck_assert_uint_eq(anomalies, 2);

	/* The first request of a queue gets id 1; completing it again after
	 * the real completion is a duplicate. */
	ck_assert_int_eq(toeless_crc_submit(dev, cq, &req, 1), 1);
	toeless_backend_crc_done(cq, 1, 0xdead, 0);
	ck_assert_int_eq(toeless_cq_poll(cq, c, 2), 1);
	ck_assert_uint_eq(c[0].user_data, 77);
	ck_assert_uint_eq(c[0].crc, ref_crc32c(0, buf, sizeof(buf)));
	ck_assert_uint_eq(dev_stat_crc(dev, &anomalies), 1);
	ck_assert_uint_eq(anomalies, 3);
	toeless_backend_crc_done(NULL, 1, 0, 0); /* ignored, no crash */

	ck_assert_int_eq(toeless_cq_destroy(cq), 0);
	ck_assert_int_eq(toeless_device_close(dev), 0);
}
END_TEST

/* ---- an engine that queues CRC requests and completes them from
 * progress(), accepting at most `room` at a time ---- */

struct defer_req {
	toeless_cq *cq;
	uint64_t id;
	uint32_t crc;
};

struct defer_dev {
	struct defer_req q[4096];
	int n;
	int room;        /* how many more it accepts */
	int status;      /* status it reports */
	int submit_err;  /* when non-zero, crc_submit returns it */
	int claim_extra; /* crc_submit claims this many more than it took */
	int progress_calls;
};

static struct defer_dev defer_state;

static int defer_open(toeless_device *dev, const char *args, void **priv)
{
	memset(&defer_state, 0, sizeof(defer_state));
	defer_state.room = 4096;
	*priv = &defer_state;
	return 0;
}

static void defer_close(void *priv)
{
}

static int defer_query(void *priv, struct toeless_caps *caps)
{
	caps->flags = TOELESS_CAP_CRC_ASYNC;
	caps->max_crc_batch = 100;
	return 0;
}

static int defer_submit(void *priv, toeless_cq *cq, const struct toeless_backend_crc *reqs, int n)
{
	struct defer_dev *d = priv;
	int take = n < d->room ? n : d->room;

	if (d->submit_err)
		return d->submit_err;
	for (int i = 0; i < take; i++) {
		d->q[d->n].cq = cq;
		d->q[d->n].id = reqs[i].id;
		/* the engine's own arithmetic: the reference */
		d->q[d->n].crc = reqs[i].seed;
		for (int k = 0; k < reqs[i].iovcnt; k++)
			d->q[d->n].crc = ref_crc32c(d->q[d->n].crc, reqs[i].iov[k].iov_base, reqs[i].iov[k].iov_len);
		d->n++;
	}
	d->room -= take;
	return take + d->claim_extra;
}

/* Completes in reverse order: completions need not follow submission. */
static void defer_progress(void *priv)
{
	struct defer_dev *d = priv;

	d->progress_calls++;
	while (d->n > 0) {
		struct defer_req *r = &d->q[--d->n];

		toeless_backend_crc_done(r->cq, r->id, r->crc, d->status);
	}
}

static const struct toeless_backend_ops defer_ops = {
	.size = sizeof(struct toeless_backend_ops),
	.abi_version = TOELESS_BACKEND_ABI,
	.name = "defer",
	.version = "1",
	.open = defer_open,
	.close = defer_close,
	.query = defer_query,
	.crc_submit = defer_submit,
	.progress = defer_progress,
};

static toeless_device *open_defer(void)
{
	struct toeless_device_attr a = { .size = sizeof(a) };
	toeless_device *dev;

	ck_assert_int_eq(tl_device_open_ops(&defer_ops, "", &a, &dev), 0);
	return dev;
}

START_TEST(test_submit_engine)
{
	const size_t buflen = 8192;
	uint8_t *buf = malloc(buflen);
	toeless_device *dev = open_defer();
	toeless_cq *cq;
	struct toeless_cq_attr ca = { .size = sizeof(ca), .depth = 8 };
	struct toeless_completion c[64];
	struct batch b;

	ck_assert_ptr_nonnull(buf);
	rnd_fill(buf, buflen);
	ck_assert_int_eq(toeless_cq_create(dev, &ca, &cq), 0);
	batch_make(&b, 60, buf, buflen, 9);

	/* Queued in the engine: nothing yet, and the queue cannot go. */
	ck_assert_int_eq(toeless_crc_submit(dev, cq, b.reqs, 60), 60);
	ck_assert(!fd_readable(toeless_cq_fd(cq)));
	ck_assert_int_eq(toeless_cq_destroy(cq), -EBUSY);
	/* Polling lets the engine progress. */
	batch_collect(cq, &b, 9, 7);
	ck_assert_int_ge(defer_state.progress_calls, 1);
	ck_assert_int_eq(toeless_cq_poll(cq, c, 64), 0);
	ck_assert(!fd_readable(toeless_cq_fd(cq)));
	ck_assert_uint_eq(dev_stat_crc(dev, NULL), 60);

	/* Partial acceptance: the rest is rolled back, not completed. */
	memset(b.seen, 0, (size_t)b.n);
	defer_state.room = 25;
	ck_assert_int_eq(toeless_crc_submit(dev, cq, b.reqs, 60), 25);
	ck_assert_int_eq(toeless_crc_submit(dev, cq, b.reqs + 25, 35), -EAGAIN);
	ck_assert_int_eq(toeless_cq_poll(cq, c, 64), 25);
	for (int i = 0; i < 25; i++) {
		uint64_t idx = c[i].user_data & 0xffffffffu;

		ck_assert_uint_lt(idx, 25);
		ck_assert_uint_eq(c[i].crc, b.expect[idx]);
	}
	ck_assert_int_eq(toeless_cq_poll(cq, c, 64), 0);
	/* Nothing is outstanding any more. */
	ck_assert_int_eq(toeless_cq_destroy(cq), 0);
	ck_assert_int_eq(toeless_cq_create(dev, &ca, &cq), 0);

	/* An engine error other than exhaustion is "not offloaded", never an
	 * I/O error: the host computes the batch at once (issue #10). */
	defer_state.room = 100;
	defer_state.submit_err = -EIO;
	ck_assert_int_eq(toeless_crc_submit(dev, cq, b.reqs, 3), 3);
	defer_state.submit_err = 0;
	ck_assert_int_eq(toeless_cq_poll(cq, c, 64), 3);
	for (int i = 0; i < 3; i++) {
		uint64_t idx = c[i].user_data & 0xffffffffu;

		ck_assert_int_eq(c[i].status, 0);
		ck_assert_uint_lt(idx, 3);
		ck_assert_uint_eq(c[i].crc, b.expect[idx]);
	}

	/* An engine that claims more than it was given: taken as n, logged
	 * and counted; exactly the n requests complete. */
	{
		uint64_t before, after;

		dev_stat_crc(dev, &before);
		defer_state.claim_extra = 5;
		ck_assert_int_eq(toeless_crc_submit(dev, cq, b.reqs, 3), 3);
		defer_state.claim_extra = 0;
		dev_stat_crc(dev, &after);
		ck_assert_uint_eq(after, before + 1);
		ck_assert_int_eq(toeless_cq_poll(cq, c, 64), 3);
		for (int i = 0; i < 3; i++)
			ck_assert_uint_eq(c[i].crc, b.expect[c[i].user_data & 0xffffffffu]);
		ck_assert_int_eq(toeless_cq_poll(cq, c, 64), 0);
	}

	/* The engine's status reaches the completion. */
	defer_state.status = -EIO;
	ck_assert_int_eq(toeless_crc_submit(dev, cq, b.reqs, 1), 1);
	ck_assert_int_eq(toeless_cq_poll(cq, c, 64), 1);
	ck_assert_int_eq(c[0].status, -EIO);
	ck_assert_uint_eq(c[0].user_data, b.reqs[0].user_data);
	defer_state.status = 0;

	/* max_crc_batch of this engine is 100. */
	defer_state.room = 1000;
	{
		struct batch big;

		batch_make(&big, 150, buf, buflen, 10);
		ck_assert_int_eq(toeless_crc_submit(dev, cq, big.reqs, 150), 100);
		big.n = 100;
		batch_collect(cq, &big, 10, 64);
		big.n = 150;
		batch_free(&big);
	}

	/* A failed device is not asked: software computes at once. */
	toeless_backend_device_error(dev, -EIO);
	defer_state.room = 0;
	memset(b.seen, 0, (size_t)b.n);
	ck_assert_int_eq(toeless_crc_submit(dev, cq, b.reqs, 60), 60);
	ck_assert(fd_readable(toeless_cq_fd(cq)));
	ck_assert_int_eq(defer_state.n, 0);
	batch_collect(cq, &b, 9, 64);

	batch_free(&b);
	ck_assert_int_eq(toeless_cq_destroy(cq), 0);
	ck_assert_int_eq(toeless_device_close(dev), 0);
	free(buf);
}
END_TEST

/* An engine without crc_submit: the core computes. */
START_TEST(test_submit_no_engine_op)
{
	static struct toeless_backend_ops ops;
	struct toeless_device_attr a = { .size = sizeof(a) };
	uint8_t buf[100];
	struct iovec iov = { buf, sizeof(buf) };
	struct toeless_crc_req req = { .iov = &iov, .iovcnt = 1, .seed = 3, .user_data = 1 };
	struct toeless_completion c;
	toeless_device *dev;
	toeless_cq *cq;

	ops = defer_ops;
	ops.crc_submit = NULL;
	ops.progress = NULL;
	rnd_fill(buf, sizeof(buf));
	ck_assert_int_eq(tl_device_open_ops(&ops, "", &a, &dev), 0);
	ck_assert_int_eq(toeless_cq_create(dev, NULL, &cq), 0);
	ck_assert_int_eq(toeless_crc_submit(dev, cq, &req, 1), 1);
	ck_assert_int_eq(toeless_cq_poll(cq, &c, 1), 1);
	ck_assert_uint_eq(c.crc, ref_crc32c(3, buf, sizeof(buf)));
	ck_assert_int_eq(toeless_cq_destroy(cq), 0);
	ck_assert_int_eq(toeless_device_close(dev), 0);
}
END_TEST

static Suite *crc_suite(void)
{
	Suite *s = suite_create("crc");
	TCase *tc = tcase_create("sync");

	tcase_add_checked_fixture(tc, setup_rnd, NULL);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_vectors);
	tcase_add_test(tc, test_check_string);
	tcase_add_test(tc, test_vs_reference);
	tcase_add_test(tc, test_inline_small);
	tcase_add_test(tc, test_chaining);
	tcase_add_test(tc, test_iov);
	tcase_add_test(tc, test_huge);
	suite_add_tcase(s, tc);

	tc = tcase_create("async");
	tcase_add_checked_fixture(tc, setup_rnd, NULL);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_submit_sw);
	tcase_add_test(tc, test_submit_clamp);
	tcase_add_test(tc, test_submit_bad_args);
	tcase_add_test(tc, test_crc_done_anomalies);
	tcase_add_test(tc, test_submit_engine);
	tcase_add_test(tc, test_submit_no_engine_op);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(crc_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
