/*
 * libFuzzer harness: the receive engine with posted SGLs.
 *
 * A context on a socket pair (software backend, or the mock engine with
 * random faults) gets up to four SGL posts whose buffers sit between guard
 * pages (fuzz.h: a write past a buffer faults, a write before it spoils a
 * canary).  The input's stream is written to the peer in chunks whose split
 * points, and the actions between them (cancel, re-post, poll, one byte per
 * write), come from the input too.  After every chunk the library receives
 * until -EAGAIN.
 *
 * A model of the library (RFC 7143 framing from fuzz.h, the placement rules
 * of doc/receive-path.md) predicts every PDU and every completion, and the
 * harness checks, beyond "no crash, no leak, no sanitizer report":
 *   - each PDU: position, header, digest verdicts against an independent
 *     CRC32C (a bad digest is never reported good), the return code, the
 *     PLACED/TASK_DONE flags, the cookie; placed payload is in the SGL at
 *     Buffer Offset, byte for byte; slow-path data is the wire's;
 *   - Buffer Offset + length past the SGL gives -ERANGE, over placed bytes
 *     -EEXIST, and nothing is written;
 *   - each post completes exactly once, with the predicted status (first
 *     error wins), bytes placed, SCSI status, residual, U/O flags and worst
 *     digest; a post that completes with status 0 holds exactly the bytes
 *     the model placed and the fill pattern elsewhere (no silent
 *     corruption);
 *   - after its completion a buffer is made read-only: a library write to
 *     buffers it gave back faults;
 *   - one ERROR completion per failed context, with the first error.
 *
 * Input layout (reads past the end give zeros):
 *   byte 0   bit 0-1 HeaderDigest/DataDigest; bit 2 mock engine; bit 3 make
 *            every digest in the stream right; bits 4-5 choose
 *            MaxRecvDataSegmentLength; bit 6 feed the tail one byte per write;
 *            bit 7 a loopback TCP connection instead of a socket pair (the
 *            library then skips engine-placed bytes with MSG_TRUNC)
 *   byte 1   bits 0-2: posts (mod 5); bits 3-7: mock fault groups
 *   byte 2   mock seed and fault probability
 *   byte 3   mock fault value (partial placement bytes, release delay)
 *   per post: 1 byte (bits 0-1: SGEs - 1; bits 4-6: ITT choice), then per
 *            SGE 2 bytes (length 1 + v % 4096)
 *   1 byte   number of actions (mod 16); per action 2 bytes of chunk length
 *            (mod 2049) and 1 byte of action: bits 0-2 what (1 switch
 *            parameters to bits 3-4 digests and bits 5-6 length; 3 cancel;
 *            4 post again; 5 poll; 6 cancel an ITT never posted; 7 feed the
 *            chunk one byte per write), bits 3-7 which post
 *   the rest: the stream
 *
 * SPDX-License-Identifier: MIT
 */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <sys/ioctl.h>

#include "fuzz.h"

#include "toeless.h"
#include "toeless_mock.h"

#define MAX_TASKS 4
#define MAX_SGE   4
#define MAX_POSTS 64

static const uint32_t dsl_choice[4] = { 512, 4096, 8192, 65536 };
static const uint32_t itt_choice[8] = { 1, 2, 3, 0, 0x80000000u, 0x7fffffffu, 0xfffffffeu, 0x12345678u };

enum kind {
	K_SLOW,    /* no post: data in pdu->data */
	K_PLACE,   /* Data-In placed into the post */
	K_RANGE,   /* Data-In past the SGL: -ERANGE */
	K_OVERLAP, /* Data-In over placed bytes: -EEXIST */
	K_EMPTY,   /* Data-In without data for the post */
	K_RSP,     /* SCSI Response for the post */
};

struct range {
	uint64_t lo, hi;
};

struct task {
	struct fz_guard g[MAX_SGE];
	struct iovec iov[MAX_SGE];
	int iovcnt;
	uint64_t total;
	uint32_t itt;
	uint8_t *shadow; /* what the buffers must hold */
	uint8_t *wild;   /* 1: any value allowed (a payload cut off by a cancel) */
	int post;        /* current or last post, -1 if none */
	bool writable;
};

struct post {
	int task;
	uint32_t itt;
	bool finished;  /* no longer a placement target */
	bool completed; /* its completion was polled */
	int32_t status;
	bool has_status;
	uint8_t scsi_status, response, worst;
	bool status_datain; /* the status came in a Data-In (S bit) */
	uint32_t residual;
	uint32_t cflags;
	uint64_t placed;
	struct range *r;
	uint32_t nr, cap;
};

struct decision {
	bool frozen;
	enum kind kind;
	int post;
};

struct run {
	toeless_device *dev;
	toeless_cq *cq;
	toeless_ctx *ctx;
	int sv[2];
	bool tcp;
	bool mock;
	bool mock_hd_fault, mock_dd_fault;
	unsigned digests;
	uint32_t max_dsl;
	uint8_t *s;
	size_t len, fed, next;
	bool eof_sent;
	int fatal;           /* the context's first error */
	bool error_seen;     /* its ERROR completion was polled */
	struct decision dec; /* for the PDU at next */
	struct task t[MAX_TASKS];
	int ntasks;
	struct post p[MAX_POSTS];
	int nposts;
};

