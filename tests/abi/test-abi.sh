#!/bin/sh
# The built libtoeless.so against the stored ABI baseline abi/libtoeless.abi
# (tests/abi/abi-check.sh says what changed and what to do), and the Debian
# symbols file against what the library exports.  Refresh the baseline
# after an intended change with `make abi-update` (doc/versioning.md).
# SPDX-License-Identifier: MIT
set -eu
: "${top_srcdir:=.}"
: "${top_builddir:=.}"
lib=$top_builddir/.libs/libtoeless.so
[ -f "$lib" ] || { echo "test-abi: $lib not built" >&2; exit 99; }

fail=0
# debian/libtoeless0.symbols lists every exported symbol with its version
# node; dpkg-gensymbols fails a package build when one is missing, this
# says so at `make check` already.  (A release tarball carries no debian/.)
syms=$top_srcdir/debian/libtoeless0.symbols
if [ -f "$syms" ]; then
	tmp=${TMPDIR:-/tmp}/test-abi.$$
	trap 'rm -f "$tmp".*' EXIT
	# As dpkg-gensymbols writes them: NAME@NODE, the node itself NODE@NODE.
	nm -D --defined-only "$lib" |
		awk '$2 == "A" {print $3 "@" $3; next} {sub(/@@/, "@", $3); print $3}' | sort >"$tmp.exported"
	awk '/^ / {print $1}' "$syms" | sort >"$tmp.listed"
	if ! cmp -s "$tmp.exported" "$tmp.listed"; then
		echo "FAIL: debian/libtoeless0.symbols does not match the exported symbols of $lib"
		echo "  (- only in the symbols file, + only in the library):"
		diff "$tmp.listed" "$tmp.exported" | sed -n 's/^</  -/p; s/^>/  +/p'
		echo "  Add new symbols as ' NAME@NODE VERSION' with the first upstream version that has them."
		fail=1
	else
		echo "PASS: debian/libtoeless0.symbols lists the $(wc -l <"$tmp.exported") exported symbols"
	fi
fi

rc=0
"$top_srcdir/tests/abi/abi-check.sh" check "$lib" "$top_srcdir/include" "$top_srcdir/abi/libtoeless.abi" || rc=$?
[ "$rc" -eq 77 ] && [ "$fail" -eq 0 ] && exit 77
[ "$rc" -eq 77 ] && rc=0
[ "$rc" -ne 0 ] && exit "$rc"
exit "$fail"
