/*
 * The receive path over real sockets (AF_UNIX and loopback TCP): streams of
 * Data-In, SCSI Response and slow-path PDUs, split at every byte boundary
 * and at random, digests off / header / both, every pad length, in-order and
 * shuffled Buffer Offsets into multi-iovec SGLs with odd sizes, many tasks
 * interleaved; what each PDU, each completion, each buffer byte and each
 * counter must be afterwards (doc/receive-path.md).
 *
 * SPDX-License-Identifier: MIT
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "helpers.h"
#include "pdu.h"

#define MAX_SGE 256

/* ---- a scenario: tasks, a byte stream, and what must come out ---- */

struct rx_task {
	uint32_t itt;
	uint32_t sgl_len; /* bytes posted */
	uint32_t xfer;    /* bytes the target sends */
	int niov;
	struct iovec iov[MAX_SGE];
	uint8_t *expect; /* sgl_len bytes: the expected buffer content */
	uint8_t status;
	uint8_t uo; /* TOELESS_ISCSI_DATAIN_UNDERFLOW / OVERFLOW */
	uint32_t residual;
	bool by_rsp;      /* completed by a SCSI Response, not the S bit */
	uint8_t response; /* iSCSI response code in that SCSI Response */
	uint64_t cookie;
	bool seen; /* its completion arrived */
};

struct exp_pdu {
	uint8_t opcode;
	uint32_t itt;
	int status;
	uint32_t flags;
	uint32_t data_len;
	uint32_t ahs_len;
	uint64_t pos;       /* expected stream_pos */
	uint64_t user_data; /* when PLACED */
};

struct scen {
	unsigned digests;
	uint32_t max_dsl;
	uint64_t base; /* attr.stream_pos */
	struct th_buf wire;
	struct exp_pdu *exp;
	int nexp, capexp;
	struct rx_task *tasks;
	int ntasks, captasks;
	/* expected counters */
	uint64_t placed_bytes, placed_pdus, slow_bytes, unknown_itt, dd_checked;
};

static void scen_init(struct scen *s, unsigned digests, uint32_t max_dsl, uint64_t base)
{
	memset(s, 0, sizeof(*s));
	s->digests = digests;
	s->max_dsl = max_dsl ? max_dsl : 8192;
	s->base = base;
	th_buf_init(&s->wire);
}

static void scen_free(struct scen *s)
{
	for (int i = 0; i < s->ntasks; i++) {
		for (int k = 0; k < s->tasks[i].niov; k++)
			th_canary_free(s->tasks[i].iov[k].iov_base);
		free(s->tasks[i].expect);
	}
	free(s->tasks);
	free(s->exp);
	th_buf_free(&s->wire);
}

/* A task whose SGL of sgl_len bytes is niov separately allocated SGEs of
 * odd, random sizes, each between canaries. */
static struct rx_task *scen_task(struct scen *s, uint32_t itt, uint32_t sgl_len, int niov, uint64_t *rs)
{
	if (s->ntasks == s->captasks) {
		s->captasks = s->captasks ? 2 * s->captasks : 16;
		s->tasks = realloc(s->tasks, sizeof(*s->tasks) * (size_t)s->captasks);
	}
	struct rx_task *t = &s->tasks[s->ntasks++];
	memset(t, 0, sizeof(*t));
	t->itt = itt;
	t->sgl_len = sgl_len;
	t->xfer = sgl_len;
	if ((uint32_t)niov > sgl_len)
		niov = (int)sgl_len;
	ck_assert_int_le(niov, MAX_SGE);
	/* niov SGEs of random sizes, at least one byte each */
	uint32_t left = sgl_len;
	for (int k = 0; k < niov; k++) {
		uint32_t len = left;
		if (k < niov - 1) {
			uint32_t rest = (uint32_t)(niov - 1 - k); /* SGEs still to come */
			uint32_t most = left - rest;
			uint32_t avg2 = 2 * (left / (rest + 1));
			len = th_rand_range(rs, 1, avg2 && avg2 < most ? avg2 : most);
		}
		t->iov[k].iov_base = th_canary_alloc(len);
		t->iov[k].iov_len = len;
		left -= len;
	}
	t->niov = niov;
	t->expect = calloc(1, sgl_len);
	th_fill_pattern(t->expect, sgl_len, itt * 31u + 7u);
	t->cookie = 0xc0de000000000000ull | itt;
	return t;
}

static void scen_zero_buffers(struct scen *s)
{
	for (int i = 0; i < s->ntasks; i++) {
		s->tasks[i].seen = false;
		for (int k = 0; k < s->tasks[i].niov; k++)
			memset(s->tasks[i].iov[k].iov_base, 0, s->tasks[i].iov[k].iov_len);
	}
}

static struct exp_pdu *scen_exp(struct scen *s)
{
	if (s->nexp == s->capexp) {
		s->capexp = s->capexp ? 2 * s->capexp : 64;
		s->exp = realloc(s->exp, sizeof(*s->exp) * (size_t)s->capexp);
	}
	struct exp_pdu *e = &s->exp[s->nexp++];
	memset(e, 0, sizeof(*e));
	return e;
}

/* A Data-In of [off, off+len) of task t. */
static void scen_datain(struct scen *s, struct rx_task *t, uint32_t off, uint32_t len, bool final, uint32_t datasn)
{
	uint8_t flags = 0;
	if (final) {
		flags |= TOELESS_ISCSI_FLAG_FINAL;
		if (!t->by_rsp)
			flags |= TOELESS_ISCSI_DATAIN_STATUS | t->uo;
	}
	struct exp_pdu *e = scen_exp(s);
	e->pos = s->base + th_append_data_in(&s->wire, s->digests, t->itt, datasn, off, t->expect + off, len, flags,
					     t->status, t->residual);
	e->opcode = TOELESS_ISCSI_OP_DATA_IN;
	e->itt = t->itt;
	e->data_len = len;
	e->flags = TOELESS_PDU_F_PLACED | (flags & TOELESS_ISCSI_DATAIN_STATUS ? TOELESS_PDU_F_TASK_DONE : 0);
	e->user_data = t->cookie;
	s->placed_bytes += len;
	s->placed_pdus++;
	if (s->digests & TOELESS_CTX_DATA_DIGEST)
		s->dd_checked++;
}

