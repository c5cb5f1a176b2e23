#!/bin/sh
# Build a scratch libtoeless.so from the library's sources against the
# public headers in INCDIR (a modified copy of include/), the way the real
# one is built: same compiler and flags, hidden visibility, the version
# script.  Used by tests/abi/test-abi-break.sh to make an ABI change on
# purpose without touching the tree.
#
#   scratch-lib.sh OUT.so INCDIR [EXTRA.c...]
#
# EXTRA.c files (absolute paths) are compiled in too: new API functions.
#
# Environment (set by Makefile.am's AM_TESTS_ENVIRONMENT): top_srcdir,
# top_builddir, TOELESS_ABI_SOURCES (libtoeless_core_la_SOURCES),
# TOELESS_ABI_CC, TOELESS_ABI_CFLAGS, TOELESS_ABI_LIBS.
# SPDX-License-Identifier: MIT
set -eu
out=$1
inc=$2
shift 2
obj=$out.obj
rm -rf "$obj" && mkdir -p "$obj"
n=0
for src in $TOELESS_ABI_SOURCES "$@"; do
	case "$src" in *.c) ;; *) continue ;; esac
	case "$src" in /*) ;; *) src=$top_srcdir/$src ;; esac
	n=$((n + 1))
	# The scratch headers come first: sources include "toeless.h" with
	# quotes, and their own directory holds no copy of it.
	# shellcheck disable=SC2086
	$TOELESS_ABI_CC -std=gnu11 $TOELESS_ABI_CFLAGS -fPIC -fvisibility=hidden -DHAVE_CONFIG_H \
		-I"$inc" -I"$top_builddir" -I"$top_srcdir/lib" -I"$top_srcdir" \
		-DTOELESS_BACKEND_DIR='"/nonexistent"' \
		-c "$src" -o "$obj/$n.o"
done
# shellcheck disable=SC2086
$TOELESS_ABI_CC -shared -o "$out" "$obj"/*.o -Wl,-soname,libtoeless.so.0 \
	-Wl,--version-script="$top_srcdir/lib/libtoeless.sym" $TOELESS_ABI_LIBS -pthread
