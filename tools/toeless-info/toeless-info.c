/*
 * toeless-info: list the libtoeless backends this host can use, with their
 * versions, capabilities and limits (like ibv_devinfo or fi_info).
 *
 *   toeless-info                 every built-in and installed plugin backend
 *   toeless-info -b SPEC         one backend (a name, "name:args" or a plugin path)
 *   toeless-info -l              names only
 *
 * A backend that cannot be opened is listed with the reason (no device, a
 * plugin built for another ABI, ...).  Exit status: 0; 1 when -b names a
 * backend that cannot be opened; 2 usage.
 *
 * SPDX-License-Identifier: MIT
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <toeless.h>
#include <toeless_backend.h>

#ifndef TOELESS_BACKEND_DIR
#define TOELESS_BACKEND_DIR "/usr/local/lib/libtoeless/backends"
#endif

/* The names toeless_device_open() knows without a plugin. */
static const char *const builtins[] = { "sw", "mock", "hw" };

static int verbose;
static char why[1024];

static void log_cb(int level, const char *msg, void *arg)
{
	(void)arg;
	if (verbose)
		fprintf(stderr, "toeless-info: [%d] %s\n", level, msg);
	/* keep the most serious message: it says why an open failed */
	if (level <= TOELESS_LOG_ERR || !why[0])
		snprintf(why, sizeof(why), "%s", msg);
}

static void print_flags(uint32_t f)
{
	static const struct {
		uint32_t bit;
		const char *name;
	} names[] = {
		{ TOELESS_CAP_CRC_TX, "CRC_TX" },
		{ TOELESS_CAP_CRC_RX, "CRC_RX" },
		{ TOELESS_CAP_DDP, "DDP" },
		{ TOELESS_CAP_DDP_NEEDS_REG, "DDP_NEEDS_REG" },
		{ TOELESS_CAP_CRC_ASYNC, "CRC_ASYNC" },
	};
	printf("\tcapabilities:\t\t0x%x", f);
	if (!f)
		printf(" (none: everything on the host, in software)");
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (f & names[i].bit)
			printf(" %s", names[i].name);
	printf("\n");
}

/* Show one backend; returns 0 when it opened. */
static int show(const char *spec, const char *source, int names_only)
{
	struct toeless_device_attr a;
	toeless_device *dev = NULL;
	memset(&a, 0, sizeof(a));
	a.size = sizeof(a);
	a.log_fn = log_cb;
	a.log_level = TOELESS_LOG_INFO;
	why[0] = '\0';
	int rc = toeless_device_open(spec, &a, &dev);
	if (names_only) {
		printf("%-16s %-10s %s\n", spec, rc ? "absent" : "available", source);
		if (!rc)
			toeless_device_close(dev);
		return rc ? 1 : 0;
	}
	if (rc) {
		printf("backend:\t\t%s\n\tsource:\t\t\t%s\n", spec, source);
		printf("\tstatus:\t\t\t%s (%s)\n", rc == -ENODEV ? "no device" : "cannot be opened",
		       toeless_strerror(rc));
		if (why[0] && rc != -ENODEV)
			printf("\treason:\t\t\t%s\n", why);
		printf("\n");
		return 1;
	}
	struct toeless_caps c;
	memset(&c, 0, sizeof(c));
	c.size = sizeof(c);
	toeless_device_query(dev, &c);
	printf("backend:\t\t%s\n", c.backend);
	printf("\tsource:\t\t\t%s\n", source);
	printf("\tstatus:\t\t\tavailable\n");
	printf("\tversion:\t\t%s\n", c.backend_version);
	print_flags(c.flags);
	printf("\tmax_contexts:\t\t%u\n", c.max_contexts);
	printf("\tmax_sge:\t\t%u\n", c.max_sge);
	printf("\tmax_tasks:\t\t%u\n", c.max_tasks);
	printf("\tmax_recv_dsl:\t\t%u\n", c.max_recv_dsl);
	printf("\tsge_align:\t\t%u\n", c.sge_align);
	printf("\tmax_crc_batch:\t\t%u\n", c.max_crc_batch);
	printf("\tmax_cq_depth:\t\t%u\n", c.max_cq_depth);
	printf("\n");
	toeless_device_close(dev);
	return 0;
}

