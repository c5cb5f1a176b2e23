/*
 * iscsi-session: the iSCSI initiator session layer on libuv and libtoeless,
 * shared by toeless-iscsi (examples/toeless-iscsi/) and the nbdkit plugin
 * (plugins/nbdkit/).  It is a static convenience library of the build
 * (libtoeless-iscsi-session.la, PIC), not part of libtoeless's ABI.
 * The API is documented in doc/session.md; in short:
 *
 *   session_init / session_login / task_get / task_submit / session_exec /
 *   session_logout / session_destroy   the event-driven core: one thread
 *              runs the libuv loop; done() callbacks run on it
 *   session_probe_lun, session_report_luns, session_discover
 *              the probing commands (INQUIRY, TEST UNIT READY, READ
 *              CAPACITY(16); REPORT LUNS; SendTargets)
 *   iscsi_sync_*  (sync.c) the blocking seam for other threads: a session
 *              thread runs the loop, callers queue requests and wait
 *
 * Modules:
 *   login.c    the login phase: security stage (AuthMethod None or CHAP,
 *              one-way or mutual, chap.c) and the operational text-key
 *              negotiation (RFC 7143 section 6, 13)
 *   session.c  connections and the full-feature phase: CmdSN window, task
 *              table, Data-In placement, R2T and Data-Out, NOP, Logout, and
 *              recovery at ErrorRecoveryLevel 0 (drop, log in again, reissue)
 *   escalate.c what happens to a command that gets no answer in time: ABORT
 *              TASK, LOGICAL UNIT RESET, a new connection, then giving up
 *   scsi.c     CDBs, status and sense decoding
 *   probe.c    LUN probing, REPORT LUNS, SendTargets discovery
 *   chap.c     CHAP (RFC 7143 12.1.3, RFC 1994) with a local MD5
 *   sync.c     the session thread and its blocking calls
 *
 * Only include/toeless.h and include/toeless_iscsi.h of the library are used.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef TOELESS_EXAMPLE_ISCSI_H
#define TOELESS_EXAMPLE_ISCSI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <sys/socket.h>
#include <uv.h>

#include "toeless.h"
#include "toeless_iscsi.h"

/* ------------------------------------------------------------------------ */
/* Exit status: a stable contract for scripts (doc/initiator.md).            */
enum iscsi_exit {
	EXIT_OK = 0,
	EXIT_USAGE = 2,       /* bad command line */
	EXIT_UNREACHABLE = 3, /* could not connect to the portal */
	EXIT_LOGIN = 4,       /* login refused, or a negotiation result we did not accept */
	EXIT_NOLUN = 5,       /* no such LUN, or not a block device */
	EXIT_RANGE = 6,       /* offset/length not a multiple of the block size, or past the end */
	EXIT_DIGEST = 7,      /* digest errors persisted through every retry */
	EXIT_SCSI = 8,        /* a command failed with a SCSI status (sense printed) */
	EXIT_CONN = 9,        /* connection lost or protocol error, retries exhausted */
	EXIT_LOCAL = 10,      /* local file or library error */
	EXIT_TIMEOUT = 11,    /* a command got no answer through the whole escalation */
	EXIT_AUTH = 12,       /* CHAP failed: the target refused our secret, or the target
			       * failed to prove its own (mutual CHAP) */
};

/* Messages from the layer: level, and one line without the program name. */
enum iscsi_log_level { ISCSI_LOG_ERROR, ISCSI_LOG_WARN, ISCSI_LOG_DEBUG };
typedef void (*iscsi_log_fn)(int level, const char *msg, void *arg);
/* Process-wide; the default prints "toeless-iscsi: MSG" on stderr (DEBUG only
 * with verbose).  The plugin sends them to nbdkit_error/nbdkit_debug. */
