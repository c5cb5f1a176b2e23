/*
 * toeless-devsim, host side: the control socket, attachments, the queues
 * and their commands, memory regions and CRC requests, reset.
 *
 * Host memory is reached as a NIC reaches it through an IOMMU: a region is
 * registered (MR_REG) with its host address; descriptors then name
 * (region, offset) only, and the model reads and writes host memory with
 * process_vm_readv/process_vm_writev on the host's pid.
 *
 * SPDX-License-Identifier: MIT
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include "hwdev.h"

static int ctl_listen_fd = -1;
static uv_poll_t ctl_listen_poll;
static char ctl_path[108];
static dev_t ctl_dev;
static ino_t ctl_ino;

void dv_stat_add(size_t field_off, uint64_t n, struct dv_att *a)
{
	*(uint64_t *)((uint8_t *)&dv.st + field_off) += n;
	if (a && a->hdr && !a->dead) {
		uint64_t *p = (uint64_t *)((uint8_t *)&a->hdr->stats + field_off);
		__atomic_store_n(p, *p + n, __ATOMIC_RELAXED);
	}
}

/* ---- interrupts and completions ---- */

static void efd_signal(int fd)
{
	uint64_t one = 1;
	if (fd >= 0 && write(fd, &one, sizeof(one)) < 0) {
		/* a saturated counter still wakes the driver */
	}
}

void dv_ctx_irq(struct dv_ctx *c)
{
	HWIF_FENCE(); /* what was posted, before irq_arm is read */
	if (HWIF_LOAD(&c->blk->irq_arm)) {
		HWIF_STORE(&c->blk->irq_arm, 0);
		efd_signal(c->irq);
	}
}

static uint32_t cq_room(const struct dv_ctx *c)
{
	uint32_t used = c->cq_tail - HWIF_LOAD(&c->blk->cq_head);
	return used >= c->att->cq_n ? 0 : c->att->cq_n - used;
}

bool dv_ctx_cqe(struct dv_ctx *c, const struct hwif_cqe *e)
{
	if (!cq_room(c))
		return false;
	c->cq[c->cq_tail & (c->att->cq_n - 1)] = *e;
	HWIF_STORE(&c->blk->cq_tail, ++c->cq_tail);
	return true;
}

bool dv_publish(struct dv_ctx *c, const struct hwif_rqe *r)
{
	uint32_t used = c->rq_tail - HWIF_LOAD(&c->blk->rq_head);
	uint32_t cap = c->att->rq_n;
	if (dv.o.f.rq_limit && dv.o.f.rq_limit < cap)
		cap = dv.o.f.rq_limit;
	if (used >= cap) {
		DV_STAT(c->att, records_dropped, 1);
		return false;
	}
	c->rq[c->rq_tail & (c->att->rq_n - 1)] = *r;
	HWIF_STORE(&c->blk->rq_tail, ++c->rq_tail);
	DV_STAT(c->att, records, 1);
	return true;
}

static bool admin_cqe(struct dv_att *a, const struct hwif_cqe *e)
{
	uint32_t used = a->acq_tail - HWIF_LOAD(&a->hdr->admin_cq_head);
	if (used >= a->acq_n)
		return false;
	a->acq[a->acq_tail & (a->acq_n - 1)] = *e;
	HWIF_STORE(&a->hdr->admin_cq_tail, ++a->acq_tail);
	return true;
}

static void admin_irq(struct dv_att *a)
{
	HWIF_FENCE();
	if (HWIF_LOAD(&a->hdr->admin_irq_arm)) {
		HWIF_STORE(&a->hdr->admin_irq_arm, 0);
		efd_signal(a->irq0);
	}
}

/* ---- host memory ---- */

static struct dv_region *region_find(struct dv_att *a, uint32_t id)
{
	for (uint32_t i = 0; i < a->n_regions; i++)
		if (a->regions[i].id == id)
			return &a->regions[i];
	return NULL;
}

/* Translate SGEs (region, offset, len) to host addresses. */
static int sges_resolve(struct dv_att *a, const struct hwif_sge *in, uint32_t n, struct dv_sge *out)
{
	for (uint32_t i = 0; i < n; i++) {
		struct dv_region *r = region_find(a, in[i].region);
		if (!r || in[i].len == 0 || in[i].offset > r->len || in[i].len > r->len - in[i].offset)
			return -EFAULT;
		out[i].addr = r->addr + in[i].offset;
		out[i].len = in[i].len;
	}
	return 0;
}