/* The SCSI Response that completes task t, with sense data. */
static void scen_rsp(struct scen *s, struct rx_task *t)
{
	uint8_t sense[20], seg[32];
	th_fill_pattern(sense, sizeof(sense), t->itt);
	sense[0] = 0x70;
	size_t n = th_sense_segment(seg, sense, (uint16_t)(t->itt % 19));
	uint8_t bhs[48];
	uint8_t uo = (t->uo & TOELESS_ISCSI_DATAIN_UNDERFLOW ? TOELESS_ISCSI_RSP_UNDERFLOW : 0) |
		     (t->uo & TOELESS_ISCSI_DATAIN_OVERFLOW ? TOELESS_ISCSI_RSP_OVERFLOW : 0);
	th_bhs_scsi_rsp(bhs, t->itt, t->response, t->status, uo, t->residual);
	struct exp_pdu *e = scen_exp(s);
	e->pos = s->base + th_append_bhs(&s->wire, s->digests, bhs, seg, (uint32_t)n);
	e->opcode = TOELESS_ISCSI_OP_SCSI_RSP;
	e->itt = t->itt;
	e->data_len = (uint32_t)n;
	e->flags = TOELESS_PDU_F_TASK_DONE;
	e->status = 0;
	s->slow_bytes += n;
	if (s->digests & TOELESS_CTX_DATA_DIGEST)
		s->dd_checked++;
}

/* A PDU that is not placed: its data comes back in pdu.data. */
static void scen_slow(struct scen *s, const uint8_t bhs[48], const void *ahs, uint32_t ahs_len, const void *data,
		      uint32_t len)
{
	struct th_pdu p;
	memset(&p, 0, sizeof(p));
	memcpy(p.bhs, bhs, 48);
	p.ahs = ahs;
	p.ahs_len = ahs_len;
	p.data = data;
	p.data_len = len;
	p.digests = s->digests;
	struct exp_pdu *e = scen_exp(s);
	e->pos = s->base + th_pdu_append(&s->wire, &p);
	e->opcode = bhs[0] & 0x3f;
	e->itt = (uint32_t)bhs[16] << 24 | (uint32_t)bhs[17] << 16 | (uint32_t)bhs[18] << 8 | bhs[19];
	e->data_len = len;
	e->ahs_len = ahs_len;
	s->slow_bytes += len;
	if (len && (s->digests & TOELESS_CTX_DATA_DIGEST))
		s->dd_checked++;
	if (e->opcode == TOELESS_ISCSI_OP_DATA_IN)
		s->unknown_itt++;
}

/* A random slow-path PDU (ITTs 0x5xxxxxxx..0x7xxxxxxx are never posted). */
static void scen_random_slow(struct scen *s, uint64_t *rs)
{
	uint8_t bhs[48], data[256];
	uint32_t k = (uint32_t)th_rand(rs);
	uint32_t len = 0;
	switch (th_rand(rs) % 6) {
	case 0:
		th_bhs_nop_in(bhs, 0x70000000u | (k & 0xffffff), 0xffffffff);
		len = th_rand_range(rs, 0, 100);
		break;
	case 1:
		th_bhs_data_in(bhs, 0x60000000u | (k & 0xffffff), 0, th_rand_range(rs, 0, 5000),
			       TOELESS_ISCSI_FLAG_FINAL, 0, 0);
		len = th_rand_range(rs, 1, 200);
		break;
	case 2: th_bhs_r2t(bhs, 0x50000000u | (k & 0xffffff), 0x99, 0, 0, 4096); break;
	case 3:
		th_bhs_async(bhs, 1, 0);
		len = th_rand_range(rs, 0, 40);
		break;
	case 4:
		th_bhs_reject(bhs, 9);
		th_bhs_init(data, TOELESS_ISCSI_OP_SCSI_CMD, 0x80, k);
		len = 48;
		break;
	default: th_bhs_scsi_rsp(bhs, 0x50000000u | (k & 0xffffff), 0, 0, 0, 0); break;
	}
	if (len && !(bhs[0] == TOELESS_ISCSI_OP_REJECT))
		th_fill_pattern(data, len, k);
	scen_slow(s, bhs, NULL, 0, data, len);
}

/* Cut a task's transfer into Data-In segments and emit the whole read
 * stream: tasks interleaved or one after the other, offsets in order or
 * shuffled, slow-path PDUs sprinkled in with probability slow_pct. */
struct gen_opts {
	uint32_t seg_max;
	bool shuffle;
	bool interleave;
	unsigned slow_pct;
};

static void scen_gen(struct scen *s, uint64_t *rs, const struct gen_opts *g)
{
	struct seg {
		uint32_t off, len;
	};
	struct seg **segs = calloc((size_t)s->ntasks, sizeof(*segs));
	int *nseg = calloc((size_t)s->ntasks, sizeof(int));
	int *next = calloc((size_t)s->ntasks, sizeof(int));
	for (int i = 0; i < s->ntasks; i++) {
		struct rx_task *t = &s->tasks[i];
		segs[i] = malloc(sizeof(struct seg) * (t->xfer + 1));
		uint32_t off = 0;
		while (off < t->xfer) {
			uint32_t len = th_rand_range(rs, 1, g->seg_max < s->max_dsl ? g->seg_max : s->max_dsl);
			if (len > t->xfer - off)
				len = t->xfer - off;
			segs[i][nseg[i]++] = (struct seg){ off, len };
			off += len;
		}
		if (g->shuffle) {
			for (int k = nseg[i]; k > 1; k--) {
				int j = (int)(th_rand(rs) % (uint64_t)k);
				struct seg tmp = segs[i][k - 1];
				segs[i][k - 1] = segs[i][j];
				segs[i][j] = tmp;
			}
		}
	}
	int cur = 0, left = s->ntasks;
	while (left) {
		int i;
		if (g->interleave) {
			int pick = (int)(th_rand(rs) % (uint64_t)left);
			for (i = 0; i < s->ntasks; i++)
				if (next[i] < nseg[i] && pick-- == 0)
					break;
		} else {
			while (next[cur] >= nseg[cur])
				cur++;
			i = cur;
		}
		struct rx_task *t = &s->tasks[i];
		int k = next[i]++;
		bool last = next[i] == nseg[i];
		scen_datain(s, t, segs[i][k].off, segs[i][k].len, last, (uint32_t)k);
		if (last) {
			left--;
			if (t->by_rsp)
				scen_rsp(s, t);
		}
		if (g->slow_pct && th_rand(rs) % 100 < g->slow_pct)
			scen_random_slow(s, rs);
	}
	for (int i = 0; i < s->ntasks; i++)
		free(segs[i]);
	free(segs);
	free(nseg);
	free(next);
}

/* ---- running a scenario ---- */

static void post_all(struct scen *s, toeless_ctx *ctx)
{
	for (int i = 0; i < s->ntasks; i++) {
		struct rx_task *t = &s->tasks[i];
		int rc = toeless_sgl_post(ctx, t->itt, t->iov, t->niov, t->cookie);
		ck_assert_msg(rc == 0, "post ITT 0x%x: %d", t->itt, rc);
	}
}

