/*
 * The mock backend: a deterministic, in-process offload engine with fault
 * injection, scripted through include/toeless_mock.h.
 *
 * It behaves like a real engine as far as the core can tell:
 *  - placement: when the core asks about a Data-In for an SGL the engine
 *    accepted, the socket's read position is the PDU's first payload byte
 *    (the core's contract), so the mock peeks (MSG_PEEK, never consuming)
 *    the payload, pad and data digest straight into the SGL at Buffer
 *    Offset, checks the digest and answers with a record.  A PDU whose
 *    bytes have not all arrived is "missed", as a device that saw it only
 *    in part would miss it;
 *  - SGLs are held per context by ITT until released, under their own
 *    resource limit;
 *  - CRC requests are queued and computed when the application polls.
 *
 * Faults and the call log are device-wide.  One mutex guards all the
 * mock's state; it is never held while calling back into the core (the
 * core may call straight back, e.g. toeless_backend_resync_request()
 * answering with rx_resync_reply()), so work for the core is gathered under
 * the lock and delivered after it.
 *
 * SPDX-License-Identifier: MIT
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#else
#define _GNU_SOURCE     /* built alone, as a plugin from the installed headers */
#define PACKAGE_VERSION "plugin"
#endif

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "toeless.h"
#include "toeless_backend.h"
#include "toeless_iscsi.h"
#include "toeless_mock.h"

#define MOCK_MAX_FAULTS 32
#define MOCK_BUCKETS    256  /* per-context ITT hash; ITTs are usually dense */
#define MOCK_BATCH      32   /* completions delivered per locked pass */
#define MOCK_MAX_SGE    1023 /* one SGL slice + the trailer fit in IOV_MAX */

/* ---- state ---- */

struct mock_range {
	uint64_t lo, hi;
};

struct mock_sgl {
	struct mock_sgl *hnext; /* hash chain */
	struct mock_sgl *rnext; /* release FIFO */
	uint32_t itt;
	bool releasing; /* the core let go; waiting to report the release */
	bool dup;       /* report the release twice */
	uint32_t delay; /* ctx_progress calls until the release is reported */
	uint64_t total;
	bool no_place;             /* a claim could not be recorded: place nothing more */
	struct mock_range *ranges; /* bytes placed, by the engine or claimed by software: sorted, merged */
	uint32_t nranges, rcap;
	int n;
	struct toeless_backend_sge sges[];
};

enum mock_sync {
	SYNC_OK = 0,
	SYNC_LOST,  /* declining everything; resync_pos valid when cand */
	SYNC_ASKED, /* resync requested at resync_pos; waiting for the reply */
};

struct mock_dev;

struct mock_ctx {
	struct mock_dev *m;
	struct mock_ctx *next;
	toeless_ctx *ctx;
	uint32_t id;
	int fd;
	uint32_t flags; /* negotiated digests */
	uint32_t nsgl;  /* SGLs held, releasing ones included */
	struct mock_sgl *bucket[MOCK_BUCKETS];
	struct mock_sgl *rel_head, *rel_tail;
	enum mock_sync sync;
	bool cand;
	uint64_t resync_pos;
	bool asked; /* a resync request is unanswered */
	uint64_t asked_pos;
};

struct mock_crc {
	toeless_cq *cq;
	uint64_t id;
	const struct iovec *iov;
	int iovcnt;
	uint32_t seed;
};

struct mock_fault {
	int id; /* 0: free slot */
	struct toeless_mock_fault f;
	uint64_t events;
	uint64_t fired;
};

struct mock_mr {
	void *addr;
	size_t len;
};

struct mock_dev {
	toeless_device *dev;
	pthread_mutex_t lock;
	/* arguments */
	bool ddp, needs_reg;
	uint32_t max_sge, max_tasks, max_contexts, max_crc_batch, max_recv_dsl;
	uint32_t max_engine_tasks, crc_queue;
	uint64_t rng;
	/* state */
	bool dead;
	struct mock_ctx *ctxs;
	uint32_t next_ctx_id;
	struct mock_crc *crc; /* FIFO ring of crc_queue entries */
	uint32_t crc_head, crc_count;
	struct mock_fault faults[MOCK_MAX_FAULTS];
	int next_fault_id;
	struct toeless_mock_stats st;
	/* call log ring */
	struct toeless_mock_call *log;
	uint32_t log_cap, log_head, log_count;
	uint64_t log_seq;
};

/* Work for the core, gathered under the lock and done after it. */
enum mock_act_type {
	ACT_RELEASED = 1,
	ACT_RESYNC,
	ACT_CRC,
};

struct mock_act {
	uint8_t type;
	toeless_ctx *ctx;
	toeless_cq *cq;
	uint32_t itt;
	uint32_t crc;
	int status;
	uint64_t arg; /* CRC id, resync position */
};

struct mock_out {
	struct mock_act a[2 * MOCK_BATCH + 1];
	int n;
	bool device_error; /* report the device failure, flush the CRC queue */
};

/* ---- helpers ---- */

