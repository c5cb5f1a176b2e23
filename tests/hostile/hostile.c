/*
 * hostile: a scripted hostile iSCSI target on loopback, for
 * tests/hostile/test-hostile.sh.
 *
 *   hostile --port-file FILE --scenario NAME [--always] [--blocks N]
 *           [--report FILE] [--idle SECONDS] [--flood N]
 *   hostile --dump FILE [--blocks N]     write the LUN's bytes and exit
 *   hostile --list                       name every scenario
 *
 * It completes a login with anyone (AuthMethod=None; every operational key
 * is answered with the initiator's own value, digest lists with their first
 * entry), serves one disk LUN of N 512-byte blocks (default 2048) whose
 * bytes are a fixed pattern (--dump writes them), answers INQUIRY, TEST UNIT
 * READY, READ CAPACITY(16), READ(16), NOP-Out, Logout (and, for stall-abortable,
 * Task Management requests: "function complete"), and misbehaves on
 * the first READ(16) of the first connection as the scenario says (every
 * connection with --always).  The chap-* scenarios instead ask for CHAP on
 * every connection and misbehave as mutual CHAP's peer (chap_login).  The initiator must then fail with a clear
 * error or recover (log in again and read right), never crash, hang or
 * corrupt memory.
 *
 * --report FILE is rewritten after every connection:
 *   connections N / fired N / malformed N / nop_out N / tmf N / pings_answered N /
 *   commands N / reflected_answered N
 * (fired: connections on which the scenario fired; malformed: PDUs or byte
 * sequences sent that a correct initiator must reject).
 *
 * --address A listens there instead of 127.0.0.1 (tests/hw/test-nic-hostile.sh
 * runs it in the target's network namespace of the wire NIC).
 *
 * One thread, poll(); one connection at a time (a reconnecting initiator
 * waits in the listen backlog until the old connection ends).  It exits
 * after --idle seconds (default 60) without a connection.  Test code, not
 * part of the library.
 *
 * SPDX-License-Identifier: MIT
 */
#include "config.h"

#include <arpa/inet.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <strings.h>
#include <time.h>

#include "fuzz.h" /* CRC32C and byte order helpers (tests/fuzz/fuzz.h) */

#define BLOCK 512

enum scen {
	S_NONE,              /* behave: the control run */
	S_UNKNOWN_OPCODE,    /* a PDU with a reserved target opcode before the data */
	S_DSL_OVER_MAX,      /* a Data-In longer than the initiator's MaxRecvDataSegmentLength */
	S_DSL_MAX,           /* DataSegmentLength 2^24-1 */
	S_AHS_PAST_PDU,      /* an AHS whose length runs past TotalAHSLength */
	S_AHS_TOTAL_MAX,     /* TotalAHSLength 255 words of a chain that does not fit */
	S_OFFSET_PAST_SGL,   /* Buffer Offset + length past the read buffer */
	S_OFFSET_WRAP,       /* Buffer Offset + length wrapping 32 bits */
	S_UNKNOWN_ITT,       /* Data-In for an ITT that is no command */
	S_FINISHED_ITT,      /* one more Data-In after the command's final one */
	S_RSP_UNKNOWN_ITT,   /* SCSI Response for an ITT that is no command */
	S_DATASN_REPEAT,     /* the same Data-In twice */
	S_DATASN_REPEAT_NEW, /* DataSN 0 twice, at different offsets */
	S_DATASN_SKIP,       /* DataSN 0, 2, 3, ... */
	S_S_WITHOUT_F,       /* the status-carrying Data-In without the F bit */
	S_SHORT_GOOD,        /* GOOD status with bytes missing and no underflow */
	S_TRUNCATED_CLOSE,   /* half a Data-In, then close */
	S_BYTEWISE,          /* everything, login included, one byte per write */
	S_NOP_FLOOD,         /* a flood of NOP-In (pings and unsolicited) before the data */
	S_REJECT,            /* a Reject of the READ instead of its data */
	S_ASYNC_LOGOUT,      /* an Async Message asking to log out */
	S_ASYNC_DROP,        /* an Async Message announcing the connection drop */
	S_HDR_DIGEST,        /* a Data-In with a wrong header digest */
	S_DATA_DIGEST,       /* a Data-In with a wrong data digest */
	S_R2T_FOR_READ,      /* an R2T for the READ */
	S_SENSE_OVERRUN,     /* UNIT ATTENTION whose SenseLength runs past the segment */
	S_STALL,             /* never answer the READ */
	S_LOGIN_GARBAGE,     /* 300 random bytes instead of the first Login Response */
	S_LOGIN_REJECT,      /* Login Response "target not found" */
	S_UA_STORM,          /* UNIT ATTENTION for the first command of each connection (as
			       after a session reinstatement), a bad data digest after one good READ */
	S_UNDERFLOW_NODATA,  /* GOOD + underflow, residual = length, no Data-In at all */
	S_UNDERFLOW_HOLE,    /* a 512-byte hole in the middle, GOOD + underflow, residual 512 */
	S_UNDERFLOW_TAIL,    /* the last 512 bytes missing, GOOD + underflow, residual 512 */
	S_STALL_PING,        /* the READ never answered, TMFs ignored; NOPs answered, pings sent */
	S_STALL_ABORTABLE,   /* the same, but ABORT TASK and LUN RESET answered "function complete" */
	S_WINDOW_CLOSED,     /* MaxCmdSN = ExpCmdSN - 1 from login on; NOPs answered, pings sent */
	S_PING_FLOOD,        /* NOP-In pings with data, not reading until the socket blocks */
	S_LOGIN_ENDLESS,     /* the operational stage never ends (no T bit) */
	S_CHAP_REFLECT,      /* mutual CHAP: the initiator's challenge of connection 1 sent back
			       to it as the target's on connection 2 */
	S_CHAP_BAD_MUTUAL,   /* mutual CHAP: a wrong target response, with the login declared
			       done (straight to full-feature phase) */
	S_ANSWER_CLOSE,      /* the READ answered in full (GOOD), then the connection closed at
			       once, with whatever else the initiator sent unanswered */
	S_COUNT
};

