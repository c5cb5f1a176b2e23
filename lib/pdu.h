/*
 * The core's PDU helpers beyond the public wire definitions: opcodes, BHS
 * offsets and field accessors are in include/toeless_iscsi.h, shared with
 * the engines, the device model and initiators; what stays here is the
 * core's own header validation.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef TOELESS_PDU_H
#define TOELESS_PDU_H

#include <stdint.h>

#include "toeless_iscsi.h"

/* Check the AHS chain of a header (RFC 7143 11.2.1): each AHS is
 * AHSLength (2 bytes, big-endian), AHSType (1 byte) and AHSLength bytes of
 * AHS-specific data, padded to a multiple of 4; AHSLength counts only the
 * AHS-specific bytes (not itself, AHSType or the padding).
 * Returns 0 when ahs_len is a multiple of 4 and the chain exactly fills it
 * (ahs_len 0: no AHS), -EPROTO otherwise. */
int tl_ahs_validate(const uint8_t *ahs, uint32_t ahs_len);

#endif /* TOELESS_PDU_H */