/* Gather the SGEs of the command at ring index head (first entry inline,
 * then HWIF_OP_SGE entries).  Returns the entries used, 0 when the list is
 * not all there yet, or -1 when malformed. */
static int gather_sges(const struct hwif_sqe *ring, uint32_t n_entries, uint32_t head, uint32_t tail,
		       struct hwif_sge *out, uint32_t max)
{
	const struct hwif_sqe *e = &ring[head & (n_entries - 1)];
	uint32_t nsge = e->count;
	if (nsge == 0 || nsge > max)
		return -1;
	uint32_t k = nsge < HWIF_SGE_PER_SQE ? nsge : HWIF_SGE_PER_SQE;
	memcpy(out, e->u.sge, k * sizeof(*out));
	uint32_t used = 1;
	while (k < nsge) {
		if (head + used == tail)
			return 0;
		const struct hwif_sqe *x = &ring[(head + used) & (n_entries - 1)];
		if (x->opcode != HWIF_OP_SGE || x->count == 0 || x->count > HWIF_SGE_PER_SQE || k + x->count > nsge)
			return -1;
		memcpy(out + k, x->u.sge, x->count * sizeof(*out));
		k += x->count;
		used++;
	}
	return (int)used;
}

/* Can we reach [addr, addr+len) of the host?  One byte at each end. */
static int host_reachable(pid_t pid, uint64_t addr, uint64_t len)
{
	uint8_t b[2];
	struct iovec l = { b, 1 };
	struct iovec r[2] = { { (void *)(uintptr_t)addr, 1 }, { (void *)(uintptr_t)(addr + len - 1), 1 } };
	for (int i = 0; i < 2; i++) {
		l.iov_base = &b[i];
		if (process_vm_readv(pid, &l, 1, &r[i], 1, 0) != 1)
			return -errno;
	}
	return 0;
}

/* ---- placement ---- */

uint32_t dv_place(struct dv_ctx *x, struct dv_sgl *s, uint64_t boff, const uint8_t *p, uint32_t len)
{
	struct iovec remote[64];
	uint32_t done = 0;
	uint32_t k = 0;
	uint64_t base = 0;
	while (k < s->nsge && base + s->sge[k].len <= boff)
		base += s->sge[k++].len;
	while (done < len && k < s->nsge) {
		int n = 0;
		uint32_t batch = 0;
		while (n < 64 && done + batch < len && k < s->nsge) {
			uint64_t in = boff + done + batch - base;
			uint64_t room = s->sge[k].len - in;
			uint32_t take = len - done - batch < room ? len - done - batch : (uint32_t)room;
			remote[n].iov_base = (void *)(uintptr_t)(s->sge[k].addr + in);
			remote[n].iov_len = take;
			n++;
			batch += take;
			if (take == room)
				base += s->sge[k++].len;
		}
		struct iovec local = { (void *)(uintptr_t)(p + done), batch };
		ssize_t w = process_vm_writev(x->att->host_pid, &local, 1, remote, (unsigned long)n, 0);
		if (w <= 0) {
			dv_log(0, "slot %u: placement into host memory failed: %s", x->slot,
			       w < 0 ? strerror(errno) : "nothing written");
			break;
		}
		done += (uint32_t)w;
		if ((uint32_t)w < batch)
			break;
	}
	return done;
}

bool dv_sgl_overlaps(const struct dv_sgl *s, uint64_t lo, uint64_t hi)
{
	for (uint32_t i = 0; i < s->nranges; i++)
		if (lo < s->ranges[i][1] && s->ranges[i][0] < hi)
			return true;
	return false;
}

void dv_sgl_mark(struct dv_sgl *s, uint64_t lo, uint64_t hi)
{
	for (uint32_t i = 0; i < s->nranges; i++)
		if (s->ranges[i][1] == lo) {
			s->ranges[i][1] = hi;
			return;
		}
	if (s->nranges == s->cap_ranges) {
		uint32_t nc = s->cap_ranges ? s->cap_ranges * 2 : 4;
		void *n = realloc(s->ranges, nc * sizeof(*s->ranges));
		if (!n) {
			s->no_place = true; /* cannot remember the range: place nothing more here */
			return;
		}
		s->ranges = n;
		s->cap_ranges = nc;
	}
	s->ranges[s->nranges][0] = lo;
	s->ranges[s->nranges][1] = hi;
	s->nranges++;
}

/* ---- SGL table of a context ---- */

#define DV_BUCKETS 1024

