/*
 * toeless-iscsi: the login phase (RFC 7143 sections 6 and 13).
 *
 * Two stages.  The security stage offers AuthMethod=None, or CHAP when a
 * user is configured (chap.c: one-way or mutual).  The
 * operational stage proposes our digests, data segment and burst lengths,
 * ImmediateData, InitialR2T, MaxOutstandingR2T and ErrorRecoveryLevel=0, and
 * checks every answer against what we offered: a result we did not offer
 * (CRC32C asked, None answered) ends the login with a clear message.
 *
 * Login PDUs go through the same library calls as everything else; the
 * context runs with digests off and MaxRecvDataSegmentLength 8192 until the
 * final Login Response, when session.c switches it to the result.
 *
 * SPDX-License-Identifier: MIT
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "iscsi_session.h"

#define LOGIN_MAX_EXCHANGES 16
#define STAGE_SECURITY      0
#define STAGE_OPERATIONAL   1
#define STAGE_FULL_FEATURE  3

/* How a key's result is formed from the two offers (RFC 7143 section 6.2). */
enum key_type {
	KEY_DIGEST, /* list of values: the answer must be one of ours */
	KEY_MIN,    /* numeric: the smaller of the two */
	KEY_MAX,    /* numeric: the larger of the two */
	KEY_AND,    /* boolean: Yes only if both say Yes */
	KEY_OR,     /* boolean: Yes if either says Yes */
	KEY_DECL,   /* declarative: each side states its own value */
};

enum key_id {
	K_HEADER_DIGEST,
	K_DATA_DIGEST,
	K_MAX_RECV_DSL,
	K_MAX_BURST,
	K_FIRST_BURST,
	K_IMMEDIATE_DATA,
	K_INITIAL_R2T,
	K_MAX_OUTSTANDING_R2T,
	K_ERL,
	K_DATA_PDU_IN_ORDER,
	K_DATA_SEQ_IN_ORDER,
	K_TIME2WAIT,
	K_TIME2RETAIN,
	K_MAX_CONNECTIONS,
	K_IFMARKER,
	K_OFMARKER,
	K_COUNT
};

static const struct key_def {
	const char *name;
	enum key_type type;
	bool propose; /* we send it in the operational stage */
} key_defs[K_COUNT] = {
	[K_HEADER_DIGEST] = { "HeaderDigest", KEY_DIGEST, true },
	[K_DATA_DIGEST] = { "DataDigest", KEY_DIGEST, true },
	[K_MAX_RECV_DSL] = { "MaxRecvDataSegmentLength", KEY_DECL, true },
	[K_MAX_BURST] = { "MaxBurstLength", KEY_MIN, true },
	[K_FIRST_BURST] = { "FirstBurstLength", KEY_MIN, true },
	[K_IMMEDIATE_DATA] = { "ImmediateData", KEY_AND, true },
	[K_INITIAL_R2T] = { "InitialR2T", KEY_OR, true },
	[K_MAX_OUTSTANDING_R2T] = { "MaxOutstandingR2T", KEY_MIN, true },
	[K_ERL] = { "ErrorRecoveryLevel", KEY_MIN, true },
	[K_DATA_PDU_IN_ORDER] = { "DataPDUInOrder", KEY_OR, true },
	[K_DATA_SEQ_IN_ORDER] = { "DataSequenceInOrder", KEY_OR, true },
	[K_TIME2WAIT] = { "DefaultTime2Wait", KEY_MAX, true },
	[K_TIME2RETAIN] = { "DefaultTime2Retain", KEY_MIN, true },
	[K_MAX_CONNECTIONS] = { "MaxConnections", KEY_MIN, true },
	/* obsolete in RFC 7143; answered No if a target still proposes them */
	[K_IFMARKER] = { "IFMarker", KEY_AND, false },
	[K_OFMARKER] = { "OFMarker", KEY_AND, false },
};

#define KS_SENT     1u /* we proposed it */
#define KS_ANSWERED 2u /* its result is known */

/* ------------------------------------------------------------------------ */

