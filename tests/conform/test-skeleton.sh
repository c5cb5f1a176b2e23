#!/bin/sh
# The out-of-tree backend example: `make install` libtoeless into a scratch
# DESTDIR, build examples/backend-skeleton there with its own Makefile from
# nothing but the installed headers and pkg-config, install it by name, and
# run the installed toeless-conform against it: it must pass.
# SPDX-License-Identifier: MIT
. "${top_srcdir:-.}/tests/conform/conform-lib.sh"
fail() { echo "FAIL: $*"; exit 1; }
PKG_CONFIG=${PKG_CONFIG:-pkg-config}
command -v "$PKG_CONFIG" >/dev/null 2>&1 || { echo "SKIP: no pkg-config"; exit 77; }
command -v "${CC:-cc}" >/dev/null 2>&1 || { echo "SKIP: no C compiler"; exit 77; }
MAKE=${MAKE:-make}
# a make of our own, not a job of the make running the tests
unset MAKEFLAGS MFLAGS MAKELEVEL

DEST=$WORK/dest
echo "== make install DESTDIR=$DEST"
"$MAKE" -C "$top_builddir" install DESTDIR="$DEST" >"$WORK/install.log" 2>&1 || {
	tail -30 "$WORK/install.log"
	fail "make install"
}
libdir=$(PKG_CONFIG_PATH= "$PKG_CONFIG" --variable=libdir "$top_builddir/libtoeless.pc")
prefix=$(PKG_CONFIG_PATH= "$PKG_CONFIG" --variable=prefix "$top_builddir/libtoeless.pc")
pcdir=$DEST$libdir/pkgconfig
[ -f "$pcdir/libtoeless.pc" ] || fail "no libtoeless.pc installed in $pcdir"
inc=$(find "$DEST" -name toeless_backend.h)
[ -n "$inc" ] || fail "toeless_backend.h is not installed"
[ -z "$(find "$DEST" -name toeless_int.h)" ] || fail "an internal header is installed"
[ -d "$DEST$libdir/libtoeless/backends" ] || fail "the plugin directory is not created by make install"

# pkg-config sees only the scratch install, with DESTDIR as its sysroot
PKG_CONFIG_PATH=$pcdir
PKG_CONFIG_LIBDIR=$pcdir
PKG_CONFIG_SYSROOT_DIR=$DEST
export PKG_CONFIG_PATH PKG_CONFIG_LIBDIR PKG_CONFIG_SYSROOT_DIR
echo "pkg-config --cflags --libs libtoeless: $("$PKG_CONFIG" --cflags --libs libtoeless)"

echo "== build the skeleton out of tree"
mkdir -p "$WORK/skeleton"
cp "$top_srcdir/examples/backend-skeleton/skeleton.c" "$top_srcdir/examples/backend-skeleton/Makefile" \
	"$WORK/skeleton/" || fail "copy the example"
"$MAKE" -C "$WORK/skeleton" PKG_CONFIG="$PKG_CONFIG" CC="${CC:-cc}" >"$WORK/build.log" 2>&1 || {
	cat "$WORK/build.log"
	fail "the skeleton does not build from the installed headers"
}
cat "$WORK/build.log"
grep -q -- "-I$DEST" "$WORK/build.log" || fail "the build did not use the installed headers"
"$MAKE" -C "$WORK/skeleton" install DESTDIR="$DEST" BACKENDDIR="$libdir/libtoeless/backends" >/dev/null ||
	fail "make install of the skeleton"
[ -f "$DEST$libdir/libtoeless/backends/skeleton.so" ] || fail "skeleton.so not installed"

# the installed tools, on the installed library
LD_LIBRARY_PATH=$DEST$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
TOELESS_BACKEND_PATH=$DEST$libdir/libtoeless/backends
export LD_LIBRARY_PATH TOELESS_BACKEND_PATH
BIN=$DEST$prefix/bin
[ -x "$BIN/toeless-conform" ] && [ -x "$BIN/toeless-info" ] || fail "toeless-conform/toeless-info not installed in $BIN"
echo "== toeless-info -b skeleton"
"$BIN/toeless-info" -b skeleton || fail "toeless-info does not find the installed skeleton by name"
CONFORM=$BIN/toeless-conform
echo "== toeless-conform --backend skeleton"
expect_pass --backend skeleton