/* ---- the model ---- */

static int find_open_post(struct run *r, uint32_t itt)
{
	for (int i = 0; i < r->nposts; i++)
		if (!r->p[i].finished && r->p[i].itt == itt)
			return i;
	return -1;
}

static int find_uncompleted_post(struct run *r, uint32_t itt)
{
	for (int i = 0; i < r->nposts; i++)
		if (!r->p[i].completed && r->p[i].itt == itt)
			return i;
	return -1;
}

static bool overlaps(const struct post *p, uint64_t lo, uint64_t hi)
{
	for (uint32_t i = 0; i < p->nr; i++)
		if (p->r[i].lo < hi && lo < p->r[i].hi)
			return true;
	return false;
}

static void add_range(struct post *p, uint64_t lo, uint64_t hi)
{
	if (p->nr == p->cap) {
		p->cap = p->cap ? p->cap * 2 : 8;
		p->r = realloc(p->r, p->cap * sizeof(*p->r));
		FZ_CHECK(p->r, "realloc");
	}
	p->r[p->nr].lo = lo;
	p->r[p->nr].hi = hi;
	p->nr++;
	p->placed += hi - lo;
}

/* FUZZ_TRACE=1 in the environment: say what happens, for reading a crash. */
static int trace = -1;
#define TRACE(...)                                                                                                     \
	do {                                                                                                           \
		if (trace)                                                                                             \
			fprintf(stderr, "trace: " __VA_ARGS__);                                                        \
	} while (0)

static struct decision decide(struct run *r, const struct fz_pdu *ref)
{
	struct decision d = { .frozen = false, .kind = K_SLOW, .post = -1 };
	const uint8_t *h = r->s + ref->pos;
	if (ref->opcode != 0x25 && ref->opcode != 0x21)
		return d;
	int pi = find_open_post(r, ref->itt);
	if (pi < 0)
		return d;
	d.post = pi;
	if (ref->opcode == 0x21) {
		d.kind = K_RSP;
		return d;
	}
	uint64_t lo = fz_be32(h + 40), hi = lo + ref->dsl;
	if (ref->dsl == 0)
		d.kind = K_EMPTY;
	else if (hi > r->t[r->p[pi].task].total)
		d.kind = K_RANGE;
	else if (overlaps(&r->p[pi], lo, hi))
		d.kind = K_OVERLAP;
	else
		d.kind = K_PLACE;
	return d;
}

/* Before an action changes the model: if the library has already parsed
 * the next PDU's header (it is all fed and the library drained the
 * socket), its placement was decided with the model as it is now. */
static void freeze_next(struct run *r)
{
	if (r->fatal || r->dec.frozen)
		return;
	struct fz_pdu ref;
	fz_frame(r->s, r->len, r->next, r->digests, r->max_dsl, &ref);
	if (!ref.hdr_complete || ref.hdr_end > r->fed || ref.fatal)
		return;
	r->dec = decide(r, &ref);
	r->dec.frozen = true;
}

static void finish_post(struct post *p, int32_t status)
{
	if (p->status == 0)
		p->status = status;
	p->finished = true;
}

/* The status a post completes with: a good status is a promise about the
 * data (toeless.h, struct toeless_completion): exactly the first
 * SGL length - residual bytes under underflow, else the whole SGL, or
 * -ENODATA.  Judged only when nothing failed before, the target answered
 * with no response code, and GOOD (or the status came in a Data-In).
 * Placements never overlap (an overlap is refused), so the byte count and
 * the ranges' ends decide. */
static int32_t model_status(const struct run *r, const struct post *p)
{
	if (p->status || !p->has_status || p->response)
		return p->status;
	if (p->scsi_status != 0 && !p->status_datain)
		return 0;
	uint64_t total = r->t[p->task].total, want = total;
	if (p->cflags & TOELESS_CQE_F_UNDERFLOW)
		want = p->residual >= total ? 0 : total - p->residual;
	if (p->placed != want)
		return -ENODATA;
	for (uint32_t i = 0; i < p->nr; i++)
		if (p->r[i].hi > want)
			return -ENODATA;
	return 0;
}

/* Does the task's SGL hold the wire's bytes [src, src+n) at offset off? */
static bool sgl_equals(const struct task *t, uint64_t off, const uint8_t *src, uint64_t n)
{
	for (int i = 0; i < t->iovcnt && n; i++) {
		uint64_t l = t->iov[i].iov_len;
		if (off >= l) {
			off -= l;
			continue;
		}
		uint64_t k = l - off < n ? l - off : n;
		if (memcmp((uint8_t *)t->iov[i].iov_base + off, src, k) != 0)
			return false;
		src += k;
		n -= k;
		off = 0;
	}
	return n == 0;
}

static void task_protect(struct task *t, bool writable)
{
	if (t->writable == writable)
		return;
	for (int i = 0; i < t->iovcnt; i++)
		fz_guard_protect(&t->g[i], writable);
	t->writable = writable;
}

