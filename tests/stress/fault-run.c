/*
 * The long fault run: reads of a model LUN through libtoeless while the mock
 * engine injects every kind of fault at random and the wire is corrupted at
 * random; every block read is verified.  What must hold:
 *   - zero silent corruptions: a read that completes with status 0 holds
 *     exactly the LUN's bytes;
 *   - zero missed corruptions: a read whose PDUs were corrupted on the wire
 *     (a bit flipped under a negotiated digest) never completes with status
 *     0 (it fails with -EBADMSG, or its connection fails on a header digest;
 *     a flipped TotalAHSLength in the last PDU sent leaves the receiver
 *     waiting for AHS bytes, and the batch's timeout ends the connection);
 *   - every read succeeds in the end (failed ones are retried, as an
 *     ErrorRecoveryLevel 0 initiator does, on a new connection);
 *   - nothing leaks: every post completes exactly once, the engine holds no
 *     SGL at the end of each device's life, the device closes (no context,
 *     queue or registration left); run it under ASan/LeakSanitizer
 *     (CK_FORK=no, as tests/hardening.sh does) or valgrind (make
 *     check-valgrind) for the heap.
 *
 * The run is a sequence of device lifetimes ("epochs"): each opens the mock
 * (or, one in eight, the software backend) with random limits, arms random
 * faults (data and header digest verdicts turned bad, lost sync, partial
 * placement, delayed, reordered and duplicated releases, exhaustion, device
 * failure), optionally registers the buffers (needs_reg), and runs
 * connections over UNIX or TCP socket pairs with random digests and
 * MaxRecvDataSegmentLength.  On each connection, batches of up to eight
 * reads are in flight at once: their Data-In PDUs (random sizes, random
 * order, interleaved between reads; some reads end with a SCSI Response
 * instead of the S bit) are written in random pieces while the library
 * receives.
 *
 * Environment: FAULT_SECONDS (length of the run, default 2), FAULT_SEED
 * (default from TOELESS_TEST_SEED, else fixed).  The figures are printed as
 * one "fault-run: ..." line (doc/reliability.md).
 *
 * SPDX-License-Identifier: MIT
 */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "helpers.h"
#include "pdu.h"
#include "toeless.h"
#include "toeless_mock.h"
#include "toeless_int.h" /* the receive state, printed when a batch stalls */

#define BLOCK       512
#define LUN_BLOCKS  8192 /* 4 MiB */
#define SLOTS       8    /* reads in flight per connection */
#define SLOT_BYTES  (128 * BLOCK)
#define MAX_RETRIES 64
#define WAIT_MS     10000

