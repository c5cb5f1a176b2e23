/*
 * The plugin loader: backends by path and by name, the ABI checks and their
 * messages, arguments, and unloading at device close.
 *
 * Uses the plugins built for make check in tests/conform/.libs/: the broken
 * ones (which load fine: their defects are for toeless-conform) and the bad
 * ones (tests/conform/badplugin.c), which must be refused.
 *
 * SPDX-License-Identifier: MIT
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <toeless.h>
#include <toeless_backend.h>

static int failures, checks;
static char last_log[4096];

static void log_cb(int level, const char *msg, void *arg)
{
	(void)arg;
	if (level <= TOELESS_LOG_ERR)
		snprintf(last_log, sizeof(last_log), "%s", msg);
}

#define CHECK(cond, ...)                                                                                               \
	do {                                                                                                           \
		checks++;                                                                                              \
		if (!(cond)) {                                                                                         \
			failures++;                                                                                    \
			printf("FAIL %s:%d: ", __FILE__, __LINE__);                                                    \
			printf(__VA_ARGS__);                                                                           \
			printf("\n");                                                                                  \
		}                                                                                                      \
	} while (0)

static int open_spec(const char *spec, toeless_device **dev)
{
	struct toeless_device_attr a;
	memset(&a, 0, sizeof(a));
	a.size = sizeof(a);
	a.log_fn = log_cb;
	last_log[0] = '\0';
	*dev = NULL;
	return toeless_device_open(spec, &a, dev);
}

static char libs[4096];

static const char *plugin(const char *name)
{
	static char p[8][4200];
	static int k;
	char *s = p[k++ % 8];
	snprintf(s, sizeof(p[0]), "%s/%s.so", libs, name);
	return s;
}

/* Is the file loaded in this process?  (RTLD_NOLOAD takes a reference.) */
static int loaded(const char *path)
{
	void *h = dlopen(path, RTLD_NOW | RTLD_NOLOAD);
	if (!h)
		return 0;
	dlclose(h);
	return 1;
}

static void refused(const char *name, int want, const char *msg)
{
	toeless_device *dev;
	int rc = open_spec(plugin(name), &dev);
	CHECK(rc == want, "%s: toeless_device_open returned %d (%s), expected %d", name, rc, toeless_strerror(rc),
	      want);
	if (!rc)
		toeless_device_close(dev);
	CHECK(!msg || strstr(last_log, msg), "%s: the log says \"%s\", expected it to mention \"%s\"", name, last_log,
	      msg);
	CHECK(!msg || strstr(last_log, plugin(name)), "%s: the log message does not name the file: \"%s\"", name,
	      last_log);
	printf("refused %-10s %d: %s\n", name, rc, last_log);
	CHECK(!loaded(plugin(name)), "%s: still loaded after it was refused", name);
}