/* The buffers against the model: placed bytes and the fill pattern. */
static void check_shadow(struct run *r, struct task *t, const char *when)
{
	uint64_t off = 0;
	for (int i = 0; i < t->iovcnt; i++) {
		FZ_CHECK(fz_guard_ok(&t->g[i]), "%s: bytes written before SGE %d of ITT 0x%08x", when, i, t->itt);
		const uint8_t *b = t->iov[i].iov_base;
		for (size_t k = 0; k < t->iov[i].iov_len; k++, off++)
			FZ_CHECK(t->wild[off] || b[k] == t->shadow[off],
				 "%s: ITT 0x%08x byte %llu is 0x%02x, expected 0x%02x (silent corruption)", when,
				 t->itt, (unsigned long long)off, b[k], t->shadow[off]);
	}
	(void)r;
}

/* ---- completions ---- */

static void poll_cq(struct run *r)
{
	struct toeless_completion c[8];
	int n;
	while ((n = toeless_cq_poll(r->cq, c, 8)) > 0) {
		for (int i = 0; i < n; i++) {
			if (c[i].type == TOELESS_CQE_ERROR) {
				FZ_CHECK(r->fatal && !r->error_seen,
					 "ERROR completion (status %d), context fatal %d, seen %d", c[i].status,
					 r->fatal, r->error_seen);
				FZ_CHECK(c[i].status == r->fatal, "ERROR completion status %d, first error %d",
					 c[i].status, r->fatal);
				FZ_CHECK(c[i].user_data == 99 && c[i].ctx == r->ctx, "ERROR completion identity");
				r->error_seen = true;
				continue;
			}
			FZ_CHECK(c[i].type == TOELESS_CQE_SGL, "completion type %u", c[i].type);
			FZ_CHECK(c[i].user_data >= 1 && c[i].user_data <= (uint64_t)r->nposts, "cookie %llu",
				 (unsigned long long)c[i].user_data);
			struct post *p = &r->p[c[i].user_data - 1];
			struct task *t = &r->t[p->task];
			FZ_CHECK(p->finished && !p->completed, "completion of ITT 0x%08x: finished %d, completed %d",
				 p->itt, p->finished, p->completed);
			FZ_CHECK(c[i].ctx == r->ctx && c[i].itt == p->itt, "completion identity");
			int32_t want_status = model_status(r, p);
			FZ_CHECK(c[i].status == want_status, "ITT 0x%08x completed with %d, the model says %d", p->itt,
				 c[i].status, want_status);
			FZ_CHECK(c[i].bytes_placed == p->placed && c[i].bytes_engine <= c[i].bytes_placed,
				 "ITT 0x%08x: bytes_placed %llu (engine %llu), the model says %llu", p->itt,
				 (unsigned long long)c[i].bytes_placed, (unsigned long long)c[i].bytes_engine,
				 (unsigned long long)p->placed);
			FZ_CHECK(!!(c[i].flags & TOELESS_CQE_F_SCSI_STATUS) == p->has_status, "SCSI status flag");
			if (p->has_status)
				FZ_CHECK(c[i].scsi_status == p->scsi_status && c[i].residual == p->residual &&
						 c[i].response == p->response,
					 "ITT 0x%08x status %u/%u residual %u, expected %u/%u/%u", p->itt,
					 c[i].scsi_status, c[i].response, c[i].residual, p->scsi_status, p->response,
					 p->residual);
			FZ_CHECK((c[i].flags & (TOELESS_CQE_F_UNDERFLOW | TOELESS_CQE_F_OVERFLOW)) == p->cflags,
				 "U/O flags 0x%x, expected 0x%x", c[i].flags, p->cflags);
			FZ_CHECK(c[i].data_digest == p->worst, "worst digest %u, expected %u", c[i].data_digest,
				 p->worst);
			p->completed = true;
			TRACE("completion: post %d ITT 0x%08x status %d placed %llu\n", (int)c[i].user_data, p->itt,
			      c[i].status, (unsigned long long)c[i].bytes_placed);
			if (p->status == 0)
				check_shadow(r, t, "completion");
			else if (r->mock)
				/* an engine may have written into the buffers of a failed
				 * task (never outside them): their content is void */
				memset(t->wild, 1, t->total);
			/* the buffers are the caller's again: the library must not touch them */
			task_protect(t, false);
		}
	}
}

/* ---- received PDUs ---- */

