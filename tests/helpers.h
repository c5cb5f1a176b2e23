/*
 * Test helpers shared by the Check suites: an independent CRC32C, a PDU
 * builder and parser, socket pairs, a paced writer thread, receive and
 * completion loops that never hang, canary and guard-page buffers.
 *
 * Nothing here uses the library to compute a value the library is being
 * tested for: digests come from th_crc32c(), a plain bitwise CRC32C
 * (tools/common/ref.h, shared with toeless-conform).
 *
 * Environment:
 *   TOELESS_TEST_ITER  multiplies random iteration counts (th_iter());
 *                      e.g. 0.2 under valgrind, 10 for a soak.  Default 1.
 *   TOELESS_TEST_SEED  replaces the default seed of random tests (th_seed()).
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef TOELESS_TEST_HELPERS_H
#define TOELESS_TEST_HELPERS_H

#include <check.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "toeless.h"

#include "../tools/common/ref.h"

/* ---- CRC32C reference and randomness (deterministic): the references of
 * tools/common/ref.h, which toeless-conform uses too ---- */
#define th_crc32c      ref_crc32c /* th_crc32c(0, "123456789", 9) == 0xE3069283 */
#define th_crc32c_iov  ref_crc32c_iov
#define th_rand        ref_rand       /* splitmix64 */
#define th_rand_range  ref_rand_range /* lo..hi inclusive */
#define th_shuffle_u32 ref_shuffle_u32
/* Fill buf with a pattern that depends on seed and the byte's index. */
void th_fill_pattern(void *buf, size_t len, uint32_t seed);
/* def scaled by TOELESS_TEST_ITER (at least 1). */
unsigned th_iter(unsigned def);
/* TOELESS_TEST_SEED if set, else def. */
uint64_t th_seed(uint64_t def);

/* ---- growable byte buffer ---- */
struct th_buf {
	uint8_t *p;
	size_t len, cap;
};
void th_buf_init(struct th_buf *b);
void th_buf_free(struct th_buf *b);
void th_buf_put(struct th_buf *b, const void *data, size_t len);

/* ---- BHS builders (all set byte 0 opcode; lengths are set by the PDU builder) ---- */
void th_bhs_init(uint8_t bhs[48], uint8_t opcode, uint8_t flags, uint32_t itt);
/* Data-In.  flags: TOELESS_ISCSI_FLAG_FINAL, TOELESS_ISCSI_DATAIN_STATUS/UNDERFLOW/OVERFLOW/ACK. */
#define th_bhs_data_in ref_bhs_data_in
/* SCSI Response.  flags: TOELESS_ISCSI_RSP_UNDERFLOW/OVERFLOW (the F bit is always set). */
void th_bhs_scsi_rsp(uint8_t bhs[48], uint32_t itt, uint8_t response, uint8_t status, uint8_t flags, uint32_t residual);
void th_bhs_nop_in(uint8_t bhs[48], uint32_t itt, uint32_t ttt);
void th_bhs_r2t(uint8_t bhs[48], uint32_t itt, uint32_t ttt, uint32_t r2tsn, uint32_t offset, uint32_t desired_len);
void th_bhs_reject(uint8_t bhs[48], uint8_t reason);
void th_bhs_async(uint8_t bhs[48], uint8_t event, uint8_t vcode);
/* SCSI Response data segment: SenseLength (2 bytes, big-endian) + sense.
 * Returns the segment length (2 + len). */
size_t th_sense_segment(uint8_t *out, const uint8_t *sense, uint16_t len);

/* ---- PDU serialiser ---- */
enum th_corrupt {
	TH_CORRUPT_NONE = 0,
	TH_CORRUPT_HDR_DIGEST,  /* flip a bit of the header digest */
	TH_CORRUPT_DATA_DIGEST, /* flip a bit of the data digest */
	TH_CORRUPT_BYTE,        /* flip a bit of byte corrupt_off (from the PDU start) after digests */
};