static int cmp(const void *x, const void *y)
{
	return strcmp(*(char *const *)x, *(char *const *)y);
}

/* Every NAME.so in dir, as full paths, sorted. */
static void scan(const char *dir, int names_only, int *shown)
{
	DIR *d = opendir(dir);
	if (!d)
		return;
	char **files = NULL;
	size_t n = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		size_t l = strlen(e->d_name);
		if (l <= 3 || strcmp(e->d_name + l - 3, ".so") || e->d_name[0] == '.')
			continue;
		char **f = realloc(files, (n + 1) * sizeof(*files));
		if (!f)
			break;
		files = f;
		if (asprintf(&files[n], "%s/%s", dir, e->d_name) < 0)
			break;
		n++;
	}
	closedir(d);
	qsort(files, n, sizeof(*files), cmp);
	for (size_t i = 0; i < n; i++) {
		char source[4200];
		snprintf(source, sizeof(source), "plugin %s", files[i]);
		show(files[i], source, names_only);
		(*shown)++;
		free(files[i]);
	}
	free(files);
}

static void usage(FILE *f)
{
	fprintf(f, "usage: toeless-info [-b SPEC] [-l] [-v]\n"
		   "  -b, --backend SPEC  show one backend: a name, NAME:ARGS, or a plugin path\n"
		   "  -l, --list          names and availability only\n"
		   "  -v, --verbose       print the library's log\n"
		   "  -V, --version       library version and backend ABI\n"
		   "Plugins are looked up in $" TOELESS_BACKEND_PATH_ENV
		   " (colon-separated), then in\n" TOELESS_BACKEND_DIR ".\n");
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "backend", required_argument, NULL, 'b' }, { "list", no_argument, NULL, 'l' },
		{ "verbose", no_argument, NULL, 'v' },       { "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },          { NULL, 0, NULL, 0 },
	};
	const char *one = NULL;
	int names_only = 0, c;
	while ((c = getopt_long(argc, argv, "b:lvVh", lo, NULL)) != -1) {
		switch (c) {
		case 'b': one = optarg; break;
		case 'l': names_only = 1; break;
		case 'v': verbose++; break;
		case 'V':
			printf("libtoeless %s, backend ABI %u, plugin directory %s\n", toeless_version(),
			       TOELESS_BACKEND_ABI, TOELESS_BACKEND_DIR);
			return 0;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	if (one) {
		const char *source = strchr(one, '/') ? "plugin (by path)" : "plugin (found by name)";
		size_t len = strcspn(one, ":");
		for (size_t i = 0; i < sizeof(builtins) / sizeof(builtins[0]); i++)
			if (strlen(builtins[i]) == len && !strncmp(one, builtins[i], len))
				source = "built-in";
		return show(one, source, names_only) ? 1 : 0;
	}

	const char *env = getenv(TOELESS_BACKEND_PATH_ENV);
	if (!names_only) {
		printf("libtoeless %s, backend ABI %u\n", toeless_version(), TOELESS_BACKEND_ABI);
		printf("plugin directories: %s%s%s\n\n", env && *env ? env : "", env && *env ? ":" : "",
		       TOELESS_BACKEND_DIR);
	}
	for (size_t i = 0; i < sizeof(builtins) / sizeof(builtins[0]); i++)
		show(builtins[i], "built-in", names_only);
	int shown = 0;
	char *copy = env ? strdup(env) : NULL;
	for (char *save = NULL, *dir = copy ? strtok_r(copy, ":", &save) : NULL; dir; dir = strtok_r(NULL, ":", &save))
		scan(dir, names_only, &shown);
	free(copy);
	scan(TOELESS_BACKEND_DIR, names_only, &shown);
	if (!shown && !names_only)
		printf("(no plugin backends installed)\n");
	return 0;
}
