/*
 * libtoeless iSCSI wire definitions: opcodes, Basic Header Segment fields
 * and their accessors (RFC 7143 section 11).  Header-only.
 *
 * SPDX-License-Identifier: MIT
 */
/**
 * @file toeless_iscsi.h
 * @brief iSCSI opcodes, BHS field offsets and accessors shared by the core,
 *        the engines, the device model and initiators.
 *
 * Everything here is a macro or a static inline function: nothing is
 * exported from the library, so using it adds no ABI dependency.  Header
 * fields are big-endian; digests travel little-endian (see
 * toeless_crc32c()), read and written with toeless_get_le32() and
 * toeless_put_le32().
 */
#ifndef TOELESS_ISCSI_H
#define TOELESS_ISCSI_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** @defgroup iscsi iSCSI wire definitions
 *  @{ */

/** Length of an iSCSI Basic Header Segment (also in toeless.h). */
#ifndef TOELESS_BHS_LEN
#define TOELESS_BHS_LEN 48
#endif

/* Initiator opcodes */
#define TOELESS_ISCSI_OP_NOP_OUT       0x00 /**< NOP-Out */
#define TOELESS_ISCSI_OP_SCSI_CMD      0x01 /**< SCSI Command */
#define TOELESS_ISCSI_OP_TASK_MGMT_REQ 0x02 /**< Task Management Function Request */
#define TOELESS_ISCSI_OP_LOGIN_REQ     0x03 /**< Login Request */
#define TOELESS_ISCSI_OP_TEXT_REQ      0x04 /**< Text Request */
#define TOELESS_ISCSI_OP_DATA_OUT      0x05 /**< SCSI Data-Out */
#define TOELESS_ISCSI_OP_LOGOUT_REQ    0x06 /**< Logout Request */
#define TOELESS_ISCSI_OP_SNACK_REQ     0x10 /**< SNACK Request */
/* Target opcodes */
#define TOELESS_ISCSI_OP_NOP_IN        0x20 /**< NOP-In */
#define TOELESS_ISCSI_OP_SCSI_RSP      0x21 /**< SCSI Response */
#define TOELESS_ISCSI_OP_TASK_MGMT_RSP 0x22 /**< Task Management Function Response */
#define TOELESS_ISCSI_OP_LOGIN_RSP     0x23 /**< Login Response */
#define TOELESS_ISCSI_OP_TEXT_RSP      0x24 /**< Text Response */
#define TOELESS_ISCSI_OP_DATA_IN       0x25 /**< SCSI Data-In */
#define TOELESS_ISCSI_OP_LOGOUT_RSP    0x26 /**< Logout Response */
#define TOELESS_ISCSI_OP_R2T           0x31 /**< Ready To Transfer */
#define TOELESS_ISCSI_OP_ASYNC_MSG     0x32 /**< Asynchronous Message */
#define TOELESS_ISCSI_OP_REJECT        0x3f /**< Reject */

/** Byte 0: the opcode bits. */
#define TOELESS_ISCSI_OPCODE_MASK 0x3f
/** Byte 0: immediate delivery (I bit). */
#define TOELESS_ISCSI_FLAG_IMMEDIATE 0x40
/** Byte 1: final PDU of a sequence (F bit). */
#define TOELESS_ISCSI_FLAG_FINAL 0x80
/** Data-In byte 1: acknowledge requested (A bit). */
#define TOELESS_ISCSI_DATAIN_ACK 0x40
/** Data-In byte 1: residual overflow (O bit). */
#define TOELESS_ISCSI_DATAIN_OVERFLOW 0x04
/** Data-In byte 1: residual underflow (U bit). */
#define TOELESS_ISCSI_DATAIN_UNDERFLOW 0x02
/** Data-In byte 1: the PDU carries the SCSI status (S bit). */
#define TOELESS_ISCSI_DATAIN_STATUS 0x01
/** SCSI Response byte 1: bidirectional read residual overflow (o bit). */
#define TOELESS_ISCSI_RSP_BIDI_OVERFLOW 0x10
/** SCSI Response byte 1: bidirectional read residual underflow (u bit). */
#define TOELESS_ISCSI_RSP_BIDI_UNDERFLOW 0x08
/** SCSI Response byte 1: residual overflow (O bit). */
#define TOELESS_ISCSI_RSP_OVERFLOW 0x04
/** SCSI Response byte 1: residual underflow (U bit). */
#define TOELESS_ISCSI_RSP_UNDERFLOW 0x02

/** The reserved tag value (no ITT, no TTT). */
#define TOELESS_ISCSI_RESERVED_TAG 0xffffffffu
/** SCSI status byte GOOD (SAM). */
#define TOELESS_ISCSI_SCSI_GOOD 0x00
/** The largest DataSegmentLength (24 bits). */
#define TOELESS_ISCSI_MAX_DSL 0xffffffu

/* BHS field offsets (bytes from the start of the BHS) */
#define TOELESS_BHS_OFF_OPCODE        0  /**< I bit and opcode */
#define TOELESS_BHS_OFF_FLAGS         1  /**< opcode-specific flags */
#define TOELESS_BHS_OFF_RESPONSE      2  /**< SCSI Response: iSCSI response code */
#define TOELESS_BHS_OFF_STATUS        3  /**< SCSI Response, Data-In with S: SCSI status */
#define TOELESS_BHS_OFF_AHS_LEN       4  /**< TotalAHSLength, in 4-byte words */
#define TOELESS_BHS_OFF_DSL           5  /**< DataSegmentLength, 3 bytes */
#define TOELESS_BHS_OFF_LUN           8  /**< LUN or opcode-specific, 8 bytes */
#define TOELESS_BHS_OFF_ITT           16 /**< Initiator Task Tag */
#define TOELESS_BHS_OFF_TTT           20 /**< Target Transfer Tag (Data-In, R2T, NOP-In) */
#define TOELESS_BHS_OFF_STATSN        24 /**< StatSN (target PDUs) */
#define TOELESS_BHS_OFF_EXPCMDSN      28 /**< ExpCmdSN (target PDUs) */
#define TOELESS_BHS_OFF_MAXCMDSN      32 /**< MaxCmdSN (target PDUs) */
#define TOELESS_BHS_OFF_DATASN        36 /**< DataSN (Data-In) */
#define TOELESS_BHS_OFF_BUFFER_OFFSET 40 /**< Buffer Offset (Data-In, Data-Out) */
#define TOELESS_BHS_OFF_RESIDUAL      44 /**< Residual Count (Data-In, SCSI Response) */

/** @return the big-endian 32-bit value at @p p. */
static inline uint32_t toeless_get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/** Store @p v big-endian at @p p. */
static inline void toeless_put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/** @return the little-endian 32-bit value at @p p (a digest on the wire). */
static inline uint32_t toeless_get_le32(const uint8_t *p)
{
	return (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}

/** Store @p v little-endian at @p p (a digest on the wire). */
static inline void toeless_put_le32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

/** @return the opcode of a BHS (I bit masked off). */
static inline uint8_t toeless_bhs_opcode(const uint8_t *bhs)
{
	return bhs[TOELESS_BHS_OFF_OPCODE] & TOELESS_ISCSI_OPCODE_MASK;
}

/** @return byte 1, the opcode-specific flags. */
static inline uint8_t toeless_bhs_flags(const uint8_t *bhs)
{
	return bhs[TOELESS_BHS_OFF_FLAGS];
}

/** @return TotalAHSLength in bytes (the field counts 4-byte words). */
static inline uint32_t toeless_bhs_ahs_len(const uint8_t *bhs)
{
	return (uint32_t)bhs[TOELESS_BHS_OFF_AHS_LEN] * 4;
}

/** @return DataSegmentLength. */
static inline uint32_t toeless_bhs_dsl(const uint8_t *bhs)
{
	const uint8_t *p = bhs + TOELESS_BHS_OFF_DSL;

	return (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2];
}

/** Store TotalAHSLength (@p ahs_len bytes, a multiple of 4) and DataSegmentLength. */
static inline void toeless_bhs_set_lengths(uint8_t *bhs, uint32_t ahs_len, uint32_t dsl)
{
	bhs[TOELESS_BHS_OFF_AHS_LEN] = (uint8_t)(ahs_len / 4);
	bhs[TOELESS_BHS_OFF_DSL] = (uint8_t)(dsl >> 16);
	bhs[TOELESS_BHS_OFF_DSL + 1] = (uint8_t)(dsl >> 8);
	bhs[TOELESS_BHS_OFF_DSL + 2] = (uint8_t)dsl;
}

/** @return the Initiator Task Tag. */
static inline uint32_t toeless_bhs_itt(const uint8_t *bhs)
{
	return toeless_get_be32(bhs + TOELESS_BHS_OFF_ITT);
}

/** @return the Buffer Offset of a Data-In or Data-Out. */
static inline uint32_t toeless_bhs_buffer_offset(const uint8_t *bhs)
{
	return toeless_get_be32(bhs + TOELESS_BHS_OFF_BUFFER_OFFSET);
}

/** @return the Residual Count of a Data-In or SCSI Response. */
static inline uint32_t toeless_bhs_residual(const uint8_t *bhs)
{
	return toeless_get_be32(bhs + TOELESS_BHS_OFF_RESIDUAL);
}

/** @return the bytes of padding after a data segment of @p len bytes. */
static inline uint32_t toeless_pad_len(uint32_t len)
{
	return (4 - (len & 3)) & 3;
}

/** @} */

#ifdef __cplusplus
}
#endif
#endif /* TOELESS_ISCSI_H */