void iscsi_log_set(iscsi_log_fn fn, void *arg);
void iscsi_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ------------------------------------------------------------------------ */
/* iSCSI wire format (RFC 7143 section 11); values from <toeless_iscsi.h>.   */
enum iscsi_opcode {
	OP_NOP_OUT = TOELESS_ISCSI_OP_NOP_OUT,
	OP_SCSI_CMD = TOELESS_ISCSI_OP_SCSI_CMD,
	OP_TMF_REQ = TOELESS_ISCSI_OP_TASK_MGMT_REQ,
	OP_LOGIN_REQ = TOELESS_ISCSI_OP_LOGIN_REQ,
	OP_TEXT_REQ = TOELESS_ISCSI_OP_TEXT_REQ,
	OP_DATA_OUT = TOELESS_ISCSI_OP_DATA_OUT,
	OP_LOGOUT_REQ = TOELESS_ISCSI_OP_LOGOUT_REQ,
	OP_SNACK_REQ = TOELESS_ISCSI_OP_SNACK_REQ,
	OP_NOP_IN = TOELESS_ISCSI_OP_NOP_IN,
	OP_SCSI_RSP = TOELESS_ISCSI_OP_SCSI_RSP,
	OP_TMF_RSP = TOELESS_ISCSI_OP_TASK_MGMT_RSP,
	OP_LOGIN_RSP = TOELESS_ISCSI_OP_LOGIN_RSP,
	OP_TEXT_RSP = TOELESS_ISCSI_OP_TEXT_RSP,
	OP_DATA_IN = TOELESS_ISCSI_OP_DATA_IN,
	OP_LOGOUT_RSP = TOELESS_ISCSI_OP_LOGOUT_RSP,
	OP_R2T = TOELESS_ISCSI_OP_R2T,
	OP_ASYNC = TOELESS_ISCSI_OP_ASYNC_MSG,
	OP_REJECT = TOELESS_ISCSI_OP_REJECT,
};

#define BHS_IMMEDIATE    0x40 /* byte 0: immediate delivery */
#define BHS_FINAL        0x80 /* byte 1: F bit */
#define CMD_READ         0x40 /* SCSI Command byte 1: R */
#define CMD_WRITE        0x20 /* SCSI Command byte 1: W */
#define CMD_ATTR_SIMPLE  1    /* SCSI Command byte 1: task attribute */
#define DATAIN_STATUS    0x01 /* Data-In byte 1: S */
#define DATAIN_UNDERFLOW 0x02
#define DATAIN_OVERFLOW  0x04
#define RSP_UNDERFLOW    0x02 /* SCSI Response byte 1: U */
#define RSP_OVERFLOW     0x04 /* SCSI Response byte 1: O */
#define RESERVED_TAG     0xffffffffu

/* Task Management Function Request byte 1 (RFC 7143 11.5.1) */
#define TMF_ABORT_TASK 1
#define TMF_LUN_RESET  5
/* Task Management Function Response byte 2 (RFC 7143 11.6.1) */
#define TMF_RSP_COMPLETE 0
#define TMF_RSP_NO_TASK  1

/* Name of any opcode of RFC 7143 section 11 ("reserved" for the rest). */
const char *iscsi_opcode_str(uint8_t op);

static inline uint16_t get_be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t get_be24(const uint8_t *p)
{
	return (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2];
}

static inline uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline uint64_t get_be64(const uint8_t *p)
{
	return (uint64_t)get_be32(p) << 32 | get_be32(p + 4);
}

static inline void put_be16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static inline void put_be64(uint8_t *p, uint64_t v)
{
	put_be32(p, (uint32_t)(v >> 32));
	put_be32(p + 4, (uint32_t)v);
}

/* Serial number arithmetic (RFC 1982) for CmdSN, StatSN, DataSN. */
static inline bool sn_lt(uint32_t a, uint32_t b)
{
	return (int32_t)(a - b) < 0;
}

static inline bool sn_le(uint32_t a, uint32_t b)
{
	return (int32_t)(a - b) <= 0;
}

/* ------------------------------------------------------------------------ */
/* Configuration from the command line.                                       */
enum digest_want {
	DIGEST_WANT_NONE,   /* offer None only */
	DIGEST_WANT_CRC32C, /* offer CRC32C only: refuse a login that ends with None */
	DIGEST_WANT_ANY,    /* offer CRC32C,None: take what the target prefers */
};

