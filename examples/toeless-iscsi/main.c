/*
 * toeless-iscsi: command line and the read, write, bench and info commands.
 *
 *   toeless-iscsi [options] write FILE   write FILE's bytes to the LUN at --offset
 *   toeless-iscsi [options] read FILE    read --length bytes at --offset into FILE
 *   toeless-iscsi [options] bench        read (with --write, write) throughput for --seconds
 *   toeless-iscsi [options] info         INQUIRY, capacity and negotiated parameters
 *   toeless-iscsi [options] discover     SendTargets: targets and their portals
 *   toeless-iscsi [options] luns         REPORT LUNS of --target
 *
 * Exit status 0 on success; otherwise one line on stderr and a status from
 * enum iscsi_exit (see doc/initiator.md).
 *
 * SPDX-License-Identifier: MIT
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "iscsi_session.h"

#define PROG "toeless-iscsi"

static void usage(FILE *f)
{
	fprintf(f, "usage: " PROG " [options] write FILE   write FILE's bytes to the LUN at --offset\n"
		   "       " PROG " [options] read FILE    read --length bytes at --offset into FILE\n"
		   "       " PROG " [options] bench        read throughput (with --write: write) for --seconds\n"
		   "       " PROG " [options] info         show the LUN and the negotiated parameters\n"
		   "       " PROG " [options] discover     list the portal's targets and their portals (SendTargets)\n"
		   "       " PROG " [options] luns         list the target's LUNs (REPORT LUNS)\n"
		   "\n"
		   "options:\n"
		   "  --portal HOST[:PORT]          target portal (default port 3260)\n"
		   "  --target IQN                  target name\n"
		   "  --lun N                       logical unit (default 0)\n"
		   "  --header-digest none|crc32c|any   HeaderDigest to accept (default none)\n"
		   "  --data-digest none|crc32c|any     DataDigest to accept (default none)\n"
		   "  --backend auto|sw|mock|...    libtoeless engine (default auto)\n"
		   "  --queue-depth N               commands in flight (default 16)\n"
		   "  --block-size BYTES            bytes per READ/WRITE command (default 64K)\n"
		   "  --offset BYTES                byte offset on the LUN (default 0)\n"
		   "  --length BYTES                bytes to read (read, bench; default: to the end for bench)\n"
		   "  --seconds N                   bench duration (default 5)\n"
		   "  --write                       bench writes instead of reads\n"
		   "  --stats                       print the library and initiator counters\n"
		   "  --cq-polled yes|no            drain the completion queue after each event, no eventfd\n"
		   "                                (default yes)\n"
		   "  --rx-lowat yes|no             once a header is in, wait for the whole PDU (SO_RCVLOWAT;\n"
		   "                                pays with targets that send PDUs in pieces; default no)\n"
		   "  --itt-table direct|hash       libtoeless task lookup by ITT slot or by hash (default direct)\n"
		   "login proposals:\n"
		   "  --max-recv-dsl BYTES          our MaxRecvDataSegmentLength (default 256K)\n"
		   "  --max-burst BYTES             MaxBurstLength (default 1M)\n"
		   "  --first-burst BYTES           FirstBurstLength (default 256K)\n"
		   "  --immediate-data yes|no       ImmediateData (default yes)\n"
		   "  --initial-r2t yes|no          InitialR2T (default no)\n"
		   "  --max-outstanding-r2t N       MaxOutstandingR2T (default 1)\n"
		   "  --initiator-name IQN          InitiatorName\n"
		   "CHAP (secrets never on the command line):\n"
		   "  --chap-user NAME              log in with CHAP as NAME\n"
		   "  --chap-secret-file FILE       our secret: FILE's first line (default: $TOELESS_CHAP_SECRET)\n"
		   "  --chap-target-user NAME       mutual CHAP: the name the target must give (default: any)\n"
		   "  --chap-target-secret-file FILE  mutual CHAP: the target's secret\n"
		   "                                (or $TOELESS_CHAP_TARGET_SECRET; either one turns mutual on)\n"
		   "recovery:\n"
		   "  --retries N                   failed connections in a row before giving up (default 5)\n"
		   "  --timeout SECONDS             no answer for this long drops the connection; also the wait\n"
		   "                                for a task management answer (default 15)\n"
		   "  --command-timeout SECONDS     a command unanswered this long is aborted, then the LUN reset,\n"
		   "                                then the connection recovered, then the run fails (default 30)\n"
		   "  --nop-interval SECONDS        ping an idle target this often (default 10, 0: never)\n"
		   "  --unchecked                   do not check --offset/--length against the capacity\n"
		   "  -v, --verbose                 say what happens\n"
		   "  -h, --help                    this text\n"
		   "BYTES take a K, M or G suffix (powers of 1024).\n");
}

static int fail(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail(int code, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, PROG ": ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return code;
}

static bool parse_size(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;
	uint64_t mult = 1;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || end == s || *s == '-')
		return false;
	if (*end) {
		switch (*end) {
		case 'k':
		case 'K': mult = 1ull << 10; break;
		case 'm':
		case 'M': mult = 1ull << 20; break;
		case 'g':
		case 'G': mult = 1ull << 30; break;
		default: return false;
		}
		if (end[1] && strcasecmp(end + 1, "iB") && strcasecmp(end + 1, "B"))
			return false;
	}
	if (v > UINT64_MAX / mult)
		return false;
	*out = v * mult;
	return true;
}

static bool parse_u32_opt(const char *s, uint32_t lo, uint32_t hi, uint32_t *out)
{
	uint64_t v;

	if (!parse_size(s, &v) || v < lo || v > hi)
		return false;
	*out = (uint32_t)v;
	return true;
}

static bool parse_yesno(const char *s, bool *out)
{
	if (!strcasecmp(s, "yes") || !strcmp(s, "1"))
		*out = true;
	else if (!strcasecmp(s, "no") || !strcmp(s, "0"))
		*out = false;
	else
		return false;
	return true;
}

static bool parse_digest(const char *s, enum digest_want *out)
{
	if (!strcasecmp(s, "none"))
		*out = DIGEST_WANT_NONE;
	else if (!strcasecmp(s, "crc32c"))
		*out = DIGEST_WANT_CRC32C;
	else if (!strcasecmp(s, "any") || !strcasecmp(s, "crc32c,none"))
		*out = DIGEST_WANT_ANY;
	else
		return false;
	return true;
}

static bool parse_portal(char *arg, struct config *cfg)
{
	char *colon;

	if (arg[0] == '[') { /* [v6addr]:port */
		char *close = strchr(arg, ']');
		if (!close)
			return false;
		*close = 0;
		cfg->host = arg + 1;
		if (close[1] == ':')
			cfg->port = close + 2;
		else if (close[1])
			return false;
		return *cfg->host != 0;
	}
	colon = strrchr(arg, ':');
	if (colon && strchr(arg, ':') == colon) {
		*colon = 0;
		cfg->port = colon + 1;
	}
	cfg->host = arg;
	return *cfg->host && *cfg->port;
}

