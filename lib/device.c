/*
 * Devices: the backend registry, device open/close/query, memory
 * registration, logging and device-wide counters.
 *
 * A device is one opened backend.  The registry maps a spec ("sw",
 * "mock:seed=7", "hw", a plugin name or path) to an ops table; everything
 * the core asks of the engine goes through that table.  Plugins are
 * dlopen()ed per device and dlclose()d at device close (see "Loading" in
 * include/toeless_backend.h).
 *
 * Locking: dev->lock protects the context list, the registration list, the
 * object counts and dev->retired.  It is taken at object create/destroy and
 * by counter reads, never per PDU (tl_mr_get() skips it when the device has
 * no registrations at all).
 *
 * SPDX-License-Identifier: MIT
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <dlfcn.h>
#include <unistd.h>

#include "toeless_int.h"
#include "backends.h"

#ifndef IOV_MAX
#define IOV_MAX 1024
#endif

/* The receive path hands readv() an SGL slice plus pad, digest and the
 * next header: a few iovecs beyond the caller's SGEs. */
#define TL_CORE_MAX_SGE (IOV_MAX - 4)

/* Longest backend name in a spec; longer ones cannot be in the registry. */
#define TL_NAME_MAX 64

struct tl_builtin {
	const char *name;
	const struct toeless_backend_ops *ops;
};

static const struct tl_builtin tl_builtins[] = {
	{ "sw", &tl_backend_sw },
	{ "mock", &tl_backend_mock },
	{ "hw", &tl_backend_hw },
};

/* What "auto" tries, best first; the first that opens wins.  "hw" opens
 * only when its device is there (-ENODEV otherwise); "sw" is last because
 * it always opens. */
static const char *const tl_auto_candidates[] = {
	"hw",
	"sw",
};

/* ---- logging ---- */

static void tl_vlog(toeless_device *dev, int level, const char *fmt, va_list ap)
{
	char msg[512];

	if (!dev || !dev->log_fn || level > dev->log_level)
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	dev->log_fn(level, msg, dev->log_arg);
}

void tl_log(toeless_device *dev, int level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	tl_vlog(dev, level, fmt, ap);
	va_end(ap);
}

void toeless_backend_log(toeless_device *dev, int level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	tl_vlog(dev, level, fmt, ap);
	va_end(ap);
}

void toeless_backend_device_error(toeless_device *dev, int err)
{
	if (!dev)
		return;
	/* Only the first report is logged: a dying device tends to repeat. */
	if (__atomic_exchange_n(&dev->failed, 1, __ATOMIC_ACQ_REL) == 0)
		tl_log(dev, TOELESS_LOG_ERR, "%s: device error (%s); continuing in software", dev->ops->name,
		       toeless_strerror(err));
}

void *toeless_backend_device_priv(toeless_device *dev, const struct toeless_backend_ops *ops)
{
	if (!dev || !ops || dev->backend_ops != ops)
		return NULL;
	return dev->priv;
}

int toeless_backend_attr_copy(void *dst, size_t dst_size, const void *src)
{
	return tl_attr_copy(dst, dst_size, src);
}

/* ---- size-prefixed structs ---- */

int tl_attr_copy(void *dst, size_t dst_size, const void *src)
{
	size_t size;

	if (!dst || !src || dst_size < sizeof(size_t))
		return -EINVAL;
	memcpy(&size, src, sizeof(size));
	if (size < sizeof(size_t))
		return -EINVAL;
	if (size > dst_size) {
		/* A newer caller: fields we do not know must be left at zero,
		 * or the caller asked for something we cannot do. */
		const uint8_t *tail = (const uint8_t *)src + dst_size;

		for (size_t i = 0; i < size - dst_size; i++)
			if (tail[i])
				return -EINVAL;
		size = dst_size;
	}
	memset(dst, 0, dst_size);
	memcpy(dst, src, size);
	/* The copy is a full struct of ours now. */
	memcpy(dst, &dst_size, sizeof(dst_size));
	return 0;
}

