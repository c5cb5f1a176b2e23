/*
 * toeless-iscsi: what happens to a command that gets no answer in time.
 *
 * Every command has a deadline, --command-timeout seconds from when it went
 * on the wire (or, for a command the CmdSN window holds back, from when the
 * window was found closed).  Nothing the target sends for other reasons
 * moves it: an answered NOP-Out, a ping of the target, data for other
 * commands.  A command past its deadline is escalated one step at a time,
 * and the step it reached stays with it for the rest of the run:
 *
 *   1. ABORT TASK (RFC 7143 11.5.1, function 1) for its ITT.  Answered
 *      "function complete" or "task does not exist", the target holds no
 *      more of it: its post is cancelled and the command sent again.
 *   2. LOGICAL UNIT RESET (function 5), when the command stalls again, or
 *      the abort went unanswered for --timeout seconds or was refused.
 *      Answered "function complete", every command in flight on the LUN is
 *      gone at the target and is sent again.
 *   3. A new connection: the connection is dropped, the session logged in
 *      again and every command sent again (ErrorRecoveryLevel 0).
 *   4. Giving up: the run ends with EXIT_TIMEOUT and one line saying which
 *      command and what was tried.
 *
 * A CmdSN window that stays closed past the deadline is a stall as well:
 * there is no command at the target to abort, so it goes to step 3 at once,
 * and to step 4 when the window stays closed on the new connection.
 *
 * Only one Task Management request is outstanding at a time.  Each step is
 * counted (--stats) and said with -v.  esc_bound_ms() is the documented
 * worst case (doc/initiator.md, "Bounds").
 *
 * SPDX-License-Identifier: MIT
 */
#include <stdio.h>
#include <string.h>

#include "iscsi_session.h"

static const char *cdb_name(uint8_t op)
{
	switch (op) {
	case 0x00: return "TEST UNIT READY";
	case 0x12: return "INQUIRY";
	case 0x88: return "READ(16)";
	case 0x8a: return "WRITE(16)";
	case 0x9e: return "READ CAPACITY(16)";
	default: return "SCSI command";
	}
}

static const char *tmf_name(uint8_t fn)
{
	return fn == TMF_ABORT_TASK ? "ABORT TASK" : fn == TMF_LUN_RESET ? "LOGICAL UNIT RESET" : "TMF";
}

static const char *tmf_response_str(uint8_t r)
{
	switch (r) {
	case 0: return "function complete";
	case 1: return "task does not exist";
	case 2: return "LUN does not exist";
	case 3: return "task still allegiant";
	case 4: return "task allegiance reassignment not supported";
	case 5: return "task management function not supported";
	case 6: return "function authorization failed";
	case 255: return "function rejected";
	default: return "unknown response";
	}
}

static void describe(const struct task *t, char *out, size_t n)
{
	snprintf(out, n, "%s ITT 0x%08x (CmdSN %u)", cdb_name(t->cdb[0]), t->itt, t->cmdsn);
}

static void send_tmf(struct conn *c, struct task *t, uint8_t fn)
{
	struct session *s = c->s;
	uint8_t bhs[48] = { 0 };

	bhs[0] = BHS_IMMEDIATE | OP_TMF_REQ;
	bhs[1] = BHS_FINAL | fn;
	lun_encode(bhs + 8, s->cfg->lun);
	c->tmf_itt = make_itt(s, ITT_SLOT_TMF);
	put_be32(bhs + 16, c->tmf_itt);
	/* Referenced Task Tag and RefCmdSN name the task for ABORT TASK only */
	put_be32(bhs + 20, fn == TMF_ABORT_TASK ? t->itt : RESERVED_TAG);
	put_be32(bhs + 24, s->cmdsn); /* immediate: CmdSN is not advanced */
	put_be32(bhs + 32, fn == TMF_ABORT_TASK ? t->cmdsn : 0);
	c->tmf_outstanding = true;
	c->tmf_function = fn;
	c->tmf_ref_itt = t->itt;
	c->tmf_task = t->idx;
	c->tmf_sent_ms = now_ms();
	conn_send_control(c, bhs, NULL, 0);
}

/* Take the next step for a command that got no answer. */
static void escalate(struct conn *c, struct task *t, const char *why)
{
	struct session *s = c->s;
	const struct config *cfg = s->cfg;
	char what[96];

	describe(t, what, sizeof(what));
	switch (++t->esc_level) {
	case 1:
		s->st.abort_task_sent++;
		vlog("%s: %s; step 1 of 3: ABORT TASK", what, why);
		send_tmf(c, t, TMF_ABORT_TASK);
		break;
	case 2:
		s->st.lun_reset_sent++;
		vlog("%s: %s; step 2 of 3: LOGICAL UNIT RESET", what, why);
		send_tmf(c, t, TMF_LUN_RESET);
		break;
	case 3:
		s->st.timeout_reconnects++;
		vlog("%s: %s; step 3 of 3: a new connection", what, why);
		conn_fail(c, EXIT_TIMEOUT, "%s: %s after ABORT TASK and LOGICAL UNIT RESET", what, why);
		break;
	default:
		session_fatal(s, EXIT_TIMEOUT,
			      "%s got no answer within --command-timeout %u s, after ABORT TASK, LOGICAL UNIT "
			      "RESET and a new connection; giving up",
			      what, cfg->cmd_timeout);
		break;
	}
}

