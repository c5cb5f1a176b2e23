/*
 * nbdkit-toeless-plugin: serve one iSCSI LUN over NBD through libtoeless.
 *
 *   nbdkit -t 4 toeless portal=HOST[:PORT] target=IQN lun=N [backend=sw|hw|auto]
 *          [header-digest=crc32c] [data-digest=crc32c] [chap-user=NAME
 *          chap-secret-file=FILE [chap-target-user=NAME chap-target-secret-file=FILE]]
 *
 * Every NBD connection gets its own iSCSI session (its own TCP connection,
 * login, libtoeless device and session thread): connections share nothing,
 * so one cannot stall another, and the target orders them at the LUN.
 * Requests of one connection run in parallel (thread model PARALLEL): each
 * is cut into READ(16)/WRITE(16) commands, queue-depth of them in flight
 * per session.  Flush is SYNCHRONIZE CACHE(16) of the whole LUN, which a
 * SCSI target applies to its logical unit whatever session asked, so
 * can_multi_conn is true.  -t 4 (nbdkit's threads per connection, 16 by
 * default) is the recommended invocation: fewer threads contend less on
 * nbdkit's locks (doc/performance.md, "NBD serving").  See
 * nbdkit-toeless-plugin(1), doc/nbdkit-plugin.md.
 *
 * SPDX-License-Identifier: MIT
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define NBDKIT_API_VERSION 2
#include <nbdkit-plugin.h>
#include <nbdkit-version.h>

#include "iscsi_session.h"

#define THREAD_MODEL NBDKIT_THREAD_MODEL_PARALLEL

/* -D toeless.verbose=1: the layer's debug messages (login keys, recovery). */
NBDKIT_DLL_PUBLIC int toeless_debug_verbose = 0;

static struct config cfg;
static char *portal_arg;
static const char *secret_file, *target_secret_file;
static char *secret, *target_secret;

static void plugin_log(int level, const char *msg, void *arg)
{
	(void)arg;
	if (level == ISCSI_LOG_ERROR)
		nbdkit_error("%s", msg);
	else if (level == ISCSI_LOG_WARN)
		nbdkit_error("warning: %s", msg); /* recovery is worth seeing without -v */
	else
		nbdkit_debug("%s", msg);
}

static void toeless_load(void)
{
	config_defaults(&cfg);
	cfg.initiator = "iqn.2024-01.org.toeless:nbdkit";
	cfg.header_digest = DIGEST_WANT_CRC32C;
	cfg.data_digest = DIGEST_WANT_CRC32C;
	cfg.queue_depth = 32;
	cfg.block_size = 1024 * 1024;
	/* TOELESS_CQ_POLLED: the session drains the completion queue after every
	 * socket event, cancel, progress call and tick, and it submits no
	 * asynchronous CRC, so the queue's eventfd would only cost a write, a
	 * read and a return from epoll_wait per batch of completions */
	cfg.cq_polled = true;
	iscsi_log_set(plugin_log, NULL);
	/* a dropped connection is an error code, not a signal (nbdkit ignores it too) */
	signal(SIGPIPE, SIG_IGN);
}

/*
 * Handles still open.  nbdkit, told to quit (SIGTERM), can call unload
 * while a connection thread is still in close(): its session thread is
 * then logging out, running this plugin's code, and unloading the plugin
 * under it crashed nbdkit on the way out (ASan: SEGV in an unmapped
 * module).  Unload waits, bounded, for the last close.
 */
static pthread_mutex_t open_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t open_cond = PTHREAD_COND_INITIALIZER;
static unsigned open_handles; /* counted from the start of open: its session thread runs login meanwhile */

static void handle_gone(void)
{
	pthread_mutex_lock(&open_lock);
	if (!--open_handles)
		pthread_cond_broadcast(&open_cond);
	pthread_mutex_unlock(&open_lock);
}