static const char *const scen_name[S_COUNT] = {
	[S_NONE] = "none",
	[S_UNKNOWN_OPCODE] = "unknown-opcode",
	[S_DSL_OVER_MAX] = "dsl-over-max",
	[S_DSL_MAX] = "dsl-max",
	[S_AHS_PAST_PDU] = "ahs-past-pdu",
	[S_AHS_TOTAL_MAX] = "ahs-total-max",
	[S_OFFSET_PAST_SGL] = "offset-past-sgl",
	[S_OFFSET_WRAP] = "offset-wrap",
	[S_UNKNOWN_ITT] = "unknown-itt",
	[S_FINISHED_ITT] = "finished-itt",
	[S_RSP_UNKNOWN_ITT] = "rsp-unknown-itt",
	[S_DATASN_REPEAT] = "datasn-repeat",
	[S_DATASN_REPEAT_NEW] = "datasn-repeat-new-offset",
	[S_DATASN_SKIP] = "datasn-skip",
	[S_S_WITHOUT_F] = "s-without-f",
	[S_SHORT_GOOD] = "short-good",
	[S_TRUNCATED_CLOSE] = "truncated-close",
	[S_BYTEWISE] = "bytewise",
	[S_NOP_FLOOD] = "nop-flood",
	[S_REJECT] = "reject",
	[S_ASYNC_LOGOUT] = "async-logout",
	[S_ASYNC_DROP] = "async-drop",
	[S_HDR_DIGEST] = "hdr-digest",
	[S_DATA_DIGEST] = "data-digest",
	[S_R2T_FOR_READ] = "r2t-for-read",
	[S_SENSE_OVERRUN] = "sense-overrun",
	[S_STALL] = "stall",
	[S_LOGIN_GARBAGE] = "login-garbage",
	[S_LOGIN_REJECT] = "login-reject",
	[S_UA_STORM] = "ua-storm",
	[S_UNDERFLOW_NODATA] = "underflow-nodata",
	[S_UNDERFLOW_HOLE] = "underflow-hole",
	[S_UNDERFLOW_TAIL] = "underflow-tail",
	[S_STALL_PING] = "stall-ping",
	[S_STALL_ABORTABLE] = "stall-abortable",
	[S_WINDOW_CLOSED] = "window-closed",
	[S_PING_FLOOD] = "ping-flood",
	[S_LOGIN_ENDLESS] = "login-endless",
	[S_CHAP_REFLECT] = "chap-reflect",
	[S_CHAP_BAD_MUTUAL] = "chap-bad-mutual",
	[S_ANSWER_CLOSE] = "answer-close",
};

static enum scen scen = S_NONE;
static bool always;
static uint64_t blocks = 2048;
static unsigned flood_n = 20000;
static unsigned ping_flood_n = 40000, ping_data = 8192;
static const char *report_path;
static unsigned long n_conns, n_fired, n_malformed, n_nop_out, n_tmf, n_pings_answered;
/* SCSI commands received (after a CHAP failure there must be none), and
 * CHAP responses to a reflected challenge (there must be none either) */
static unsigned long n_commands, n_reflected_answered;
/* chap-reflect: the initiator's CHAP_I and CHAP_C of the first connection */
static char refl_i[16], refl_c[512];

static double now_s(void);

/* ---- the LUN ---- */

static uint8_t lun_byte(uint64_t off)
{
	uint64_t x = off * 0x9E3779B97F4A7C15ull + (off >> 9) * 0x632BE59BD9B4E019ull;
	return (uint8_t)(x >> 56);
}

/* ---- one connection ---- */

struct conn {
	int fd;
	uint8_t *in;
	size_t in_len, in_cap;
	uint8_t *out;
	size_t out_len, out_off, out_cap;
	bool ffp, hd, dd;      /* full-feature phase, negotiated digests */
	bool new_hd, new_dd;   /* digests the login is settling on */
	uint32_t peer_max_dsl; /* the initiator's MaxRecvDataSegmentLength */
	uint32_t statsn, exp_cmdsn;
	bool fire; /* the scenario fires on this connection */
	bool fired;
	bool close_after_flush;
	bool half_close;    /* answer-close: FIN (shutdown) rather than close(), which with
			    * unread input would send a reset and make the peer's kernel
			    * discard what it holds; then input is read and dropped */
	double half_closed; /* when the FIN went */
	bool bytewise;
	bool reflected; /* chap-reflect: this connection sent the initiator's challenge back */
	uint32_t flood_ttt;
	unsigned cmds, good_reads; /* ua-storm: commands and good READs on this connection */
	double poison_at;          /* ua-storm: when to send the bad PDU (0: none due) */
	uint32_t poison_itt;
	bool closed;  /* window-closed: MaxCmdSN = ExpCmdSN - 1 */
	bool pinging; /* stall-*, window-closed: a NOP-In ping every 200 ms */
	double next_ping;
	unsigned flood_left;                 /* ping-flood: pings still to send */
	bool flood_hold;                     /* ping-flood: not reading */
	double blocked_since;                /* ping-flood: the socket took nothing since (0: it did) */
	uint32_t deferred_itt, deferred_len; /* ping-flood: the READ answered after the flood */
	uint64_t deferred_lba;
	bool deferred;
};

static void out_put(struct conn *c, const void *p, size_t n)
{
	if (c->out_len + n > c->out_cap) {
		size_t nc = c->out_cap ? c->out_cap : 65536;
		while (nc < c->out_len + n)
			nc *= 2;
		c->out = realloc(c->out, nc);
		FZ_CHECK(c->out, "out of memory");
		c->out_cap = nc;
	}
	memcpy(c->out + c->out_len, p, n);
	c->out_len += n;
}

enum { BAD_NONE, BAD_HD, BAD_DD };

/* Append one PDU.  dsl_field: DataSegmentLength to write in the header
 * (normally len); the data sent is always len bytes, padded, with a data
 * digest over them when DataDigest is on and dsl_field == len. */