/* ------------------------------------------------------------------------ */
/* The LUN.                                                                    */

static int probe_lun(struct session *s, struct lun_info *li)
{
	int rc = session_probe_lun(s, li);

	if (rc && !s->fatal)
		return fail(rc, "%s", s->errmsg);
	return rc;
}

static int check_range(const struct config *cfg, const struct lun_info *li, uint64_t offset, uint64_t length)
{
	uint64_t size = li->blocks * li->block_len;

	if (cfg->block_size % li->block_len)
		return fail(EXIT_RANGE, "block size %u is not a multiple of the LUN's %u-byte blocks", cfg->block_size,
			    li->block_len);
	if (offset % li->block_len)
		return fail(EXIT_RANGE, "offset %llu is not a multiple of the LUN's %u-byte blocks",
			    (unsigned long long)offset, li->block_len);
	if (length % li->block_len)
		return fail(EXIT_RANGE, "length %llu is not a multiple of the LUN's %u-byte blocks",
			    (unsigned long long)length, li->block_len);
	if (!cfg->unchecked && (offset > size || length > size - offset))
		return fail(EXIT_RANGE, "offset %llu + length %llu is past the end of LUN %llu (%llu bytes)",
			    (unsigned long long)offset, (unsigned long long)length, (unsigned long long)cfg->lun,
			    (unsigned long long)size);
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Streaming I/O: split a range into --block-size commands, --queue-depth in
 * flight; each finished task takes the next chunk. */

struct io_run {
	struct session *s;
	enum task_dir dir;
	uint8_t *base;       /* the caller's data for the whole range (read/write) */
	uint8_t **slot_buf;  /* bench: one buffer per task slot */
	uint64_t lun_offset; /* byte offset of the range on the LUN */
	uint64_t length;     /* bytes in the range */
	uint64_t next;       /* next byte of the range to submit */
	uint32_t block_len, chunk;
	bool bench;
	uint64_t deadline_ms;
	uint64_t done_bytes, done_cmds;
	unsigned inflight;
};

static void io_done(struct session *s, struct task *t);

static bool io_next(struct io_run *io, struct task *t)
{
	uint64_t pos, n;

	if (io->bench) {
		if (now_ms() >= io->deadline_ms)
			return false;
		if (io->next + io->chunk > io->length)
			io->next = 0; /* wrap around the range */
	} else if (io->next >= io->length) {
		return false;
	}
	pos = io->next;
	n = io->length - pos < io->chunk ? io->length - pos : io->chunk;
	io->next += n;
	t->dir = io->dir;
	t->len = (uint32_t)n;
	t->buf = io->bench ? io->slot_buf[t->idx] : io->base + pos;
	t->app_tag = pos;
	t->done = io_done;
	t->arg = io;
	if (io->dir == DIR_READ)
		cdb_read16(t->cdb, (io->lun_offset + pos) / io->block_len, (uint32_t)(n / io->block_len));
	else
		cdb_write16(t->cdb, (io->lun_offset + pos) / io->block_len, (uint32_t)(n / io->block_len));
	task_submit(io->s, t);
	io->inflight++;
	return true;
}

static void io_done(struct session *s, struct task *t)
{
	struct io_run *io = t->arg;
	char why[256];

	io->inflight--;
	if (t->scsi_status != SCSI_GOOD) {
		scsi_describe(why, sizeof(why), t->scsi_status, &t->sense);
		session_fatal(s, EXIT_SCSI, "%s of %u bytes at LUN byte %llu failed: %s",
			      t->dir == DIR_READ ? "READ(16)" : "WRITE(16)", t->len,
			      (unsigned long long)(io->lun_offset + t->app_tag), why);
		task_put(s, t);
		return;
	}
	if (t->dir == DIR_READ && t->bytes_valid != t->len) {
		/* GOOD with a residual underflow: the bytes the target did send are
		 * right, but the range asked for was not read, so neither is FILE */
		s->st.short_reads++;
		session_fatal(
			s, EXIT_SCSI,
			"READ(16) of %u bytes at LUN byte %llu: the target reported GOOD but sent only %llu bytes "
			"(residual underflow %u); the read is incomplete",
			t->len, (unsigned long long)(io->lun_offset + t->app_tag), (unsigned long long)t->bytes_valid,
			t->residual);
		task_put(s, t);
		return;
	}
	io->done_bytes += t->len;
	io->done_cmds++;
	if (s->fatal || !io_next(io, t))
		task_put(s, t);
}

static int io_go(struct io_run *io)
{
	struct session *s = io->s;
	struct task *t;

	while ((t = task_get(s)) != NULL) {
		if (!io_next(io, t)) {
			task_put(s, t);
			break;
		}
	}
	while (!s->fatal && io->inflight)
		uv_run(s->loop, UV_RUN_ONCE);
	return s->fatal;
}

static double secs_since(uint64_t t0)
{
	return (double)(now_ms() - t0) / 1000.0;
}

static void print_rate(const char *what, uint64_t bytes, uint64_t offset, double secs)
{
	double mib = (double)bytes / (1024.0 * 1024.0);

	printf("%s %llu bytes at offset %llu in %.3f s (%.1f MiB/s)\n", what, (unsigned long long)bytes,
	       (unsigned long long)offset, secs, secs > 0 ? mib / secs : 0.0);
}

/* ------------------------------------------------------------------------ */
/* Commands.                                                                   */

static int cmd_write(struct session *s, const struct config *cfg, const struct lun_info *li, const char *path)
{
	struct stat st;
	uint8_t *data;
	uint64_t length;
	int fd, rc;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0)
		return fail(EXIT_LOCAL, "cannot open %s: %s", path, strerror(errno));
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return fail(EXIT_LOCAL, "%s is not a regular file", path);
	}
	length = (uint64_t)st.st_size;
	if (cfg->have_length) {
		if (cfg->length > length) {
			close(fd);
			return fail(EXIT_RANGE, "--length %llu is more than the %llu bytes of %s",
				    (unsigned long long)cfg->length, (unsigned long long)length, path);
		}
		length = cfg->length;
	}
	rc = check_range(cfg, li, cfg->offset, length);
	if (rc || length == 0) {
		close(fd);
		if (!rc)
			printf("nothing to write: %s is empty\n", path);
		return rc;
	}
	data = mmap(NULL, length, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (data == MAP_FAILED)
		return fail(EXIT_LOCAL, "cannot map %s: %s", path, strerror(errno));

	struct io_run io = { .s = s,
			     .dir = DIR_WRITE,
			     .base = data,
			     .lun_offset = cfg->offset,
			     .length = length,
			     .block_len = li->block_len,
			     .chunk = cfg->block_size };
	uint64_t t0 = now_ms();
	rc = io_go(&io);
	if (!rc)
		print_rate("wrote", io.done_bytes, cfg->offset, secs_since(t0));
	munmap(data, length);
	return rc;
}