static void check_pdu(struct run *r, int rc, const struct toeless_pdu *pdu)
{
	struct fz_pdu ref;
	fz_frame(r->s, r->len, r->next, r->digests, r->max_dsl, &ref);
	FZ_CHECK(ref.hdr_complete && ref.hdr_end <= r->fed, "PDU at %zu delivered before its header was sent", r->next);
	FZ_CHECK(pdu->status == rc, "status %d, returned %d", pdu->status, rc);
	FZ_CHECK(pdu->stream_pos == ref.pos, "stream_pos %llu, expected %zu", (unsigned long long)pdu->stream_pos,
		 ref.pos);
	FZ_CHECK(memcmp(pdu->bhs, r->s + ref.pos, 48) == 0, "BHS differs from the wire");
	FZ_CHECK(pdu->itt == ref.itt && pdu->opcode == ref.opcode && pdu->data_len == ref.dsl, "header fields");
	const uint8_t *h = r->s + ref.pos;

	/* header digest: a bad one is always found; an engine fault may call
	 * a good one bad (the context then fails, which is safe) */
	if (pdu->hdr_digest != ref.hd)
		FZ_CHECK(ref.hd == FZ_OK && pdu->hdr_digest == FZ_BAD && r->mock_hd_fault,
			 "header digest verdict %u, reference %u", pdu->hdr_digest, ref.hd);
	if (pdu->hdr_digest == FZ_BAD || ref.fatal) {
		FZ_CHECK(rc == (pdu->hdr_digest == FZ_BAD ? -EBADMSG : ref.fatal), "returned %d, reference fatal %d",
			 rc, ref.fatal);
		FZ_CHECK(!(pdu->flags & (TOELESS_PDU_F_PLACED | TOELESS_PDU_F_TASK_DONE)), "flags on a fatal PDU");
		r->fatal = rc;
		return;
	}
	FZ_CHECK(ref.complete && ref.end <= r->fed, "PDU at %zu delivered before all of it was sent", ref.pos);

	/* data digest: likewise */
	uint8_t v = pdu->data_digest;
	if (v != ref.dd)
		FZ_CHECK(ref.dd == FZ_OK && v == FZ_BAD && r->mock_dd_fault, "data digest verdict %u, reference %u", v,
			 ref.dd);
	int dig_rc = v == FZ_BAD ? -EBADMSG : 0;

	struct decision d = r->dec.frozen ? r->dec : decide(r, &ref);
	r->dec.frozen = false;
	TRACE("PDU at %zu op 0x%02x ITT 0x%08x off %u len %u flags 0x%02x: rc %d lib flags 0x%x dd %u; model kind %d "
	      "post %d%s\n",
	      ref.pos, ref.opcode, ref.itt, fz_be32(h + 40), ref.dsl, h[1], rc, pdu->flags, v, d.kind, d.post,
	      d.post >= 0 && r->p[d.post].finished ? " (finished)" : "");
	struct post *p = d.post >= 0 ? &r->p[d.post] : NULL;
	bool detached = p && p->finished; /* cancelled while this PDU was in flight */
	bool done = false;
	uint64_t lo = fz_be32(h + 40);

	if (!p) {
		FZ_CHECK(rc == dig_rc, "slow-path PDU returned %d, digest says %d", rc, dig_rc);
		FZ_CHECK(pdu->flags == 0 && pdu->user_data == 0, "slow-path PDU flags 0x%x", pdu->flags);
		if (ref.dsl)
			FZ_CHECK(pdu->data && memcmp(pdu->data, r->s + ref.data_off, ref.dsl) == 0,
				 "slow-path data differs from the wire");
		else
			FZ_CHECK(pdu->data == NULL, "data for an empty segment");
		goto out;
	}
	if (detached) {
		/* the rest of the payload went to scratch: nothing more for the post */
		int want = d.kind == K_RANGE ? -ERANGE : d.kind == K_OVERLAP ? -EEXIST : dig_rc;
		FZ_CHECK(rc == want, "detached PDU returned %d, expected %d", rc, want);
		FZ_CHECK(!(pdu->flags & (TOELESS_PDU_F_PLACED | TOELESS_PDU_F_TASK_DONE)) && pdu->data == NULL,
			 "detached PDU flags 0x%x data %p", pdu->flags, (const void *)pdu->data);
		goto out;
	}
	FZ_CHECK(pdu->user_data == (uint64_t)(d.post + 1), "cookie %llu, post %d", (unsigned long long)pdu->user_data,
		 d.post + 1);
	switch (d.kind) {
	case K_PLACE:
		FZ_CHECK(rc == dig_rc, "placed PDU returned %d, digest says %d", rc, dig_rc);
		FZ_CHECK((pdu->flags & TOELESS_PDU_F_PLACED) && pdu->data == NULL, "placed PDU flags 0x%x", pdu->flags);
		FZ_CHECK(sgl_equals(&r->t[p->task], lo, r->s + ref.data_off, ref.dsl),
			 "ITT 0x%08x: bytes %llu..%llu in the SGL differ from the wire", p->itt, (unsigned long long)lo,
			 (unsigned long long)(lo + ref.dsl));
		memcpy(r->t[p->task].shadow + lo, r->s + ref.data_off, ref.dsl);
		add_range(p, lo, lo + ref.dsl);
		if (dig_rc && p->status == 0)
			p->status = dig_rc;
		break;
	case K_RANGE:
	case K_OVERLAP: {
		int want = d.kind == K_RANGE ? -ERANGE : -EEXIST;
		FZ_CHECK(rc == want, "Data-In %llu+%u on a %llu-byte SGL returned %d, expected %d",
			 (unsigned long long)lo, ref.dsl, (unsigned long long)r->t[p->task].total, rc, want);
		FZ_CHECK(!(pdu->flags & TOELESS_PDU_F_PLACED) && pdu->data == NULL, "discarded PDU flags 0x%x",
			 pdu->flags);
		if (p->status == 0)
			p->status = want;
		break;
	}
	case K_EMPTY:
		FZ_CHECK(rc == 0 && !(pdu->flags & TOELESS_PDU_F_PLACED) && pdu->data == NULL, "empty Data-In: %d 0x%x",
			 rc, pdu->flags);
		break;
	case K_RSP:
		FZ_CHECK(rc == dig_rc, "SCSI Response returned %d, digest says %d", rc, dig_rc);
		if (ref.dsl)
			FZ_CHECK(pdu->data && memcmp(pdu->data, r->s + ref.data_off, ref.dsl) == 0,
				 "sense data differs");
		p->has_status = true;
		p->response = h[2];
		p->scsi_status = h[3];
		p->residual = fz_be32(h + 44);
		p->cflags |= (h[1] & 0x02 ? TOELESS_CQE_F_UNDERFLOW : 0) | (h[1] & 0x04 ? TOELESS_CQE_F_OVERFLOW : 0);
		if (v > p->worst)
			p->worst = v;
		finish_post(p, dig_rc ? dig_rc : (h[2] ? -EIO : 0));
		done = true;
		break;
	case K_SLOW: break;
	}
	if (d.kind != K_RSP) {
		if (v > p->worst)
			p->worst = v;
		if (h[1] & 0x01) { /* S: the status is in this Data-In */
			p->has_status = true;
			p->status_datain = true;
			p->scsi_status = h[3];
			p->residual = fz_be32(h + 44);
			p->cflags |= (h[1] & 0x02 ? TOELESS_CQE_F_UNDERFLOW : 0) |
				     (h[1] & 0x04 ? TOELESS_CQE_F_OVERFLOW : 0);
			finish_post(p, 0);
			done = true;
		}
	}
	FZ_CHECK(!!(pdu->flags & TOELESS_PDU_F_TASK_DONE) == done, "TASK_DONE flag 0x%x, expected %d", pdu->flags,
		 done);
out:
	if (pdu->flags & TOELESS_PDU_F_ENGINE)
		FZ_CHECK(pdu->flags & TOELESS_PDU_F_PLACED, "ENGINE without PLACED");
	r->next = ref.end;
}