static void send_pdu_x(struct conn *c, uint8_t *bhs, const void *ahs, uint32_t ahs_len, const void *data, uint32_t len,
		       uint32_t dsl_field, int bad)
{
	uint8_t hdr[48 + 1020 + 4];
	bhs[4] = (uint8_t)(ahs_len / 4);
	bhs[5] = (uint8_t)(dsl_field >> 16);
	bhs[6] = (uint8_t)(dsl_field >> 8);
	bhs[7] = (uint8_t)dsl_field;
	memcpy(hdr, bhs, 48);
	if (ahs_len)
		memcpy(hdr + 48, ahs, ahs_len);
	size_t hl = 48 + ahs_len;
	if (c->hd) {
		fz_put_le32(hdr + hl, fz_crc32c(0, hdr, hl) ^ (bad == BAD_HD ? 0x10u : 0u));
		hl += 4;
	}
	out_put(c, hdr, hl);
	if (!len)
		return;
	static const uint8_t zero[4];
	uint32_t pad = (4 - (len & 3)) & 3;
	out_put(c, data, len);
	out_put(c, zero, pad);
	if (c->dd && dsl_field == len) {
		uint8_t d[4];
		uint32_t crc = fz_crc32c(fz_crc32c(0, data, len), zero, pad);
		fz_put_le32(d, crc ^ (bad == BAD_DD ? 0x800u : 0u));
		out_put(c, d, 4);
	}
}

static void send_pdu(struct conn *c, uint8_t *bhs, const void *data, uint32_t len)
{
	send_pdu_x(c, bhs, NULL, 0, data, len, len, BAD_NONE);
}

static void bhs_init(uint8_t *b, uint8_t op, uint8_t flags, uint32_t itt)
{
	memset(b, 0, 48);
	b[0] = op;
	b[1] = flags;
	fz_put_be32(b + 16, itt);
}

static void put_sn(struct conn *c, uint8_t *b, bool advance)
{
	fz_put_be32(b + 24, c->statsn);
	if (advance)
		c->statsn++;
	fz_put_be32(b + 28, c->exp_cmdsn);
	fz_put_be32(b + 32, c->exp_cmdsn + (c->closed ? (uint32_t)-1 : 63u));
}

static void malformed(struct conn *c)
{
	n_malformed++;
	if (!c->fired) {
		c->fired = true;
		n_fired++;
	}
}

static void write_report(void)
{
	if (!report_path)
		return;
	char tmp[600];
	snprintf(tmp, sizeof(tmp), "%s.tmp", report_path);
	FILE *f = fopen(tmp, "w");
	if (!f)
		return;
	fprintf(f,
		"connections %lu\nfired %lu\nmalformed %lu\nnop_out %lu\ntmf %lu\npings_answered %lu\ncommands %lu\n"
		"reflected_answered %lu\n",
		n_conns, n_fired, n_malformed, n_nop_out, n_tmf, n_pings_answered, n_commands, n_reflected_answered);
	fclose(f);
	rename(tmp, report_path);
}

/* ---- login ---- */

static void login_response(struct conn *c, const uint8_t *req, const char *text, size_t len, bool final,
			   uint8_t st_class, uint8_t st_detail)
{
	uint8_t b[48];
	uint8_t csg = (req[1] >> 2) & 3;
	bhs_init(b, 0x23, 0, fz_be32(req + 16));
	if (st_class == 0 && (req[1] & 0x80))
		b[1] = (uint8_t)(0x80 | csg << 2 | (req[1] & 3));
	else
		b[1] = (uint8_t)(csg << 2);
	memcpy(b + 8, req + 8, 6); /* ISID */
	if (final)
		b[15] = 1; /* TSIH */
	fz_put_be32(b + 24, c->statsn);
	uint32_t cmdsn = fz_be32(req + 24);
	c->exp_cmdsn = cmdsn;
	fz_put_be32(b + 28, cmdsn);
	fz_put_be32(b + 32, cmdsn + (c->closed ? (uint32_t)-1 : 63u));
	b[36] = st_class;
	b[37] = st_detail;
	send_pdu(c, b, text, (uint32_t)len);
}

/* Append KEY=VALUE to a login response's text. */
static void text_add(char *out, size_t cap, size_t *ol, const char *key, const char *value)
{
	int w = snprintf(out + *ol, cap - *ol, "%s=%s", key, value);
	if (w > 0 && (size_t)w + 1 < cap - *ol)
		*ol += (size_t)w + 1;
}

/*
 * The security stage of the chap-* scenarios: a CHAP authenticator that
 * takes any response from the initiator (one-way is not what is tested) and
 * misbehaves as the peer of mutual CHAP.  Every connection asks for CHAP.
 */
static void chap_login(struct conn *c, const uint8_t *req, const uint8_t *data, uint32_t len)
{
	char out[1024], ic[512] = "", ii[16] = "";
	size_t ol = 0;
	bool auth = false, alg = false, resp = false;
	uint8_t hdr[48];

	for (size_t pos = 0; pos < len;) {
		const char *kv = (const char *)data + pos;
		size_t n = strnlen(kv, len - pos);
		pos += n + 1;
		if (!strncmp(kv, "AuthMethod=", 11))
			auth = true;
		else if (!strncmp(kv, "CHAP_A=", 7))
			alg = true;
		else if (!strncmp(kv, "CHAP_R=", 7))
			resp = true;
		else if (!strncmp(kv, "CHAP_C=", 7) && n - 7 < sizeof(ic))
			snprintf(ic, sizeof(ic), "%.*s", (int)(n - 7), kv + 7);
		else if (!strncmp(kv, "CHAP_I=", 7) && n - 7 < sizeof(ii))
			snprintf(ii, sizeof(ii), "%.*s", (int)(n - 7), kv + 7);
	}
	memcpy(hdr, req, 48);
	hdr[1] &= 0x7f; /* no transit unless said below */
	if (auth) {
		text_add(out, sizeof(out), &ol, "AuthMethod", "CHAP");
		text_add(out, sizeof(out), &ol, "TargetPortalGroupTag", "1");
	}
	if (alg) {
		text_add(out, sizeof(out), &ol, "CHAP_A", "5");
		if (scen == S_CHAP_REFLECT && refl_c[0]) {
			text_add(out, sizeof(out), &ol, "CHAP_I", refl_i);
			text_add(out, sizeof(out), &ol, "CHAP_C", refl_c);
			c->reflected = true;
			malformed(c);
		} else {
			text_add(out, sizeof(out), &ol, "CHAP_I", "7");
			text_add(out, sizeof(out), &ol, "CHAP_C", "0x00112233445566778899aabbccddeeff");
		}
	} else if (resp) {
		if (c->reflected)
			n_reflected_answered++;
		if (scen == S_CHAP_REFLECT && !refl_c[0] && ic[0]) {
			/* keep the initiator's challenge, then a "target error" so that
			 * it connects again, to be handed its own challenge */
			snprintf(refl_c, sizeof(refl_c), "%s", ic);
			snprintf(refl_i, sizeof(refl_i), "%s", ii);
			login_response(c, req, NULL, 0, false, 3, 0);
			c->close_after_flush = true;
			return;
		}
		if (scen == S_CHAP_BAD_MUTUAL && ic[0]) {
			/* a response that proves nothing, and the login declared done */
			text_add(out, sizeof(out), &ol, "CHAP_N", "hostile");
			text_add(out, sizeof(out), &ol, "CHAP_R", "0x5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a");
			hdr[1] = 0x80 | 3; /* T, CSG 0, NSG 3 */
			malformed(c);
			login_response(c, hdr, out, ol, true, 0, 0);
			c->ffp = true;
			c->statsn++;
			return;
		}
		memcpy(hdr, req, 48); /* accepted: on to the stage the initiator asks for */
	}
	login_response(c, hdr, out, ol, false, 0, 0);
}

