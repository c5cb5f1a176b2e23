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

#endif