struct config {
	const char *host;
	const char *port;
	const char *target;
	const char *initiator;
	uint64_t lun;
	enum digest_want header_digest, data_digest;
	const char *backend;
	unsigned queue_depth;
	uint32_t block_size;
	uint64_t offset, length;
	bool have_length;
	unsigned seconds;
	bool stats, bench_write, verbose, unchecked;
	/* libtoeless receive-path options (doc/performance.md) */
	bool cq_polled;  /* TOELESS_CQ_POLLED: no eventfd; we drain after every event */
	bool rx_lowat;   /* TOELESS_CTX_RCVLOWAT: one wake-up per PDU from a slow target */
	bool itt_direct; /* toeless_ctx_attr.itt_slots: tasks indexed by our slot numbers */
	/* what we offer at login */
	uint32_t max_recv_dsl, max_burst, first_burst, max_outstanding_r2t;
	bool immediate_data, initial_r2t;
	/* recovery and liveness */
	unsigned retries;      /* consecutive connection failures before giving up */
	unsigned nop_interval; /* seconds of silence before we ping the target (0: never) */
	unsigned timeout;      /* seconds without an answer before the connection is dropped */
	unsigned cmd_timeout;  /* seconds a command may go unanswered before escalation */
	/* CHAP (chap.c): secrets are read from files or the environment by the
	 * program (chap_secret_load), never taken from a command line */
	const char *chap_user;          /* NULL: AuthMethod=None */
	const char *chap_secret;        /* our secret */
	const char *chap_target_user;   /* mutual: the name the target must give (NULL: any) */
	const char *chap_target_secret; /* mutual: the target's secret (NULL: one-way) */
	bool discovery;                 /* SessionType=Discovery (no TargetName) */
};

/* The defaults the command line and the nbdkit plugin share: port 3260,
 * backend "auto", login proposals (MaxRecvDataSegmentLength 256 KiB,
 * MaxBurstLength 1 MiB, FirstBurstLength 256 KiB, one outstanding R2T,
 * ImmediateData=Yes, InitialR2T=No), recovery (5 retries, NOP every 10 s,
 * 15 s timeout, 30 s command deadline) and the direct task table.  Everything
 * else is zero: each program sets its own name, queue depth and sizes. */
void config_defaults(struct config *cfg);

/* ------------------------------------------------------------------------ */
/* Login (login.c).                                                            */

/* Operational parameters in force on a connection (RFC 7143 section 13). */
struct iscsi_params {
	bool header_digest, data_digest;
	uint32_t max_recv_dsl; /* ours, declared: the most the target sends in one PDU */
	uint32_t max_send_dsl; /* the target's MaxRecvDataSegmentLength: the most we send */
	uint32_t max_burst, first_burst, max_outstanding_r2t;
	bool immediate_data, initial_r2t;
	uint32_t error_recovery_level;
};

struct login_key;

/* CHAP exchange of one login (chap.c; RFC 7143 12.1.3, RFC 1994). */
#define CHAP_CHALLENGE_LEN 16
#define CHAP_MAX_CHALLENGE 1024 /* bytes of a target's challenge we accept */
struct chap {
	int step;     /* CHAP_IDLE .. CHAP_DONE */
	bool offered; /* AuthMethod=CHAP went out */
	/* from the target, in this response */
	bool have_a, have_i, have_c, have_n, have_r;
	char a[64];
	unsigned id;
	uint8_t *c;
	size_t c_len;
	char n[256];
	uint8_t r[16];
	size_t r_len;
	/* ours, for mutual CHAP */
	uint8_t our_id;
	uint8_t our_c[CHAP_CHALLENGE_LEN];
};
enum { CHAP_IDLE, CHAP_SENT_A, CHAP_SENT_R, CHAP_DONE };

struct login {
	int stage;         /* current stage (CSG): 0 security, 1 operational */
	bool op_keys_sent; /* our operational proposals are out */
	char *rx_text;     /* text of a response that spans PDUs (C bit) */
	size_t rx_len, rx_cap;
	char tx_text[4096]; /* keys for the next request */
	size_t tx_len;
	uint16_t tsih;
	unsigned exchanges;
	struct iscsi_params result;
	uint32_t key_state[32]; /* per known key: sent / answered flags */
	char target_alias[256];
	struct chap chap;
};

struct conn;
/* Start the login on a freshly connected conn: sends the first request. */
int login_start(struct conn *c);
/*
 * Handle one Login Response.  Returns 1 when the login finished (the result
 * is in c->login.result), 0 when another request was sent, or an enum
 * iscsi_exit value > 1 with c->session's error message set.
 */
int login_rx(struct conn *c, const struct toeless_pdu *pdu);
void login_free(struct login *l);
/* Name of a Login Response status class/detail (RFC 7143 11.13.5). */
const char *login_status_str(uint8_t cls, uint8_t detail);