static void recv_all(struct run *r)
{
	for (;;) {
		struct toeless_pdu pdu;
		memset(&pdu, 0xEE, sizeof(pdu));
		int rc = toeless_pdu_recv(r->ctx, &pdu);
		switch (rc) {
		case -EAGAIN: FZ_CHECK(!r->eof_sent, "-EAGAIN after the peer closed"); return;
		case 0:
		case -EBADMSG:
		case -EPROTO:
		case -EMSGSIZE:
		case -ERANGE:
		case -EEXIST:
			FZ_CHECK(!r->fatal, "a PDU after the context failed with %d", r->fatal);
			check_pdu(r, rc, &pdu);
			break;
		case -EPIPE:
		case -ECONNRESET: {
			struct fz_pdu ref =
				fz_check_end(r->s, r->len, r->next, r->digests, r->max_dsl, rc, r->eof_sent, r->fatal);
			TRACE("end of stream: %d\n", rc);
			/* a payload cut off by the end went partly into its post,
			 * which completes cancelled: those bytes are void */
			if (ref.hdr_complete && !ref.fatal) {
				struct decision d = r->dec.frozen ? r->dec : decide(r, &ref);
				if (d.kind == K_PLACE && !r->p[d.post].finished)
					memset(r->t[r->p[d.post].task].wild + fz_be32(r->s + ref.pos + 40), 1, ref.dsl);
			}
			r->fatal = rc;
			return;
		}
		case -ENOTCONN: FZ_CHECK(r->fatal, "-ENOTCONN on a working context"); return;
		default: FZ_CHECK(0, "toeless_pdu_recv returned %d", rc);
		}
		if (r->fatal)
			return;
	}
}

/* The TCP pair lives across runs (a connection per run would fill the
 * port range with TIME_WAIT); each run starts with both queues empty. */
static int tcp_sv[2] = { -1, -1 };

