/*
 * toeless-iscsi: connections and the full-feature phase.
 *
 * One libuv loop drives everything.  It waits on two descriptors:
 *   - the TCP socket (uv_poll): readable -> toeless_pdu_recv() until -EAGAIN;
 *     writable -> toeless_ctx_flush() of a partly sent PDU;
 *   - the completion queue (uv_poll on toeless_cq_fd()): SGL completions say
 *     when a READ's buffer is the caller's again.
 *
 * A READ posts its buffer with toeless_sgl_post() under the command's ITT
 * before the command goes out, so every Data-In payload for it lands straight
 * in the caller's buffer (engine or software readv), digest checked.  The
 * initiator still sees every PDU header and keeps its own state machines:
 * CmdSN window, StatSN, DataSN, R2TSN.
 *
 * Every PDU goes out through toeless_pdu_send(), which adds the digests and
 * pads; a partly sent PDU is finished by toeless_ctx_flush() when the socket
 * becomes writable, and nothing else is sent until then.
 *
 * Recovery is ErrorRecoveryLevel 0: any digest error, protocol error or lost
 * connection drops the connection; the session logs in again (same ISID,
 * TSIH 0: the target reinstates the session) and sends every outstanding
 * command again, in the original order.  Data from a failed connection is
 * never reported: a task completes only on a connection where its status and
 * all its data arrived with good digests.  After cfg->retries consecutive
 * failures without one completed command, the session gives up.
 *
 * SPDX-License-Identifier: MIT
 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <fcntl.h>

#include "iscsi_session.h"

#define TICK_MS 250

int verbose;

static void log_stderr(int level, const char *msg, void *arg)
{
	(void)arg;
	if (level == ISCSI_LOG_DEBUG && !verbose)
		return;
	fprintf(stderr, "toeless-iscsi: %s\n", msg);
}

static iscsi_log_fn log_fn = log_stderr;
static void *log_arg;

void iscsi_log_set(iscsi_log_fn fn, void *arg)
{
	log_fn = fn ? fn : log_stderr;
	log_arg = arg;
}

static void vlog_at(int level, const char *fmt, va_list ap)
{
	char msg[1024];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	log_fn(level, msg, log_arg);
}

void iscsi_log(int level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog_at(level, fmt, ap);
	va_end(ap);
}

void vlog(const char *fmt, ...)
{
	va_list ap;

	if (!verbose)
		return; /* not even formatted */
	va_start(ap, fmt);
	vlog_at(ISCSI_LOG_DEBUG, fmt, ap);
	va_end(ap);
}

uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

uint32_t make_itt(struct session *s, unsigned slot)
{
	s->itt_seq = (s->itt_seq + 1) & 0x7fff;
	return s->itt_seq << 16 | slot;
}

void session_fatal(struct session *s, int code, const char *fmt, ...)
{
	va_list ap;

	if (s->fatal)
		return; /* the first reason is the one reported */
	s->fatal = code;
	va_start(ap, fmt);
	vsnprintf(s->errmsg, sizeof(s->errmsg), fmt, ap);
	va_end(ap);
	if (s->conn)
		conn_fail(s->conn, code, "%s", s->errmsg);
	/* every wait loop checks s->fatal after each uv_run(UV_RUN_ONCE) */
}

/* ------------------------------------------------------------------------ */
/* Transmit queue.                                                             */

/* A control PDU (login, NOP-Out, logout, TMF) with a copy of its data. */
struct tx_item {
	struct tx_item *next;
	bool ping_reply; /* answers a NOP-In of the target: counted against the bound */
	uint8_t bhs[48];
	uint32_t len;
	uint8_t data[];
};

/* A Data-Out sequence still to send: unsolicited, or the answer to one R2T. */
struct dataout_job {
	struct dataout_job *next;
	struct task *t;
	uint32_t ttt;
	uint32_t offset, end; /* bytes [offset, end) of the task's buffer still to send */
	uint32_t datasn;
	bool solicited;
};

static void conn_pump(struct conn *c);
static void session_drain_cq(struct session *s);
static void task_finish(struct session *s, struct task *t);
static void conn_connect(struct session *s);
static void on_socket(uv_poll_t *h, int status, int events);
static void conn_resume(struct conn *c);

static void poll_update(struct conn *c)
{
	int ev;

	if (c->state == CONN_DEAD)
		return;
	if (c->state == CONN_CONNECTING)
		ev = UV_WRITABLE;
	else
		ev = (c->rx_paused ? 0 : UV_READABLE | UV_DISCONNECT) | (c->tx_busy ? UV_WRITABLE : 0);
	if (ev != c->poll_events) {
		if (ev)
			uv_poll_start(&c->poll, ev, on_socket);
		else
			uv_poll_stop(&c->poll);
		c->poll_events = ev;
	}
}

static void tx_free(struct conn *c, struct tx_item *it)
{
	if (it && it->ping_reply) {
		c->ping_replies--;
		c->ping_reply_bytes -= it->len;
	}
	free(it);
}

static int conn_queue(struct conn *c, const uint8_t bhs[48], const void *data, uint32_t len, bool ping_reply)
{
	struct tx_item *it;

	if (c->state == CONN_DEAD)
		return -ENOTCONN;
	it = malloc(sizeof(*it) + len);
	if (!it) {
		conn_fail(c, EXIT_LOCAL, "out of memory");
		return -ENOMEM;
	}
	it->next = NULL;
	it->ping_reply = ping_reply;
	if (ping_reply) {
		c->ping_replies++;
		c->ping_reply_bytes += len;
	}
	memcpy(it->bhs, bhs, 48);
	it->len = len;
	if (len)
		memcpy(it->data, data, len);
	if (c->tx_tail)
		c->tx_tail->next = it;
	else
		c->tx_head = it;
	c->tx_tail = it;
	conn_pump(c);
	return c->state == CONN_DEAD ? -ENOTCONN : 0;
}

int conn_send_control(struct conn *c, const uint8_t bhs[48], const void *data, uint32_t len)
{
	return conn_queue(c, bhs, data, len, false);
}

static void job_append(struct conn *c, struct dataout_job *j)
{
	j->next = NULL;
	if (c->do_tail)
		c->do_tail->next = j;
	else
		c->do_head = j;
	c->do_tail = j;
	j->t->dataout_jobs++;
}

/* Forget the Data-Out still queued for a task (it completed early). */
static void jobs_drop(struct conn *c, struct task *t)
{
	struct dataout_job **pp = &c->do_head, *last = NULL;

	while (*pp) {
		struct dataout_job *j = *pp;
		if (j->t == t) {
			*pp = j->next;
			t->dataout_jobs--;
			free(j);
		} else {
			last = j;
			pp = &j->next;
		}
	}
	c->do_tail = last;
}

static void window_update_values(struct session *s, uint32_t exp, uint32_t max)
{
	/* RFC 7143 4.2.2.1: ignore MaxCmdSN < ExpCmdSN - 1; otherwise only move forward */
	if (sn_lt(max, exp - 1))
		return;
	if (sn_lt(s->exp_cmdsn, exp))
		s->exp_cmdsn = exp;
	if (sn_lt(s->max_cmdsn, max))
		s->max_cmdsn = max;
}

void session_update_window(struct session *s, const uint8_t *bhs)
{
	window_update_values(s, get_be32(bhs + 28), get_be32(bhs + 32));
}

void session_login_window(struct session *s, const uint8_t *bhs)
{
	uint32_t exp = get_be32(bhs + 28), max = get_be32(bhs + 32);

	/* a new session: the target's values stand as they are, a closed
	 * window (MaxCmdSN = ExpCmdSN - 1) included */
	if (sn_lt(max, exp - 1))
		return;
	s->exp_cmdsn = exp;
	s->max_cmdsn = max;
}

/* A PDU that carries and advances StatSN. */
static void statsn_update(struct session *s, const uint8_t *bhs)
{
	uint32_t sn = get_be32(bhs + 24);

	if (sn != s->exp_statsn) {
		s->st.statsn_gaps++;
		vlog("StatSN %u, expected %u", sn, s->exp_statsn);
	}
	if (!sn_lt(sn, s->exp_statsn))
		s->exp_statsn = sn + 1;
}

/* ------------------------------------------------------------------------ */
/* Building outgoing PDUs.                                                     */

