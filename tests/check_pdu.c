/*
 * PDU codec: the BHS accessors of lib/pdu.h, tl_ahs_validate(), and what
 * toeless_pdu_send() puts on the wire, decoded by the tests' own parser and
 * checked against an independent CRC32C.
 *
 * SPDX-License-Identifier: MIT
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "helpers.h"
#include "pdu.h"

/* ---- accessors ---- */

START_TEST(test_bhs_opcode_flags)
{
	uint8_t bhs[48];
	memset(bhs, 0, sizeof(bhs));
	for (unsigned op = 0; op < 64; op++) {
		bhs[0] = (uint8_t)op;
		ck_assert_uint_eq(toeless_bhs_opcode(bhs), op);
		/* the immediate bit and the reserved top bit are not part of it */
		bhs[0] = (uint8_t)(op | TOELESS_ISCSI_FLAG_IMMEDIATE | 0x80);
		ck_assert_uint_eq(toeless_bhs_opcode(bhs), op);
	}
	for (unsigned f = 0; f < 256; f++) {
		bhs[1] = (uint8_t)f;
		ck_assert_uint_eq(toeless_bhs_flags(bhs), f);
	}
	ck_assert_uint_eq(TOELESS_ISCSI_OP_DATA_IN, 0x25);
	ck_assert_uint_eq(TOELESS_ISCSI_OP_SCSI_RSP, 0x21);
	ck_assert_uint_eq(TOELESS_ISCSI_OP_NOP_IN, 0x20);
	ck_assert_uint_eq(TOELESS_ISCSI_OP_R2T, 0x31);
	ck_assert_uint_eq(TOELESS_ISCSI_OP_ASYNC_MSG, 0x32);
	ck_assert_uint_eq(TOELESS_ISCSI_OP_REJECT, 0x3f);
}
END_TEST

START_TEST(test_bhs_lengths)
{
	uint8_t bhs[48];
	static const uint32_t dsls[] = { 0, 1, 2, 3, 4, 255, 256, 65535, 65536, 0x123456, 0xfffffe, 0xffffff };
	memset(bhs, 0xee, sizeof(bhs));
	for (unsigned words = 0; words < 256; words++) {
		bhs[4] = (uint8_t)words;
		ck_assert_uint_eq(toeless_bhs_ahs_len(bhs), words * 4);
	}
	for (size_t i = 0; i < sizeof(dsls) / sizeof(dsls[0]); i++) {
		bhs[5] = (uint8_t)(dsls[i] >> 16);
		bhs[6] = (uint8_t)(dsls[i] >> 8);
		bhs[7] = (uint8_t)dsls[i];
		ck_assert_uint_eq(toeless_bhs_dsl(bhs), dsls[i]);
	}
	/* set_lengths writes exactly bytes 4..7 */
	memset(bhs, 0xee, sizeof(bhs));
	toeless_bhs_set_lengths(bhs, 1020, 0xffffff);
	ck_assert_uint_eq(bhs[4], 255);
	ck_assert_uint_eq(bhs[5], 0xff);
	ck_assert_uint_eq(bhs[6], 0xff);
	ck_assert_uint_eq(bhs[7], 0xff);
	ck_assert_uint_eq(toeless_bhs_dsl(bhs), TOELESS_ISCSI_MAX_DSL);
	ck_assert_uint_eq(toeless_bhs_ahs_len(bhs), 1020);
	toeless_bhs_set_lengths(bhs, 8, 0x010203);
	ck_assert_uint_eq(bhs[4], 2);
	ck_assert_uint_eq(bhs[5], 1);
	ck_assert_uint_eq(bhs[6], 2);
	ck_assert_uint_eq(bhs[7], 3);
	for (int i = 0; i < 48; i++)
		if (i < 4 || i > 7)
			ck_assert_uint_eq(bhs[i], 0xee);
	toeless_bhs_set_lengths(bhs, 0, 0);
	ck_assert_uint_eq(toeless_bhs_dsl(bhs), 0);
	ck_assert_uint_eq(toeless_bhs_ahs_len(bhs), 0);
}
END_TEST

