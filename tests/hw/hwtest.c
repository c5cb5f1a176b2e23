/*
 * Test support for the hw backend (see hwtest.h).
 *
 * SPDX-License-Identifier: MIT
 */
#include "config.h"

#define _GNU_SOURCE 1 /* setns */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "hwtest.h"

/*
 * The device under the tests: the relay model (toeless-devsim) on
 * loopback, or, when TOELESS_HWT_NIC names a directory set up by
 * `toeless-nic-netns up` (tests/hw/test-check-hw-nic.sh), the wire NIC
 * (toeless-nic): the test's target socket lives in the target namespace,
 * the host's in the host namespace, and real TCP segments cross the NIC.
 */
static struct {
	bool on;
	char dir[256], netns[1024];
	char host_ns[64], tgt_ns[64], tgt_addr[64], ctl[120];
} wire;

static void env_value(const char *text, const char *key, char *out, size_t len)
{
	size_t kl = strlen(key);
	for (const char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
		if (!strncmp(l, key, kl) && l[kl] == '=') {
			const char *v = l + kl + 1, *e = strchr(v, '\n');
			size_t n = e ? (size_t)(e - v) : strlen(v);
			snprintf(out, len, "%.*s", (int)(n < len ? n : len - 1), v);
			return;
		}
	*out = 0;
}

static bool wire_init(void)
{
	static bool done;
	const char *dir = getenv("TOELESS_HWT_NIC");
	if (done || !dir || !*dir)
		return wire.on;
	done = true;
	char path[512], text[4096];
	snprintf(path, sizeof(path), "%s/env", dir);
	FILE *f = fopen(path, "r");
	if (!f)
		return false;
	size_t n = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	text[n] = 0;
	snprintf(wire.dir, sizeof(wire.dir), "%s", dir);
	env_value(text, "NIC_HOST_NS", wire.host_ns, sizeof(wire.host_ns));
	env_value(text, "NIC_TGT_NS", wire.tgt_ns, sizeof(wire.tgt_ns));
	env_value(text, "NIC_TGT_ADDR", wire.tgt_addr, sizeof(wire.tgt_addr));
	env_value(text, "NIC_CTL", wire.ctl, sizeof(wire.ctl));
	const char *netns = getenv("TOELESS_NIC_NETNS");
	snprintf(wire.netns, sizeof(wire.netns), "%s", netns ? netns : "");
	wire.on = *wire.host_ns && *wire.tgt_ns && *wire.tgt_addr && *wire.ctl && *wire.netns;
	return wire.on;
}

/* A socket made inside network namespace ns (it stays there). */
static int socket_in_ns(const char *ns)
{
	char path[256];
	snprintf(path, sizeof(path), "/run/netns/%s", ns);
	int self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	int nsfd = open(path, O_RDONLY | O_CLOEXEC);
	ck_assert_msg(self >= 0 && nsfd >= 0, "network namespace %s: %s", ns, strerror(errno));
	ck_assert_int_eq(setns(nsfd, CLONE_NEWNET), 0);
	int sk = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_eq(setns(self, CLONE_NEWNET), 0);
	close(nsfd);
	close(self);
	ck_assert_int_ge(sk, 0);
	return sk;
}

/* toeless-nic-netns CMD DIR [--fault F]...: 0 when it succeeded. */
static int netns_run(const char *cmd, const char *const *faults)
{
	const char *argv[64];
	int n = 0;
	argv[n++] = "bash";
	argv[n++] = wire.netns;
	argv[n++] = cmd;
	argv[n++] = wire.dir;
	for (int i = 0; faults && faults[i] && n < 60; i++) {
		argv[n++] = "--fault";
		argv[n++] = faults[i];
	}
	argv[n] = NULL;
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		execvp("bash", (char *const *)argv);
		_exit(127);
	}
	int st = 0;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void wire_nic(struct hwt_env *e, const char *const *faults)
{
	ck_assert_int_eq(netns_run("nic", faults), 0);
	char path[512];
	snprintf(path, sizeof(path), "%s/nic.pid", wire.dir);
	FILE *f = fopen(path, "r");
	ck_assert_ptr_nonnull(f);
	long pid = 0;
	ck_assert_int_eq(fscanf(f, "%ld", &pid), 1);
	fclose(f);
	e->pid = (pid_t)pid; /* not our child: signals only (hwt_stop asks the script) */
}

bool hwt_wire(void)
{
	return wire_init();
}

void hwt_wire_restart(struct hwt_env *e)
{
	ck_assert(wire.on);
	wire_nic(e, NULL);
}

static void wire_start(struct hwt_env *e, const char *const *faults)
{
	wire_nic(e, faults);
	snprintf(e->ctl, sizeof(e->ctl), "%s", wire.ctl);
	snprintf(e->spec, sizeof(e->spec), "hw:%s", e->ctl);
	e->target_listen = socket_in_ns(wire.tgt_ns);
	struct sockaddr_in a;
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	ck_assert_int_eq(inet_pton(AF_INET, wire.tgt_addr, &a.sin_addr), 1);
	ck_assert_int_eq(bind(e->target_listen, (struct sockaddr *)&a, sizeof(a)), 0);
	ck_assert_int_eq(listen(e->target_listen, 16), 0);
	socklen_t al = sizeof(a);
	ck_assert_int_eq(getsockname(e->target_listen, (struct sockaddr *)&a, &al), 0);
	e->port = ntohs(a.sin_port);
}

const char *hwt_devsim_path(void)
{
	static char path[4096];
	const char *env = getenv("TOELESS_DEVSIM");
	if (env && *env)
		snprintf(path, sizeof(path), "%s", env);
	else
		snprintf(path, sizeof(path), "%s/tools/toeless-devsim/toeless-devsim",
			 getenv("abs_top_builddir") ? getenv("abs_top_builddir") : ".");
	return access(path, X_OK) == 0 ? path : NULL;
}

const char *hwt_skip_reason(void)
{
	if (getenv("TOELESS_HWT_NIC") && !wire_init())
		return "TOELESS_HWT_NIC set, but no toeless-nic-netns set-up there (or TOELESS_NIC_NETNS unset)";
	if (!wire.on && !hwt_devsim_path())
		return "toeless-devsim not built (needs libuv1-dev)";
	/* the model writes our memory as DMA would: process_vm_writev */
	pid_t parent = getpid();
	static volatile char probe = 1;
	pid_t pid = fork();
	if (pid < 0)
		return "fork failed";
	if (pid == 0) {
		char v = 0;
		struct iovec l = { &v, 1 }, r = { (void *)&probe, 1 };
		_exit(process_vm_readv(parent, &l, 1, &r, 1, 0) == 1 && v == 1 ? 0 : 1);
	}
	int st = 0;
	waitpid(pid, &st, 0);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		return "process_vm_readv on this process is not permitted here (ptrace restrictions)";
	return NULL;
}

static int listen_any(int *port)
{
	int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(l, 0);
	struct sockaddr_in a;
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(l, (struct sockaddr *)&a, sizeof(a)), 0);
	ck_assert_int_eq(listen(l, 16), 0);
	socklen_t al = sizeof(a);
	ck_assert_int_eq(getsockname(l, (struct sockaddr *)&a, &al), 0);
	*port = ntohs(a.sin_port);
	return l;
}