static void handle_login(struct conn *c, const uint8_t *req, const uint8_t *data, uint32_t len)
{
	char out[4096];
	size_t ol = 0;
	bool final = false;

	if ((scen == S_CHAP_REFLECT || scen == S_CHAP_BAD_MUTUAL) && ((req[1] >> 2) & 3) == 0) {
		chap_login(c, req, data, len);
		return;
	}

	if (c->fire && scen == S_LOGIN_GARBAGE) {
		uint8_t g[300];
		uint64_t x = 0x1234567 + n_conns;
		for (size_t i = 0; i < sizeof(g); i++) {
			x = x * 6364136223846793005ull + 1442695040888963407ull;
			g[i] = (uint8_t)(x >> 56);
		}
		out_put(c, g, sizeof(g));
		malformed(c);
		c->close_after_flush = true;
		return;
	}
	if (c->fire && scen == S_LOGIN_REJECT) {
		malformed(c);
		login_response(c, req, NULL, 0, false, 2, 3);
		c->close_after_flush = true;
		return;
	}
	/* walk the NUL-separated keys */
	size_t pos = 0;
	while (pos < len) {
		const char *kv = (const char *)data + pos;
		size_t n = strnlen(kv, len - pos);
		char key[256], val[512];
		pos += n + 1;
		const char *eq = memchr(kv, '=', n);
		if (!eq || (size_t)(eq - kv) >= sizeof(key) || n - (size_t)(eq - kv) - 1 >= sizeof(val))
			continue;
		memcpy(key, kv, (size_t)(eq - kv));
		key[eq - kv] = 0;
		memcpy(val, eq + 1, n - (size_t)(eq - kv) - 1);
		val[n - (size_t)(eq - kv) - 1] = 0;
		const char *answer = NULL;
		char first[512];
		if (!strcmp(key, "InitiatorName") || !strcmp(key, "SessionType") || !strcmp(key, "TargetName"))
			continue;
		if (!strcmp(key, "AuthMethod")) {
			answer = "None";
		} else if (!strcmp(key, "HeaderDigest") || !strcmp(key, "DataDigest")) {
			snprintf(first, sizeof(first), "%s", val);
			char *comma = strchr(first, ',');
			if (comma)
				*comma = 0;
			answer = first;
			bool crc = !strcasecmp(first, "CRC32C");
			if (key[0] == 'H')
				c->new_hd = crc;
			else
				c->new_dd = crc;
		} else if (!strcmp(key, "MaxRecvDataSegmentLength")) {
			c->peer_max_dsl = (uint32_t)strtoul(val, NULL, 10);
			answer = "65536"; /* declarative: ours */
		} else {
			answer = val; /* the initiator's own value is an acceptable result */
		}
		int w = snprintf(out + ol, sizeof(out) - ol, "%s=%s", key, answer);
		if (w > 0 && (size_t)w + 1 < sizeof(out) - ol)
			ol += (size_t)w + 1;
	}
	uint8_t csg = (req[1] >> 2) & 3, nsg = req[1] & 3;
	if (csg == 0 && ol + 40 < sizeof(out)) {
		int w = snprintf(out + ol, sizeof(out) - ol, "TargetPortalGroupTag=1");
		ol += (size_t)w + 1;
	}
	final = (req[1] & 0x80) && nsg == 3;
	if (c->fire && scen == S_LOGIN_ENDLESS && csg == 1) {
		/* answer the keys, never let the initiator move on */
		uint8_t stay[48];
		memcpy(stay, req, 48);
		stay[1] &= 0x7f;
		malformed(c);
		login_response(c, stay, out, ol, false, 0, 0);
		return;
	}
	login_response(c, req, out, ol, final, 0, 0);
	if (final) {
		c->ffp = true; /* digests from the next PDU on, both ways */
		c->hd = c->new_hd;
		c->dd = c->new_dd;
		c->statsn++;
	}
}

/* ---- commands ---- */

static void scsi_response(struct conn *c, uint32_t itt, uint8_t status, const uint8_t *sense, uint32_t sense_len,
			  uint16_t sense_field)
{
	uint8_t b[48], d[260];
	bhs_init(b, 0x21, 0x80, itt);
	b[3] = status;
	put_sn(c, b, true);
	uint32_t n = 0;
	if (sense_len) {
		d[0] = (uint8_t)(sense_field >> 8);
		d[1] = (uint8_t)sense_field;
		memcpy(d + 2, sense, sense_len);
		n = 2 + sense_len;
	}
	send_pdu(c, b, d, n);
}

/* Data-In for [0, len) of data, in PDUs of at most chunk bytes, the last
 * with status GOOD (S|F). */
static void data_in_all(struct conn *c, uint32_t itt, const uint8_t *data, uint32_t len, uint32_t chunk,
			uint32_t first_sn)
{
	uint32_t sn = first_sn;
	for (uint32_t off = 0; off < len || (len == 0 && off == 0);) {
		uint32_t n = len - off < chunk ? len - off : chunk;
		bool last = off + n >= len;
		uint8_t b[48];
		bhs_init(b, 0x25, last ? 0x81 : 0x00, itt);
		fz_put_be32(b + 20, 0xffffffffu);
		put_sn(c, b, last);
		fz_put_be32(b + 36, sn++);
		fz_put_be32(b + 40, off);
		send_pdu(c, b, data + off, n);
		off += n;
		if (len == 0)
			break;
	}
}

