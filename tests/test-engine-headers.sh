#!/bin/sh
# The engines under backends/ use the backend ABI alone: no file there may
# include a header of the library's own (any lib/*.h, by name or by path).
# Their compile flags carry no -I for lib/ (Makefile.am,
# libtoeless-engines.la), so this catches what a relative path or
# DEFAULT_INCLUDES would still let through.
# SPDX-License-Identifier: MIT
: "${top_srcdir:=.}"
cd "$top_srcdir" || exit 99
[ -d backends ] && [ -d lib ] || { echo "no backends/ or lib/ in $top_srcdir" >&2; exit 99; }
private=$(cd lib && ls ./*.h | sed 's|^\./||')
[ -n "$private" ] || { echo "no private headers found in lib/" >&2; exit 99; }
fail=0
n=0
for f in $(find backends -type f \( -name '*.c' -o -name '*.h' \) | sort); do
	n=$((n + 1))
	for h in $private; do
		if grep -nE "^[[:space:]]*#[[:space:]]*include[[:space:]]*(\"([^\"]*/)?$h\"|<$h>)" "$f"; then
			echo "FAIL: $f includes the private header $h"
			fail=1
		fi
	done
	if grep -nE '^[[:space:]]*#[[:space:]]*include[[:space:]]*["<][^">]*lib/' "$f"; then
		echo "FAIL: $f includes a header from lib/"
		fail=1
	fi
done
echo "$n engine sources checked against: $(echo $private)"
[ "$n" -gt 0 ] || { echo "FAIL: no engine sources found"; exit 1; }
exit $fail