/* ------------------------------------------------------------------------ */
/* SCSI (scsi.c).                                                              */
enum scsi_status {
	SCSI_GOOD = 0x00,
	SCSI_CHECK_CONDITION = 0x02,
	SCSI_BUSY = 0x08,
	SCSI_RESERVATION_CONFLICT = 0x18,
	SCSI_TASK_SET_FULL = 0x28,
	SCSI_ACA_ACTIVE = 0x30,
	SCSI_TASK_ABORTED = 0x40,
};

enum sense_key {
	SENSE_NO_SENSE = 0x0,
	SENSE_NOT_READY = 0x2,
	SENSE_MEDIUM_ERROR = 0x3,
	SENSE_ILLEGAL_REQUEST = 0x5,
	SENSE_UNIT_ATTENTION = 0x6,
	SENSE_ABORTED_COMMAND = 0xb,
};

struct sense {
	bool valid;
	uint8_t key, asc, ascq;
};

void cdb_test_unit_ready(uint8_t cdb[16]);
void cdb_inquiry(uint8_t cdb[16], uint16_t alloc_len);
void cdb_read_capacity16(uint8_t cdb[16], uint32_t alloc_len);
void cdb_read16(uint8_t cdb[16], uint64_t lba, uint32_t blocks);
void cdb_write16(uint8_t cdb[16], uint64_t lba, uint32_t blocks);
void cdb_sync_cache16(uint8_t cdb[16]);
/* Encode a LUN number into the 8-byte iSCSI LUN field (SAM-5 4.7). */
void lun_encode(uint8_t out[8], uint64_t lun);
/* Decode fixed or descriptor format sense data. */
struct sense sense_parse(const uint8_t *buf, size_t len);
const char *scsi_status_str(uint8_t status);
const char *sense_key_str(uint8_t key);
const char *asc_str(uint8_t asc, uint8_t ascq);
/* "CHECK CONDITION, sense key 0x5 ILLEGAL REQUEST, ASC/ASCQ 0x21/0x00 (...)" */
void scsi_describe(char *out, size_t outlen, uint8_t status, const struct sense *sense);
const char *device_type_str(uint8_t type);

/* ------------------------------------------------------------------------ */
/* Tasks and the session (session.c).                                         */
enum task_dir { DIR_NONE, DIR_READ, DIR_WRITE };

enum task_state {
	TASK_FREE,    /* in the table, unused */
	TASK_IDLE,    /* the caller's: taken with task_get() or finished */
	TASK_PENDING, /* waiting to be sent (or sent again after a reconnect) */
	TASK_ACTIVE,  /* the command is on the wire */
};

struct session;
struct task;
typedef void (*task_done_fn)(struct session *s, struct task *t);

struct task {
	/* set by the submitter */
	uint8_t cdb[16];
	enum task_dir dir;
	uint8_t *buf; /* the caller's buffer: Data-In lands here, Data-Out comes from here */
	uint32_t len; /* Expected Data Transfer Length */
	task_done_fn done;
	void *arg;
	uint64_t app_tag;

	/* results, valid in done() */
	uint8_t scsi_status;
	struct sense sense;
	uint32_t residual;
	bool underflow, overflow;
	uint32_t bytes_in;    /* Data-In bytes received (placed or copied) */
	uint64_t bytes_valid; /* leading bytes that arrived with no hole */

	/* session bookkeeping */
	unsigned idx; /* slot in the task table */
	enum task_state state;
	uint64_t seq; /* submission order: reissue keeps it */
	uint32_t itt, cmdsn;
	uint32_t conn_gen; /* connection the command was sent on */
	struct task *next; /* pending queue */
	unsigned attempts; /* times sent */
	unsigned retries;  /* UNIT ATTENTION / BUSY retries */
	/* read side */
	bool sgl_posted; /* an SGL is posted on conn_gen */
	bool sgl_held;   /* the library still owns buf (no completion yet) */
	uint32_t sgl_gen;
	bool sgl_done;         /* SGL completion seen for this attempt */
	bool status_seen;      /* status arrived (final Data-In or SCSI Response) */
	uint32_t exp_datasn;   /* next Data-In DataSN */
	uint64_t bytes_placed; /* from the SGL completion */
	uint32_t in_order;     /* bytes [0, in_order) arrived contiguously (copied path) */
	/* deadline and escalation (escalate.c) */
	uint64_t sent_ms;   /* when this attempt went on the wire */
	unsigned esc_level; /* steps taken for it: 1 ABORT TASK, 2 LUN RESET, 3 new connection */
	/* write side */
	uint32_t exp_r2tsn;
	unsigned dataout_jobs; /* queued Data-Out sequences */
};

