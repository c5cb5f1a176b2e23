/*
 * The software backend: no engine.  Every digest is computed on the host
 * with isa-l and every payload byte is placed by the core's receive engine
 * (readv straight into the posted SGL), so no capability flag is set: the
 * flags say what an *engine* does.  The limits are what the core's software
 * path handles comfortably.
 *
 * Asynchronous CRC requests are computed at once, in the caller's thread,
 * and completed before crc_submit returns.
 *
 * SPDX-License-Identifier: MIT
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#else
#define _GNU_SOURCE     /* built alone, as a plugin from the installed headers */
#define PACKAGE_VERSION "plugin"
#endif

#include <errno.h>

#include "toeless_backend.h"

static int sw_open(toeless_device *dev, const char *args, void **dev_priv)
{
	/* No options yet: refuse rather than ignore, so a typo in
	 * TOELESS_BACKEND does not go unnoticed. */
	if (args && *args) {
		toeless_backend_log(dev, TOELESS_LOG_ERR, "sw: unknown arguments \"%s\"", args);
		return -EINVAL;
	}
	*dev_priv = NULL;
	return 0;
}

static void sw_close(void *dev_priv)
{
	(void)dev_priv;
}

static int sw_query(void *dev_priv, struct toeless_caps *caps)
{
	(void)dev_priv;
	caps->flags = 0;
	caps->max_contexts = 65536;
	caps->max_sge = 1024;
	caps->max_tasks = 1u << 20;
	caps->max_recv_dsl = 16777215;
	caps->sge_align = 1;
	caps->max_crc_batch = 1024;
	caps->max_cq_depth = 1u << 24;
	return 0;
}

static int sw_crc_submit(void *dev_priv, toeless_cq *cq, const struct toeless_backend_crc *reqs, int n)
{
	(void)dev_priv;
	for (int i = 0; i < n; i++)
		toeless_backend_crc_done(cq, reqs[i].id, toeless_crc32c_iov(reqs[i].seed, reqs[i].iov, reqs[i].iovcnt),
					 0);
	return n;
}

/* Linked into the library, found by name (lib/device.c's registry). */
extern const struct toeless_backend_ops tl_backend_sw __attribute__((visibility("hidden")));
const struct toeless_backend_ops tl_backend_sw = {
	.size = sizeof(struct toeless_backend_ops),
	.abi_version = TOELESS_BACKEND_ABI,
	.name = "sw",
	.version = PACKAGE_VERSION,
	.open = sw_open,
	.close = sw_close,
	.query = sw_query,
	.crc_submit = sw_crc_submit,
};

/* Built alone (-DTOELESS_ENGINE_PLUGIN, tests/test-engine-plugins.sh) the
 * engine is a plugin like any vendor's: the same table, exported. */
#ifdef TOELESS_ENGINE_PLUGIN
TOELESS_BACKEND_DEFINE(tl_backend_sw)
#endif