static void toeless_unload(void)
{
	struct timespec deadline;

	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += 30; /* a logout is bounded by timeout= (15 s) */
	pthread_mutex_lock(&open_lock);
	while (open_handles && pthread_cond_timedwait(&open_cond, &open_lock, &deadline) != ETIMEDOUT)
		;
	pthread_mutex_unlock(&open_lock);
	free(portal_arg);
	chap_secret_free(secret);
	chap_secret_free(target_secret);
}

static int parse_uint(const char *key, const char *value, uint64_t lo, uint64_t hi, uint64_t *out)
{
	int64_t v;

	/* sizes take nbdkit's suffixes (K, M, G ...) */
	v = nbdkit_parse_size(value);
	if (v < 0)
		return -1;
	if ((uint64_t)v < lo || (uint64_t)v > hi) {
		nbdkit_error("%s=%s: must be between %llu and %llu", key, value, (unsigned long long)lo,
			     (unsigned long long)hi);
		return -1;
	}
	*out = (uint64_t)v;
	return 0;
}

static int parse_digest(const char *key, const char *v, enum digest_want *out)
{
	if (!strcasecmp(v, "crc32c") || !strcasecmp(v, "on") || !strcmp(v, "1"))
		*out = DIGEST_WANT_CRC32C;
	else if (!strcasecmp(v, "none") || !strcasecmp(v, "off") || !strcmp(v, "0"))
		*out = DIGEST_WANT_NONE;
	else if (!strcasecmp(v, "any"))
		*out = DIGEST_WANT_ANY;
	else {
		nbdkit_error("%s=%s: crc32c, none or any", key, v);
		return -1;
	}
	return 0;
}

static int toeless_config(const char *key, const char *value)
{
	uint64_t v;

	if (!strcmp(key, "portal")) {
		char *colon;
		free(portal_arg);
		portal_arg = strdup(value);
		if (!portal_arg) {
			nbdkit_error("strdup: %m");
			return -1;
		}
		cfg.host = portal_arg;
		if (portal_arg[0] == '[') {
			char *close = strchr(portal_arg, ']');
			if (!close || (close[1] && close[1] != ':')) {
				nbdkit_error("portal=%s: [v6addr]:port", value);
				return -1;
			}
			*close = 0;
			cfg.host = portal_arg + 1;
			if (close[1] == ':')
				cfg.port = close + 2;
		} else if ((colon = strrchr(portal_arg, ':')) && strchr(portal_arg, ':') == colon) {
			*colon = 0;
			cfg.port = colon + 1;
		}
		if (!*cfg.host || !*cfg.port) {
			nbdkit_error("portal=%s: HOST[:PORT]", value);
			return -1;
		}
	} else if (!strcmp(key, "target")) {
		cfg.target = value;
	} else if (!strcmp(key, "lun")) {
		if (parse_uint(key, value, 0, 16383, &v))
			return -1;
		cfg.lun = v;
	} else if (!strcmp(key, "backend")) {
		cfg.backend = value;
	} else if (!strcmp(key, "header-digest")) {
		return parse_digest(key, value, &cfg.header_digest);
	} else if (!strcmp(key, "data-digest")) {
		return parse_digest(key, value, &cfg.data_digest);
	} else if (!strcmp(key, "chap-user")) {
		cfg.chap_user = value;
	} else if (!strcmp(key, "chap-secret-file")) {
		secret_file = value;
	} else if (!strcmp(key, "chap-target-user")) {
		cfg.chap_target_user = value;
	} else if (!strcmp(key, "chap-target-secret-file")) {
		target_secret_file = value;
	} else if (!strcmp(key, "chap-secret") || !strcmp(key, "chap-target-secret")) {
		nbdkit_error("%s: secrets are not taken from the command line (ps shows it): use %s-file= or the "
			     "environment",
			     key, key);
		return -1;
	} else if (!strcmp(key, "initiator-name")) {
		cfg.initiator = value;
	} else if (!strcmp(key, "timeout")) {
		if (parse_uint(key, value, 1, 3600, &v))
			return -1;
		cfg.timeout = (unsigned)v;
	} else if (!strcmp(key, "command-timeout")) {
		if (parse_uint(key, value, 1, 3600, &v))
			return -1;
		cfg.cmd_timeout = (unsigned)v;
	} else if (!strcmp(key, "nop-interval")) {
		if (parse_uint(key, value, 0, 3600, &v))
			return -1;
		cfg.nop_interval = (unsigned)v;
	} else if (!strcmp(key, "retries")) {
		if (parse_uint(key, value, 0, 1000, &v))
			return -1;
		cfg.retries = (unsigned)v;
	} else if (!strcmp(key, "queue-depth")) {
		if (parse_uint(key, value, 1, 4096, &v))
			return -1;
		cfg.queue_depth = (unsigned)v;
	} else if (!strcmp(key, "max-transfer")) {
		if (parse_uint(key, value, 4096, 16 * 1024 * 1024, &v))
			return -1;
		cfg.block_size = (uint32_t)v;
	} else {
		nbdkit_error("unknown parameter '%s' (see nbdkit-toeless-plugin(1))", key);
		return -1;
	}
	return 0;
}

