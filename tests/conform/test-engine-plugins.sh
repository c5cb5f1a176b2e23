#!/bin/sh
# The in-tree engines are plugins like any vendor's: `make install`
# libtoeless into a scratch DESTDIR, build backends/sw/sw.c and
# backends/mock/mock.c as shared objects from nothing but the installed
# headers and pkg-config (-DTOELESS_ENGINE_PLUGIN exports their table with
# TOELESS_BACKEND_DEFINE), and run the installed toeless-conform against
# each, loaded by path (a name would find the built-in engine first).
# SPDX-License-Identifier: MIT
. "${top_srcdir:-.}/tests/conform/conform-lib.sh"
. "${top_srcdir:-.}/tests/conform/scratch-install.sh"
cflags=$("$PKG_CONFIG" --cflags libtoeless) || fail "pkg-config --cflags"
libs=$("$PKG_CONFIG" --libs libtoeless) || fail "pkg-config --libs"
case $cflags in *"-I$DEST"*) ;; *) fail "pkg-config does not point at the installed headers: $cflags" ;; esac
INFO=$BIN/toeless-info

# Each engine's sources are copied alone into a directory of their own, so
# nothing of the source tree (lib/, config.h) can be found by the compiler.
for engine in sw mock; do
	dir=$WORK/$engine
	mkdir -p "$dir"
	cp "$top_srcdir/backends/$engine/"*.c "$dir/" || fail "copy backends/$engine"
	echo "== build $engine.so: $CC -shared -fPIC -fvisibility=hidden -DTOELESS_ENGINE_PLUGIN $cflags ... $libs"
	# shellcheck disable=SC2086
	(cd "$dir" && "$CC" -std=c11 -Wall -Wextra -Werror -shared -fPIC -fvisibility=hidden \
		-DTOELESS_ENGINE_PLUGIN $cflags -o "$engine.so" ./*.c $libs -lpthread) \
		>"$WORK/build-$engine.log" 2>&1 || {
		cat "$WORK/build-$engine.log"
		fail "backends/$engine does not build from the installed headers"
	}
	nm -D --defined-only "$dir/$engine.so" | grep -q ' toeless_backend_entry$' ||
		fail "$engine.so does not export toeless_backend_entry"
	echo "== toeless-info -b $dir/$engine.so"
	"$INFO" -b "$dir/$engine.so" >"$WORK/info-$engine" 2>&1
	cat "$WORK/info-$engine"
	# the plugin build names its version "plugin": the built-in was not used
	grep -q 'plugin' "$WORK/info-$engine" || fail "toeless-info did not load $engine.so as a plugin"
	echo "== toeless-conform --backend $dir/$engine.so"
	expect_pass --backend "$dir/$engine.so"
done