static void data_in_pdu(struct conn *c, uint32_t itt, uint32_t sn, uint32_t off, const uint8_t *data, uint32_t len,
			uint8_t flags, uint32_t residual)
{
	uint8_t b[48];
	bhs_init(b, 0x25, flags, itt);
	fz_put_be32(b + 20, 0xffffffffu);
	put_sn(c, b, flags & 0x01);
	fz_put_be32(b + 36, sn);
	fz_put_be32(b + 40, off);
	fz_put_be32(b + 44, residual);
	send_pdu(c, b, data, len);
}

static void nop_flood(struct conn *c)
{
	for (unsigned i = 0; i < flood_n; i++) {
		uint8_t b[48];
		bool ping = i & 1;
		bhs_init(b, 0x20, 0x80, 0xffffffffu);
		fz_put_be32(b + 20, ping ? ++c->flood_ttt : 0xffffffffu);
		put_sn(c, b, false);
		send_pdu(c, b, NULL, 0);
	}
}

/* The misbehaviour, on the first READ(16) of a connection that fires.
 * Returns true when it replaced the normal answer. */
static bool misbehave(struct conn *c, const uint8_t *cmd, const uint8_t *buf, uint32_t len)
{
	uint32_t itt = fz_be32(cmd + 16);
	uint32_t chunk = c->peer_max_dsl && c->peer_max_dsl < 8192 ? c->peer_max_dsl : 8192;
	uint8_t b[48];

	malformed(c);
	switch (scen) {
	case S_NONE:
	case S_COUNT:
	case S_LOGIN_GARBAGE:
	case S_LOGIN_REJECT:
	case S_UA_STORM: n_malformed--; return false;
	case S_UNKNOWN_OPCODE:
		bhs_init(b, 0x1c, 0x80, itt);
		put_sn(c, b, false);
		send_pdu(c, b, buf, 13);
		return false;
	case S_DSL_OVER_MAX: {
		uint32_t n = c->peer_max_dsl + 4;
		uint8_t *big = calloc(1, n);
		FZ_CHECK(big, "out of memory");
		data_in_pdu(c, itt, 0, 0, big, n, 0, 0);
		free(big);
		return false;
	}
	case S_DSL_MAX:
		bhs_init(b, 0x25, 0, itt);
		fz_put_be32(b + 20, 0xffffffffu);
		put_sn(c, b, false);
		send_pdu_x(c, b, NULL, 0, buf, 4096, 0xffffff, BAD_NONE);
		return false;
	case S_AHS_PAST_PDU: {
		/* TotalAHSLength 2 words; the AHS says 100 bytes follow */
		uint8_t ahs[8] = { 0, 100, 1, 0 };
		bhs_init(b, 0x25, 0, itt);
		fz_put_be32(b + 20, 0xffffffffu);
		put_sn(c, b, false);
		send_pdu_x(c, b, ahs, sizeof(ahs), buf, chunk < len ? chunk : len, chunk < len ? chunk : len, BAD_NONE);
		return false;
	}
	case S_AHS_TOTAL_MAX: {
		uint8_t ahs[1020] = { 0xff, 0xff, 1, 0 };
		bhs_init(b, 0x25, 0, itt);
		fz_put_be32(b + 20, 0xffffffffu);
		put_sn(c, b, false);
		send_pdu_x(c, b, ahs, sizeof(ahs), NULL, 0, 0, BAD_NONE);
		return false;
	}
	case S_OFFSET_PAST_SGL: data_in_pdu(c, itt, 0, len - 100, buf, 512, 0, 0); return false;
	case S_OFFSET_WRAP: data_in_pdu(c, itt, 0, 0xffffff00u, buf, 512, 0, 0); return false;
	case S_UNKNOWN_ITT: data_in_pdu(c, itt ^ 0x5a5a0000u, 0, 0, buf, 512, 0, 0); return false;
	case S_FINISHED_ITT:
		data_in_all(c, itt, buf, len, chunk, 0);
		data_in_pdu(c, itt, 0, 0, buf, 512, 0x81, 0);
		return true;
	case S_RSP_UNKNOWN_ITT: scsi_response(c, itt ^ 0x00a50000u, 0, NULL, 0, 0); return false;
	case S_DATASN_REPEAT:
		data_in_pdu(c, itt, 0, 0, buf, chunk, 0, 0);
		data_in_pdu(c, itt, 0, 0, buf, chunk, 0, 0);
		return false;
	case S_DATASN_REPEAT_NEW:
		data_in_pdu(c, itt, 0, 0, buf, chunk, 0, 0);
		data_in_pdu(c, itt, 0, chunk, buf + chunk, chunk, 0, 0);
		return false;
	case S_DATASN_SKIP:
		/* DataSN 0, 2, 3, ...: every byte once, in order, one number missing */
		for (uint32_t off = 0, sn = 0; off < len; sn += sn == 0 ? 2 : 1) {
			uint32_t n = len - off < chunk ? len - off : chunk;
			bool last = off + n >= len;
			data_in_pdu(c, itt, sn, off, buf + off, n, last ? 0x81 : 0x00, 0);
			off += n;
		}
		return true;
	case S_S_WITHOUT_F:
		for (uint32_t off = 0, sn = 0; off < len; sn++) {
			uint32_t n = len - off < chunk ? len - off : chunk;
			bool last = off + n >= len;
			data_in_pdu(c, itt, sn, off, buf + off, n, last ? 0x01 : 0x00, 0);
			off += n;
		}
		return true;
	case S_SHORT_GOOD: data_in_pdu(c, itt, 0, 0, buf, len / 2, 0x81, 0); return true;
	case S_TRUNCATED_CLOSE: {
		size_t before = c->out_len;
		data_in_pdu(c, itt, 0, 0, buf, chunk, 0, 0);
		c->out_len = before + (c->out_len - before) / 2;
		c->close_after_flush = true;
		return true;
	}
	case S_BYTEWISE:
		n_malformed--; /* not malformed: only slow */
		return false;
	case S_ANSWER_CLOSE:
		n_malformed--; /* not malformed: an answer, then a close the initiator must survive */
		data_in_all(c, itt, buf, len, chunk, 0);
		c->close_after_flush = true;
		c->half_close = true;
		return true;
	case S_NOP_FLOOD: nop_flood(c); return false;
	case S_REJECT: {
		bhs_init(b, 0x3f, 0x80, 0xffffffffu);
		b[2] = 0x09; /* invalid PDU field */
		put_sn(c, b, true);
		send_pdu(c, b, cmd, 48);
		return true;
	}
	case S_ASYNC_LOGOUT:
	case S_ASYNC_DROP:
		bhs_init(b, 0x32, 0x80, 0xffffffffu);
		put_sn(c, b, true);
		b[36] = scen == S_ASYNC_LOGOUT ? 1 : 2;
		b[40] = 0; /* Parameter1 (event 2: the CID) */
		b[43] = 2; /* Parameter3: DefaultTime2Retain / time to wait */
		send_pdu(c, b, NULL, 0);
		return false;
	case S_HDR_DIGEST:
	case S_DATA_DIGEST:
		if (scen == S_HDR_DIGEST ? !c->hd : !c->dd) {
			n_malformed--; /* that digest is not on: nothing to spoil */
			return false;
		}
		bhs_init(b, 0x25, 0, itt);
		fz_put_be32(b + 20, 0xffffffffu);
		put_sn(c, b, false);
		send_pdu_x(c, b, NULL, 0, buf, chunk, chunk, scen == S_HDR_DIGEST ? BAD_HD : BAD_DD);
		return true; /* nothing after it matters: the initiator must drop */
	case S_R2T_FOR_READ:
		bhs_init(b, 0x31, 0x80, itt);
		fz_put_be32(b + 20, 0x1234);
		put_sn(c, b, false);
		fz_put_be32(b + 44, 4096);
		send_pdu(c, b, NULL, 0);
		return false;
	case S_SENSE_OVERRUN: {
		static const uint8_t ua[18] = { 0x70, 0, 0x06, 0, 0, 0, 0, 10, 0, 0, 0, 0, 0x29, 0 };
		scsi_response(c, itt, 0x02, ua, sizeof(ua), 0xffff);
		return true; /* the initiator retries a UNIT ATTENTION */
	}
	case S_STALL: return true;
	case S_UNDERFLOW_NODATA: {
		/* "GOOD, and I sent nothing of it": a file of zeros if believed */
		bhs_init(b, 0x21, 0x80 | 0x02, itt);
		put_sn(c, b, true);
		fz_put_be32(b + 44, len);
		send_pdu(c, b, NULL, 0);
		return true;
	}
	case S_UNDERFLOW_HOLE:
	case S_UNDERFLOW_TAIL: {
		/* residual 512 says 512 bytes fewer; the bytes left out are in the
		 * middle (a hole: the count matches, the ranges do not) or at the end */
		uint32_t hole = scen == S_UNDERFLOW_HOLE ? (len / 2) & ~511u : len - 512;
		uint32_t sn = 0;
		for (uint32_t off = 0; off < len;) {
			if (off == hole) {
				off += 512;
				continue;
			}
			uint32_t end = off < hole ? hole : len, n = end - off < chunk ? end - off : chunk;
			bool last = off + n >= len || (off + n == hole && hole + 512 >= len);
			data_in_pdu(c, itt, sn++, off, buf + off, n, last ? 0x83 : 0x00, last ? 512 : 0);
			off += n;
		}
		return true;
	}
	case S_STALL_PING:
	case S_STALL_ABORTABLE: return true; /* handle_command keeps them unanswered */
	case S_WINDOW_CLOSED:
	case S_LOGIN_ENDLESS:
	case S_CHAP_REFLECT:
	case S_CHAP_BAD_MUTUAL:
		n_malformed--; /* counted where it happens */
		return false;
	case S_PING_FLOOD:
		c->flood_left = ping_flood_n;
		c->flood_hold = true;
		c->deferred = true;
		c->deferred_itt = itt;
		c->deferred_len = len;
		c->deferred_lba = fz_be32(cmd + 32 + 2) * (1ull << 32) + fz_be32(cmd + 32 + 6);
		return true;
	}
	return false;
}

