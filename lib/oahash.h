/*
 * Open addressing over a power-of-two array of slots: linear probing and
 * backward-shift deletion.  Header-only, so the calls inline into the
 * probes of the task table (lib/task.c) and the CRC request table
 * (lib/cq.c), the two tables of the core.
 *
 * A table is an array of mask + 1 slots of slot_size bytes; an all-zero
 * slot is empty, so calloc() gives an empty table and a removal leaves
 * zeros.  The owner gives two functions: whether a slot is empty, and the
 * hash of the key a full slot holds (the helper masks it).  The owner keeps
 * the load at or below 1/2, so every probe run ends at an empty slot.
 *
 * Deletion shifts later entries of the probe run back into the hole (no
 * tombstones), so lookups stay short however many inserts and removes a
 * long-lived connection makes.
 *
 * Not used by the engines: they build against include/ alone, and the hw
 * engine, which picks its own request tags, keeps its own table.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef TOELESS_OAHASH_H
#define TOELESS_OAHASH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef bool (*tl_oa_empty_fn)(const void *slot);
typedef uint32_t (*tl_oa_hash_fn)(const void *slot);

static inline void *tl_oa_slot(void *slots, size_t slot_size, uint32_t i)
{
	return (char *)slots + (size_t)i * slot_size;
}

/* The first empty slot of the probe run that starts at hash's home: where
 * a new entry with that hash goes. */
static inline uint32_t tl_oa_free_slot(void *slots, size_t slot_size, uint32_t mask, uint32_t hash,
				       tl_oa_empty_fn empty)
{
	uint32_t i = hash & mask;

	while (!empty(tl_oa_slot(slots, slot_size, i)))
		i = (i + 1) & mask;
	return i;
}

/* Copy every full slot of an old array into a new, empty (zeroed) one of
 * new_mask + 1 slots: the growth step. */
static inline void tl_oa_rehash(void *dst, uint32_t new_mask, void *src, uint32_t old_mask, size_t slot_size,
				tl_oa_empty_fn empty, tl_oa_hash_fn hash)
{
	for (uint32_t i = 0; src && i <= old_mask; i++) {
		void *s = tl_oa_slot(src, slot_size, i);

		if (!empty(s))
			memcpy(tl_oa_slot(dst, slot_size, tl_oa_free_slot(dst, slot_size, new_mask, hash(s), empty)), s,
			       slot_size);
	}
}

/* Empty slot i.  Later entries of its probe run move back into the hole
 * unless their home lies cyclically in (hole, their slot]: moving those
 * would put them before their home, where a probe never looks. */
static inline void tl_oa_remove(void *slots, size_t slot_size, uint32_t mask, uint32_t i, tl_oa_empty_fn empty,
				tl_oa_hash_fn hash)
{
	for (uint32_t j = (i + 1) & mask;; j = (j + 1) & mask) {
		void *sj = tl_oa_slot(slots, slot_size, j);
		uint32_t home;

		if (empty(sj))
			break;
		home = hash(sj) & mask;
		if (i <= j ? (i < home && home <= j) : (i < home || home <= j))
			continue;
		memcpy(tl_oa_slot(slots, slot_size, i), sj, slot_size);
		i = j;
	}
	memset(tl_oa_slot(slots, slot_size, i), 0, slot_size);
}

#endif /* TOELESS_OAHASH_H */
