/*
 * fast-target: an iSCSI target for benchmarks only (never installed).
 *
 * It exists so that an initiator's figures are not lost in the target's own
 * cost: tgtd computes the data digests it sends at a few hundred MiB/s, so
 * with DataDigest=CRC32C every initiator waits on it.  This target answers
 * READ from a pattern that repeats every --period bytes (default 1 MiB, so it
 * stays in cache), and the data digest of each Data-In segment is computed
 * once per (pattern offset, length) and kept in a small per-connection
 * cache: in a steady stream a READ costs one 48-byte header digest per
 * Data-In PDU (the only bytes that change are ITT, DataSN, Buffer Offset,
 * StatSN, ExpCmdSN/MaxCmdSN, flags and residual) and one writev for
 * everything the connection's input produced.  GOOD status rides in the last
 * Data-In (S bit).  WRITE data (immediate, unsolicited, solicited by R2T)
 * has its digests checked and is discarded (--verify-writes also compares
 * it with the pattern).
 *
 * Protocol: RFC 7143 login with text negotiation (AuthMethod=None;
 * HeaderDigest and DataDigest from the initiator's list, filtered by
 * --header-digest/--data-digest; MaxRecvDataSegmentLength declared both
 * ways; ImmediateData, InitialR2T, FirstBurstLength, MaxBurstLength,
 * MaxOutstandingR2T (1), ErrorRecoveryLevel 0, ...), discovery sessions
 * with SendTargets=All, NOP-Out, Logout, task management (answered
 * "function complete"), and one disk LUN (--lun, default 1) of --size bytes
 * in 512-byte blocks: INQUIRY (standard, VPD 0x00/0x80/0x83), TEST UNIT
 * READY, READ CAPACITY(10/16), REPORT LUNS, MODE SENSE(6/10) (header only),
 * SYNCHRONIZE CACHE, READ(10/16), WRITE(10/16).  Anything else: CHECK
 * CONDITION, ILLEGAL REQUEST / INVALID COMMAND OPERATION CODE.  Error
 * recovery level 0: a digest or protocol error closes the connection.
 *
 * One thread per connection, blocking sockets: input is read in large
 * chunks, every complete PDU in it answered, the answers sent with one
 * writev before the next read.
 *
 *   fast-target [--address A] [--port N] [--port-file F] [--iqn IQN]
 *               [--lun N] [--size BYTES] [--period BYTES] [--seed N]
 *               [--header-digest any|crc32c|none] [--data-digest ...]
 *               [--max-recv-dsl N] [--verify-writes] [-v]
 *   fast-target --dump OFFSET LENGTH [--period BYTES] [--seed N]
 *               (the LUN's bytes at OFFSET, to stdout: what a READ returns)
 *
 * It prints "fast-target: listening on ADDR:PORT" and, with --port-file,
 * writes the port there (port 0, the default, takes a free one).  One line
 * per login and one per closed connection go to stderr (counters: commands,
 * PDUs, bytes, digest errors, write mismatches).
 *
 * SPDX-License-Identifier: MIT
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "toeless.h"

#define BLOCK       512u
#define BHS         48u
#define WINDOW      256u         /* MaxCmdSN - ExpCmdSN + 1 */
#define MAX_WTASKS  512          /* WRITE commands in flight per connection */
#define NIOV        1000         /* iovecs per writev (below IOV_MAX) */
#define ARENA       (512u << 10) /* headers and small payloads per writev */
#define DD_CACHE    8192u        /* data digest cache entries (direct-mapped) */
#define MAX_SEG_CAP (1u << 20)

/* ---- configuration (read-only once threads run) ---- */
enum dpolicy { D_ANY, D_CRC, D_NONE };
static struct {
	const char *address, *iqn, *port_file;
	int port;
	uint64_t lun, size, period, seed;
	enum dpolicy hd, dd;
	uint32_t mrdsl; /* ours */
	bool verify_writes;
	int verbose;
} cfg = {
	.address = "127.0.0.1",
	.iqn = "iqn.2024-01.org.toeless:fast-target",
	.lun = 1,
	.size = 1ull << 30,
	.period = 1u << 20,
	.seed = 0x746f656c657373ull,
	.hd = D_ANY,
	.dd = D_ANY,
	.mrdsl = 262144,
};
static uint8_t *pattern; /* period + MAX_SEG_CAP bytes: any segment is contiguous */
static const uint8_t zero_pad[4];
static unsigned next_conn_id;

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "fast-target: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	exit(1);
}