static void build_command(struct conn *c, struct task *t, uint8_t *bhs, struct iovec *iov, int *iovcnt)
{
	struct session *s = c->s;
	const struct iscsi_params *p = &c->params;
	uint8_t flags = CMD_ATTR_SIMPLE;

	t->itt = make_itt(s, t->idx);
	t->cmdsn = s->cmdsn++;
	t->conn_gen = c->gen;
	t->state = TASK_ACTIVE;
	t->attempts++;
	t->status_seen = t->sgl_done = t->sgl_posted = false;
	t->exp_datasn = t->exp_r2tsn = 0;
	t->bytes_in = 0;
	t->bytes_placed = 0;
	t->bytes_valid = 0;
	t->in_order = 0;
	t->sent_ms = now_ms();
	t->scsi_status = 0;
	t->residual = 0;
	t->underflow = t->overflow = false;
	memset(&t->sense, 0, sizeof(t->sense));

	memset(bhs, 0, 48);
	bhs[0] = OP_SCSI_CMD;
	lun_encode(bhs + 8, s->cfg->lun);
	put_be32(bhs + 16, t->itt);
	put_be32(bhs + 20, t->len);
	put_be32(bhs + 24, t->cmdsn);
	memcpy(bhs + 32, t->cdb, 16);
	*iovcnt = 0;

	if (t->dir == DIR_READ) {
		/* Post the buffer before the command leaves: Data-In can follow at once. */
		struct iovec sgl = { .iov_base = t->buf, .iov_len = t->len };
		uint64_t cookie = (uint64_t)c->gen << 32 | t->idx;
		int rc = toeless_sgl_post(c->ctx, t->itt, &sgl, 1, cookie);
		if (rc == 0) {
			t->sgl_posted = t->sgl_held = true;
			t->sgl_gen = c->gen;
		} else if (rc == -ENOSPC || rc == -ENOMEM || rc == -E2BIG) {
			/* not placed: Data-In comes in pdu.data and is copied */
			vlog("ITT 0x%08x: SGL not posted (%s), copying", t->itt, toeless_strerror(rc));
		} else {
			conn_fail(c, EXIT_CONN, "toeless_sgl_post: %s", toeless_strerror(rc));
			return;
		}
		flags |= BHS_FINAL | CMD_READ;
	} else if (t->dir == DIR_WRITE) {
		uint32_t imm = 0, unsol;
		if (p->immediate_data) {
			imm = t->len;
			if (imm > p->first_burst)
				imm = p->first_burst;
			if (imm > p->max_send_dsl)
				imm = p->max_send_dsl;
		}
		unsol = imm;
		if (!p->initial_r2t)
			unsol = t->len < p->first_burst ? t->len : p->first_burst;
		if (imm) {
			iov[0].iov_base = t->buf;
			iov[0].iov_len = imm;
			*iovcnt = 1;
			s->st.immediate_bytes += imm;
		}
		if (unsol > imm) {
			struct dataout_job *j = calloc(1, sizeof(*j));
			if (!j) {
				conn_fail(c, EXIT_LOCAL, "out of memory");
				return;
			}
			j->t = t;
			j->ttt = RESERVED_TAG;
			j->offset = imm;
			j->end = unsol;
			job_append(c, j);
		} else {
			flags |= BHS_FINAL; /* no unsolicited Data-Out follows */
		}
		flags |= CMD_WRITE;
	} else {
		flags |= BHS_FINAL;
	}
	bhs[1] = flags;
}

static void build_dataout(struct conn *c, uint8_t *bhs, struct iovec *iov)
{
	struct session *s = c->s;
	struct dataout_job *j = c->do_head;
	struct task *t = j->t;
	uint32_t n = j->end - j->offset;
	bool final;

	if (n > c->params.max_send_dsl)
		n = c->params.max_send_dsl;
	final = j->offset + n == j->end;
	memset(bhs, 0, 48);
	bhs[0] = OP_DATA_OUT;
	bhs[1] = final ? BHS_FINAL : 0;
	lun_encode(bhs + 8, s->cfg->lun);
	put_be32(bhs + 16, t->itt);
	put_be32(bhs + 20, j->ttt);
	put_be32(bhs + 36, j->datasn++);
	put_be32(bhs + 40, j->offset);
	iov->iov_base = t->buf + j->offset;
	iov->iov_len = n;
	j->offset += n;
	s->st.data_out_pdus++;
	if (j->solicited)
		s->st.solicited_bytes += n;
	else
		s->st.unsolicited_bytes += n;
	if (final) {
		c->do_head = j->next;
		if (!c->do_head)
			c->do_tail = NULL;
		t->dataout_jobs--;
		free(j);
	}
}

bool window_open(struct session *s)
{
	return sn_le(s->cmdsn, s->max_cmdsn);
}

/*
 * Send what can be sent, in this order: control PDUs, Data-Out, then new
 * commands while the CmdSN window is open.  Stops when a PDU is only partly
 * sent: the socket's writable event resumes it.
 */
static void conn_pump(struct conn *c)
{
	struct session *s = c->s;

	while (!c->tx_busy && (c->state == CONN_LOGIN || c->state == CONN_FFP || c->state == CONN_LOGOUT)) {
		uint8_t bhs[48];
		struct iovec iov[1];
		int iovcnt = 0, rc;
		struct tx_item *it = NULL;

		if (c->tx_head) {
			it = c->tx_head;
			c->tx_head = it->next;
			if (!c->tx_head)
				c->tx_tail = NULL;
			memcpy(bhs, it->bhs, 48);
			if (it->len) {
				iov[0].iov_base = it->data;
				iov[0].iov_len = it->len;
				iovcnt = 1;
			}
		} else if (c->state != CONN_FFP) {
			break;
		} else if (c->do_head) {
			build_dataout(c, bhs, iov);
			iovcnt = iov[0].iov_len ? 1 : 0;
		} else if (s->pend_head && !s->pend_head->sgl_held) {
			if (!window_open(s)) {
				/* the deadline of escalate.c runs from here */
				if (!c->window_closed_ms) {
					c->window_closed_ms = now_ms();
					s->st.cmd_window_stalls++;
				}
				break;
			}
			c->window_closed_ms = 0;
			struct task *t = s->pend_head;
			s->pend_head = t->next;
			if (!s->pend_head)
				s->pend_tail = NULL;
			t->next = NULL;
			build_command(c, t, bhs, iov, &iovcnt);
			if (c->state == CONN_DEAD)
				break;
		} else {
			break;
		}
		put_be32(bhs + 28, s->exp_statsn); /* ExpStatSN as of now, in every PDU */
		rc = toeless_pdu_send(c->ctx, bhs, NULL, 0, iovcnt ? iov : NULL, iovcnt);
		if (rc == 0) {
			tx_free(c, it);
		} else if (rc == -EINPROGRESS) {
			c->tx_busy = true;
			c->tx_inflight = it; /* its data must stay until the PDU is out */
			poll_update(c);
		} else {
			tx_free(c, it);
			conn_fail(c, EXIT_CONN, "sending a PDU failed: %s", toeless_strerror(rc));
		}
	}
}

static void send_ping(struct conn *c)
{
	struct session *s = c->s;
	uint8_t bhs[48] = { 0 };

	bhs[0] = BHS_IMMEDIATE | OP_NOP_OUT;
	bhs[1] = BHS_FINAL;
	c->ping_itt = make_itt(s, ITT_SLOT_PING);
	put_be32(bhs + 16, c->ping_itt);
	put_be32(bhs + 20, RESERVED_TAG);
	put_be32(bhs + 24, s->cmdsn); /* immediate: CmdSN is not advanced */
	c->ping_outstanding = true;
	c->ping_sent_ms = now_ms();
	s->st.nop_out_pings++;
	conn_send_control(c, bhs, NULL, 0);
}

/* ------------------------------------------------------------------------ */
/* Tasks.                                                                      */

static struct task *task_by_itt(struct conn *c, uint32_t itt)
{
	struct session *s = c->s;
	unsigned slot = itt & 0xffff;
	struct task *t;

	if (slot >= s->ntasks)
		return NULL;
	t = &s->tasks[slot];
	if (t->state != TASK_ACTIVE || t->itt != itt || t->conn_gen != c->gen)
		return NULL;
	return t;
}

struct task *task_get(struct session *s)
{
	for (unsigned i = 0; i < s->ntasks; i++) {
		struct task *t = &s->tasks[i];
		if (t->state == TASK_FREE && !t->sgl_held) {
			memset(t, 0, sizeof(*t));
			t->idx = i;
			t->state = TASK_IDLE;
			return t;
		}
	}
	return NULL;
}

