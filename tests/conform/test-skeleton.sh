#!/bin/sh
# The out-of-tree backend example: `make install` libtoeless into a scratch
# DESTDIR, build examples/backend-skeleton there with its own Makefile from
# nothing but the installed headers and pkg-config, install it by name, and
# run the installed toeless-conform against it: it must pass.
# SPDX-License-Identifier: MIT
. "${top_srcdir:-.}/tests/conform/conform-lib.sh"
. "${top_srcdir:-.}/tests/conform/scratch-install.sh"
inc=$(find "$DEST" -name toeless_backend.h)
[ -n "$inc" ] || fail "toeless_backend.h is not installed"
[ -z "$(find "$DEST" -name toeless_int.h)" ] || fail "an internal header is installed"
[ -d "$DEST$libdir/libtoeless/backends" ] || fail "the plugin directory is not created by make install"

echo "== build the skeleton out of tree"
mkdir -p "$WORK/skeleton"
cp "$top_srcdir/examples/backend-skeleton/skeleton.c" "$top_srcdir/examples/backend-skeleton/Makefile" \
	"$WORK/skeleton/" || fail "copy the example"
"$MAKE" -C "$WORK/skeleton" PKG_CONFIG="$PKG_CONFIG" CC="$CC" >"$WORK/build.log" 2>&1 || {
	cat "$WORK/build.log"
	fail "the skeleton does not build from the installed headers"
}
cat "$WORK/build.log"
grep -q -- "-I$DEST" "$WORK/build.log" || fail "the build did not use the installed headers"
"$MAKE" -C "$WORK/skeleton" install DESTDIR="$DEST" BACKENDDIR="$libdir/libtoeless/backends" >/dev/null ||
	fail "make install of the skeleton"
[ -f "$DEST$libdir/libtoeless/backends/skeleton.so" ] || fail "skeleton.so not installed"

TOELESS_BACKEND_PATH=$DEST$libdir/libtoeless/backends
export TOELESS_BACKEND_PATH
echo "== toeless-info -b skeleton"
"$BIN/toeless-info" -b skeleton || fail "toeless-info does not find the installed skeleton by name"
echo "== toeless-conform --backend skeleton"
expect_pass --backend skeleton
