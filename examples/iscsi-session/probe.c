/*
 * iscsi-session: the probing commands a user of the layer needs before I/O
 * (INQUIRY, TEST UNIT READY, READ CAPACITY(16)), REPORT LUNS, and the
 * SendTargets discovery of a discovery session (RFC 7143 section 11.10,
 * appendix C).
 *
 * SPDX-License-Identifier: MIT
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iscsi_session.h"

int session_error(struct session *s, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(s->errmsg, sizeof(s->errmsg), fmt, ap);
	va_end(ap);
	return code;
}

/* What a probing command left behind, copied out of its task. */
struct probe_result {
	uint8_t status;
	struct sense sense;
	uint64_t bytes_valid;
};

/* Run one probing command to completion on a task of its own.  Returns 0
 * (then *r holds its status) or the session's exit code; a task is given
 * back only when the command ended, never while the session may hold it. */
static int probe_exec(struct session *s, const uint8_t cdb[16], enum task_dir dir, void *buf, uint32_t len,
		      struct probe_result *r)
{
	struct task *t = task_get(s);
	if (!t)
		return session_error(s, EXIT_LOCAL, "no free task for a probing command");
	memcpy(t->cdb, cdb, sizeof(t->cdb));
	t->dir = dir;
	t->buf = buf;
	t->len = len;
	int rc = session_exec(s, t);
	if (rc)
		return rc;
	r->status = t->scsi_status;
	r->sense = t->sense;
	r->bytes_valid = t->bytes_valid;
	task_put(s, t);
	return 0;
}

/* A probing command did not end GOOD: say which and why. */
static int probe_failed(struct session *s, const struct probe_result *r, const char *what)
{
	char why[256];
	scsi_describe(why, sizeof(why), r->status, &r->sense);
	return session_error(s, EXIT_SCSI, "%s of LUN %llu failed: %s", what, (unsigned long long)s->cfg->lun, why);
}

int session_probe_lun(struct session *s, struct lun_info *li)
{
	const struct config *cfg = s->cfg;
	uint8_t inq[96] = { 0 }, cap[32] = { 0 }, cdb[16];
	struct probe_result r;
	int rc;

	memset(li, 0, sizeof(*li));
	/* INQUIRY: works for any LUN number; the qualifier says if it exists */
	cdb_inquiry(cdb, sizeof(inq));
	if ((rc = probe_exec(s, cdb, DIR_READ, inq, sizeof(inq), &r)))
		return rc;
	if (r.status == SCSI_CHECK_CONDITION && r.sense.valid && r.sense.asc == 0x25)
		return session_error(s, EXIT_NOLUN, "no such LUN %llu on %s", (unsigned long long)cfg->lun,
				     cfg->target);
	if (r.status != SCSI_GOOD)
		return probe_failed(s, &r, "INQUIRY");
	if ((inq[0] >> 5) != 0)
		return session_error(s, EXIT_NOLUN, "no such LUN %llu on %s (peripheral qualifier %u)",
				     (unsigned long long)cfg->lun, cfg->target, inq[0] >> 5);
	li->type = inq[0] & 0x1f;
	memcpy(li->vendor, inq + 8, 8);
	memcpy(li->product, inq + 16, 16);
	memcpy(li->revision, inq + 32, 4);
	if (li->type != 0)
		return session_error(s, EXIT_NOLUN, "LUN %llu is a %s (type 0x%02x), not a block device",
				     (unsigned long long)cfg->lun, device_type_str(li->type), li->type);

	/* TEST UNIT READY: a UNIT ATTENTION after login is retried by the session */
	cdb_test_unit_ready(cdb);
	if ((rc = probe_exec(s, cdb, DIR_NONE, NULL, 0, &r)))
		return rc;
	if (r.status != SCSI_GOOD)
		return probe_failed(s, &r, "TEST UNIT READY");

	cdb_read_capacity16(cdb, sizeof(cap));
	if ((rc = probe_exec(s, cdb, DIR_READ, cap, sizeof(cap), &r)))
		return rc;
	if (r.status != SCSI_GOOD)
		return probe_failed(s, &r, "READ CAPACITY(16)");
	li->blocks = get_be64(cap) + 1;
	li->block_len = get_be32(cap + 8);
	if (li->block_len == 0 || (li->block_len & (li->block_len - 1)))
		return session_error(s, EXIT_SCSI, "LUN %llu reports a block length of %u bytes",
				     (unsigned long long)cfg->lun, li->block_len);
	vlog("LUN %llu: %.8s %.16s, %llu blocks of %u bytes", (unsigned long long)cfg->lun, li->vendor, li->product,
	     (unsigned long long)li->blocks, li->block_len);
	return 0;
}

/* SAM-5 4.7: peripheral (00b) and flat space (01b) addressing; others as raw. */
static uint64_t lun_decode(const uint8_t *p)
{
	switch (p[0] >> 6) {
	case 0: return p[1];
	case 1: return (uint64_t)(p[0] & 0x3f) << 8 | p[1];
	default: return get_be64(p);
	}
}

