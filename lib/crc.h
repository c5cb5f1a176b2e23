/*
 * Internal: the CRC32C inline path for header-sized buffers (lib/crc.c).
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef TOELESS_CRC_H
#define TOELESS_CRC_H

#include <stdbool.h>

#include "toeless_int.h"

/* Buffers up to this many bytes take the inline SSE4.2 path when the CPU
 * has it; longer ones go to isa-l, whose PCLMUL folding wins from there. */
#define TL_CRC_INLINE_MAX 64

/* Whether toeless_crc32c() uses the inline path for short buffers (the CPU
 * has SSE4.2 and it was not switched off). */
TL_HIDDEN bool tl_crc_inline_active(void);
/* Tests only: switch the inline path off (false) or back to what the CPU
 * allows (true).  Returns whether it was active.  Not thread-safe. */
TL_HIDDEN bool tl_crc_inline_set(bool on);

#endif /* TOELESS_CRC_H */