struct th_pdu {
	uint8_t bhs[48];
	const void *ahs;
	uint32_t ahs_len; /* bytes; TotalAHSLength = ahs_len / 4 unless keep_lengths */
	const void *data;
	uint32_t data_len; /* DataSegmentLength */
	unsigned digests;  /* TOELESS_CTX_HEADER_DIGEST | TOELESS_CTX_DATA_DIGEST */
	bool keep_lengths; /* leave bytes 4..7 of bhs as given (lie about lengths) */
	enum th_corrupt corrupt;
	size_t corrupt_off;
};

/* Wire length: BHS + AHS + [4] + data + pad + [4] (data digest only when data_len > 0). */
size_t th_pdu_wire_len(const struct th_pdu *p);
/* Serialise p at the end of out; returns the offset where the PDU starts. */
size_t th_pdu_append(struct th_buf *out, const struct th_pdu *p);
/* Shortcut: a Data-In PDU. */
size_t th_append_data_in(struct th_buf *out, unsigned digests, uint32_t itt, uint32_t datasn, uint32_t offset,
			 const void *data, uint32_t len, uint8_t flags, uint8_t status, uint32_t residual);
/* Shortcut: any PDU from a prepared BHS. */
size_t th_append_bhs(struct th_buf *out, unsigned digests, const uint8_t bhs[48], const void *data, uint32_t len);

/* ---- independent parser (for what the library sends) ---- */
struct th_parsed {
	uint8_t bhs[48];
	uint8_t ahs[1020];
	uint32_t ahs_len;
	const uint8_t *data; /* points into the parsed buffer */
	uint32_t data_len;
	uint32_t pad_len;
	bool pad_zero; /* every pad byte is 0 */
	bool has_hdr_digest, has_data_digest;
	uint32_t hdr_digest, data_digest;           /* as on the wire (LSB first) */
	uint32_t hdr_digest_calc, data_digest_calc; /* computed with th_crc32c */
	size_t wire_len;
};
/* Parse one PDU from buf.  Returns the bytes it occupies, 0 when buf holds
 * less than one whole PDU. */
size_t th_pdu_parse(const uint8_t *buf, size_t len, unsigned digests, struct th_parsed *out);

/* ---- sockets ---- */
enum th_sock {
	TH_SOCK_UNIX = 0,
	TH_SOCK_TCP = 1,
};
extern const char *const th_sock_name[2];
/* sv[0]: the library's side, sv[1]: the peer (target).  Both blocking;
 * TCP sockets have TCP_NODELAY. */
void th_sockpair(enum th_sock kind, int sv[2]);
void th_set_nonblock(int fd, bool on);
/* Bytes waiting unread in fd's receive queue. */
int th_inq(int fd);
/* Write everything (poll on a full socket); MSG_NOSIGNAL.  0 or -errno. */
int th_write_all(int fd, const void *buf, size_t len);
/* Read exactly len bytes within timeout_ms.  0, -EPIPE on EOF, -ETIMEDOUT, -errno. */
int th_read_full(int fd, void *buf, size_t len, int timeout_ms);
/* Write buf to peer, then wait until the receiver rfd's queue holds it. */
void th_feed(int peer, int rfd, const void *buf, size_t len);

/* ---- paced writer thread ---- */
enum th_split {
	TH_SPLIT_NONE = 0, /* one write */
	TH_SPLIT_BYTE,     /* every byte separately */
	TH_SPLIT_FIXED,    /* chunks of .chunk bytes */
	TH_SPLIT_RANDOM,   /* random chunks of 1 .. .chunk bytes, from .seed */
};
struct th_writer_opts {
	enum th_split split;
	size_t chunk;
	uint64_t seed;
	int drain_fd;        /* receiver's fd: wait until it read each chunk (-1: no waiting) */
	bool shutdown_after; /* shutdown(SHUT_WR) when done */
	unsigned delay_us;   /* sleep between chunks */
};
struct th_writer;
struct th_writer *th_writer_start(int fd, const void *buf, size_t len, const struct th_writer_opts *o);
/* Stop waiting, join; returns the number of bytes written. */
size_t th_writer_join(struct th_writer *w);