static void send_ping(struct conn *c, const uint8_t *data, uint32_t len)
{
	uint8_t b[48];
	bhs_init(b, 0x20, 0x80, 0xffffffffu);
	fz_put_be32(b + 20, ++c->flood_ttt);
	put_sn(c, b, false);
	send_pdu(c, b, data, len);
}

static void read_answer(struct conn *c, uint32_t itt, uint64_t lba, uint32_t len)
{
	uint8_t *buf = malloc(len ? len : 1);
	FZ_CHECK(buf, "out of memory");
	for (uint32_t i = 0; i < len; i++)
		buf[i] = lun_byte(lba * BLOCK + i);
	uint32_t chunk = c->peer_max_dsl && c->peer_max_dsl < 8192 ? c->peer_max_dsl : 8192;
	data_in_all(c, itt, buf, len, chunk, 0);
	free(buf);
}

/* ping-flood: keep up to 256 KiB of pings queued, then the deferred READ */
static void flood_more(struct conn *c)
{
	static uint8_t data[1u << 16];
	uint32_t n = ping_data < sizeof(data) ? ping_data : sizeof(data);
	for (uint32_t i = 0; i < n; i++)
		data[i] = (uint8_t)(i * 13 + 7);
	while (c->flood_left && c->out_len - c->out_off < 262144) {
		send_ping(c, data, n);
		c->flood_left--;
		n_malformed++;
	}
	if (!c->flood_left && c->deferred) {
		c->deferred = false;
		read_answer(c, c->deferred_itt, c->deferred_lba, c->deferred_len);
	}
}