START_TEST(test_bhs_fields)
{
	uint8_t bhs[48];
	th_bhs_data_in(bhs, 0x01020304, 9, 0xa0b0c0d0, TOELESS_ISCSI_FLAG_FINAL | TOELESS_ISCSI_DATAIN_STATUS, 0x02,
		       0xdeadbeef);
	ck_assert_uint_eq(toeless_bhs_opcode(bhs), TOELESS_ISCSI_OP_DATA_IN);
	ck_assert_uint_eq(toeless_bhs_itt(bhs), 0x01020304);
	ck_assert_uint_eq(toeless_bhs_buffer_offset(bhs), 0xa0b0c0d0);
	ck_assert_uint_eq(toeless_bhs_residual(bhs), 0xdeadbeef);
	ck_assert_uint_eq(toeless_bhs_flags(bhs), TOELESS_ISCSI_FLAG_FINAL | TOELESS_ISCSI_DATAIN_STATUS);
	/* big-endian on the wire */
	ck_assert_uint_eq(bhs[16], 0x01);
	ck_assert_uint_eq(bhs[19], 0x04);
	ck_assert_uint_eq(bhs[40], 0xa0);
	ck_assert_uint_eq(bhs[43], 0xd0);
	th_bhs_init(bhs, TOELESS_ISCSI_OP_NOP_IN, 0x80, TOELESS_ISCSI_RESERVED_TAG);
	ck_assert_uint_eq(toeless_bhs_itt(bhs), 0xffffffffu);
	ck_assert_uint_eq(toeless_bhs_buffer_offset(bhs), 0);

	uint8_t b[4];
	toeless_put_be32(b, 0x11223344);
	ck_assert_uint_eq(b[0], 0x11);
	ck_assert_uint_eq(b[3], 0x44);
	ck_assert_uint_eq(toeless_get_be32(b), 0x11223344);
	toeless_put_le32(b, 0x11223344);
	ck_assert_uint_eq(b[0], 0x44);
	ck_assert_uint_eq(b[3], 0x11);
	ck_assert_uint_eq(toeless_get_le32(b), 0x11223344);
}
END_TEST

START_TEST(test_pad_len)
{
	for (uint32_t len = 0; len < 64; len++)
		ck_assert_uint_eq((len + toeless_pad_len(len)) % 4, 0);
	ck_assert_uint_eq(toeless_pad_len(0), 0);
	ck_assert_uint_eq(toeless_pad_len(1), 3);
	ck_assert_uint_eq(toeless_pad_len(2), 2);
	ck_assert_uint_eq(toeless_pad_len(3), 1);
	ck_assert_uint_eq(toeless_pad_len(4), 0);
	ck_assert_uint_eq(toeless_pad_len(5), 3);
	ck_assert_uint_eq(toeless_pad_len(0xffffff), 1);
	ck_assert_uint_eq(toeless_pad_len(0xfffffe), 2);
	ck_assert_uint_eq(toeless_pad_len(0xfffffd), 3);
	ck_assert_uint_eq(toeless_pad_len(0xfffffc), 0);
}
END_TEST

/* ---- AHS chains (RFC 7143 11.2.2: AHSLength excludes itself, AHSType and pad) ---- */

/* One AHS of type t with n AHS-specific bytes (byte 3 onwards); returns bytes used. */
static uint32_t put_ahs(uint8_t *p, uint8_t type, uint16_t n)
{
	p[0] = (uint8_t)(n >> 8);
	p[1] = (uint8_t)n;
	p[2] = type;
	for (uint32_t i = 0; i < n; i++)
		p[3 + i] = (uint8_t)(0x30 + i);
	uint32_t total = (3u + n + 3u) & ~3u;
	for (uint32_t i = 3u + n; i < total; i++)
		p[i] = 0;
	return total;
}