/* Engines that place only into registered memory (TOELESS_CAP_DDP_NEEDS_REG)
 * must be told about the read buffers up front.  A refusal is not fatal:
 * software places whatever the engine cannot reach. */
static toeless_mr *register_buffer(struct session *s, void *p, size_t len)
{
	toeless_mr *mr = NULL;
	if (!(s->caps.flags & TOELESS_CAP_DDP_NEEDS_REG) || toeless_mr_reg(s->dev, p, len, &mr) != 0)
		return NULL;
	return mr;
}

static void deregister_buffer(toeless_mr *mr)
{
	if (mr)
		toeless_mr_dereg(mr);
}

/*
 * The read goes to a temporary file in FILE's directory, ".NAME.toeless-XXXXXX",
 * renamed to FILE only when every byte arrived and was checked.  A failed
 * read unlinks it; a killed one leaves only that name, never FILE looking
 * complete.  An existing FILE stays as it was until the rename replaces it.
 */
static int temp_create(const char *path, char *tmp, size_t tmplen)
{
	const char *slash = strrchr(path, '/');
	int dirlen = slash ? (int)(slash - path + 1) : 0;
	mode_t mask;
	int fd;

	if ((size_t)snprintf(tmp, tmplen, "%.*s.%s.toeless-XXXXXX", dirlen, path, slash ? slash + 1 : path) >= tmplen) {
		errno = ENAMETOOLONG;
		return -1;
	}
	fd = mkstemp(tmp);
	if (fd < 0)
		return -1;
	fcntl(fd, F_SETFD, FD_CLOEXEC);
	/* mkstemp makes it 0600: give FILE the mode a plain create would */
	mask = umask(0);
	umask(mask);
	fchmod(fd, 0644 & ~mask);
	return fd;
}