static void check_one(struct scen *s, int i, int rc, const struct toeless_pdu *pdu)
{
	const struct exp_pdu *e = &s->exp[i];
	ck_assert_msg(rc == e->status, "PDU %d (op 0x%02x at %llu): returned %d, expected %d", i, e->opcode,
		      (unsigned long long)e->pos, rc, e->status);
	ck_assert_int_eq(pdu->status, rc);
	ck_assert_msg(pdu->stream_pos == e->pos, "PDU %d: stream_pos %llu, expected %llu", i,
		      (unsigned long long)pdu->stream_pos, (unsigned long long)e->pos);
	const uint8_t *w = s->wire.p + (e->pos - s->base);
	ck_assert_mem_eq(pdu->bhs, w, 48);
	ck_assert_uint_eq(pdu->opcode, e->opcode);
	ck_assert_uint_eq(pdu->itt, e->itt);
	ck_assert_uint_eq(pdu->data_len, e->data_len);
	ck_assert_msg(pdu->flags == e->flags, "PDU %d (op 0x%02x): flags 0x%x, expected 0x%x", i, e->opcode, pdu->flags,
		      e->flags);
	ck_assert_uint_eq(pdu->hdr_digest,
			  s->digests & TOELESS_CTX_HEADER_DIGEST ? TOELESS_DIGEST_OK : TOELESS_DIGEST_NONE);
	ck_assert_uint_eq(pdu->data_digest, (s->digests & TOELESS_CTX_DATA_DIGEST) && e->data_len
						    ? TOELESS_DIGEST_OK
						    : TOELESS_DIGEST_NONE);
	ck_assert_uint_eq(pdu->ahs_len, e->ahs_len);
	if (e->ahs_len) {
		ck_assert_ptr_nonnull(pdu->ahs);
		ck_assert_mem_eq(pdu->ahs, w + 48, e->ahs_len);
	}
	if (e->flags & TOELESS_PDU_F_PLACED) {
		ck_assert_ptr_null(pdu->data);
		ck_assert_uint_eq(pdu->user_data, e->user_data);
	} else if (e->data_len) {
		ck_assert_ptr_nonnull(pdu->data);
		size_t at = 48 + e->ahs_len + (s->digests & TOELESS_CTX_HEADER_DIGEST ? 4 : 0);
		ck_assert_mem_eq(pdu->data, w + at, e->data_len);
	} else {
		ck_assert_ptr_null(pdu->data);
	}
}

static struct rx_task *find_task(struct scen *s, uint32_t itt)
{
	for (int i = 0; i < s->ntasks; i++)
		if (s->tasks[i].itt == itt)
			return &s->tasks[i];
	return NULL;
}

/* Everything after the stream went through: buffers, completions, counters. */
static void check_after(struct scen *s, struct th_conn *c)
{
	/* buffers: exactly the bytes sent, zero where nothing was sent, canaries intact */
	for (int i = 0; i < s->ntasks; i++) {
		struct rx_task *t = &s->tasks[i];
		uint32_t off = 0;
		for (int k = 0; k < t->niov; k++) {
			const uint8_t *b = t->iov[k].iov_base;
			size_t len = t->iov[k].iov_len;
			ck_assert_msg(th_canary_ok(b, len), "ITT 0x%x SGE %d: write outside the SGE", t->itt, k);
			for (size_t j = 0; j < len; j++) {
				uint8_t want = off + j < t->xfer ? t->expect[off + j] : 0;
				TH_CHECK(b[j] == want, "ITT 0x%x byte %zu: 0x%02x, expected 0x%02x", t->itt, off + j,
					 b[j], want);
			}
			off += (uint32_t)len;
		}
	}
	/* one completion per task */
	struct toeless_completion *cqe = calloc((size_t)s->ntasks + 4, sizeof(*cqe));
	int n = th_cq_wait(c->cq, cqe, s->ntasks, TH_TIMEOUT_MS);
	ck_assert_int_eq(n, s->ntasks);
	ck_assert_int_eq(th_cq_drain(c->cq, cqe + n, 4), 0);
	for (int i = 0; i < n; i++) {
		struct toeless_completion *q = &cqe[i];
		ck_assert_uint_eq(q->type, TOELESS_CQE_SGL);
		struct rx_task *t = find_task(s, q->itt);
		ck_assert_msg(t != NULL, "completion for unknown ITT 0x%x", q->itt);
		ck_assert_msg(!t->seen, "two completions for ITT 0x%x", q->itt);
		t->seen = true;
		int want = t->by_rsp && t->response ? -EIO : 0;
		ck_assert_msg(q->status == want, "ITT 0x%x: status %d, expected %d", t->itt, q->status, want);
		ck_assert_uint_eq(q->user_data, t->cookie);
		ck_assert_ptr_eq(q->ctx, c->ctx);
		ck_assert_uint_eq(q->bytes_placed, t->xfer);
		ck_assert_uint_eq(q->bytes_engine, 0);
		uint32_t fl = TOELESS_CQE_F_SCSI_STATUS;
		if (t->uo & TOELESS_ISCSI_DATAIN_UNDERFLOW)
			fl |= TOELESS_CQE_F_UNDERFLOW;
		if (t->uo & TOELESS_ISCSI_DATAIN_OVERFLOW)
			fl |= TOELESS_CQE_F_OVERFLOW;
		ck_assert_msg(q->flags == fl, "ITT 0x%x: flags 0x%x, expected 0x%x", t->itt, q->flags, fl);
		ck_assert_uint_eq(q->scsi_status, t->status);
		ck_assert_uint_eq(q->residual, t->residual);
		ck_assert_uint_eq(q->response, t->by_rsp ? t->response : 0);
		ck_assert_uint_eq(q->data_digest,
				  s->digests & TOELESS_CTX_DATA_DIGEST ? TOELESS_DIGEST_OK : TOELESS_DIGEST_NONE);
	}
	free(cqe);
	/* counters */
	struct toeless_stats st;
	th_ctx_stats(c->ctx, &st);
	uint64_t ok = 0, eio = 0;
	for (int i = 0; i < s->ntasks; i++) {
		if (s->tasks[i].by_rsp && s->tasks[i].response)
			eio++;
		else
			ok++;
	}
	ck_assert_uint_eq(st.pdus_rx, (uint64_t)s->nexp);
	ck_assert_uint_eq(st.bytes_rx, s->wire.len);
	ck_assert_uint_eq(st.data_in_placed, s->placed_pdus);
	ck_assert_uint_eq(st.bytes_placed_sw, s->placed_bytes);
	ck_assert_uint_eq(st.bytes_placed_engine, 0);
	ck_assert_uint_eq(st.bytes_slow_path, s->slow_bytes);
	ck_assert_uint_eq(st.hdr_digests_checked, s->digests & TOELESS_CTX_HEADER_DIGEST ? (uint64_t)s->nexp : 0);
	ck_assert_uint_eq(st.hdr_digest_errors, 0);
	ck_assert_uint_eq(st.data_digests_checked, s->dd_checked);
	ck_assert_uint_eq(st.data_digest_errors, 0);
	ck_assert_uint_eq(st.sgl_posted, (uint64_t)s->ntasks);
	ck_assert_uint_eq(st.sgl_completed, ok);
	ck_assert_uint_eq(st.sgl_failed, eio);
	ck_assert_uint_eq(st.sgl_cancelled, 0);
	ck_assert_uint_eq(st.unknown_itt_pdus, s->unknown_itt);
	ck_assert_uint_eq(st.placement_errors, 0);
	ck_assert_uint_eq(st.protocol_errors, 0);
}