static void handle_command(struct conn *c, const uint8_t *cmd)
{
	uint32_t itt = fz_be32(cmd + 16);
	uint32_t edtl = fz_be32(cmd + 20);
	uint32_t cmdsn = fz_be32(cmd + 24);
	const uint8_t *cdb = cmd + 32;
	static const uint8_t illegal[18] = { 0x70, 0, 0x05, 0, 0, 0, 0, 10, 0, 0, 0, 0, 0x20, 0 };

	n_commands++;
	if (!(cmd[0] & 0x40) && (int32_t)(cmdsn + 1 - c->exp_cmdsn) > 0)
		c->exp_cmdsn = cmdsn + 1;
	if (c->fire && scen == S_UA_STORM) {
		static const uint8_t ua[18] = { 0x70, 0, 0x06, 0, 0, 0, 0, 10, 0, 0, 0, 0, 0x29, 0 };
		if (c->cmds++ == 0) {
			scsi_response(c, itt, 0x02, ua, sizeof(ua), sizeof(ua));
			return;
		}
		if (cdb[0] == 0x88 && c->good_reads++ >= 1 && c->dd) {
			/* later, so that the initiator sees its progress first */
			if (!c->poison_at) {
				c->poison_at = now_s() + 0.05;
				c->poison_itt = itt;
			}
			return; /* the commands after the good one are never answered */
		}
	}
	if (c->fire && cdb[0] == 0x88 && (scen == S_STALL_PING || scen == S_STALL_ABORTABLE) && (always || !c->fired)) {
		malformed(c);
		return; /* never answered; in --always every READ, else the first */
	}
	switch (cdb[0]) {
	case 0x12: { /* INQUIRY */
		uint8_t d[96] = { 0 };
		d[2] = 5;
		d[3] = 2;
		d[4] = 91;
		memcpy(d + 8, "TOELESS HOSTILE TARGET  0001", 28);
		data_in_all(c, itt, d, edtl < sizeof(d) ? edtl : sizeof(d), 8192, 0);
		return;
	}
	case 0x00: /* TEST UNIT READY */ scsi_response(c, itt, 0, NULL, 0, 0); return;
	case 0x9e: { /* READ CAPACITY(16) */
		uint8_t d[32] = { 0 };
		uint64_t last = blocks - 1;
		fz_put_be32(d, (uint32_t)(last >> 32));
		fz_put_be32(d + 4, (uint32_t)last);
		fz_put_be32(d + 8, BLOCK);
		data_in_all(c, itt, d, edtl < sizeof(d) ? edtl : sizeof(d), 8192, 0);
		return;
	}
	case 0x88: { /* READ(16) */
		uint64_t lba = (uint64_t)fz_be32(cdb + 2) << 32 | fz_be32(cdb + 6);
		uint32_t nb = fz_be32(cdb + 10);
		if (lba + nb > blocks || (uint64_t)nb * BLOCK != edtl) {
			scsi_response(c, itt, 0x02, illegal, sizeof(illegal), sizeof(illegal));
			return;
		}
		uint8_t *buf = malloc(edtl ? edtl : 1);
		FZ_CHECK(buf, "out of memory");
		for (uint32_t i = 0; i < edtl; i++)
			buf[i] = lun_byte(lba * BLOCK + i);
		bool replaced = false;
		if (c->fire && !c->fired)
			replaced = misbehave(c, cmd, buf, edtl);
		if (!replaced) {
			uint32_t chunk = c->peer_max_dsl && c->peer_max_dsl < 8192 ? c->peer_max_dsl : 8192;
			data_in_all(c, itt, buf, edtl, chunk, 0);
		}
		free(buf);
		return;
	}
	default: scsi_response(c, itt, 0x02, illegal, sizeof(illegal), sizeof(illegal));
	}
}

static void handle_pdu(struct conn *c, const uint8_t *h, const uint8_t *data, uint32_t dsl)
{
	uint8_t op = h[0] & 0x3f;
	uint32_t itt = fz_be32(h + 16);
	uint8_t b[48];

	if (!c->ffp) {
		if (op == 0x03)
			handle_login(c, h, data, dsl);
		return;
	}
	switch (op) {
	case 0x00: /* NOP-Out */
		n_nop_out++;
		if (itt == 0xffffffffu && fz_be32(h + 20) != 0xffffffffu)
			n_pings_answered++;
		if (itt != 0xffffffffu) {
			bhs_init(b, 0x20, 0x80, itt);
			fz_put_be32(b + 20, 0xffffffffu);
			memcpy(b + 8, h + 8, 8);
			put_sn(c, b, true);
			send_pdu(c, b, data, dsl);
		}
		return;
	case 0x01: handle_command(c, h); return;
	case 0x02: /* Task Management Function Request */
		n_tmf++;
		if (c->fire && scen == S_STALL_ABORTABLE) {
			bhs_init(b, 0x22, 0x80, itt);
			b[2] = 0; /* function complete */
			put_sn(c, b, true);
			send_pdu(c, b, NULL, 0);
		}
		return;
	case 0x06: /* Logout */
		bhs_init(b, 0x26, 0x80, itt);
		put_sn(c, b, true);
		send_pdu(c, b, NULL, 0);
		c->close_after_flush = true;
		return;
	default: return; /* Data-Out, Text, TMF: ignored */
	}
}