/* Copy size-prefixed output: min(out->size, ours) bytes after the size
 * field, zeroing what a newer caller has beyond our struct, size kept. */
static void tl_export(void *out, const void *src, size_t src_size)
{
	size_t size;

	memcpy(&size, out, sizeof(size));
	if (size > src_size) {
		memset((uint8_t *)out + src_size, 0, size - src_size);
		size = src_size;
	}
	memcpy((uint8_t *)out + sizeof(size_t), (const uint8_t *)src + sizeof(size_t), size - sizeof(size_t));
}

/* ---- counters ---- */

#define TL_STATS_FIRST offsetof(struct toeless_stats, pdus_rx)
#define TL_STATS_N     ((sizeof(struct toeless_stats) - TL_STATS_FIRST) / sizeof(uint64_t))

_Static_assert((sizeof(struct toeless_stats) - TL_STATS_FIRST) % sizeof(uint64_t) == 0,
	       "struct toeless_stats holds only uint64_t counters after size");

void tl_stats_accumulate(struct toeless_stats *dst, const struct toeless_stats *src)
{
	uint64_t *d = (uint64_t *)((uint8_t *)dst + TL_STATS_FIRST);
	const uint64_t *s = (const uint64_t *)((const uint8_t *)src + TL_STATS_FIRST);

	/* src may be a live context's counters, written by its own thread. */
	for (size_t i = 0; i < TL_STATS_N; i++)
		d[i] += __atomic_load_n(&s[i], __ATOMIC_RELAXED);
}

int tl_stats_export(const struct toeless_stats *src, struct toeless_stats *out)
{
	struct toeless_stats snap;

	if (!src || !out || out->size < sizeof(size_t))
		return -EINVAL;
	memset(&snap, 0, sizeof(snap));
	tl_stats_accumulate(&snap, src);
	tl_export(out, &snap, sizeof(snap));
	return 0;
}

#define tl_link_ctx(l) ((toeless_ctx *)((uint8_t *)(l)-offsetof(struct toeless_ctx, link)))

/* Only the list: ctx.c claims dev->n_ctx itself, against max_contexts,
 * before the context exists. */
void tl_device_ctx_added(toeless_device *dev, toeless_ctx *ctx)
{
	struct tl_ctx_link *l = &ctx->link;

	pthread_mutex_lock(&dev->lock);
	l->next = &dev->ctxs;
	l->prev = dev->ctxs.prev;
	dev->ctxs.prev->next = l;
	dev->ctxs.prev = l;
	pthread_mutex_unlock(&dev->lock);
}

void tl_device_ctx_removed(toeless_device *dev, toeless_ctx *ctx)
{
	struct tl_ctx_link *l = &ctx->link;

	pthread_mutex_lock(&dev->lock);
	l->prev->next = l->next;
	l->next->prev = l->prev;
	l->prev = l->next = l;
	/* A device's counters add up every context it ever had. */
	tl_stats_accumulate(&dev->retired, &ctx->stats);
	pthread_mutex_unlock(&dev->lock);
}

int toeless_device_stats(toeless_device *dev, struct toeless_stats *stats)
{
	struct toeless_stats sum;

	if (!dev || !stats || stats->size < sizeof(size_t))
		return -EINVAL;
	memset(&sum, 0, sizeof(sum));
	sum.size = sizeof(sum);
	pthread_mutex_lock(&dev->lock);
	tl_stats_accumulate(&sum, &dev->retired);
	for (struct tl_ctx_link *l = dev->ctxs.next; l != &dev->ctxs; l = l->next)
		tl_stats_accumulate(&sum, &tl_link_ctx(l)->stats);
	pthread_mutex_unlock(&dev->lock);
	return tl_stats_export(&sum, stats);
}

/* ---- open / close / query ---- */

/* Names of the required ops a table lacks, comma-separated, into buf
 * ("" when none is missing). */
