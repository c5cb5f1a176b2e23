/*
 * bench-rusage: run a command and report the CPU time the kernel charged to
 * it (wait4() rusage: user + system of the process and the children it
 * waited for) and its wall time, for the end-to-end benchmark.
 *
 *   bench-rusage OUTFILE COMMAND [ARGS...]
 *
 * The command's stdout and stderr pass through.  OUTFILE gets one line:
 *   user_s sys_s wall_s max_rss_kib exit_status voluntary_context_switches
 * (the last: how often it slept, i.e. its wake-ups)
 * The exit status of bench-rusage is the command's (128 + signal if killed).
 *
 * SPDX-License-Identifier: MIT
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double tv(struct timeval t)
{
	return (double)t.tv_sec + (double)t.tv_usec / 1e6;
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: bench-rusage OUTFILE COMMAND [ARGS...]\n");
		return 2;
	}
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	pid_t pid = fork();
	if (pid < 0) {
		perror("bench-rusage: fork");
		return 2;
	}
	if (pid == 0) {
		execvp(argv[2], argv + 2);
		fprintf(stderr, "bench-rusage: %s: %s\n", argv[2], strerror(errno));
		_exit(127);
	}
	int st;
	struct rusage ru;
	while (wait4(pid, &st, 0, &ru) < 0) {
		if (errno != EINTR) {
			perror("bench-rusage: wait4");
			return 2;
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	int code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	FILE *f = fopen(argv[1], "w");
	if (!f) {
		perror("bench-rusage: output file");
		return 2;
	}
	fprintf(f, "%.6f %.6f %.6f %ld %d %ld\n", tv(ru.ru_utime), tv(ru.ru_stime),
		(double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9, ru.ru_maxrss, code,
		ru.ru_nvcsw);
	fclose(f);
	return code;
}
