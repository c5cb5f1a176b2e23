/*
 * Device models, shared host-side helpers: logging, CRC32C, the tick that
 * publishes delayed records and retries stalled queues, the device faults
 * (--fault) and the statistics printed at exit, and what both main()s do
 * alike: the options every model takes, the ready file, the loop.
 *
 * SPDX-License-Identifier: MIT
 */
#define _GNU_SOURCE 1 /* program_invocation_short_name */
#include "config.h"

#include <errno.h>
#include <isa-l/crc.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "hwdev.h"
#include "toeless_iscsi.h"

struct dv_dev dv;

void dv_logf(const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "%s[%d]: ", program_invocation_short_name, (int)getpid());
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

uint64_t dv_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* The iSCSI digest convention of toeless_crc32c(): start with 0, chain. */
uint32_t dv_crc32c(uint32_t crc, const void *buf, size_t len)
{
	const unsigned char *p = buf;
	uint32_t r = ~crc;
	while (len) {
		int n = len > (1u << 30) ? (1 << 30) : (int)len;
		r = crc32_iscsi((unsigned char *)(uintptr_t)p, n, r);
		p += n;
		len -= (size_t)n;
	}
	return ~r;
}

/* ---- the tick: delayed records, stalled queues ---- */

static void on_tick(uv_timer_t *t)
{
	uint64_t now = dv_now_ms();
	while (dv.delayed && dv.delayed->due_ms <= now) {
		struct dv_delayed *d = dv.delayed;
		dv.delayed = d->next;
		if (!dv.delayed)
			dv.delayed_tail = &dv.delayed;
		if (d->ctx->active)
			dv_publish(d->ctx, &d->rec);
		free(d);
	}
	bool stalled = false;
	for (struct dv_att *a = dv.atts; a; a = a->next) {
		stalled |= a->admin_stalled;
		for (uint32_t i = 0; a->ctx && i < a->max_contexts; i++)
			stalled |= a->ctx[i].active && a->ctx[i].stalled;
	}
	if (stalled)
		dv_kick_all();
	if (!dv.delayed && !stalled) {
		uv_timer_stop(t);
		dv.tick_on = false;
	}
}

void dv_tick_need(void)
{
	if (!dv.tick_on) {
		dv.tick_on = true;
		uv_timer_start(&dv.tick, on_tick, 1, 1);
	}
}

int dv_fault_parse(struct dv_faults *f, const char *s)
{
	char name[32];
	const char *eq = strchr(s, '=');
	const char *v = eq ? eq + 1 : "";
	size_t n = eq ? (size_t)(eq - s) : strlen(s);
	if (n >= sizeof(name))
		return -1;
	memcpy(name, s, n);
	name[n] = '\0';
	unsigned a = 0, b = 0;
	int k = sscanf(v, "%u:%u", &a, &b);
	if (!strcmp(name, "lose-sync") && k >= 1) {
		f->lose_sync_every = a;
		f->lose_sync_n = k == 2 ? b : 1;
	} else if (!strcmp(name, "corrupt-data") && k == 1) {
		f->corrupt_data_every = a;
	} else if (!strcmp(name, "corrupt-hdr") && k == 1) {
		f->corrupt_hdr_every = a;
	} else if (!strcmp(name, "drop-records") && k == 1) {
		f->drop_records_every = a;
	} else if (!strcmp(name, "delay-records") && k >= 1) {
		f->delay_records_every = a;
		f->delay_ms = k == 2 ? b : 50;
	} else if (!strcmp(name, "sgl-limit") && k == 1) {
		f->sgl_limit = a;
	} else if (!strcmp(name, "rq-limit") && k == 1) {
		f->rq_limit = a;
	} else if (!strcmp(name, "reset-after") && k == 1) {
		f->reset_after = a;
	} else if (!strcmp(name, "die-after") && k == 1) {
		f->die_after = a;
	} else if (!strcmp(name, "no-ddp")) {
		f->features_off |= HWIF_F_DDP;
	} else if (!strcmp(name, "no-digest")) {
		f->features_off |= HWIF_F_DIGEST_RX;
	} else if (!strcmp(name, "no-crc")) {
		f->features_off |= HWIF_F_CRC_REQ;
	} else if (!strcmp(name, "no-resync")) {
		f->features_off |= HWIF_F_RESYNC;
	} else {
		return -1;
	}
	return 0;
}

static const char dv_fault_usage[] =
	"        lose-sync=EVERY[:N]    after every EVERY PDUs in sync, lose the boundary for N PDUs\n"
	"        corrupt-data=EVERY     flip a payload bit of every EVERY-th Data-In (before the check)\n"
	"        corrupt-hdr=EVERY      flip a header bit of every EVERY-th PDU (HeaderDigest on)\n"
	"        drop-records=EVERY     do not publish every EVERY-th record\n"
	"        delay-records=EVERY[:MS] publish every EVERY-th record MS ms after its bytes\n"
	"        sgl-limit=N            hold at most N SGLs per context (the queues fill)\n"
	"        rq-limit=N             use only N record queue entries (records drop when full)\n"
	"        reset-after=N          reset the device after N PDUs in sync\n"
	"        die-after=N            end the process with SIGKILL after N PDUs in sync\n"
	"        no-ddp, no-digest, no-crc, no-resync   withhold a feature at attach\n";

