/*
 * Independent references shared by the Check suites (tests/helpers.c) and
 * toeless-conform (tests/conform/): a bitwise CRC32C, a deterministic random
 * generator, and an iSCSI PDU serialiser.  They share no code with the
 * library, so that what they compute can check it.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef TOELESS_TEST_REF_H
#define TOELESS_TEST_REF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

/* ---- CRC32C (bitwise, reflected 0x82F63B78, init ~0, final ~) ---- */

/* Same convention as toeless_crc32c(): start with 0, chain by passing the
 * previous result.  ref_crc32c(0, "123456789", 9) == 0xE3069283. */
uint32_t ref_crc32c(uint32_t crc, const void *buf, size_t len);
uint32_t ref_crc32c_iov(uint32_t crc, const struct iovec *iov, int iovcnt);

/* ---- randomness (deterministic) ---- */
uint64_t ref_rand(uint64_t *state);                                 /* splitmix64 */
uint32_t ref_rand_range(uint64_t *state, uint32_t lo, uint32_t hi); /* lo..hi inclusive */
void ref_shuffle_u32(uint32_t *a, size_t n, uint64_t *state);

/* ---- PDUs ---- */
void ref_put_be32(uint8_t *p, uint32_t v);
void ref_put_le32(uint8_t *p, uint32_t v);
/* A Data-In BHS (LUN 1, no TTT, fixed sequence numbers); status goes in
 * only with the S bit (0x01) in flags. */
void ref_bhs_data_in(uint8_t bhs[48], uint32_t itt, uint32_t datasn, uint32_t offset, uint8_t flags, uint8_t status,
		     uint32_t residual);
/* Wire length: BHS + AHS + [4] + data + pad + [4] (the data digest only
 * when data_len > 0); digests: TOELESS_CTX_HEADER_DIGEST | _DATA_DIGEST. */
size_t ref_pdu_wire_len(uint32_t ahs_len, uint32_t data_len, unsigned digests);

/* Where ref_pdu_write() put the parts of a PDU: offsets from its start,
 * 0 for a part it does not have. */
struct ref_pdu_layout {
	size_t hdr_digest, data, data_digest;
};
/* Serialise a PDU into out, ref_pdu_wire_len() bytes: bhs, with its
 * TotalAHSLength and DataSegmentLength set from ahs_len and data_len unless
 * keep_lengths; the AHS; the header digest; data, its pad, the data digest.
 * Digests are CRC32C, least significant byte first.  Returns the length. */
size_t ref_pdu_write(uint8_t *out, const uint8_t bhs[48], bool keep_lengths, const void *ahs, uint32_t ahs_len,
		     const void *data, uint32_t data_len, unsigned digests, struct ref_pdu_layout *at);

#endif