static int refuse(struct conn *c, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int refuse(struct conn *c, int code, const char *fmt, ...)
{
	char msg[400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	session_fatal(c->s, code, "login to %s refused: %s", c->s->cfg->target ? c->s->cfg->target : c->s->portal, msg);
	return code;
}

static const char *digest_offer(enum digest_want w)
{
	switch (w) {
	case DIGEST_WANT_CRC32C: return "CRC32C";
	case DIGEST_WANT_ANY: return "CRC32C,None";
	default: return "None";
	}
}

/* Our value for a key, as text. */
static void our_value(const struct config *cfg, enum key_id k, char *out, size_t len)
{
	switch (k) {
	case K_HEADER_DIGEST: snprintf(out, len, "%s", digest_offer(cfg->header_digest)); break;
	case K_DATA_DIGEST: snprintf(out, len, "%s", digest_offer(cfg->data_digest)); break;
	case K_MAX_RECV_DSL: snprintf(out, len, "%u", cfg->max_recv_dsl); break;
	case K_MAX_BURST: snprintf(out, len, "%u", cfg->max_burst); break;
	case K_FIRST_BURST: snprintf(out, len, "%u", cfg->first_burst); break;
	case K_IMMEDIATE_DATA: snprintf(out, len, "%s", cfg->immediate_data ? "Yes" : "No"); break;
	case K_INITIAL_R2T: snprintf(out, len, "%s", cfg->initial_r2t ? "Yes" : "No"); break;
	case K_MAX_OUTSTANDING_R2T: snprintf(out, len, "%u", cfg->max_outstanding_r2t); break;
	case K_ERL: snprintf(out, len, "0"); break;
	case K_DATA_PDU_IN_ORDER:
	case K_DATA_SEQ_IN_ORDER: snprintf(out, len, "Yes"); break;
	case K_TIME2WAIT:
	case K_TIME2RETAIN: snprintf(out, len, "0"); break;
	case K_MAX_CONNECTIONS: snprintf(out, len, "1"); break;
	case K_IFMARKER:
	case K_OFMARKER: snprintf(out, len, "No"); break;
	default: out[0] = 0;
	}
}

/* RFC 7143 defaults, the result when a key is never negotiated. */
static void params_default(struct iscsi_params *p, const struct config *cfg)
{
	memset(p, 0, sizeof(*p));
	p->max_recv_dsl = cfg->max_recv_dsl; /* declared by us in every login */
	p->max_send_dsl = 8192;
	p->max_burst = 262144;
	p->first_burst = 65536;
	p->max_outstanding_r2t = 1;
	p->immediate_data = true;
	p->initial_r2t = true;
}

static int append_key(struct login *l, const char *key, const char *value)
{
	int n = snprintf(l->tx_text + l->tx_len, sizeof(l->tx_text) - l->tx_len, "%s=%s", key, value);

	if (n < 0 || (size_t)n + 1 > sizeof(l->tx_text) - l->tx_len)
		return -ENOSPC;
	l->tx_len += (size_t)n + 1; /* keep the NUL: keys are NUL-separated */
	return 0;
}

static int send_request(struct conn *c, bool transit, int nsg)
{
	struct session *s = c->s;
	struct login *l = &c->login;
	uint8_t bhs[48] = { 0 };

	bhs[0] = BHS_IMMEDIATE | OP_LOGIN_REQ;
	bhs[1] = (uint8_t)((transit ? 0x80 : 0) | (l->stage << 2) | (transit ? nsg : 0));
	bhs[2] = 0; /* Version-max */
	bhs[3] = 0; /* Version-min */
	memcpy(bhs + 8, s->isid, 6);
	put_be16(bhs + 14, 0); /* TSIH 0: a new session (reinstating ours after a failure) */
	put_be32(bhs + 16, c->login_itt);
	put_be16(bhs + 20, 0); /* CID */
	put_be32(bhs + 24, s->cmdsn);
	put_be32(bhs + 28, s->exp_statsn);
	l->exchanges++;
	vlog("login: request stage %d%s%d, %zu bytes of keys", l->stage, transit ? " -> " : " (stay) ",
	     transit ? nsg : l->stage, l->tx_len);
	int rc = conn_send_control(c, bhs, l->tx_text, (uint32_t)l->tx_len);
	l->tx_len = 0;
	return rc;
}

static int send_operational(struct conn *c)
{
	struct login *l = &c->login;
	char v[64];

	for (int k = 0; k < K_COUNT; k++) {
		if (!key_defs[k].propose || (l->key_state[k] & (KS_SENT | KS_ANSWERED)))
			continue;
		our_value(c->s->cfg, (enum key_id)k, v, sizeof(v));
		if (append_key(l, key_defs[k].name, v)) {
			refuse(c, EXIT_LOGIN, "too many keys");
			return -ENOSPC;
		}
		l->key_state[k] |= KS_SENT;
	}
	l->op_keys_sent = true;
	return send_request(c, true, STAGE_FULL_FEATURE);
}

int login_start(struct conn *c)
{
	const struct config *cfg = c->s->cfg;
	struct login *l = &c->login;

	login_free(l);
	memset(l, 0, sizeof(*l));
	params_default(&l->result, cfg);
	l->stage = STAGE_SECURITY;
	c->login_itt = make_itt(c->s, ITT_SLOT_LOGIN);
	if (append_key(l, "InitiatorName", cfg->initiator) ||
	    append_key(l, "SessionType", cfg->discovery ? "Discovery" : "Normal") ||
	    (!cfg->discovery && append_key(l, "TargetName", cfg->target)) ||
	    append_key(l, "AuthMethod", cfg->chap_user ? "CHAP" : "None"))
		return -ENOSPC;
	l->chap.offered = cfg->chap_user != NULL;
	/* with CHAP the target cannot move on yet; asking to anyway is allowed */
	return send_request(c, true, STAGE_OPERATIONAL);
}

void login_free(struct login *l)
{
	free(l->chap.c);
	l->chap.c = NULL;
	free(l->rx_text);
	l->rx_text = NULL;
	l->rx_len = l->rx_cap = 0;
}

/* ------------------------------------------------------------------------ */

static bool parse_u32(const char *v, uint32_t *out)
{
	char *end;
	unsigned long n;

	errno = 0;
	n = strtoul(v, &end, 0);
	if (errno || end == v || *end || n > 0xffffffffu)
		return false;
	*out = (uint32_t)n;
	return true;
}

static bool parse_bool(const char *v, bool *out)
{
	if (!strcmp(v, "Yes"))
		*out = true;
	else if (!strcmp(v, "No"))
		*out = false;
	else
		return false;
	return true;
}

static bool in_list(const char *list, const char *value)
{
	char buf[128];
	char *save = NULL;

	snprintf(buf, sizeof(buf), "%s", list);
	for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
		if (!strcasecmp(tok, value))
			return true;
	return false;
}

/* Store a negotiated value into the result. */
static void set_result(struct iscsi_params *p, enum key_id k, const char *v)
{
	uint32_t n = 0;
	bool b = false;

	switch (k) {
	case K_HEADER_DIGEST: p->header_digest = !strcasecmp(v, "CRC32C"); break;
	case K_DATA_DIGEST: p->data_digest = !strcasecmp(v, "CRC32C"); break;
	case K_MAX_BURST:
		if (parse_u32(v, &n))
			p->max_burst = n;
		break;
	case K_FIRST_BURST:
		if (parse_u32(v, &n))
			p->first_burst = n;
		break;
	case K_MAX_OUTSTANDING_R2T:
		if (parse_u32(v, &n))
			p->max_outstanding_r2t = n;
		break;
	case K_ERL:
		if (parse_u32(v, &n))
			p->error_recovery_level = n;
		break;
	case K_IMMEDIATE_DATA:
		if (parse_bool(v, &b))
			p->immediate_data = b;
		break;
	case K_INITIAL_R2T:
		if (parse_bool(v, &b))
			p->initial_r2t = b;
		break;
	default: break;
	}
}

static bool special_value(const char *v)
{
	return !strcmp(v, "Reject") || !strcmp(v, "Irrelevant") || !strcmp(v, "NotUnderstood");
}

/* The target answered a key we proposed: check it is a result we can accept. */
static int check_answer(struct conn *c, enum key_id k, const char *v)
{
	const struct config *cfg = c->s->cfg;
	struct login *l = &c->login;
	const char *name = key_defs[k].name;
	char ours[64];
	uint32_t a = 0, b = 0;
	bool yes = false;

	our_value(cfg, k, ours, sizeof(ours));
	l->key_state[k] |= KS_ANSWERED;
	if (special_value(v)) {
		/* The key keeps its default.  Only digests matter to us. */
		if ((k == K_HEADER_DIGEST && cfg->header_digest == DIGEST_WANT_CRC32C) ||
		    (k == K_DATA_DIGEST && cfg->data_digest == DIGEST_WANT_CRC32C))
			return refuse(c, EXIT_LOGIN, "asked for %s=CRC32C, target answered %s", name, v);
		return 0;
	}
	switch (key_defs[k].type) {
	case KEY_DIGEST:
		if (!in_list(ours, v))
			return refuse(c, EXIT_LOGIN, "asked for %s=%s, target chose %s", name, ours, v);
		break;
	case KEY_MIN:
		if (!parse_u32(v, &a) || !parse_u32(ours, &b) || a > b)
			return refuse(c, EXIT_LOGIN, "offered %s=%s, target answered %s (must not be larger)", name,
				      ours, v);
		if (k == K_ERL && a != 0)
			return refuse(c, EXIT_LOGIN, "ErrorRecoveryLevel=%s: only 0 is supported", v);
		break;
	case KEY_MAX:
		if (!parse_u32(v, &a) || !parse_u32(ours, &b) || a < b)
			return refuse(c, EXIT_LOGIN, "offered %s=%s, target answered %s (must not be smaller)", name,
				      ours, v);
		break;
	case KEY_AND:
		if (!parse_bool(v, &yes) || (yes && !strcmp(ours, "No")))
			return refuse(c, EXIT_LOGIN, "offered %s=%s, target answered %s", name, ours, v);
		break;
	case KEY_OR:
		if (!parse_bool(v, &yes) || (!yes && !strcmp(ours, "Yes")))
			return refuse(c, EXIT_LOGIN, "offered %s=%s, target answered %s", name, ours, v);
		break;
	case KEY_DECL: break;
	}
	if ((k == K_MAX_BURST || k == K_FIRST_BURST || k == K_MAX_OUTSTANDING_R2T) && a == 0)
		return refuse(c, EXIT_LOGIN, "target answered %s=0", name);
	set_result(&l->result, k, v);
	return 0;
}

/* The target proposed a key we did not send: answer it in the next request. */
static int answer_proposal(struct conn *c, enum key_id k, const char *v)
{
	const struct config *cfg = c->s->cfg;
	struct login *l = &c->login;
	char ours[64], result[64];
	uint32_t a, b;
	bool x, y;

	our_value(cfg, k, ours, sizeof(ours));
	switch (key_defs[k].type) {
	case KEY_DIGEST: {
		/* the first value in the target's list that we offer */
		char buf[128];
		char *save = NULL;
		result[0] = 0;
		snprintf(buf, sizeof(buf), "%s", v);
		for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
			if (in_list(ours, tok)) {
				snprintf(result, sizeof(result), "%s", tok);
				break;
			}
		if (!result[0])
			return refuse(c, EXIT_LOGIN, "target proposed %s=%s, we accept only %s", key_defs[k].name, v,
				      ours);
		break;
	}
	case KEY_MIN:
	case KEY_MAX:
		if (!parse_u32(v, &a) || !parse_u32(ours, &b))
			snprintf(result, sizeof(result), "Reject");
		else
			snprintf(result, sizeof(result), "%u",
				 key_defs[k].type == KEY_MIN ? (a < b ? a : b) : (a > b ? a : b));
		break;
	case KEY_AND:
	case KEY_OR:
		if (!parse_bool(v, &x) || !parse_bool(ours, &y))
			snprintf(result, sizeof(result), "Reject");
		else
			snprintf(result, sizeof(result), "%s",
				 (key_defs[k].type == KEY_AND ? (x && y) : (x || y)) ? "Yes" : "No");
		break;
	case KEY_DECL: return 0;
	}
	if (k == K_ERL && strcmp(result, "0"))
		return refuse(c, EXIT_LOGIN, "ErrorRecoveryLevel=%s: only 0 is supported", result);
	l->key_state[k] |= KS_ANSWERED;
	set_result(&l->result, k, result);
	return append_key(l, key_defs[k].name, result) ? refuse(c, EXIT_LOGIN, "too many keys") : 0;
}

static int handle_key(struct conn *c, char *key, char *value)
{
	struct login *l = &c->login;

	vlog("login: target says %s=%s", key, !strcmp(key, "CHAP_R") || !strcmp(key, "CHAP_C") ? "..." : value);
	int crc = chap_key(c, key, value);
	if (crc > 1)
		return crc;
	if (crc == 1)
		return 0;
	if (!strcmp(key, "TargetAlias")) {
		snprintf(l->target_alias, sizeof(l->target_alias), "%s", value);
		return 0;
	}
	if (!strcmp(key, "TargetPortalGroupTag") || !strcmp(key, "TargetAddress") || !strcmp(key, "TargetName"))
		return 0;
	if (!strcmp(key, "MaxRecvDataSegmentLength")) {
		/* declarative: the most we may send in one PDU */
		uint32_t n;
		if (!parse_u32(value, &n) || n < 512 || n > 0xffffff)
			return refuse(c, EXIT_LOGIN, "target declared MaxRecvDataSegmentLength=%s", value);
		l->result.max_send_dsl = n;
		return 0;
	}
	for (int k = 0; k < K_COUNT; k++) {
		if (strcmp(key, key_defs[k].name))
			continue;
		if (l->key_state[k] & KS_SENT)
			return check_answer(c, (enum key_id)k, value);
		return answer_proposal(c, (enum key_id)k, value);
	}
	/* Keys we do not know: tell the target, it must then use the default. */
	if (!special_value(value) && append_key(l, key, "NotUnderstood"))
		return refuse(c, EXIT_LOGIN, "too many keys");
	return 0;
}

static int parse_keys(struct conn *c, char *text, size_t len)
{
	size_t pos = 0;

	while (pos < len) {
		char *kv = text + pos;
		size_t n = strnlen(kv, len - pos);
		pos += n + 1; /* text[len] is a NUL, so the last key is terminated */
		if (!n)
			continue;
		char *eq = strchr(kv, '=');
		if (!eq)
			return refuse(c, EXIT_LOGIN, "malformed key \"%.60s\" in Login Response", kv);
		*eq = 0;
		int rc = handle_key(c, kv, eq + 1);
		if (rc)
			return rc;
	}
	return 0;
}

/* After the final response: every key we needed settled, and consistent. */
static int finish(struct conn *c)
{
	const struct config *cfg = c->s->cfg;
	struct iscsi_params *p = &c->login.result;

	if (cfg->header_digest == DIGEST_WANT_CRC32C && !p->header_digest)
		return refuse(c, EXIT_LOGIN, "asked for HeaderDigest=CRC32C, login ended with None");
	if (cfg->data_digest == DIGEST_WANT_CRC32C && !p->data_digest)
		return refuse(c, EXIT_LOGIN, "asked for DataDigest=CRC32C, login ended with None");
	if (cfg->header_digest == DIGEST_WANT_NONE && p->header_digest)
		return refuse(c, EXIT_LOGIN, "asked for HeaderDigest=None, login ended with CRC32C");
	if (cfg->data_digest == DIGEST_WANT_NONE && p->data_digest)
		return refuse(c, EXIT_LOGIN, "asked for DataDigest=None, login ended with CRC32C");
	if (p->error_recovery_level != 0)
		return refuse(c, EXIT_LOGIN, "ErrorRecoveryLevel=%u: only 0 is supported", p->error_recovery_level);
	if (p->first_burst > p->max_burst)
		p->first_burst = p->max_burst; /* RFC 7143 13.14: FirstBurstLength <= MaxBurstLength */
	p->max_recv_dsl = cfg->max_recv_dsl;
	return 1;
}

int login_rx(struct conn *c, const struct toeless_pdu *pdu)
{
	struct session *s = c->s;
	struct login *l = &c->login;
	const uint8_t *bhs = pdu->bhs;
	bool transit = bhs[1] & 0x80, cont = bhs[1] & 0x40;
	int csg = (bhs[1] >> 2) & 3, nsg = bhs[1] & 3;
	uint8_t cls = bhs[36], detail = bhs[37];

	if (pdu->opcode != OP_LOGIN_RSP) {
		conn_fail(c, EXIT_CONN, "unexpected opcode 0x%02x during login", pdu->opcode);
		return EXIT_CONN;
	}
	if (get_be32(bhs + 16) != c->login_itt) {
		conn_fail(c, EXIT_CONN, "Login Response for ITT 0x%08x, expected 0x%08x", get_be32(bhs + 16),
			  c->login_itt);
		return EXIT_CONN;
	}
	if (cls != 0) {
		if (cls == 2 && detail == 1 && l->chap.offered)
			return refuse(c, EXIT_AUTH,
				      "%s: the target refused our CHAP secret for user \"%s\" (status 0x0201)",
				      login_status_str(cls, detail), s->cfg->chap_user);
		if (cls == 2 && detail == 1)
			return refuse(c, EXIT_AUTH, "%s (status 0x0201): the target wants CHAP",
				      login_status_str(cls, detail));
		if (cls == 3) { /* target error: worth another try */
			conn_fail(c, EXIT_LOGIN, "target error during login: %s", login_status_str(cls, detail));
			return EXIT_CONN;
		}
		return refuse(c, EXIT_LOGIN, "%s (status 0x%02x%02x)", login_status_str(cls, detail), cls, detail);
	}
	s->exp_statsn = get_be32(bhs + 24) + 1;
	session_login_window(s, bhs);
	l->tsih = get_be16(bhs + 14);

	/* collect the text; a response with the C bit continues in the next one */
	if (pdu->data_len) {
		if (l->rx_len + pdu->data_len + 1 > l->rx_cap) {
			size_t cap = l->rx_len + pdu->data_len + 1;
			char *p = realloc(l->rx_text, cap);
			if (!p)
				return refuse(c, EXIT_LOCAL, "out of memory");
			l->rx_text = p;
			l->rx_cap = cap;
		}
		memcpy(l->rx_text + l->rx_len, pdu->data, pdu->data_len);
		l->rx_len += pdu->data_len;
		l->rx_text[l->rx_len] = 0;
	}
	if (cont) { /* an empty request: send the rest */
		if (l->exchanges >= LOGIN_MAX_EXCHANGES)
			goto too_many;
		return send_request(c, false, 0) < 0 ? EXIT_CONN : 0;
	}
	int rc = parse_keys(c, l->rx_text ? l->rx_text : (char *)"", l->rx_len);
	l->rx_len = 0;
	if (rc)
		return rc;
	if (csg != l->stage)
		return refuse(c, EXIT_LOGIN, "Login Response for stage %d while in stage %d", csg, l->stage);
	bool may_transit = true;
	if (l->stage == STAGE_SECURITY) {
		rc = chap_step(c, transit, &may_transit);
		if (rc)
			return rc;
		if (transit && s->cfg->chap_user && l->chap.step != CHAP_DONE)
			return refuse(c, EXIT_AUTH, "the target ended the security stage before CHAP was done");
	}

	if (transit && nsg == STAGE_FULL_FEATURE)
		return finish(c);
	if (transit && nsg == STAGE_OPERATIONAL && l->stage == STAGE_SECURITY)
		l->stage = STAGE_OPERATIONAL;
	else if (transit)
		return refuse(c, EXIT_LOGIN, "target moved from stage %d to stage %d", csg, nsg);

	/* another request is needed: the limit counts requests sent */
	if (l->exchanges >= LOGIN_MAX_EXCHANGES)
		goto too_many;
	if (l->stage == STAGE_OPERATIONAL)
		rc = send_operational(c);
	else /* still in the security stage: answer (CHAP) and ask to move on when we may */
		rc = send_request(c, may_transit, STAGE_OPERATIONAL);
	return rc < 0 ? EXIT_CONN : 0;
too_many:
	return refuse(c, EXIT_LOGIN, "negotiation did not finish within %u exchanges (the limit)", l->exchanges);
}

const char *login_status_str(uint8_t cls, uint8_t detail)
{
	switch (cls << 8 | detail) {
	case 0x0101: return "target moved temporarily (redirect, not supported)";
	case 0x0102: return "target moved permanently (redirect, not supported)";
	case 0x0200: return "initiator error";
	case 0x0201: return "authentication failed";
	case 0x0202: return "authorization failure: initiator not allowed";
	case 0x0203: return "target not found";
	case 0x0204: return "target removed";
	case 0x0205: return "unsupported iSCSI version";
	case 0x0206: return "too many connections";
	case 0x0207: return "missing parameter";
	case 0x0208: return "cannot include connection in session";
	case 0x0209: return "session type not supported";
	case 0x020a: return "session does not exist";
	case 0x020b: return "invalid request during login";
	case 0x0300: return "target error";
	case 0x0301: return "service unavailable";
	case 0x0302: return "out of resources";
	default: return "unknown login status";
	}
}