struct dv_sgl *dv_sgl_find(struct dv_ctx *c, uint32_t itt)
{
	if (!c->buckets)
		return NULL;
	for (struct dv_sgl *s = c->buckets[itt & (DV_BUCKETS - 1)]; s; s = s->next)
		if (s->itt == itt)
			return s;
	return NULL;
}

void dv_sgl_drop(struct dv_ctx *c, struct dv_sgl *s)
{
	struct dv_sgl **pp = &c->buckets[s->itt & (DV_BUCKETS - 1)];
	while (*pp && *pp != s)
		pp = &(*pp)->next;
	if (*pp)
		*pp = s->next;
	c->n_sgls--;
	DV_STAT(c->att, sgls_released, 1);
	free(s->sge);
	free(s->ranges);
	free(s);
}

static void sgl_drop_all(struct dv_ctx *c)
{
	if (!c->buckets)
		return;
	for (uint32_t i = 0; i < DV_BUCKETS; i++)
		while (c->buckets[i])
			dv_sgl_drop(c, c->buckets[i]);
}

/* ---- context SQ ---- */

static void ctx_sgl_add(struct dv_ctx *c, const struct hwif_sqe *e, const struct hwif_sge *sges)
{
	struct hwif_cqe r = { .type = HWIF_CQE_SGL_REFUSED, .a = e->a, .b = e->b };
	uint32_t limit = dv.o.f.sgl_limit ? dv.o.f.sgl_limit : DV_MAX_SGLS;
	struct dv_sgl *s = NULL;
	if (!(c->att->features & HWIF_F_DDP)) {
		r.status = -EOPNOTSUPP;
	} else if (dv_sgl_find(c, e->a)) {
		r.status = -EEXIST;
	} else if (c->n_sgls >= limit) {
		r.status = -ENOSPC;
	} else if (!(s = calloc(1, sizeof(*s))) || !(s->sge = calloc(e->count, sizeof(*s->sge)))) {
		r.status = -ENOMEM;
	} else if ((r.status = sges_resolve(c->att, sges, e->count, s->sge)) == 0) {
		s->itt = e->a;
		s->gen = e->b;
		s->nsge = e->count;
		for (uint32_t i = 0; i < s->nsge; i++)
			s->total += s->sge[i].len;
		s->next = c->buckets[s->itt & (DV_BUCKETS - 1)];
		c->buckets[s->itt & (DV_BUCKETS - 1)] = s;
		c->n_sgls++;
		DV_STAT(c->att, sgls_added, 1);
		return;
	}
	if (s) {
		free(s->sge);
		free(s);
	}
	DV_STAT(c->att, sgls_refused, 1);
	dv_log(2, "slot %u: SGL for ITT 0x%x refused (%d)", c->slot, e->a, r.status);
	dv_ctx_cqe(c, &r);
}

void dv_ctx_drain_sq(struct dv_ctx *c)
{
	if (!c->active || c->att->dead)
		return;
	static struct hwif_sge sges[DV_MAX_SGE];
	uint32_t tail = HWIF_LOAD(&c->blk->sq_tail);
	bool posted = false;
	c->stalled = false;
	while (c->sq_head != tail) {
		if (cq_room(c) < 2) {
			c->stalled = true; /* fetch no command whose completion has no room */
			dv_tick_need();
			break;
		}
		const struct hwif_sqe *e = &c->sq[c->sq_head & (c->att->sq_n - 1)];
		int used = 1;
		switch (e->opcode) {
		case HWIF_OP_SGL_ADD:
			used = gather_sges(c->sq, c->att->sq_n, c->sq_head, tail, sges, DV_MAX_SGE);
			if (used == 0)
				goto out; /* not all there: the driver publishes whole lists */
			if (used < 0) {
				struct hwif_cqe r = {
					.type = HWIF_CQE_SGL_REFUSED, .status = -EINVAL, .a = e->a, .b = e->b
				};
				dv_ctx_cqe(c, &r);
				posted = true;
				used = 1;
				break;
			}
			ctx_sgl_add(c, e, sges);
			posted = true;
			break;
		case HWIF_OP_SGL_REMOVE: {
			struct dv_sgl *s = dv_sgl_find(c, e->a);
			struct hwif_cqe r = { .type = HWIF_CQE_SGL_RELEASED, .a = e->a, .b = e->b };
			if (s && s->gen == e->b)
				dv_sgl_drop(c, s);
			else
				r.status = -ENOENT; /* released already (auto-release, reset) */
			dv_ctx_cqe(c, &r);
			posted = true;
			break;
		}
		case HWIF_OP_RESYNC_REPLY: dv_track_resync_reply(c, e->u.resync.pos, e->u.resync.is_header != 0); break;
		case HWIF_OP_TX_PDU:
			DV_STAT(c->att, tx_records, 1);
			dv_track_tx_pdu(c, e);
			break;
		case HWIF_OP_SGL_CLAIM: {
			/* The host places [lo, hi) itself: the wire is handled
			 * between commands, so from this answer on no PDU lands
			 * there (toeless_backend.h, "Buffers"). */
			struct dv_sgl *s = dv_sgl_find(c, e->a);
			struct hwif_cqe r = { .type = HWIF_CQE_SGL_CLAIMED, .tag = e->tag, .a = e->a, .b = e->b };
			if (s && s->gen == e->b && e->u.claim.lo < e->u.claim.hi)
				dv_sgl_mark(s, e->u.claim.lo, e->u.claim.hi);
			else
				r.status = -ENOENT; /* not held: nothing will be placed into it */
			dv_ctx_cqe(c, &r);
			posted = true;
			break;
		}
		default: break; /* NOP, stray continuation */
		}
		c->sq_head += (uint32_t)used;
	}
out:
	HWIF_STORE(&c->blk->sq_head, c->sq_head);
	if (posted)
		dv_ctx_irq(c);
}