static const char *tl_ops_missing(const struct toeless_backend_ops *ops, char *buf, size_t len)
{
	static const char *const names[] = { "name", "open", "close", "query" };
	const bool missing[] = { !ops->name, !ops->open, !ops->close, !ops->query };
	size_t at = 0;
	buf[0] = '\0';
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (!missing[i])
			continue;
		int n = snprintf(buf + at, len - at, "%s%s", at ? ", " : "", names[i]);
		if (n < 0 || (size_t)n >= len - at)
			break;
		at += (size_t)n;
	}
	return buf;
}

static int tl_ops_check(toeless_device *dev, const struct toeless_backend_ops *ops)
{
	const char *name = ops->name ? ops->name : "(unnamed)";

	if (ops->abi_version != TOELESS_BACKEND_ABI) {
		tl_log(dev, TOELESS_LOG_ERR, "backend %s: ABI version %u, this library speaks %u", name,
		       ops->abi_version, TOELESS_BACKEND_ABI);
		return -EPROTO;
	}
	/* The same ABI with a shorter table means a header that never was. */
	if (ops->size < sizeof(struct toeless_backend_ops)) {
		tl_log(dev, TOELESS_LOG_ERR, "backend %s: ops table of %zu bytes, expected %zu", name, ops->size,
		       sizeof(struct toeless_backend_ops));
		return -EPROTO;
	}
	char miss[64];
	if (*tl_ops_missing(ops, miss, sizeof(miss))) {
		tl_log(dev, TOELESS_LOG_ERR,
		       "backend %s: required op missing: %s (name, open, close and query are required)", name, miss);
		return -EPROTO;
	}
	return 0;
}

/* Make the limits ones the core can keep: a zero from the backend means
 * "no engine limit" and gets the core's own. */
static void tl_caps_fixup(toeless_device *dev, struct toeless_caps *caps)
{
	const struct toeless_backend_ops *ops = dev->ops;

	if (!caps->backend[0] && ops->name)
		snprintf(caps->backend, sizeof(caps->backend), "%s", ops->name);
	if (!caps->backend_version[0] && ops->version)
		snprintf(caps->backend_version, sizeof(caps->backend_version), "%s", ops->version);
	caps->backend[sizeof(caps->backend) - 1] = '\0';
	caps->backend_version[sizeof(caps->backend_version) - 1] = '\0';

	if (!caps->max_sge || caps->max_sge > TL_CORE_MAX_SGE)
		caps->max_sge = TL_CORE_MAX_SGE;
	/* DataSegmentLength is a 24-bit field. */
	if (!caps->max_recv_dsl || caps->max_recv_dsl > TOELESS_ISCSI_MAX_DSL)
		caps->max_recv_dsl = TOELESS_ISCSI_MAX_DSL;
	if (!caps->max_contexts)
		caps->max_contexts = UINT32_MAX;
	if (!caps->max_tasks)
		caps->max_tasks = UINT32_MAX;
	if (!caps->sge_align)
		caps->sge_align = 1;
	if (!caps->max_crc_batch)
		caps->max_crc_batch = 1024;
	if (!caps->max_cq_depth)
		caps->max_cq_depth = UINT32_MAX / 2;
}

