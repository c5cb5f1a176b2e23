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
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "devsim.h"

/* a relay holds whole PDUs: its records are final when published */
const uint64_t dv_model_features = HWIF_F_ALL & ~(HWIF_F_WIRE_RECORDS | HWIF_F_DIGEST_TX);
const char dv_model_name[] = DV_NAME;

/* ---- options ---- */

static void usage(FILE *out)
{
	fprintf(out,
		"usage: toeless-devsim --target ADDR:PORT [options]\n"
		"  -c, --control PATH     control socket (default $" HWIF_PATH_ENV " or " HWIF_DEFAULT_PATH ")\n"
		"  -l, --listen ADDR:PORT where the host connects (default 127.0.0.1:3261)\n"
		"  -t, --target ADDR:PORT the iSCSI target\n"
		"  -p, --port-file FILE   write the listening port there once ready\n"
		"  -f, --fault NAME=VALUE inject a fault; repeatable:\n"
		"%s"
		"  -v, --verbose          more messages (repeat)\n"
		"  -h, --help\n",
		dv_fault_usage);
}

static uv_signal_t sig_term, sig_int;

static void on_signal(uv_signal_t *h, int signum)
{
	dv_print_stats();
	dv_control_stop();
	uv_stop(dv.loop);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "control", required_argument, NULL, 'c' }, { "listen", required_argument, NULL, 'l' },
		{ "target", required_argument, NULL, 't' },  { "port-file", required_argument, NULL, 'p' },
		{ "fault", required_argument, NULL, 'f' },   { "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },          { NULL, 0, NULL, 0 },
	};
	int ch;
	dv.o.listen = "127.0.0.1:3261";
	dv.o.control = getenv(HWIF_PATH_ENV);
	if (!dv.o.control || !*dv.o.control)
		dv.o.control = HWIF_DEFAULT_PATH;
	while ((ch = getopt_long(argc, argv, "c:l:t:p:f:vh", opts, NULL)) != -1) {
		switch (ch) {
		case 'c': dv.o.control = optarg; break;
		case 'l': dv.o.listen = optarg; break;
		case 't': dv.o.target = optarg; break;
		case 'p': dv.o.port_file = optarg; break;
		case 'f':
			if (dv_fault_parse(&dv.o.f, optarg)) {
				fprintf(stderr, "toeless-devsim: bad fault \"%s\"\n", optarg);
				usage(stderr);
				return 2;
			}
			break;
		case 'v': dv.o.verbose++; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
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