/* ---- admin commands ---- */

static void ctx_unbind(struct dv_ctx *c)
{
	if (c->conn)
		dv_track_unbind(c->conn);
	c->conn = NULL;
	/* delayed records of this context die with it */
	for (struct dv_delayed **pp = &dv.delayed; *pp;) {
		if ((*pp)->ctx == c) {
			struct dv_delayed *x = *pp;
			*pp = x->next;
			free(x);
		} else {
			pp = &(*pp)->next;
		}
	}
	dv.delayed_tail = &dv.delayed;
	while (*dv.delayed_tail)
		dv.delayed_tail = &(*dv.delayed_tail)->next;
}

static void ctx_deactivate(struct dv_ctx *c)
{
	if (!c->active)
		return;
	ctx_unbind(c);
	sgl_drop_all(c);
	free(c->buckets);
	c->buckets = NULL;
	c->active = false;
	c->resync_wait = false;
}

static int cmd_ctx_add(struct dv_att *a, uint32_t slot)
{
	if (slot >= a->max_contexts)
		return -EINVAL;
	struct dv_ctx *c = &a->ctx[slot];
	if (c->active)
		return -EBUSY;
	if (c->irq < 0)
		return -ENXIO; /* no vector bound */
	struct dv_conn *conn = dv_conn_find(c->blk);
	if (!conn)
		return -ENOENT; /* this connection does not pass through us */
	if (!(c->buckets = calloc(DV_BUCKETS, sizeof(*c->buckets))))
		return -ENOMEM;
	c->active = true;
	c->sq_head = c->cq_tail = c->rq_tail = 0;
	HWIF_STORE(&c->blk->sq_head, 0);
	HWIF_STORE(&c->blk->cq_tail, 0);
	HWIF_STORE(&c->blk->rq_tail, 0);
	c->n_sgls = 0;
	c->rec_seq = 0;
	c->stalled = false;
	c->resync_wait = false;
	c->flags = c->blk->flags;
	c->max_dsl = c->blk->max_recv_dsl ? c->blk->max_recv_dsl : 8192;
	c->pos_base = c->blk->host_pos - c->blk->wire_off;
	c->conn = conn;
	int rc = dv_track_bind(conn, c);
	if (rc) {
		c->conn = NULL;
		c->active = false;
		free(c->buckets);
		c->buckets = NULL;
		return rc;
	}
	dv_log(1, "slot %u: context added (host pos %llu, wire offset %llu, digests %s%s)", slot,
	       (unsigned long long)c->blk->host_pos, (unsigned long long)c->blk->wire_off,
	       c->flags & HWIF_CTX_HDR_DIGEST ? "H" : "-", c->flags & HWIF_CTX_DATA_DIGEST ? "D" : "-");
	return 0;
}

static int cmd_crc(struct dv_att *a, const struct hwif_sqe *e, const struct hwif_sge *sges, uint32_t *crc)
{
	static uint8_t buf[65536];
	uint32_t v = e->b;
	for (uint32_t i = 0; i < e->count; i++) {
		struct dv_region *r = region_find(a, sges[i].region);
		if (!r || sges[i].offset > r->len || sges[i].len > r->len - sges[i].offset)
			return -EFAULT;
		uint64_t addr = r->addr + sges[i].offset;
		uint64_t left = sges[i].len;
		while (left) {
			size_t n = left < sizeof(buf) ? (size_t)left : sizeof(buf);
			struct iovec l = { buf, n }, rm = { (void *)(uintptr_t)addr, n };
			ssize_t got = process_vm_readv(a->host_pid, &l, 1, &rm, 1, 0);
			if (got != (ssize_t)n)
				return got < 0 ? -errno : -EFAULT;
			v = dv_crc32c(v, buf, n);
			addr += n;
			left -= n;
		}
	}
	*crc = v;
	return 0;
}

