# Shared by test-skeleton.sh and test-engine-plugins.sh: sourced after
# conform-lib.sh, not run.  `make install` libtoeless into the scratch
# DESTDIR $WORK/dest, then point pkg-config (with DESTDIR as its sysroot,
# seeing nothing else), the dynamic linker and CONFORM at that install, as
# a vendor building an engine against the packaged library would see it.
# Skips (77) without pkg-config or a C compiler.
#
# Sets DEST, libdir and prefix (as configured), pcdir (the installed .pc
# directory), BIN (the installed bin/), CONFORM; exports PKG_CONFIG_PATH,
# PKG_CONFIG_LIBDIR, PKG_CONFIG_SYSROOT_DIR and LD_LIBRARY_PATH; defines fail.
#
# SPDX-License-Identifier: MIT
# shellcheck shell=sh disable=SC2034 # CONFORM: conform-lib.sh's, used by the caller
fail() { echo "FAIL: $*"; exit 1; }
PKG_CONFIG=${PKG_CONFIG:-pkg-config}
CC=${CC:-cc}
command -v "$PKG_CONFIG" >/dev/null 2>&1 || { echo "SKIP: no pkg-config"; exit 77; }
command -v "$CC" >/dev/null 2>&1 || { echo "SKIP: no C compiler"; exit 77; }
MAKE=${MAKE:-make}
# a make of our own, not a job of the make running the tests
unset MAKEFLAGS MFLAGS MAKELEVEL

DEST=$WORK/dest
echo "== make install DESTDIR=$DEST"
# one install from the build tree at a time (make check -j runs two such tests:
# their libtool relinks of the nbdkit plugin in the same .libs clobbered each other)
flock "$top_builddir" "$MAKE" -C "$top_builddir" install DESTDIR="$DEST" >"$WORK/install.log" 2>&1 || {
	tail -30 "$WORK/install.log"
	fail "make install"
}
libdir=$(PKG_CONFIG_PATH= "$PKG_CONFIG" --variable=libdir "$top_builddir/libtoeless.pc")
prefix=$(PKG_CONFIG_PATH= "$PKG_CONFIG" --variable=prefix "$top_builddir/libtoeless.pc")
pcdir=$DEST$libdir/pkgconfig
[ -f "$pcdir/libtoeless.pc" ] || fail "no libtoeless.pc installed in $pcdir"

PKG_CONFIG_PATH=$pcdir
PKG_CONFIG_LIBDIR=$pcdir
PKG_CONFIG_SYSROOT_DIR=$DEST
export PKG_CONFIG_PATH PKG_CONFIG_LIBDIR PKG_CONFIG_SYSROOT_DIR
echo "pkg-config --cflags --libs libtoeless: $("$PKG_CONFIG" --cflags --libs libtoeless)"

# the installed tools, on the installed library
LD_LIBRARY_PATH=$DEST$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
export LD_LIBRARY_PATH
BIN=$DEST$prefix/bin
[ -x "$BIN/toeless-conform" ] && [ -x "$BIN/toeless-info" ] || fail "toeless-conform/toeless-info not installed in $BIN"
CONFORM=$BIN/toeless-conform