static void open_conn(struct scen *s, struct th_conn *c, enum th_sock kind)
{
	struct toeless_ctx_attr a;
	th_ctx_attr_init(&a, -1, NULL, s->digests, s->max_dsl);
	a.stream_pos = s->base;
	th_conn_open_attr(c, kind, &a);
}

/* Send the stream with a paced writer thread, receive and check it all. */
static void scen_run(struct scen *s, enum th_sock kind, enum th_split split, size_t chunk, uint64_t seed, bool drain)
{
	struct th_conn c;
	scen_zero_buffers(s);
	open_conn(s, &c, kind);
	post_all(s, c.ctx);
	struct th_writer_opts wo = { .split = split, .chunk = chunk, .seed = seed, .drain_fd = drain ? c.fd : -1 };
	struct th_writer *w = th_writer_start(c.peer, s->wire.p, s->wire.len, &wo);
	struct toeless_pdu pdu;
	for (int i = 0; i < s->nexp; i++) {
		int rc = th_recv(c.ctx, c.fd, &pdu, TH_TIMEOUT_MS);
		check_one(s, i, rc, &pdu);
	}
	ck_assert_uint_eq(th_writer_join(w), s->wire.len);
	/* nothing more */
	ck_assert_int_eq(toeless_pdu_recv(c.ctx, &pdu), -EAGAIN);
	check_after(s, &c);
	th_conn_close(&c);
}

/* Deliver the stream in two writes split at byte k (for every k), single
 * threaded: each read of the library sees exactly that split.  With
 * TOELESS_TEST_ITER below 1 (valgrind) only every n-th k is tried, starting
 * at rot % n so that the variants of a test together still cover them all. */
static void scen_run_every_split(struct scen *s, enum th_sock kind, unsigned rot)
{
	struct toeless_pdu pdu;
	unsigned per100 = th_iter(100);
	size_t stride = per100 >= 100 ? 1 : (100 + per100 - 1) / per100;
	for (size_t k = rot % stride; k < s->wire.len; k += stride) {
		struct th_conn c;
		scen_zero_buffers(s);
		open_conn(s, &c, kind);
		post_all(s, c.ctx);
		int got = 0, rc;
		if (k) {
			th_feed(c.peer, c.fd, s->wire.p, k);
			while ((rc = toeless_pdu_recv(c.ctx, &pdu)) != -EAGAIN) {
				ck_assert_msg(got < s->nexp, "split %zu: more PDUs than sent", k);
				check_one(s, got++, rc, &pdu);
			}
		}
		th_feed(c.peer, c.fd, s->wire.p + k, s->wire.len - k);
		while ((rc = toeless_pdu_recv(c.ctx, &pdu)) != -EAGAIN) {
			ck_assert_msg(got < s->nexp, "split %zu: more PDUs than sent", k);
			check_one(s, got++, rc, &pdu);
		}
		ck_assert_msg(got == s->nexp, "split at %zu: %d PDUs delivered, %d sent", k, got, s->nexp);
		check_after(s, &c);
		th_conn_close(&c);
	}
}

/* A small stream with every kind of PDU and every pad length:
 * Data-In 5 bytes (pad 3), NOP-In with AHS and 2 bytes (pad 2), Data-In 7
 * bytes with S (pad 1), R2T, Data-In for an unposted ITT (4 bytes, pad 0),
 * Data-In 3 bytes for a second task, its SCSI Response with sense data. */
static void small_stream(struct scen *s, uint64_t *rs)
{
	struct rx_task *a = scen_task(s, 0x11, 12, 3, rs);
	a->status = 0;
	struct rx_task *b = scen_task(s, 0x22, 3, 2, rs);
	b->by_rsp = true;
	b->status = 0x02; /* CHECK CONDITION */
	uint8_t bhs[48], data[8], ahs[8] = { 0x00, 0x05, 0x02, 0x00, 0x00, 0x00, 0x10, 0x00 };
	scen_datain(s, a, 0, 5, false, 0);
	th_bhs_nop_in(bhs, 0x70000001, 0x1234);
	memcpy(data, "pi", 2);
	scen_slow(s, bhs, ahs, sizeof(ahs), data, 2);
	scen_datain(s, a, 5, 7, true, 1);
	th_bhs_r2t(bhs, 0x50000001, 7, 0, 0, 512);
	scen_slow(s, bhs, NULL, 0, NULL, 0);
	th_bhs_data_in(bhs, 0x60000001, 0, 0, TOELESS_ISCSI_FLAG_FINAL, 0, 0);
	memcpy(data, "abcd", 4);
	scen_slow(s, bhs, NULL, 0, data, 4);
	scen_datain(s, b, 0, 3, true, 0);
	scen_rsp(s, b);
}

/* _i: bit 0 TCP, bits 1..2 digests */
START_TEST(test_every_split)
{
	uint64_t rs = 1;
	struct scen s;
	scen_init(&s, (unsigned)_i >> 1, 0, 0);
	small_stream(&s, &rs);
	scen_run_every_split(&s, (enum th_sock)(_i & 1), (unsigned)_i);
	scen_free(&s);
}
END_TEST

START_TEST(test_byte_by_byte)
{
	uint64_t rs = 2;
	struct scen s;
	scen_init(&s, (unsigned)_i >> 1, 0, 0);
	small_stream(&s, &rs);
	scen_run(&s, (enum th_sock)(_i & 1), TH_SPLIT_BYTE, 1, 0, true);
	scen_free(&s);
}
END_TEST

/* A larger stream, one byte at a time, with everything in it. */
START_TEST(test_byte_by_byte_mixed)
{
	uint64_t rs = th_seed(3);
	struct scen s;
	scen_init(&s, (unsigned)_i >> 1, 512, 0);
	for (uint32_t i = 0; i < 3; i++) {
		struct rx_task *t = scen_task(&s, 0x100 + i, 150 + i * 37, 5, &rs);
		t->status = 0;
	}
	s.tasks[1].by_rsp = true;
	s.tasks[1].status = 0x02;
	struct gen_opts g = { .seg_max = 64, .shuffle = true, .interleave = true, .slow_pct = 30 };
	scen_gen(&s, &rs, &g);
	scen_run(&s, (enum th_sock)(_i & 1), TH_SPLIT_BYTE, 1, 0, true);
	scen_free(&s);
}
END_TEST