/* ---- library helpers (all assert success) ---- */
#define TH_TIMEOUT_MS 5000

toeless_device *th_dev_open(const char *spec);
toeless_cq *th_cq_create(toeless_device *dev, uint32_t depth);
void th_ctx_attr_init(struct toeless_ctx_attr *a, int fd, toeless_cq *cq, unsigned flags, uint32_t max_recv_dsl);
toeless_ctx *th_ctx_create(toeless_device *dev, toeless_cq *cq, int fd, unsigned flags, uint32_t max_recv_dsl);
void th_query(toeless_device *dev, struct toeless_caps *caps);
void th_ctx_stats(toeless_ctx *ctx, struct toeless_stats *st);

/* One connection: a socket pair, the sw device, a CQ and a context. */
struct th_conn {
	int fd;   /* library side, non-blocking */
	int peer; /* target side, blocking */
	toeless_device *dev;
	toeless_cq *cq;
	toeless_ctx *ctx;
};
void th_conn_open(struct th_conn *c, enum th_sock kind, unsigned flags, uint32_t max_recv_dsl);
/* Like th_conn_open but from a template attr (fd and cq are filled in). */
void th_conn_open_attr(struct th_conn *c, enum th_sock kind, const struct toeless_ctx_attr *tmpl);
/* The same on the device opened with spec (e.g. "mock:max_contexts=4"). */
void th_conn_open_spec(struct th_conn *c, enum th_sock kind, const char *spec, const struct toeless_ctx_attr *tmpl);
/* Destroy the context (if any), the CQ, the device; close the sockets. */
void th_conn_close(struct th_conn *c);

/* Call toeless_pdu_recv() until it returns anything but -EAGAIN, polling fd
 * in between; fails the test after timeout_ms. */
int th_recv(toeless_ctx *ctx, int fd, struct toeless_pdu *pdu, int timeout_ms);
/* Poll the CQ until it is empty; fails the test when more than max wait. */
int th_cq_drain(toeless_cq *cq, struct toeless_completion *out, int max);
/* Poll until want completions arrived (or timeout); returns how many. */
int th_cq_wait(toeless_cq *cq, struct toeless_completion *out, int want, int timeout_ms);

/* ---- canaries and guard pages ---- */
#define TH_CANARY_LEN  64
#define TH_CANARY_BYTE 0xA5
/* len usable bytes between two canary zones. */
uint8_t *th_canary_alloc(size_t len);
bool th_canary_ok(const uint8_t *p, size_t len);
void th_canary_free(uint8_t *p);
/* len bytes that end exactly at an inaccessible page, after another one. */
uint8_t *th_guard_alloc(size_t len);
void th_guard_free(uint8_t *p, size_t len);

/* ---- cheap checks for hot loops ---- */
/* Check's ck_assert*() records a mark point on every assertion that holds
 * (a system call per assertion in fork mode): in loops over many bytes or
 * many thousands of items use TH_CHECK, which costs nothing when it holds. */
#define TH_CHECK(cond, ...)                                                                                            \
	do {                                                                                                           \
		if (!(cond))                                                                                           \
			ck_abort_msg(__VA_ARGS__);                                                                     \
	} while (0)

/* ---- running a suite ---- */
/* Add a test with a generous timeout (the suites stay far below it). */
void th_add_test(Suite *s, const char *name, const TTest *test);
/* The same with _i running from start to end - 1. */
void th_add_loop_test(Suite *s, const char *name, const TTest *test, int start, int end);
#define TH_TEST(s, fn)            th_add_test((s), #fn, fn)
#define TH_LOOP_TEST(s, fn, a, b) th_add_loop_test((s), #fn, fn, (a), (b))
int th_run_suite(Suite *s);

#endif /* TOELESS_TEST_HELPERS_H */