static void att_reset(struct dv_att *a, uint32_t state)
{
	for (uint32_t i = 0; i < a->max_contexts; i++) {
		struct dv_ctx *c = &a->ctx[i];
		bool was = c->active;
		ctx_deactivate(c);
		if (was && !a->dead)
			efd_signal(c->irq); /* wake anyone waiting: the state word says why */
	}
	a->n_regions = 0;
	if (!a->dead && a->hdr) {
		HWIF_STORE(&a->hdr->state, state);
		a->hdr->reset_count++;
		if (state != HWIF_STATE_RUNNING) {
			/* the device reset on its own: tell the driver */
			struct hwif_cqe r = { .type = HWIF_CQE_RESET, .status = -EIO };
			admin_cqe(a, &r);
			efd_signal(a->irq0);
		}
	}
}

static void admin_drain(struct dv_att *a)
{
	static struct hwif_sge sges[DV_MAX_SGE];
	if (a->dead || !a->attached || HWIF_LOAD(&a->hdr->state) != HWIF_STATE_RUNNING)
		return;
	uint32_t tail = HWIF_LOAD(&a->hdr->admin_sq_tail);
	bool posted = false;
	a->admin_stalled = false;
	while (a->asq_head != tail) {
		uint32_t used_cq = a->acq_tail - HWIF_LOAD(&a->hdr->admin_cq_head);
		if (used_cq + 2 > a->acq_n) {
			a->admin_stalled = true;
			dv_tick_need();
			break;
		}
		const struct hwif_sqe *e = &a->asq[a->asq_head & (a->asq_n - 1)];
		struct hwif_cqe r = { .type = HWIF_CQE_CMD, .opcode = e->opcode, .tag = e->tag, .a = e->a };
		int used = 1;
		switch (e->opcode) {
		case HWIF_OP_NOP: break;
		case HWIF_OP_MR_REG: {
			if (a->n_regions >= DV_MAX_REGIONS || region_find(a, e->a) || !e->u.mr.len) {
				r.status = a->n_regions >= DV_MAX_REGIONS ? -ENOSPC : -EINVAL;
				break;
			}
			r.status = host_reachable(a->host_pid, e->u.mr.addr, e->u.mr.len);
			if (r.status) {
				dv_log(1, "region %u: host memory not reachable (%s)", e->a, strerror(-r.status));
				break;
			}
			struct dv_region *nr = realloc(a->regions, (a->n_regions + 1) * sizeof(*nr));
			if (!nr) {
				r.status = -ENOMEM;
				break;
			}
			a->regions = nr;
			nr[a->n_regions++] = (struct dv_region){ e->a, e->u.mr.addr, e->u.mr.len };
			break;
		}
		case HWIF_OP_MR_DEREG: {
			struct dv_region *x = region_find(a, e->a);
			if (x)
				*x = a->regions[--a->n_regions];
			else
				r.status = -ENOENT;
			break;
		}
		case HWIF_OP_CTX_ADD: r.status = cmd_ctx_add(a, e->a); break;
		case HWIF_OP_CTX_MODIFY:
			if (e->a >= a->max_contexts || !a->ctx[e->a].active) {
				r.status = -ENOENT;
				break;
			}
			dv_track_modify(&a->ctx[e->a]);
			break;
		case HWIF_OP_CTX_REMOVE:
			if (e->a >= a->max_contexts || !a->ctx[e->a].active) {
				r.status = -ENOENT;
				break;
			}
			ctx_deactivate(&a->ctx[e->a]);
			dv_log(1, "slot %u: context removed", e->a);
			break;
		case HWIF_OP_CRC: {
			used = gather_sges(a->asq, a->asq_n, a->asq_head, tail, sges, DV_MAX_SGE);
			if (used == 0)
				goto out;
			r.type = HWIF_CQE_CRC;
			if (used < 0) {
				used = 1;
				r.status = -EINVAL;
				break;
			}
			uint32_t crc = 0;
			r.status = (a->features & HWIF_F_CRC_REQ) ? cmd_crc(a, e, sges, &crc) : -EOPNOTSUPP;
			r.value = crc;
			DV_STAT(a, crc_requests, 1);
			break;
		}
		case HWIF_OP_RESET:
			att_reset(a, HWIF_STATE_RUNNING);
			HWIF_STORE(&a->hdr->state, HWIF_STATE_RUNNING);
			break;
		default: r.status = -EOPNOTSUPP; break;
		}
		admin_cqe(a, &r);
		posted = true;
		a->asq_head += (uint32_t)used;
	}
out:
	HWIF_STORE(&a->hdr->admin_sq_head, a->asq_head);
	if (posted)
		admin_irq(a);
}