int tl_device_open_ops(const struct toeless_backend_ops *ops, const char *args, const struct toeless_device_attr *attr,
		       toeless_device **out)
{
	toeless_device *dev;
	int rc;

	if (!ops || !attr || !out)
		return -EINVAL;
	dev = calloc(1, sizeof(*dev));
	if (!dev)
		return -ENOMEM;
	/* Set up logging first: the checks below and the backend's open
	 * already log through the device. */
	dev->ops = ops; /* until checked; then the filled copy */
	dev->backend_ops = ops;
	dev->log_fn = attr->log_fn;
	dev->log_arg = attr->log_arg;
	dev->log_level = attr->log_level ? attr->log_level : TOELESS_LOG_WARN;
	dev->ctxs.prev = dev->ctxs.next = &dev->ctxs;
	dev->retired.size = sizeof(dev->retired);
	dev->caps.size = sizeof(dev->caps);

	rc = tl_ops_check(dev, ops);
	if (rc)
		goto err_free;
	{
		struct toeless_backend_ops *full = malloc(sizeof(*full));

		rc = -ENOMEM;
		if (!full)
			goto err_free;
		dev->offers_sgls = tl_ops_fill(full, ops);
		dev->ops = ops = full;
	}
	rc = -pthread_mutex_init(&dev->lock, NULL);
	if (rc)
		goto err_free;
	rc = ops->open(dev, args ? args : "", &dev->priv);
	if (rc) {
		if (rc > 0)
			rc = -EIO;
		tl_log(dev, TOELESS_LOG_INFO, "backend %s: open failed: %s", ops->name, toeless_strerror(rc));
		goto err_mutex;
	}
	rc = ops->query(dev->priv, &dev->caps);
	if (rc) {
		if (rc > 0)
			rc = -EIO;
		tl_log(dev, TOELESS_LOG_ERR, "backend %s: query failed: %s", ops->name, toeless_strerror(rc));
		ops->close(dev->priv);
		goto err_mutex;
	}
	dev->caps.size = sizeof(dev->caps);
	tl_caps_fixup(dev, &dev->caps);
	dev->offers_sgls &= (dev->caps.flags & TOELESS_CAP_DDP) != 0;
	/* transmit digests go to the engine only when it says so and has the op */
	dev->tx_digests =
		(dev->caps.flags & TOELESS_CAP_CRC_TX) &&
		dev->backend_ops->size >= offsetof(struct toeless_backend_ops, tx_pdu) + sizeof(ops->tx_pdu) &&
		dev->backend_ops->tx_pdu;
	tl_log(dev, TOELESS_LOG_INFO, "opened backend %s %s (flags 0x%x)", dev->caps.backend, dev->caps.backend_version,
	       dev->caps.flags);
	*out = dev;
	return 0;

err_mutex:
	pthread_mutex_destroy(&dev->lock);
err_free:
	if (dev->ops != dev->backend_ops)
		free((void *)dev->ops);
	free(dev);
	return rc;
}

/* ---- plugins (include/toeless_backend.h, "Loading") ---- */

#ifndef TOELESS_BACKEND_DIR
#define TOELESS_BACKEND_DIR "/usr/local/lib/libtoeless/backends"
#endif

/* One loaded plugin, per device: the handle and a full-size copy of its ops
 * table (dev->ops points at the copy; a shorter table of the same ABI reads
 * as NULL ops).  The list maps a device's ops back to its handle at close. */
struct tl_plugin {
	struct toeless_backend_ops ops;
	void *dl;
	struct tl_plugin *next;
};

static pthread_mutex_t tl_plugins_lock = PTHREAD_MUTEX_INITIALIZER;
static struct tl_plugin *tl_plugins;

