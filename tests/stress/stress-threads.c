/*
 * Many contexts on several threads sharing one device: the thread rules of
 * doc/threading.md under load, made to be run under ThreadSanitizer
 * (configure --enable-tsan; tests/hardening.sh does) and correct without
 * it (make check runs it short).
 *
 * What runs at once, on one device (sw, or the mock engine with random
 * non-fatal faults: lost sync, partial placement, delayed, reordered and
 * duplicated releases, exhaustion):
 *   - worker threads, each with its own completion queue and several
 *     contexts over socket pairs (UNIX and TCP): post an SGL of 1..4 SGEs,
 *     write the Data-In PDUs of that read (random sizes, random order, split
 *     at random points, digests on) into the peer socket, receive, and check
 *     the completion and every byte; now and then cancel a post, or destroy
 *     a context and create a new one; asynchronous CRC requests on their own
 *     queue;
 *   - in the shared-queue test, workers whose contexts all deliver to one
 *     queue that a dedicated thread polls (many producers, one consumer);
 *   - an observer thread making the calls that are allowed from anywhere at
 *     any time: toeless_device_stats/query, toeless_ctx_stats and
 *     toeless_ctx_user_data of other threads' contexts (while they exist),
 *     toeless_cq_fd, and memory registrations;
 *   - a context handed between two threads under a mutex, as the rules
 *     allow.
 *
 * Environment: STRESS_SECONDS (per test, default 1), TOELESS_TEST_SEED.
 *
 * SPDX-License-Identifier: MIT
 */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "helpers.h"
#include "pdu.h"
#include "toeless.h"
#include "toeless_mock.h"

#define WORKERS        4
#define CTX_PER_WORKER 3
#define ARENA          (64 * 1024)
#define MAX_DSL        16384
#define WAIT_MS        10000