void hwt_start(struct hwt_env *e, const char *const *faults)
{
	memset(e, 0, sizeof(*e));
	snprintf(e->dir, sizeof(e->dir), "%s/toeless-hw.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	ck_assert_ptr_nonnull(mkdtemp(e->dir));
	if (wire_init()) {
		wire_start(e, faults);
		return;
	}
	const char *bin = hwt_devsim_path();
	ck_assert_ptr_nonnull(bin);
	snprintf(e->ctl, sizeof(e->ctl), "%s/ctl", e->dir);
	snprintf(e->spec, sizeof(e->spec), "hw:%s", e->ctl);
	int tport = 0;
	e->target_listen = listen_any(&tport);
	char target[64], portfile[128];
	snprintf(target, sizeof(target), "127.0.0.1:%d", tport);
	snprintf(portfile, sizeof(portfile), "%s/port", e->dir);
	const char *argv[64];
	int n = 0;
	argv[n++] = bin;
	argv[n++] = "--control";
	argv[n++] = e->ctl;
	argv[n++] = "--listen";
	argv[n++] = "127.0.0.1:0";
	argv[n++] = "--target";
	argv[n++] = target;
	argv[n++] = "--port-file";
	argv[n++] = portfile;
	if (getenv("TOELESS_DEVSIM_VERBOSE"))
		argv[n++] = "-vv";
	for (int i = 0; faults && faults[i] && n < 60; i++) {
		argv[n++] = "--fault";
		argv[n++] = faults[i];
	}
	argv[n] = NULL;
	e->pid = fork();
	ck_assert_int_ge(e->pid, 0);
	if (e->pid == 0) {
		execv(bin, (char *const *)argv);
		_exit(127);
	}
	for (int i = 0; i < 500; i++) {
		FILE *f = fopen(portfile, "r");
		if (f) {
			int ok = fscanf(f, "%d", &e->port) == 1;
			fclose(f);
			if (ok && e->port > 0)
				return;
		}
		int st;
		ck_assert_msg(waitpid(e->pid, &st, WNOHANG) == 0, "toeless-devsim exited at start-up");
		struct timespec ts = { 0, 10 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	ck_abort_msg("toeless-devsim did not come up");
}

void hwt_stop(struct hwt_env *e)
{
	if (wire.on) {
		netns_run("nic-stop", NULL);
		e->pid = 0;
	}
	if (e->pid > 0) {
		kill(e->pid, SIGTERM);
		int st;
		for (int i = 0; i < 300 && waitpid(e->pid, &st, WNOHANG) == 0; i++) {
			struct timespec ts = { 0, 10 * 1000 * 1000 };
			nanosleep(&ts, NULL);
			if (i == 299) {
				kill(e->pid, SIGKILL);
				waitpid(e->pid, &st, 0);
			}
		}
		e->pid = 0;
	}
	if (e->target_listen > 0)
		close(e->target_listen);
	char p[160];
	snprintf(p, sizeof(p), "%s/port", e->dir);
	unlink(p);
	if (!wire.on)
		unlink(e->ctl);
	rmdir(e->dir);
}

void hwt_connect(struct hwt_env *e, int *host, int *target)
{
	int c = wire.on ? socket_in_ns(wire.host_ns) : socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(c, 0);
	struct sockaddr_in a;
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	if (wire.on)
		ck_assert_int_eq(inet_pton(AF_INET, wire.tgt_addr, &a.sin_addr), 1);
	else
		a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a.sin_port = htons((uint16_t)e->port);
	ck_assert_int_eq(connect(c, (struct sockaddr *)&a, sizeof(a)), 0);
	struct pollfd p = { .fd = e->target_listen, .events = POLLIN };
	ck_assert_int_eq(poll(&p, 1, 5000), 1);
	int s = accept4(e->target_listen, NULL, NULL, SOCK_CLOEXEC);
	ck_assert_int_ge(s, 0);
	int one = 1;
	setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	int fl = fcntl(c, F_GETFL);
	fcntl(c, F_SETFL, fl | O_NONBLOCK);
	*host = c;
	*target = s;
}