static int toeless_config_complete(void)
{
	char msg[300];

	if (!cfg.host || !cfg.target) {
		nbdkit_error("portal= and target= are required");
		return -1;
	}
	/* session_start sets the session layer's verbosity from cfg: setting
	 * only the global here was undone there */
	if (toeless_debug_verbose)
		verbose = cfg.verbose = 1;
	if (!cfg.chap_user) {
		if (secret_file || target_secret_file || cfg.chap_target_user) {
			nbdkit_error("CHAP secrets given without chap-user=");
			return -1;
		}
		return 0;
	}
	if (chap_secrets_load(&cfg, secret_file, target_secret_file, &secret, &target_secret, msg, sizeof(msg))) {
		nbdkit_error("%s", msg);
		return -1;
	}
	return 0;
}

#define toeless_config_help                                                                                            \
	"portal=HOST[:PORT]       (required) iSCSI portal, port 3260 by default\n"                                     \
	"target=IQN               (required) target name\n"                                                            \
	"lun=N                    logical unit (default 0)\n"                                                          \
	"backend=auto|sw|hw|...   libtoeless engine (default auto)\n"                                                  \
	"header-digest=crc32c|none|any, data-digest=...  (default crc32c for both)\n"                                  \
	"chap-user=NAME chap-secret-file=FILE            CHAP (or $TOELESS_CHAP_SECRET)\n"                             \
	"chap-target-user=NAME chap-target-secret-file=FILE  mutual CHAP\n"                                            \
	"timeout=S command-timeout=S nop-interval=S retries=N queue-depth=N max-transfer=BYTES"

struct handle {
	struct iscsi_sync *sync;
	struct lun_info li;
};

static void *toeless_open(int readonly)
{
	struct handle *h = calloc(1, sizeof(*h));
	char err[512];
	int rc;

	(void)readonly;
	if (!h) {
		nbdkit_error("calloc: %m");
		return NULL;
	}
	pthread_mutex_lock(&open_lock);
	open_handles++;
	pthread_mutex_unlock(&open_lock);
	rc = iscsi_sync_open(&cfg, &h->sync, &h->li, err, sizeof(err));
	if (rc) {
		nbdkit_error("%s (%s)", err, rc == EXIT_AUTH ? "authentication" : "iSCSI session");
		free(h);
		handle_gone();
		return NULL;
	}
	nbdkit_debug("LUN %llu of %s: %.8s %.16s, %llu blocks of %u bytes", (unsigned long long)cfg.lun, cfg.target,
		     h->li.vendor, h->li.product, (unsigned long long)h->li.blocks, h->li.block_len);
	return h;
}