START_TEST(test_ahs_valid)
{
	uint8_t a[1024];
	memset(a, 0, sizeof(a));
	ck_assert_int_eq(tl_ahs_validate(a, 0), 0);
	/* Extended CDB AHS for a 32-byte CDB: AHSLength 17, 20 bytes */
	ck_assert_uint_eq(put_ahs(a, 1, 17), 20);
	ck_assert_int_eq(tl_ahs_validate(a, 20), 0);
	/* Bidirectional Read Expected Data Transfer Length: AHSLength 5, 8 bytes */
	ck_assert_uint_eq(put_ahs(a, 2, 5), 8);
	ck_assert_int_eq(tl_ahs_validate(a, 8), 0);
	/* a chain of both */
	uint32_t n = put_ahs(a, 1, 17);
	n += put_ahs(a + n, 2, 5);
	ck_assert_uint_eq(n, 28);
	ck_assert_int_eq(tl_ahs_validate(a, n), 0);
	/* every AHSLength from 1 to 9 alone fills its padded size */
	for (uint16_t len = 1; len < 10; len++) {
		n = put_ahs(a, 1, len);
		ck_assert_int_eq(tl_ahs_validate(a, n), 0);
	}
	/* the largest TotalAHSLength, 1020 bytes, in one AHS */
	ck_assert_uint_eq(put_ahs(a, 1, 1017), 1020);
	ck_assert_int_eq(tl_ahs_validate(a, 1020), 0);
	/* and in many small ones */
	n = 0;
	while (n + 8 <= 1020)
		n += put_ahs(a + n, 2, 5);
	n += put_ahs(a + n, 2, 1);
	ck_assert_uint_eq(n, 1020);
	ck_assert_int_eq(tl_ahs_validate(a, n), 0);
}
END_TEST

START_TEST(test_ahs_invalid)
{
	uint8_t a[1100];
	memset(a, 0, sizeof(a));
	/* TotalAHSLength too short for the AHS it holds */
	put_ahs(a, 1, 17);
	ck_assert_int_eq(tl_ahs_validate(a, 16), -EPROTO);
	ck_assert_int_eq(tl_ahs_validate(a, 4), -EPROTO);
	/* one byte more AHS-specific data than TotalAHSLength has room for */
	put_ahs(a, 1, 18);
	ck_assert_int_eq(tl_ahs_validate(a, 20), -EPROTO);
	/* the largest AHSLength */
	a[0] = 0xff;
	a[1] = 0xff;
	ck_assert_int_eq(tl_ahs_validate(a, 1020), -EPROTO);
	/* the second AHS of a chain runs past the end */
	uint32_t n = put_ahs(a, 1, 17);
	put_ahs(a + n, 2, 9);
	ck_assert_int_eq(tl_ahs_validate(a, n + 8), -EPROTO);
	ck_assert_int_eq(tl_ahs_validate(a, n + 12), 0);
	/* trailing bytes that are not a whole AHS */
	n = put_ahs(a, 2, 5);
	a[n] = 0x01; /* AHSLength 0x0100 in the next word */
	a[n + 1] = 0x00;
	ck_assert_int_eq(tl_ahs_validate(a, n + 4), -EPROTO);
	/* a length that is not a whole number of words */
	put_ahs(a, 2, 5);
	ck_assert_int_eq(tl_ahs_validate(a, 6), -EPROTO);
	ck_assert_int_eq(tl_ahs_validate(a, 9), -EPROTO);
}
END_TEST