/* Log before a device exists, through the caller's callback. */
static void tl_attr_log(const struct toeless_device_attr *attr, int level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void tl_attr_log(const struct toeless_device_attr *attr, int level, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	int max = attr->log_level ? attr->log_level : TOELESS_LOG_WARN;

	if (!attr->log_fn || level > max)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	attr->log_fn(level, msg, attr->log_arg);
}

/* Load the plugin at path and find its ops table.  -ENOENT when there is
 * no such file; -EPROTO (logged) when it is not a usable plugin. */
static int tl_plugin_load(const char *path, const struct toeless_device_attr *attr, struct tl_plugin **out)
{
	toeless_backend_entry_fn entry;
	const struct toeless_backend_ops *ops;
	struct tl_plugin *p;
	void *dl;

	if (access(path, F_OK) != 0)
		return errno == ENOENT || errno == ENOTDIR ? -ENOENT : -errno;
	dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!dl) {
		const char *why = dlerror();

		tl_attr_log(attr, TOELESS_LOG_ERR, "backend plugin %s: cannot load: %s", path, why ? why : "?");
		return -EPROTO;
	}
	*(void **)&entry = dlsym(dl, TOELESS_BACKEND_ENTRY_SYMBOL);
	if (!entry) {
		tl_attr_log(attr, TOELESS_LOG_ERR, "backend plugin %s: no %s() entry point: not a libtoeless backend",
			    path, TOELESS_BACKEND_ENTRY_SYMBOL);
		dlclose(dl);
		return -EPROTO;
	}
	ops = entry(TOELESS_BACKEND_ABI);
	if (!ops) {
		tl_attr_log(attr, TOELESS_LOG_ERR, "backend plugin %s: it does not support backend ABI %u", path,
			    TOELESS_BACKEND_ABI);
		dlclose(dl);
		return -EPROTO;
	}
	if (ops->abi_version != TOELESS_BACKEND_ABI) {
		tl_attr_log(attr, TOELESS_LOG_ERR,
			    "backend plugin %s: built for backend ABI %u, this library speaks ABI %u: rebuild it "
			    "against this libtoeless",
			    path, ops->abi_version, TOELESS_BACKEND_ABI);
		dlclose(dl);
		return -EPROTO;
	}
	if (ops->size < TOELESS_BACKEND_OPS_SIZE_1 || ops->size > ((size_t)1 << 16)) {
		tl_attr_log(attr, TOELESS_LOG_ERR,
			    "backend plugin %s: ops table of %zu bytes; ABI %u needs at least %zu: rebuild it", path,
			    ops->size, TOELESS_BACKEND_ABI, (size_t)TOELESS_BACKEND_OPS_SIZE_1);
		dlclose(dl);
		return -EPROTO;
	}
	char miss[64];
	if (*tl_ops_missing(ops, miss, sizeof(miss))) {
		tl_attr_log(attr, TOELESS_LOG_ERR,
			    "backend plugin %s: required op missing from its ops table: %s (name, open, close and "
			    "query are required)",
			    path, miss);
		dlclose(dl);
		return -EPROTO;
	}
	p = calloc(1, sizeof(*p));
	if (!p) {
		dlclose(dl);
		return -ENOMEM;
	}
	/* The core reads the table it knows: the plugin's, zero-extended or cut. */
	memcpy(&p->ops, ops, ops->size < sizeof(p->ops) ? ops->size : sizeof(p->ops));
	p->ops.size = sizeof(p->ops);
	p->dl = dl;
	*out = p;
	return 0;
}

/* Unload the plugin behind a device's ops, if it is one. */
static void tl_plugin_release(const struct toeless_backend_ops *ops)
{
	struct tl_plugin **pp, *p = NULL;

	pthread_mutex_lock(&tl_plugins_lock);
	for (pp = &tl_plugins; *pp; pp = &(*pp)->next)
		if (&(*pp)->ops == ops) {
			p = *pp;
			*pp = p->next;
			break;
		}
	pthread_mutex_unlock(&tl_plugins_lock);
	if (!p)
		return;
	dlclose(p->dl);
	free(p);
}

/* Open a device on the plugin at path. */
static int tl_plugin_open(const char *path, const char *args, const struct toeless_device_attr *attr,
			  toeless_device **out)
{
	struct tl_plugin *p = NULL;
	int rc = tl_plugin_load(path, attr, &p);

	if (rc)
		return rc;
	pthread_mutex_lock(&tl_plugins_lock);
	p->next = tl_plugins;
	tl_plugins = p;
	pthread_mutex_unlock(&tl_plugins_lock);
	rc = tl_device_open_ops(&p->ops, args, attr, out);
	if (rc)
		tl_plugin_release(&p->ops);
	else
		tl_log(*out, TOELESS_LOG_INFO, "backend %s loaded from %s", (*out)->caps.backend, path);
	return rc;
}