static uint8_t lun_byte(uint64_t off)
{
	uint64_t x = off * 0x9E3779B97F4A7C15ull + (off >> 9) * 0x632BE59BD9B4E019ull;
	return (uint8_t)(x >> 56);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

struct figures {
	uint64_t reads_ok, bytes_ok, attempts, retries;
	uint64_t epochs, sw_epochs, connections, conn_failures;
	uint64_t corrupt_injected, corrupt_detected, corrupt_missed, corrupt_by_timeout;
	uint64_t silent_corruptions;
	uint64_t engine_faults[TOELESS_MOCK_FAULT_DEVICE_FAILURE + 1];
	uint64_t engine_faults_total, device_failures;
	uint64_t engine_bytes, sw_bytes;
	uint64_t status_ebadmsg, status_canceled;
};

struct read {
	uint64_t lba;
	uint32_t blocks;
	unsigned tries;
};

/* A queue of reads to do (fresh ones and retries). */
struct todo {
	struct read r[4096];
	unsigned head, n;
};

static void todo_push(struct todo *t, struct read r)
{
	ck_assert_uint_lt(t->n, 4096);
	t->r[(t->head + t->n++) % 4096] = r;
}

static struct read todo_pop(struct todo *t)
{
	struct read r = t->r[t->head];
	t->head = (t->head + 1) % 4096;
	t->n--;
	return r;
}

struct slot {
	bool busy;
	struct read rd;
	uint32_t itt;
	uint32_t len;
	bool corrupted; /* a bit of one of its PDUs was flipped on the wire */
	bool completed;
	struct toeless_completion c;
};

struct epoch {
	toeless_device *dev;
	toeless_cq *cq;
	toeless_mr *mr;
	bool mock;
	uint8_t *arena; /* SLOTS * SLOT_BYTES */
	int fault_ids[16];
	uint32_t fault_kinds[16];
	int nfaults;
};

struct conn {
	int fd, peer;
	toeless_ctx *ctx;
	unsigned digests;
	uint32_t max_dsl;
	bool failed;
};

static uint64_t rng;
static uint32_t itt_seq;

static void epoch_open(struct epoch *e, struct figures *f)
{
	memset(e, 0, sizeof(*e));
	e->mock = th_rand(&rng) % 8 != 0;
	bool needs_reg = e->mock && th_rand(&rng) % 3 == 0;
	char spec[128];
	if (e->mock)
		snprintf(spec, sizeof(spec), "mock:seed=%u,max_engine_tasks=%u,needs_reg=%d,log=32",
			 (unsigned)th_rand(&rng), th_rand_range(&rng, 1, SLOTS + 2), needs_reg);
	else
		snprintf(spec, sizeof(spec), "sw");
	e->dev = th_dev_open(spec);
	e->cq = th_cq_create(e->dev, 4);
	e->arena = malloc((size_t)SLOTS * SLOT_BYTES);
	ck_assert_ptr_nonnull(e->arena);
	if (th_rand(&rng) & 1)
		ck_assert_int_eq(toeless_mr_reg(e->dev, e->arena, (size_t)SLOTS * SLOT_BYTES, &e->mr), 0);
	f->epochs++;
	if (!e->mock) {
		f->sw_epochs++;
		return;
	}
	static const uint32_t kinds[] = {
		TOELESS_MOCK_FAULT_DATA_DIGEST,
		TOELESS_MOCK_FAULT_HDR_DIGEST,
		TOELESS_MOCK_FAULT_LOSE_SYNC,
		TOELESS_MOCK_FAULT_PARTIAL_PLACEMENT,
		TOELESS_MOCK_FAULT_DELAY_RELEASE,
		TOELESS_MOCK_FAULT_REORDER_COMPLETIONS,
		TOELESS_MOCK_FAULT_DUPLICATE_COMPLETIONS,
		TOELESS_MOCK_FAULT_EXHAUSTION,
		TOELESS_MOCK_FAULT_DEVICE_FAILURE,
	};
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		if (th_rand(&rng) % 4 == 0)
			continue; /* not every kind in every epoch */
		struct toeless_mock_fault fl = {
			.size = sizeof(fl),
			.kind = kinds[i],
			.flags = TOELESS_MOCK_FAULT_F_RANDOM,
			.count = TOELESS_MOCK_FOREVER,
			.permille = th_rand_range(&rng, 1, 40),
			.after = th_rand_range(&rng, 0, 50),
		};
		if (kinds[i] == TOELESS_MOCK_FAULT_PARTIAL_PLACEMENT)
			fl.value = th_rand_range(&rng, 0, 9000);
		if (kinds[i] == TOELESS_MOCK_FAULT_DELAY_RELEASE) {
			/* often, so that releases come due together (a destroy) */
			fl.value = th_rand_range(&rng, 0, 5);
			fl.permille = th_rand_range(&rng, 50, 500);
		}
		if (kinds[i] == TOELESS_MOCK_FAULT_REORDER_COMPLETIONS) {
			fl.permille = th_rand_range(&rng, 200, 1000); /* only batches are events: rare */
			fl.after = 0;
		}
		if (kinds[i] == TOELESS_MOCK_FAULT_EXHAUSTION)
			fl.value = th_rand_range(&rng, 0, 2);
		if (kinds[i] == TOELESS_MOCK_FAULT_DEVICE_FAILURE) {
			fl.permille = 1;
			fl.after = th_rand_range(&rng, 50, 2000);
		}
		int id = toeless_mock_fault_add(e->dev, &fl);
		ck_assert_int_gt(id, 0);
		e->fault_ids[e->nfaults] = id;
		e->fault_kinds[e->nfaults++] = kinds[i];
	}
}