/* _i: bit 0 TCP, bits 1..2 digests, bit 3 shuffled offsets */
START_TEST(test_random_split)
{
	uint64_t rs = th_seed(100 + (uint64_t)_i);
	unsigned iters = th_iter(3);
	for (unsigned it = 0; it < iters; it++) {
		struct scen s;
		scen_init(&s, (unsigned)(_i >> 1) & 3, 4096, 0);
		int nt = (int)th_rand_range(&rs, 1, 8);
		for (int i = 0; i < nt; i++) {
			struct rx_task *t = scen_task(&s, 0x1000 + (uint32_t)i * 0x101, th_rand_range(&rs, 1, 20000),
						      (int)th_rand_range(&rs, 1, 13), &rs);
			t->status = 0;
			if (i % 3 == 1) {
				t->by_rsp = true;
				t->status = (uint8_t)(i % 2 ? 0x02 : 0);
			}
		}
		struct gen_opts g = { .seg_max = 4096, .shuffle = _i & 8, .interleave = true, .slow_pct = 20 };
		scen_gen(&s, &rs, &g);
		scen_run(&s, (enum th_sock)(_i & 1), TH_SPLIT_RANDOM, th_rand_range(&rs, 1, 700), th_rand(&rs), true);
		scen_free(&s);
	}
}
END_TEST

/* Many tasks interleaved, shuffled offsets, odd multi-iovec SGLs; the stream
 * goes as fast as the socket takes it (no pacing). */
START_TEST(test_interleaved_many)
{
	uint64_t rs = th_seed(0x1a7e + (uint64_t)_i);
	struct scen s;
	scen_init(&s, TOELESS_CTX_HEADER_DIGEST | TOELESS_CTX_DATA_DIGEST, 2048, 0);
	int nt = (int)th_iter(64);
	if (nt > 1000)
		nt = 1000;
	for (int i = 0; i < nt; i++) {
		struct rx_task *t = scen_task(&s, (uint32_t)i * 0x01000193u + 1, th_rand_range(&rs, 1, 9000),
					      (int)th_rand_range(&rs, 1, 9), &rs);
		t->status = 0;
	}
	struct gen_opts g = { .seg_max = 2048, .shuffle = true, .interleave = true, .slow_pct = 5 };
	scen_gen(&s, &rs, &g);
	scen_run(&s, (enum th_sock)_i, TH_SPLIT_RANDOM, 65536, th_rand(&rs), false);
	scen_free(&s);
}
END_TEST

/* Data segment lengths 1..12 (every pad) placed and on the slow path. */
START_TEST(test_padding)
{
	uint64_t rs = 9;
	struct scen s;
	scen_init(&s, (unsigned)_i, 0, 0);
	uint8_t bhs[48], data[16];
	for (uint32_t len = 1; len <= 12; len++) {
		struct rx_task *t = scen_task(&s, 0x300 + len, len, len > 2 ? 2 : 1, &rs);
		t->status = 0;
		scen_datain(&s, t, 0, len, true, 0);
		th_bhs_nop_in(bhs, 0x70000000 + len, 0xffffffff);
		th_fill_pattern(data, len, len);
		scen_slow(&s, bhs, NULL, 0, data, len);
	}
	scen_run(&s, TH_SOCK_UNIX, TH_SPLIT_FIXED, 3, 0, true);
	scen_free(&s);
}
END_TEST

/* S bit: status, residual, U/O flags, bytes_placed below the SGL size. */
START_TEST(test_status_residual)
{
	uint64_t rs = 5;
	struct scen s;
	scen_init(&s, TOELESS_CTX_DATA_DIGEST, 0, 0);
	struct rx_task *u = scen_task(&s, 0x401, 1000, 3, &rs);
	u->xfer = 600; /* underflow: the target had only 600 bytes */
	u->uo = TOELESS_ISCSI_DATAIN_UNDERFLOW;
	u->residual = 400;
	u->status = 0;
	struct rx_task *o = scen_task(&s, 0x402, 700, 2, &rs);
	o->uo = TOELESS_ISCSI_DATAIN_OVERFLOW;
	o->residual = 300;
	o->status = 0;
	struct rx_task *cc = scen_task(&s, 0x403, 100, 1, &rs);
	cc->status = 0x02;
	cc->residual = 0;
	struct rx_task *r = scen_task(&s, 0x404, 513, 4, &rs);
	r->by_rsp = true;
	r->uo = TOELESS_ISCSI_DATAIN_UNDERFLOW;
	r->xfer = 500;
	r->residual = 13;
	r->status = 0x02;
	struct gen_opts g = { .seg_max = 256, .shuffle = true, .interleave = true };
	scen_gen(&s, &rs, &g);
	scen_run(&s, TH_SOCK_TCP, TH_SPLIT_RANDOM, 100, 77, true);
	scen_free(&s);
}
END_TEST

/* A SCSI Response with a response code other than "command completed":
 * the task completes -EIO; the PDU itself is delivered normally. */
START_TEST(test_response_failure)
{
	uint64_t rs = 6;
	struct scen s;
	scen_init(&s, 0, 0, 0);
	struct rx_task *t = scen_task(&s, 0x501, 64, 2, &rs);
	t->by_rsp = true;
	t->response = 0x01; /* target failure */
	t->status = 0;
	t->xfer = 32;
	t->uo = TOELESS_ISCSI_DATAIN_UNDERFLOW;
	t->residual = 32;
	struct gen_opts g = { .seg_max = 16 };
	scen_gen(&s, &rs, &g);
	scen_run(&s, TH_SOCK_UNIX, TH_SPLIT_NONE, 0, 0, false);
	scen_free(&s);
}
END_TEST

/* Slow-path PDUs only, including a Data-In for an unposted ITT while
 * another ITT is posted (whose buffer must stay untouched). */
START_TEST(test_slow_path)
{
	uint64_t rs = th_seed(7);
	struct scen s;
	scen_init(&s, (unsigned)_i, 0, 0);
	for (int i = 0; i < 40; i++)
		scen_random_slow(&s, &rs);
	uint8_t bhs[48], data[300];
	th_fill_pattern(data, sizeof(data), 1);
	/* an unposted ITT right next to a posted one */
	th_bhs_data_in(bhs, 0x601, 0, 0, TOELESS_ISCSI_FLAG_FINAL | TOELESS_ISCSI_DATAIN_STATUS, 0, 0);
	scen_slow(&s, bhs, NULL, 0, data, 300);
	struct th_conn c;
	open_conn(&s, &c, TH_SOCK_UNIX);
	uint8_t *buf = th_canary_alloc(300);
	struct iovec iov = { buf, 300 };
	ck_assert_int_eq(toeless_sgl_post(c.ctx, 0x600, &iov, 1, 9), 0);
	th_feed(c.peer, c.fd, s.wire.p, s.wire.len);
	struct toeless_pdu pdu;
	for (int i = 0; i < s.nexp; i++) {
		int rc = th_recv(c.ctx, c.fd, &pdu, TH_TIMEOUT_MS);
		check_one(&s, i, rc, &pdu);
	}
	ck_assert_int_eq(toeless_pdu_recv(c.ctx, &pdu), -EAGAIN);
	for (int i = 0; i < 300; i++)
		ck_assert_uint_eq(buf[i], 0);
	ck_assert(th_canary_ok(buf, 300));
	ck_assert_int_eq(th_cq_drain(c.cq, NULL, 0), 0); /* the post is still waiting */
	struct toeless_stats st;
	th_ctx_stats(c.ctx, &st);
	ck_assert_uint_eq(st.pdus_rx, (uint64_t)s.nexp);
	ck_assert_uint_eq(st.unknown_itt_pdus, s.unknown_itt);
	ck_assert_uint_eq(st.bytes_slow_path, s.slow_bytes);
	ck_assert_uint_eq(st.data_in_placed, 0);
	ck_assert_uint_eq(st.data_digests_checked, s.dd_checked);
	th_conn_close(&c);
	th_canary_free(buf);
	scen_free(&s);
}
END_TEST