void task_put(struct session *s, struct task *t)
{
	(void)s;
	t->state = TASK_FREE;
}

static void pending_append(struct session *s, struct task *t)
{
	t->state = TASK_PENDING;
	t->next = NULL;
	if (s->pend_tail)
		s->pend_tail->next = t;
	else
		s->pend_head = t;
	s->pend_tail = t;
}

void task_submit(struct session *s, struct task *t)
{
	t->seq = ++s->task_seq;
	t->attempts = 0;
	t->retries = 0;
	s->active++;
	s->st.commands++;
	pending_append(s, t);
	if (s->conn && s->conn->state == CONN_FFP)
		conn_pump(s->conn);
}

/* Put a task back in the pending queue at its place in submission order. */
static void pending_insert(struct session *s, struct task *t)
{
	struct task **pp = &s->pend_head, *prev = NULL;

	while (*pp && (*pp)->seq < t->seq) {
		prev = *pp;
		pp = &(*pp)->next;
	}
	t->state = TASK_PENDING;
	t->next = *pp;
	*pp = t;
	if (!t->next)
		s->pend_tail = t;
	(void)prev;
}

void task_recall(struct conn *c, struct task *t)
{
	struct session *s = c->s;

	if (t->state != TASK_ACTIVE || t->conn_gen != c->gen)
		return;
	/* pending first: the cancel's completion only hands the buffer back */
	pending_insert(s, t);
	if (t->sgl_posted && !t->sgl_done && c->ctx && toeless_sgl_cancel(c->ctx, t->itt) != 0)
		vlog("ITT 0x%08x: its post was already finishing", t->itt);
	t->sgl_posted = false;
	if (t->dataout_jobs)
		jobs_drop(c, t);
	s->st.commands_reissued++;
}

/*
 * How many leading bytes of a READ's buffer arrived with no hole.  Placed
 * by the library: what it says in the completion (it knows every range it
 * placed); copied by us: the bytes that arrived in order from offset 0
 * (DataPDUInOrder=Yes: a Data-In starts where the previous one ended).
 */
static uint64_t read_bytes_valid(const struct task *t)
{
	return t->sgl_posted ? t->bytes_valid : t->in_order;
}

/* Called when the task has its status and (for a READ) its buffer back. */
static void task_maybe_done(struct conn *c, struct task *t)
{
	struct session *s = c->s;

	if (!t->status_seen || (t->sgl_posted && !t->sgl_done) || t->dataout_jobs)
		return;
	if (t->dir == DIR_READ && t->scsi_status == SCSI_GOOD) {
		/* the target says how many bytes it sent: exactly those, from 0, with no hole */
		uint64_t valid = read_bytes_valid(t);
		uint64_t got = t->sgl_posted ? t->bytes_placed : t->bytes_in;
		uint64_t want = t->len - (t->underflow && t->residual <= t->len ? t->residual : 0);
		if (t->overflow || (t->underflow && t->residual > t->len) || valid != want || got != want) {
			conn_fail(c, EXIT_CONN,
				  "READ ITT 0x%08x: the target reported %llu bytes (residual %u%s), but %llu arrived, "
				  "the first %llu of them with no hole",
				  t->itt, (unsigned long long)want, t->residual,
				  t->overflow    ? ", overflow"
				  : t->underflow ? ", underflow"
						 : "",
				  (unsigned long long)got, (unsigned long long)valid);
			return;
		}
		t->bytes_valid = valid;
	}
	/* The command finished with every digest good: the connection works. */
	s->failures = 0;
	s->fail_class = EXIT_CONN;
	/* Transient conditions: send the command again. */
	if (t->retries < 32 &&
	    ((t->scsi_status == SCSI_CHECK_CONDITION && t->sense.valid && t->sense.key == SENSE_UNIT_ATTENTION) ||
	     t->scsi_status == SCSI_BUSY || t->scsi_status == SCSI_TASK_SET_FULL)) {
		t->retries++;
		if (t->scsi_status == SCSI_CHECK_CONDITION)
			s->st.unit_attentions++;
		else
			s->st.busy_retries++;
		vlog("ITT 0x%08x: %s, sending it again", t->itt,
		     t->scsi_status == SCSI_CHECK_CONDITION ? "UNIT ATTENTION" : scsi_status_str(t->scsi_status));
		pending_append(s, t);
		return;
	}
	task_finish(s, t);
}

static void task_finish(struct session *s, struct task *t)
{
	t->state = TASK_IDLE;
	s->active--;
	if (t->dir == DIR_READ)
		s->st.bytes_read += t->len - (t->underflow ? t->residual : 0);
	else if (t->dir == DIR_WRITE && t->scsi_status == SCSI_GOOD)
		s->st.bytes_written += t->len;
	if (t->done)
		t->done(s, t);
}

/* After a connection failure: every command in flight goes back to the front
 * of the pending queue, in the order it was first submitted. */
static void requeue_active(struct session *s)
{
	struct task *list = NULL;
	unsigned n = 0;

	for (unsigned i = 0; i < s->ntasks; i++)
		if (s->tasks[i].state == TASK_ACTIVE)
			n++;
	if (!n)
		return;
	struct task **v = malloc(n * sizeof(*v));
	if (!v) {
		session_fatal(s, EXIT_LOCAL, "out of memory");
		return;
	}
	n = 0;
	for (unsigned i = 0; i < s->ntasks; i++)
		if (s->tasks[i].state == TASK_ACTIVE)
			v[n++] = &s->tasks[i];
	/* insertion sort by seq: n is the queue depth at most */
	for (unsigned i = 1; i < n; i++) {
		struct task *x = v[i];
		unsigned j = i;
		while (j > 0 && v[j - 1]->seq > x->seq) {
			v[j] = v[j - 1];
			j--;
		}
		v[j] = x;
	}
	s->st.commands_reissued += n;
	for (unsigned i = n; i-- > 0;) {
		v[i]->state = TASK_PENDING;
		v[i]->sgl_posted = false;
		/* the UNIT ATTENTION / BUSY budget is per connection: a reinstated
		 * session gives its first command a UNIT ATTENTION every time */
		v[i]->retries = 0;
		v[i]->next = list;
		list = v[i];
	}
	v[n - 1]->next = s->pend_head;
	if (!s->pend_head)
		s->pend_tail = v[n - 1];
	s->pend_head = list;
	free(v);
}

/* ------------------------------------------------------------------------ */
/* Incoming PDUs.                                                              */

/* Every opcode of RFC 7143 section 11.1.1; the rest are reserved. */
const char *iscsi_opcode_str(uint8_t op)
{
	switch (op & 0x3f) {
	case OP_NOP_OUT: return "NOP-Out";
	case OP_SCSI_CMD: return "SCSI Command";
	case OP_TMF_REQ: return "Task Management Function Request";
	case OP_LOGIN_REQ: return "Login Request";
	case OP_TEXT_REQ: return "Text Request";
	case OP_DATA_OUT: return "SCSI Data-Out";
	case OP_LOGOUT_REQ: return "Logout Request";
	case OP_SNACK_REQ: return "SNACK Request";
	case 0x1c:
	case 0x1d:
	case 0x1e: return "vendor-specific initiator";
	case OP_NOP_IN: return "NOP-In";
	case OP_SCSI_RSP: return "SCSI Response";
	case OP_TMF_RSP: return "Task Management Function Response";
	case OP_LOGIN_RSP: return "Login Response";
	case OP_TEXT_RSP: return "Text Response";
	case OP_DATA_IN: return "SCSI Data-In";
	case OP_LOGOUT_RSP: return "Logout Response";
	case OP_R2T: return "Ready To Transfer (R2T)";
	case OP_ASYNC: return "Asynchronous Message";
	case 0x3c:
	case 0x3d:
	case 0x3e: return "vendor-specific target";
	case OP_REJECT: return "Reject";
	default: return "reserved";
	}
}

