/*
 * toeless-nic: the wire-level reference NIC (see nic.h, doc/hw.md).
 *
 *   toeless-nic --control PATH --host-ns NS --target-ns NS
 *               [--host-tun NAME] [--target-tun NAME] [--ready FILE]
 *               [--seed N] [--offload] [--wire NAME=VALUE]... [--fault NAME=VALUE]... [-v]...
 *
 * It creates one TUN device (IFF_TUN | IFF_NO_PI) in each network
 * namespace (by name, /run/netns/NS) and forwards IPv4 between them;
 * addresses and routes are the setup script's (toeless-nic-netns).
 *
 * SPDX-License-Identifier: MIT
 */
#define _GNU_SOURCE 1 /* setns */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "nic.h"

struct nic nic;
const uint64_t dv_model_features = HWIF_F_ALL; /* with transmit digests */
const char dv_model_name[] = NIC_NAME;

/* A TUN device created inside network namespace ns.  With offload, its
 * packets carry a virtio_net_hdr and the kernel may hand it (and take
 * from it) TCP segments of up to 64 KiB whose checksum is left undone. */
static int tun_in_ns(const char *ns, const char *name, bool offload)
{
	char path[4096];
	int self = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	if (self < 0)
		return -errno;
	snprintf(path, sizeof(path), "%s%s", strchr(ns, '/') ? "" : "/run/netns/", ns);
	int nsfd = open(path, O_RDONLY | O_CLOEXEC);
	if (nsfd < 0 || setns(nsfd, CLONE_NEWNET) != 0) {
		int e = -errno;
		if (nsfd >= 0)
			close(nsfd);
		close(self);
		return e;
	}
	close(nsfd);
	int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC | O_NONBLOCK);
	int e = fd < 0 ? -errno : 0;
	if (fd >= 0) {
		struct ifreq ifr;
		memset(&ifr, 0, sizeof(ifr));
		ifr.ifr_flags = IFF_TUN | IFF_NO_PI | (offload ? IFF_VNET_HDR : 0);
		snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
		if (ioctl(fd, TUNSETIFF, &ifr) != 0 ||
		    (offload && ioctl(fd, TUNSETOFFLOAD, (unsigned long)(TUN_F_CSUM | TUN_F_TSO4)) != 0)) {
			e = -errno;
			close(fd);
			fd = -1;
		}
	}
	if (setns(self, CLONE_NEWNET) != 0 && !e)
		e = -errno;
	close(self);
	return fd >= 0 && !e ? fd : e;
}

static int wire_fault(struct nic_wire_faults *f, const char *s)
{
	unsigned a = 0, b = 0;
	const char *eq = strchr(s, '=');
	if (!eq)
		return -1;
	int k = sscanf(eq + 1, "%u:%u", &a, &b);
	size_t n = (size_t)(eq - s);
#define IS(x) (n == strlen(x) && !strncmp(s, x, n))
	if (k < 1)
		return -1;
	if (IS("drop"))
		f->drop = a;
	else if (IS("reorder"))
		f->reorder = a;
	else if (IS("dup"))
		f->dup = a;
	else if (IS("delay")) {
		f->delay = a;
		f->delay_ms = k == 2 ? b : 20;
	} else if (IS("split-hdr"))
		f->split_hdr = a;
	else if (IS("corrupt-data"))
		f->corrupt_data = a;
	else if (IS("corrupt-hdr"))
		f->corrupt_hdr = a;
	else if (IS("bad-guess"))
		f->bad_guess = a;
	else if (IS("tx-drop"))
		f->tx_drop = a;
	else if (IS("tx-skip"))
		f->tx_skip = a;
	else
		return -1;
#undef IS
	return 0;
}