/* attr.stream_pos = N: positions count from N. */
START_TEST(test_stream_pos_base)
{
	uint64_t rs = 8;
	struct scen s;
	scen_init(&s, TOELESS_CTX_HEADER_DIGEST, 0, (1ull << 40) + 12345);
	small_stream(&s, &rs);
	ck_assert_uint_eq(s.exp[0].pos, (1ull << 40) + 12345);
	scen_run(&s, TH_SOCK_TCP, TH_SPLIT_RANDOM, 50, 1, true);
	scen_free(&s);
}
END_TEST

/* One Data-In over 200 SGEs of 1..37 bytes (more than fit in one readv). */
START_TEST(test_many_sges)
{
	uint64_t rs = th_seed(11);
	struct scen s;
	scen_init(&s, (unsigned)_i >> 1, 16384, 0);
	struct rx_task *t = scen_task(&s, 0x700, 3800, 200, &rs);
	t->status = 0;
	scen_datain(&s, t, 0, 3800, true, 0);
	scen_run(&s, (enum th_sock)(_i & 1), TH_SPLIT_NONE, 0, 0, false);
	scen_free(&s);
	/* and in random pieces */
	scen_init(&s, (unsigned)_i >> 1, 16384, 0);
	t = scen_task(&s, 0x701, 5000, 250, &rs);
	t->status = 0;
	struct gen_opts g = { .seg_max = 3000, .shuffle = true };
	scen_gen(&s, &rs, &g);
	scen_run(&s, (enum th_sock)(_i & 1), TH_SPLIT_RANDOM, 999, 5, true);
	scen_free(&s);
}
END_TEST

/* 256 KiB Data-In PDUs into three SGEs over TCP. */
START_TEST(test_large_pdus)
{
	uint64_t rs = 12;
	struct scen s;
	scen_init(&s, TOELESS_CTX_HEADER_DIGEST | TOELESS_CTX_DATA_DIGEST, 262144, 0);
	struct rx_task *t = scen_task(&s, 0x800, 1048576 - 3, 3, &rs);
	t->status = 0;
	struct gen_opts g = { .seg_max = 262144 };
	scen_gen(&s, &rs, &g);
	scen_run(&s, TH_SOCK_TCP, TH_SPLIT_RANDOM, 100000, 3, false);
	scen_free(&s);
}
END_TEST

/* A non-blocking socket with nothing (or half a header) to read: -EAGAIN,
 * nothing delivered, nothing counted. */
START_TEST(test_eagain)
{
	struct th_conn c;
	th_conn_open(&c, (enum th_sock)_i, TOELESS_CTX_HEADER_DIGEST, 0);
	struct toeless_pdu pdu;
	for (int k = 0; k < 3; k++)
		ck_assert_int_eq(toeless_pdu_recv(c.ctx, &pdu), -EAGAIN);
	struct toeless_stats st;
	th_ctx_stats(c.ctx, &st);
	ck_assert_uint_eq(st.pdus_rx, 0);
	ck_assert_int_eq(th_cq_drain(c.cq, NULL, 0), 0);

	struct th_buf b;
	th_buf_init(&b);
	uint8_t bhs[48];
	th_bhs_nop_in(bhs, 0x42, 0xffffffff);
	th_append_bhs(&b, TOELESS_CTX_HEADER_DIGEST, bhs, "xyz", 3);
	th_feed(c.peer, c.fd, b.p, 20);
	ck_assert_int_eq(toeless_pdu_recv(c.ctx, &pdu), -EAGAIN);
	th_feed(c.peer, c.fd, b.p + 20, 32); /* BHS and header digest, no data */
	ck_assert_int_eq(toeless_pdu_recv(c.ctx, &pdu), -EAGAIN);
	th_ctx_stats(c.ctx, &st);
	ck_assert_uint_eq(st.pdus_rx, 0);
	th_feed(c.peer, c.fd, b.p + 52, b.len - 52);
	ck_assert_int_eq(toeless_pdu_recv(c.ctx, &pdu), 0);
	ck_assert_uint_eq(pdu.itt, 0x42);
	ck_assert_uint_eq(pdu.data_len, 3);
	ck_assert_mem_eq(pdu.data, "xyz", 3);
	ck_assert_int_eq(toeless_pdu_recv(c.ctx, &pdu), -EAGAIN);
	th_ctx_stats(c.ctx, &st);
	ck_assert_uint_eq(st.pdus_rx, 1);
	ck_assert_uint_eq(st.bytes_rx, b.len);
	th_buf_free(&b);
	th_conn_close(&c);
}
END_TEST

/* Login without digests, then toeless_ctx_set_params() switches them on
 * for the full-feature phase. */