/* Random chains: valid ones pass; truncating them or growing one AHSLength fails. */
START_TEST(test_ahs_random)
{
	uint64_t rs = th_seed(0xa45);
	uint8_t a[1100];
	unsigned iters = th_iter(2000);
	for (unsigned it = 0; it < iters; it++) {
		uint32_t n = 0, last = 0;
		int k = (int)th_rand_range(&rs, 1, 6);
		for (int i = 0; i < k; i++) {
			uint16_t len = (uint16_t)th_rand_range(&rs, 2, 120);
			if (n + ((3u + len + 3u) & ~3u) > 1020)
				break;
			last = n;
			n += put_ahs(a + n, (uint8_t)th_rand_range(&rs, 1, 2), len);
		}
		if (!n)
			continue;
		ck_assert_int_eq(tl_ahs_validate(a, n), 0);
		ck_assert_int_eq(tl_ahs_validate(a, n - 4), -EPROTO);
		/* grow the last AHS past the end */
		uint16_t len = (uint16_t)(a[last] << 8 | a[last + 1]);
		uint16_t grown = (uint16_t)(len + 4);
		a[last] = (uint8_t)(grown >> 8);
		a[last + 1] = (uint8_t)grown;
		ck_assert_int_eq(tl_ahs_validate(a, n), -EPROTO);
	}
}
END_TEST

/* ---- round trip through toeless_pdu_send ---- */

static const uint8_t read10_bhs[48] = {
	0x01, 0xc0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x14, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x18,
	0x28, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
};

/* The RFC 3720 B.4 Read (10) BHS goes out with header digest 0xD9963A56,
 * least significant byte first. */
START_TEST(test_send_read10_vector)
{
	struct th_conn c;
	th_conn_open(&c, TH_SOCK_UNIX, TOELESS_CTX_HEADER_DIGEST, 0);
	ck_assert_uint_eq(th_crc32c(0, read10_bhs, 48), 0xD9963A56u);
	ck_assert_int_eq(toeless_pdu_send(c.ctx, read10_bhs, NULL, 0, NULL, 0), 0);
	uint8_t got[52];
	ck_assert_int_eq(th_read_full(c.peer, got, sizeof(got), TH_TIMEOUT_MS), 0);
	ck_assert_mem_eq(got, read10_bhs, 48);
	static const uint8_t wire[4] = { 0x56, 0x3a, 0x96, 0xd9 };
	ck_assert_mem_eq(got + 48, wire, 4);
	ck_assert_int_eq(th_inq(c.peer), 0);
	th_conn_close(&c);
}
END_TEST

