/*
 * Replay driver for the fuzz harnesses without libFuzzer: runs
 * LLVMFuzzerTestOneInput() once for each file named on the command line
 * (a directory stands for every file in it).  With no argument it replays
 * the directory in $FUZZ_CORPUS, else the committed seed corpus the build
 * names in FUZZ_CORPUS_DIR.
 *
 * `make check` runs the harnesses this way over tests/fuzz/corpus/ (seeds
 * and the regression inputs of every crash ever found), with whatever
 * compiler and sanitizers the build uses; `make fuzz` builds the libFuzzer
 * versions that search for new inputs.
 *
 * Exit status 0 when every input ran; a failed check aborts (the message
 * names the input).
 *
 * SPDX-License-Identifier: MIT
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static unsigned runs;

static int run_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		return -1;
	}
	uint8_t *buf = NULL;
	size_t len = 0, cap = 0;
	for (;;) {
		if (len == cap) {
			cap = cap ? cap * 2 : 4096;
			uint8_t *nb = realloc(buf, cap);
			if (!nb) {
				fclose(f);
				free(buf);
				return -1;
			}
			buf = nb;
		}
		size_t n = fread(buf + len, 1, cap - len, f);
		if (n == 0)
			break;
		len += n;
	}
	fclose(f);
	fprintf(stderr, "replay: %s (%zu bytes)\n", path, len);
	LLVMFuzzerTestOneInput(buf, len);
	free(buf);
	runs++;
	return 0;
}

static int entry_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int run_path(const char *path)
{
	struct stat st;
	if (stat(path, &st) != 0) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode))
		return run_file(path);
	DIR *d = opendir(path);
	if (!d) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		return -1;
	}
	char **names = NULL;
	size_t n = 0, cap = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			char **nn = realloc(names, cap * sizeof(*nn));
			if (!nn)
				break;
			names = nn;
		}
		size_t l = strlen(path) + strlen(e->d_name) + 2;
		names[n] = malloc(l);
		if (!names[n])
			break;
		snprintf(names[n], l, "%s/%s", path, e->d_name);
		n++;
	}
	closedir(d);
	qsort(names, n, sizeof(*names), entry_cmp); /* same order every time */
	int rc = 0;
	for (size_t i = 0; i < n; i++) {
		if (run_path(names[i]))
			rc = -1;
		free(names[i]);
	}
	free(names);
	return rc;
}

int main(int argc, char **argv)
{
	int rc = 0;
	if (argc > 1) {
		for (int i = 1; i < argc; i++)
			if (run_path(argv[i]))
				rc = 1;
	} else {
		const char *dir = getenv("FUZZ_CORPUS");
#ifdef FUZZ_CORPUS_DIR
		if (!dir || !*dir)
			dir = FUZZ_CORPUS_DIR;
#endif
		if (!dir || !*dir) {
			fprintf(stderr, "usage: %s FILE|DIR...  (or set FUZZ_CORPUS)\n", argv[0]);
			return 2;
		}
		rc = run_path(dir) ? 1 : 0;
	}
	fprintf(stderr, "replay: %u inputs run\n", runs);
	if (runs == 0)
		rc = 1;
	return rc;
}
