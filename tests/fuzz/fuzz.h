/*
 * Shared by the libFuzzer harnesses (tests/fuzz/fuzz_*.c) and their corpus
 * generator: an independent CRC32C, an independent PDU framer (the
 * reference the library is checked against), guard-page buffers, input
 * cursors and socket feeding.
 *
 * Nothing here calls the library to compute what the library is being
 * checked for: digests come from a table-driven CRC32C written from the
 * polynomial, framing from RFC 7143 section 11 directly.
 *
 * Every check failure calls FZ_CHECK's abort(): libFuzzer (or the replay
 * driver) reports it as a crash with the input that caused it.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef TOELESS_FUZZ_H
#define TOELESS_FUZZ_H

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#define FZ_CHECK(cond, ...)                                                                                            \
	do {                                                                                                           \
		if (!(cond)) {                                                                                         \
			fprintf(stderr, "%s:%d: check failed: %s: ", __FILE__, __LINE__, #cond);                       \
			fprintf(stderr, __VA_ARGS__);                                                                  \
			fputc('\n', stderr);                                                                           \
			abort();                                                                                       \
		}                                                                                                      \
	} while (0)

/* ---- CRC32C, table driven (reflected 0x82F63B78), toeless_crc32c convention ---- */

static uint32_t fz_crc_table[256];

static inline void fz_crc_init(void)
{
	if (fz_crc_table[1])
		return;
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++)
			c = (c >> 1) ^ (0x82F63B78u & (0u - (c & 1u)));
		fz_crc_table[i] = c;
	}
}