static void toeless_close(void *handle)
{
	struct handle *h = handle;
	struct session_stats st;

	if (iscsi_sync_stats(h->sync, &st) == 0 && (st.cmd_timeouts || st.window_stalls))
		nbdkit_error("warning: escalation on this connection: cmd_timeouts=%llu abort_task_sent=%llu "
			     "abort_task_done=%llu lun_reset_sent=%llu lun_reset_done=%llu tmf_unanswered=%llu "
			     "timeout_reconnects=%llu",
			     (unsigned long long)st.cmd_timeouts, (unsigned long long)st.abort_task_sent,
			     (unsigned long long)st.abort_task_done, (unsigned long long)st.lun_reset_sent,
			     (unsigned long long)st.lun_reset_done, (unsigned long long)st.tmf_unanswered,
			     (unsigned long long)st.timeout_reconnects);
	iscsi_sync_close(h->sync);
	free(h);
	handle_gone();
}

static int64_t toeless_get_size(void *handle)
{
	struct handle *h = handle;

	return (int64_t)(h->li.blocks * h->li.block_len);
}

#if NBDKIT_VERSION_MAJOR > 1 || NBDKIT_VERSION_MINOR >= 30
static int toeless_block_size(void *handle, uint32_t *minimum, uint32_t *preferred, uint32_t *maximum)
{
	struct handle *h = handle;

	*minimum = h->li.block_len;
	*preferred = h->li.block_len > 4096 ? h->li.block_len : 4096;
	*maximum = 0xffffffff;
	return 0;
}
#endif

static int can(void *handle)
{
	(void)handle;
	return 1;
}

static int fail_errno(int rc, const char *what, const char *why)
{
	nbdkit_error("%s: %s", what, why);
	nbdkit_set_error(rc == -ENOTCONN ? ESHUTDOWN : -rc);
	return -1;
}

static int toeless_pread(void *handle, void *buf, uint32_t count, uint64_t offset, uint32_t flags)
{
	struct handle *h = handle;
	char why[300];
	int rc;

	(void)flags;
	rc = iscsi_sync_io(h->sync, DIR_READ, buf, offset, count, why, sizeof(why));
	return rc ? fail_errno(rc, "read", why) : 0;
}

static int toeless_pwrite(void *handle, const void *buf, uint32_t count, uint64_t offset, uint32_t flags)
{
	struct handle *h = handle;
	char why[300];
	int rc;

	/* Data-Out only reads the buffer: the layer's task keeps a non-const pointer */
	rc = iscsi_sync_io(h->sync, DIR_WRITE, (void *)(uintptr_t)buf, offset, count, why, sizeof(why));
	if (!rc && (flags & NBDKIT_FLAG_FUA))
		rc = iscsi_sync_flush(h->sync, why, sizeof(why));
	return rc ? fail_errno(rc, "write", why) : 0;
}

static int toeless_flush(void *handle, uint32_t flags)
{
	struct handle *h = handle;
	char why[300];
	int rc;

	(void)flags;
	rc = iscsi_sync_flush(h->sync, why, sizeof(why));
	return rc ? fail_errno(rc, "flush", why) : 0;
}

static int toeless_can_fua(void *handle)
{
	(void)handle;
	return NBDKIT_FUA_NATIVE; /* WRITE, then SYNCHRONIZE CACHE before answering */
}

static struct nbdkit_plugin plugin = {
	.name = "toeless",
	.longname = "iSCSI LUN through libtoeless",
	.version = PACKAGE_VERSION,
	.load = toeless_load,
	.unload = toeless_unload,
	.config = toeless_config,
	.config_complete = toeless_config_complete,
	.config_help = toeless_config_help,
	.magic_config_key = "target",
	.open = toeless_open,
	.close = toeless_close,
	.get_size = toeless_get_size,
#if NBDKIT_VERSION_MAJOR > 1 || NBDKIT_VERSION_MINOR >= 30
	.block_size = toeless_block_size,
#endif
	.can_write = can,
	.can_flush = can,
	.can_fua = toeless_can_fua,
	.can_multi_conn = can,
	.pread = toeless_pread,
	.pwrite = toeless_pwrite,
	.flush = toeless_flush,
	.errno_is_preserved = 0,
};

NBDKIT_REGISTER_PLUGIN(plugin)