static void rx_data_in(struct conn *c, const struct toeless_pdu *pdu)
{
	struct session *s = c->s;
	const uint8_t *bhs = pdu->bhs;
	struct task *t = task_by_itt(c, pdu->itt);
	uint32_t datasn = get_be32(bhs + 36);

	if (!t || t->dir != DIR_READ) {
		conn_fail(c, EXIT_CONN, "Data-In for ITT 0x%08x, which is no READ in flight", pdu->itt);
		return;
	}
	if (datasn != t->exp_datasn) {
		conn_fail(c, EXIT_CONN, "Data-In DataSN %u for ITT 0x%08x, expected %u (lost or reordered PDU)", datasn,
			  t->itt, t->exp_datasn);
		return;
	}
	t->exp_datasn++;
	session_update_window(s, bhs);
	s->st.data_in_pdus++;
	if (!t->sgl_posted && get_be32(bhs + 40) == t->in_order)
		t->in_order += pdu->data_len; /* copied by us: a gap is never filled later (DataPDUInOrder=Yes) */
	if (pdu->flags & TOELESS_PDU_F_PLACED) {
		s->st.data_in_placed++;
		t->bytes_in += pdu->data_len;
	} else if (t->sgl_posted) {
		conn_fail(c, EXIT_CONN, "Data-In for posted ITT 0x%08x delivered unplaced", t->itt);
		return;
	} else if (pdu->data_len) {
		/* slow path: the library could not take the post, copy the payload */
		uint32_t off = get_be32(bhs + 40);
		if (off > t->len || pdu->data_len > t->len - off) {
			conn_fail(c, EXIT_CONN, "Data-In bytes %u..%u past the %u-byte buffer of ITT 0x%08x", off,
				  off + pdu->data_len, t->len, t->itt);
			return;
		}
		memcpy(t->buf + off, pdu->data, pdu->data_len);
		s->st.data_in_copied++;
		t->bytes_in += pdu->data_len;
	}
	if (bhs[1] & DATAIN_STATUS) {
		statsn_update(s, bhs);
		t->scsi_status = bhs[3];
		t->underflow = bhs[1] & DATAIN_UNDERFLOW;
		t->overflow = bhs[1] & DATAIN_OVERFLOW;
		t->residual = get_be32(bhs + 44);
		t->status_seen = true;
		task_maybe_done(c, t);
	}
}

static void rx_scsi_response(struct conn *c, const struct toeless_pdu *pdu)
{
	struct session *s = c->s;
	const uint8_t *bhs = pdu->bhs;
	struct task *t = task_by_itt(c, pdu->itt);

	if (!t) {
		conn_fail(c, EXIT_CONN, "SCSI Response for unknown ITT 0x%08x", pdu->itt);
		return;
	}
	statsn_update(s, bhs);
	session_update_window(s, bhs);
	if (bhs[2] != 0) {
		session_fatal(s, EXIT_SCSI, "command 0x%02x failed at the target: iSCSI response 0x%02x (%s)",
			      t->cdb[0], bhs[2], bhs[2] == 1 ? "target failure" : "unknown");
		return;
	}
	/*
	 * ExpDataSN: how many Data-In PDUs the target sent for a READ.  tgtd
	 * leaves it 0, so only a non-zero value is held against our count (each
	 * Data-In's DataSN and the bytes placed are checked anyway).
	 */
	if (t->dir == DIR_READ && get_be32(bhs + 36) && get_be32(bhs + 36) != t->exp_datasn) {
		conn_fail(c, EXIT_CONN, "SCSI Response for ITT 0x%08x counts %u Data-In PDUs, %u arrived", t->itt,
			  get_be32(bhs + 36), t->exp_datasn);
		return;
	}
	t->scsi_status = bhs[3];
	t->underflow = bhs[1] & RSP_UNDERFLOW;
	t->overflow = bhs[1] & RSP_OVERFLOW;
	t->residual = get_be32(bhs + 44);
	if (pdu->data && pdu->data_len >= 2) {
		uint32_t sl = get_be16(pdu->data);
		if (sl > pdu->data_len - 2)
			sl = pdu->data_len - 2;
		t->sense = sense_parse(pdu->data + 2, sl);
	}
	t->status_seen = true;
	if (t->dataout_jobs)
		jobs_drop(c, t); /* the target is done with this write */
	task_maybe_done(c, t);
}

static void rx_r2t(struct conn *c, const struct toeless_pdu *pdu)
{
	struct session *s = c->s;
	const uint8_t *bhs = pdu->bhs;
	struct task *t = task_by_itt(c, pdu->itt);
	uint32_t r2tsn = get_be32(bhs + 36), off = get_be32(bhs + 40), len = get_be32(bhs + 44);
	struct dataout_job *j;

	if (!t || t->dir != DIR_WRITE) {
		conn_fail(c, EXIT_CONN, "R2T for ITT 0x%08x, which is no WRITE in flight", pdu->itt);
		return;
	}
	session_update_window(s, bhs);
	if (r2tsn != t->exp_r2tsn) {
		conn_fail(c, EXIT_CONN, "R2TSN %u for ITT 0x%08x, expected %u", r2tsn, t->itt, t->exp_r2tsn);
		return;
	}
	t->exp_r2tsn++;
	if (len == 0 || off > t->len || len > t->len - off) {
		conn_fail(c, EXIT_CONN, "R2T for bytes %u..%u of a %u-byte WRITE", off, off + len, t->len);
		return;
	}
	if (len > c->params.max_burst)
		vlog("R2T asks for %u bytes, above MaxBurstLength %u", len, c->params.max_burst);
	j = calloc(1, sizeof(*j));
	if (!j) {
		conn_fail(c, EXIT_LOCAL, "out of memory");
		return;
	}
	j->t = t;
	j->ttt = get_be32(bhs + 20);
	j->offset = off;
	j->end = off + len;
	j->solicited = true;
	job_append(c, j);
	s->st.r2t_received++;
}

static void rx_nop_in(struct conn *c, const struct toeless_pdu *pdu)
{
	struct session *s = c->s;
	const uint8_t *bhs = pdu->bhs;
	uint32_t ttt = get_be32(bhs + 20);

	session_update_window(s, bhs);
	if (ttt != RESERVED_TAG) {
		/* The target pings us: answer with a NOP-Out echoing TTT, LUN and data. */
		uint8_t out[48] = { 0 };
		out[0] = BHS_IMMEDIATE | OP_NOP_OUT;
		out[1] = BHS_FINAL;
		memcpy(out + 8, bhs + 8, 8);
		put_be32(out + 16, RESERVED_TAG);
		put_be32(out + 20, ttt);
		put_be32(out + 24, s->cmdsn);
		s->st.target_pings_answered++;
		conn_queue(c, out, pdu->data, pdu->data ? pdu->data_len : 0, true);
		if (c->state == CONN_DEAD)
			return;
		if (c->ping_replies > s->st.ping_replies_peak)
			s->st.ping_replies_peak = c->ping_replies;
		if (c->ping_reply_bytes > s->st.ping_reply_bytes_peak)
			s->st.ping_reply_bytes_peak = c->ping_reply_bytes;
		/*
		 * Every ping must be answered (RFC 7143 11.19), so none is dropped;
		 * while the answers cannot be sent we stop reading instead, and TCP
		 * holds the target's further pings back.  conn_resume() reads again.
		 */
		if (!c->rx_paused &&
		    (c->ping_replies >= PING_REPLIES_MAX || c->ping_reply_bytes >= PING_REPLY_BYTES_MAX)) {
			c->rx_paused = true;
			s->st.rx_pauses++;
			vlog("%u answers to the target's pings (%zu bytes) wait to be sent: not reading until "
			     "half are out",
			     c->ping_replies, c->ping_reply_bytes);
			poll_update(c);
		}
	} else if (pdu->itt != RESERVED_TAG) {
		/* the answer to our ping: it advances StatSN */
		statsn_update(s, bhs);
		if (c->ping_outstanding && pdu->itt == c->ping_itt) {
			c->ping_outstanding = false;
			s->st.nop_in_replies++;
		} else {
			vlog("NOP-In for ITT 0x%08x, no ping of ours", pdu->itt);
		}
	}
}

static void conn_teardown(struct conn *c);

static void rx_logout_response(struct conn *c, const struct toeless_pdu *pdu)
{
	struct session *s = c->s;

	statsn_update(s, pdu->bhs);
	if (c->state != CONN_LOGOUT || pdu->itt != c->logout_itt) {
		conn_fail(c, EXIT_CONN, "unexpected Logout Response");
		return;
	}
	if (pdu->bhs[2] != 0)
		iscsi_log(ISCSI_LOG_WARN, "logout response 0x%02x (closing anyway)", pdu->bhs[2]);
	vlog("logged out");
	s->logout_done = true;
	conn_teardown(c);
}

