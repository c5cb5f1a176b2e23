/*
 * Plugins the loader must refuse, each with a clear message
 * (tests/conform/check_plugins.c):
 *
 *   BAD_ABI    built for backend ABI 999
 *   BAD_SIZE   an ops table shorter than ABI 1's
 *   BAD_ENTRY  no toeless_backend_entry() at all
 *   BAD_NULL   toeless_backend_entry() returns NULL (cannot serve this ABI)
 *
 * SPDX-License-Identifier: MIT
 */
#include <errno.h>
#include <stddef.h>

#include <toeless.h>
#include <toeless_backend.h>

static int bad_open(toeless_device *dev, const char *args, void **dev_priv)
{
	(void)dev;
	(void)args;
	*dev_priv = NULL;
	return 0;
}

static void bad_close(void *dev_priv)
{
	(void)dev_priv;
}

static int bad_query(void *dev_priv, struct toeless_caps *caps)
{
	(void)dev_priv;
	(void)caps;
	return 0;
}

static const struct toeless_backend_ops bad_ops = {
#if defined(BAD_SIZE)
	.size = offsetof(struct toeless_backend_ops, crc_submit),
#else
	.size = sizeof(struct toeless_backend_ops),
#endif
#if defined(BAD_ABI)
	.abi_version = 999,
#else
	.abi_version = TOELESS_BACKEND_ABI,
#endif
	.name = "bad",
	.version = "0",
	.open = bad_open,
	.close = bad_close,
	.query = bad_query,
};

#if defined(BAD_ENTRY)
/* a misspelt entry point */
TOELESS_BACKEND_EXPORT const struct toeless_backend_ops *toeless_backend_entrypoint(uint32_t core_abi);
TOELESS_BACKEND_EXPORT const struct toeless_backend_ops *toeless_backend_entrypoint(uint32_t core_abi)
{
	(void)core_abi;
	return &bad_ops;
}
#elif defined(BAD_NULL)
TOELESS_BACKEND_EXPORT const struct toeless_backend_ops *toeless_backend_entry(uint32_t core_abi)
{
	(void)core_abi;
	(void)bad_ops;
	return NULL;
}
#else
/* the table's own version is checked, not what the entry point was asked */
TOELESS_BACKEND_EXPORT const struct toeless_backend_ops *toeless_backend_entry(uint32_t core_abi)
{
	(void)core_abi;
	return &bad_ops;
}
#endif