static void epoch_close(struct epoch *e, struct figures *f)
{
	if (e->mock) {
		for (int i = 0; i < e->nfaults; i++) {
			int n = toeless_mock_fault_fired(e->dev, e->fault_ids[i]);
			ck_assert_int_ge(n, 0);
			f->engine_faults[e->fault_kinds[i]] += (uint64_t)n;
			f->engine_faults_total += (uint64_t)n;
		}
		struct toeless_mock_stats ms = { .size = sizeof(ms) };
		ck_assert_int_eq(toeless_mock_stats(e->dev, &ms), 0);
		ck_assert_msg(ms.engine_sgls == 0, "the engine still holds %llu SGLs",
			      (unsigned long long)ms.engine_sgls);
		f->device_failures += ms.device_errors;
	}
	struct toeless_stats st = { .size = sizeof(st) };
	ck_assert_int_eq(toeless_device_stats(e->dev, &st), 0);
	ck_assert_msg(st.sgl_posted == st.sgl_completed + st.sgl_failed + st.sgl_cancelled,
		      "posts %llu, completions %llu+%llu+%llu", (unsigned long long)st.sgl_posted,
		      (unsigned long long)st.sgl_completed, (unsigned long long)st.sgl_failed,
		      (unsigned long long)st.sgl_cancelled);
	f->engine_bytes += st.bytes_placed_engine;
	f->sw_bytes += st.bytes_placed_sw;
	if (e->mr)
		ck_assert_int_eq(toeless_mr_dereg(e->mr), 0);
	ck_assert_int_eq(toeless_cq_destroy(e->cq), 0);
	ck_assert_int_eq(toeless_device_close(e->dev), 0); /* -EBUSY would mean a leaked object */
	free(e->arena);
}

static void conn_open(struct epoch *e, struct conn *c, struct figures *f)
{
	static const uint32_t dsls[] = { 4096, 8192, 16384, 65536 };
	int sv[2];
	th_sockpair(th_rand(&rng) & 1 ? TH_SOCK_TCP : TH_SOCK_UNIX, sv);
	c->fd = sv[0];
	c->peer = sv[1];
	th_set_nonblock(c->fd, true);
	th_set_nonblock(c->peer, true);
	c->digests = (unsigned)(th_rand(&rng) % 4);
	if (th_rand(&rng) % 4)
		c->digests |= TOELESS_CTX_DATA_DIGEST; /* mostly on: corruption needs a digest to be caught */
	c->max_dsl = dsls[th_rand(&rng) % 4];
	c->failed = false;
	struct toeless_ctx_attr a;
	th_ctx_attr_init(&a, c->fd, e->cq, c->digests, c->max_dsl);
	ck_assert_int_eq(toeless_ctx_create(e->dev, &a, &c->ctx), 0);
	f->connections++;
}

static void conn_close(struct conn *c)
{
	ck_assert_int_eq(toeless_ctx_destroy(c->ctx), 0); /* cancels what is still posted */
	close(c->fd);
	close(c->peer);
}

/* Poll the queue: SGL completions into their slots. */
static void drain_cq(struct epoch *e, struct slot *s)
{
	struct toeless_completion c[16];
	int n;
	while ((n = toeless_cq_poll(e->cq, c, 16)) > 0) {
		for (int i = 0; i < n; i++) {
			if (c[i].type == TOELESS_CQE_ERROR)
				continue; /* the receive loop saw the failure itself */
			ck_assert_int_eq(c[i].type, TOELESS_CQE_SGL);
			ck_assert_uint_lt(c[i].user_data, SLOTS);
			struct slot *sl = &s[c[i].user_data];
			ck_assert_msg(sl->busy && !sl->completed && sl->itt == c[i].itt,
				      "stray or duplicate completion");
			sl->completed = true;
			sl->c = c[i];
		}
	}
}

/* One batch of reads on one connection.  Returns false when the connection
 * failed (it must be replaced). */