static double seconds(void)
{
	const char *e = getenv("STRESS_SECONDS");
	double s = e && *e ? strtod(e, NULL) : 1.0;
	return s > 0 ? s : 1.0;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* ---- one connection of a worker ---- */

struct sconn {
	pthread_mutex_t life; /* held while the context is created or destroyed, and by the observer */
	toeless_ctx *ctx;     /* NULL between destroy and create */
	int fd, peer;
	enum th_sock kind;
	unsigned digests;
	uint8_t *arena;
	uint64_t ctx_user;
};

struct shared_slot { /* shared-queue mode: the poller hands completions over */
	pthread_mutex_t m;
	pthread_cond_t cv;
	bool have;
	struct toeless_completion c;
};

struct worker {
	int id;
	toeless_device *dev;
	toeless_cq *cq; /* own queue, or the shared one */
	bool shared;
	struct shared_slot slot;
	struct sconn c[CTX_PER_WORKER];
	uint64_t rng;
	uint32_t itt_seq;
	double until;
	/* results */
	uint64_t reads, bytes, cancels, recreates, crcs;
};

static atomic_bool stop_observer;

static void sconn_open(struct worker *w, struct sconn *s)
{
	int sv[2];
	th_sockpair(s->kind, sv);
	s->fd = sv[0];
	s->peer = sv[1];
	th_set_nonblock(s->fd, true);
	th_set_nonblock(s->peer, true);
	struct toeless_ctx_attr a;
	th_ctx_attr_init(&a, s->fd, w->cq, s->digests, MAX_DSL);
	a.user_data = s->ctx_user = (uint64_t)w->id << 32 | (uint32_t)th_rand(&w->rng);
	toeless_ctx *ctx;
	ck_assert_int_eq(toeless_ctx_create(w->dev, &a, &ctx), 0);
	pthread_mutex_lock(&s->life);
	s->ctx = ctx;
	pthread_mutex_unlock(&s->life);
}

static void sconn_close(struct sconn *s)
{
	pthread_mutex_lock(&s->life);
	toeless_ctx *ctx = s->ctx;
	s->ctx = NULL;
	ck_assert_int_eq(toeless_ctx_destroy(ctx), 0);
	pthread_mutex_unlock(&s->life);
	close(s->fd);
	close(s->peer);
}

/* Wait for the SGL completion of itt (own queue: poll it, driving the
 * context so that delayed engine releases come; shared: the poller). */
static void wait_completion(struct worker *w, struct sconn *s, uint32_t itt, struct toeless_completion *out)
{
	double deadline = now_s() + WAIT_MS / 1000.0;
	for (;;) {
		if (w->shared) {
			pthread_mutex_lock(&w->slot.m);
			if (w->slot.have) {
				*out = w->slot.c;
				w->slot.have = false;
				pthread_mutex_unlock(&w->slot.m);
				break;
			}
			pthread_mutex_unlock(&w->slot.m);
		} else {
			struct toeless_completion c[4];
			int n = toeless_cq_poll(w->cq, c, 4);
			ck_assert_int_ge(n, 0);
			ck_assert_int_le(n, 1); /* one read at a time per worker */
			if (n == 1) {
				*out = c[0];
				break;
			}
		}
		struct toeless_pdu pdu;
		int rc = toeless_pdu_recv(s->ctx, &pdu); /* progress: delayed releases */
		ck_assert_int_eq(rc, -EAGAIN);
		ck_assert_msg(now_s() < deadline, "worker %d: no completion for ITT 0x%08x", w->id, itt);
		usleep(100);
	}
	ck_assert_int_eq(out->type, TOELESS_CQE_SGL);
	ck_assert_uint_eq(out->itt, itt);
	ck_assert_ptr_eq(out->ctx, s->ctx);
}

/* One read of 1..64 KiB into 1..4 SGEs of the arena, PDUs in random order. */
static void one_read(struct worker *w, struct sconn *s)
{
	uint32_t len = th_rand_range(&w->rng, 1, ARENA);
	uint32_t itt = (uint32_t)w->id << 24 | (++w->itt_seq & 0xffffff);
	int nsge = (int)th_rand_range(&w->rng, 1, 4);
	if ((uint32_t)nsge > len)
		nsge = 1;
	struct iovec iov[4];
	uint32_t cuts[5] = { 0, 0, 0, 0, len };
	for (int i = 1; i < nsge; i++)
		cuts[i] = th_rand_range(&w->rng, 1, len - 1);
	/* sort the inner cuts; drop empty SGEs by merging */
	for (int i = 1; i < nsge; i++)
		for (int j = i + 1; j < nsge; j++)
			if (cuts[j] < cuts[i]) {
				uint32_t t = cuts[i];
				cuts[i] = cuts[j];
				cuts[j] = t;
			}
	cuts[nsge] = len;
	int n = 0;
	for (int i = 0; i < nsge; i++) {
		if (cuts[i + 1] == cuts[i])
			continue;
		iov[n].iov_base = s->arena + cuts[i];
		iov[n].iov_len = cuts[i + 1] - cuts[i];
		n++;
	}
	memset(s->arena, 0xEE, len);
	uint32_t seed = (uint32_t)th_rand(&w->rng);
	static __thread uint8_t want[ARENA];
	th_fill_pattern(want, len, seed);

	ck_assert_int_eq(toeless_sgl_post(s->ctx, itt, iov, n, itt), 0);
	if (th_rand(&w->rng) % 16 == 0) {
		/* cancel before any data: the completion says so, the ITT is free */
		ck_assert_int_eq(toeless_sgl_cancel(s->ctx, itt), 0);
		struct toeless_completion c;
		wait_completion(w, s, itt, &c);
		ck_assert_int_eq(c.status, -ECANCELED);
		ck_assert_uint_eq(c.bytes_placed, 0);
		w->cancels++;
		return;
	}

	/* the PDUs: random sizes, shuffled, the status in the one sent last */
	uint32_t offs[ARENA / 256 + 2], lens[ARENA / 256 + 2], np = 0;
	for (uint32_t off = 0; off < len; np++) {
		uint32_t l = th_rand_range(&w->rng, 1, MAX_DSL);
		if (th_rand(&w->rng) & 1)
			l = th_rand_range(&w->rng, 256, 8192);
		if (l > len - off)
			l = len - off;
		if (np >= ARENA / 256)
			l = len - off;
		offs[np] = off;
		lens[np] = l;
		off += l;
	}
	uint32_t order[ARENA / 256 + 2];
	for (uint32_t i = 0; i < np; i++)
		order[i] = i;
	th_shuffle_u32(order, np, &w->rng);
	struct th_buf b;
	th_buf_init(&b);
	for (uint32_t k = 0; k < np; k++) {
		uint32_t i = order[k];
		bool last = k == np - 1;
		th_append_data_in(&b, s->digests, itt, k, offs[i], want + offs[i], lens[i],
				  last ? (TOELESS_ISCSI_FLAG_FINAL | TOELESS_ISCSI_DATAIN_STATUS) : 0, 0, 0);
	}

	/* write in random pieces while receiving */
	size_t woff = 0;
	bool done = false;
	double deadline = now_s() + WAIT_MS / 1000.0;
	while (woff < b.len || !done) {
		if (woff < b.len) {
			size_t piece = th_rand_range(&w->rng, 1, 20000);
			if (piece > b.len - woff)
				piece = b.len - woff;
			ssize_t wr = write(s->peer, b.p + woff, piece);
			if (wr > 0)
				woff += (size_t)wr;
			else
				ck_assert_msg(errno == EAGAIN, "write: %s", strerror(errno));
		}
		struct toeless_pdu pdu;
		int rc = toeless_pdu_recv(s->ctx, &pdu);
		if (rc == -EAGAIN) {
			ck_assert_msg(now_s() < deadline, "worker %d: read of ITT 0x%08x stalled", w->id, itt);
			if (woff == b.len) {
				struct pollfd p = { .fd = s->fd, .events = POLLIN };
				poll(&p, 1, 5);
			}
			continue;
		}
		ck_assert_msg(rc == 0, "worker %d: toeless_pdu_recv: %s", w->id, toeless_strerror(rc));
		ck_assert_uint_eq(pdu.itt, itt);
		ck_assert(pdu.flags & TOELESS_PDU_F_PLACED);
		ck_assert_uint_eq(pdu.user_data, itt);
		if (pdu.flags & TOELESS_PDU_F_TASK_DONE) {
			ck_assert(!done);
			done = true;
		}
	}
	th_buf_free(&b);

	struct toeless_completion c;
	wait_completion(w, s, itt, &c);
	ck_assert_msg(c.status == 0, "worker %d: ITT 0x%08x completed with %s", w->id, itt, toeless_strerror(c.status));
	ck_assert_uint_eq(c.bytes_placed, len);
	ck_assert_uint_eq(c.user_data, itt);
	ck_assert_msg(memcmp(s->arena, want, len) == 0, "worker %d: ITT 0x%08x: bytes differ", w->id, itt);
	w->reads++;
	w->bytes += len;
}

/* An asynchronous CRC request on the worker's own queue. */
static void one_crc(struct worker *w)
{
	uint8_t buf[1000];
	th_fill_pattern(buf, sizeof(buf), (uint32_t)w->rng);
	struct iovec iov = { buf, sizeof(buf) };
	struct toeless_crc_req r = { .iov = &iov, .iovcnt = 1, .seed = 0, .user_data = 0xC0C0 };
	int rc = toeless_crc_submit(w->dev, w->cq, &r, 1);
	if (rc == -EAGAIN)
		return;
	ck_assert_int_eq(rc, 1);
	struct toeless_completion c;
	ck_assert_int_eq(th_cq_wait(w->cq, &c, 1, WAIT_MS), 1);
	ck_assert_int_eq(c.type, TOELESS_CQE_CRC);
	ck_assert_int_eq(c.status, 0);
	ck_assert_uint_eq(c.crc, th_crc32c(0, buf, sizeof(buf)));
	w->crcs++;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	for (int i = 0; i < CTX_PER_WORKER; i++)
		sconn_open(w, &w->c[i]);
	while (now_s() < w->until) {
		struct sconn *s = &w->c[th_rand(&w->rng) % CTX_PER_WORKER];
		one_read(w, s);
		if (th_rand(&w->rng) % 32 == 0) {
			/* a connection ends and another starts, while the others run */
			sconn_close(s);
			s->kind = th_rand(&w->rng) & 1 ? TH_SOCK_TCP : TH_SOCK_UNIX;
			sconn_open(w, s);
			w->recreates++;
		}
		if (!w->shared && th_rand(&w->rng) % 8 == 0)
			one_crc(w);
	}
	for (int i = 0; i < CTX_PER_WORKER; i++)
		sconn_close(&w->c[i]);
	return NULL;
}

/* ---- the observer: calls allowed from any thread at any time ---- */

struct observer {
	toeless_device *dev;
	struct worker *w;
	int nw;
	uint64_t rng;
	uint64_t calls;
};

static void *observer_main(void *arg)
{
	struct observer *o = arg;
	uint8_t *region = malloc(ARENA);
	ck_assert_ptr_nonnull(region);
	uint64_t last_pdus = 0;
	while (!atomic_load(&stop_observer)) {
		struct toeless_stats st = { .size = sizeof(st) };
		ck_assert_int_eq(toeless_device_stats(o->dev, &st), 0);
		struct toeless_caps caps = { .size = sizeof(caps) };
		ck_assert_int_eq(toeless_device_query(o->dev, &caps), 0);
		struct worker *w = &o->w[th_rand(&o->rng) % (uint64_t)o->nw];
		struct sconn *s = &w->c[th_rand(&o->rng) % CTX_PER_WORKER];
		pthread_mutex_lock(&s->life);
		if (s->ctx) {
			struct toeless_stats cs = { .size = sizeof(cs) };
			ck_assert_int_eq(toeless_ctx_stats(s->ctx, &cs), 0);
			ck_assert_uint_eq(toeless_ctx_user_data(s->ctx), s->ctx_user);
		}
		pthread_mutex_unlock(&s->life);
		ck_assert_int_ge(toeless_cq_fd(w->cq), 0);
		toeless_mr *mr;
		ck_assert_int_eq(toeless_mr_reg(o->dev, region, ARENA, &mr), 0);
		ck_assert_int_eq(toeless_mr_dereg(mr), 0);
		(void)last_pdus;
		o->calls++;
		usleep(200);
	}
	free(region);
	return NULL;
}

/* ---- the poller of a shared queue ---- */

struct poller {
	toeless_cq *cq;
	struct worker *w;
	int nw;
	atomic_bool stop;
	uint64_t polled;
};

static void *poller_main(void *arg)
{
	struct poller *p = arg;
	while (!atomic_load(&p->stop)) {
		struct toeless_completion c[16];
		int n = toeless_cq_poll(p->cq, c, 16);
		ck_assert_int_ge(n, 0);
		for (int i = 0; i < n; i++) {
			ck_assert_int_eq(c[i].type, TOELESS_CQE_SGL);
			int id = (int)(c[i].itt >> 24);
			ck_assert_int_lt(id, p->nw);
			struct shared_slot *sl = &p->w[id].slot;
			pthread_mutex_lock(&sl->m);
			ck_assert(!sl->have);
			sl->c = c[i];
			sl->have = true;
			pthread_cond_signal(&sl->cv);
			pthread_mutex_unlock(&sl->m);
			p->polled++;
		}
		if (n == 0) {
			struct pollfd pf = { .fd = toeless_cq_fd(p->cq), .events = POLLIN };
			poll(&pf, 1, 2);
		}
	}
	return NULL;
}

/* ---- the tests ---- */

static void arm_nonfatal_faults(toeless_device *dev)
{
	static const uint32_t kinds[] = {
		TOELESS_MOCK_FAULT_LOSE_SYNC,
		TOELESS_MOCK_FAULT_PARTIAL_PLACEMENT,
		TOELESS_MOCK_FAULT_DELAY_RELEASE,
		TOELESS_MOCK_FAULT_REORDER_COMPLETIONS,
		TOELESS_MOCK_FAULT_DUPLICATE_COMPLETIONS,
		TOELESS_MOCK_FAULT_EXHAUSTION,
	};
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		struct toeless_mock_fault f = {
			.size = sizeof(f),
			.kind = kinds[i],
			.flags = TOELESS_MOCK_FAULT_F_RANDOM,
			.count = TOELESS_MOCK_FOREVER,
			.permille = 30,
			.value = kinds[i] == TOELESS_MOCK_FAULT_PARTIAL_PLACEMENT ? 700 : 2,
		};
		ck_assert_int_gt(toeless_mock_fault_add(dev, &f), 0);
	}
}