static void tcp_pair(int sv[2])
{
	if (tcp_sv[0] < 0) {
		struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
		socklen_t al = sizeof(a);
		int one = 1;
		int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		FZ_CHECK(l >= 0 && bind(l, (struct sockaddr *)&a, sizeof(a)) == 0 && listen(l, 1) == 0 &&
				 getsockname(l, (struct sockaddr *)&a, &al) == 0,
			 "listen: %s", strerror(errno));
		tcp_sv[1] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		FZ_CHECK(connect(tcp_sv[1], (struct sockaddr *)&a, sizeof(a)) == 0, "connect: %s", strerror(errno));
		tcp_sv[0] = accept(l, NULL, NULL);
		FZ_CHECK(tcp_sv[0] >= 0, "accept: %s", strerror(errno));
		close(l);
		setsockopt(tcp_sv[1], IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		fz_nonblock(tcp_sv[0]);
		fz_nonblock(tcp_sv[1]);
	}
	sv[0] = tcp_sv[0];
	sv[1] = tcp_sv[1];
}

/* Throw away what the library left unread. */
static void tcp_drain(int fd)
{
	uint8_t b[4096];
	while (read(fd, b, sizeof(b)) > 0)
		;
}

/* TCP delivers asynchronously: wait until every byte written is either
 * read by the library or waiting in its socket. */
static void tcp_settle(struct run *r)
{
	for (int i = 0; i < 100000; i++) {
		struct toeless_stats st = { .size = sizeof(st) };
		int inq = 0;
		FZ_CHECK(toeless_ctx_stats(r->ctx, &st) == 0 && ioctl(r->sv[0], FIONREAD, &inq) == 0, "stats/FIONREAD");
		if (st.bytes_rx + (uint64_t)inq >= r->fed)
			return;
		sched_yield();
	}
	FZ_CHECK(0, "loopback TCP did not deliver %zu bytes", r->fed);
}

/* Write n more bytes of the stream (one byte per write if bytewise). */
static void feed(struct run *r, size_t n, bool bytewise)
{
	size_t end = r->fed + n > r->len ? r->len : r->fed + n;
	TRACE("feed %zu..%zu%s\n", r->fed, end, bytewise ? " bytewise" : "");
	while (r->fed < end && !r->fatal) {
		size_t want = bytewise ? 1 : end - r->fed;
		ssize_t w = write(r->sv[1], r->s + r->fed, want);
		if (w > 0)
			r->fed += (size_t)w;
		else
			FZ_CHECK(w < 0 && errno == EAGAIN, "write: %s", strerror(errno));
		if (r->tcp)
			tcp_settle(r);
		recv_all(r);
	}
	poll_cq(r);
}

/* ---- actions ---- */

static void do_post(struct run *r, int k)
{
	struct task *t = &r->t[k];
	poll_cq(r); /* completions already queued make their ITTs free */
	if (t->post >= 0 && !r->p[t->post].completed)
		return; /* its buffers are still lent */
	if (r->nposts == MAX_POSTS)
		return;
	freeze_next(r);
	task_protect(t, true);
	int rc = toeless_sgl_post(r->ctx, t->itt, t->iov, t->iovcnt, (uint64_t)r->nposts + 1);
	int busy = find_uncompleted_post(r, t->itt);
	int want = r->fatal ? -ENOTCONN : busy >= 0 ? -EEXIST : 0;
	/* an engine's delayed release may be reported by the progress call
	 * the post itself makes: the finished post's ITT is then free */
	if (rc == 0 && want == -EEXIST && r->mock && r->p[busy].finished)
		want = 0;
	FZ_CHECK(rc == want, "post of ITT 0x%08x returned %d, expected %d", t->itt, rc, want);
	TRACE("post task %d ITT 0x%08x (%d SGEs, %llu bytes): %d\n", k, t->itt, t->iovcnt, (unsigned long long)t->total,
	      rc);
	if (rc) {
		task_protect(t, false);
		return;
	}
	struct post *p = &r->p[r->nposts];
	memset(p, 0, sizeof(*p));
	p->task = k;
	p->itt = t->itt;
	t->post = r->nposts++;
}

static void do_cancel(struct run *r, uint32_t itt)
{
	freeze_next(r);
	int rc = toeless_sgl_cancel(r->ctx, itt);
	int pi = find_open_post(r, itt);
	FZ_CHECK(rc == (pi >= 0 ? 0 : -ENOENT), "cancel of ITT 0x%08x returned %d (open post %d)", itt, rc, pi);
	TRACE("cancel ITT 0x%08x: %d (fed %zu, next PDU at %zu%s)\n", itt, rc, r->fed, r->next,
	      r->dec.frozen ? ", in flight" : "");
	if (pi < 0)
		return;
	struct post *p = &r->p[pi];
	finish_post(p, -ECANCELED);
	/* a payload being placed into it right now is cut off: whatever part
	 * of it landed is allowed, the rest goes to scratch */
	if (r->dec.frozen && r->dec.post == pi && r->dec.kind == K_PLACE) {
		struct fz_pdu ref;
		fz_frame(r->s, r->len, r->next, r->digests, r->max_dsl, &ref);
		uint64_t lo = fz_be32(r->s + ref.pos + 40);
		memset(r->t[p->task].wild + lo, 1, ref.dsl);
	}
}

/* Switch parameters between PDUs, as after the final Login Response.  The
 * library takes it only at rest between PDUs: no header byte of the next
 * PDU read beyond the first 47 (raw lookahead).  The new digests and length
 * apply from the next PDU on; an engine is told that PDU's position. */
static void do_set_params(struct run *r, uint8_t op)
{
	struct toeless_ctx_params np = {
		.flags = (op >> 3) & 3,
		.max_recv_dsl = dsl_choice[(op >> 5) & 3],
	};
	if (r->mock)
		FZ_CHECK(toeless_mock_log_clear(r->dev) == 0, "mock log");
	int rc = toeless_ctx_set_params(r->ctx, &np);
	int want = r->fatal ? -ENOTCONN : r->fed - r->next < 48 ? 0 : -EBUSY;
	TRACE("set_params flags %u dsl %u at %zu (fed %zu): %d\n", np.flags, np.max_recv_dsl, r->next, r->fed, rc);
	/* what the engine was told, if it was asked */
	struct toeless_mock_call told = { .op = 0 };
	if (r->mock) {
		struct toeless_mock_call calls[8];
		int n = toeless_mock_log(r->dev, calls, 8);
		FZ_CHECK(n >= 0, "mock log");
		for (int i = 0; i < n; i++)
			if (calls[i].op == TOELESS_MOCK_OP_CTX_SET_PARAMS)
				told = calls[i];
	}
	/* an engine that cannot follow while it may hold SGLs keeps the old
	 * parameters: -EBUSY, try again when the posts are done */
	if (rc == -EBUSY && want == 0 && told.op && told.ret != 0)
		want = -EBUSY;
	FZ_CHECK(rc == want, "set_params returned %d, expected %d (next PDU at %zu, %zu bytes fed)", rc, want, r->next,
		 r->fed);
	if (rc)
		return;
	r->digests = np.flags;
	r->max_dsl = np.max_recv_dsl;
	if (told.op && told.ret == 0)
		FZ_CHECK(told.pos == r->next,
			 "the engine was told the new parameters apply from stream byte %llu; the next PDU header is "
			 "at %zu",
			 (unsigned long long)told.pos, r->next);
}

static void arm_mock(struct run *r, uint8_t groups, uint8_t b2, uint8_t b3)
{
	struct toeless_mock_fault f;
	uint32_t permille = 20 + (uint32_t)(b2 >> 3) * 30;
#define ARM(k, v, o)                                                                                                   \
	do {                                                                                                           \
		memset(&f, 0, sizeof(f));                                                                              \
		f.size = sizeof(f);                                                                                    \
		f.kind = (k);                                                                                          \
		f.flags = TOELESS_MOCK_FAULT_F_RANDOM;                                                                 \
		f.count = TOELESS_MOCK_FOREVER;                                                                        \
		f.permille = permille;                                                                                 \
		f.value = (v);                                                                                         \
		f.ops = (o);                                                                                           \
		FZ_CHECK(toeless_mock_fault_add(r->dev, &f) > 0, "arm");                                               \
	} while (0)
	if (groups & 1) {
		ARM(TOELESS_MOCK_FAULT_DATA_DIGEST, 0, 0);
		ARM(TOELESS_MOCK_FAULT_HDR_DIGEST, 0, 0);
		r->mock_dd_fault = r->mock_hd_fault = true;
	}
	if (groups & 2) {
		ARM(TOELESS_MOCK_FAULT_LOSE_SYNC, 0, 0);
		ARM(TOELESS_MOCK_FAULT_PARTIAL_PLACEMENT, b3 % 64u, 0);
	}
	if (groups & 4) {
		ARM(TOELESS_MOCK_FAULT_DELAY_RELEASE, b3 % 4u, 0);
		ARM(TOELESS_MOCK_FAULT_REORDER_COMPLETIONS, 0, 0);
		ARM(TOELESS_MOCK_FAULT_DUPLICATE_COMPLETIONS, 0, 0);
	}
	if (groups & 8)
		ARM(TOELESS_MOCK_FAULT_EXHAUSTION, 0, 0);
	if (groups & 16) {
		permille /= 8;
		ARM(TOELESS_MOCK_FAULT_DEVICE_FAILURE, 0, 0);
	}
#undef ARM
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct run r; /* static: keeps the large arrays off the stack */
	struct fz_in in = { data, size, 0 };
	memset(&r, 0, sizeof(r));
	if (trace < 0)
		trace = getenv("FUZZ_TRACE") != NULL;

	uint8_t b0 = fz_u8(&in), b1 = fz_u8(&in), b2 = fz_u8(&in), b3 = fz_u8(&in);
	r.digests = b0 & 3;
	r.mock = b0 & 4;
	r.max_dsl = dsl_choice[(b0 >> 4) & 3];
	r.ntasks = (b1 & 7) % (MAX_TASKS + 1);

	char spec[64];
	snprintf(spec, sizeof(spec), r.mock ? "mock:seed=%u,log=8" : "sw", (unsigned)b2 + 1);
	FZ_CHECK(toeless_device_open(spec, NULL, &r.dev) == 0, "open %s", spec);
	if (r.mock)
		arm_mock(&r, b1 >> 3, b2, b3);
	struct toeless_cq_attr qa = { .size = sizeof(qa), .depth = 8 };
	FZ_CHECK(toeless_cq_create(r.dev, &qa, &r.cq) == 0, "cq");

	for (int k = 0; k < r.ntasks; k++) {
		struct task *t = &r.t[k];
		uint8_t d = fz_u8(&in);
		t->iovcnt = 1 + (d & 3);
		t->itt = itt_choice[(d >> 4) & 7];
		t->post = -1;
		t->writable = true;
		for (int i = 0; i < t->iovcnt; i++) {
			size_t l = 1 + fz_u16(&in) % 4096u;
			fz_guard_alloc(&t->g[i], l);
			t->iov[i].iov_base = t->g[i].buf;
			t->iov[i].iov_len = l;
			t->total += l;
		}
		t->shadow = malloc(t->total);
		t->wild = calloc(1, t->total);
		FZ_CHECK(t->shadow && t->wild, "malloc");
		/* the fill pattern: what a byte nobody placed must still hold */
		uint64_t off = 0;
		for (int i = 0; i < t->iovcnt; i++)
			for (size_t j = 0; j < t->iov[i].iov_len; j++, off++)
				((uint8_t *)t->iov[i].iov_base)[j] = t->shadow[off] = (uint8_t)(off * 131 + k * 17 + 7);
	}
	unsigned nact = fz_u8(&in) % 16u;
	struct {
		uint16_t chunk;
		uint8_t op;
	} act[16];
	for (unsigned i = 0; i < nact; i++) {
		act[i].chunk = (uint16_t)(fz_u16(&in) % 2049u);
		act[i].op = fz_u8(&in);
	}
	r.len = in.len - in.off;
	r.s = malloc(r.len ? r.len : 1);
	FZ_CHECK(r.s, "malloc");
	memcpy(r.s, in.p + in.off, r.len);
	if (b0 & 8)
		fz_fix_digests(r.s, r.len, r.digests);

	r.tcp = b0 & 0x80;
	if (r.tcp)
		tcp_pair(r.sv);
	else
		fz_sockpair(r.sv);
	struct toeless_ctx_attr a = {
		.size = sizeof(a),
		.fd = r.sv[0],
		.cq = r.cq,
		.params = { .flags = r.digests, .max_recv_dsl = r.max_dsl },
		.user_data = 99,
	};
	FZ_CHECK(toeless_ctx_create(r.dev, &a, &r.ctx) == 0, "ctx create");
	for (int k = 0; k < r.ntasks; k++)
		do_post(&r, k);

	for (unsigned i = 0; i < nact; i++) {
		uint8_t op = act[i].op;
		feed(&r, act[i].chunk, (op & 7) == 7);
		int k = r.ntasks ? (op >> 3) % r.ntasks : 0;
		switch (op & 7) {
		case 1: do_set_params(&r, op); break;
		case 3:
			if (r.ntasks)
				do_cancel(&r, r.t[k].itt);
			break;
		case 4:
			if (r.ntasks)
				do_post(&r, k);
			break;
		case 5: poll_cq(&r); break;
		case 6: do_cancel(&r, 0xdeadbeefu); break;
		default: break;
		}
	}
	feed(&r, r.len, b0 & 0x40);
	if (!r.fatal && !r.tcp) {
		shutdown(r.sv[1], SHUT_WR);
		r.eof_sent = true;
		recv_all(&r);
		FZ_CHECK(r.fatal, "the stream ended and the context goes on");
	} else if (!r.fatal) {
		/* the connection stays up: a PDU still being placed is cut off
		 * by the destroy below */
		struct fz_pdu ref;
		fz_frame(r.s, r.len, r.next, r.digests, r.max_dsl, &ref);
		if (ref.hdr_complete && !ref.fatal) {
			struct decision d = r.dec.frozen ? r.dec : decide(&r, &ref);
			if (d.kind == K_PLACE && !r.p[d.post].finished)
				memset(r.t[r.p[d.post].task].wild + fz_be32(r.s + ref.pos + 40), 1, ref.dsl);
		}
	}
	poll_cq(&r);

	/* destroy: every post still open completes as cancelled */
	for (int i = 0; i < r.nposts; i++)
		if (!r.p[i].finished)
			finish_post(&r.p[i], -ECANCELED);
	FZ_CHECK(toeless_ctx_destroy(r.ctx) == 0, "destroy");
	poll_cq(&r);
	FZ_CHECK(r.error_seen == (r.fatal != 0), "ERROR completion seen %d, context failed with %d", r.error_seen,
		 r.fatal);
	for (int i = 0; i < r.nposts; i++)
		FZ_CHECK(r.p[i].completed, "post %d (ITT 0x%08x) never completed", i + 1, r.p[i].itt);
	FZ_CHECK(toeless_cq_destroy(r.cq) == 0, "cq destroy");
	FZ_CHECK(toeless_device_close(r.dev) == 0, "device close");

	for (int k = 0; k < r.ntasks; k++) {
		struct task *t = &r.t[k];
		check_shadow(&r, t, "end");
		for (int i = 0; i < t->iovcnt; i++)
			fz_guard_free(&t->g[i]);
		free(t->shadow);
		free(t->wild);
	}
	for (int i = 0; i < r.nposts; i++)
		free(r.p[i].r);
	if (r.tcp) {
		tcp_drain(r.sv[0]);
	} else {
		close(r.sv[0]);
		close(r.sv[1]);
	}
	free(r.s);
	return 0;
}