START_TEST(test_set_params_switch)
{
	struct th_conn c;
	th_conn_open(&c, TH_SOCK_TCP, 0, 0);
	struct th_buf b;
	th_buf_init(&b);
	uint8_t bhs[48];
	th_bhs_init(bhs, TOELESS_ISCSI_OP_LOGIN_RSP, 0x87, 0x1);
	const char *kv = "HeaderDigest=CRC32C\0DataDigest=CRC32C";
	th_append_bhs(&b, 0, bhs, kv, 38);
	th_feed(c.peer, c.fd, b.p, b.len);
	struct toeless_pdu pdu;
	ck_assert_int_eq(th_recv(c.ctx, c.fd, &pdu, TH_TIMEOUT_MS), 0);
	ck_assert_uint_eq(pdu.opcode, TOELESS_ISCSI_OP_LOGIN_RSP);
	ck_assert_uint_eq(pdu.hdr_digest, TOELESS_DIGEST_NONE);
	ck_assert_mem_eq(pdu.data, kv, 38);
	size_t first = b.len;

	struct toeless_ctx_params p = { .flags = TOELESS_CTX_HEADER_DIGEST | TOELESS_CTX_DATA_DIGEST,
					.max_recv_dsl = 65536 };
	ck_assert_int_eq(toeless_ctx_set_params(c.ctx, &p), 0);

	uint8_t *buf = th_canary_alloc(20000);
	struct iovec iov = { buf, 20000 };
	ck_assert_int_eq(toeless_sgl_post(c.ctx, 0x2, &iov, 1, 22), 0);
	uint8_t *data = malloc(20000);
	th_fill_pattern(data, 20000, 2);
	size_t pos2 = th_append_data_in(&b, p.flags, 0x2, 0, 0, data, 20000,
					TOELESS_ISCSI_FLAG_FINAL | TOELESS_ISCSI_DATAIN_STATUS, 0, 0);
	th_bhs_nop_in(bhs, 0x3, 0x44);
	size_t pos3 = th_append_bhs(&b, p.flags, bhs, "ping", 4);
	th_feed(c.peer, c.fd, b.p + first, b.len - first);
	ck_assert_int_eq(th_recv(c.ctx, c.fd, &pdu, TH_TIMEOUT_MS), 0);
	ck_assert_uint_eq(pdu.stream_pos, pos2);
	ck_assert_uint_eq(pdu.flags, TOELESS_PDU_F_PLACED | TOELESS_PDU_F_TASK_DONE);
	ck_assert_uint_eq(pdu.hdr_digest, TOELESS_DIGEST_OK);
	ck_assert_uint_eq(pdu.data_digest, TOELESS_DIGEST_OK);
	ck_assert_mem_eq(buf, data, 20000);
	ck_assert(th_canary_ok(buf, 20000));
	ck_assert_int_eq(th_recv(c.ctx, c.fd, &pdu, TH_TIMEOUT_MS), 0);
	ck_assert_uint_eq(pdu.stream_pos, pos3);
	ck_assert_uint_eq(pdu.hdr_digest, TOELESS_DIGEST_OK);
	ck_assert_uint_eq(pdu.data_digest, TOELESS_DIGEST_OK);
	ck_assert_mem_eq(pdu.data, "ping", 4);
	struct toeless_completion q;
	ck_assert_int_eq(th_cq_wait(c.cq, &q, 1, TH_TIMEOUT_MS), 1);
	ck_assert_int_eq(q.status, 0);
	ck_assert_uint_eq(q.data_digest, TOELESS_DIGEST_OK);
	struct toeless_stats st;
	th_ctx_stats(c.ctx, &st);
	ck_assert_uint_eq(st.hdr_digests_checked, 2);
	ck_assert_uint_eq(st.data_digests_checked, 2);
	free(data);
	th_canary_free(buf);
	th_buf_free(&b);
	th_conn_close(&c);
}
END_TEST

/* The target's first full-feature PDU is already in the socket when the
 * Login Response is delivered (the library may have read its BHS ahead).
 * From the caller's side no PDU is half received: switching must work and
 * the next PDU must be read with the new digests. */
START_TEST(test_set_params_readahead)
{
	struct th_conn c;
	th_conn_open(&c, TH_SOCK_UNIX, 0, 0);
	struct th_buf b;
	th_buf_init(&b);
	uint8_t bhs[48];
	th_bhs_init(bhs, TOELESS_ISCSI_OP_LOGIN_RSP, 0x87, 0x1);
	th_append_bhs(&b, 0, bhs, "HeaderDigest=CRC32C", 19);
	th_bhs_nop_in(bhs, 0x3, 0x44);
	unsigned dg = TOELESS_CTX_HEADER_DIGEST | TOELESS_CTX_DATA_DIGEST;
	size_t pos2 = th_append_bhs(&b, dg, bhs, "ping", 4);
	th_feed(c.peer, c.fd, b.p, b.len);
	struct toeless_pdu pdu;
	ck_assert_int_eq(th_recv(c.ctx, c.fd, &pdu, TH_TIMEOUT_MS), 0);
	ck_assert_uint_eq(pdu.opcode, TOELESS_ISCSI_OP_LOGIN_RSP);
	struct toeless_ctx_params p = { .flags = dg };
	ck_assert_int_eq(toeless_ctx_set_params(c.ctx, &p), 0);
	ck_assert_int_eq(th_recv(c.ctx, c.fd, &pdu, TH_TIMEOUT_MS), 0);
	ck_assert_uint_eq(pdu.stream_pos, pos2);
	ck_assert_uint_eq(pdu.hdr_digest, TOELESS_DIGEST_OK);
	ck_assert_uint_eq(pdu.data_digest, TOELESS_DIGEST_OK);
	ck_assert_mem_eq(pdu.data, "ping", 4);
	th_buf_free(&b);
	th_conn_close(&c);
}
END_TEST

/* An ITT completed by its S bit can be posted again at once and receives
 * the next read in the same stream. */
START_TEST(test_itt_reuse_in_stream)
{
	struct th_conn c;
	th_conn_open(&c, TH_SOCK_UNIX, TOELESS_CTX_DATA_DIGEST, 0);
	uint8_t a[100], b2[100], d1[100], d2[100];
	th_fill_pattern(d1, 100, 1);
	th_fill_pattern(d2, 100, 2);
	memset(a, 0, sizeof(a));
	memset(b2, 0, sizeof(b2));
	struct iovec iov = { a, 100 };
	ck_assert_int_eq(toeless_sgl_post(c.ctx, 5, &iov, 1, 1), 0);
	struct th_buf w;
	th_buf_init(&w);
	th_append_data_in(&w, TOELESS_CTX_DATA_DIGEST, 5, 0, 0, d1, 100,
			  TOELESS_ISCSI_FLAG_FINAL | TOELESS_ISCSI_DATAIN_STATUS, 0, 0);
	size_t second = w.len;
	th_append_data_in(&w, TOELESS_CTX_DATA_DIGEST, 5, 0, 0, d2, 100,
			  TOELESS_ISCSI_FLAG_FINAL | TOELESS_ISCSI_DATAIN_STATUS, 0, 0);
	th_feed(c.peer, c.fd, w.p, second);
	struct toeless_pdu pdu;
	ck_assert_int_eq(th_recv(c.ctx, c.fd, &pdu, TH_TIMEOUT_MS), 0);
	ck_assert_uint_eq(pdu.flags, TOELESS_PDU_F_PLACED | TOELESS_PDU_F_TASK_DONE);
	iov.iov_base = b2;
	ck_assert_int_eq(toeless_sgl_post(c.ctx, 5, &iov, 1, 2), 0);
	th_feed(c.peer, c.fd, w.p + second, w.len - second);
	ck_assert_int_eq(th_recv(c.ctx, c.fd, &pdu, TH_TIMEOUT_MS), 0);
	ck_assert_uint_eq(pdu.flags, TOELESS_PDU_F_PLACED | TOELESS_PDU_F_TASK_DONE);
	ck_assert_uint_eq(pdu.user_data, 2);
	ck_assert_mem_eq(a, d1, 100);
	ck_assert_mem_eq(b2, d2, 100);
	struct toeless_completion q[2];
	ck_assert_int_eq(th_cq_wait(c.cq, q, 2, TH_TIMEOUT_MS), 2);
	ck_assert_uint_eq(q[0].user_data, 1);
	ck_assert_uint_eq(q[1].user_data, 2);
	ck_assert_int_eq(q[0].status, 0);
	ck_assert_int_eq(q[1].status, 0);
	th_buf_free(&w);
	th_conn_close(&c);
}
END_TEST

