/*
 * The built-in backends.  Each is a struct toeless_backend_ops defined in
 * backends/<name>/, found by name in device.c's registry.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef TOELESS_BACKENDS_H
#define TOELESS_BACKENDS_H

#include "toeless_backend.h"

extern const struct toeless_backend_ops tl_backend_sw __attribute__((visibility("hidden")));
extern const struct toeless_backend_ops tl_backend_mock __attribute__((visibility("hidden")));
extern const struct toeless_backend_ops tl_backend_hw __attribute__((visibility("hidden")));

/* Open a device on an ops table that has been found already (built-in, or
 * later a plugin's): checks the table's size and ABI version (-EPROTO,
 * logged), opens the backend with args ("" for none), queries its caps.
 * attr is a full-size struct (after tl_attr_copy). */
__attribute__((visibility("hidden"))) int tl_device_open_ops(const struct toeless_backend_ops *ops, const char *args,
							     const struct toeless_device_attr *attr,
							     toeless_device **out);

#endif
