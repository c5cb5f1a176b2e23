/*
 * Test support for the hw backend (see hwtest.h).
 *
 * SPDX-License-Identifier: MIT
 */
#include "config.h"

#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
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
	if (!hwt_devsim_path())
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
	const char *bin = hwt_devsim_path();
	ck_assert_ptr_nonnull(bin);
	snprintf(e->dir, sizeof(e->dir), "%s/toeless-hw.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	ck_assert_ptr_nonnull(mkdtemp(e->dir));
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
	unlink(e->ctl);
	rmdir(e->dir);
}

void hwt_connect(struct hwt_env *e, int *host, int *target)
{
	int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(c, 0);
	struct sockaddr_in a;
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
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