static int cmd_read(struct session *s, const struct config *cfg, const struct lun_info *li, const char *path)
{
	uint64_t length = cfg->length;
	uint8_t *data = NULL;
	struct stat st;
	char tmp[4096 + 32];
	int fd, rc;

	if (!cfg->have_length)
		return fail(EXIT_USAGE, "read needs --length");
	rc = check_range(cfg, li, cfg->offset, length);
	if (rc)
		return rc;
	if (stat(path, &st) == 0 && !S_ISREG(st.st_mode))
		return fail(EXIT_LOCAL, "%s is not a regular file", path);
	fd = temp_create(path, tmp, sizeof(tmp));
	if (fd < 0)
		return fail(EXIT_LOCAL, "cannot create a temporary file next to %s: %s", path, strerror(errno));
	vlog("reading into %s, renamed to %s when complete", tmp, path);
	if (length && ftruncate(fd, (off_t)length) < 0) {
		rc = fail(EXIT_LOCAL, "cannot size %s: %s", tmp, strerror(errno));
		close(fd);
		unlink(tmp);
		return rc;
	}
	if (length) {
		/* Data-In lands straight in the file's pages: no copy after the socket */
		data = mmap(NULL, length, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		if (data == MAP_FAILED) {
			rc = fail(EXIT_LOCAL, "cannot map %s: %s", tmp, strerror(errno));
			close(fd);
			unlink(tmp);
			return rc;
		}
	}
	struct io_run io = { .s = s,
			     .dir = DIR_READ,
			     .base = data,
			     .lun_offset = cfg->offset,
			     .length = length,
			     .block_len = li->block_len,
			     .chunk = cfg->block_size };
	toeless_mr *mr = length ? register_buffer(s, data, length) : NULL;
	uint64_t t0 = now_ms();
	rc = io_go(&io);
	deregister_buffer(mr);
	if (length)
		munmap(data, length);
	if (rc) {
		/* never leave data behind that was not read whole and checked */
		close(fd);
		unlink(tmp);
		return rc;
	}
	if (close(fd) < 0 || rename(tmp, path) < 0) {
		rc = fail(EXIT_LOCAL, "cannot write %s: %s", path, strerror(errno));
		unlink(tmp);
		return rc;
	}
	print_rate("read", io.done_bytes, cfg->offset, secs_since(t0));
	return 0;
}

static int cmd_bench(struct session *s, const struct config *cfg, const struct lun_info *li)
{
	uint64_t size = li->blocks * li->block_len;
	uint64_t length = cfg->have_length ? cfg->length : (cfg->offset < size ? size - cfg->offset : 0);
	unsigned n = s->ntasks;
	int rc;

	rc = check_range(cfg, li, cfg->offset, length);
	if (rc)
		return rc;
	if (length < cfg->block_size)
		return fail(EXIT_RANGE, "bench range of %llu bytes is smaller than one %u-byte block",
			    (unsigned long long)length, cfg->block_size);
	struct io_run io = { .s = s,
			     .dir = cfg->bench_write ? DIR_WRITE : DIR_READ,
			     .lun_offset = cfg->offset,
			     .length = length - length % cfg->block_size,
			     .block_len = li->block_len,
			     .chunk = cfg->block_size,
			     .bench = true };
	io.slot_buf = calloc(n, sizeof(*io.slot_buf));
	toeless_mr **mrs = calloc(n, sizeof(*mrs));
	if (!io.slot_buf || !mrs) {
		free(io.slot_buf);
		free(mrs);
		return fail(EXIT_LOCAL, "out of memory");
	}
	for (unsigned i = 0; i < n; i++) {
		if (posix_memalign((void **)&io.slot_buf[i], 4096, cfg->block_size)) {
			rc = fail(EXIT_LOCAL, "out of memory for %u buffers of %u bytes", n, cfg->block_size);
			goto out;
		}
		for (uint32_t b = 0; b < cfg->block_size; b++)
			io.slot_buf[i][b] = (uint8_t)(b * 7 + i);
		mrs[i] = register_buffer(s, io.slot_buf[i], cfg->block_size);
	}
	uint64_t t0 = now_ms();
	io.deadline_ms = t0 + (uint64_t)cfg->seconds * 1000;
	rc = io_go(&io);
	if (!rc) {
		double secs = secs_since(t0), mib = (double)io.done_bytes / (1024.0 * 1024.0);
		printf("bench %s: %.1f MiB in %.2f s: %.1f MiB/s, %.0f IOPS (block size %u, queue depth %u, "
		       "HeaderDigest %s, DataDigest %s)\n",
		       cfg->bench_write ? "write" : "read", mib, secs, secs > 0 ? mib / secs : 0.0,
		       secs > 0 ? (double)io.done_cmds / secs : 0.0, cfg->block_size, n,
		       s->params.header_digest ? "CRC32C" : "None", s->params.data_digest ? "CRC32C" : "None");
	}
out:
	for (unsigned i = 0; i < n; i++) {
		deregister_buffer(mrs[i]);
		free(io.slot_buf[i]);
	}
	free(io.slot_buf);
	free(mrs);
	return rc;
}

static int cmd_discover(struct session *s)
{
	struct discovered *d;
	size_t n;
	int rc = session_discover(s, &d, &n);

	if (rc)
		return s->fatal ? rc : fail(rc, "%s", s->errmsg);
	for (size_t i = 0; i < n; i++) {
		printf("%s\n", d[i].name);
		for (unsigned j = 0; j < d[i].nportals; j++)
			printf("    portal %s\n", d[i].portals[j]);
	}
	free(d);
	return 0;
}

static int cmd_luns(struct session *s)
{
	uint64_t *luns;
	size_t n;
	int rc = session_report_luns(s, &luns, &n);

	if (rc)
		return s->fatal ? rc : fail(rc, "%s", s->errmsg);
	for (size_t i = 0; i < n; i++)
		printf("%llu\n", (unsigned long long)luns[i]);
	free(luns);
	return 0;
}

static int cmd_info(struct session *s, const struct config *cfg, const struct lun_info *li)
{
	const struct iscsi_params *p = &s->params;

	printf("target      %s at %s, LUN %llu\n", cfg->target, s->portal, (unsigned long long)cfg->lun);
	printf("device      %.8s %.16s %.4s (%s)\n", li->vendor, li->product, li->revision, device_type_str(li->type));
	printf("capacity    %llu blocks of %u bytes (%llu bytes)\n", (unsigned long long)li->blocks, li->block_len,
	       (unsigned long long)(li->blocks * li->block_len));
	printf("digests     HeaderDigest=%s DataDigest=%s\n", p->header_digest ? "CRC32C" : "None",
	       p->data_digest ? "CRC32C" : "None");
	printf("lengths     MaxRecvDataSegmentLength ours %u, target's %u; MaxBurstLength %u; FirstBurstLength %u\n",
	       p->max_recv_dsl, p->max_send_dsl, p->max_burst, p->first_burst);
	printf("writes      ImmediateData=%s InitialR2T=%s MaxOutstandingR2T=%u\n", p->immediate_data ? "Yes" : "No",
	       p->initial_r2t ? "Yes" : "No", p->max_outstanding_r2t);
	printf("engine      %s (%s)\n", s->caps.backend,
	       (s->caps.flags & TOELESS_CAP_DDP) ? "engine placement" : "software placement");
	return 0;
}

/* ------------------------------------------------------------------------ */

enum {
	OPT_PORTAL = 256,
	OPT_TARGET,
	OPT_LUN,
	OPT_HD,
	OPT_DD,
	OPT_BACKEND,
	OPT_QD,
	OPT_BS,
	OPT_OFFSET,
	OPT_LENGTH,
	OPT_SECONDS,
	OPT_STATS,
	OPT_WRITE,
	OPT_MRDSL,
	OPT_MAXBURST,
	OPT_FIRSTBURST,
	OPT_IMMEDIATE,
	OPT_INITIALR2T,
	OPT_MAXR2T,
	OPT_INITIATOR,
	OPT_RETRIES,
	OPT_TIMEOUT,
	OPT_NOP,
	OPT_UNCHECKED,
	OPT_CMD_TIMEOUT,
	OPT_CHAP_USER,
	OPT_CHAP_SECRET_FILE,
	OPT_CHAP_TUSER,
	OPT_CHAP_TSECRET_FILE,
	OPT_CQ_POLLED,
	OPT_RX_LOWAT,
	OPT_ITT_TABLE,
};

static const char *chap_secret_file, *chap_target_secret_file;

static const struct option long_opts[] = {
	{ "portal", required_argument, NULL, OPT_PORTAL },
	{ "target", required_argument, NULL, OPT_TARGET },
	{ "lun", required_argument, NULL, OPT_LUN },
	{ "header-digest", required_argument, NULL, OPT_HD },
	{ "data-digest", required_argument, NULL, OPT_DD },
	{ "backend", required_argument, NULL, OPT_BACKEND },
	{ "queue-depth", required_argument, NULL, OPT_QD },
	{ "block-size", required_argument, NULL, OPT_BS },
	{ "offset", required_argument, NULL, OPT_OFFSET },
	{ "length", required_argument, NULL, OPT_LENGTH },
	{ "seconds", required_argument, NULL, OPT_SECONDS },
	{ "stats", no_argument, NULL, OPT_STATS },
	{ "write", no_argument, NULL, OPT_WRITE },
	{ "max-recv-dsl", required_argument, NULL, OPT_MRDSL },
	{ "max-burst", required_argument, NULL, OPT_MAXBURST },
	{ "first-burst", required_argument, NULL, OPT_FIRSTBURST },
	{ "immediate-data", required_argument, NULL, OPT_IMMEDIATE },
	{ "initial-r2t", required_argument, NULL, OPT_INITIALR2T },
	{ "max-outstanding-r2t", required_argument, NULL, OPT_MAXR2T },
	{ "initiator-name", required_argument, NULL, OPT_INITIATOR },
	{ "retries", required_argument, NULL, OPT_RETRIES },
	{ "timeout", required_argument, NULL, OPT_TIMEOUT },
	{ "command-timeout", required_argument, NULL, OPT_CMD_TIMEOUT },
	{ "nop-interval", required_argument, NULL, OPT_NOP },
	{ "unchecked", no_argument, NULL, OPT_UNCHECKED },
	{ "chap-user", required_argument, NULL, OPT_CHAP_USER },
	{ "chap-secret-file", required_argument, NULL, OPT_CHAP_SECRET_FILE },
	{ "chap-target-user", required_argument, NULL, OPT_CHAP_TUSER },
	{ "chap-target-secret-file", required_argument, NULL, OPT_CHAP_TSECRET_FILE },
	{ "cq-polled", required_argument, NULL, OPT_CQ_POLLED },
	{ "rx-lowat", required_argument, NULL, OPT_RX_LOWAT },
	{ "itt-table", required_argument, NULL, OPT_ITT_TABLE },
	{ "verbose", no_argument, NULL, 'v' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static char *chap_secret, *chap_target_secret;

/* Secrets from files or the environment, never from argv (ps shows it). */
static int load_secrets(struct config *cfg)
{
	char msg[300];

	if (!cfg->chap_user) {
		if (chap_secret_file || chap_target_secret_file || cfg->chap_target_user)
			return fail(EXIT_USAGE, "CHAP secrets given without --chap-user");
		return 0;
	}
	if (chap_secrets_load(cfg, chap_secret_file, chap_target_secret_file, &chap_secret, &chap_target_secret, msg,
			      sizeof(msg)))
		return fail(EXIT_USAGE, "%s", msg);
	return 0;
}

#define BAD_ARG(opt) fail(EXIT_USAGE, "bad value for --%s: \"%s\" (try --help)", opt, optarg)

static int parse_args(int argc, char **argv, struct config *cfg)
{
	uint32_t u;
	uint64_t v;
	int c, idx;

	config_defaults(cfg);
	cfg->initiator = "iqn.2024-01.org.toeless:initiator";
	cfg->queue_depth = 16;
	cfg->block_size = 64 * 1024;
	cfg->seconds = 5;
	cfg->cq_polled = true;
	while ((c = getopt_long(argc, argv, "vh", long_opts, &idx)) != -1) {
		switch (c) {
		case OPT_PORTAL:
			if (!parse_portal(optarg, cfg))
				return BAD_ARG("portal");
			break;
		case OPT_TARGET: cfg->target = optarg; break;
		case OPT_LUN:
			if (!parse_size(optarg, &v) || v > 16383)
				return BAD_ARG("lun");
			cfg->lun = v;
			break;
		case OPT_HD:
			if (!parse_digest(optarg, &cfg->header_digest))
				return BAD_ARG("header-digest");
			break;
		case OPT_DD:
			if (!parse_digest(optarg, &cfg->data_digest))
				return BAD_ARG("data-digest");
			break;
		case OPT_BACKEND: cfg->backend = optarg; break;
		case OPT_QD:
			if (!parse_u32_opt(optarg, 1, 4096, &u))
				return BAD_ARG("queue-depth");
			cfg->queue_depth = u;
			break;
		case OPT_BS:
			if (!parse_u32_opt(optarg, 1, 1u << 30, &cfg->block_size))
				return BAD_ARG("block-size");
			break;
		case OPT_OFFSET:
			if (!parse_size(optarg, &cfg->offset))
				return BAD_ARG("offset");
			break;
		case OPT_LENGTH:
			if (!parse_size(optarg, &cfg->length))
				return BAD_ARG("length");
			cfg->have_length = true;
			break;
		case OPT_SECONDS:
			if (!parse_u32_opt(optarg, 1, 86400, &u))
				return BAD_ARG("seconds");
			cfg->seconds = u;
			break;
		case OPT_STATS: cfg->stats = true; break;
		case OPT_WRITE: cfg->bench_write = true; break;
		case OPT_MRDSL:
			if (!parse_u32_opt(optarg, 512, 16777215, &cfg->max_recv_dsl))
				return BAD_ARG("max-recv-dsl");
			break;
		case OPT_MAXBURST:
			if (!parse_u32_opt(optarg, 512, 16777215, &cfg->max_burst))
				return BAD_ARG("max-burst");
			break;
		case OPT_FIRSTBURST:
			if (!parse_u32_opt(optarg, 512, 16777215, &cfg->first_burst))
				return BAD_ARG("first-burst");
			break;
		case OPT_IMMEDIATE:
			if (!parse_yesno(optarg, &cfg->immediate_data))
				return BAD_ARG("immediate-data");
			break;
		case OPT_INITIALR2T:
			if (!parse_yesno(optarg, &cfg->initial_r2t))
				return BAD_ARG("initial-r2t");
			break;
		case OPT_MAXR2T:
			if (!parse_u32_opt(optarg, 1, 65535, &cfg->max_outstanding_r2t))
				return BAD_ARG("max-outstanding-r2t");
			break;
		case OPT_INITIATOR: cfg->initiator = optarg; break;
		case OPT_RETRIES:
			if (!parse_u32_opt(optarg, 0, 1000, &u))
				return BAD_ARG("retries");
			cfg->retries = u;
			break;
		case OPT_TIMEOUT:
			if (!parse_u32_opt(optarg, 1, 3600, &u))
				return BAD_ARG("timeout");
			cfg->timeout = u;
			break;
		case OPT_CMD_TIMEOUT:
			if (!parse_u32_opt(optarg, 1, 3600, &u))
				return BAD_ARG("command-timeout");
			cfg->cmd_timeout = u;
			break;
		case OPT_NOP:
			if (!parse_u32_opt(optarg, 0, 3600, &u))
				return BAD_ARG("nop-interval");
			cfg->nop_interval = u;
			break;
		case OPT_UNCHECKED: cfg->unchecked = true; break;
		case OPT_CHAP_USER: cfg->chap_user = optarg; break;
		case OPT_CHAP_SECRET_FILE: chap_secret_file = optarg; break;
		case OPT_CHAP_TUSER: cfg->chap_target_user = optarg; break;
		case OPT_CHAP_TSECRET_FILE: chap_target_secret_file = optarg; break;
		case OPT_CQ_POLLED:
			if (!parse_yesno(optarg, &cfg->cq_polled))
				return BAD_ARG("cq-polled");
			break;
		case OPT_RX_LOWAT:
			if (!parse_yesno(optarg, &cfg->rx_lowat))
				return BAD_ARG("rx-lowat");
			break;
		case OPT_ITT_TABLE:
			if (strcmp(optarg, "direct") && strcmp(optarg, "hash"))
				return BAD_ARG("itt-table");
			cfg->itt_direct = !strcmp(optarg, "direct");
			break;
		case 'v': cfg->verbose = true; break;
		case 'h': usage(stdout); exit(0);
		default: usage(stderr); return EXIT_USAGE;
		}
	}
	if (cfg->first_burst > cfg->max_burst)
		return fail(EXIT_USAGE, "--first-burst %u is above --max-burst %u", cfg->first_burst, cfg->max_burst);
	return 0;
}

int main(int argc, char **argv)
{
	struct config cfg;
	struct session s;
	struct lun_info li;
	const char *cmd, *file = NULL;
	uv_loop_t loop;
	int rc;

	rc = parse_args(argc, argv, &cfg);
	if (rc)
		return rc;
	if (optind >= argc) {
		usage(stderr);
		return EXIT_USAGE;
	}
	cmd = argv[optind++];
	if (!strcmp(cmd, "write") || !strcmp(cmd, "read")) {
		if (optind >= argc)
			return fail(EXIT_USAGE, "%s needs a FILE", cmd);
		file = argv[optind++];
	} else if (strcmp(cmd, "bench") && strcmp(cmd, "info") && strcmp(cmd, "discover") && strcmp(cmd, "luns")) {
		return fail(EXIT_USAGE, "unknown command \"%s\" (try --help)", cmd);
	}
	if (optind < argc)
		return fail(EXIT_USAGE, "unexpected argument \"%s\"", argv[optind]);
	if (!cfg.host)
		return fail(EXIT_USAGE, "--portal is required");
	cfg.discovery = !strcmp(cmd, "discover");
	if (!cfg.target && !cfg.discovery)
		return fail(EXIT_USAGE, "--target is required");
	if (cfg.discovery && cfg.target)
		return fail(EXIT_USAGE, "discover takes no --target: it asks the portal for all of them");
	rc = load_secrets(&cfg);
	if (rc)
		return rc;
	if (!strcmp(cmd, "read") && !cfg.have_length)
		return fail(EXIT_USAGE, "read needs --length");

	signal(SIGPIPE, SIG_IGN); /* a dropped connection is an error code, not a signal */
	uv_loop_init(&loop);
	rc = session_init(&s, &cfg, &loop);
	if (!rc && cfg.max_recv_dsl > s.caps.max_recv_dsl && s.caps.max_recv_dsl) {
		vlog("MaxRecvDataSegmentLength %u lowered to the engine's limit %u", cfg.max_recv_dsl,
		     s.caps.max_recv_dsl);
		cfg.max_recv_dsl = s.caps.max_recv_dsl;
	}
	if (!rc && s.ntasks < cfg.queue_depth)
		vlog("queue depth %u lowered to the engine's limit %u", cfg.queue_depth, s.ntasks);
	if (!rc)
		vlog("a command unanswered for %u s is escalated; the run ends at most %llu s after it was sent",
		     cfg.cmd_timeout, (unsigned long long)(esc_bound_ms(&cfg) / 1000));
	if (!rc)
		rc = session_login(&s);
	if (!rc && cfg.discovery)
		rc = cmd_discover(&s);
	else if (!rc && !strcmp(cmd, "luns"))
		rc = cmd_luns(&s);
	else if (!rc)
		rc = probe_lun(&s, &li);
	if (!rc && !cfg.discovery && strcmp(cmd, "luns")) {
		if (!strcmp(cmd, "write"))
			rc = cmd_write(&s, &cfg, &li, file);
		else if (!strcmp(cmd, "read"))
			rc = cmd_read(&s, &cfg, &li, file);
		else if (!strcmp(cmd, "bench"))
			rc = cmd_bench(&s, &cfg, &li);
		else
			rc = cmd_info(&s, &cfg, &li);
	}
	if (!s.fatal) {
		int lrc = session_logout(&s);
		if (!rc)
			rc = lrc;
	}
	if (cfg.stats)
		session_print_stats(&s, stdout);
	if (s.fatal) {
		fflush(stdout);
		fail(s.fatal, "%s", s.errmsg);
		rc = s.fatal;
	}
	session_destroy(&s);
	uv_loop_close(&loop);
	chap_secret_free(chap_secret);
	chap_secret_free(chap_target_secret);
	return rc;
}