static void rx_reject(struct conn *c, const struct toeless_pdu *pdu)
{
	struct session *s = c->s;
	uint8_t reason = pdu->bhs[2];
	uint8_t op = pdu->data && pdu->data_len >= 48 ? pdu->data[0] & 0x3f : 0xff;

	statsn_update(s, pdu->bhs);
	session_update_window(s, pdu->bhs);
	s->st.rejects++;
	conn_fail(c, EXIT_CONN, "target rejected a PDU (opcode 0x%02x): reason 0x%02x", op, reason);
}

static void rx_async(struct conn *c, const struct toeless_pdu *pdu)
{
	struct session *s = c->s;
	uint8_t event = pdu->bhs[36];

	statsn_update(s, pdu->bhs);
	session_update_window(s, pdu->bhs);
	s->st.async_events++;
	switch (event) {
	case 0: vlog("asynchronous SCSI event"); break;
	case 1: conn_fail(c, EXIT_CONN, "target requested logout"); break;
	case 2:
	case 3: conn_fail(c, EXIT_CONN, "target announced it drops the connection (async event %u)", event); break;
	default: vlog("async event %u ignored", event);
	}
}

static void login_done(struct conn *c)
{
	struct session *s = c->s;
	const struct iscsi_params *p = &c->login.result;
	struct toeless_ctx_params tp = {
		.flags = (p->header_digest ? TOELESS_CTX_HEADER_DIGEST : 0u) |
			 (p->data_digest ? TOELESS_CTX_DATA_DIGEST : 0u),
		.max_recv_dsl = p->max_recv_dsl,
		.max_send_dsl = p->max_send_dsl,
	};
	int rc;

	c->params = *p;
	s->params = *p;
	/* From the next PDU on, the library adds and checks the negotiated digests. */
	rc = toeless_ctx_set_params(c->ctx, &tp);
	if (rc) {
		conn_fail(c, EXIT_CONN, "toeless_ctx_set_params: %s", toeless_strerror(rc));
		return;
	}
	c->state = CONN_FFP;
	c->last_rx_ms = now_ms();
	s->logged_in = true;
	s->st.logins++;
	vlog("logged in to %s (TSIH %u): HeaderDigest=%s DataDigest=%s MaxRecvDataSegmentLength=%u/%u "
	     "MaxBurstLength=%u FirstBurstLength=%u ImmediateData=%s InitialR2T=%s MaxOutstandingR2T=%u",
	     s->cfg->target ? s->cfg->target : "the discovery session", c->login.tsih,
	     p->header_digest ? "CRC32C" : "None", p->data_digest ? "CRC32C" : "None", p->max_recv_dsl, p->max_send_dsl,
	     p->max_burst, p->first_burst, p->immediate_data ? "Yes" : "No", p->initial_r2t ? "Yes" : "No",
	     p->max_outstanding_r2t);
	if (s->ever_logged_in) {
		unsigned n = 0;
		for (struct task *t = s->pend_head; t; t = t->next)
			n += t->attempts > 0;
		iscsi_log(ISCSI_LOG_WARN, "logged in again; sending %u outstanding command%s again", n,
			  n == 1 ? "" : "s");
	}
	s->ever_logged_in = true;
	login_free(&c->login);
	/* a first NOP-Out: liveness, and the target's answer is cheap; not on a
	 * discovery session, where tgtd closes the connection on a NOP-Out */
	if (!s->cfg->discovery)
		send_ping(c);
	if (c->state == CONN_FFP)
		conn_pump(c);
}

static void rx_dispatch(struct conn *c, const struct toeless_pdu *pdu)
{
	if (c->state == CONN_LOGIN) {
		int rc = login_rx(c, pdu);
		if (rc == 1)
			login_done(c);
		return;
	}
	switch (pdu->opcode) {
	case OP_DATA_IN: rx_data_in(c, pdu); break;
	case OP_SCSI_RSP: rx_scsi_response(c, pdu); break;
	case OP_R2T: rx_r2t(c, pdu); break;
	case OP_NOP_IN: rx_nop_in(c, pdu); break;
	case OP_LOGOUT_RSP: rx_logout_response(c, pdu); break;
	case OP_REJECT: rx_reject(c, pdu); break;
	case OP_ASYNC: rx_async(c, pdu); break;
	case OP_TEXT_RSP:
		statsn_update(c->s, pdu->bhs);
		session_update_window(c->s, pdu->bhs);
		session_text_rx(c, pdu);
		break;
	case OP_TMF_RSP:
		statsn_update(c->s, pdu->bhs);
		session_update_window(c->s, pdu->bhs);
		esc_tmf_response(c, pdu);
		break;
	default:
		conn_fail(c, EXIT_CONN, "unexpected %s PDU (opcode 0x%02x)", iscsi_opcode_str(pdu->opcode),
			  pdu->opcode);
	}
}

/* Read every complete PDU the socket holds. */
static void conn_read(struct conn *c)
{
	struct session *s = c->s;

	while (c->state != CONN_DEAD && !c->rx_paused) {
		struct toeless_pdu pdu;
		int rc = toeless_pdu_recv(c->ctx, &pdu);

		switch (rc) {
		case 0:
			c->last_rx_ms = now_ms();
			rx_dispatch(c, &pdu);
			continue;
		case -EAGAIN: return;
		case -EBADMSG:
			if (pdu.hdr_digest == TOELESS_DIGEST_BAD) {
				s->st.header_digest_errors++;
				conn_fail(c, EXIT_DIGEST, "header digest error in the PDU at stream byte %llu",
					  (unsigned long long)pdu.stream_pos);
			} else {
				s->st.data_digest_errors++;
				conn_fail(c, EXIT_DIGEST, "data digest error in a %s PDU (ITT 0x%08x, %u bytes)",
					  iscsi_opcode_str(pdu.opcode), pdu.itt, pdu.data_len);
			}
			return;
		case -ERANGE:
		case -EEXIST:
			conn_fail(c, EXIT_CONN, "Data-In for ITT 0x%08x at offset %u: %s", pdu.itt,
				  get_be32(pdu.bhs + 40), toeless_strerror(rc));
			return;
		case -EPIPE:
		default:
			/* What was received in full before the end counts: a target
			 * that answers and closes at once leaves the completions of
			 * its answers in the CQ, and failing the connection first
			 * would send those commands again (and, when every connection
			 * ends that way, never finish). */
			session_drain_cq(s);
			if (c->state == CONN_DEAD)
				return;
			if (rc == -EPIPE)
				conn_fail(c, EXIT_CONN, "the target closed the connection");
			else
				conn_fail(c, EXIT_CONN, "receive failed: %s", toeless_strerror(rc));
			return;
		}
	}
}

static void conn_connected(struct conn *c)
{
	struct session *s = c->s;
	int err = 0, rc;
	socklen_t len = sizeof(err);

	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
	if (err) {
		conn_fail(c, EXIT_UNREACHABLE, "cannot connect to %s: %s", s->portal, strerror(err));
		return;
	}
	struct toeless_ctx_attr attr = {
		.size = sizeof(attr),
		.fd = c->fd,
		.cq = s->cq,
		.params = { .flags = 0, .max_recv_dsl = 8192, .max_send_dsl = 8192 },
		.max_tasks = s->ntasks,
		.stream_pos = 0,
		.user_data = c->gen,
		/* our ITTs carry the task's slot (< ntasks) in their low 16 bits
		 * (make_itt): the library indexes its tasks by it */
		.itt_slots = s->cfg->itt_direct ? s->ntasks : 0,
		.flags = s->cfg->rx_lowat ? TOELESS_CTX_RCVLOWAT : 0,
	};
	rc = toeless_ctx_create(s->dev, &attr, &c->ctx);
	if (rc) {
		c->ctx = NULL;
		session_fatal(s, EXIT_LOCAL, "toeless_ctx_create: %s", toeless_strerror(rc));
		return;
	}
	c->state = CONN_LOGIN;
	c->started_ms = c->last_rx_ms = now_ms();
	s->st.connections++;
	poll_update(c);
	/* a new session: CmdSN carries on from where we are, StatSN comes from the target */
	s->exp_cmdsn = s->cmdsn;
	s->max_cmdsn = s->cmdsn;
	s->exp_statsn = 0;
	if (login_start(c) < 0 && c->state != CONN_DEAD)
		conn_fail(c, EXIT_LOGIN, "cannot build the login request");
}