static bool batch(struct epoch *e, struct conn *c, struct todo *todo, struct figures *f)
{
	struct slot s[SLOTS];
	memset(s, 0, sizeof(s));
	unsigned n = th_rand_range(&rng, 1, SLOTS);
	if (n > todo->n)
		n = todo->n;
	struct th_buf b;
	th_buf_init(&b);

	/* post every read; plan its PDUs */
	struct pdu_plan {
		unsigned slot;
		uint32_t off, len;
		uint8_t flags;
		bool rsp;
	} plan[SLOTS * 160];
	unsigned nplan = 0;
	for (unsigned i = 0; i < n; i++) {
		struct slot *sl = &s[i];
		sl->busy = true;
		sl->rd = todo_pop(todo);
		sl->len = sl->rd.blocks * BLOCK;
		sl->itt = ++itt_seq;
		uint8_t *buf = e->arena + (size_t)i * SLOT_BYTES;
		memset(buf, 0xEE, sl->len);
		struct iovec iov[4];
		int nsge = (int)th_rand_range(&rng, 1, 4), k = 0;
		uint32_t at = 0;
		for (int j = 0; j < nsge && at < sl->len; j++) {
			uint32_t l = j == nsge - 1 ? sl->len - at : th_rand_range(&rng, 1, sl->len - at);
			iov[k].iov_base = buf + at;
			iov[k].iov_len = l;
			at += l;
			k++;
		}
		if (at < sl->len) {
			iov[k - 1].iov_len += sl->len - at;
		}
		ck_assert_int_eq(toeless_sgl_post(c->ctx, sl->itt, iov, k, i), 0);
		f->attempts++;
		unsigned first = nplan;
		for (uint32_t off = 0; off < sl->len;) {
			uint32_t l = th_rand_range(&rng, 512, c->max_dsl);
			if (l > sl->len - off)
				l = sl->len - off;
			ck_assert_uint_lt(nplan, SLOTS * 160 - 1);
			plan[nplan++] = (struct pdu_plan){ .slot = i, .off = off, .len = l };
			off += l;
		}
		/* random order within the read; the status goes with the last one sent */
		for (unsigned a = nplan - 1; a > first; a--) {
			unsigned z = first + (unsigned)(th_rand(&rng) % (a - first + 1));
			struct pdu_plan t = plan[a];
			plan[a] = plan[z];
			plan[z] = t;
		}
		if (th_rand(&rng) % 4 == 0)
			plan[nplan++] = (struct pdu_plan){ .slot = i, .rsp = true };
		else
			plan[nplan - 1].flags = TOELESS_ISCSI_FLAG_FINAL | TOELESS_ISCSI_DATAIN_STATUS;
	}
	/* interleave the reads' PDUs, keeping each read's own order */
	struct pdu_plan *wire = malloc(sizeof(*wire) * nplan);
	ck_assert_ptr_nonnull(wire);
	{
		unsigned pos[SLOTS], end[SLOTS], nw = 0;
		for (unsigned i = 0, p = 0; i < n; i++) {
			pos[i] = p;
			while (p < nplan && plan[p].slot == i)
				p++;
			end[i] = p;
		}
		while (nw < nplan) {
			unsigned i = (unsigned)(th_rand(&rng) % n);
			if (pos[i] < end[i])
				wire[nw++] = plan[pos[i]++];
		}
	}
	/* serialise; maybe flip one bit under a digest */
	int corrupt_at = -1;
	bool hdr_corrupt = false;
	if (th_rand(&rng) % 6 == 0 && (c->digests & (TOELESS_CTX_HEADER_DIGEST | TOELESS_CTX_DATA_DIGEST)))
		corrupt_at = (int)(th_rand(&rng) % nplan);
	for (unsigned k = 0; k < nplan; k++) {
		struct slot *sl = &s[wire[k].slot];
		size_t start = b.len;
		uint8_t want[65536];
		if (wire[k].rsp) {
			uint8_t bhs[48];
			th_bhs_scsi_rsp(bhs, sl->itt, 0, 0, 0, 0);
			th_append_bhs(&b, c->digests, bhs, NULL, 0);
		} else {
			uint64_t base = sl->rd.lba * BLOCK + wire[k].off;
			for (uint32_t j = 0; j < wire[k].len; j++)
				want[j] = lun_byte(base + j);
			th_append_data_in(&b, c->digests, sl->itt, k, wire[k].off, want, wire[k].len, wire[k].flags, 0,
					  0);
		}
		if ((int)k != corrupt_at)
			continue;
		/* choose a bit a digest covers: header (+ its digest) or data (+ pad + its digest) */
		size_t hlen = 48 + ((c->digests & TOELESS_CTX_HEADER_DIGEST) ? 4 : 0);
		size_t dlen = b.len - start - hlen;
		bool hdr_ok = c->digests & TOELESS_CTX_HEADER_DIGEST;
		bool data_ok = (c->digests & TOELESS_CTX_DATA_DIGEST) && dlen > 0;
		if (!hdr_ok && !data_ok)
			continue;
		size_t at;
		if (hdr_ok && (!data_ok || th_rand(&rng) % 3 == 0)) {
			at = start + th_rand(&rng) % hlen; /* the connection must fail there */
			hdr_corrupt = true;
		} else
			at = start + hlen + th_rand(&rng) % dlen; /* the read must fail */
		sl->corrupted = true;
		b.p[at] ^= (uint8_t)(1u << (th_rand(&rng) % 8));
		f->corrupt_injected++;
	}
	free(wire);

	/* write in pieces while receiving */
	size_t woff = 0;
	unsigned done = 0;
	double deadline = now_s() + WAIT_MS / 1000.0, progress = now_s();
	while (!c->failed && (woff < b.len || done < n)) {
		if (woff < b.len) {
			size_t piece = th_rand_range(&rng, 1, 30000);
			if (piece > b.len - woff)
				piece = b.len - woff;
			ssize_t w = write(c->peer, b.p + woff, piece);
			if (w > 0) {
				woff += (size_t)w;
				progress = now_s();
			} else {
				ck_assert_msg(errno == EAGAIN, "write: %s", strerror(errno));
			}
		}
		struct toeless_pdu pdu;
		int rc = toeless_pdu_recv(c->ctx, &pdu);
		if (rc == -EAGAIN && woff == b.len && hdr_corrupt && now_s() - progress > 0.2) {
			/* A flipped TotalAHSLength makes any receiver wait for AHS
			 * bytes that never come: the header digest, after the AHS,
			 * cannot be checked before they arrive.  An initiator's
			 * timeout ends the connection (toeless-iscsi: --timeout). */
			c->failed = true;
			f->corrupt_by_timeout++;
			break;
		}
		if (rc != -EAGAIN)
			progress = now_s();
		if (rc == -EAGAIN) {
			if (now_s() >= deadline) {
				struct toeless_stats st = { .size = sizeof(st) };
				toeless_ctx_stats(c->ctx, &st);
				int inq = th_inq(c->fd);
				fprintf(stderr,
					"stall: %s, digests %u, max_dsl %u; %zu of %zu bytes written, %d unread in the "
					"socket, "
					"library read %llu bytes, delivered %llu PDUs; %u of %u reads done; resyncs "
					"%llu, "
					"fallback %llu, engine bytes %llu\n",
					e->mock ? "mock" : "sw", c->digests, c->max_dsl, woff, b.len, inq,
					(unsigned long long)st.bytes_rx, (unsigned long long)st.pdus_rx, done, n,
					(unsigned long long)st.resyncs, (unsigned long long)st.sw_fallback_pdus,
					(unsigned long long)st.bytes_placed_engine);
				const struct tl_rx_state *rx = &c->ctx->rx;
				fprintf(stderr,
					"  rx: phase %d pos %llu pdu_pos %llu hdr_have %u hdr_len %u data_len %u "
					"seg_len %u "
					"trailer %u data_have %u skip %u engine_bytes %u engine_checked %d discard %d "
					"task %p "
					"opcode 0x%02x\n",
					(int)rx->phase, (unsigned long long)rx->pos, (unsigned long long)rx->pdu_pos,
					rx->hdr_have, rx->hdr_len, rx->data_len, rx->seg_len, rx->trailer_len,
					rx->data_have, rx->skip, rx->engine_bytes, rx->engine_checked, rx->discard,
					(void *)rx->task, rx->bhs[0] & 0x3f);
				if (e->mock) {
					struct toeless_mock_call calls[32];
					int k = toeless_mock_log(e->dev, calls, 32);
					for (int i = 0; i < k; i++)
						fprintf(stderr,
							"  mock: %s itt 0x%x ret %d pos %llu value %llu faults 0x%x\n",
							toeless_mock_op_name(calls[i].op), calls[i].itt, calls[i].ret,
							(unsigned long long)calls[i].pos,
							(unsigned long long)calls[i].value, calls[i].faults);
				}
				ck_abort_msg("batch stalled: %zu of %zu bytes written, %u of %u done", woff, b.len,
					     done, n);
			}
			if (woff == b.len) {
				struct pollfd p = { .fd = c->fd, .events = POLLIN };
				poll(&p, 1, 5);
			}
			continue;
		}
		if (rc == -EBADMSG && pdu.hdr_digest == TOELESS_DIGEST_BAD) {
			c->failed = true; /* the context is failed: a new connection */
			break;
		}
		ck_assert_msg(rc == 0 || rc == -EBADMSG, "toeless_pdu_recv: %s", toeless_strerror(rc));
		if (pdu.flags & TOELESS_PDU_F_TASK_DONE)
			done++;
	}
	th_buf_free(&b);

	/* the completions: after a failure, destroying the context cancels the rest */
	if (c->failed) {
		f->conn_failures++;
		conn_close(c);
	}
	double until = now_s() + WAIT_MS / 1000.0;
	for (;;) {
		drain_cq(e, s);
		unsigned got = 0;
		for (unsigned i = 0; i < n; i++)
			got += s[i].completed;
		if (got == n)
			break;
		/* a destroyed context completed everything: only a live one waits */
		ck_assert_msg(!c->failed && now_s() < until, "%u of %u completions", got, n);
		struct toeless_pdu pdu;
		ck_assert_int_eq(toeless_pdu_recv(c->ctx, &pdu), -EAGAIN); /* progress: delayed releases */
		usleep(200);
	}

	for (unsigned i = 0; i < n; i++) {
		struct slot *sl = &s[i];
		int st = sl->c.status;
		ck_assert_msg(st == 0 || st == -EBADMSG || st == -ECANCELED, "read completed with %s",
			      toeless_strerror(st));
		if (sl->corrupted) {
			if (st == 0) {
				f->corrupt_missed++;
				ck_abort_msg("a read whose PDUs were corrupted on the wire completed with status 0");
			}
			f->corrupt_detected++;
		}
		if (st == 0) {
			const uint8_t *buf = e->arena + (size_t)i * SLOT_BYTES;
			ck_assert_uint_eq(sl->c.bytes_placed, sl->len);
			for (uint32_t j = 0; j < sl->len; j++) {
				if (buf[j] != lun_byte(sl->rd.lba * BLOCK + j)) {
					f->silent_corruptions++;
					ck_abort_msg("silent corruption: LBA %llu byte %u",
						     (unsigned long long)sl->rd.lba, j);
				}
			}
			f->reads_ok++;
			f->bytes_ok += sl->len;
		} else {
			if (st == -EBADMSG)
				f->status_ebadmsg++;
			else
				f->status_canceled++;
			sl->rd.tries++;
			ck_assert_msg(sl->rd.tries < MAX_RETRIES, "LBA %llu failed %u times",
				      (unsigned long long)sl->rd.lba, sl->rd.tries);
			f->retries++;
			todo_push(todo, sl->rd);
		}
	}
	return !c->failed;
}