/* _i: bit 0..1 digests, bits 2..3 data length mod 4, bit 4 AHS, bit 5 three iovecs */
START_TEST(test_send_roundtrip)
{
	unsigned digests = (unsigned)_i & 3;
	uint32_t dlen = 1000 + ((unsigned)_i >> 2 & 3);
	bool with_ahs = _i & 16;
	bool split = _i & 32;
	struct th_conn c;
	th_conn_open(&c, TH_SOCK_UNIX, digests, 0);

	uint8_t bhs[48];
	th_bhs_init(bhs, TOELESS_ISCSI_OP_SCSI_CMD | TOELESS_ISCSI_FLAG_IMMEDIATE, TOELESS_ISCSI_FLAG_FINAL | 0x40,
		    0x1234);
	bhs[4] = 0x77; /* garbage the library must replace */
	bhs[5] = 0x66;
	bhs[6] = 0x55;
	bhs[7] = 0x44;
	for (int i = 20; i < 48; i++)
		bhs[i] = (uint8_t)(i * 7);
	uint8_t ahs[28];
	uint32_t ahs_len = 0;
	if (with_ahs) {
		ahs_len = put_ahs(ahs, 1, 17);
		ahs_len += put_ahs(ahs + ahs_len, 2, 5);
	}
	uint8_t *data = malloc(dlen);
	th_fill_pattern(data, dlen, (uint32_t)_i);
	struct iovec iov[3];
	int iovcnt;
	if (split) {
		iov[0] = (struct iovec){ data, 1 };
		iov[1] = (struct iovec){ data + 1, 510 };
		iov[2] = (struct iovec){ data + 511, dlen - 511 };
		iovcnt = 3;
	} else {
		iov[0] = (struct iovec){ data, dlen };
		iovcnt = 1;
	}
	ck_assert_int_eq(toeless_pdu_send(c.ctx, bhs, with_ahs ? ahs : NULL, ahs_len, iov, iovcnt), 0);

	struct th_pdu exp;
	memset(&exp, 0, sizeof(exp));
	size_t wire = 48 + ahs_len + (digests & 1 ? 4 : 0) + dlen + toeless_pad_len(dlen) + (digests & 2 ? 4 : 0);
	exp.ahs_len = ahs_len;
	exp.data_len = dlen;
	exp.digests = digests;
	ck_assert_uint_eq(th_pdu_wire_len(&exp), wire);
	uint8_t *buf = malloc(wire);
	ck_assert_int_eq(th_read_full(c.peer, buf, wire, TH_TIMEOUT_MS), 0);
	ck_assert_int_eq(th_inq(c.peer), 0); /* nothing more than one PDU */

	struct th_parsed p;
	ck_assert_uint_eq(th_pdu_parse(buf, wire, digests, &p), wire);
	ck_assert_uint_eq(p.bhs[4], ahs_len / 4);
	ck_assert_uint_eq(p.data_len, dlen);
	ck_assert_mem_eq(p.bhs, bhs, 4);
	ck_assert_mem_eq(p.bhs + 8, bhs + 8, 40);
	ck_assert_uint_eq(p.ahs_len, ahs_len);
	if (ahs_len)
		ck_assert_mem_eq(p.ahs, ahs, ahs_len);
	ck_assert_mem_eq(p.data, data, dlen);
	ck_assert_uint_eq(p.pad_len, toeless_pad_len(dlen));
	ck_assert(p.pad_zero);
	if (digests & TOELESS_CTX_HEADER_DIGEST)
		ck_assert_uint_eq(p.hdr_digest, p.hdr_digest_calc);
	if (digests & TOELESS_CTX_DATA_DIGEST)
		ck_assert_uint_eq(p.data_digest, p.data_digest_calc);

	/* the same bytes, fed to a second context, decode to the same PDU */
	struct th_conn r;
	th_conn_open(&r, TH_SOCK_UNIX, digests, 0);
	th_feed(r.peer, r.fd, buf, wire);
	struct toeless_pdu pdu;
	ck_assert_int_eq(th_recv(r.ctx, r.fd, &pdu, TH_TIMEOUT_MS), 0);
	ck_assert_mem_eq(pdu.bhs, buf, 48);
	ck_assert_uint_eq(pdu.opcode, TOELESS_ISCSI_OP_SCSI_CMD);
	ck_assert_uint_eq(pdu.itt, 0x1234);
	ck_assert_uint_eq(pdu.data_len, dlen);
	ck_assert_uint_eq(pdu.ahs_len, ahs_len);
	if (ahs_len) {
		ck_assert_ptr_nonnull(pdu.ahs);
		ck_assert_mem_eq(pdu.ahs, ahs, ahs_len);
	} else {
		ck_assert_ptr_null(pdu.ahs);
	}
	ck_assert_ptr_nonnull(pdu.data);
	ck_assert_mem_eq(pdu.data, data, dlen);
	ck_assert_uint_eq(pdu.hdr_digest, digests & 1 ? TOELESS_DIGEST_OK : TOELESS_DIGEST_NONE);
	ck_assert_uint_eq(pdu.data_digest, digests & 2 ? TOELESS_DIGEST_OK : TOELESS_DIGEST_NONE);
	ck_assert_uint_eq(pdu.flags & TOELESS_PDU_F_PLACED, 0);
	ck_assert_uint_eq(pdu.stream_pos, 0);
	th_conn_close(&r);

	free(buf);
	free(data);
	th_conn_close(&c);
}
END_TEST