/* Counters kept by the initiator itself (the library keeps its own). */
struct session_stats {
	uint64_t connections, reconnects, logins;
	uint64_t commands, commands_reissued, bytes_read, bytes_written;
	uint64_t data_in_pdus, data_in_placed, data_in_copied;
	uint64_t r2t_received, data_out_pdus, immediate_bytes, unsolicited_bytes, solicited_bytes;
	uint64_t nop_out_pings, nop_in_replies, target_pings_answered;
	uint64_t header_digest_errors, data_digest_errors;
	uint64_t statsn_gaps, cmd_window_stalls, unit_attentions, busy_retries;
	uint64_t async_events, rejects;
	/* escalation of commands with no answer (escalate.c) */
	uint64_t cmd_timeouts, window_stalls, abort_task_sent, abort_task_done, lun_reset_sent, lun_reset_done,
		tmf_unanswered, tmf_refused, timeout_reconnects;
	/* receive paused while replies to the target's pings cannot be sent */
	uint64_t rx_pauses, ping_replies_peak, ping_reply_bytes_peak;
	/* READs the target ended GOOD with fewer bytes than asked */
	uint64_t short_reads;
	/* socket readable events handled (event-loop wake-ups for receiving) */
	uint64_t rx_wakeups;
};

struct session {
	const struct config *cfg;
	uv_loop_t *loop;
	toeless_device *dev;
	toeless_cq *cq;
	uv_poll_t cq_poll;
	uv_timer_t tick;
	uv_timer_t retry_timer;
	struct toeless_caps caps;
	struct sockaddr_storage addr; /* the portal, resolved once */
	socklen_t addrlen;
	char portal[300]; /* "host:port" for messages */

	struct conn *conn; /* current connection, or NULL */
	uint32_t conn_gen;
	uint8_t isid[6];
	bool logged_in;             /* the current connection is in full-feature phase */
	struct iscsi_params params; /* negotiated at the last login */
	bool ever_logged_in;
	bool closing; /* logout requested: do not reconnect */
	bool logout_done;

	/* sequence numbers (session-wide; a new session starts them again) */
	uint32_t cmdsn, exp_cmdsn, max_cmdsn;
	uint32_t exp_statsn;
	uint32_t itt_seq;

	/* discovery: the SendTargets text being collected (probe.c) */
	char *text;
	size_t text_len, text_cap;
	bool text_done;
	uint32_t text_itt;
	uint64_t text_sent_ms;

	/* tasks */
	struct task *tasks;
	unsigned ntasks;
	struct task *pend_head, *pend_tail;
	unsigned active; /* tasks not FREE */
	uint64_t task_seq;

	/* recovery */
	unsigned failures; /* consecutive, reset by a completed task */
	unsigned digest_failures;
	int fail_class; /* exit code if the retries run out */
	char last_failure[400];

	/* fatal error: the loop stops and main() exits with this */
	int fatal;
	char errmsg[512];

	struct session_stats st;
	struct toeless_stats last_ctx_stats;
	bool have_ctx_stats;
};

/* Connection, one per TCP connection; freed after its socket is closed. */
enum conn_state {
	CONN_CONNECTING,
	CONN_LOGIN,
	CONN_FFP,
	CONN_LOGOUT,
	CONN_DEAD,
};

struct tx_item;
struct dataout_job;

struct conn {
	struct session *s;
	uint32_t gen;
	int fd;
	toeless_ctx *ctx;
	uv_poll_t poll;
	int poll_events;
	enum conn_state state;
	struct login login;
	struct iscsi_params params;
	uint64_t started_ms, last_rx_ms;
	/* transmit */
	bool tx_busy;                          /* a PDU is partly sent: wait for writable */
	struct tx_item *tx_head, *tx_tail;     /* control PDUs */
	struct dataout_job *do_head, *do_tail; /* Data-Out sequences */
	struct tx_item *tx_inflight;           /* freed when fully sent */
	/* NOP-Out ping */
	bool ping_outstanding;
	uint32_t ping_itt;
	uint64_t ping_sent_ms;
	uint32_t login_itt, logout_itt;
	/* the CmdSN window: closed since (0: open, or nothing waits) */
	uint64_t window_closed_ms;
	/* at most one Task Management request outstanding (escalate.c) */
	bool tmf_outstanding;
	uint8_t tmf_function;
	uint32_t tmf_itt, tmf_ref_itt;
	unsigned tmf_task; /* slot of the task it is for */
	uint64_t tmf_sent_ms;
	/* replies to the target's NOP-In pings queued and not yet sent (bounded) */
	unsigned ping_replies;
	size_t ping_reply_bytes;
	bool rx_paused; /* not reading: those replies cannot drain */
};