int main(void)
{
	const char *top = getenv("abs_top_builddir");
	snprintf(libs, sizeof(libs), "%s/tests/conform/.libs", top ? top : ".");
	if (access(plugin("broken-crc"), R_OK) != 0) {
		printf("SKIP: %s not built\n", plugin("broken-crc"));
		return 77;
	}
	toeless_device *dev, *dev2;
	struct toeless_caps caps;

	/* by path, with and without arguments */
	int rc = open_spec(plugin("broken-crc"), &dev);
	CHECK(rc == 0, "open by path: %d (%s) %s", rc, toeless_strerror(rc), last_log);
	if (!rc) {
		memset(&caps, 0, sizeof(caps));
		caps.size = sizeof(caps);
		CHECK(toeless_device_query(dev, &caps) == 0 && !strcmp(caps.backend, "broken-crc") &&
			      !strcmp(caps.backend_version, "0.0-broken"),
		      "caps of the plugin: backend \"%s\" version \"%s\"", caps.backend, caps.backend_version);
		CHECK(loaded(plugin("broken-crc")), "open device, plugin not loaded?");
		/* a second device on the same plugin */
		rc = open_spec(plugin("broken-crc"), &dev2);
		CHECK(rc == 0, "second device: %d", rc);
		CHECK(toeless_device_close(dev) == 0, "close");
		CHECK(loaded(plugin("broken-crc")), "unloaded while a second device uses it");
		if (!rc)
			CHECK(toeless_device_close(dev2) == 0, "close 2");
		CHECK(!loaded(plugin("broken-crc")), "still loaded after the last device was closed");
	}
	char spec[4300];
	snprintf(spec, sizeof(spec), "%s:bogus=1", plugin("broken-crc"));
	rc = open_spec(spec, &dev);
	CHECK(rc == -EINVAL, "arguments reach the plugin's open: %d (%s)", rc, toeless_strerror(rc));
	CHECK(!loaded(plugin("broken-crc")), "still loaded after its open failed");

	/* refused, with a message naming the file and the reason */
	refused("bad-abi", -EPROTO, "ABI 999");
	refused("bad-size", -EPROTO, "ops table of");
	refused("bad-entry", -EPROTO, "toeless_backend_entry");
	refused("bad-null", -EPROTO, "does not support backend ABI");
	refused("no-such-plugin", -ENOENT, NULL);
	/* not a shared object at all */
	char junk[4200];
	snprintf(junk, sizeof(junk), "%s/not-a-plugin.so", libs);
	FILE *f = fopen(junk, "w");
	if (f) {
		fputs("this is not ELF\n", f);
		fclose(f);
		rc = open_spec(junk, &dev);
		CHECK(rc == -EPROTO && strstr(last_log, "cannot load"), "a text file as a plugin: %d, \"%s\"", rc,
		      last_log);
		unlink(junk);
	}

	/* by name, from TOELESS_BACKEND_PATH (the first directory that has it) */
	char path[8300];
	snprintf(path, sizeof(path), "/nonexistent::%s", libs);
	setenv(TOELESS_BACKEND_PATH_ENV, path, 1);
	rc = open_spec("broken-place", &dev);
	CHECK(rc == 0, "open by name from TOELESS_BACKEND_PATH: %d (%s) %s", rc, toeless_strerror(rc), last_log);
	if (!rc) {
		memset(&caps, 0, sizeof(caps));
		caps.size = sizeof(caps);
		toeless_device_query(dev, &caps);
		CHECK(!strcmp(caps.backend, "broken-place"), "by name: backend %s", caps.backend);
		toeless_device_close(dev);
	}
	rc = open_spec("bad-abi", &dev);
	CHECK(rc == -EPROTO, "a bad plugin by name: %d", rc);
	/* names are names, not paths; built-ins come first */
	CHECK(open_spec("..", &dev) == -ENOENT, "\"..\" as a name");
	CHECK(open_spec(".libs", &dev) == -ENOENT, "\".libs\" as a name");
	CHECK(open_spec("no-such-backend", &dev) == -ENOENT, "an unknown name");
	rc = open_spec("sw", &dev);
	CHECK(rc == 0, "sw with a plugin path set: %d", rc);
	if (!rc)
		toeless_device_close(dev);
	/* "auto" with TOELESS_BACKEND naming a plugin */
	setenv(TOELESS_BACKEND_ENV, "broken-limit", 1);
	rc = open_spec("auto", &dev);
	CHECK(rc == 0, "auto with TOELESS_BACKEND=broken-limit: %d", rc);
	if (!rc) {
		memset(&caps, 0, sizeof(caps));
		caps.size = sizeof(caps);
		toeless_device_query(dev, &caps);
		CHECK(!strcmp(caps.backend, "broken-limit"), "auto: backend %s", caps.backend);
		toeless_device_close(dev);
	}
	unsetenv(TOELESS_BACKEND_ENV);
	unsetenv(TOELESS_BACKEND_PATH_ENV);
	CHECK(open_spec("broken-place", &dev) == -ENOENT, "a plugin name without TOELESS_BACKEND_PATH (not installed)");

	printf("%d checks, %d failed\n", checks, failures);
	return failures ? 1 : 0;
}