/* Header-only PDUs (no data segment): no pad, no data digest even when negotiated. */
START_TEST(test_send_no_data)
{
	unsigned digests = (unsigned)_i;
	struct th_conn c;
	th_conn_open(&c, TH_SOCK_TCP, digests, 0);
	uint8_t bhs[48];
	th_bhs_init(bhs, TOELESS_ISCSI_OP_NOP_OUT | TOELESS_ISCSI_FLAG_IMMEDIATE, TOELESS_ISCSI_FLAG_FINAL, 0x55);
	/* an empty iovec counts as no data */
	struct iovec empty = { bhs, 0 };
	ck_assert_int_eq(toeless_pdu_send(c.ctx, bhs, NULL, 0, &empty, 1), 0);
	ck_assert_int_eq(toeless_pdu_send(c.ctx, bhs, NULL, 0, NULL, 0), 0);
	size_t one = 48 + (digests & 1 ? 4 : 0);
	uint8_t buf[2 * 52];
	ck_assert_int_eq(th_read_full(c.peer, buf, 2 * one, TH_TIMEOUT_MS), 0);
	struct th_parsed p;
	for (int k = 0; k < 2; k++) {
		ck_assert_uint_eq(th_pdu_parse(buf + k * one, one, digests, &p), one);
		ck_assert_uint_eq(p.data_len, 0);
		ck_assert_uint_eq(p.ahs_len, 0);
		ck_assert_mem_eq(p.bhs + 8, bhs + 8, 40);
		if (digests & 1)
			ck_assert_uint_eq(p.hdr_digest, p.hdr_digest_calc);
	}
	/* nothing else followed */
	ck_assert_int_eq(th_read_full(c.peer, buf, 1, 50), -ETIMEDOUT);
	th_conn_close(&c);
}
END_TEST

/* Every data length 1..8 in one stream, decoded in order. */
START_TEST(test_send_every_pad)
{
	unsigned digests = (unsigned)_i;
	struct th_conn c;
	th_conn_open(&c, TH_SOCK_UNIX, digests, 0);
	uint8_t data[8];
	th_fill_pattern(data, sizeof(data), 3);
	uint8_t bhs[48];
	for (uint32_t len = 1; len <= 8; len++) {
		th_bhs_init(bhs, TOELESS_ISCSI_OP_DATA_OUT, len == 8 ? TOELESS_ISCSI_FLAG_FINAL : 0, 0x99);
		bhs[40] = (uint8_t)len;
		struct iovec iov = { data, len };
		ck_assert_int_eq(toeless_pdu_send(c.ctx, bhs, NULL, 0, &iov, 1), 0);
	}
	uint8_t buf[8 * (48 + 4 + 8 + 4)];
	size_t have = 0;
	for (uint32_t len = 1; len <= 8; len++) {
		struct th_parsed p;
		size_t need = 48 + (digests & 1 ? 4 : 0) + len + toeless_pad_len(len) + (digests & 2 ? 4 : 0);
		ck_assert_int_eq(th_read_full(c.peer, buf + have, need, TH_TIMEOUT_MS), 0);
		ck_assert_uint_eq(th_pdu_parse(buf + have, need, digests, &p), need);
		ck_assert_uint_eq(p.bhs[40], len);
		ck_assert_uint_eq(p.data_len, len);
		ck_assert_mem_eq(p.data, data, len);
		ck_assert(p.pad_zero);
		if (digests & 1)
			ck_assert_uint_eq(p.hdr_digest, p.hdr_digest_calc);
		if (digests & 2)
			ck_assert_uint_eq(p.data_digest, p.data_digest_calc);
		have += need;
	}
	th_conn_close(&c);
}
END_TEST