static uint64_t rng_next(struct mock_dev *m)
{
	/* splitmix64: small, and the same sequence for the same seed */
	uint64_t z = (m->rng += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static void log_add(struct mock_dev *m, uint32_t op, uint32_t ctx_id, uint32_t itt, int32_t ret, uint32_t faults,
		    uint64_t pos, uint64_t value)
{
	uint64_t seq = ++m->log_seq;
	if (!m->log_cap)
		return;
	uint32_t at = (m->log_head + m->log_count) % m->log_cap;
	if (m->log_count == m->log_cap)
		m->log_head = (m->log_head + 1) % m->log_cap; /* oldest goes */
	else
		m->log_count++;
	m->log[at] = (struct toeless_mock_call){
		.seq = seq,
		.op = op,
		.ret = ret,
		.ctx_id = ctx_id,
		.itt = itt,
		.faults = faults,
		.pos = pos,
		.value = value,
	};
}

static uint32_t fault_default_ops(uint32_t kind)
{
	if (kind == TOELESS_MOCK_FAULT_EXHAUSTION)
		return (1u << TOELESS_MOCK_OP_SGL_POST) | (1u << TOELESS_MOCK_OP_CRC_SUBMIT);
	return TOELESS_MOCK_OPS_DEFAULT_FAILURE;
}

/*
 * One trigger event of @kind.  Every armed fault of that kind that matches
 * counts it; those past their @after fire (up to @count times).  Returns
 * the first fault that fired, or NULL, and adds the kind to *mask.
 */
static struct mock_fault *fault_event(struct mock_dev *m, uint32_t kind, uint32_t op, bool has_itt, uint32_t itt,
				      uint32_t *mask)
{
	struct mock_fault *hit = NULL;
	for (int i = 0; i < MOCK_MAX_FAULTS; i++) {
		struct mock_fault *f = &m->faults[i];
		if (!f->id || f->f.kind != kind)
			continue;
		if ((f->f.flags & TOELESS_MOCK_FAULT_F_ITT) && (!has_itt || itt != f->f.itt))
			continue;
		if (kind == TOELESS_MOCK_FAULT_EXHAUSTION || kind == TOELESS_MOCK_FAULT_DEVICE_FAILURE) {
			uint32_t ops = f->f.ops ? f->f.ops : fault_default_ops(kind);
			if (!(ops & (1u << op)))
				continue;
		}
		f->events++;
		if (f->events <= f->f.after)
			continue;
		uint32_t count = f->f.count ? f->f.count : 1;
		if (count != TOELESS_MOCK_FOREVER && f->fired >= count)
			continue;
		if ((f->f.flags & TOELESS_MOCK_FAULT_F_RANDOM) && rng_next(m) % 1000 >= f->f.permille)
			continue;
		f->fired++;
		m->st.faults_fired++;
		*mask |= 1u << kind;
		if (!hit)
			hit = f;
	}
	return hit;
}

/*
 * Every op starts here, under the lock: count the call and see whether the
 * device dies at it.  Returns true when the device is dead.
 */
static bool op_enter(struct mock_dev *m, uint32_t op, bool has_itt, uint32_t itt, uint32_t *mask, struct mock_out *out)
{
	m->st.calls++;
	if (m->dead)
		return true;
	if (fault_event(m, TOELESS_MOCK_FAULT_DEVICE_FAILURE, op, has_itt, itt, mask)) {
		m->dead = true;
		out->device_error = true;
		m->st.device_errors++;
		log_add(m, TOELESS_MOCK_EV_DEVICE_ERROR, 0, 0, -EIO, 1u << TOELESS_MOCK_FAULT_DEVICE_FAILURE, 0, 0);
		return true;
	}
	return false;
}

static void out_add(struct mock_out *out, const struct mock_act *a)
{
	out->a[out->n++] = *a;
}

/* Reverse a batch of completions (REORDER_COMPLETIONS). */
static void acts_reverse(struct mock_act *a, int n)
{
	for (int i = 0, j = n - 1; i < j; i++, j--) {
		struct mock_act t = a[i];
		a[i] = a[j];
		a[j] = t;
	}
}

static void flush_dead_crcs(struct mock_dev *m);

/* Outside the lock: hand the gathered work to the core. */
static void out_deliver(struct mock_dev *m, struct mock_out *out)
{
	if (out->device_error) {
		/* device first, so the core stops asking before it hears more */
		toeless_backend_device_error(m->dev, -EIO);
		flush_dead_crcs(m);
	}
	for (int i = 0; i < out->n; i++) {
		struct mock_act *a = &out->a[i];
		switch (a->type) {
		case ACT_RELEASED: toeless_backend_sgl_released(a->ctx, a->itt); break;
		case ACT_RESYNC: toeless_backend_resync_request(a->ctx, a->arg); break;
		case ACT_CRC: toeless_backend_crc_done(a->cq, a->arg, a->crc, a->status); break;
		}
	}
	out->n = 0;
	out->device_error = false;
}

/* A dead device completes what it had queued, with an error, so that no
 * completion queue waits for it forever. */
static void flush_dead_crcs(struct mock_dev *m)
{
	for (;;) {
		struct mock_act a[MOCK_BATCH];
		int n = 0;
		pthread_mutex_lock(&m->lock);
		while (m->crc_count && n < MOCK_BATCH) {
			struct mock_crc *c = &m->crc[m->crc_head];
			m->crc_head = (m->crc_head + 1) % m->crc_queue;
			m->crc_count--;
			a[n++] = (struct mock_act){ .type = ACT_CRC, .cq = c->cq, .arg = c->id, .status = -EIO };
			m->st.crc_done++;
			log_add(m, TOELESS_MOCK_EV_CRC_DONE, 0, 0, -EIO, 0, 0, 0);
		}
		pthread_mutex_unlock(&m->lock);
		if (!n)
			return;
		for (int i = 0; i < n; i++)
			toeless_backend_crc_done(a[i].cq, a[i].arg, 0, a[i].status);
	}
}

/* ---- SGLs ---- */

static struct mock_sgl *sgl_find(struct mock_ctx *c, uint32_t itt)
{
	for (struct mock_sgl *s = c->bucket[itt % MOCK_BUCKETS]; s; s = s->hnext)
		if (s->itt == itt)
			return s;
	return NULL;
}

static void sgl_unhash(struct mock_ctx *c, struct mock_sgl *s)
{
	struct mock_sgl **pp = &c->bucket[s->itt % MOCK_BUCKETS];
	while (*pp != s)
		pp = &(*pp)->hnext;
	*pp = s->hnext;
}

static void sgl_free(struct mock_ctx *c, struct mock_sgl *s)
{
	sgl_unhash(c, s);
	c->nsgl--;
	c->m->st.engine_sgls--;
	free(s->ranges);
	free(s);
}

/* Does [lo, hi) overlap anything the engine placed into this SGL? */
static bool range_overlaps(const struct mock_sgl *s, uint64_t lo, uint64_t hi)
{
	for (uint32_t i = 0; i < s->nranges; i++)
		if (lo < s->ranges[i].hi && s->ranges[i].lo < hi)
			return true;
	return false;
}

/* Record [lo, hi) as placed; false when out of memory (nothing recorded). */
static bool range_add(struct mock_sgl *s, uint64_t lo, uint64_t hi)
{
	uint32_t i = 0;
	while (i < s->nranges && s->ranges[i].hi < lo)
		i++;
	/* touching neighbours merge, so an in-order stream stays one range */
	if (i < s->nranges && s->ranges[i].hi == lo) {
		s->ranges[i].hi = hi;
		if (i + 1 < s->nranges && s->ranges[i + 1].lo == hi) {
			s->ranges[i].hi = s->ranges[i + 1].hi;
			memmove(&s->ranges[i + 1], &s->ranges[i + 2], (s->nranges - i - 2) * sizeof(*s->ranges));
			s->nranges--;
		}
		return true;
	}
	if (i < s->nranges && s->ranges[i].lo == hi) {
		s->ranges[i].lo = lo;
		return true;
	}
	if (s->nranges == s->rcap) {
		uint32_t cap = s->rcap ? 2 * s->rcap : 4;
		struct mock_range *r = realloc(s->ranges, cap * sizeof(*r));
		if (!r)
			return false;
		s->ranges = r;
		s->rcap = cap;
	}
	memmove(&s->ranges[i + 1], &s->ranges[i], (s->nranges - i) * sizeof(*s->ranges));
	s->ranges[i] = (struct mock_range){ lo, hi };
	s->nranges++;
	return true;
}

/* iovecs covering bytes [off, off+len) of the SGL; returns how many. */
static int sgl_slice(const struct mock_sgl *s, uint64_t off, uint64_t len, struct iovec *iov)
{
	int n = 0;
	for (int i = 0; i < s->n && len; i++) {
		if (off >= s->sges[i].len) {
			off -= s->sges[i].len;
			continue;
		}
		size_t take = s->sges[i].len - off;
		if (take > len)
			take = len;
		iov[n].iov_base = (uint8_t *)s->sges[i].addr + off;
		iov[n].iov_len = take;
		n++;
		len -= take;
		off = 0;
	}
	return n;
}

/* ---- ops: device ---- */

static int parse_u32(const char *v, uint32_t lo, uint32_t hi, uint32_t *out)
{
	char *end;
	if (!*v || *v == '-' || *v == '+')
		return -EINVAL;
	errno = 0;
	unsigned long long x = strtoull(v, &end, 0);
	if (errno || *end || x < lo || x > hi)
		return -EINVAL;
	*out = (uint32_t)x;
	return 0;
}

static int parse_args(toeless_device *dev, struct mock_dev *m, const char *args)
{
	char *copy = strdup(args ? args : "");
	if (!copy)
		return -ENOMEM;
	int rc = 0;
	uint32_t seed = 1, ddp = 1, needs_reg = 0, log = 256;
	char *save = NULL;
	if (*copy) {
		/* strtok_r would skip empty items; an empty item is a typo */
		for (char *item = copy; item && !rc; item = save) {
			save = strchr(item, ',');
			if (save)
				*save++ = '\0';
			char *eq = strchr(item, '=');
			if (!eq || eq == item) {
				rc = -EINVAL;
				break;
			}
			*eq = '\0';
			const char *k = item, *v = eq + 1;
			if (!strcmp(k, "ddp"))
				rc = parse_u32(v, 0, 1, &ddp);
			else if (!strcmp(k, "needs_reg"))
				rc = parse_u32(v, 0, 1, &needs_reg);
			else if (!strcmp(k, "seed"))
				rc = parse_u32(v, 0, UINT32_MAX, &seed);
			else if (!strcmp(k, "max_sge"))
				rc = parse_u32(v, 1, MOCK_MAX_SGE, &m->max_sge);
			else if (!strcmp(k, "max_tasks"))
				rc = parse_u32(v, 1, 1u << 24, &m->max_tasks);
			else if (!strcmp(k, "max_contexts"))
				rc = parse_u32(v, 1, 1u << 20, &m->max_contexts);
			else if (!strcmp(k, "max_crc_batch"))
				rc = parse_u32(v, 1, 1u << 20, &m->max_crc_batch);
			else if (!strcmp(k, "max_recv_dsl"))
				rc = parse_u32(v, 512, TOELESS_ISCSI_MAX_DSL, &m->max_recv_dsl);
			else if (!strcmp(k, "max_engine_tasks"))
				rc = parse_u32(v, 0, 1u << 24, &m->max_engine_tasks);
			else if (!strcmp(k, "crc_queue"))
				rc = parse_u32(v, 1, 1u << 20, &m->crc_queue);
			else if (!strcmp(k, "log"))
				rc = parse_u32(v, 0, 1u << 20, &log);
			else
				rc = -EINVAL;
		}
		if (rc)
			toeless_backend_log(dev, TOELESS_LOG_ERR, "mock: bad arguments \"%s\"", args);
	}
	free(copy);
	if (rc)
		return rc;
	m->ddp = ddp;
	m->needs_reg = needs_reg;
	m->rng = seed;
	m->log_cap = log;
	return 0;
}

static int mock_open(toeless_device *dev, const char *args, void **dev_priv)
{
	struct mock_dev *m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->dev = dev;
	m->max_sge = 16;
	m->max_tasks = 256;
	m->max_contexts = 64;
	m->max_crc_batch = 64;
	m->max_recv_dsl = 262144;
	m->max_engine_tasks = UINT32_MAX; /* below: defaults to max_tasks */
	m->crc_queue = 256;
	m->next_fault_id = 1;
	m->st.size = sizeof(m->st);
	int rc = parse_args(dev, m, args);
	if (rc)
		goto fail;
	if (m->max_engine_tasks == UINT32_MAX)
		m->max_engine_tasks = m->max_tasks;
	rc = -ENOMEM;
	if (!(m->crc = calloc(m->crc_queue, sizeof(*m->crc))))
		goto fail;
	if (m->log_cap && !(m->log = calloc(m->log_cap, sizeof(*m->log))))
		goto fail;
	if ((rc = -pthread_mutex_init(&m->lock, NULL)))
		goto fail;
	*dev_priv = m;
	return 0;
fail:
	free(m->crc);
	free(m->log);
	free(m);
	return rc;
}

static void mock_close(void *dev_priv)
{
	struct mock_dev *m = dev_priv;
	/* the core closes a device only without contexts; be tidy anyway */
	while (m->ctxs) {
		struct mock_ctx *c = m->ctxs;
		m->ctxs = c->next;
		for (int b = 0; b < MOCK_BUCKETS; b++)
			while (c->bucket[b])
				sgl_free(c, c->bucket[b]);
		free(c);
	}
	pthread_mutex_destroy(&m->lock);
	free(m->crc);
	free(m->log);
	free(m);
}

static int mock_query(void *dev_priv, struct toeless_caps *caps)
{
	struct mock_dev *m = dev_priv;
	snprintf(caps->backend, sizeof(caps->backend), "mock");
	snprintf(caps->backend_version, sizeof(caps->backend_version), "%s", PACKAGE_VERSION);
	caps->flags = TOELESS_CAP_CRC_RX | TOELESS_CAP_CRC_ASYNC;
	if (m->ddp)
		caps->flags |= TOELESS_CAP_DDP;
	if (m->ddp && m->needs_reg)
		caps->flags |= TOELESS_CAP_DDP_NEEDS_REG;
	caps->max_contexts = m->max_contexts;
	caps->max_sge = m->max_sge;
	caps->max_tasks = m->max_tasks;
	caps->max_recv_dsl = m->max_recv_dsl;
	caps->sge_align = 1;
	caps->max_crc_batch = m->max_crc_batch;
	caps->max_cq_depth = 1u << 20;
	return 0;
}

static int mock_mr_reg(void *dev_priv, void *addr, size_t len, void **mr_priv)
{
	struct mock_dev *m = dev_priv;
	struct mock_out out = { .n = 0 };
	uint32_t mask = 0;
	int rc = 0;
	pthread_mutex_lock(&m->lock);
	m->st.mr_reg++;
	/* a registration is bookkeeping that every backend accepts, even one
	 * that dies at this very call (it will never place into it) */
	(void)op_enter(m, TOELESS_MOCK_OP_MR_REG, false, 0, &mask, &out);
	struct mock_mr *mr = malloc(sizeof(*mr));
	if (!mr) {
		rc = -ENOMEM;
	} else {
		mr->addr = addr;
		mr->len = len;
		*mr_priv = mr;
	}
	log_add(m, TOELESS_MOCK_OP_MR_REG, 0, 0, rc, mask, 0, len);
	pthread_mutex_unlock(&m->lock);
	out_deliver(m, &out);
	return rc;
}

static void mock_mr_dereg(void *dev_priv, void *mr_priv)
{
	struct mock_dev *m = dev_priv;
	pthread_mutex_lock(&m->lock);
	m->st.calls++;
	m->st.mr_dereg++;
	log_add(m, TOELESS_MOCK_OP_MR_DEREG, 0, 0, 0, 0, 0, 0);
	pthread_mutex_unlock(&m->lock);
	free(mr_priv);
}

/* ---- asynchronous CRC ---- */

static int mock_crc_submit(void *dev_priv, toeless_cq *cq, const struct toeless_backend_crc *reqs, int n)
{
	struct mock_dev *m = dev_priv;
	struct mock_out out = { .n = 0 };
	uint32_t mask = 0;
	int rc;
	pthread_mutex_lock(&m->lock);
	m->st.crc_submit++;
	if (op_enter(m, TOELESS_MOCK_OP_CRC_SUBMIT, false, 0, &mask, &out)) {
		rc = -EIO;
	} else {
		uint32_t room = m->crc_queue - m->crc_count;
		uint32_t take = (uint32_t)n < room ? (uint32_t)n : room;
		struct mock_fault *f =
			fault_event(m, TOELESS_MOCK_FAULT_EXHAUSTION, TOELESS_MOCK_OP_CRC_SUBMIT, false, 0, &mask);
		if (f && f->f.value < take)
			take = f->f.value;
		for (uint32_t i = 0; i < take; i++) {
			uint32_t at = (m->crc_head + m->crc_count) % m->crc_queue;
			m->crc[at] = (struct mock_crc){ cq, reqs[i].id, reqs[i].iov, reqs[i].iovcnt, reqs[i].seed };
			m->crc_count++;
		}
		m->st.crc_accepted += take;
		rc = (int)take;
	}
	m->st.crc_queued = m->crc_count;
	log_add(m, TOELESS_MOCK_OP_CRC_SUBMIT, 0, 0, rc, mask, 0, (uint64_t)n);
	pthread_mutex_unlock(&m->lock);
	out_deliver(m, &out);
	return rc;
}

static void mock_progress(void *dev_priv)
{
	struct mock_dev *m = dev_priv;
	struct mock_out out = { .n = 0 };
	uint32_t mask = 0;
	pthread_mutex_lock(&m->lock);
	m->st.progress++;
	if (op_enter(m, TOELESS_MOCK_OP_PROGRESS, false, 0, &mask, &out)) {
		pthread_mutex_unlock(&m->lock);
		out_deliver(m, &out);
		return;
	}
	/* what is queued now completes in this call, a batch at a time;
	 * requests submitted meanwhile wait for the next call */
	uint32_t left = m->crc_count;
	bool first = true;
	while (left) {
		struct mock_act batch[MOCK_BATCH];
		bool dup[MOCK_BATCH];
		int n = 0;
		uint32_t bmask = first ? mask : 0;
		first = false;
		while (left && n < MOCK_BATCH) {
			struct mock_crc *c = &m->crc[m->crc_head];
			m->crc_head = (m->crc_head + 1) % m->crc_queue;
			m->crc_count--;
			left--;
			batch[n] = (struct mock_act){
				.type = ACT_CRC,
				.cq = c->cq,
				.arg = c->id,
				.crc = toeless_crc32c_iov(c->seed, c->iov, c->iovcnt),
			};
			n++;
		}
		if (n >= 2 &&
		    fault_event(m, TOELESS_MOCK_FAULT_REORDER_COMPLETIONS, TOELESS_MOCK_OP_PROGRESS, false, 0, &bmask))
			acts_reverse(batch, n);
		for (int i = 0; i < n; i++)
			dup[i] = fault_event(m, TOELESS_MOCK_FAULT_DUPLICATE_COMPLETIONS, TOELESS_MOCK_OP_PROGRESS,
					     false, 0, &bmask) != NULL;
		log_add(m, TOELESS_MOCK_OP_PROGRESS, 0, 0, 0, bmask, 0, (uint64_t)n);
		for (int i = 0; i < n; i++) {
			for (int k = 0; k <= (int)dup[i]; k++) {
				out_add(&out, &batch[i]);
				m->st.crc_done++;
				log_add(m, TOELESS_MOCK_EV_CRC_DONE, 0, 0, 0, 0, 0, batch[i].crc);
			}
		}
		m->st.crc_queued = m->crc_count;
		pthread_mutex_unlock(&m->lock);
		out_deliver(m, &out);
		pthread_mutex_lock(&m->lock);
		if (m->dead)
			break;
		if (left > m->crc_count)
			left = m->crc_count;
	}
	pthread_mutex_unlock(&m->lock);
}

/* ---- ops: contexts ---- */

static int mock_ctx_create(void *dev_priv, toeless_ctx *ctx, const struct toeless_backend_ctx_info *info,
			   void **ctx_priv)
{
	struct mock_dev *m = dev_priv;
	struct mock_out out = { .n = 0 };
	uint32_t mask = 0;
	int rc = 0;
	pthread_mutex_lock(&m->lock);
	m->st.ctx_create++;
	uint32_t id = ++m->next_ctx_id;
	if (op_enter(m, TOELESS_MOCK_OP_CTX_CREATE, false, 0, &mask, &out)) {
		rc = -EIO;
	} else {
		struct mock_ctx *c = calloc(1, sizeof(*c));
		if (!c) {
			rc = -ENOMEM;
		} else {
			c->m = m;
			c->ctx = ctx;
			c->id = id;
			c->fd = info->fd;
			c->flags = info->params.flags;
			c->next = m->ctxs;
			m->ctxs = c;
			*ctx_priv = c;
		}
	}
	log_add(m, TOELESS_MOCK_OP_CTX_CREATE, id, 0, rc, mask, info->stream_pos, 0);
	pthread_mutex_unlock(&m->lock);
	out_deliver(m, &out);
	return rc;
}

static void mock_ctx_destroy(void *ctx_priv)
{
	struct mock_ctx *c = ctx_priv;
	struct mock_dev *m = c->m;
	pthread_mutex_lock(&m->lock);
	m->st.calls++;
	m->st.ctx_destroy++;
	/* the core calls this after every SGL was released; anything still
	 * here was leaked by the core (a dead device drops its SGLs) */
	uint32_t left = 0;
	for (int b = 0; b < MOCK_BUCKETS; b++)
		while (c->bucket[b]) {
			sgl_free(c, c->bucket[b]);
			left++;
		}
	if (left && !m->dead)
		m->st.anomalies++;
	for (struct mock_ctx **pp = &m->ctxs; *pp; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	log_add(m, TOELESS_MOCK_OP_CTX_DESTROY, c->id, 0, 0, 0, 0, left);
	pthread_mutex_unlock(&m->lock);
	free(c);
}

static int mock_ctx_set_params(void *ctx_priv, const struct toeless_ctx_params *params, uint64_t stream_pos)
{
	struct mock_ctx *c = ctx_priv;
	struct mock_dev *m = c->m;
	struct mock_out out = { .n = 0 };
	uint32_t mask = 0;
	int rc = 0;
	pthread_mutex_lock(&m->lock);
	m->st.ctx_set_params++;
	if (op_enter(m, TOELESS_MOCK_OP_CTX_SET_PARAMS, false, 0, &mask, &out))
		rc = -EIO;
	else
		c->flags = params->flags;
	log_add(m, TOELESS_MOCK_OP_CTX_SET_PARAMS, c->id, 0, rc, mask, stream_pos, params->flags);
	pthread_mutex_unlock(&m->lock);
	out_deliver(m, &out);
	return rc;
}

static void mock_ctx_progress(void *ctx_priv)
{
	struct mock_ctx *c = ctx_priv;
	struct mock_dev *m = c->m;
	struct mock_out out = { .n = 0 };
	uint32_t mask = 0;
	pthread_mutex_lock(&m->lock);
	m->st.ctx_progress++;
	if (op_enter(m, TOELESS_MOCK_OP_CTX_PROGRESS, false, 0, &mask, &out)) {
		/* a dead device holds nothing: the core takes these as released */
		while (c->rel_head) {
			struct mock_sgl *s = c->rel_head;
			c->rel_head = s->rnext;
			sgl_free(c, s);
		}
		c->rel_tail = NULL;
		pthread_mutex_unlock(&m->lock);
		out_deliver(m, &out);
		return;
	}
	bool busy = c->rel_head != NULL;

	/* releases that are due, in the order the core released them */
	struct mock_act batch[MOCK_BATCH];
	bool dup[MOCK_BATCH];
	int n = 0;
	struct mock_sgl **pp = &c->rel_head, *prev = NULL;
	while (*pp) {
		struct mock_sgl *s = *pp;
		if (s->delay)
			s->delay--;
		if (s->delay || n == MOCK_BATCH) {
			prev = s;
			pp = &s->rnext;
			continue;
		}
		*pp = s->rnext;
		if (c->rel_tail == s)
			c->rel_tail = prev;
		batch[n] = (struct mock_act){ .type = ACT_RELEASED, .ctx = c->ctx, .itt = s->itt };
		dup[n] = s->dup;
		n++;
		sgl_free(c, s);
	}
	if (n >= 2 &&
	    fault_event(m, TOELESS_MOCK_FAULT_REORDER_COMPLETIONS, TOELESS_MOCK_OP_CTX_PROGRESS, false, 0, &mask)) {
		acts_reverse(batch, n);
		for (int i = 0, j = n - 1; i < j; i++, j--) {
			bool t = dup[i];
			dup[i] = dup[j];
			dup[j] = t;
		}
	}
	if (busy)
		log_add(m, TOELESS_MOCK_OP_CTX_PROGRESS, c->id, 0, 0, mask, 0, (uint64_t)n);
	for (int i = 0; i < n; i++) {
		for (int k = 0; k <= (int)dup[i]; k++) {
			out_add(&out, &batch[i]);
			m->st.sgl_released++;
			log_add(m, TOELESS_MOCK_EV_SGL_RELEASED, c->id, batch[i].itt, 0, 0, 0, (uint64_t)k);
		}
	}

	/* lost sync: ask whether the next header is where we think it is */
	if (c->sync == SYNC_LOST && c->cand) {
		c->sync = SYNC_ASKED;
		c->asked = true;
		c->asked_pos = c->resync_pos;
		out_add(&out, &(struct mock_act){ .type = ACT_RESYNC, .ctx = c->ctx, .arg = c->resync_pos });
		m->st.resync_requests++;
		log_add(m, TOELESS_MOCK_EV_RESYNC_REQUEST, c->id, 0, 0, 0, c->resync_pos, 0);
	}
	pthread_mutex_unlock(&m->lock);
	out_deliver(m, &out);
}

static int mock_sgl_post(void *ctx_priv, uint32_t itt, const struct toeless_backend_sge *sges, int n)
{
	struct mock_ctx *c = ctx_priv;
	struct mock_dev *m = c->m;
	struct mock_out out = { .n = 0 };
	uint32_t mask = 0;
	int rc = 0;
	pthread_mutex_lock(&m->lock);
	m->st.sgl_post++;
	if (op_enter(m, TOELESS_MOCK_OP_SGL_POST, true, itt, &mask, &out)) {
		rc = -EIO;
		goto done;
	}
	if (!m->ddp) {
		rc = -EOPNOTSUPP;
		goto done;
	}
	if (n <= 0 || (uint32_t)n > m->max_sge) {
		rc = -E2BIG;
		goto done;
	}
	if (sgl_find(c, itt)) {
		/* the core must wait for the release before reusing an ITT */
		m->st.anomalies++;
		rc = -EEXIST;
		goto done;
	}
	if (m->needs_reg) {
		for (int i = 0; i < n; i++) {
			const struct mock_mr *mr = sges[i].mr_priv;
			if (!mr || sges[i].mr_offset + sges[i].len > mr->len ||
			    (uint8_t *)mr->addr + sges[i].mr_offset != (uint8_t *)sges[i].addr) {
				rc = -EFAULT; /* memory the engine cannot reach */
				goto done;
			}
		}
	}
	if (fault_event(m, TOELESS_MOCK_FAULT_EXHAUSTION, TOELESS_MOCK_OP_SGL_POST, true, itt, &mask) ||
	    c->nsgl >= m->max_engine_tasks) {
		rc = -ENOSPC;
		goto done;
	}
	struct mock_sgl *s = calloc(1, sizeof(*s) + (size_t)n * sizeof(s->sges[0]));
	if (!s) {
		rc = -ENOMEM;
		goto done;
	}
	s->itt = itt;
	s->n = n;
	memcpy(s->sges, sges, (size_t)n * sizeof(s->sges[0]));
	for (int i = 0; i < n; i++)
		s->total += sges[i].len;
	s->hnext = c->bucket[itt % MOCK_BUCKETS];
	c->bucket[itt % MOCK_BUCKETS] = s;
	c->nsgl++;
	m->st.engine_sgls++;
done:
	if (rc == 0)
		m->st.sgl_post_accepted++;
	else if (rc == -ENOSPC)
		m->st.sgl_post_nospc++;
	log_add(m, TOELESS_MOCK_OP_SGL_POST, c->id, itt, rc, mask, 0, (uint64_t)n);
	pthread_mutex_unlock(&m->lock);
	out_deliver(m, &out);
	return rc;
}

static int mock_sgl_release(void *ctx_priv, uint32_t itt)
{
	struct mock_ctx *c = ctx_priv;
	struct mock_dev *m = c->m;
	struct mock_out out = { .n = 0 };
	uint32_t mask = 0;
	int rc = 0;
	pthread_mutex_lock(&m->lock);
	m->st.sgl_release++;
	bool dead = op_enter(m, TOELESS_MOCK_OP_SGL_RELEASE, true, itt, &mask, &out);
	struct mock_sgl *s = sgl_find(c, itt);
	if (!s) {
		if (!dead)
			m->st.anomalies++;
	} else if (dead) {
		/* a dead device holds nothing */
		if (s->releasing) {
			/* unlinked from the FIFO by ctx_progress on a dead device */
			for (struct mock_sgl **pp = &c->rel_head; *pp; pp = &(*pp)->rnext)
				if (*pp == s) {
					*pp = s->rnext;
					break;
				}
			c->rel_tail = NULL;
			for (struct mock_sgl *t = c->rel_head; t; t = t->rnext)
				c->rel_tail = t;
		}
		sgl_free(c, s);
	} else if (s->releasing) {
		m->st.anomalies++; /* released twice by the core */
		rc = 1;
	} else {
		struct mock_fault *delay =
			fault_event(m, TOELESS_MOCK_FAULT_DELAY_RELEASE, TOELESS_MOCK_OP_SGL_RELEASE, true, itt, &mask);
		struct mock_fault *dup = fault_event(m, TOELESS_MOCK_FAULT_DUPLICATE_COMPLETIONS,
						     TOELESS_MOCK_OP_SGL_RELEASE, true, itt, &mask);
		if (delay || dup) {
			s->releasing = true;
			s->dup = dup != NULL;
			s->delay = delay && delay->f.value ? delay->f.value : 1;
			s->rnext = NULL;
			if (c->rel_tail)
				c->rel_tail->rnext = s;
			else
				c->rel_head = s;
			c->rel_tail = s;
			m->st.sgl_release_delayed++;
			rc = 1;
		} else {
			sgl_free(c, s);
		}
	}
	log_add(m, TOELESS_MOCK_OP_SGL_RELEASE, c->id, itt, rc, mask, 0, 0);
	pthread_mutex_unlock(&m->lock);
	out_deliver(m, &out);
	return rc;
}

/* ---- ops: receive ---- */

/*
 * Place the payload of a Data-In into its SGL, reading it from the socket
 * with MSG_PEEK (the core consumes it afterwards).  Returns 0 with *rec
 * filled, or -ENOENT when the engine did not handle the PDU.
 */
static int place_data_in(struct mock_ctx *c, const struct toeless_rx_query *q, struct toeless_rx_record *rec,
			 uint32_t *mask)
{
	struct mock_dev *m = c->m;
	bool dd = c->flags & TOELESS_CTX_DATA_DIGEST;
	uint32_t pad = toeless_pad_len(q->data_len);
	uint32_t trailer = pad + (dd ? 4 : 0);

	if (!q->sgl_posted_to_engine || toeless_bhs_opcode(q->bhs) != TOELESS_ISCSI_OP_DATA_IN || q->data_len == 0)
		return -ENOENT;
	struct mock_sgl *s = sgl_find(c, q->itt);
	if (!s) {
		m->st.anomalies++; /* the core says the engine has it; it has not */
		return -ENOENT;
	}
	if (s->releasing || s->no_place)
		return -ENOENT;
	uint64_t lo = q->buffer_offset, hi = lo + q->data_len;
	/* never write outside the SGL, nor over bytes already placed: the
	 * core finds and reports such PDUs */
	if (hi > s->total || range_overlaps(s, lo, hi))
		return -ENOENT;

	/* a device sees the whole PDU go by, or misses it */
	int avail = 0;
	if (ioctl(c->fd, FIONREAD, &avail) != 0 || avail < 0 || (uint64_t)avail < (uint64_t)q->data_len + trailer)
		return -ENOENT;

	uint32_t k = q->data_len;
	bool partial = false;
	struct mock_fault *f =
		fault_event(m, TOELESS_MOCK_FAULT_PARTIAL_PLACEMENT, TOELESS_MOCK_OP_RX_PDU, true, q->itt, mask);
	if (f) {
		partial = true;
		k = f->f.value < q->data_len ? f->f.value : q->data_len;
	}

	struct iovec iov[MOCK_MAX_SGE + 1];
	uint8_t tbuf[8];
	int n = sgl_slice(s, lo, k, iov);
	uint32_t want = k;
	if (!partial && trailer) {
		iov[n].iov_base = tbuf;
		iov[n].iov_len = trailer;
		n++;
		want += trailer;
	}
	if (want) {
		struct msghdr mh = { .msg_iov = iov, .msg_iovlen = (size_t)n };
		ssize_t r;
		do {
			r = recvmsg(c->fd, &mh, MSG_PEEK | MSG_DONTWAIT);
		} while (r < 0 && errno == EINTR);
		if (r != (ssize_t)want)
			return -ENOENT;
	}
	if (k && !range_add(s, lo, lo + k))
		return -ENOENT;

	rec->bytes_placed = k;
	if (rec->size >= offsetof(struct toeless_rx_record, flags) + sizeof(rec->flags))
		rec->flags = TOELESS_RX_REC_HOST_CPU; /* copied with MSG_PEEK: no device did it */
	rec->hdr_digest = (c->flags & TOELESS_CTX_HEADER_DIGEST) ? TOELESS_DIGEST_UNCHECKED : TOELESS_DIGEST_NONE;
	m->st.bytes_placed += k;
	if (partial) {
		rec->data_digest = dd ? TOELESS_DIGEST_UNCHECKED : TOELESS_DIGEST_NONE;
		m->st.rx_placed_partial++;
		return 0;
	}
	m->st.rx_placed_full++;
	rec->data_digest = TOELESS_DIGEST_NONE;
	if (dd) {
		uint32_t crc = toeless_crc32c_iov(0, iov, n - 1);
		crc = toeless_crc32c(crc, tbuf, pad);
		rec->data_digest = crc == toeless_get_le32(tbuf + pad) ? TOELESS_DIGEST_OK : TOELESS_DIGEST_BAD;
	}
	if (dd && fault_event(m, TOELESS_MOCK_FAULT_DATA_DIGEST, TOELESS_MOCK_OP_RX_PDU, true, q->itt, mask))
		rec->data_digest = TOELESS_DIGEST_BAD;
	if (rec->data_digest == TOELESS_DIGEST_OK)
		m->st.data_digests_ok++;
	else if (rec->data_digest == TOELESS_DIGEST_BAD)
		m->st.data_digests_bad++;
	return 0;
}

static int mock_rx_pdu(void *ctx_priv, const struct toeless_rx_query *q, struct toeless_rx_record *rec)
{
	struct mock_ctx *c = ctx_priv;
	struct mock_dev *m = c->m;
	struct mock_out out = { .n = 0 };
	uint32_t mask = 0;
	int rc = -ENOENT;
	bool dd = c->flags & TOELESS_CTX_DATA_DIGEST;
	/* where the header after this PDU starts */
	uint64_t next = q->payload_pos +
			(q->data_len ? (uint64_t)q->data_len + toeless_pad_len(q->data_len) + (dd ? 4 : 0) : 0);

	/* the core zeroed *rec and set its size: write only fields, never past rec->size */
	pthread_mutex_lock(&m->lock);
	if (op_enter(m, TOELESS_MOCK_OP_RX_PDU, true, q->itt, &mask, &out))
		goto done;

	/* Every PDU is an event for LOSE_SYNC, in sync or not. */
	struct mock_fault *lf =
		fault_event(m, TOELESS_MOCK_FAULT_LOSE_SYNC, TOELESS_MOCK_OP_RX_PDU, true, q->itt, &mask);
	if (lf) {
		uint32_t count = lf->f.count ? lf->f.count : 1;
		bool more = !(lf->f.flags & TOELESS_MOCK_FAULT_F_RANDOM) &&
			    (count == TOELESS_MOCK_FOREVER || lf->fired < count);
		c->sync = SYNC_LOST;
		/* ask only once the stretch of lost PDUs is over */
		c->cand = !more;
		c->resync_pos = next;
		goto done;
	}
	if (c->sync == SYNC_LOST) {
		/* scanning: the best guess is the header after this PDU */
		c->cand = true;
		c->resync_pos = next;
		goto done;
	}
	if (c->sync == SYNC_ASKED)
		goto done; /* no PDU is trusted until the core confirms a header */

	if ((c->flags & TOELESS_CTX_HEADER_DIGEST) &&
	    fault_event(m, TOELESS_MOCK_FAULT_HDR_DIGEST, TOELESS_MOCK_OP_RX_PDU, true, q->itt, &mask)) {
		rec->hdr_digest = TOELESS_DIGEST_BAD;
		rec->data_digest = q->data_len && dd ? TOELESS_DIGEST_UNCHECKED : TOELESS_DIGEST_NONE;
		rc = 0;
		goto done;
	}
	rc = place_data_in(c, q, rec, &mask);
done:
	if (rc == 0)
		m->st.rx_pdu_answered++;
	else
		m->st.rx_pdu_declined++;
	log_add(m, TOELESS_MOCK_OP_RX_PDU, c->id, q->itt, rc, mask, q->stream_pos, rc == 0 ? rec->bytes_placed : 0);
	pthread_mutex_unlock(&m->lock);
	out_deliver(m, &out);
	return rc;
}

/* Software is about to write [lo, hi): never place over it.  The mock
 * places only what rx_pdu() offers, which the core already judged; it
 * records claims anyway so that its own overlap check holds as a device's
 * must (toeless_backend.h, "Buffers"). */
static void mock_sgl_claim(void *ctx_priv, uint32_t itt, uint64_t lo, uint64_t hi)
{
	struct mock_ctx *c = ctx_priv;
	struct mock_dev *m = c->m;
	pthread_mutex_lock(&m->lock);
	struct mock_sgl *s = sgl_find(c, itt);
	if (s && lo < hi && !range_add(s, lo, hi))
		s->no_place = true; /* cannot remember it: stop placing into this SGL */
	pthread_mutex_unlock(&m->lock);
}

static void mock_rx_resync_reply(void *ctx_priv, uint64_t pos, int is_header)
{
	struct mock_ctx *c = ctx_priv;
	struct mock_dev *m = c->m;
	struct mock_out out = { .n = 0 };
	uint32_t mask = 0;
	pthread_mutex_lock(&m->lock);
	m->st.resync_replies++;
	if (!op_enter(m, TOELESS_MOCK_OP_RX_RESYNC_REPLY, false, 0, &mask, &out)) {
		if (!c->asked || pos != c->asked_pos) {
			m->st.anomalies++; /* an answer to a question not asked */
		} else {
			c->asked = false;
			/* a sync lost again meanwhile makes the answer moot */
			if (c->sync == SYNC_ASKED && is_header) {
				c->sync = SYNC_OK;
				m->st.resync_confirmed++;
			} else if (c->sync == SYNC_ASKED) {
				/* wrong guess: keep scanning from the next PDU */
				c->sync = SYNC_LOST;
				c->cand = false;
			}
		}
	}
	log_add(m, TOELESS_MOCK_OP_RX_RESYNC_REPLY, c->id, 0, 0, mask, pos, (uint64_t)(is_header != 0));
	pthread_mutex_unlock(&m->lock);
	out_deliver(m, &out);
}

/* Linked into the library, found by name (lib/device.c's registry). */
extern const struct toeless_backend_ops tl_backend_mock __attribute__((visibility("hidden")));
const struct toeless_backend_ops tl_backend_mock = {
	.size = sizeof(struct toeless_backend_ops),
	.abi_version = TOELESS_BACKEND_ABI,
	.name = "mock",
	.version = PACKAGE_VERSION,
	.open = mock_open,
	.close = mock_close,
	.query = mock_query,
	.mr_reg = mock_mr_reg,
	.mr_dereg = mock_mr_dereg,
	.ctx_create = mock_ctx_create,
	.ctx_destroy = mock_ctx_destroy,
	.ctx_set_params = mock_ctx_set_params,
	.ctx_progress = mock_ctx_progress,
	.sgl_post = mock_sgl_post,
	.sgl_release = mock_sgl_release,
	.rx_pdu = mock_rx_pdu,
	.rx_resync_reply = mock_rx_resync_reply,
	.crc_submit = mock_crc_submit,
	.progress = mock_progress,
	.sgl_claim = mock_sgl_claim,
};

/* Built alone (-DTOELESS_ENGINE_PLUGIN, tests/test-engine-plugins.sh) the
 * engine is a plugin like any vendor's: the same table, exported. */
#ifdef TOELESS_ENGINE_PLUGIN
TOELESS_BACKEND_DEFINE(tl_backend_mock)
#endif

/* ---- the scripting API (include/toeless_mock.h) ---- */

/* The mock behind a device, or NULL when it is not a mock device. */
static struct mock_dev *mock_of(toeless_device *dev)
{
	return toeless_backend_device_priv(dev, &tl_backend_mock);
}

int toeless_mock_fault_add(toeless_device *dev, const struct toeless_mock_fault *fault)
{
	struct mock_dev *m = mock_of(dev);
	struct toeless_mock_fault f;
	if (!m || !fault)
		return -EINVAL;
	int rc = toeless_backend_attr_copy(&f, sizeof(f), fault);
	if (rc)
		return rc;
	if (f.kind < TOELESS_MOCK_FAULT_DATA_DIGEST || f.kind > TOELESS_MOCK_FAULT_DEVICE_FAILURE)
		return -EINVAL;
	if (f.flags & ~(uint32_t)(TOELESS_MOCK_FAULT_F_ITT | TOELESS_MOCK_FAULT_F_RANDOM))
		return -EINVAL;
	if ((f.flags & TOELESS_MOCK_FAULT_F_RANDOM) && f.permille > 1000)
		return -EINVAL;
	f.size = sizeof(f);
	pthread_mutex_lock(&m->lock);
	rc = -ENOSPC;
	for (int i = 0; i < MOCK_MAX_FAULTS; i++) {
		if (m->faults[i].id)
			continue;
		if (m->next_fault_id == INT_MAX)
			break;
		m->faults[i] = (struct mock_fault){ .id = m->next_fault_id++, .f = f };
		rc = m->faults[i].id;
		break;
	}
	pthread_mutex_unlock(&m->lock);
	return rc;
}

int toeless_mock_fault_remove(toeless_device *dev, int id)
{
	struct mock_dev *m = mock_of(dev);
	if (!m || id <= 0)
		return -EINVAL;
	int rc = -ENOENT;
	pthread_mutex_lock(&m->lock);
	for (int i = 0; i < MOCK_MAX_FAULTS; i++)
		if (m->faults[i].id == id) {
			m->faults[i].id = 0;
			rc = 0;
		}
	pthread_mutex_unlock(&m->lock);
	return rc;
}

int toeless_mock_fault_clear(toeless_device *dev)
{
	struct mock_dev *m = mock_of(dev);
	if (!m)
		return -EINVAL;
	pthread_mutex_lock(&m->lock);
	memset(m->faults, 0, sizeof(m->faults));
	pthread_mutex_unlock(&m->lock);
	return 0;
}

int toeless_mock_fault_fired(toeless_device *dev, int id)
{
	struct mock_dev *m = mock_of(dev);
	if (!m || id <= 0)
		return -EINVAL;
	int rc = -ENOENT;
	pthread_mutex_lock(&m->lock);
	for (int i = 0; i < MOCK_MAX_FAULTS; i++)
		if (m->faults[i].id == id)
			rc = m->faults[i].fired > INT_MAX ? INT_MAX : (int)m->faults[i].fired;
	pthread_mutex_unlock(&m->lock);
	return rc;
}

int toeless_mock_stats(toeless_device *dev, struct toeless_mock_stats *stats)
{
	struct mock_dev *m = mock_of(dev);
	if (!m || !stats || stats->size < sizeof(stats->size))
		return -EINVAL;
	size_t n = stats->size < sizeof(*stats) ? stats->size : sizeof(*stats);
	pthread_mutex_lock(&m->lock);
	struct toeless_mock_stats copy = m->st;
	pthread_mutex_unlock(&m->lock);
	/* the caller's size stays; the rest is ours, as far as it has room */
	memcpy((uint8_t *)stats + sizeof(stats->size), (uint8_t *)&copy + sizeof(copy.size), n - sizeof(stats->size));
	return 0;
}

int toeless_mock_log(toeless_device *dev, struct toeless_mock_call *calls, int max)
{
	struct mock_dev *m = mock_of(dev);
	if (!m || !calls || max <= 0)
		return -EINVAL;
	pthread_mutex_lock(&m->lock);
	uint32_t n = m->log_count < (uint32_t)max ? m->log_count : (uint32_t)max;
	uint32_t skip = m->log_count - n; /* the newest n, oldest first */
	for (uint32_t i = 0; i < n; i++)
		calls[i] = m->log[(m->log_head + skip + i) % m->log_cap];
	pthread_mutex_unlock(&m->lock);
	return (int)n;
}

int toeless_mock_log_clear(toeless_device *dev)
{
	struct mock_dev *m = mock_of(dev);
	if (!m)
		return -EINVAL;
	pthread_mutex_lock(&m->lock);
	m->log_head = m->log_count = 0;
	pthread_mutex_unlock(&m->lock);
	return 0;
}

const char *toeless_mock_op_name(uint32_t op)
{
	switch (op) {
	case TOELESS_MOCK_OP_MR_REG: return "mr_reg";
	case TOELESS_MOCK_OP_MR_DEREG: return "mr_dereg";
	case TOELESS_MOCK_OP_CTX_CREATE: return "ctx_create";
	case TOELESS_MOCK_OP_CTX_DESTROY: return "ctx_destroy";
	case TOELESS_MOCK_OP_CTX_SET_PARAMS: return "ctx_set_params";
	case TOELESS_MOCK_OP_CTX_PROGRESS: return "ctx_progress";
	case TOELESS_MOCK_OP_SGL_POST: return "sgl_post";
	case TOELESS_MOCK_OP_SGL_RELEASE: return "sgl_release";
	case TOELESS_MOCK_OP_RX_PDU: return "rx_pdu";
	case TOELESS_MOCK_OP_RX_RESYNC_REPLY: return "rx_resync_reply";
	case TOELESS_MOCK_OP_CRC_SUBMIT: return "crc_submit";
	case TOELESS_MOCK_OP_PROGRESS: return "progress";
	case TOELESS_MOCK_EV_SGL_RELEASED: return "sgl_released";
	case TOELESS_MOCK_EV_RESYNC_REQUEST: return "resync_request";
	case TOELESS_MOCK_EV_CRC_DONE: return "crc_done";
	case TOELESS_MOCK_EV_DEVICE_ERROR: return "device_error";
	}
	return "?";
}

const char *toeless_mock_fault_name(uint32_t kind)
{
	switch (kind) {
	case TOELESS_MOCK_FAULT_DATA_DIGEST: return "data_digest";
	case TOELESS_MOCK_FAULT_HDR_DIGEST: return "hdr_digest";
	case TOELESS_MOCK_FAULT_LOSE_SYNC: return "lose_sync";
	case TOELESS_MOCK_FAULT_PARTIAL_PLACEMENT: return "partial_placement";
	case TOELESS_MOCK_FAULT_DELAY_RELEASE: return "delay_release";
	case TOELESS_MOCK_FAULT_REORDER_COMPLETIONS: return "reorder_completions";
	case TOELESS_MOCK_FAULT_DUPLICATE_COMPLETIONS: return "duplicate_completions";
	case TOELESS_MOCK_FAULT_EXHAUSTION: return "exhaustion";
	case TOELESS_MOCK_FAULT_DEVICE_FAILURE: return "device_failure";
	}
	return "?";
}
