/*
 * toeless-devsim: the reference device model for the toeless device
 * interface.  See doc/device-interface.md and doc/hw.md.
 *
 *   toeless-devsim --control PATH --listen ADDR:PORT --target ADDR:PORT
 *                  [--port-file FILE] [--fault NAME=VALUE]... [-v]...
 *
 * SPDX-License-Identifier: MIT
 */
#include "config.h"

#include <errno.h>
#include <arpa/inet.h>
#include <getopt.h>
#include <isa-l/crc.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "devsim.h"

struct dv_dev dv;

void dv_logf(const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "toeless-devsim[%d]: ", (int)getpid());
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

/* ---- options ---- */

static int parse_fault(struct dv_faults *f, const char *s)
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

static void usage(FILE *out)
{
	fprintf(out,
		"usage: toeless-devsim --target ADDR:PORT [options]\n"
		"  -c, --control PATH     control socket (default $" HWIF_PATH_ENV " or " HWIF_DEFAULT_PATH ")\n"
		"  -l, --listen ADDR:PORT where the host connects (default 127.0.0.1:3261)\n"
		"  -t, --target ADDR:PORT the iSCSI target\n"
		"  -p, --port-file FILE   write the listening port there once ready\n"
		"  -f, --fault NAME=VALUE inject a fault; repeatable:\n"
		"        lose-sync=EVERY[:N]    after every EVERY PDUs in sync, lose the boundary for N PDUs\n"
		"        corrupt-data=EVERY     flip a payload bit of every EVERY-th Data-In (before the check)\n"
		"        corrupt-hdr=EVERY      flip a header bit of every EVERY-th PDU (HeaderDigest on)\n"
		"        drop-records=EVERY     do not publish every EVERY-th record\n"
		"        delay-records=EVERY[:MS] publish every EVERY-th record MS ms after its bytes\n"
		"        sgl-limit=N            hold at most N SGLs per context (the queues fill)\n"
		"        rq-limit=N             use only N record queue entries (records drop when full)\n"
		"        reset-after=N          reset the device after N PDUs in sync\n"
		"        no-ddp, no-digest, no-crc, no-resync   withhold a feature at attach\n"
		"  -v, --verbose          more messages (repeat)\n"
		"  -h, --help\n");
}

static void print_stats(void)
{
	const struct hwif_dev_stats *s = &dv.st;
	dv_log(1,
	       "stats: pdus %llu records %llu dropped %llu placed %llu B digests %llu (bad %llu) resync req %llu ok %llu "
	       "crc %llu sgl +%llu -%llu refused %llu faults %llu",
	       (unsigned long long)s->pdus_seen, (unsigned long long)s->records, (unsigned long long)s->records_dropped,
	       (unsigned long long)s->bytes_placed, (unsigned long long)s->digests_checked,
	       (unsigned long long)s->digest_errors, (unsigned long long)s->resync_requests,
	       (unsigned long long)s->resyncs, (unsigned long long)s->crc_requests, (unsigned long long)s->sgls_added,
	       (unsigned long long)s->sgls_released, (unsigned long long)s->sgls_refused,
	       (unsigned long long)s->faults_injected);
}

static uv_signal_t sig_term, sig_int;

static void on_signal(uv_signal_t *h, int signum)
{
	print_stats();
	dv_control_stop();
	uv_stop(dv.loop);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "control", required_argument, NULL, 'c' },
		{ "listen", required_argument, NULL, 'l' },
		{ "target", required_argument, NULL, 't' },
		{ "port-file", required_argument, NULL, 'p' },
		{ "fault", required_argument, NULL, 'f' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;
	dv.o.listen = "127.0.0.1:3261";
	dv.o.control = getenv(HWIF_PATH_ENV);
	if (!dv.o.control || !*dv.o.control)
		dv.o.control = HWIF_DEFAULT_PATH;
	while ((ch = getopt_long(argc, argv, "c:l:t:p:f:vh", opts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			dv.o.control = optarg;
			break;
		case 'l':
			dv.o.listen = optarg;
			break;
		case 't':
			dv.o.target = optarg;
			break;
		case 'p':
			dv.o.port_file = optarg;
			break;
		case 'f':
			if (parse_fault(&dv.o.f, optarg)) {
				fprintf(stderr, "toeless-devsim: bad fault \"%s\"\n", optarg);
				usage(stderr);
				return 2;
			}
			break;
		case 'v':
			dv.o.verbose++;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (!dv.o.target) {
		usage(stderr);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	dv.loop = uv_default_loop();
	dv.delayed_tail = &dv.delayed;
	uv_timer_init(dv.loop, &dv.tick);
	int rc = dv_relay_start();
	if (rc) {
		fprintf(stderr, "toeless-devsim: relay %s -> %s: %s\n", dv.o.listen, dv.o.target,
			rc < -1000 ? uv_strerror(rc) : strerror(-rc));
		return 1;
	}
	if ((rc = dv_control_start(dv.o.control))) {
		fprintf(stderr, "toeless-devsim: control socket %s: %s\n", dv.o.control, strerror(-rc));
		return 1;
	}
	struct sockaddr_storage la;
	int len = sizeof(la);
	uv_tcp_getsockname(&dv.listener, (struct sockaddr *)&la, &len);
	int port = la.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&la)->sin6_port)
					    : ntohs(((struct sockaddr_in *)&la)->sin_port);
	if (dv.o.port_file) {
		char tmp[4096];
		snprintf(tmp, sizeof(tmp), "%s.tmp", dv.o.port_file);
		FILE *f = fopen(tmp, "w");
		if (!f || fprintf(f, "%d\n", port) < 0 || fclose(f) != 0 || rename(tmp, dv.o.port_file) != 0) {
			fprintf(stderr, "toeless-devsim: cannot write %s\n", dv.o.port_file);
			return 1;
		}
	}
	dv_log(1, "ready: control %s, host side port %d, target %s", dv.o.control, port, dv.o.target);
	uv_signal_init(dv.loop, &sig_term);
	uv_signal_start(&sig_term, on_signal, SIGTERM);
	uv_signal_init(dv.loop, &sig_int);
	uv_signal_start(&sig_int, on_signal, SIGINT);
	uv_run(dv.loop, UV_RUN_DEFAULT);
	return 0;
}