/* The socket's pending error (SO_ERROR), 0 when none; reading it clears it. */
static int sock_error(int fd)
{
	int err = 0;
	socklen_t len = sizeof(err);
	return getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 ? err : 0;
}

static void on_socket(uv_poll_t *h, int status, int events)
{
	struct conn *c = h->data;
	struct session *s = c->s;

	if (c->state == CONN_DEAD)
		return;
	if (status < 0) {
		if (c->state == CONN_CONNECTING)
			conn_connected(c); /* SO_ERROR says why */
		else {
			/* libuv says EBADF for any POLLERR; the socket knows why
			 * (a reset from the target, most often) */
			int err = status == UV_EBADF ? sock_error(c->fd) : 0;
			conn_fail(c, EXIT_CONN, "socket error: %s", err ? strerror(err) : uv_strerror(status));
		}
		return;
	}
	if (c->state == CONN_CONNECTING) {
		if (events & UV_WRITABLE)
			conn_connected(c);
		return;
	}
	if ((events & UV_WRITABLE) && c->tx_busy) {
		int rc = toeless_ctx_flush(c->ctx);
		if (rc == 0) {
			c->tx_busy = false;
			tx_free(c, c->tx_inflight);
			c->tx_inflight = NULL;
			poll_update(c);
		} else if (rc != -EAGAIN) {
			conn_fail(c, EXIT_CONN, "sending a PDU failed: %s", toeless_strerror(rc));
			return;
		}
	}
	if (events & (UV_READABLE | UV_DISCONNECT)) {
		s->st.rx_wakeups++;
		conn_read(c);
	}
	session_drain_cq(s);
	if (c->state != CONN_DEAD)
		conn_pump(c);
	conn_resume(c);
}

/* Read again once half of the queued ping answers are out (see rx_nop_in). */
static void conn_resume(struct conn *c)
{
	while (c->state != CONN_DEAD && c->rx_paused && c->ping_replies <= PING_REPLIES_MAX / 2 &&
	       c->ping_reply_bytes <= PING_REPLY_BYTES_MAX / 2) {
		c->rx_paused = false;
		poll_update(c);
		/* the library may hold PDUs read ahead: no readable event would come for them */
		conn_read(c);
		session_drain_cq(c->s);
		if (c->state != CONN_DEAD)
			conn_pump(c);
	}
}

/* ------------------------------------------------------------------------ */
/* Completions.                                                                */

static void handle_sgl_completion(struct session *s, const struct toeless_completion *e)
{
	uint32_t gen = (uint32_t)(e->user_data >> 32);
	uint32_t idx = (uint32_t)e->user_data;
	struct task *t;
	struct conn *c = s->conn;

	if (idx >= s->ntasks)
		return;
	t = &s->tasks[idx];
	if (t->sgl_gen == gen)
		t->sgl_held = false; /* the buffer is ours again */
	if (!c || c->state == CONN_DEAD || c->gen != gen || t->state != TASK_ACTIVE || t->conn_gen != gen ||
	    t->itt != e->itt)
		return; /* a post of a failed connection, cancelled by its destroy */
	t->sgl_done = true;
	t->bytes_placed = e->bytes_placed;
	/* the library knows every range it placed: bytes_valid and -ENODATA are its word */
	t->bytes_valid = e->bytes_valid;
	if (e->status == -ENODATA) {
		/* the placed ranges are not exactly the first (expected - residual) bytes */
		conn_fail(c, EXIT_CONN,
			  "READ ITT 0x%08x: the target reported %llu bytes (residual %u), but only the "
			  "first %llu arrived with no hole",
			  t->itt,
			  (unsigned long long)(t->len - ((e->flags & TOELESS_CQE_F_UNDERFLOW) ? e->residual : 0)),
			  e->residual, (unsigned long long)e->bytes_valid);
		return;
	}
	if (e->status == -EBADMSG) {
		s->st.data_digest_errors++;
		conn_fail(c, EXIT_DIGEST, "data digest error in READ ITT 0x%08x", t->itt);
		return;
	}
	if (e->status < 0) {
		conn_fail(c, EXIT_CONN, "READ ITT 0x%08x failed: %s", t->itt, toeless_strerror(e->status));
		return;
	}
	if (!t->status_seen && (e->flags & TOELESS_CQE_F_SCSI_STATUS)) {
		/* normally the PDU said it first; take the completion's word otherwise */
		t->scsi_status = e->scsi_status;
		t->residual = e->residual;
		t->underflow = e->flags & TOELESS_CQE_F_UNDERFLOW;
		t->overflow = e->flags & TOELESS_CQE_F_OVERFLOW;
		t->status_seen = true;
	}
	task_maybe_done(c, t);
}

static void session_drain_cq(struct session *s)
{
	struct toeless_completion e[32];
	int n;

	while ((n = toeless_cq_poll(s->cq, e, 32)) > 0) {
		for (int i = 0; i < n; i++) {
			switch (e[i].type) {
			case TOELESS_CQE_SGL: handle_sgl_completion(s, &e[i]); break;
			case TOELESS_CQE_ERROR:
				/* user_data is the context's: our connection generation
				 * (a ctx pointer could be reused by a newer context) */
				if (s->conn && s->conn->ctx && e[i].user_data == s->conn->gen)
					conn_fail(s->conn, e[i].status == -EBADMSG ? EXIT_DIGEST : EXIT_CONN,
						  "connection failed: %s", toeless_strerror(e[i].status));
				break;
			default: break;
			}
		}
		if (n < 32)
			break;
	}
	if (s->conn && s->conn->state == CONN_FFP && s->pend_head)
		conn_pump(s->conn);
}

static void on_cq(uv_poll_t *h, int status, int events)
{
	(void)status;
	(void)events;
	session_drain_cq(h->data);
}

/* ------------------------------------------------------------------------ */
/* Connection lifecycle.                                                       */

static void conn_closed(uv_handle_t *h)
{
	struct conn *c = h->data;

	if (c->fd >= 0)
		close(c->fd);
	free(c);
}

static void conn_teardown(struct conn *c)
{
	struct session *s = c->s;

	if (c->state == CONN_DEAD)
		return;
	c->state = CONN_DEAD;
	uv_poll_stop(&c->poll);
	if (c->ctx) {
		s->last_ctx_stats.size = sizeof(s->last_ctx_stats);
		if (toeless_ctx_stats(c->ctx, &s->last_ctx_stats) == 0)
			s->have_ctx_stats = true;
		/* every post still outstanding completes as cancelled */
		toeless_ctx_destroy(c->ctx);
		c->ctx = NULL;
	}
	tx_free(c, c->tx_inflight);
	c->tx_inflight = NULL;
	while (c->tx_head) {
		struct tx_item *it = c->tx_head;
		c->tx_head = it->next;
		tx_free(c, it);
	}
	c->tx_tail = NULL;
	while (c->do_head) {
		struct dataout_job *j = c->do_head;
		c->do_head = j->next;
		j->t->dataout_jobs--;
		free(j);
	}
	c->do_tail = NULL;
	login_free(&c->login);
	if (s->conn == c) {
		s->conn = NULL;
		s->logged_in = false;
	}
	shutdown(c->fd, SHUT_RDWR);
	uv_close((uv_handle_t *)&c->poll, conn_closed); /* the socket is closed once libuv let go */
	session_drain_cq(s);                            /* take the cancellations: buffers return */
}

static void on_retry(uv_timer_t *h)
{
	struct session *s = h->data;

	if (!s->fatal && !s->closing && !s->conn)
		conn_connect(s);
}