static void put_be16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}
static void put_be24(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 16);
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)v;
}
static void put_be32(uint8_t *p, uint32_t v)
{
	put_be16(p, (uint16_t)(v >> 16));
	put_be16(p + 2, (uint16_t)v);
}
static void put_be64(uint8_t *p, uint64_t v)
{
	put_be32(p, (uint32_t)(v >> 32));
	put_be32(p + 4, (uint32_t)v);
}
static void put_le32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}
static uint16_t be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}
static uint32_t be24(const uint8_t *p)
{
	return (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2];
}
static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)be16(p) << 16 | be16(p + 2);
}
static uint64_t be64(const uint8_t *p)
{
	return (uint64_t)be32(p) << 32 | be32(p + 4);
}
static uint32_t le32(const uint8_t *p)
{
	return p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint32_t pad4(uint32_t n)
{
	return (4 - (n & 3)) & 3;
}

static uint64_t splitmix(uint64_t *s)
{
	uint64_t z = (*s += 0x9E3779B97F4A7C15ull);

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

static void pattern_build(void)
{
	uint64_t st = cfg.seed;
	size_t len = cfg.period + MAX_SEG_CAP;

	pattern = malloc(len);
	if (!pattern)
		die("out of memory for the pattern");
	for (size_t i = 0; i < cfg.period; i += 8) {
		uint64_t v = splitmix(&st);
		memcpy(pattern + i, &v, 8);
	}
	for (size_t i = cfg.period; i < len; i += cfg.period)
		memcpy(pattern + i, pattern, len - i < cfg.period ? len - i : cfg.period);
}

/* ---- a connection ---- */

struct wtask {
	bool used;
	uint32_t itt, edtl, got;
	uint64_t off;       /* byte offset on the LUN */
	uint32_t unsol;     /* bytes the initiator sends without an R2T */
	uint32_t r2t_next;  /* next offset to ask for */
	uint32_t burst_len; /* bytes the last R2T asked for */
	uint32_t burst_got; /* bytes of that burst received */
	uint32_t ttt, r2tsn;
	uint32_t resid; /* EDTL - blocks * 512 (signed meaning by flag) */
	uint8_t rflags;
};

struct ddc {
	uint32_t start, len, crc, valid;
};

struct conn {
	int fd;
	unsigned id;
	/* input */
	uint8_t *rx;
	size_t rx_cap, rx_beg, rx_end, max_pdu;
	/* negotiated */
	bool ff, discovery, hd, dd, immediate, initial_r2t;
	uint32_t send_dsl, first_burst, max_burst;
	/* login */
	int stage;
	uint8_t isid[6];
	char keys_out[4096];
	size_t keys_len;
	char *keys_in;
	size_t keys_in_len;
	char initiator[256];
	bool target_ok, auth_ok, digest_refused;
	/* sequence numbers */
	uint32_t statsn, exp_cmdsn;
	/* output */
	struct iovec iov[NIOV];
	int niov;
	uint8_t *arena;
	size_t arena_used;
	/* WRITE commands */
	struct wtask wt[MAX_WTASKS];
	uint32_t next_ttt;
	struct ddc *ddc;
	/* counters */
	uint64_t n_reads, n_writes, n_other, pdus_in, pdus_out, bytes_read, bytes_written, hd_err, dd_err,
		write_mismatch, dd_miss, n_r2t;
};

static void say(struct conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(struct conn *c, const char *fmt, ...)
{
	va_list ap;
	char msg[1024];

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, "fast-target: conn %u: %s\n", c->id, msg);
}

/* ---- output: iovecs gathered for one writev ---- */

static int flush(struct conn *c)
{
	struct iovec *iov = c->iov;
	int n = c->niov;

	while (n > 0) {
		ssize_t w = writev(c->fd, iov, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		while (n > 0 && (size_t)w >= iov->iov_len) {
			w -= (ssize_t)iov->iov_len;
			iov++;
			n--;
		}
		if (n > 0) {
			iov->iov_base = (uint8_t *)iov->iov_base + w;
			iov->iov_len -= (size_t)w;
		}
	}
	c->niov = 0;
	c->arena_used = 0;
	return 0;
}

/* Room for k more iovecs and bytes of arena, flushing first if needed. */
static int reserve(struct conn *c, int k, size_t bytes)
{
	if (c->niov + k <= NIOV && c->arena_used + bytes <= ARENA)
		return 0;
	return flush(c);
}

static uint8_t *arena_get(struct conn *c, size_t n)
{
	uint8_t *p = c->arena + c->arena_used;

	c->arena_used += (n + 15) & ~(size_t)15;
	return p;
}

static void add_iov(struct conn *c, const void *p, size_t n)
{
	c->iov[c->niov].iov_base = (void *)(uintptr_t)p;
	c->iov[c->niov].iov_len = n;
	c->niov++;
}

/* Fields every target PDU carries. */
static void hdr_sn(struct conn *c, uint8_t *h)
{
	put_be32(h + 28, c->exp_cmdsn);
	put_be32(h + 32, c->exp_cmdsn + WINDOW - 1);
}

/* Queue a PDU: header h (48 bytes, in the arena), data copied into the
 * arena, padded, digests as negotiated.  Set DSL here. */
static int send_pdu(struct conn *c, uint8_t *h, const void *data, uint32_t len)
{
	uint32_t pad = pad4(len);
	bool hd = c->ff && c->hd, dd = c->ff && c->dd && len;
	uint8_t *d = NULL;

	put_be24(h + 5, len);
	if (hd)
		put_le32(h + BHS, toeless_crc32c(0, h, BHS));
	add_iov(c, h, BHS + (hd ? 4 : 0));
	if (len) {
		d = arena_get(c, len + pad + 4);
		memcpy(d, data, len);
		memset(d + len, 0, pad);
		if (dd)
			put_le32(d + len + pad, toeless_crc32c(0, d, len + pad));
		add_iov(c, d, len + pad + (dd ? 4 : 0));
	}
	c->pdus_out++;
	return 0;
}

/* A fresh 48+4 byte header in the arena, after making room for a PDU of
 * len bytes of data. */
static uint8_t *new_hdr(struct conn *c, uint32_t len)
{
	uint8_t *h;

	if (reserve(c, 2, 64 + len + 32))
		return NULL;
	h = arena_get(c, 64);
	memset(h, 0, 64);
	return h;
}

/* ---- SCSI responses ---- */

static int scsi_status(struct conn *c, uint32_t itt, uint8_t status, const uint8_t *sense, uint32_t slen,
		       uint8_t rflags, uint32_t resid)
{
	uint8_t buf[2 + 32];
	uint8_t *h = new_hdr(c, sizeof(buf));

	if (!h)
		return -EIO;
	h[0] = 0x21;
	h[1] = (uint8_t)(0x80 | rflags);
	h[3] = status;
	put_be32(h + 16, itt);
	put_be32(h + 24, c->statsn++);
	hdr_sn(c, h);
	put_be32(h + 44, resid);
	if (slen) {
		put_be16(buf, (uint16_t)slen);
		memcpy(buf + 2, sense, slen);
		return send_pdu(c, h, buf, slen + 2);
	}
	return send_pdu(c, h, NULL, 0);
}

static int check_condition(struct conn *c, uint32_t itt, uint8_t key, uint8_t asc, uint8_t ascq)
{
	uint8_t s[18] = { 0x70, 0, key, 0, 0, 0, 0, 10, 0, 0, 0, 0, asc, ascq };

	return scsi_status(c, itt, 0x02, s, sizeof(s), 0, 0);
}

/* Residual flags for a transfer of have bytes against EDTL. */
static uint8_t resid_flags(uint32_t edtl, uint64_t have, uint32_t *resid)
{
	if (edtl > have) {
		*resid = (uint32_t)(edtl - have);
		return 0x02; /* U */
	}
	if (edtl < have) {
		*resid = (uint32_t)(have - edtl > UINT32_MAX ? UINT32_MAX : have - edtl);
		return 0x04; /* O */
	}
	*resid = 0;
	return 0;
}

/* Small Data-In (INQUIRY, capacity...): one PDU with status when it fits. */
static int send_small_data(struct conn *c, uint32_t itt, uint32_t edtl, const uint8_t *data, uint32_t len)
{
	uint32_t resid, n = len < edtl ? len : edtl;
	uint8_t rf = resid_flags(edtl, len, &resid);
	uint8_t *h;

	if (n == 0)
		return scsi_status(c, itt, 0, NULL, 0, rf, resid);
	if (n > c->send_dsl) { /* never for these sizes, but keep the rule */
		n = c->send_dsl;
		rf = resid_flags(edtl, n, &resid);
	}
	h = new_hdr(c, n);
	if (!h)
		return -EIO;
	h[0] = 0x25;
	h[1] = (uint8_t)(0x80 | 0x01 | rf);
	put_be32(h + 16, itt);
	put_be32(h + 20, 0xffffffffu);
	put_be32(h + 24, c->statsn++);
	hdr_sn(c, h);
	put_be32(h + 44, resid);
	return send_pdu(c, h, data, n);
}

/* The data digest of pattern[start, start + len): cached. */
static uint32_t dd_of(struct conn *c, uint32_t start, uint32_t len)
{
	uint32_t k = ((start / BLOCK) * 2654435761u ^ len * 40503u) & (DD_CACHE - 1);
	struct ddc *e = &c->ddc[k];

	if (e->valid && e->start == start && e->len == len)
		return e->crc;
	c->dd_miss++;
	e->start = start;
	e->len = len;
	e->crc = toeless_crc32c(0, pattern + start, len);
	e->valid = 1;
	return e->crc;
}

/* READ: Data-In straight from the pattern; status in the last one. */
static int do_read(struct conn *c, uint32_t itt, uint32_t edtl, uint64_t lba, uint32_t nblk)
{
	uint64_t have = (uint64_t)nblk * BLOCK;
	uint32_t resid, total = have < edtl ? (uint32_t)have : edtl;
	uint8_t rf = resid_flags(edtl, have, &resid);
	uint32_t seg = c->send_dsl < MAX_SEG_CAP ? c->send_dsl : MAX_SEG_CAP;
	uint64_t base = lba * BLOCK;
	uint32_t datasn = 0;

	seg &= ~(BLOCK - 1); /* whole blocks: no pad, digest cache keys stay few */
	if (!seg)
		seg = c->send_dsl & ~3u;
	c->n_reads++;
	if (total == 0)
		return scsi_status(c, itt, 0, NULL, 0, rf, resid);
	for (uint32_t off = 0; off < total; off += seg, datasn++) {
		uint32_t len = total - off < seg ? total - off : seg;
		uint32_t start = (uint32_t)((base + off) % cfg.period);
		bool last = off + len == total;
		uint8_t *h;

		if (reserve(c, 4, 64))
			return -EIO;
		h = arena_get(c, 64);
		/* Only these bytes differ between Data-In PDUs: no memset of
		 * anything else, then one 48-byte CRC. */
		memset(h, 0, BHS);
		h[0] = 0x25;
		h[1] = last ? (uint8_t)(0x80 | 0x01 | rf) : 0;
		put_be24(h + 5, len);
		put_be32(h + 16, itt);
		put_be32(h + 20, 0xffffffffu);
		if (last) {
			put_be32(h + 24, c->statsn++);
			put_be32(h + 44, resid);
		}
		hdr_sn(c, h);
		put_be32(h + 36, datasn);
		put_be32(h + 40, off);
		if (c->hd)
			put_le32(h + BHS, toeless_crc32c(0, h, BHS));
		add_iov(c, h, BHS + (c->hd ? 4 : 0));
		add_iov(c, pattern + start, len);
		if (pad4(len)) /* only when EDTL is not whole blocks: zero pad */
			add_iov(c, zero_pad, pad4(len));
		if (c->dd) {
			uint32_t dd = dd_of(c, start, len);

			if (pad4(len))
				dd = toeless_crc32c(dd, zero_pad, pad4(len));
			put_le32(h + 56, dd);
			add_iov(c, h + 56, 4);
		}
		c->pdus_out++;
	}
	c->bytes_read += total;
	return 0;
}

static struct wtask *wt_find(struct conn *c, uint32_t itt)
{
	for (int i = 0; i < MAX_WTASKS; i++)
		if (c->wt[i].used && c->wt[i].itt == itt)
			return &c->wt[i];
	return NULL;
}

static int send_r2t(struct conn *c, struct wtask *t)
{
	uint32_t len = t->edtl - t->r2t_next < c->max_burst ? t->edtl - t->r2t_next : c->max_burst;
	uint8_t *h = new_hdr(c, 0);

	if (!h)
		return -EIO;
	h[0] = 0x31;
	h[1] = 0x80;
	put_be16(h + 8, (uint16_t)cfg.lun);
	put_be32(h + 16, t->itt);
	t->ttt = c->next_ttt++ & 0x7fffffffu;
	put_be32(h + 20, t->ttt);
	put_be32(h + 24, c->statsn);
	hdr_sn(c, h);
	put_be32(h + 36, t->r2tsn++);
	put_be32(h + 40, t->r2t_next);
	put_be32(h + 44, len);
	t->burst_len = len;
	t->burst_got = 0;
	c->n_r2t++;
	t->r2t_next += len;
	return send_pdu(c, h, NULL, 0);
}

/* WRITE data arrived for t (immediate or Data-Out). */
static int write_data(struct conn *c, struct wtask *t, uint32_t off, const uint8_t *data, uint32_t len, bool solicited)
{
	if ((uint64_t)off + len > t->edtl) {
		say(c, "Data-Out past the expected length (ITT 0x%x, offset %u + %u > %u)", t->itt, off, len, t->edtl);
		return -EPROTO;
	}
	if (cfg.verify_writes) {
		uint64_t o = (t->off + off) % cfg.period;

		if (memcmp(data, pattern + o, len))
			c->write_mismatch++;
	}
	t->got += len;
	c->bytes_written += len;
	if (solicited)
		t->burst_got += len;
	if (t->got == t->edtl) {
		t->used = false;
		return scsi_status(c, t->itt, 0, NULL, 0, t->rflags, t->resid);
	}
	/* one R2T at a time (MaxOutstandingR2T=1): the next once this burst is in */
	if (solicited && t->burst_got >= t->burst_len && t->r2t_next < t->edtl)
		return send_r2t(c, t);
	return 0;
}

static int do_write(struct conn *c, const uint8_t *h, const uint8_t *data, uint32_t dsl, uint64_t lba, uint32_t nblk)
{
	uint32_t itt = be32(h + 16), edtl = be32(h + 20);
	uint64_t have = (uint64_t)nblk * BLOCK;
	struct wtask *t = NULL;

	c->n_writes++;
	for (int i = 0; i < MAX_WTASKS; i++)
		if (!c->wt[i].used) {
			t = &c->wt[i];
			break;
		}
	if (!t) {
		say(c, "more than %d WRITE commands in flight", MAX_WTASKS);
		return -EPROTO;
	}
	memset(t, 0, sizeof(*t));
	t->used = true;
	t->itt = itt;
	t->edtl = have < edtl ? (uint32_t)have : edtl;
	t->rflags = resid_flags(edtl, have, &t->resid);
	t->off = lba * BLOCK;
	/* What comes without an R2T (RFC 7143 13.13-13.14). */
	if (!c->initial_r2t)
		t->unsol = edtl < c->first_burst ? edtl : c->first_burst;
	else
		t->unsol = dsl;
	if (t->unsol > t->edtl)
		t->unsol = t->edtl;
	t->r2t_next = t->unsol;
	if (t->edtl == 0) {
		t->used = false;
		return scsi_status(c, itt, 0, NULL, 0, t->rflags, t->resid);
	}
	if (t->r2t_next < t->edtl) {
		int rc = send_r2t(c, t);

		if (rc)
			return rc;
	}
	if (dsl) {
		if (dsl > t->edtl)
			return -EPROTO;
		return write_data(c, t, 0, data, dsl, false);
	}
	return 0;
}

static int do_inquiry(struct conn *c, uint32_t itt, uint32_t edtl, const uint8_t *cdb, bool lun_ok)
{
	uint8_t d[96];
	uint32_t n;
	uint16_t alloc = be16(cdb + 3);

	memset(d, 0, sizeof(d));
	if (cdb[1] & 1) {
		if (!lun_ok)
			return check_condition(c, itt, 0x05, 0x25, 0x00);
		d[1] = cdb[2];
		switch (cdb[2]) {
		case 0x00:
			d[3] = 3;
			d[4] = 0x00;
			d[5] = 0x80;
			d[6] = 0x83;
			n = 7;
			break;
		case 0x80:
			d[3] = 8;
			memcpy(d + 4, "FT000001", 8);
			n = 12;
			break;
		case 0x83:
			/* one designator: T10 vendor ID, ASCII */
			d[4] = 0x02;
			d[5] = 0x01;
			d[7] = 8 + 16 + 8;
			memcpy(d + 8, "TOELESS fast-target     FT000001", 32);
			d[3] = (uint8_t)(4 + d[7]);
			n = 4u + d[3];
			break;
		default: return check_condition(c, itt, 0x05, 0x24, 0x00);
		}
	} else {
		d[0] = lun_ok ? 0x00 : 0x7f; /* disk, or "no LU here" */
		d[2] = 0x05;                 /* SPC-3 */
		d[3] = 0x02;
		d[4] = 31;
		d[7] = 0x02; /* CmdQue */
		memcpy(d + 8, "TOELESS ", 8);
		memcpy(d + 16, "fast-target     ", 16);
		memcpy(d + 32, "0001", 4);
		n = 36;
	}
	if (n > alloc)
		n = alloc;
	return send_small_data(c, itt, edtl, d, n);
}

static int do_scsi(struct conn *c, const uint8_t *h, const uint8_t *data, uint32_t dsl)
{
	const uint8_t *cdb = h + 32;
	uint32_t itt = be32(h + 16), edtl = be32(h + 20);
	uint64_t lun = ((uint64_t)(h[8] & 0x3f) << 8) | h[9];
	bool lun_ok = lun == cfg.lun;
	uint64_t nblocks = cfg.size / BLOCK, lba = 0;
	uint32_t nblk = 0;
	uint8_t d[64];

	if (c->discovery)
		return -EPROTO;
	memset(d, 0, sizeof(d));
	if (cdb[0] == 0x12)
		return do_inquiry(c, itt, edtl, cdb, lun_ok);
	if (cdb[0] == 0xa0) { /* REPORT LUNS */
		put_be32(d, 8);
		put_be16(d + 8, (uint16_t)cfg.lun);
		uint32_t alloc = be32(cdb + 6);
		return send_small_data(c, itt, edtl, d, 16 < alloc ? 16 : alloc);
	}
	if (!lun_ok)
		return check_condition(c, itt, 0x05, 0x25, 0x00);
	if (cdb[0] != 0x28 && cdb[0] != 0x88 && cdb[0] != 0x2a && cdb[0] != 0x8a)
		c->n_other++;
	switch (cdb[0]) {
	case 0x00: /* TEST UNIT READY */
	case 0x35: /* SYNCHRONIZE CACHE(10) */
	case 0x91: /* SYNCHRONIZE CACHE(16) */ return scsi_status(c, itt, 0, NULL, 0, 0, 0);
	case 0x25: /* READ CAPACITY(10) */
		put_be32(d, nblocks - 1 > 0xffffffffu ? 0xffffffffu : (uint32_t)(nblocks - 1));
		put_be32(d + 4, BLOCK);
		return send_small_data(c, itt, edtl, d, 8);
	case 0x9e: /* SERVICE ACTION IN(16) */
		if ((cdb[1] & 0x1f) != 0x10)
			break;
		put_be64(d, nblocks - 1);
		put_be32(d + 8, BLOCK);
		uint32_t alloc = be32(cdb + 10);
		return send_small_data(c, itt, edtl, d, 32 < alloc ? 32 : alloc);
	case 0x1a: /* MODE SENSE(6): header only, no pages */
		d[0] = 3;
		return send_small_data(c, itt, edtl, d, 4 < cdb[4] ? 4 : cdb[4]);
	case 0x5a: /* MODE SENSE(10) */
		put_be16(d, 6);
		return send_small_data(c, itt, edtl, d, 8 < be16(cdb + 7) ? 8 : be16(cdb + 7));
	case 0x28: /* READ(10) */
	case 0x2a: /* WRITE(10) */
		lba = be32(cdb + 2);
		nblk = be16(cdb + 7);
		goto rw;
	case 0x88: /* READ(16) */
	case 0x8a: /* WRITE(16) */
		lba = be64(cdb + 2);
		nblk = be32(cdb + 10);
	rw:
		if (lba > nblocks || nblk > nblocks - lba)
			return check_condition(c, itt, 0x05, 0x21, 0x00);
		if (cdb[0] == 0x28 || cdb[0] == 0x88)
			return do_read(c, itt, edtl, lba, nblk);
		return do_write(c, h, data, dsl, lba, nblk);
	default: break;
	}
	return check_condition(c, itt, 0x05, 0x20, 0x00);
}

/* ---- login ---- */

static int keys_add(struct conn *c, const char *k, const char *v)
{
	int n = snprintf(c->keys_out + c->keys_len, sizeof(c->keys_out) - c->keys_len, "%s=%s", k, v);

	if (n < 0 || (size_t)n + 1 > sizeof(c->keys_out) - c->keys_len)
		return -ENOSPC;
	c->keys_len += (size_t)n + 1;
	return 0;
}

/* The first value of the initiator's list that our policy accepts. */
static const char *pick_digest(const char *list, enum dpolicy pol, bool *on)
{
	char buf[128], *save = NULL;

	snprintf(buf, sizeof(buf), "%s", list);
	for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		if (!strcasecmp(t, "CRC32C") && pol != D_NONE) {
			*on = true;
			return "CRC32C";
		}
		if (!strcasecmp(t, "None") && pol != D_CRC) {
			*on = false;
			return "None";
		}
	}
	return "Reject";
}

static uint32_t u32v(const char *v)
{
	unsigned long n = strtoul(v, NULL, 0);

	return n > 0xffffffffu ? 0xffffffffu : (uint32_t)n;
}

static int negotiate(struct conn *c, const char *k, const char *v)
{
	char num[32];

	if (!strcmp(k, "InitiatorName")) {
		snprintf(c->initiator, sizeof(c->initiator), "%s", v);
		return 0;
	}
	if (!strcmp(k, "InitiatorAlias"))
		return 0;
	if (!strcmp(k, "SessionType")) {
		c->discovery = !strcmp(v, "Discovery");
		return 0;
	}
	if (!strcmp(k, "TargetName")) {
		c->target_ok = !strcmp(v, cfg.iqn);
		return 0;
	}
	if (!strcmp(k, "AuthMethod")) {
		char buf[128], *save = NULL;

		snprintf(buf, sizeof(buf), "%s", v);
		for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save))
			if (!strcmp(t, "None"))
				c->auth_ok = true;
		return keys_add(c, k, c->auth_ok ? "None" : "Reject");
	}
	if (!strcmp(k, "HeaderDigest") || !strcmp(k, "DataDigest")) {
		bool hdr = k[0] == 'H';
		const char *r = pick_digest(v, hdr ? cfg.hd : cfg.dd, hdr ? &c->hd : &c->dd);

		/* "Reject" would leave the key at its default (None): a
		 * digest this target requires ends the login instead */
		if (!strcmp(r, "Reject"))
			c->digest_refused = true;
		return keys_add(c, k, r);
	}
	if (!strcmp(k, "MaxRecvDataSegmentLength")) {
		c->send_dsl = u32v(v);
		if (c->send_dsl < 512)
			c->send_dsl = 512;
		snprintf(num, sizeof(num), "%u", cfg.mrdsl);
		return keys_add(c, k, num);
	}
	if (!strcmp(k, "MaxBurstLength")) {
		c->max_burst = u32v(v);
		return keys_add(c, k, v);
	}
	if (!strcmp(k, "FirstBurstLength")) {
		c->first_burst = u32v(v);
		return keys_add(c, k, v);
	}
	if (!strcmp(k, "ImmediateData")) {
		c->immediate = !strcmp(v, "Yes");
		return keys_add(c, k, v);
	}
	if (!strcmp(k, "InitialR2T")) {
		c->initial_r2t = !strcmp(v, "Yes");
		return keys_add(c, k, v);
	}
	if (!strcmp(k, "MaxOutstandingR2T") || !strcmp(k, "MaxConnections"))
		return keys_add(c, k, "1");
	if (!strcmp(k, "ErrorRecoveryLevel") || !strcmp(k, "DefaultTime2Retain"))
		return keys_add(c, k, "0");
	if (!strcmp(k, "DefaultTime2Wait"))
		return keys_add(c, k, v);
	if (!strcmp(k, "DataPDUInOrder") || !strcmp(k, "DataSequenceInOrder"))
		return keys_add(c, k, "Yes");
	if (!strcmp(k, "IFMarker") || !strcmp(k, "OFMarker"))
		return keys_add(c, k, "No");
	return keys_add(c, k, "NotUnderstood");
}