/* Parse every whole PDU in c->in. */
static void parse_in(struct conn *c)
{
	size_t pos = 0;
	for (;;) {
		if (c->close_after_flush || c->in_len - pos < 48)
			break; /* closing: nothing more is answered */
		const uint8_t *h = c->in + pos;
		uint32_t ahs = (uint32_t)h[4] * 4;
		uint32_t dsl = (uint32_t)h[5] << 16 | (uint32_t)h[6] << 8 | h[7];
		size_t hd = c->ffp && c->hd ? 4 : 0, dd = c->ffp && c->dd && dsl ? 4 : 0;
		size_t need = 48 + ahs + hd + dsl + ((4 - (dsl & 3)) & 3) + dd;
		if (c->in_len - pos < need)
			break;
		handle_pdu(c, h, h + 48 + ahs + hd, dsl);
		pos += need;
	}
	memmove(c->in, c->in + pos, c->in_len - pos);
	c->in_len -= pos;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void serve(int fd)
{
	struct conn c = { .fd = fd, .statsn = 0x1000 };
	int one = 1;
	n_conns++;
	c.fire = scen != S_NONE && (always || n_fired == 0);
	c.bytewise = c.fire && scen == S_BYTEWISE;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	fz_nonblock(fd);
	if (c.bytewise) {
		n_fired++;
		c.fired = true;
	}
	c.closed = c.fire && scen == S_WINDOW_CLOSED;
	if (c.closed)
		malformed(&c);
	c.pinging = c.fire && (scen == S_STALL_PING || scen == S_STALL_ABORTABLE || scen == S_WINDOW_CLOSED);

	for (;;) {
		if (c.poison_at && now_s() >= c.poison_at) {
			/* ua-storm: a Data-In with a bad data digest ends the connection */
			uint8_t b[48], junk[16] = { 0 };
			c.poison_at = 0;
			malformed(&c);
			bhs_init(b, 0x25, 0, c.poison_itt);
			fz_put_be32(b + 20, 0xffffffffu);
			put_sn(&c, b, false);
			send_pdu_x(&c, b, NULL, 0, junk, 16, 16, BAD_DD);
		}
		if (c.pinging && c.ffp && now_s() >= c.next_ping) {
			send_ping(&c, NULL, 0);
			c.next_ping = now_s() + 0.2;
		}
		if (c.flood_left || c.deferred)
			flood_more(&c);
		if (c.flood_hold &&
		    ((!c.flood_left && c.out_off == c.out_len) || (c.blocked_since && now_s() - c.blocked_since > 0.5)))
			c.flood_hold = false; /* blocked long enough (or done): read again */
		struct pollfd p = { .fd = fd,
				    .events = (c.flood_hold ? 0 : POLLIN) | (c.out_off < c.out_len ? POLLOUT : 0) };
		int n = poll(&p, 1, c.poison_at || c.flood_hold || c.flood_left ? 10 : c.pinging ? 50 : 1000);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			break;
		if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
			if (c.in_cap - c.in_len < 65536) {
				c.in_cap = c.in_cap ? c.in_cap * 2 : 262144;
				c.in = realloc(c.in, c.in_cap);
				FZ_CHECK(c.in, "out of memory");
			}
			ssize_t r = read(fd, c.in + c.in_len, c.in_cap - c.in_len);
			if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR))
				break; /* the initiator went away */
			if (r > 0 && c.half_closed) {
				c.in_len = 0; /* after our FIN: read and dropped */
				r = 0;
			}
			if (r > 0) {
				c.in_len += (size_t)r;
				parse_in(&c);
			}
		}
		if (c.out_off < c.out_len) {
			size_t want = c.bytewise ? 1 : c.out_len - c.out_off;
			ssize_t w = send(fd, c.out + c.out_off, want, MSG_NOSIGNAL);
			if (w > 0)
				c.out_off += (size_t)w;
			else if (w < 0 && errno != EAGAIN && errno != EINTR)
				break;
			if (w > 0)
				c.blocked_since = 0; /* progress */
			else if (!c.blocked_since)
				c.blocked_since = now_s();
			if (c.out_off == c.out_len)
				c.out_off = c.out_len = 0;
		}
		if (c.close_after_flush && c.out_off == c.out_len) {
			if (!c.half_close)
				break;
			if (!c.half_closed) {
				shutdown(fd, SHUT_WR);
				c.half_closed = now_s();
			} else if (now_s() - c.half_closed > 10) {
				break; /* the initiator never closed its side */
			}
		}
	}
	close(fd);
	free(c.in);
	free(c.out);
	write_report();
}

static void usage(FILE *f)
{
	fprintf(f, "usage: hostile --port-file FILE --scenario NAME [--always] [--blocks N] [--report FILE]\n"
		   "               [--address A] [--idle SECONDS] [--flood N] [--ping-flood N] [--ping-data BYTES]\n"
		   "       hostile --dump FILE [--blocks N]\n"
		   "       hostile --list\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "port-file", required_argument, NULL, 'p' },
		{ "scenario", required_argument, NULL, 's' },
		{ "always", no_argument, NULL, 'a' },
		{ "blocks", required_argument, NULL, 'b' },
		{ "report", required_argument, NULL, 'r' },
		{ "idle", required_argument, NULL, 'i' },
		{ "flood", required_argument, NULL, 'f' },
		{ "dump", required_argument, NULL, 'd' },
		{ "ping-flood", required_argument, NULL, 'P' },
		{ "ping-data", required_argument, NULL, 'D' },
		{ "list", no_argument, NULL, 'l' },
		{ "address", required_argument, NULL, 'A' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *port_file = NULL, *dump = NULL, *address = "127.0.0.1";
	double idle = 60;
	int o;

	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 'p': port_file = optarg; break;
		case 's':
			for (scen = 0; scen < S_COUNT && strcmp(scen_name[scen], optarg); scen++)
				;
			if (scen == S_COUNT) {
				fprintf(stderr, "hostile: unknown scenario \"%s\" (try --list)\n", optarg);
				return 2;
			}
			break;
		case 'a': always = true; break;
		case 'b': blocks = strtoull(optarg, NULL, 0); break;
		case 'r': report_path = optarg; break;
		case 'i': idle = strtod(optarg, NULL); break;
		case 'f': flood_n = (unsigned)strtoul(optarg, NULL, 0); break;
		case 'P': ping_flood_n = (unsigned)strtoul(optarg, NULL, 0); break;
		case 'D': ping_data = (unsigned)strtoul(optarg, NULL, 0); break;
		case 'd': dump = optarg; break;
		case 'A': address = optarg; break;
		case 'l':
			for (int i = 0; i < S_COUNT; i++)
				printf("%s\n", scen_name[i]);
			return 0;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (blocks == 0) {
		usage(stderr);
		return 2;
	}
	if (dump) {
		FILE *f = fopen(dump, "wb");
		if (!f) {
			perror(dump);
			return 1;
		}
		for (uint64_t i = 0; i < blocks * BLOCK; i++)
			fputc(lun_byte(i), f);
		return fclose(f) == 0 ? 0 : 1;
	}
	if (!port_file) {
		usage(stderr);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);

	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t al = sizeof(a);
	if (inet_pton(AF_INET, address, &a.sin_addr) != 1) {
		fprintf(stderr, "hostile: bad --address \"%s\" (IPv4)\n", address);
		return 2;
	}
	int one = 1;
	int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof(a)) || listen(l, 8) ||
	    getsockname(l, (struct sockaddr *)&a, &al)) {
		perror("hostile: listen");
		return 1;
	}
	char tmp[600];
	snprintf(tmp, sizeof(tmp), "%s.tmp", port_file);
	FILE *pf = fopen(tmp, "w");
	if (!pf || fprintf(pf, "%u\n", ntohs(a.sin_port)) < 0 || fclose(pf) || rename(tmp, port_file)) {
		perror(port_file);
		return 1;
	}
	write_report();

	double last = now_s();
	for (;;) {
		struct pollfd p = { .fd = l, .events = POLLIN };
		int n = poll(&p, 1, 500);
		if (n > 0) {
			int fd = accept(l, NULL, NULL);
			if (fd >= 0) {
				serve(fd);
				last = now_s();
			}
		} else if (now_s() - last > idle) {
			break;
		}
	}
	close(l);
	return 0;
}