/* The tests' own builder and parser agree (they are the reference for the rest). */
START_TEST(test_builder_parser)
{
	uint64_t rs = th_seed(77);
	unsigned iters = th_iter(300);
	for (unsigned it = 0; it < iters; it++) {
		struct th_buf b;
		th_buf_init(&b);
		struct th_pdu p;
		memset(&p, 0, sizeof(p));
		uint8_t ahs[64], data[300];
		th_bhs_data_in(p.bhs, (uint32_t)th_rand(&rs), it, (uint32_t)th_rand(&rs), 0, 0, 0);
		p.ahs_len = th_rand_range(&rs, 0, 2) * 8;
		for (uint32_t k = 0; k < p.ahs_len; k += 8)
			put_ahs(ahs + k, 2, 5);
		p.ahs = ahs;
		p.data_len = th_rand_range(&rs, 0, sizeof(data));
		th_fill_pattern(data, p.data_len, it);
		p.data = data;
		p.digests = th_rand_range(&rs, 0, 3);
		size_t at = th_pdu_append(&b, &p);
		ck_assert_uint_eq(at, 0);
		ck_assert_uint_eq(b.len, th_pdu_wire_len(&p));
		struct th_parsed q;
		ck_assert_uint_eq(th_pdu_parse(b.p, b.len, p.digests, &q), b.len);
		ck_assert_uint_eq(th_pdu_parse(b.p, b.len - 1, p.digests, &q), 0);
		ck_assert_uint_eq(th_pdu_parse(b.p, b.len, p.digests, &q), b.len);
		ck_assert_uint_eq(q.data_len, p.data_len);
		ck_assert_uint_eq(q.ahs_len, p.ahs_len);
		if (p.data_len)
			ck_assert_mem_eq(q.data, data, p.data_len);
		if (p.digests & 1)
			ck_assert_uint_eq(q.hdr_digest, q.hdr_digest_calc);
		if ((p.digests & 2) && p.data_len)
			ck_assert_uint_eq(q.data_digest, q.data_digest_calc);
		/* the residue property: CRC over segment + its digest is constant */
		if ((p.digests & 2) && p.data_len)
			ck_assert_uint_eq(th_crc32c(0, q.data, p.data_len + q.pad_len + 4), 0x48674BC7u);
		th_buf_free(&b);
	}
	/* the reference CRC itself, against RFC 3720 B.4 */
	uint8_t v[32];
	memset(v, 0, 32);
	ck_assert_uint_eq(th_crc32c(0, v, 32), 0x8A9136AAu);
	memset(v, 0xff, 32);
	ck_assert_uint_eq(th_crc32c(0, v, 32), 0x62A8AB43u);
	for (int i = 0; i < 32; i++)
		v[i] = (uint8_t)i;
	ck_assert_uint_eq(th_crc32c(0, v, 32), 0x46DD794Eu);
	ck_assert_uint_eq(th_crc32c(th_crc32c(0, v, 11), v + 11, 21), 0x46DD794Eu);
	for (int i = 0; i < 32; i++)
		v[i] = (uint8_t)(31 - i);
	ck_assert_uint_eq(th_crc32c(0, v, 32), 0x113FDB5Cu);
	ck_assert_uint_eq(th_crc32c(0, "123456789", 9), 0xE3069283u);
}
END_TEST

static Suite *pdu_suite(void)
{
	Suite *s = suite_create("pdu");
	TH_TEST(s, test_bhs_opcode_flags);
	TH_TEST(s, test_bhs_lengths);
	TH_TEST(s, test_bhs_fields);
	TH_TEST(s, test_pad_len);
	TH_TEST(s, test_ahs_valid);
	TH_TEST(s, test_ahs_invalid);
	TH_TEST(s, test_ahs_random);
	TH_TEST(s, test_builder_parser);
	TH_TEST(s, test_send_read10_vector);
	TH_LOOP_TEST(s, test_send_roundtrip, 0, 64);
	TH_LOOP_TEST(s, test_send_no_data, 0, 4);
	TH_LOOP_TEST(s, test_send_every_pad, 0, 4);
	return s;
}

int main(void)
{
	return th_run_suite(pdu_suite());
}
