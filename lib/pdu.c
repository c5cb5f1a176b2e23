/*
 * PDU codec helpers that are not one-line field accessors (those are
 * inline in pdu.h).
 *
 * SPDX-License-Identifier: MIT
 */
#include "config.h"

#include <errno.h>
#include <stddef.h>

#include "pdu.h"

/* RFC 7143 11.2.1: one AHS is AHSLength (2 bytes, big-endian), AHSType
 * (1 byte) and AHSLength bytes of AHS-specific data, padded to a 4-byte
 * boundary.  AHSLength excludes AHSType, itself and the padding (an
 * Extended CDB AHS for a 32-byte CDB has AHSLength 17: the reserved byte
 * plus the 16 CDB bytes beyond the BHS). */
int tl_ahs_validate(const uint8_t *ahs, uint32_t ahs_len)
{
	uint32_t off = 0;

	if (ahs_len & 3)
		return -EPROTO;
	if (ahs_len && !ahs)
		return -EPROTO;
	while (off < ahs_len) {
		uint32_t len, total;

		/* Every AHS starts on a 4-byte boundary, so a whole header
		 * word is there when off < ahs_len. */
		len = (uint32_t)ahs[off] << 8 | ahs[off + 1];
		total = (3 + len + 3) & ~3u;
		if (total > ahs_len - off)
			return -EPROTO;
		off += total;
	}
	return 0;
}
