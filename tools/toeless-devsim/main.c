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
	fprintf(out, "usage: toeless-devsim --target ADDR:PORT [options]\n"
		     "  -l, --listen ADDR:PORT  where the host connects (default 127.0.0.1:3261)\n"
		     "  -t, --target ADDR:PORT  the iSCSI target\n"
		     "  -p, --port-file FILE    write the listening port there once ready\n");
	dv_common_usage(out);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "control", required_argument, NULL, 'c' }, { "listen", required_argument, NULL, 'l' },
		{ "target", required_argument, NULL, 't' },  { "port-file", required_argument, NULL, 'p' },
		{ "fault", required_argument, NULL, 'f' },   { "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },          { NULL, 0, NULL, 0 },
	};
	int ch, k;
	dv.o.listen = "127.0.0.1:3261";
	dv_options_init();
	while ((ch = getopt_long(argc, argv, "c:l:t:p:f:vh", opts, NULL)) != -1) {
		if ((k = dv_common_opt(ch, optarg)) < 0) {
			usage(stderr);
			return 2;
		}
		if (k)
			continue;
		switch (ch) {
		case 'l': dv.o.listen = optarg; break;
		case 't': dv.o.target = optarg; break;
		case 'p': dv.o.port_file = optarg; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (!dv.o.target || !dv.o.control) {
		usage(stderr);
		return 2;
	}
	dv_loop_init();
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
	if (dv.o.port_file && dv_write_ready(dv.o.port_file, port))
		return 1;
	dv_log(1, "ready: control %s, host side port %d, target %s", dv.o.control, port, dv.o.target);
	dv_run(NULL);
	return 0;
}