static int login_reply(struct conn *c, const uint8_t *rq, uint8_t flags, uint8_t sclass, uint8_t sdetail, uint16_t tsih)
{
	uint8_t *h = new_hdr(c, (uint32_t)c->keys_len);

	if (!h)
		return -EIO;
	h[0] = 0x23;
	h[1] = flags;
	memcpy(h + 8, rq + 8, 6);
	put_be16(h + 14, tsih);
	memcpy(h + 16, rq + 16, 4);
	put_be32(h + 24, c->statsn++);
	hdr_sn(c, h);
	h[36] = sclass;
	h[37] = sdetail;
	int rc = send_pdu(c, h, c->keys_out, (uint32_t)c->keys_len);

	c->keys_len = 0;
	return rc;
}

static int do_login(struct conn *c, const uint8_t *h, const uint8_t *data, uint32_t dsl)
{
	bool transit = h[1] & 0x80, cont = h[1] & 0x40;
	int csg = (h[1] >> 2) & 3, nsg = h[1] & 3;
	char *nk;

	c->exp_cmdsn = be32(h + 24); /* immediate: not advanced */
	nk = realloc(c->keys_in, c->keys_in_len + dsl + 1);
	if (!nk)
		return -ENOMEM;
	c->keys_in = nk;
	memcpy(c->keys_in + c->keys_in_len, data, dsl);
	c->keys_in_len += dsl;
	c->keys_in[c->keys_in_len] = 0;
	if (cont) /* more text follows in the next request */
		return login_reply(c, h, (uint8_t)(csg << 2 | csg), 0, 0, 0);

	bool first = c->stage < 0;

	c->keys_len = 0;
	for (size_t pos = 0; pos < c->keys_in_len;) {
		char *kv = c->keys_in + pos, *eq;
		size_t n = strlen(kv);

		pos += n + 1;
		if (!n)
			continue;
		eq = strchr(kv, '=');
		if (!eq)
			return -EPROTO;
		*eq = 0;
		if (negotiate(c, kv, eq + 1))
			return -ENOSPC;
	}
	c->keys_in_len = 0;
	if (first) {
		c->stage = csg;
		memcpy(c->isid, h + 8, 6);
		if (!c->discovery && !c->target_ok) {
			say(c, "login for an unknown target refused");
			login_reply(c, h, 0, 0x02, 0x03, 0); /* target not found */
			flush(c);
			return -ENOENT;
		}
		if (!c->discovery && keys_add(c, "TargetPortalGroupTag", "1"))
			return -ENOSPC;
	}
	if (c->digest_refused) {
		say(c, "login refused: no digest this target accepts was offered");
		login_reply(c, h, 0, 0x02, 0x00, 0); /* initiator error */
		flush(c);
		return -EPROTO;
	}
	if (csg == 0 && transit && !c->auth_ok) {
		say(c, "no AuthMethod=None offered");
		login_reply(c, h, 0, 0x02, 0x01, 0); /* authentication failure */
		flush(c);
		return -EACCES;
	}
	if (transit && nsg == 3) {
		int rc = login_reply(c, h, (uint8_t)(0x80 | csg << 2 | 3), 0, 0, (uint16_t)(c->id + 1));

		c->ff = true;
		if (c->max_burst < c->first_burst)
			c->first_burst = c->max_burst;
		say(c,
		    "logged in (%s session) from %s: HeaderDigest %s, DataDigest %s, MaxRecvDataSegmentLength "
		    "%u here / %u there, FirstBurstLength %u, MaxBurstLength %u, ImmediateData %s, InitialR2T %s",
		    c->discovery ? "discovery" : "normal", c->initiator, c->hd ? "CRC32C" : "None",
		    c->dd ? "CRC32C" : "None", cfg.mrdsl, c->send_dsl, c->first_burst, c->max_burst,
		    c->immediate ? "Yes" : "No", c->initial_r2t ? "Yes" : "No");
		return rc;
	}
	return login_reply(c, h, (uint8_t)((transit ? 0x80 : 0) | csg << 2 | (transit ? nsg : 0)), 0, 0, 0);
}

