/*
 * Independent references shared by the Check suites and toeless-conform.
 * See ref.h.
 *
 * SPDX-License-Identifier: MIT
 */
#include <pthread.h>
#include <string.h>

#include "toeless.h"

#include "ref.h"

/* ---- CRC32C ---- */

/* Bit by bit from the reflected polynomial: shares nothing with isa-l. */
static uint32_t crc32c_bits(uint32_t crc, uint8_t byte)
{
	crc ^= byte;
	for (int k = 0; k < 8; k++)
		crc = (crc >> 1) ^ (0x82F63B78u & (0u - (crc & 1u)));
	return crc;
}

/* A byte table made by the bitwise step: the same arithmetic, eight times
 * faster, which the conformance sweeps (segments of up to 16 MiB) need.
 * Built once, before any thread reads it (the stress tests call this from
 * several threads at once; building it twice at once was a data race). */
static uint32_t crc_table[256];
static pthread_once_t crc_table_once = PTHREAD_ONCE_INIT;

static void crc_table_build(void)
{
	for (unsigned i = 0; i < 256; i++)
		crc_table[i] = crc32c_bits(0, (uint8_t)i);
}

uint32_t ref_crc32c(uint32_t crc, const void *buf, size_t len)
{
	const uint32_t *table = crc_table;
	const uint8_t *p = buf;
	pthread_once(&crc_table_once, crc_table_build);
	crc = ~crc;
	if (len < 64) {
		for (size_t i = 0; i < len; i++)
			crc = crc32c_bits(crc, p[i]);
		return ~crc;
	}
	for (size_t i = 0; i < len; i++)
		crc = (crc >> 8) ^ table[(crc ^ p[i]) & 0xff];
	return ~crc;
}

uint32_t ref_crc32c_iov(uint32_t crc, const struct iovec *iov, int iovcnt)
{
	for (int i = 0; i < iovcnt; i++)
		crc = ref_crc32c(crc, iov[i].iov_base, iov[i].iov_len);
	return crc;
}

/* ---- randomness ---- */

uint64_t ref_rand(uint64_t *state)
{
	uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

uint32_t ref_rand_range(uint64_t *state, uint32_t lo, uint32_t hi)
{
	if (hi <= lo)
		return lo;
	return lo + (uint32_t)(ref_rand(state) % ((uint64_t)hi - lo + 1));
}

void ref_shuffle_u32(uint32_t *a, size_t n, uint64_t *state)
{
	for (size_t i = n; i > 1; i--) {
		size_t j = ref_rand(state) % i;
		uint32_t t = a[i - 1];
		a[i - 1] = a[j];
		a[j] = t;
	}
}

/* ---- PDUs ---- */

void ref_put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

void ref_put_le32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

void ref_bhs_data_in(uint8_t bhs[48], uint32_t itt, uint32_t datasn, uint32_t offset, uint8_t flags, uint8_t status,
		     uint32_t residual)
{
	memset(bhs, 0, 48);
	bhs[0] = 0x25; /* Data-In */
	bhs[1] = flags;
	if (flags & 0x01) /* S */
		bhs[3] = status;
	ref_put_be32(bhs + 8, 0x00010000); /* LUN 1 */
	ref_put_be32(bhs + 16, itt);
	ref_put_be32(bhs + 20, 0xffffffff);     /* TTT */
	ref_put_be32(bhs + 24, 0x100 + datasn); /* StatSN (only meaningful with S) */
	ref_put_be32(bhs + 28, 7);              /* ExpCmdSN */
	ref_put_be32(bhs + 32, 70);             /* MaxCmdSN */
	ref_put_be32(bhs + 36, datasn);
	ref_put_be32(bhs + 40, offset);
	ref_put_be32(bhs + 44, residual);
}

size_t ref_pdu_wire_len(uint32_t ahs_len, uint32_t data_len, unsigned digests)
{
	size_t n = 48 + (size_t)ahs_len;
	if (digests & TOELESS_CTX_HEADER_DIGEST)
		n += 4;
	if (data_len) {
		n += data_len + ((4 - (data_len & 3)) & 3);
		if (digests & TOELESS_CTX_DATA_DIGEST)
			n += 4;
	}
	return n;
}

size_t ref_pdu_write(uint8_t *out, const uint8_t bhs[48], bool keep_lengths, const void *ahs, uint32_t ahs_len,
		     const void *data, uint32_t data_len, unsigned digests, struct ref_pdu_layout *at)
{
	size_t n = 48;
	memset(at, 0, sizeof(*at));
	memcpy(out, bhs, 48);
	if (!keep_lengths) {
		out[4] = (uint8_t)(ahs_len / 4);
		out[5] = (uint8_t)(data_len >> 16);
		out[6] = (uint8_t)(data_len >> 8);
		out[7] = (uint8_t)data_len;
	}
	if (ahs_len) {
		memcpy(out + n, ahs, ahs_len);
		n += ahs_len;
	}
	if (digests & TOELESS_CTX_HEADER_DIGEST) {
		at->hdr_digest = n;
		ref_put_le32(out + n, ref_crc32c(0, out, n));
		n += 4;
	}
	if (data_len) {
		uint32_t pad = (4 - (data_len & 3)) & 3;
		at->data = n;
		memcpy(out + n, data, data_len);
		memset(out + n + data_len, 0, pad);
		n += data_len + pad;
		if (digests & TOELESS_CTX_DATA_DIGEST) {
			at->data_digest = n;
			ref_put_le32(out + n, ref_crc32c(0, out + at->data, data_len + pad));
			n += 4;
		}
	}
	return n;
}