static void usage(FILE *out)
{
	fprintf(out,
		"usage: toeless-nic --host-ns NS --target-ns NS [options]\n"
		"  -H, --host-ns NS        network namespace of the initiator (name or path)\n"
		"  -T, --target-ns NS      network namespace of the target\n"
		"      --host-tun NAME     TUN device there (default tlnic0)\n"
		"      --target-tun NAME   TUN device there (default tlnic1)\n"
		"  -r, --ready FILE        write the pid there once the devices and the socket are up\n"
		"  -s, --seed N            seed of the wire faults (default 1)\n"
		"  -o, --offload           the kernels' TSO and checksum offload on both TUN devices: TCP\n"
		"                          segments of up to 64 KiB pass as one (a real NIC's LRO/TSO)\n"
		"  -w, --wire NAME=VALUE   wire fault on target->host data segments, per mille; repeatable:\n"
		"        drop, reorder, dup, delay=P[:MS], split-hdr, corrupt-data, corrupt-hdr,\n"
		"        bad-guess=EVERY (every EVERY-th resync request names a wrong position),\n"
		"        tx-drop (host->target data segments of an added connection, after digest insertion),\n"
		"        tx-skip (transmit records whose digests are not inserted: the target must refuse them)\n");
	dv_common_usage(out);
}

static void nic_stop(void)
{
	nic_print_stats();
	nic_wire_stop();
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "control", required_argument, NULL, 'c' },
		{ "host-ns", required_argument, NULL, 'H' },
		{ "target-ns", required_argument, NULL, 'T' },
		{ "host-tun", required_argument, NULL, 1 },
		{ "target-tun", required_argument, NULL, 2 },
		{ "ready", required_argument, NULL, 'r' },
		{ "seed", required_argument, NULL, 's' },
		{ "offload", no_argument, NULL, 'o' },
		{ "wire", required_argument, NULL, 'w' },
		{ "fault", required_argument, NULL, 'f' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *ns_h = NULL, *ns_t = NULL, *tun_h = "tlnic0", *tun_t = "tlnic1", *ready = NULL;
	int ch, k;
	nic.seed = 1;
	dv_options_init();
	while ((ch = getopt_long(argc, argv, "c:H:T:r:s:ow:f:vh", opts, NULL)) != -1) {
		if ((k = dv_common_opt(ch, optarg)) < 0)
			return 2;
		if (k)
			continue;
		switch (ch) {
		case 'H': ns_h = optarg; break;
		case 'T': ns_t = optarg; break;
		case 1: tun_h = optarg; break;
		case 2: tun_t = optarg; break;
		case 'r': ready = optarg; break;
		case 's': nic.seed = strtoull(optarg, NULL, 0); break;
		case 'o': nic.offload = true; break;
		case 'w':
			if (wire_fault(&nic.wf, optarg)) {
				fprintf(stderr, "toeless-nic: bad wire fault \"%s\"\n", optarg);
				return 2;
			}
			break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (!ns_h || !ns_t || !dv.o.control) {
		usage(stderr);
		return 2;
	}
	nic.rng = nic.seed * 0x9E3779B97F4A7C15ull + 1;
	nic.fd_host = tun_in_ns(ns_h, tun_h, nic.offload);
	nic.fd_tgt = tun_in_ns(ns_t, tun_t, nic.offload);
	if (nic.fd_host < 0 || nic.fd_tgt < 0) {
		int e = nic.fd_host < 0 ? nic.fd_host : nic.fd_tgt;
		fprintf(stderr, "toeless-nic: TUN device in %s: %s\n", nic.fd_host < 0 ? ns_h : ns_t, strerror(-e));
		return e == -ENOENT || e == -EPERM || e == -ENODEV ? 77 : 1;
	}
	dv_loop_init();
	int rc = nic_wire_start();
	if (!rc)
		rc = dv_control_start(dv.o.control);
	if (rc) {
		fprintf(stderr, "toeless-nic: start: %s\n", strerror(-rc));
		return 1;
	}
	if (ready && dv_write_ready(ready, (long)getpid()))
		return 1;
	dv_log(1, "ready: control %s, %s:%s <-> %s:%s, seed %llu%s", dv.o.control, ns_h, tun_h, ns_t, tun_t,
	       (unsigned long long)nic.seed, nic.offload ? ", offloads on" : "");
	dv_run(nic_stop);
	return 0;
}