static void att_kick(struct dv_att *a)
{
	admin_drain(a);
	if (a->dead || !a->attached)
		return;
	for (uint32_t i = 0; i < a->max_contexts; i++)
		if (a->ctx[i].active)
			dv_ctx_drain_sq(&a->ctx[i]);
}

void dv_kick_all(void)
{
	for (struct dv_att *a = dv.atts; a; a = a->next)
		att_kick(a);
}

/* The device resets: every attachment loses what it had; traffic passes. */
void dv_reset_device(const char *why)
{
	dv_log(0, "device reset (%s)", why);
	for (struct dv_att *a = dv.atts; a; a = a->next)
		if (a->attached && !a->dead)
			att_reset(a, HWIF_STATE_RESET);
}

/* ---- attachments ---- */

static void att_closed(uv_handle_t *h)
{
	struct dv_att *a = h->data;
	if (--a->closing > 0)
		return;
	free(a->ctx);
	free(a->regions);
	free(a);
}

static void att_destroy(struct dv_att *a)
{
	if (a->dead)
		return;
	dv_log(1, "driver detached");
	for (uint32_t i = 0; a->ctx && i < a->max_contexts; i++) {
		ctx_deactivate(&a->ctx[i]);
		if (a->ctx[i].irq >= 0)
			close(a->ctx[i].irq);
		a->ctx[i].irq = -1;
	}
	a->dead = true;
	for (struct dv_att **pp = &dv.atts; *pp; pp = &(*pp)->next)
		if (*pp == a) {
			*pp = a->next;
			break;
		}
	if (a->mem)
		munmap(a->mem, a->mem_size);
	a->mem = NULL;
	a->hdr = NULL;
	if (a->irq0 >= 0)
		close(a->irq0);
	a->closing = 1;
	uv_close((uv_handle_t *)&a->ctl_poll, att_closed);
	if (a->doorbell >= 0) {
		a->closing++;
		uv_close((uv_handle_t *)&a->db_poll, att_closed);
	}
}

static void on_doorbell(uv_poll_t *h, int status, int events)
{
	struct dv_att *a = h->data;
	uint64_t v;
	if (read(a->doorbell, &v, sizeof(v)) < 0 && errno != EAGAIN)
		return;
	att_kick(a);
}

static int ctl_send(int fd, const void *m, size_t len)
{
	return send(fd, m, len, MSG_NOSIGNAL) == (ssize_t)len ? 0 : -errno;
}