/* A plugin by name: NAME.so in $TOELESS_BACKEND_PATH, then TOELESS_BACKEND_DIR. */
static int tl_plugin_open_name(const char *name, const char *args, const struct toeless_device_attr *attr,
			       toeless_device **out)
{
	const char *env = getenv(TOELESS_BACKEND_PATH_ENV);
	char path[PATH_MAX];

	for (const char *c = name; *c; c++)
		if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') || *c == '-' ||
		      *c == '_'))
			return -ENOENT;
	while (env && *env) {
		const char *end = strchr(env, ':');
		size_t len = end ? (size_t)(end - env) : strlen(env);

		if (len && snprintf(path, sizeof(path), "%.*s/%s.so", (int)len, env, name) < (int)sizeof(path)) {
			int rc = tl_plugin_open(path, args, attr, out);

			if (rc != -ENOENT)
				return rc;
		}
		env = end ? end + 1 : NULL;
	}
	if (snprintf(path, sizeof(path), "%s/%s.so", TOELESS_BACKEND_DIR, name) >= (int)sizeof(path))
		return -ENOENT;
	return tl_plugin_open(path, args, attr, out);
}

static const struct toeless_backend_ops *tl_builtin_find(const char *name)
{
	for (size_t i = 0; i < sizeof(tl_builtins) / sizeof(tl_builtins[0]); i++)
		if (!strcmp(tl_builtins[i].name, name))
			return tl_builtins[i].ops;
	return NULL;
}

/* Open one explicit spec, "NAME" or "NAME:ARGS". */
static int tl_open_spec(const char *spec, const struct toeless_device_attr *attr, toeless_device **out)
{
	const struct toeless_backend_ops *ops;
	const char *colon = strchr(spec, ':');
	const char *args = colon ? colon + 1 : "";
	size_t name_len = colon ? (size_t)(colon - spec) : strlen(spec);
	char name[TL_NAME_MAX];

	/* The name part decides: "/usr/lib/x.so:opt=1" is a plugin with args,
	 * "mock:file=/tmp/s" is a built-in with args. */
	if (memchr(spec, '/', name_len)) {
		char *path = strndup(spec, name_len);
		int rc;

		if (!path)
			return -ENOMEM;
		rc = tl_plugin_open(path, args, attr, out);
		free(path);
		return rc;
	}
	if (name_len == 0 || name_len >= sizeof(name))
		return -ENOENT;
	memcpy(name, spec, name_len);
	name[name_len] = '\0';
	ops = tl_builtin_find(name);
	if (!ops)
		return tl_plugin_open_name(name, args, attr, out);
	return tl_device_open_ops(ops, args, attr, out);
}

static int tl_open_auto(const struct toeless_device_attr *attr, toeless_device **out)
{
	int rc = -ENOENT;

	for (size_t i = 0; i < sizeof(tl_auto_candidates) / sizeof(tl_auto_candidates[0]); i++) {
		rc = tl_open_spec(tl_auto_candidates[i], attr, out);
		if (rc == 0)
			return 0;
	}
	return rc;
}

static bool tl_spec_is_auto(const char *spec)
{
	return !spec || !strcmp(spec, "auto");
}

int toeless_device_open(const char *spec, const struct toeless_device_attr *attr, toeless_device **out)
{
	struct toeless_device_attr a;
	int rc;

	if (!out)
		return -EINVAL;
	memset(&a, 0, sizeof(a));
	a.size = sizeof(a);
	if (attr) {
		rc = tl_attr_copy(&a, sizeof(a), attr);
		if (rc)
			return rc;
	}
	if (tl_spec_is_auto(spec)) {
		const char *env = getenv(TOELESS_BACKEND_ENV);

		/* The environment names one backend: no silent fallback when
		 * it cannot be opened, the user asked for exactly that one. */
		if (env && *env && !tl_spec_is_auto(env))
			return tl_open_spec(env, &a, out);
		return tl_open_auto(&a, out);
	}
	return tl_open_spec(spec, &a, out);
}

int toeless_device_close(toeless_device *dev)
{
	if (!dev)
		return -EINVAL;
	pthread_mutex_lock(&dev->lock);
	if (dev->n_ctx || dev->n_cq || dev->n_mr) {
		pthread_mutex_unlock(&dev->lock);
		return -EBUSY;
	}
	pthread_mutex_unlock(&dev->lock);
	tl_log(dev, TOELESS_LOG_INFO, "closing backend %s", dev->caps.backend);
	dev->ops->close(dev->priv);
	/* a plugin is unloaded only after its close() returned */
	tl_plugin_release(dev->backend_ops);
	pthread_mutex_destroy(&dev->lock);
	free((void *)dev->ops);
	free(dev);
	return 0;
}