/* ---- full feature phase ---- */

static int do_text(struct conn *c, const uint8_t *h, const uint8_t *data, uint32_t dsl)
{
	char out[512];
	size_t len = 0;
	uint8_t *r;

	if (dsl >= 12 && !memcmp(data, "SendTargets=", 12)) {
		struct sockaddr_in a;
		socklen_t al = sizeof(a);
		char ip[INET_ADDRSTRLEN] = "127.0.0.1";

		if (!getsockname(c->fd, (struct sockaddr *)&a, &al))
			inet_ntop(AF_INET, &a.sin_addr, ip, sizeof(ip));
		len = (size_t)snprintf(out, sizeof(out), "TargetName=%s", cfg.iqn) + 1;
		len += (size_t)snprintf(out + len, sizeof(out) - len, "TargetAddress=%s:%u,1", ip,
					(unsigned)ntohs(a.sin_port)) +
		       1;
	}
	r = new_hdr(c, (uint32_t)len);
	if (!r)
		return -EIO;
	r[0] = 0x24;
	r[1] = 0x80;
	memcpy(r + 16, h + 16, 4);
	put_be32(r + 20, 0xffffffffu);
	put_be32(r + 24, c->statsn++);
	hdr_sn(c, r);
	return send_pdu(c, r, out, (uint32_t)len);
}