/* nw workers (own queues, or one shared queue and its poller) + observer */
static void run_workers(const char *spec, bool shared, bool faults)
{
	toeless_device *dev = th_dev_open(spec);
	if (faults)
		arm_nonfatal_faults(dev);
	static struct worker w[WORKERS];
	memset(w, 0, sizeof(w));
	struct poller p = { 0 };
	toeless_cq *scq = shared ? th_cq_create(dev, 4) : NULL;
	uint64_t seed = th_seed(0x5eed0000 + (shared ? 1 : 0) + (faults ? 2 : 0));
	double until = now_s() + seconds();
	for (int i = 0; i < WORKERS; i++) {
		w[i].id = i;
		w[i].dev = dev;
		w[i].shared = shared;
		w[i].cq = shared ? scq : th_cq_create(dev, 4);
		w[i].rng = seed * 7919 + (uint64_t)i;
		w[i].until = until;
		pthread_mutex_init(&w[i].slot.m, NULL);
		pthread_cond_init(&w[i].slot.cv, NULL);
		for (int k = 0; k < CTX_PER_WORKER; k++) {
			pthread_mutex_init(&w[i].c[k].life, NULL);
			w[i].c[k].kind = (i + k) & 1 ? TH_SOCK_TCP : TH_SOCK_UNIX;
			w[i].c[k].digests = (unsigned)((i + k) % 4);
			w[i].c[k].arena = malloc(ARENA);
			ck_assert_ptr_nonnull(w[i].c[k].arena);
		}
	}
	pthread_t pt, ot, wt[WORKERS];
	if (shared) {
		p.cq = scq;
		p.w = w;
		p.nw = WORKERS;
		ck_assert_int_eq(pthread_create(&pt, NULL, poller_main, &p), 0);
	}
	struct observer o = { .dev = dev, .w = w, .nw = WORKERS, .rng = seed };
	atomic_store(&stop_observer, false);
	ck_assert_int_eq(pthread_create(&ot, NULL, observer_main, &o), 0);
	for (int i = 0; i < WORKERS; i++)
		ck_assert_int_eq(pthread_create(&wt[i], NULL, worker_main, &w[i]), 0);
	for (int i = 0; i < WORKERS; i++)
		ck_assert_int_eq(pthread_join(wt[i], NULL), 0);
	atomic_store(&stop_observer, true);
	ck_assert_int_eq(pthread_join(ot, NULL), 0);
	if (shared) {
		atomic_store(&p.stop, true);
		ck_assert_int_eq(pthread_join(pt, NULL), 0);
	}

	uint64_t reads = 0, bytes = 0, cancels = 0, recreates = 0, crcs = 0;
	for (int i = 0; i < WORKERS; i++) {
		reads += w[i].reads;
		bytes += w[i].bytes;
		cancels += w[i].cancels;
		recreates += w[i].recreates;
		crcs += w[i].crcs;
		ck_assert_msg(w[i].reads > 0, "worker %d read nothing", i);
		if (!shared)
			ck_assert_int_eq(toeless_cq_destroy(w[i].cq), 0);
		for (int k = 0; k < CTX_PER_WORKER; k++)
			free(w[i].c[k].arena);
	}
	struct toeless_stats st = { .size = sizeof(st) };
	ck_assert_int_eq(toeless_device_stats(dev, &st), 0);
	/* every post completed exactly once, none failed */
	ck_assert_uint_eq(st.sgl_posted, st.sgl_completed + st.sgl_cancelled);
	ck_assert_uint_eq(st.sgl_failed, 0);
	ck_assert_uint_eq(st.sgl_completed, reads);
	if (scq)
		ck_assert_int_eq(toeless_cq_destroy(scq), 0);
	if (faults) {
		struct toeless_mock_stats ms = { .size = sizeof(ms) };
		ck_assert_int_eq(toeless_mock_stats(dev, &ms), 0);
		ck_assert_uint_eq(ms.engine_sgls, 0);
		printf("stress %s%s: %llu reads (%llu MiB) verified on %d threads x %d contexts, %llu cancels, "
		       "%llu contexts recreated, %llu CRC requests, %llu observer rounds, %llu engine faults\n",
		       spec, shared ? " shared queue" : "", (unsigned long long)reads,
		       (unsigned long long)(bytes >> 20), WORKERS, CTX_PER_WORKER, (unsigned long long)cancels,
		       (unsigned long long)recreates, (unsigned long long)crcs, (unsigned long long)o.calls,
		       (unsigned long long)ms.faults_fired);
	} else {
		printf("stress %s%s: %llu reads (%llu MiB) verified on %d threads x %d contexts, %llu cancels, "
		       "%llu contexts recreated, %llu CRC requests, %llu observer rounds\n",
		       spec, shared ? " shared queue" : "", (unsigned long long)reads,
		       (unsigned long long)(bytes >> 20), WORKERS, CTX_PER_WORKER, (unsigned long long)cancels,
		       (unsigned long long)recreates, (unsigned long long)crcs, (unsigned long long)o.calls);
	}
	fflush(stdout);
	ck_assert_int_eq(toeless_device_close(dev), 0);
}