/*
 * Memory held for the target's requests: replies to its NOP-In pings wait
 * in the transmit queue while the socket cannot take them.  Past either
 * limit the connection stops reading (TCP flow control holds the target
 * back) until half of them are sent (doc/initiator.md, "Bounds").
 */
#define PING_REPLIES_MAX     64u
#define PING_REPLY_BYTES_MAX (1024u * 1024u)

/*
 * Initiator Task Tags: the low 16 bits name the slot (a task's index, or one
 * of the control slots below), the high bits count uses so that a tag is not
 * reused soon.  Bit 31 stays clear, so 0xffffffff never appears.
 */
#define ITT_SLOT_LOGIN  0xff01u
#define ITT_SLOT_PING   0xff02u
#define ITT_SLOT_LOGOUT 0xff03u
#define ITT_SLOT_TMF    0xff04u
#define ITT_SLOT_TEXT   0xff05u
#define ITT_MAX_TASKS   0xff00u
uint32_t make_itt(struct session *s, unsigned slot);

int session_init(struct session *s, const struct config *cfg, uv_loop_t *loop);
void session_destroy(struct session *s);
/* Connect and log in; runs the loop until the full-feature phase or a fatal error. */
int session_login(struct session *s);
/* Take a free task slot (NULL when all are busy). */
struct task *task_get(struct session *s);
/* Queue a task; done() runs when it has a SCSI status (the session retries
 * transport failures itself and stops the loop with s->fatal when it gives up). */