/* The process ends as kill -9 ends it (no cleanup, no counters), but at a
 * known point: in the middle of a transfer however fast the machine. */
void dv_die_check(void)
{
	if (dv.o.f.die_after && ++dv.pdus_to_die >= dv.o.f.die_after) {
		dv_log(1, "fault: die-after %u PDUs: SIGKILL", dv.o.f.die_after);
		kill(getpid(), SIGKILL);
	}
}

void dv_print_stats(void)
{
	const struct hwif_dev_stats *s = &dv.st;
	dv_log(1,
	       "stats: pdus %llu records %llu dropped %llu placed %llu B digests %llu (bad %llu) resync req %llu ok "
	       "%llu "
	       "crc %llu sgl +%llu -%llu refused %llu faults %llu",
	       (unsigned long long)s->pdus_seen, (unsigned long long)s->records, (unsigned long long)s->records_dropped,
	       (unsigned long long)s->bytes_placed, (unsigned long long)s->digests_checked,
	       (unsigned long long)s->digest_errors, (unsigned long long)s->resync_requests,
	       (unsigned long long)s->resyncs, (unsigned long long)s->crc_requests, (unsigned long long)s->sgls_added,
	       (unsigned long long)s->sgls_released, (unsigned long long)s->sgls_refused,
	       (unsigned long long)s->faults_injected);
}

/* ---- iSCSI header checks both wire sides use ---- */

bool dv_target_opcode(uint8_t b0)
{
	if (b0 & 0xc0)
		return false;
	switch (b0) {
	case 0x20:
	case 0x21:
	case 0x22:
	case 0x23:
	case 0x24:
	case 0x25:
	case 0x26:
	case 0x31:
	case 0x32:
	case 0x3f: return true;
	default: return false;
	}
}

/* Could a target PDU header start at h (48 + HeaderDigest bytes)? */
bool dv_plausible_hdr(const struct dv_ctx *x, const uint8_t *h)
{
	if (!dv_target_opcode(h[0]) || h[4] != 0 || toeless_bhs_dsl(h) > x->max_dsl)
		return false;
	if (toeless_bhs_opcode(h) == TOELESS_ISCSI_OP_DATA_IN) {
		if ((h[1] & TOELESS_ISCSI_DATAIN_STATUS) && !(h[1] & TOELESS_ISCSI_FLAG_FINAL))
			return false;
		if (h[1] & 0x38)
			return false;
	}
	if (x->flags & HWIF_CTX_HDR_DIGEST)
		return dv_crc32c(0, h, 48) == toeless_get_le32(h + 48);
	return true;
}

/* ---- what both models' main() share ---- */

static char ctl_default[108];

void dv_options_init(void)
{
	const char *env = getenv(HWIF_PATH_ENV);
	if (env && *env)
		dv.o.control = env;
	else /* too long a $XDG_RUNTIME_DIR: --control is then required */
		dv.o.control = hwif_default_path(ctl_default, sizeof(ctl_default), geteuid()) ? NULL : ctl_default;
}

int dv_common_opt(int ch, const char *arg)
{
	switch (ch) {
	case 'c': dv.o.control = arg; return 1;
	case 'f':
		if (dv_fault_parse(&dv.o.f, arg)) {
			fprintf(stderr, "%s: bad fault \"%s\"\n", program_invocation_short_name, arg);
			return -1;
		}
		return 1;
	case 'v': dv.o.verbose++; return 1;
	default: return 0;
	}
}

void dv_common_usage(FILE *out)
{
	fprintf(out,
		"  -c, --control PATH      control socket (default " HWIF_DEFAULT_HELP ")\n"
		"  -f, --fault NAME=VALUE  device fault; repeatable:\n"
		"%s"
		"  -v, --verbose           more messages (repeat)\n"
		"  -h, --help\n",
		dv_fault_usage);
}

int dv_write_ready(const char *path, long value)
{
	char tmp[4096];
	/* written aside and renamed: a waiting script never reads half a number */
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	FILE *f = fopen(tmp, "w");
	if (!f || fprintf(f, "%ld\n", value) < 0 || fclose(f) != 0 || rename(tmp, path) != 0) {
		fprintf(stderr, "%s: cannot write %s\n", program_invocation_short_name, path);
		return -1;
	}
	return 0;
}

void dv_loop_init(void)
{
	signal(SIGPIPE, SIG_IGN);
	dv.loop = uv_default_loop();
	dv.delayed_tail = &dv.delayed;
	uv_timer_init(dv.loop, &dv.tick);
}

static uv_signal_t sig_term, sig_int;
static void (*model_stop)(void);

static void on_signal(uv_signal_t *h, int signum)
{
	dv_print_stats();
	if (model_stop)
		model_stop();
	dv_control_stop();
	uv_stop(dv.loop);
}

void dv_run(void (*stop)(void))
{
	model_stop = stop;
	uv_signal_init(dv.loop, &sig_term);
	uv_signal_start(&sig_term, on_signal, SIGTERM);
	uv_signal_init(dv.loop, &sig_int);
	uv_signal_start(&sig_int, on_signal, SIGINT);
	uv_run(dv.loop, UV_RUN_DEFAULT);
}