START_TEST(own_queues_sw)
{
	run_workers("sw", false, false);
}
END_TEST

START_TEST(own_queues_mock_faults)
{
	run_workers("mock:max_engine_tasks=2", false, true);
}
END_TEST

START_TEST(shared_queue_mock_faults)
{
	run_workers("mock:seed=3", true, true);
}
END_TEST

/* One context handed between two threads: each round is made by whichever
 * thread holds the token, and the hand-over goes through a mutex. */
struct handover {
	pthread_mutex_t m;
	pthread_cond_t cv;
	int turn;
	struct worker w; /* the context and queue being handed over */
	int rounds[2];
};

struct hand_arg {
	struct handover *h;
	int me;
};

static void *hand_main(void *arg)
{
	struct hand_arg *a = arg;
	struct handover *h = a->h;
	for (;;) {
		pthread_mutex_lock(&h->m);
		while (h->turn != a->me && h->turn >= 0)
			pthread_cond_wait(&h->cv, &h->m);
		int turn = h->turn;
		pthread_mutex_unlock(&h->m);
		if (turn < 0)
			return NULL;
		/* this thread owns the context and the queue now */
		if (now_s() >= h->w.until) {
			pthread_mutex_lock(&h->m);
			h->turn = -1;
			pthread_cond_broadcast(&h->cv);
			pthread_mutex_unlock(&h->m);
			return NULL;
		}
		one_read(&h->w, &h->w.c[0]);
		h->rounds[a->me]++;
		pthread_mutex_lock(&h->m);
		h->turn = !a->me;
		pthread_cond_broadcast(&h->cv);
		pthread_mutex_unlock(&h->m);
	}
}