int toeless_device_query(toeless_device *dev, struct toeless_caps *caps)
{
	if (!dev || !caps || caps->size < sizeof(size_t))
		return -EINVAL;
	/* dev->caps never changes after open: no lock. */
	tl_export(caps, &dev->caps, sizeof(dev->caps));
	return 0;
}

/* ---- memory registration ---- */

int toeless_mr_reg(toeless_device *dev, void *addr, size_t len, toeless_mr **out)
{
	toeless_mr *mr;

	if (!dev || !addr || !len || !out)
		return -EINVAL;
	if ((uintptr_t)addr + len < (uintptr_t)addr)
		return -EINVAL;
	mr = calloc(1, sizeof(*mr));
	if (!mr)
		return -ENOMEM;
	mr->dev = dev;
	mr->addr = addr;
	mr->len = len;
	/* A failed device takes no new work; the registration still exists
	 * (every backend accepts one) and software places into it. */
	if (!tl_device_failed(dev)) {
		int rc = dev->ops->mr_reg(dev->priv, addr, len, &mr->priv);

		if (rc) {
			free(mr);
			return rc > 0 ? -EIO : rc;
		}
		mr->engine_reg = true;
	}
	pthread_mutex_lock(&dev->lock);
	mr->next = dev->mrs;
	__atomic_store_n(&dev->mrs, mr, __ATOMIC_RELEASE);
	dev->n_mr++;
	pthread_mutex_unlock(&dev->lock);
	*out = mr;
	return 0;
}

int toeless_mr_dereg(toeless_mr *mr)
{
	toeless_device *dev;
	toeless_mr **pp;

	if (!mr)
		return -EINVAL;
	dev = mr->dev;
	pthread_mutex_lock(&dev->lock);
	/* tl_mr_get() takes references under this lock, so none can appear
	 * between this check and the unlink. */
	if (__atomic_load_n(&mr->users, __ATOMIC_ACQUIRE)) {
		pthread_mutex_unlock(&dev->lock);
		return -EBUSY;
	}
	for (pp = &dev->mrs; *pp && *pp != mr; pp = &(*pp)->next)
		;
	if (!*pp) {
		pthread_mutex_unlock(&dev->lock);
		return -EINVAL;
	}
	__atomic_store_n(pp, mr->next, __ATOMIC_RELEASE);
	dev->n_mr--;
	pthread_mutex_unlock(&dev->lock);
	/* Backend bookkeeping is released even on a failed device. */
	if (mr->engine_reg)
		dev->ops->mr_dereg(dev->priv, mr->priv);
	free(mr);
	return 0;
}

toeless_mr *tl_mr_get(toeless_device *dev, const void *addr, size_t len)
{
	uintptr_t lo = (uintptr_t)addr, hi = lo + len;
	toeless_mr *mr;

	/* Most users never register: keep the post path free of the device
	 * lock then. */
	if (!dev || hi < lo || !__atomic_load_n(&dev->mrs, __ATOMIC_ACQUIRE))
		return NULL;
	pthread_mutex_lock(&dev->lock);
	for (mr = dev->mrs; mr; mr = mr->next) {
		uintptr_t mlo = (uintptr_t)mr->addr, mhi = mlo + mr->len;

		if (lo >= mlo && hi <= mhi) {
			__atomic_add_fetch(&mr->users, 1, __ATOMIC_ACQ_REL);
			break;
		}
	}
	pthread_mutex_unlock(&dev->lock);
	return mr;
}

void tl_mr_put(toeless_mr *mr)
{
	if (mr)
		__atomic_sub_fetch(&mr->users, 1, __ATOMIC_ACQ_REL);
}