START_TEST(fault_run)
{
	const char *e_sec = getenv("FAULT_SECONDS");
	double secs = e_sec && *e_sec ? strtod(e_sec, NULL) : 2.0;
	const char *e_seed = getenv("FAULT_SEED");
	rng = e_seed && *e_seed ? strtoull(e_seed, NULL, 0) : th_seed(0xfa017);
	uint64_t seed0 = rng;
	struct figures f;
	memset(&f, 0, sizeof(f));
	static struct todo todo;
	memset(&todo, 0, sizeof(todo));
	double t0 = now_s(), until = t0 + secs;

	while (now_s() < until || todo.n) {
		struct epoch e;
		epoch_open(&e, &f);
		unsigned conns = th_rand_range(&rng, 1, 6);
		for (unsigned k = 0; k < conns; k++) {
			struct conn c;
			conn_open(&e, &c, &f);
			unsigned batches = th_rand_range(&rng, 1, 20);
			bool alive = true;
			for (unsigned bi = 0; bi < batches && alive; bi++) {
				while (todo.n < SLOTS && now_s() < until) {
					struct read r = { .lba = th_rand(&rng) % LUN_BLOCKS };
					r.blocks = th_rand_range(&rng, 1, 128);
					if (r.lba + r.blocks > LUN_BLOCKS)
						r.blocks = (uint32_t)(LUN_BLOCKS - r.lba);
					todo_push(&todo, r);
				}
				if (!todo.n)
					break;
				alive = batch(&e, &c, &todo, &f);
			}
			if (alive)
				conn_close(&c);
			if (!todo.n && now_s() >= until)
				break;
		}
		epoch_close(&e, &f);
	}

	printf("fault-run: %.0f s, seed 0x%llx: %llu reads (%llu MiB) verified, %llu attempts (%llu retried); "
	       "%llu device lifetimes (%llu sw), %llu connections (%llu failed); engine faults fired %llu "
	       "(data_digest %llu, hdr_digest %llu, lose_sync %llu, partial %llu, delay_release %llu, reorder %llu, "
	       "duplicate %llu, exhaustion %llu, device_failure %llu); wire corruptions injected %llu, detected %llu "
	       "(%llu by the initiator's timeout), missed %llu; silent corruptions %llu; bytes placed by engine %llu "
	       "MiB, by software %llu MiB\n",
	       now_s() - t0, (unsigned long long)seed0, (unsigned long long)f.reads_ok,
	       (unsigned long long)(f.bytes_ok >> 20), (unsigned long long)f.attempts, (unsigned long long)f.retries,
	       (unsigned long long)f.epochs, (unsigned long long)f.sw_epochs, (unsigned long long)f.connections,
	       (unsigned long long)f.conn_failures, (unsigned long long)f.engine_faults_total,
	       (unsigned long long)f.engine_faults[TOELESS_MOCK_FAULT_DATA_DIGEST],
	       (unsigned long long)f.engine_faults[TOELESS_MOCK_FAULT_HDR_DIGEST],
	       (unsigned long long)f.engine_faults[TOELESS_MOCK_FAULT_LOSE_SYNC],
	       (unsigned long long)f.engine_faults[TOELESS_MOCK_FAULT_PARTIAL_PLACEMENT],
	       (unsigned long long)f.engine_faults[TOELESS_MOCK_FAULT_DELAY_RELEASE],
	       (unsigned long long)f.engine_faults[TOELESS_MOCK_FAULT_REORDER_COMPLETIONS],
	       (unsigned long long)f.engine_faults[TOELESS_MOCK_FAULT_DUPLICATE_COMPLETIONS],
	       (unsigned long long)f.engine_faults[TOELESS_MOCK_FAULT_EXHAUSTION],
	       (unsigned long long)f.engine_faults[TOELESS_MOCK_FAULT_DEVICE_FAILURE],
	       (unsigned long long)f.corrupt_injected, (unsigned long long)f.corrupt_detected,
	       (unsigned long long)f.corrupt_by_timeout, (unsigned long long)f.corrupt_missed,
	       (unsigned long long)f.silent_corruptions, (unsigned long long)(f.engine_bytes >> 20),
	       (unsigned long long)(f.sw_bytes >> 20));
	fflush(stdout);
	ck_assert_uint_eq(f.silent_corruptions, 0);
	ck_assert_uint_eq(f.corrupt_missed, 0);
	ck_assert_uint_gt(f.reads_ok, 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("fault-run");
	TH_TEST(s, fault_run);
	return th_run_suite(s);
}