START_TEST(context_handover)
{
	static struct handover h;
	memset(&h, 0, sizeof(h));
	pthread_mutex_init(&h.m, NULL);
	pthread_cond_init(&h.cv, NULL);
	h.w.dev = th_dev_open("mock");
	h.w.cq = th_cq_create(h.w.dev, 4);
	h.w.rng = th_seed(0xabc);
	h.w.until = now_s() + seconds() / 2;
	pthread_mutex_init(&h.w.c[0].life, NULL);
	h.w.c[0].kind = TH_SOCK_TCP;
	h.w.c[0].digests = TOELESS_CTX_HEADER_DIGEST | TOELESS_CTX_DATA_DIGEST;
	h.w.c[0].arena = malloc(ARENA);
	sconn_open(&h.w, &h.w.c[0]);
	struct hand_arg a0 = { &h, 0 }, a1 = { &h, 1 };
	pthread_t t0, t1;
	ck_assert_int_eq(pthread_create(&t0, NULL, hand_main, &a0), 0);
	ck_assert_int_eq(pthread_create(&t1, NULL, hand_main, &a1), 0);
	pthread_join(t0, NULL);
	pthread_join(t1, NULL);
	ck_assert_int_gt(h.rounds[0], 0);
	ck_assert_int_gt(h.rounds[1], 0);
	printf("stress handover: %d + %d rounds on one context from two threads\n", h.rounds[0], h.rounds[1]);
	sconn_close(&h.w.c[0]);
	free(h.w.c[0].arena);
	ck_assert_int_eq(toeless_cq_destroy(h.w.cq), 0);
	ck_assert_int_eq(toeless_device_close(h.w.dev), 0);
}
END_TEST