void task_submit(struct session *s, struct task *t);
void task_put(struct session *s, struct task *t);
/* Run one command to completion (for the small probing commands). */
int session_exec(struct session *s, struct task *t);
/* Log out (after every task is done) and close the connection. */
int session_logout(struct session *s);
/* Record a fatal error: the loop stops, main() prints msg and exits with code. */
void session_fatal(struct session *s, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void session_print_stats(struct session *s, FILE *f);
uint64_t now_ms(void);

/* Internal to login.c/session.c: queue a control PDU on a connection.
 * The data is copied. */
int conn_send_control(struct conn *c, const uint8_t bhs[48], const void *data, uint32_t len);
void conn_fail(struct conn *c, int exit_class, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void session_update_window(struct session *s, const uint8_t *bhs);
/* A Login Response starts a session's window afresh (no "only forward"). */
void session_login_window(struct session *s, const uint8_t *bhs);
/* Take an active task back from the target (after an ABORT TASK or LUN
 * RESET it answered): its post is cancelled and it is sent again, in its
 * original order, once the library has handed its buffer back. */
void task_recall(struct conn *c, struct task *t);
/* CmdSN <= MaxCmdSN: a new command may be sent. */
bool window_open(struct session *s);

/* ------------------------------------------------------------------------ */
/* Probing, REPORT LUNS and discovery (probe.c).                             */
struct lun_info {
	uint8_t type;
	char vendor[9], product[17], revision[5];
	uint32_t block_len;
	uint64_t blocks;
};
/* Set s->errmsg, return code: an error that does not end the session. */
int session_error(struct session *s, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* INQUIRY (a block device?), TEST UNIT READY, READ CAPACITY(16) of cfg->lun.
 * 0, or an enum iscsi_exit value with s->errmsg set. */
int session_probe_lun(struct session *s, struct lun_info *li);
/* REPORT LUNS (SPC-4 6.33) to cfg->lun: *luns is malloc'ed, the caller frees. */
int session_report_luns(struct session *s, uint64_t **luns, size_t *count);

#define DISCOVER_MAX_PORTALS 8
struct discovered {
	char name[224];                          /* TargetName */
	char portals[DISCOVER_MAX_PORTALS][128]; /* TargetAddress: host:port,tag */
	unsigned nportals;
};
/* SendTargets=All on a session logged in with cfg->discovery: *out is
 * malloc'ed, the caller frees. */
int session_discover(struct session *s, struct discovered **out, size_t *count);
void session_text_rx(struct conn *c, const struct toeless_pdu *pdu);

/* ------------------------------------------------------------------------ */
/* CHAP (chap.c).                                                             */
void md5(const void *data, size_t len, uint8_t out[16]);
/* Incremental MD5 for the CHAP response: id, secret, challenge. */
struct md5_ctx {
	uint32_t h[4];
	uint64_t len;
	uint8_t buf[64];
};
void md5_init(struct md5_ctx *m);
void md5_update(struct md5_ctx *m, const void *data, size_t len);
void md5_final(struct md5_ctx *m, uint8_t out[16]);
/*
 * Read a secret: from the file PATH (its first line, without the newline;
 * the file must not be readable by others), or when PATH is NULL from the
 * environment variable ENV.  Returns a malloc'ed string, or NULL with msg
 * set.  Never from a command-line argument: those are visible in ps.
 */
char *chap_secret_load(const char *path, const char *env, char *msg, size_t msglen);
/* Secret lengths taken (RFC 3720 8.2.1: 96 bits at least without IPsec). */
#define CHAP_SECRET_MIN 12
#define CHAP_SECRET_MAX 256
/* Wipe a secret from chap_secret_load and free it (NULL: nothing). */
void chap_secret_free(char *secret);
/*
 * The programs' secret loading, one copy: with cfg->chap_user set, our secret
 * from PATH or $TOELESS_CHAP_SECRET into *secret and cfg->chap_secret; when
 * TARGET_PATH, cfg->chap_target_user or $TOELESS_CHAP_TARGET_SECRET asks for
 * mutual CHAP, the target's from TARGET_PATH or $TOELESS_CHAP_TARGET_SECRET
 * into *target_secret and cfg->chap_target_secret (it must differ from ours).
 * 0, or -1 with msg set and nothing held.  Free both with chap_secret_free.
 */
int chap_secrets_load(struct config *cfg, const char *path, const char *target_path, char **secret,
		      char **target_secret, char *msg, size_t msglen);
/* Login, security stage: a key from the target (1: taken, 0: not CHAP's). */
int chap_key(struct conn *c, const char *key, const char *value);
/* After a response in the security stage: the next keys; *transit says whether
 * the request may ask for the operational stage.  0, or an exit code. */
int chap_step(struct conn *c, bool target_transit, bool *transit);

/* ------------------------------------------------------------------------ */
/* The blocking seam (sync.c): a session thread runs the loop; any thread
 * calls these, concurrently.  See doc/session.md.                           */
struct iscsi_sync;
/* Start the thread, log in and probe cfg->lun.  cfg must outlive the handle.
 * 0, or an enum iscsi_exit value with the reason in err. */
int iscsi_sync_open(const struct config *cfg, struct iscsi_sync **out, struct lun_info *li, char *err, size_t errlen);
/* READ(16)/WRITE(16) of [offset, offset+len), split into cfg->block_size
 * commands, up to cfg->queue_depth in flight for all callers together.
 * 0, -EINVAL (not block aligned or past the end), -EIO (SCSI error: *why
 * says which when given), -ENOTCONN (the session gave up). */
int iscsi_sync_io(struct iscsi_sync *h, enum task_dir dir, void *buf, uint64_t offset, uint64_t len, char *why,
		  size_t whylen);
/* SYNCHRONIZE CACHE(16) of the whole LUN. */
int iscsi_sync_flush(struct iscsi_sync *h, char *why, size_t whylen);
/* Counters of the session so far (a copy taken on the session thread), or
 * its final counters once it has ended (after a failure too). */
int iscsi_sync_stats(struct iscsi_sync *h, struct session_stats *st);
/* Log out, stop the thread, free.  The counters go to the log (DEBUG). */
void iscsi_sync_close(struct iscsi_sync *h);

/* ------------------------------------------------------------------------ */
/* Escalation of commands with no answer (escalate.c).                        */
/* Every tick in the full-feature phase: deadlines, TMF answers overdue. */
void esc_tick(struct conn *c, uint64_t now);
/* A Task Management Function Response arrived. */
void esc_tmf_response(struct conn *c, const struct toeless_pdu *pdu);
/* The documented worst case from a command's sending to the run's end, ms. */
uint64_t esc_bound_ms(const struct config *cfg);

extern int verbose;
void vlog(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif /* TOELESS_EXAMPLE_ISCSI_H */
