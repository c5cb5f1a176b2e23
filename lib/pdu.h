/*
 * iSCSI PDU codec (RFC 7143 section 11): opcodes and Basic Header Segment
 * field accessors.  Header fields are big-endian; digests are little-endian
 * on the wire (see toeless_crc32c()).
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef TOELESS_PDU_H
#define TOELESS_PDU_H

#include <stdint.h>

/* Initiator opcodes */
#define ISCSI_OP_NOP_OUT 0x00
#define ISCSI_OP_SCSI_CMD 0x01
#define ISCSI_OP_TASK_MGMT_REQ 0x02
#define ISCSI_OP_LOGIN_REQ 0x03
#define ISCSI_OP_TEXT_REQ 0x04
#define ISCSI_OP_DATA_OUT 0x05
#define ISCSI_OP_LOGOUT_REQ 0x06
#define ISCSI_OP_SNACK_REQ 0x10
/* Target opcodes */
#define ISCSI_OP_NOP_IN 0x20
#define ISCSI_OP_SCSI_RSP 0x21
#define ISCSI_OP_TASK_MGMT_RSP 0x22
#define ISCSI_OP_LOGIN_RSP 0x23
#define ISCSI_OP_TEXT_RSP 0x24
#define ISCSI_OP_DATA_IN 0x25
#define ISCSI_OP_LOGOUT_RSP 0x26
#define ISCSI_OP_R2T 0x31
#define ISCSI_OP_ASYNC_MSG 0x32
#define ISCSI_OP_REJECT 0x3f

#define ISCSI_OPCODE_MASK 0x3f
#define ISCSI_FLAG_IMMEDIATE 0x40 /* byte 0 */
#define ISCSI_FLAG_FINAL 0x80     /* byte 1 */
/* Data-In flags (byte 1) */
#define ISCSI_DATAIN_ACK 0x40
#define ISCSI_DATAIN_OVERFLOW 0x04
#define ISCSI_DATAIN_UNDERFLOW 0x02
#define ISCSI_DATAIN_STATUS 0x01
/* SCSI Response flags (byte 1) */
#define ISCSI_RSP_BIDI_OVERFLOW 0x10
#define ISCSI_RSP_BIDI_UNDERFLOW 0x08
#define ISCSI_RSP_OVERFLOW 0x04
#define ISCSI_RSP_UNDERFLOW 0x02

#define ISCSI_RESERVED_TAG 0xffffffffu
#define ISCSI_SCSI_GOOD 0x00 /* SCSI status byte */
#define ISCSI_MAX_DSL 0xffffffu

static inline uint32_t tl_get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline void tl_put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static inline uint32_t tl_get_le32(const uint8_t *p)
{
	return (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}

static inline void tl_put_le32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static inline uint8_t tl_bhs_opcode(const uint8_t *bhs)
{
	return bhs[0] & ISCSI_OPCODE_MASK;
}

static inline uint8_t tl_bhs_flags(const uint8_t *bhs)
{
	return bhs[1];
}

/* TotalAHSLength in bytes (byte 4 counts 4-byte words). */
static inline uint32_t tl_bhs_ahs_len(const uint8_t *bhs)
{
	return (uint32_t)bhs[4] * 4;
}

static inline uint32_t tl_bhs_dsl(const uint8_t *bhs)
{
	return (uint32_t)bhs[5] << 16 | (uint32_t)bhs[6] << 8 | bhs[7];
}

static inline void tl_bhs_set_lengths(uint8_t *bhs, uint32_t ahs_len, uint32_t dsl)
{
	bhs[4] = (uint8_t)(ahs_len / 4);
	bhs[5] = (uint8_t)(dsl >> 16);
	bhs[6] = (uint8_t)(dsl >> 8);
	bhs[7] = (uint8_t)dsl;
}

static inline uint32_t tl_bhs_itt(const uint8_t *bhs)
{
	return tl_get_be32(bhs + 16);
}

/* Data-In / Data-Out Buffer Offset (bytes 40..43). */
static inline uint32_t tl_bhs_buffer_offset(const uint8_t *bhs)
{
	return tl_get_be32(bhs + 40);
}

/* Data-In / SCSI Response residual count (bytes 44..47). */
static inline uint32_t tl_bhs_residual(const uint8_t *bhs)
{
	return tl_get_be32(bhs + 44);
}

/* Bytes of padding after a data segment of len bytes. */
static inline uint32_t tl_pad_len(uint32_t len)
{
	return (4 - (len & 3)) & 3;
}

/* Check the AHS chain of a header (RFC 7143 11.2.1): each AHS is
 * AHSLength (2 bytes, big-endian), AHSType (1 byte) and AHSLength bytes of
 * AHS-specific data, padded to a multiple of 4; AHSLength counts only the
 * AHS-specific bytes (not itself, AHSType or the padding).
 * Returns 0 when ahs_len is a multiple of 4 and the chain exactly fills it
 * (ahs_len 0: no AHS), -EPROTO otherwise. */
int tl_ahs_validate(const uint8_t *ahs, uint32_t ahs_len);

#endif /* TOELESS_PDU_H */