/* Device-level calls from six threads at once, against a limit of four
 * contexts: creates that hit it get -ENOSPC, never more than the limit. */
struct devcall {
	toeless_device *dev;
	double until;
	int id;
	atomic_int *open_now;
	int max_seen;
	uint64_t ok, nospc;
};

static void *devcall_main(void *arg)
{
	struct devcall *d = arg;
	uint64_t rng = th_seed(0x77) + (uint64_t)d->id;
	while (now_s() < d->until) {
		toeless_cq *cq = th_cq_create(d->dev, 2);
		int sv[2];
		th_sockpair(TH_SOCK_UNIX, sv);
		struct toeless_ctx_attr a;
		th_ctx_attr_init(&a, sv[0], cq, (unsigned)(th_rand(&rng) & 3), 8192);
		toeless_ctx *ctx = NULL;
		int rc = toeless_ctx_create(d->dev, &a, &ctx);
		if (rc == 0) {
			int n = atomic_fetch_add(d->open_now, 1) + 1;
			ck_assert_int_le(n, 4);
			if (n > d->max_seen)
				d->max_seen = n;
			uint8_t buf[256];
			struct iovec iov = { buf, sizeof(buf) };
			ck_assert_int_eq(toeless_sgl_post(ctx, 1, &iov, 1, 1), 0);
			atomic_fetch_sub(d->open_now, 1);
			ck_assert_int_eq(toeless_ctx_destroy(ctx), 0);
			struct toeless_completion c;
			ck_assert_int_eq(th_cq_wait(cq, &c, 1, WAIT_MS), 1);
			ck_assert_int_eq(c.status, -ECANCELED);
			d->ok++;
		} else {
			ck_assert_int_eq(rc, -ENOSPC);
			d->nospc++;
		}
		ck_assert_int_eq(toeless_cq_destroy(cq), 0);
		close(sv[0]);
		close(sv[1]);
	}
	return NULL;
}