static int do_hello(struct dv_att *a, const struct hwif_hello *h, int *fds, int nfds)
{
	if (a->attached)
		return -EALREADY;
	if (h->ver_major != HWIF_VERSION_MAJOR)
		return -EPROTONOSUPPORT;
	if (nfds != 3)
		return -EBADF;
	if (!hwif_pow2(h->admin_sq_entries) || !hwif_pow2(h->admin_cq_entries) || !hwif_pow2(h->ctx_sq_entries) ||
	    !hwif_pow2(h->ctx_cq_entries) || !hwif_pow2(h->ctx_rq_entries) || !h->max_contexts ||
	    h->max_contexts > 4096 || h->ctx_cq_entries < h->ctx_sq_entries + 4)
		return -EINVAL;
	hwif_layout_compute(&a->lay, h->max_contexts, h->admin_sq_entries, h->admin_cq_entries, h->ctx_sq_entries,
			    h->ctx_cq_entries, h->ctx_rq_entries);
	struct stat sb;
	if (a->lay.size != h->mem_size || fstat(fds[0], &sb) != 0 || (uint64_t)sb.st_size < a->lay.size)
		return -EINVAL;
	a->mem = mmap(NULL, a->lay.size, PROT_READ | PROT_WRITE, MAP_SHARED, fds[0], 0);
	if (a->mem == MAP_FAILED) {
		a->mem = NULL;
		return -errno;
	}
	a->mem_size = a->lay.size;
	close(fds[0]);
	fds[0] = -1;
	a->hdr = (struct hwif_shared_hdr *)a->mem;
	if (a->hdr->magic != HWIF_MAGIC)
		return -EINVAL;
	a->asq = (struct hwif_sqe *)(a->mem + a->lay.admin_sq);
	a->acq = (struct hwif_cqe *)(a->mem + a->lay.admin_cq);
	a->asq_n = h->admin_sq_entries;
	a->acq_n = h->admin_cq_entries;
	a->sq_n = h->ctx_sq_entries;
	a->cq_n = h->ctx_cq_entries;
	a->rq_n = h->ctx_rq_entries;
	a->max_contexts = h->max_contexts;
	a->host_pid = (pid_t)h->host_pid;
	a->features = h->features & dv_model_features & ~dv.o.f.features_off;
	a->ctx = calloc(a->max_contexts, sizeof(*a->ctx));
	if (!a->ctx)
		return -ENOMEM;
	for (uint32_t i = 0; i < a->max_contexts; i++) {
		struct dv_ctx *c = &a->ctx[i];
		uint8_t *base = a->mem + a->lay.ctx_base + a->lay.ctx_stride * i;
		c->att = a;
		c->slot = i;
		c->irq = -1;
		c->blk = (struct hwif_ctx_block *)base;
		c->sq = (struct hwif_sqe *)(base + a->lay.ctx_sq);
		c->cq = (struct hwif_cqe *)(base + a->lay.ctx_cq);
		c->rq = (struct hwif_rqe *)(base + a->lay.ctx_rq);
	}
	a->doorbell = fds[1];
	a->irq0 = fds[2];
	fds[1] = fds[2] = -1;
	uv_poll_init(dv.loop, &a->db_poll, a->doorbell);
	a->db_poll.data = a;
	uv_poll_start(&a->db_poll, UV_READABLE, on_doorbell);
	a->attached = true;
	HWIF_STORE(&a->hdr->state, HWIF_STATE_RUNNING);
	dv_log(1, "driver attached: pid %d, features 0x%llx, %u contexts", (int)a->host_pid,
	       (unsigned long long)a->features, a->max_contexts);
	return 0;
}

static void on_ctl(uv_poll_t *h, int status, int events)
{
	struct dv_att *a = h->data;
	union {
		struct hwif_msg_hdr h;
		struct hwif_hello hello;
		struct hwif_vector_msg vec;
		uint8_t raw[256];
	} m;
	union {
		char buf[CMSG_SPACE(sizeof(int) * 8)];
		struct cmsghdr align;
	} cbuf;
	struct iovec iov = { &m, sizeof(m) };
	struct msghdr mh = {
		.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf.buf, .msg_controllen = sizeof(cbuf.buf)
	};
	int fds[8], nfds = 0;

	if (status < 0) {
		att_destroy(a);
		return;
	}
	ssize_t n = recvmsg(a->ctl, &mh, MSG_CMSG_CLOEXEC);
	if (n <= 0) {
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		att_destroy(a);
		return;
	}
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm))
		if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS) {
			int k = (int)((cm->cmsg_len - CMSG_LEN(0)) / sizeof(int));
			for (int i = 0; i < k && nfds < 8; i++)
				memcpy(&fds[nfds++], CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
		}
	if ((size_t)n < sizeof(m.h) || m.h.magic != HWIF_MAGIC) {
		dv_log(0, "control: malformed message");
		goto out;
	}
	if (m.h.type == HWIF_MSG_HELLO && (size_t)n >= sizeof(m.hello)) {
		struct hwif_hello hello = m.hello;
		int rc = do_hello(a, &hello, fds, nfds);
		struct hwif_hello_reply r;
		memset(&r, 0, sizeof(r));
		r.h.magic = HWIF_MAGIC;
		r.h.type = HWIF_MSG_HELLO_REPLY;
		r.h.len = sizeof(r);
		r.ver_major = HWIF_VERSION_MAJOR;
		r.ver_minor = HWIF_VERSION_MINOR;
		r.status = rc;
		r.features = rc ? 0 : a->features;
		r.device_pid = (uint32_t)getpid();
		r.max_contexts = rc ? 0 : a->max_contexts;
		r.max_sge = DV_MAX_SGE;
		r.max_sgls = dv.o.f.sgl_limit ? dv.o.f.sgl_limit : DV_MAX_SGLS;
		r.max_dsl = DV_MAX_DSL;
		r.max_regions = DV_MAX_REGIONS;
		r.max_crc_sge = DV_MAX_SGE;
		snprintf(r.name, sizeof(r.name), "%s", dv_model_name);
		ctl_send(a->ctl, &r, sizeof(r));
		if (rc)
			dv_log(0, "attach refused: %s", strerror(-rc));
	} else if (m.h.type == HWIF_MSG_VECTOR && (size_t)n >= sizeof(m.vec) && a->attached) {
		struct hwif_vector_msg r = m.vec;
		r.h.type = HWIF_MSG_VECTOR_REPLY;
		uint32_t slot = m.vec.vector - 1;
		if (nfds != 1 || m.vec.vector == 0 || slot >= a->max_contexts || a->ctx[slot].active) {
			r.status = -EINVAL;
		} else {
			if (a->ctx[slot].irq >= 0)
				close(a->ctx[slot].irq);
			a->ctx[slot].irq = fds[0];
			fds[0] = -1;
			r.status = 0;
		}
		ctl_send(a->ctl, &r, sizeof(r));
	} else {
		dv_log(0, "control: unexpected message type %u", m.h.type);
	}
out:
	for (int i = 0; i < nfds; i++)
		if (fds[i] >= 0)
			close(fds[i]);
}