int session_report_luns(struct session *s, uint64_t **luns, size_t *count)
{
	uint32_t alloc = 16 + 8 * 256;

	*luns = NULL;
	*count = 0;
	for (int pass = 0; pass < 2; pass++) {
		uint8_t *buf = calloc(1, alloc), cdb[16] = { 0 };
		struct probe_result r;
		int rc;

		if (!buf)
			return session_error(s, EXIT_LOCAL, "out of memory");
		cdb[0] = 0xa0; /* REPORT LUNS, SELECT REPORT 0: every LUN */
		put_be32(cdb + 6, alloc);
		rc = probe_exec(s, cdb, DIR_READ, buf, alloc, &r);
		if (rc || r.status != SCSI_GOOD) {
			free(buf);
			return rc ? rc : probe_failed(s, &r, "REPORT LUNS");
		}
		/* the list length counts every LUN, also those that did not fit */
		uint64_t valid = r.bytes_valid;
		uint32_t list = valid >= 8 ? get_be32(buf) : 0;
		if (list % 8 || valid < 8) {
			free(buf);
			return session_error(s, EXIT_CONN, "REPORT LUNS: malformed answer (list length %u)", list);
		}
		if (list + 8 > alloc && pass == 0 && list + 8u > list) {
			free(buf);
			alloc = list + 8;
			continue;
		}
		size_t n = (list < alloc - 8 ? list : alloc - 8) / 8;
		if (8 + n * 8 > valid)
			n = (valid - 8) / 8;
		*luns = calloc(n ? n : 1, sizeof(**luns));
		if (!*luns) {
			free(buf);
			return session_error(s, EXIT_LOCAL, "out of memory");
		}
		for (size_t i = 0; i < n; i++)
			(*luns)[i] = lun_decode(buf + 8 + 8 * i);
		*count = n;
		free(buf);
		return 0;
	}
	return session_error(s, EXIT_CONN, "REPORT LUNS: the list kept growing");
}

/* ------------------------------------------------------------------------ */
/* SendTargets (RFC 7143 appendix C) on a discovery session.                  */

static int text_request(struct conn *c, uint32_t ttt, const char *text, uint32_t len)
{
	struct session *s = c->s;
	uint8_t bhs[48] = { 0 };

	bhs[0] = OP_TEXT_REQ; /* not immediate: it takes a CmdSN */
	bhs[1] = BHS_FINAL;
	s->text_itt = make_itt(s, ITT_SLOT_TEXT);
	put_be32(bhs + 16, s->text_itt);
	put_be32(bhs + 20, ttt);
	put_be32(bhs + 24, s->cmdsn++);
	s->text_sent_ms = now_ms();
	return conn_send_control(c, bhs, text, len);
}

void session_text_rx(struct conn *c, const struct toeless_pdu *pdu)
{
	struct session *s = c->s;
	const uint8_t *bhs = pdu->bhs;

	if (pdu->itt != s->text_itt || s->text_done) {
		conn_fail(c, EXIT_CONN, "Text Response for ITT 0x%08x, none asked", pdu->itt);
		return;
	}
	if (s->text_len + pdu->data_len > 1u << 20) {
		session_fatal(s, EXIT_CONN, "SendTargets answer larger than 1 MiB");
		return;
	}
	if (s->text_len + pdu->data_len + 1 > s->text_cap) {
		size_t cap = s->text_len + pdu->data_len + 1;
		char *p = realloc(s->text, cap);
		if (!p) {
			session_fatal(s, EXIT_LOCAL, "out of memory");
			return;
		}
		s->text = p;
		s->text_cap = cap;
	}
	memcpy(s->text + s->text_len, pdu->data, pdu->data_len);
	s->text_len += pdu->data_len;
	s->text[s->text_len] = 0;
	if (bhs[1] & 0x40) { /* C: more text follows; ask for it with the TTT given */
		if (text_request(c, get_be32(bhs + 20), NULL, 0))
			session_fatal(s, EXIT_LOCAL, "out of memory");
		return;
	}
	s->text_done = true;
}

int session_discover(struct session *s, struct discovered **out, size_t *count)
{
	static const char ask[] = "SendTargets=All"; /* with its NUL */
	struct discovered *v = NULL;
	size_t n = 0;

	*out = NULL;
	*count = 0;
	if (!s->conn || s->conn->state != CONN_FFP)
		return session_error(s, EXIT_CONN, "not logged in");
	s->text_len = 0;
	s->text_done = false;
	if (text_request(s->conn, RESERVED_TAG, ask, sizeof(ask)))
		return session_error(s, EXIT_LOCAL, "out of memory");
	while (!s->fatal && !s->text_done)
		uv_run(s->loop, UV_RUN_ONCE);
	if (s->fatal)
		return s->fatal;
	/* TargetName=... starts a target; each TargetAddress=host:port,tag follows it */
	for (size_t pos = 0; pos < s->text_len;) {
		char *kv = s->text + pos;
		size_t len = strnlen(kv, s->text_len - pos);
		pos += len + 1;
		if (!strncmp(kv, "TargetName=", 11)) {
			struct discovered *p = realloc(v, (n + 1) * sizeof(*v));
			if (!p)
				goto oom;
			v = p;
			memset(&v[n], 0, sizeof(v[n]));
			snprintf(v[n].name, sizeof(v[n].name), "%s", kv + 11);
			n++;
		} else if (!strncmp(kv, "TargetAddress=", 14) && n) {
			struct discovered *d = &v[n - 1];
			if (d->nportals < DISCOVER_MAX_PORTALS)
				snprintf(d->portals[d->nportals++], sizeof(d->portals[0]), "%s", kv + 14);
		}
	}
	*out = v;
	*count = n;
	return 0;
oom:
	free(v);
	return session_error(s, EXIT_LOCAL, "out of memory");
}