void conn_fail(struct conn *c, int exit_class, const char *fmt, ...)
{
	struct session *s = c->s;
	char msg[400];
	va_list ap;

	if (c->state == CONN_DEAD)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	conn_teardown(c);
	if (s->fatal)
		return;
	if (s->closing) {
		/* logging out: the connection ends either way */
		vlog("connection closed during logout: %s", msg);
		s->logout_done = true;
		return;
	}
	if (exit_class == EXIT_UNREACHABLE && !s->ever_logged_in) {
		session_fatal(s, EXIT_UNREACHABLE, "target unreachable: %s", msg);
		return;
	}
	requeue_active(s);
	s->failures++;
	if (exit_class == EXIT_DIGEST) {
		s->digest_failures++;
		s->fail_class = EXIT_DIGEST;
	} else if (s->fail_class != EXIT_DIGEST) {
		s->fail_class = exit_class == EXIT_UNREACHABLE ? EXIT_UNREACHABLE : EXIT_CONN;
	}
	snprintf(s->last_failure, sizeof(s->last_failure), "%s", msg);
	if (s->failures > s->cfg->retries) {
		if (s->fail_class == EXIT_DIGEST)
			session_fatal(s, EXIT_DIGEST,
				      "digest errors persisted: %u connection attempts in a row failed, last: %s",
				      s->failures, msg);
		else
			session_fatal(s, s->fail_class,
				      "giving up after %u failed connection attempts in a row, last: %s", s->failures,
				      msg);
		return;
	}
	iscsi_log(ISCSI_LOG_WARN, "connection dropped: %s; logging in again (attempt %u of %u)", msg, s->failures,
		  s->cfg->retries);
	uv_timer_start(&s->retry_timer, on_retry, 20u * s->failures, 0);
}

static void conn_connect(struct session *s)
{
	struct conn *c = calloc(1, sizeof(*c));
	int rc, one = 1;

	if (!c) {
		session_fatal(s, EXIT_LOCAL, "out of memory");
		return;
	}
	c->s = s;
	c->gen = ++s->conn_gen;
	c->state = CONN_CONNECTING;
	c->started_ms = now_ms();
	c->fd = socket(s->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		free(c);
		session_fatal(s, EXIT_LOCAL, "socket: %s", strerror(errno));
		return;
	}
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	rc = uv_poll_init(s->loop, &c->poll, c->fd);
	if (rc) {
		close(c->fd);
		free(c);
		session_fatal(s, EXIT_LOCAL, "uv_poll_init: %s", uv_strerror(rc));
		return;
	}
	c->poll.data = c;
	s->conn = c;
	if (connect(c->fd, (struct sockaddr *)&s->addr, s->addrlen) < 0 && errno != EINPROGRESS) {
		conn_fail(c, EXIT_UNREACHABLE, "cannot connect to %s: %s", s->portal, strerror(errno));
		return;
	}
	poll_update(c);
}

static void on_tick(uv_timer_t *h)
{
	struct session *s = h->data;
	struct conn *c = s->conn;
	uint64_t now = now_ms(), limit = (uint64_t)s->cfg->timeout * 1000;

	/* a polled queue has no descriptor to wake us: completions that no
	 * socket event drained (a cancel's) are taken here at the latest */
	if (s->cfg->cq_polled)
		session_drain_cq(s);
	if (!c)
		return;
	switch (c->state) {
	case CONN_CONNECTING:
		if (now - c->started_ms > limit)
			conn_fail(c, EXIT_UNREACHABLE, "connecting to %s timed out after %u s", s->portal,
				  s->cfg->timeout);
		break;
	case CONN_LOGIN:
		if (now - c->started_ms > limit)
			conn_fail(c, EXIT_CONN, "login timed out after %u s", s->cfg->timeout);
		break;
	case CONN_FFP:
		if (c->ping_outstanding && now - c->ping_sent_ms > limit)
			conn_fail(c, EXIT_CONN, "NOP-Out ping unanswered for %u s", s->cfg->timeout);
		else if (s->active && now - c->last_rx_ms > limit)
			conn_fail(c, EXIT_CONN, "no answer for %u s with %u commands outstanding", s->cfg->timeout,
				  s->active);
		else if (s->cfg->nop_interval && !s->cfg->discovery && !c->ping_outstanding &&
			 now - c->last_rx_ms > (uint64_t)s->cfg->nop_interval * 1000)
			send_ping(c);
		/* the per-command deadline: pings answered or not, it does not move */
		if (c->state == CONN_FFP)
			esc_tick(c, now);
		/* an engine may hand a cancelled post back only when asked */
		if (c->state == CONN_FFP && c->ctx && s->pend_head && s->pend_head->sgl_held) {
			toeless_ctx_progress(c->ctx);
			session_drain_cq(s);
		}
		break;
	case CONN_LOGOUT:
		if (now - c->started_ms > limit)
			conn_fail(c, EXIT_CONN, "logout timed out");
		break;
	case CONN_DEAD: break;
	}
}

/* ------------------------------------------------------------------------ */
/* Session.                                                                    */

static void lib_log(int level, const char *msg, void *arg)
{
	(void)arg;
	iscsi_log(level <= TOELESS_LOG_ERR ? ISCSI_LOG_ERROR : ISCSI_LOG_WARN, "libtoeless%s: %s",
		  level <= TOELESS_LOG_ERR ? " error" : "", msg);
}