static void on_ctl_listen(uv_poll_t *h, int status, int events)
{
	int fd = accept4(ctl_listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (fd < 0)
		return;
	/* only our own user or root may drive the device */
	struct ucred cred;
	socklen_t cl = sizeof(cred);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl) != 0 || (cred.uid != geteuid() && cred.uid != 0)) {
		dv_log(0, "control: refused a driver of uid %u", (unsigned)cred.uid);
		close(fd);
		return;
	}
	struct dv_att *a = calloc(1, sizeof(*a));
	if (!a) {
		close(fd);
		return;
	}
	a->ctl = fd;
	a->doorbell = a->irq0 = -1;
	uv_poll_init(dv.loop, &a->ctl_poll, fd);
	a->ctl_poll.data = a;
	uv_poll_start(&a->ctl_poll, UV_READABLE | UV_DISCONNECT, on_ctl);
	a->next = dv.atts;
	dv.atts = a;
}

/* The socket's directory: made here (mode 0700) when missing, and it must
 * be one the driver will trust (hwif_dir_trusted(): ours or root's, not
 * writable by others unless sticky); a symbolic link is not followed. */
static int ctl_dir_prepare(const char *path)
{
	char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];
	const char *slash = strrchr(path, '/');
	struct stat st;
	if (!slash)
		return 0; /* the current directory: the user's choice */
	snprintf(dir, sizeof(dir), "%.*s", slash == path ? 1 : (int)(slash - path), path);
	if (mkdir(dir, 0700) == 0)
		dv_log(1, "made %s (mode 0700)", dir);
	else if (errno != EEXIST)
		return -errno;
	if (lstat(dir, &st) != 0)
		return -errno;
	if (!hwif_dir_trusted(&st, geteuid())) {
		dv_logf("%s (uid %u, mode %04o) is not a directory of this user or root that only they may "
			"write: drivers would refuse a socket there",
			dir, (unsigned)st.st_uid, (unsigned)(st.st_mode & 07777));
		return -EPERM;
	}
	return 0;
}

int dv_control_start(const char *path)
{
	struct sockaddr_un sa;
	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	int rc = ctl_dir_prepare(path);
	if (rc)
		return rc;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, path, strlen(path));
	snprintf(ctl_path, sizeof(ctl_path), "%s", path);
	ctl_listen_fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (ctl_listen_fd < 0)
		return -errno;
	unlink(path);
	/* the socket is the owner's only (0600), whatever the directory */
	mode_t old = umask(0177);
	int brc = bind(ctl_listen_fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (brc != 0 || listen(ctl_listen_fd, 16) != 0)
		return -errno;
	struct stat st;
	if (stat(path, &st) == 0) {
		ctl_dev = st.st_dev;
		ctl_ino = st.st_ino;
	}
	uv_poll_init(dv.loop, &ctl_listen_poll, ctl_listen_fd);
	uv_poll_start(&ctl_listen_poll, UV_READABLE, on_ctl_listen);
	return 0;
}

void dv_control_stop(void)
{
	if (ctl_listen_fd >= 0) {
		uv_poll_stop(&ctl_listen_poll);
		/* only our own socket: a device started after us at the same
		 * path (while we were slow to exit) keeps its one */
		struct stat st;
		if (stat(ctl_path, &st) == 0 && st.st_dev == ctl_dev && st.st_ino == ctl_ino)
			unlink(ctl_path);
	}
	while (dv.atts)
		att_destroy(dv.atts);
}