/* One complete PDU: h (BHS + AHS), data (dsl bytes). 1: close cleanly. */
static int dispatch(struct conn *c, const uint8_t *h, const uint8_t *data, uint32_t dsl)
{
	int op = h[0] & 0x3f;
	bool immediate = h[0] & 0x40;
	uint8_t *r;

	c->pdus_in++;
	if (!c->ff) {
		if (op != 0x03) {
			say(c, "opcode 0x%02x before the login completed", op);
			return -EPROTO;
		}
		return do_login(c, h, data, dsl);
	}
	/* CmdSN of every non-immediate command PDU, in order on this connection */
	if (!immediate && (op == 0x01 || op == 0x02 || op == 0x04 || op == 0x06 || op == 0x00) &&
	    be32(h + 24) == c->exp_cmdsn)
		c->exp_cmdsn++;
	switch (op) {
	case 0x01: return do_scsi(c, h, data, dsl);
	case 0x05: {
		struct wtask *t = wt_find(c, be32(h + 16));
		uint32_t ttt = be32(h + 20);

		if (!t) {
			say(c, "Data-Out for an unknown ITT 0x%x", be32(h + 16));
			return -EPROTO;
		}
		return write_data(c, t, be32(h + 40), data, dsl, ttt != 0xffffffffu && ttt == t->ttt);
	}
	case 0x00: /* NOP-Out */
		if (be32(h + 16) == 0xffffffffu)
			return 0;
		r = new_hdr(c, dsl);
		if (!r)
			return -EIO;
		r[0] = 0x20;
		r[1] = 0x80;
		memcpy(r + 8, h + 8, 8);
		memcpy(r + 16, h + 16, 4);
		put_be32(r + 20, 0xffffffffu);
		put_be32(r + 24, c->statsn++);
		hdr_sn(c, r);
		return send_pdu(c, r, data, dsl);
	case 0x02: /* task management: nothing is ever pending long enough */
		r = new_hdr(c, 0);
		if (!r)
			return -EIO;
		r[0] = 0x22;
		r[1] = 0x80;
		memcpy(r + 16, h + 16, 4);
		put_be32(r + 24, c->statsn++);
		hdr_sn(c, r);
		return send_pdu(c, r, NULL, 0);
	case 0x04: return do_text(c, h, data, dsl);
	case 0x06: /* Logout */
		r = new_hdr(c, 0);
		if (!r)
			return -EIO;
		r[0] = 0x26;
		r[1] = 0x80;
		memcpy(r + 16, h + 16, 4);
		put_be32(r + 24, c->statsn++);
		hdr_sn(c, r);
		send_pdu(c, r, NULL, 0);
		return 1;
	default: say(c, "unexpected opcode 0x%02x", op); return -EPROTO;
	}
}