static inline uint32_t fz_crc32c(uint32_t crc, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	fz_crc_init();
	crc = ~crc;
	for (size_t i = 0; i < len; i++)
		crc = fz_crc_table[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
	return ~crc;
}

static inline uint32_t fz_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline uint32_t fz_le32(const uint8_t *p)
{
	return (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}

static inline void fz_put_le32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static inline void fz_put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* ---- the reference framer ---- */

enum { FZ_HD = 1, FZ_DD = 2 }; /* = TOELESS_CTX_HEADER_DIGEST, TOELESS_CTX_DATA_DIGEST */

enum fz_verdict { FZ_NONE = 0, FZ_OK = 1, FZ_BAD = 3 }; /* = toeless_digest_result */

/* What a correct receiver must make of one PDU of a stream. */
struct fz_pdu {
	size_t pos;      /* stream offset of the BHS */
	size_t hdr_end;  /* offset just past BHS + AHS + header digest */
	size_t data_off; /* offset of the data segment */
	size_t end;      /* offset just past the whole PDU */
	uint32_t ahs_len, dsl, pad;
	uint8_t opcode;
	uint32_t itt;
	uint8_t hd, dd;    /* fz_verdict of each digest */
	bool ahs_bad;      /* the AHS chain does not exactly fill TotalAHSLength */
	bool too_long;     /* DataSegmentLength above MaxRecvDataSegmentLength */
	bool complete;     /* every byte of the PDU is in the stream */
	bool hdr_complete; /* every header byte is in the stream */
	int fatal;         /* the error that must end the connection here, or 0 */
};

/* RFC 7143 11.2.1, written out again: AHSLength (2 bytes) counts the
 * AHS-specific bytes only; each AHS occupies 3 + AHSLength bytes rounded up
 * to a multiple of 4, and the chain must fill TotalAHSLength exactly. */
static inline bool fz_ahs_ok(const uint8_t *ahs, uint32_t len)
{
	uint32_t off = 0;
	if (len % 4)
		return false;
	while (off < len) {
		uint32_t l = (uint32_t)ahs[off] << 8 | ahs[off + 1];
		uint32_t occ = 3 + l;
		occ = (occ + 3) / 4 * 4;
		if (occ > len - off)
			return false;
		off += occ;
	}
	return true;
}

/* Frame the PDU at s[pos..len).  Returns false when not even the BHS is
 * there (out->hdr_complete false). */
static inline bool fz_frame(const uint8_t *s, size_t len, size_t pos, unsigned digests, uint32_t max_dsl,
			    struct fz_pdu *o)
{
	memset(o, 0, sizeof(*o));
	o->pos = pos;
	if (len - pos < 48)
		return false;
	const uint8_t *h = s + pos;
	o->opcode = h[0] & 0x3f;
	o->itt = fz_be32(h + 16);
	o->ahs_len = (uint32_t)h[4] * 4;
	o->dsl = (uint32_t)h[5] << 16 | (uint32_t)h[6] << 8 | h[7];
	o->pad = (4 - (o->dsl & 3)) & 3;
	size_t hd = (digests & FZ_HD) ? 4 : 0;
	size_t dd = (digests & FZ_DD) && o->dsl ? 4 : 0;
	o->hdr_end = pos + 48 + o->ahs_len + hd;
	o->data_off = o->hdr_end;
	o->end = o->data_off + o->dsl + o->pad + dd;
	o->hdr_complete = o->hdr_end <= len;
	o->complete = o->end <= len;
	if (!o->hdr_complete)
		return true;
	/* the order a receiver must check in: header digest first (a bad
	 * header's lengths mean nothing), then the AHS chain, then the length */
	if (hd) {
		uint32_t want = fz_le32(s + pos + 48 + o->ahs_len);
		o->hd = fz_crc32c(0, h, 48 + o->ahs_len) == want ? FZ_OK : FZ_BAD;
	}
	o->ahs_bad = !fz_ahs_ok(h + 48, o->ahs_len);
	o->too_long = o->dsl > max_dsl;
	if (o->hd == FZ_BAD)
		o->fatal = -EBADMSG;
	else if (o->ahs_bad)
		o->fatal = -EPROTO;
	else if (o->too_long)
		o->fatal = -EMSGSIZE;
	if (!o->fatal && dd && o->complete) {
		uint32_t crc = fz_crc32c(0, s + o->data_off, o->dsl + o->pad);
		o->dd = crc == fz_le32(s + o->data_off + o->dsl + o->pad) ? FZ_OK : FZ_BAD;
	}
	return true;
}

/* The library ended the stream with rc (-EPIPE or -ECONNRESET) after
 * delivering everything before next: check that the peer had closed, that
 * no whole PDU was left undelivered, and that a clean end (-EPIPE) means
 * the stream ended on a PDU boundary.  Returns the frame at next. */
static inline struct fz_pdu fz_check_end(const uint8_t *s, size_t len, size_t next, unsigned digests, uint32_t max_dsl,
					 int rc, bool eof_sent, int fatal)
{
	struct fz_pdu ref;
	FZ_CHECK(eof_sent && !fatal, "%d before the end (fatal %d)", rc, fatal);
	fz_frame(s, len, next, digests, max_dsl, &ref);
	FZ_CHECK(!ref.complete || (ref.hdr_complete && ref.fatal), "end of stream with a whole PDU at %zu", next);
	FZ_CHECK(rc == (next == len ? -EPIPE : -ECONNRESET), "returned %d with %zu of %zu bytes framed", rc, next, len);
	return ref;
}

/* Rewrite the digests of every whole PDU of s so that they are right (lets
 * the fuzzer mutate headers and payloads and still reach the paths behind
 * the digest checks).  Stops at the first PDU that does not fit. */
static inline void fz_fix_digests(uint8_t *s, size_t len, unsigned digests)
{
	size_t pos = 0;
	while (pos + 48 <= len) {
		struct fz_pdu p;
		fz_frame(s, len, pos, digests, 0xffffff, &p);
		if (!p.hdr_complete)
			return;
		if (digests & FZ_HD)
			fz_put_le32(s + pos + 48 + p.ahs_len, fz_crc32c(0, s + pos, 48 + p.ahs_len));
		if (!p.complete)
			return;
		if ((digests & FZ_DD) && p.dsl)
			fz_put_le32(s + p.data_off + p.dsl + p.pad, fz_crc32c(0, s + p.data_off, p.dsl + p.pad));
		pos = p.end;
	}
}

/* ---- input cursor: reads past the end give zeros ---- */

struct fz_in {
	const uint8_t *p;
	size_t len, off;
};

static inline uint8_t fz_u8(struct fz_in *in)
{
	return in->off < in->len ? in->p[in->off++] : 0;
}

static inline uint16_t fz_u16(struct fz_in *in)
{
	uint16_t hi = fz_u8(in);
	return (uint16_t)(hi << 8 | fz_u8(in));
}

/* ---- guard-page buffers ----
 * len usable bytes that end exactly where an inaccessible page begins, with
 * another inaccessible page before the first page; the slack between that
 * page and the buffer start is filled with a canary (fz_guard_ok checks it).
 * Any write past the end faults at once; a write before the start faults or
 * spoils the canary. */

#define FZ_CANARY 0x5A

struct fz_guard {
	uint8_t *map; /* whole mapping */
	size_t map_len;
	uint8_t *data;   /* first usable page */
	size_t data_len; /* usable pages, in bytes */
	uint8_t *buf;    /* the buffer: ends at data + data_len */
	size_t len;
};

static inline size_t fz_page(void)
{
	static size_t pg;
	if (!pg)
		pg = (size_t)sysconf(_SC_PAGESIZE);
	return pg;
}

static inline void fz_guard_alloc(struct fz_guard *g, size_t len)
{
	size_t pg = fz_page();
	g->len = len;
	g->data_len = (len + pg - 1) / pg * pg;
	if (g->data_len == 0)
		g->data_len = pg;
	g->map_len = g->data_len + 2 * pg;
	g->map = mmap(NULL, g->map_len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	FZ_CHECK(g->map != MAP_FAILED, "mmap: %s", strerror(errno));
	g->data = g->map + pg;
	FZ_CHECK(mprotect(g->data, g->data_len, PROT_READ | PROT_WRITE) == 0, "mprotect");
	g->buf = g->data + g->data_len - len;
	memset(g->data, FZ_CANARY, g->data_len - len);
}

/* Make the buffer read-only (the library must not touch it) or writable again. */
static inline void fz_guard_protect(struct fz_guard *g, bool writable)
{
	FZ_CHECK(mprotect(g->data, g->data_len, writable ? PROT_READ | PROT_WRITE : PROT_READ) == 0, "mprotect");
}

static inline bool fz_guard_ok(const struct fz_guard *g)
{
	for (const uint8_t *p = g->data; p < g->buf; p++)
		if (*p != FZ_CANARY)
			return false;
	return true;
}

static inline void fz_guard_free(struct fz_guard *g)
{
	if (g->map)
		munmap(g->map, g->map_len);
	memset(g, 0, sizeof(*g));
}

/* ---- sockets ---- */

static inline void fz_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);
	FZ_CHECK(fl >= 0 && fcntl(fd, F_SETFL, fl | O_NONBLOCK) == 0, "fcntl");
}

/* sv[0]: the library's side, sv[1]: the peer; both non-blocking. */
static inline void fz_sockpair(int sv[2])
{
	FZ_CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0, "socketpair: %s", strerror(errno));
	fz_nonblock(sv[0]);
	fz_nonblock(sv[1]);
}

#endif /* TOELESS_FUZZ_H */