static struct task *tmf_task(struct conn *c)
{
	struct session *s = c->s;
	struct task *t;

	if (c->tmf_task >= s->ntasks)
		return NULL;
	t = &s->tasks[c->tmf_task];
	/* the command may have finished meanwhile, and its slot been reused */
	if (t->state != TASK_ACTIVE || t->conn_gen != c->gen || t->itt != c->tmf_ref_itt)
		return NULL;
	return t;
}

void esc_tick(struct conn *c, uint64_t now)
{
	struct session *s = c->s;
	const struct config *cfg = s->cfg;
	uint64_t deadline = (uint64_t)cfg->cmd_timeout * 1000, answer = (uint64_t)cfg->timeout * 1000;
	struct task *oldest = NULL;
	char why[96];

	if (c->tmf_outstanding) {
		if (now - c->tmf_sent_ms <= answer)
			return;
		c->tmf_outstanding = false;
		s->st.tmf_unanswered++;
		struct task *t = tmf_task(c);
		snprintf(why, sizeof(why), "%s unanswered for %u s", tmf_name(c->tmf_function), cfg->timeout);
		if (t)
			escalate(c, t, why);
		return;
	}
	for (unsigned i = 0; i < s->ntasks; i++) {
		struct task *t = &s->tasks[i];
		if (t->state == TASK_ACTIVE && t->conn_gen == c->gen && now - t->sent_ms > deadline &&
		    (!oldest || t->seq < oldest->seq))
			oldest = t;
	}
	if (oldest) {
		s->st.cmd_timeouts++;
		snprintf(why, sizeof(why), "no answer in %u s", cfg->cmd_timeout);
		escalate(c, oldest, why);
		return;
	}
	if (s->pend_head && c->window_closed_ms && now - c->window_closed_ms > deadline) {
		struct task *t = s->pend_head;
		s->st.window_stalls++;
		if (t->esc_level < 3) {
			t->esc_level = 3;
			s->st.timeout_reconnects++;
			vlog("the CmdSN window stayed closed for %u s (CmdSN %u, MaxCmdSN %u): a new connection",
			     cfg->cmd_timeout, s->cmdsn, s->max_cmdsn);
			conn_fail(c, EXIT_TIMEOUT,
				  "the target kept the CmdSN window closed for %u s (CmdSN %u, MaxCmdSN %u)",
				  cfg->cmd_timeout, s->cmdsn, s->max_cmdsn);
		} else {
			session_fatal(
				s, EXIT_TIMEOUT,
				"the target kept the CmdSN window closed for %u s (CmdSN %u, MaxCmdSN %u), on a new "
				"connection too; giving up",
				cfg->cmd_timeout, s->cmdsn, s->max_cmdsn);
		}
	}
}

void esc_tmf_response(struct conn *c, const struct toeless_pdu *pdu)
{
	struct session *s = c->s;
	uint8_t r = pdu->bhs[2];
	struct task *t;
	char why[128];

	if (!c->tmf_outstanding || pdu->itt != c->tmf_itt) {
		/* late, after we stopped waiting: the escalation went on without it */
		vlog("Task Management Function Response for ITT 0x%08x, none outstanding", pdu->itt);
		return;
	}
	c->tmf_outstanding = false;
	t = tmf_task(c);
	vlog("%s: %s", tmf_name(c->tmf_function), tmf_response_str(r));
	if (c->tmf_function == TMF_ABORT_TASK && (r == TMF_RSP_COMPLETE || r == TMF_RSP_NO_TASK)) {
		s->st.abort_task_done++;
		if (t)
			task_recall(c, t);
		return;
	}
	if (c->tmf_function == TMF_LUN_RESET && r == TMF_RSP_COMPLETE) {
		s->st.lun_reset_done++;
		/* every command on the LUN ended at the target: all are sent again */
		for (unsigned i = 0; i < s->ntasks; i++)
			task_recall(c, &s->tasks[i]);
		return;
	}
	s->st.tmf_refused++;
	snprintf(why, sizeof(why), "%s answered \"%s\"", tmf_name(c->tmf_function), tmf_response_str(r));
	if (t)
		escalate(c, t, why);
}

uint64_t esc_bound_ms(const struct config *cfg)
{
	/* four deadlines (sent, resent after the abort, after the reset, on the
	 * new connection), two TMF answers waited for, a connect and a login,
	 * plus timer granularity and the reconnection backoff */
	return 4ull * cfg->cmd_timeout * 1000 + 4ull * cfg->timeout * 1000 + 2000;
}