/* Parse every complete PDU in rx[beg, end).  1: logout, <0: error. */
static int parse(struct conn *c)
{
	while (c->rx_end - c->rx_beg >= BHS) {
		uint8_t *h = c->rx + c->rx_beg;
		uint32_t ahs = h[4] * 4u, dsl = be24(h + 5);
		bool hd = c->ff && c->hd, dd = c->ff && c->dd && dsl;
		size_t hlen = BHS + ahs + (hd ? 4 : 0);
		size_t need = hlen + dsl + pad4(dsl) + (dd ? 4 : 0);

		if (dsl > (c->ff ? cfg.mrdsl : 65536u)) {
			say(c, "data segment of %u bytes over MaxRecvDataSegmentLength", dsl);
			return -EMSGSIZE;
		}
		if (c->rx_end - c->rx_beg < need)
			break;
		if (hd && le32(h + BHS + ahs) != toeless_crc32c(0, h, BHS + ahs)) {
			c->hd_err++;
			say(c, "header digest error");
			return -EBADMSG;
		}
		if (dd && le32(h + hlen + dsl + pad4(dsl)) != toeless_crc32c(0, h + hlen, dsl + pad4(dsl))) {
			c->dd_err++;
			say(c, "data digest error");
			return -EBADMSG;
		}
		c->rx_beg += need;
		int rc = dispatch(c, h, h + hlen, dsl);

		if (rc)
			return rc;
	}
	return 0;
}

