/*
 * hw driver: ring helpers and the per-context ITT table.
 *
 * The ITT table remembers, per SGL offered to the device, its generation
 * (echoed in records and completions so a late record can never be taken
 * for a newer post of the same ITT) and who holds it.  Chained buckets over
 * a fixed pool: no allocation on the post path.
 *
 * SPDX-License-Identifier: MIT
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#else
#define _GNU_SOURCE /* built alone, as a plugin from the installed headers */
#endif

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "hw_int.h"

uint32_t hw_sq_free(uint32_t tail, uint32_t head, uint32_t entries)
{
	uint32_t used = tail - head;
	return used >= entries ? 0 : entries - used;
}

int hw_itt_init(struct hw_ctx *c, uint32_t max)
{
	uint32_t nb = 16;
	while (nb < max * 2 && nb < (1u << 22))
		nb <<= 1;
	c->itts = calloc(max, sizeof(*c->itts));
	c->buckets = malloc(nb * sizeof(*c->buckets));
	if (!c->itts || !c->buckets) {
		free(c->itts);
		free(c->buckets);
		c->itts = NULL;
		c->buckets = NULL;
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < nb; i++)
		c->buckets[i] = -1;
	for (uint32_t i = 0; i < max; i++)
		c->itts[i].next = i + 1 < max ? (int32_t)(i + 1) : -1;
	c->free_itt = max ? 0 : -1;
	c->bucket_mask = nb - 1;
	c->max_itts = max;
	c->n_itts = 0;
	return 0;
}

void hw_itt_fini(struct hw_ctx *c)
{
	free(c->itts);
	free(c->buckets);
	c->itts = NULL;
	c->buckets = NULL;
}

static inline uint32_t itt_hash(const struct hw_ctx *c, uint32_t itt)
{
	return (itt * 0x9E3779B1u) >> 7 & c->bucket_mask;
}

struct hw_itt *hw_itt_find(struct hw_ctx *c, uint32_t itt)
{
	for (int32_t i = c->buckets[itt_hash(c, itt)]; i >= 0; i = c->itts[i].next)
		if (c->itts[i].itt == itt)
			return &c->itts[i];
	return NULL;
}

struct hw_itt *hw_itt_add(struct hw_ctx *c, uint32_t itt)
{
	if (c->free_itt < 0)
		return NULL;
	int32_t i = c->free_itt;
	struct hw_itt *e = &c->itts[i];
	c->free_itt = e->next;
	memset(e, 0, sizeof(*e));
	e->itt = itt;
	uint32_t b = itt_hash(c, itt);
	e->next = c->buckets[b];
	c->buckets[b] = i;
	c->n_itts++;
	return e;
}

void hw_itt_del(struct hw_ctx *c, struct hw_itt *e)
{
	int32_t idx = (int32_t)(e - c->itts);
	int32_t *pp = &c->buckets[itt_hash(c, e->itt)];
	while (*pp >= 0 && *pp != idx)
		pp = &c->itts[*pp].next;
	if (*pp == idx)
		*pp = e->next;
	if (e->dev_holds && c->n_held)
		c->n_held--;
	if (e->state == HW_ITT_REMOVING && c->n_removing)
		c->n_removing--;
	e->state = 0;
	e->dev_holds = 0;
	e->next = c->free_itt;
	c->free_itt = idx;
	c->n_itts--;
}

int hw_u32_push(uint32_t **arr, uint32_t *n, uint32_t *cap, uint32_t v)
{
	if (*n == *cap) {
		uint32_t nc = *cap ? *cap * 2 : 16;
		uint32_t *na = realloc(*arr, nc * sizeof(*na));
		if (!na)
			return -ENOMEM;
		*arr = na;
		*cap = nc;
	}
	(*arr)[(*n)++] = v;
	return 0;
}

int hw_u64_push(uint64_t **arr, uint32_t *n, uint32_t *cap, uint64_t v)
{
	if (*n == *cap) {
		uint32_t nc = *cap ? *cap * 2 : 16;
		uint64_t *na = realloc(*arr, nc * sizeof(*na));
		if (!na)
			return -ENOMEM;
		*arr = na;
		*cap = nc;
	}
	(*arr)[(*n)++] = v;
	return 0;
}

uint32_t hw_sqe_count(uint32_t nsge)
{
	if (nsge <= HWIF_SGE_PER_SQE)
		return 1;
	return 1 + (nsge - HWIF_SGE_PER_SQE + HWIF_SGE_PER_SQE - 1) / HWIF_SGE_PER_SQE;
}

void hw_sq_put_sges(struct hwif_sqe *ring, uint32_t entries, uint32_t tail, const struct hwif_sqe *first,
		    const struct hwif_sge *sges, uint32_t nsge)
{
	uint32_t mask = entries - 1;
	struct hwif_sqe *e = &ring[tail & mask];
	*e = *first;
	e->count = (uint16_t)nsge;
	uint32_t k = nsge < HWIF_SGE_PER_SQE ? nsge : HWIF_SGE_PER_SQE;
	memset(&e->u, 0, sizeof(e->u));
	memcpy(e->u.sge, sges, k * sizeof(*sges));
	for (uint32_t done = k; done < nsge;) {
		e = &ring[++tail & mask];
		memset(e, 0, sizeof(*e));
		e->opcode = HWIF_OP_SGE;
		e->tag = first->tag;
		e->a = first->a;
		e->b = first->b;
		k = nsge - done < HWIF_SGE_PER_SQE ? nsge - done : HWIF_SGE_PER_SQE;
		e->count = (uint16_t)k;
		memcpy(e->u.sge, sges + done, k * sizeof(*sges));
		done += k;
	}
}