START_TEST(device_calls)
{
	toeless_device *dev = th_dev_open("mock:max_contexts=4");
	atomic_int open_now = 0;
	struct devcall d[6];
	pthread_t t[6];
	double until = now_s() + seconds() / 2;
	for (int i = 0; i < 6; i++) {
		d[i] = (struct devcall){ .dev = dev, .until = until, .id = i, .open_now = &open_now };
		ck_assert_int_eq(pthread_create(&t[i], NULL, devcall_main, &d[i]), 0);
	}
	uint64_t ok = 0, nospc = 0;
	for (int i = 0; i < 6; i++) {
		pthread_join(t[i], NULL);
		ok += d[i].ok;
		nospc += d[i].nospc;
	}
	printf("stress device calls: %llu contexts created and destroyed by 6 threads, %llu refused at the limit\n",
	       (unsigned long long)ok, (unsigned long long)nospc);
	ck_assert_uint_gt(ok, 0);
	ck_assert_int_eq(toeless_device_close(dev), 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("stress-threads");
	TH_TEST(s, own_queues_sw);
	TH_TEST(s, own_queues_mock_faults);
	TH_TEST(s, shared_queue_mock_faults);
	TH_TEST(s, context_handover);
	TH_TEST(s, device_calls);
	return th_run_suite(s);
}