static void *conn_main(void *arg)
{
	struct conn *c = arg;
	int rc = 0;

	for (;;) {
		/* keep room for a whole PDU after rx_end */
		if (c->rx_cap - c->rx_end < c->max_pdu) {
			memmove(c->rx, c->rx + c->rx_beg, c->rx_end - c->rx_beg);
			c->rx_end -= c->rx_beg;
			c->rx_beg = 0;
		}
		ssize_t n = recv(c->fd, c->rx + c->rx_end, c->rx_cap - c->rx_end, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rc = n < 0 ? -errno : 0;
			break;
		}
		c->rx_end += (size_t)n;
		rc = parse(c);
		if (c->rx_beg == c->rx_end)
			c->rx_beg = c->rx_end = 0;
		if (flush(c) && !rc)
			rc = -EIO;
		if (rc)
			break;
	}
	say(c,
	    "closed (%s): %llu READ, %llu WRITE, %llu other commands; %llu PDUs in, %llu out; "
	    "%llu bytes read, %llu written; %llu R2T; digest errors %llu header, %llu data; data digests computed "
	    "%llu; "
	    "write mismatches %llu",
	    rc == 1   ? "logout"
	    : rc == 0 ? "EOF"
		      : strerror(-rc),
	    (unsigned long long)c->n_reads, (unsigned long long)c->n_writes, (unsigned long long)c->n_other,
	    (unsigned long long)c->pdus_in, (unsigned long long)c->pdus_out, (unsigned long long)c->bytes_read,
	    (unsigned long long)c->bytes_written, (unsigned long long)c->n_r2t, (unsigned long long)c->hd_err,
	    (unsigned long long)c->dd_err, (unsigned long long)c->dd_miss, (unsigned long long)c->write_mismatch);
	close(c->fd);
	free(c->rx);
	free(c->arena);
	free(c->ddc);
	free(c->keys_in);
	free(c);
	return NULL;
}

static void conn_start(int fd)
{
	struct conn *c = calloc(1, sizeof(*c));
	pthread_t th;
	pthread_attr_t a;
	int one = 1;

	if (!c) {
		close(fd);
		return;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->fd = fd;
	c->id = __atomic_add_fetch(&next_conn_id, 1, __ATOMIC_RELAXED);
	c->stage = -1;
	c->statsn = 0x1000;
	c->send_dsl = 8192;
	c->first_burst = 65536;
	c->max_burst = 262144;
	c->immediate = true;
	c->initial_r2t = true;
	c->max_pdu = BHS + 1020 + 4 + cfg.mrdsl + 3 + 4;
	c->rx_cap = 2 * c->max_pdu + (1u << 20);
	c->rx = malloc(c->rx_cap);
	c->arena = malloc(ARENA);
	c->ddc = calloc(DD_CACHE, sizeof(*c->ddc));
	if (!c->rx || !c->arena || !c->ddc) {
		free(c->rx);
		free(c->arena);
		free(c->ddc);
		free(c);
		close(fd);
		return;
	}
	pthread_attr_init(&a);
	pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&th, &a, conn_main, c)) {
		close(fd);
		free(c->rx);
		free(c->arena);
		free(c->ddc);
		free(c);
	}
	pthread_attr_destroy(&a);
}