/* doc/receive-path.md: the core never reads past the header of the next
 * PDU (BHS + header digest), so an engine can rely on the socket's read
 * position.  _i: digests. */
START_TEST(test_no_overread)
{
	unsigned dg = (unsigned)_i;
	uint32_t hd = dg & TOELESS_CTX_HEADER_DIGEST ? 4 : 0;
	struct th_conn c;
	th_conn_open(&c, TH_SOCK_UNIX, dg, 0);
	uint8_t *b = th_canary_alloc(100);
	struct iovec iov = { b, 100 };
	ck_assert_int_eq(toeless_sgl_post(c.ctx, 0xa0, &iov, 1, 0), 0);
	uint8_t d[100], bhs[48];
	th_fill_pattern(d, sizeof(d), 10);
	struct th_buf w;
	th_buf_init(&w);
	size_t end[4];
	th_bhs_nop_in(bhs, 0xa1, 0xffffffff);
	th_append_bhs(&w, dg, bhs, d, 10);
	end[0] = w.len;
	th_append_data_in(&w, dg, 0xa0, 0, 0, d, 100, TOELESS_ISCSI_FLAG_FINAL | TOELESS_ISCSI_DATAIN_STATUS, 0, 0);
	end[1] = w.len;
	th_bhs_r2t(bhs, 0xa2, 1, 0, 0, 100);
	th_append_bhs(&w, dg, bhs, NULL, 0);
	end[2] = w.len;
	th_bhs_nop_in(bhs, 0xa3, 0xffffffff);
	th_append_bhs(&w, dg, bhs, d, 5);
	end[3] = w.len;
	th_feed(c.peer, c.fd, w.p, w.len);
	struct toeless_pdu pdu;
	for (int k = 0; k < 4; k++) {
		ck_assert_int_eq(th_recv(c.ctx, c.fd, &pdu, TH_TIMEOUT_MS), 0);
		size_t left = w.len - end[k];
		size_t may = 48 + hd < left ? 48 + hd : left;
		int inq = th_inq(c.fd);
		ck_assert_msg((size_t)inq >= left - may, "after PDU %d: %d bytes unread, at least %zu expected", k, inq,
			      left - may);
	}
	ck_assert_int_eq(th_inq(c.fd), 0);
	ck_assert_mem_eq(b, d, 100);
	th_buf_free(&w);
	th_canary_free(b);
	th_conn_close(&c);
}
END_TEST

/* A Data-In with no data segment and the S bit finishes its task. */
START_TEST(test_status_only_datain)
{
	struct th_conn c;
	th_conn_open(&c, TH_SOCK_UNIX, TOELESS_CTX_DATA_DIGEST, 0);
	uint8_t *b = th_canary_alloc(64);
	struct iovec iov = { b, 64 };
	ck_assert_int_eq(toeless_sgl_post(c.ctx, 0xb0, &iov, 1, 0xb0), 0);
	uint8_t d[64];
	th_fill_pattern(d, sizeof(d), 11);
	struct th_buf w;
	th_buf_init(&w);
	th_append_data_in(&w, TOELESS_CTX_DATA_DIGEST, 0xb0, 0, 0, d, 64, TOELESS_ISCSI_FLAG_FINAL, 0, 0);
	th_append_data_in(&w, TOELESS_CTX_DATA_DIGEST, 0xb0, 1, 64, NULL, 0,
			  TOELESS_ISCSI_FLAG_FINAL | TOELESS_ISCSI_DATAIN_STATUS, 0x02, 0);
	th_feed(c.peer, c.fd, w.p, w.len);
	struct toeless_pdu pdu;
	ck_assert_int_eq(th_recv(c.ctx, c.fd, &pdu, TH_TIMEOUT_MS), 0);
	ck_assert_uint_eq(pdu.flags, TOELESS_PDU_F_PLACED);
	ck_assert_int_eq(th_recv(c.ctx, c.fd, &pdu, TH_TIMEOUT_MS), 0);
	ck_assert_uint_eq(pdu.data_len, 0);
	ck_assert_ptr_null(pdu.data);
	ck_assert_uint_eq(pdu.data_digest, TOELESS_DIGEST_NONE);
	ck_assert_uint_eq(pdu.flags & TOELESS_PDU_F_TASK_DONE, TOELESS_PDU_F_TASK_DONE);
	struct toeless_completion q;
	ck_assert_int_eq(th_cq_wait(c.cq, &q, 1, TH_TIMEOUT_MS), 1);
	ck_assert_int_eq(q.status, 0);
	ck_assert_uint_eq(q.scsi_status, 0x02);
	ck_assert_uint_eq(q.flags, TOELESS_CQE_F_SCSI_STATUS);
	ck_assert_uint_eq(q.bytes_placed, 64);
	ck_assert_uint_eq(q.data_digest, TOELESS_DIGEST_OK);
	ck_assert_mem_eq(b, d, 64);
	ck_assert(th_canary_ok(b, 64));
	th_buf_free(&w);
	th_canary_free(b);
	th_conn_close(&c);
}
END_TEST

static Suite *rx_suite(void)
{
	Suite *s = suite_create("rx");
	TH_LOOP_TEST(s, test_every_split, 0, 8);
	TH_LOOP_TEST(s, test_byte_by_byte, 0, 8);
	TH_LOOP_TEST(s, test_byte_by_byte_mixed, 0, 8);
	TH_LOOP_TEST(s, test_random_split, 0, 16);
	TH_LOOP_TEST(s, test_interleaved_many, 0, 2);
	TH_LOOP_TEST(s, test_padding, 0, 4);
	TH_TEST(s, test_status_residual);
	TH_TEST(s, test_response_failure);
	TH_LOOP_TEST(s, test_slow_path, 0, 4);
	TH_TEST(s, test_stream_pos_base);
	TH_LOOP_TEST(s, test_many_sges, 0, 8);
	TH_TEST(s, test_large_pdus);
	TH_LOOP_TEST(s, test_eagain, 0, 2);
	TH_TEST(s, test_set_params_switch);
	TH_TEST(s, test_set_params_readahead);
	TH_TEST(s, test_itt_reuse_in_stream);
	TH_LOOP_TEST(s, test_no_overread, 0, 4);
	TH_TEST(s, test_status_only_datain);
	return s;
}

int main(void)
{
	return th_run_suite(rx_suite());
}