static int resolve(struct session *s)
{
	const struct config *cfg = s->cfg;
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res = NULL;
	int rc;

	snprintf(s->portal, sizeof(s->portal), "%s%s%s:%s", strchr(cfg->host, ':') ? "[" : "", cfg->host,
		 strchr(cfg->host, ':') ? "]" : "", cfg->port);
	rc = getaddrinfo(cfg->host, cfg->port, &hints, &res);
	if (rc || !res) {
		session_fatal(s, EXIT_UNREACHABLE, "target unreachable: cannot resolve %s: %s", s->portal,
			      gai_strerror(rc));
		return -1;
	}
	memcpy(&s->addr, res->ai_addr, res->ai_addrlen);
	s->addrlen = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

int session_init(struct session *s, const struct config *cfg, uv_loop_t *loop)
{
	struct toeless_device_attr dattr = {
		.size = sizeof(dattr),
		.log_fn = lib_log,
		.log_level = cfg->verbose ? TOELESS_LOG_INFO : TOELESS_LOG_WARN,
	};
	struct toeless_cq_attr qattr = { .size = sizeof(qattr) };
	int rc;

	memset(s, 0, sizeof(*s));
	s->cfg = cfg;
	s->loop = loop;
	s->fail_class = EXIT_CONN;
	verbose = cfg->verbose;

	rc = toeless_device_open(cfg->backend, &dattr, &s->dev);
	if (rc) {
		s->dev = NULL;
		session_fatal(s, EXIT_LOCAL, "cannot open libtoeless backend \"%s\": %s", cfg->backend,
			      toeless_strerror(rc));
		return s->fatal;
	}
	s->caps.size = sizeof(s->caps);
	rc = toeless_device_query(s->dev, &s->caps);
	if (rc) {
		session_fatal(s, EXIT_LOCAL, "toeless_device_query: %s", toeless_strerror(rc));
		return s->fatal;
	}
	s->ntasks = cfg->queue_depth;
	if (s->caps.max_tasks && s->ntasks > s->caps.max_tasks)
		s->ntasks = s->caps.max_tasks;
	if (s->ntasks > ITT_MAX_TASKS)
		s->ntasks = ITT_MAX_TASKS;
	s->tasks = calloc(s->ntasks, sizeof(*s->tasks));
	if (!s->tasks) {
		session_fatal(s, EXIT_LOCAL, "out of memory");
		return s->fatal;
	}
	qattr.depth = 2 * s->ntasks + 16;
	if (s->caps.max_cq_depth && qattr.depth > s->caps.max_cq_depth)
		qattr.depth = s->caps.max_cq_depth;
	/* every socket event, timer tick and teardown drains the queue
	 * (session_drain_cq), so the eventfd only costs system calls */
	if (cfg->cq_polled)
		qattr.flags = TOELESS_CQ_POLLED;
	rc = toeless_cq_create(s->dev, &qattr, &s->cq);
	if (rc) {
		s->cq = NULL;
		session_fatal(s, EXIT_LOCAL, "toeless_cq_create: %s", toeless_strerror(rc));
		return s->fatal;
	}
	if (!cfg->cq_polled) {
		uv_poll_init(loop, &s->cq_poll, toeless_cq_fd(s->cq));
		s->cq_poll.data = s;
		uv_poll_start(&s->cq_poll, UV_READABLE, on_cq);
	}
	uv_timer_init(loop, &s->tick);
	s->tick.data = s;
	uv_timer_start(&s->tick, on_tick, TICK_MS, TICK_MS);
	uv_timer_init(loop, &s->retry_timer);
	s->retry_timer.data = s;

	/* ISID type "random" (RFC 7143 10.12.5), kept for the whole run so that
	 * a login after a failure reinstates the same session */
	uint32_t r = (uint32_t)now_ms() ^ (uint32_t)getpid() * 2654435761u;
	s->isid[0] = 0x80;
	s->isid[1] = (uint8_t)(r >> 16);
	s->isid[2] = (uint8_t)(r >> 8);
	s->isid[3] = (uint8_t)r;
	s->isid[4] = 0;
	s->isid[5] = 1;
	s->cmdsn = 1;
	return resolve(s) ? s->fatal : 0;
}

int session_login(struct session *s)
{
	if (s->fatal)
		return s->fatal;
	conn_connect(s);
	while (!s->fatal && !s->logged_in)
		uv_run(s->loop, UV_RUN_ONCE);
	return s->fatal;
}

static void exec_done(struct session *s, struct task *t)
{
	(void)s;
	*(bool *)t->arg = true;
}

int session_exec(struct session *s, struct task *t)
{
	bool done = false;

	t->done = exec_done;
	t->arg = &done;
	task_submit(s, t);
	while (!s->fatal && !done)
		uv_run(s->loop, UV_RUN_ONCE);
	return s->fatal;
}

int session_logout(struct session *s)
{
	struct conn *c;
	uint8_t bhs[48] = { 0 };

	while (!s->fatal && s->active)
		uv_run(s->loop, UV_RUN_ONCE);
	if (s->fatal)
		return s->fatal;
	s->closing = true;
	uv_timer_stop(&s->retry_timer);
	c = s->conn;
	if (!c || c->state != CONN_FFP) {
		if (c)
			conn_teardown(c);
		return 0;
	}
	/* wait for a partly sent PDU, then log out (reason 0: close the session) */
	c->state = CONN_LOGOUT;
	c->started_ms = now_ms();
	c->logout_itt = make_itt(s, ITT_SLOT_LOGOUT);
	bhs[0] = BHS_IMMEDIATE | OP_LOGOUT_REQ;
	bhs[1] = BHS_FINAL | 0;
	put_be32(bhs + 16, c->logout_itt);
	put_be16(bhs + 20, 0); /* CID */
	put_be32(bhs + 24, s->cmdsn);
	conn_send_control(c, bhs, NULL, 0);
	while (!s->fatal && !s->logout_done && s->conn)
		uv_run(s->loop, UV_RUN_ONCE);
	return s->fatal;
}

static void handle_closed(uv_handle_t *h)
{
	(void)h;
}

void session_destroy(struct session *s)
{
	if (s->conn)
		conn_teardown(s->conn);
	if (s->cq) {
		if (!s->cfg->cq_polled)
			uv_close((uv_handle_t *)&s->cq_poll, handle_closed);
		uv_close((uv_handle_t *)&s->tick, handle_closed);
		uv_close((uv_handle_t *)&s->retry_timer, handle_closed);
		while (uv_run(s->loop, UV_RUN_DEFAULT)) /* let every close callback run */
			;
		session_drain_cq(s);
		toeless_cq_destroy(s->cq);
		s->cq = NULL;
	}
	free(s->tasks);
	s->tasks = NULL;
	free(s->text);
	s->text = NULL;
	if (s->dev)
		toeless_device_close(s->dev);
	s->dev = NULL;
}

/* ------------------------------------------------------------------------ */
/* --stats                                                                     */

#define STAT(f)                                                                                                        \
	{                                                                                                              \
#f, offsetof(struct toeless_stats, f)                                                                  \
	}
static const struct {
	const char *name;
	size_t off;
} lib_counters[] = {
	STAT(pdus_rx),
	STAT(pdus_tx),
	STAT(bytes_rx),
	STAT(bytes_tx),
	STAT(data_in_placed),
	STAT(bytes_placed_engine),
	STAT(bytes_placed_sw),
	STAT(bytes_slow_path),
	STAT(hdr_digests_checked),
	STAT(hdr_digest_errors),
	STAT(data_digests_checked),
	STAT(data_digests_engine),
	STAT(data_digest_errors),
	STAT(sw_fallback_pdus),
	STAT(engine_post_full),
	STAT(sgl_posted),
	STAT(sgl_completed),
	STAT(sgl_failed),
	STAT(sgl_cancelled),
	STAT(unknown_itt_pdus),
	STAT(placement_errors),
	STAT(protocol_errors),
	STAT(resyncs),
	STAT(engine_anomalies),
	STAT(crc_requests),
	STAT(recv_syscalls),
	STAT(send_syscalls),
	STAT(tx_digests_offloaded),
	STAT(bytes_placed_engine_host),
	STAT(data_digests_engine_host),
};
#undef STAT

#define ISTAT(f)                                                                                                       \
	{                                                                                                              \
#f, offsetof(struct session_stats, f)                                                                  \
	}
static const struct {
	const char *name;
	size_t off;
} initiator_counters[] = {
	ISTAT(connections),
	ISTAT(reconnects),
	ISTAT(logins),
	ISTAT(commands),
	ISTAT(commands_reissued),
	ISTAT(bytes_read),
	ISTAT(bytes_written),
	ISTAT(data_in_pdus),
	ISTAT(data_in_placed),
	ISTAT(data_in_copied),
	ISTAT(r2t_received),
	ISTAT(data_out_pdus),
	ISTAT(immediate_bytes),
	ISTAT(unsolicited_bytes),
	ISTAT(solicited_bytes),
	ISTAT(nop_out_pings),
	ISTAT(nop_in_replies),
	ISTAT(target_pings_answered),
	ISTAT(header_digest_errors),
	ISTAT(data_digest_errors),
	ISTAT(statsn_gaps),
	ISTAT(cmd_window_stalls),
	ISTAT(unit_attentions),
	ISTAT(busy_retries),
	ISTAT(async_events),
	ISTAT(rejects),
	ISTAT(cmd_timeouts),
	ISTAT(window_stalls),
	ISTAT(abort_task_sent),
	ISTAT(abort_task_done),
	ISTAT(lun_reset_sent),
	ISTAT(lun_reset_done),
	ISTAT(tmf_unanswered),
	ISTAT(tmf_refused),
	ISTAT(timeout_reconnects),
	ISTAT(rx_pauses),
	ISTAT(ping_replies_peak),
	ISTAT(ping_reply_bytes_peak),
	ISTAT(short_reads),
	ISTAT(rx_wakeups),
};
#undef ISTAT

void session_print_stats(struct session *s, FILE *f)
{
	struct toeless_stats dev = { .size = sizeof(dev) }, last = { .size = sizeof(last) };

	if (!s->dev)
		return;
	if (s->conn && s->conn->ctx)
		toeless_ctx_stats(s->conn->ctx, &last);
	else if (s->have_ctx_stats)
		last = s->last_ctx_stats;
	toeless_device_stats(s->dev, &dev);
	s->st.reconnects = s->st.connections ? s->st.connections - 1 : 0;

	fprintf(f, "libtoeless %s, backend %s %s%s%s\n", toeless_version(), s->caps.backend, s->caps.backend_version,
		(s->caps.flags & TOELESS_CAP_DDP) ? ", engine placement" : ", software placement",
		(s->caps.flags & TOELESS_CAP_CRC_RX) ? ", engine CRC" : ", software CRC");
	fprintf(f, "%-28s %20s %20s\n", "library counters", "last connection", "all connections");
	for (size_t i = 0; i < sizeof(lib_counters) / sizeof(lib_counters[0]); i++)
		fprintf(f, "  %-26s %20llu %20llu\n", lib_counters[i].name,
			(unsigned long long)*(const uint64_t *)((const char *)&last + lib_counters[i].off),
			(unsigned long long)*(const uint64_t *)((const char *)&dev + lib_counters[i].off));
	fprintf(f, "initiator counters\n");
	for (size_t i = 0; i < sizeof(initiator_counters) / sizeof(initiator_counters[0]); i++)
		fprintf(f, "  %-26s %20llu\n", initiator_counters[i].name,
			(unsigned long long)*(const uint64_t *)((const char *)&s->st + initiator_counters[i].off));
}

void config_defaults(struct config *cfg)
{
	*cfg = (struct config){
		.port = "3260",
		.backend = "auto",
		.max_recv_dsl = 256 * 1024,
		.max_burst = 1024 * 1024,
		.first_burst = 256 * 1024,
		.max_outstanding_r2t = 1,
		.immediate_data = true,
		.initial_r2t = false,
		.retries = 5,
		.nop_interval = 10,
		.timeout = 15,
		.cmd_timeout = 30,
		.itt_direct = true,
	};
}