static uint64_t parse_size(const char *s)
{
	char *end;
	unsigned long long v = strtoull(s, &end, 0);

	switch (*end) {
	case 'k':
	case 'K': v <<= 10; break;
	case 'm':
	case 'M': v <<= 20; break;
	case 'g':
	case 'G': v <<= 30; break;
	case 0: break;
	default: die("bad size: %s", s);
	}
	return v;
}

static enum dpolicy parse_policy(const char *s)
{
	if (!strcmp(s, "any"))
		return D_ANY;
	if (!strcasecmp(s, "crc32c"))
		return D_CRC;
	if (!strcasecmp(s, "none"))
		return D_NONE;
	die("digest policy must be any, crc32c or none: %s", s);
}

static void usage(void)
{
	fprintf(stderr, "usage: fast-target [--address A] [--port N] [--port-file F] [--iqn IQN] [--lun N]\n"
			"         [--size BYTES] [--period BYTES] [--seed N] [--header-digest any|crc32c|none]\n"
			"         [--data-digest any|crc32c|none] [--max-recv-dsl N] [--verify-writes] [-v]\n"
			"       fast-target --dump OFFSET LENGTH [--period BYTES] [--seed N]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "address", required_argument, NULL, 'a' },
		{ "port", required_argument, NULL, 'p' },
		{ "port-file", required_argument, NULL, 'P' },
		{ "iqn", required_argument, NULL, 'i' },
		{ "lun", required_argument, NULL, 'l' },
		{ "size", required_argument, NULL, 's' },
		{ "period", required_argument, NULL, 'r' },
		{ "seed", required_argument, NULL, 'S' },
		{ "header-digest", required_argument, NULL, 'H' },
		{ "data-digest", required_argument, NULL, 'D' },
		{ "max-recv-dsl", required_argument, NULL, 'm' },
		{ "verify-writes", no_argument, NULL, 'w' },
		{ "dump", no_argument, NULL, 'd' },
		{ NULL, 0, NULL, 0 },
	};
	bool dump = false;
	int o;

	while ((o = getopt_long(argc, argv, "v", opts, NULL)) != -1) {
		switch (o) {
		case 'a': cfg.address = optarg; break;
		case 'p': cfg.port = atoi(optarg); break;
		case 'P': cfg.port_file = optarg; break;
		case 'i': cfg.iqn = optarg; break;
		case 'l': cfg.lun = strtoull(optarg, NULL, 0); break;
		case 's': cfg.size = parse_size(optarg); break;
		case 'r': cfg.period = parse_size(optarg); break;
		case 'S': cfg.seed = strtoull(optarg, NULL, 0); break;
		case 'H': cfg.hd = parse_policy(optarg); break;
		case 'D': cfg.dd = parse_policy(optarg); break;
		case 'm': cfg.mrdsl = (uint32_t)parse_size(optarg); break;
		case 'w': cfg.verify_writes = true; break;
		case 'd': dump = true; break;
		case 'v': cfg.verbose++; break;
		default: usage();
		}
	}
	if (cfg.period < BLOCK || cfg.period % BLOCK || cfg.period > (1u << 30))
		die("--period must be a multiple of %u up to 1 GiB", BLOCK);
	if (cfg.mrdsl < 512 || cfg.mrdsl > 16777215)
		die("--max-recv-dsl must be 512 .. 16777215");
	if (cfg.lun > 0x3fff)
		die("--lun must be below 16384");
	cfg.size -= cfg.size % BLOCK;
	pattern_build();

	if (dump) {
		if (optind + 2 != argc)
			usage();
		uint64_t off = parse_size(argv[optind]), len = parse_size(argv[optind + 1]);

		while (len) {
			uint64_t o2 = off % cfg.period, n = cfg.period - o2 < len ? cfg.period - o2 : len;

			if (fwrite(pattern + o2, 1, n, stdout) != n)
				die("write: %s", strerror(errno));
			off += n;
			len -= n;
		}
		return fflush(stdout) ? 1 : 0;
	}
	if (optind != argc)
		usage();

	signal(SIGPIPE, SIG_IGN);
	int ls = socket(AF_INET, SOCK_STREAM, 0), one = 1;
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)cfg.port) };
	socklen_t sl = sizeof(sa);

	if (ls < 0)
		die("socket: %s", strerror(errno));
	setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (inet_pton(AF_INET, cfg.address, &sa.sin_addr) != 1)
		die("bad address %s", cfg.address);
	if (bind(ls, (struct sockaddr *)&sa, sizeof(sa)) || listen(ls, 64))
		die("bind %s:%d: %s", cfg.address, cfg.port, strerror(errno));
	getsockname(ls, (struct sockaddr *)&sa, &sl);
	printf("fast-target: listening on %s:%u, target %s, LUN %llu, %llu bytes\n", cfg.address,
	       (unsigned)ntohs(sa.sin_port), cfg.iqn, (unsigned long long)cfg.lun, (unsigned long long)cfg.size);
	fflush(stdout);
	if (cfg.port_file) {
		char tmp[PATH_MAX];
		FILE *f;

		snprintf(tmp, sizeof(tmp), "%s.tmp", cfg.port_file);
		f = fopen(tmp, "w");
		if (!f || fprintf(f, "%u\n", (unsigned)ntohs(sa.sin_port)) < 0 || fclose(f) ||
		    rename(tmp, cfg.port_file))
			die("cannot write %s", cfg.port_file);
	}
	for (;;) {
		int fd = accept(ls, NULL, NULL);

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED || errno == EMFILE || errno == ENFILE)
				continue;
			die("accept: %s", strerror(errno));
		}
		conn_start(fd);
	}
}
