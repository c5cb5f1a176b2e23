#!/bin/sh
# The ABI check catches a break and lets compatible growth through.  The
# baseline is the ABI of the library just built; each case rebuilds the
# library's sources (tests/abi/scratch-lib.sh) against a scratch copy of
# include/ with one change, and runs tests/abi/abi-check.sh on it:
#
#   insert      a member inserted after `size` in struct toeless_caps: fails,
#               naming the struct and saying to bump the SONAME
#   ops         a member inserted in struct toeless_backend_ops: fails and
#               says to bump TOELESS_BACKEND_ABI
#   completion  a member appended to the fixed-size struct
#               toeless_completion (callers hold arrays of it): fails
#   append      a member appended to struct toeless_stats (size-prefixed): passes
#   function    a new API function: passes, telling to run make abi-update
# SPDX-License-Identifier: MIT
set -eu
: "${top_srcdir:=.}"
: "${top_builddir:=.}"
lib=$top_builddir/.libs/libtoeless.so
[ -f "$lib" ] || { echo "test-abi-break: $lib not built" >&2; exit 99; }
[ -n "${TOELESS_ABI_SOURCES:-}" ] || { echo "test-abi-break: run from make check (TOELESS_ABI_SOURCES)" >&2; exit 99; }
CHECK=$top_srcdir/tests/abi/abi-check.sh
WORK=$(mktemp -d "${TMPDIR:-/tmp}/test-abi-break.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

rc=0
"$CHECK" dump "$lib" "$top_srcdir/include" "$WORK/base.abi" || rc=$?
[ "$rc" -eq 0 ] || exit "$rc"

fail=0
# run_case NAME EXPECT(pass|fail) SED-SCRIPT FILE [EXTRA.c] -- MUST-GREP...
run_case() {
	name=$1 expect=$2 script=$3 file=$4
	shift 4
	extra=""
	if [ "$1" != "--" ]; then extra=$1; shift; fi
	shift
	inc=$WORK/$name/include
	mkdir -p "$WORK/$name"
	cp -R "$top_srcdir/include" "$inc"
	sed -i "$script" "$inc/$file"
	if cmp -s "$inc/$file" "$top_srcdir/include/$file"; then
		echo "FAIL [$name]: the edit did not apply to include/$file (the test needs updating)"
		fail=1
		return
	fi
	# shellcheck disable=SC2086
	"$top_srcdir/tests/abi/scratch-lib.sh" "$WORK/$name/libtoeless.so" "$inc" $extra \
		>"$WORK/$name/build.log" 2>&1 || {
		cat "$WORK/$name/build.log"
		echo "FAIL [$name]: the scratch library did not build"
		fail=1
		return
	}
	crc=0
	"$CHECK" check "$WORK/$name/libtoeless.so" "$inc" "$WORK/base.abi" >"$WORK/$name/out" 2>&1 || crc=$?
	echo "==== [$name] expect $expect, abi-check exit $crc"
	grep -v '^| ' "$WORK/$name/out" | sed 's/^/    /'
	case "$expect:$crc" in
	pass:0 | fail:1) ;;
	*)
		echo "FAIL [$name]: expected the check to $expect, exit $crc"
		fail=1
		return
		;;
	esac
	for want in "$@"; do
		grep -qF -- "$want" "$WORK/$name/out" || {
			echo "FAIL [$name]: the message does not say: $want"
			fail=1
		}
	done
}

run_case insert fail \
	's|^\tchar backend\[32\];|\tuint32_t inserted;\n&|' toeless.h -- \
	"FAIL: incompatible ABI change" "member inserted inside struct toeless_caps" \
	"'uint32_t inserted', at offset 64" "TOELESS_LT_VERSION" "make abi-update"
run_case ops fail \
	's|^\tvoid (\*close)(void \*dev_priv);|&\n\tint (*inserted_op)(void *dev_priv);|' toeless_backend.h -- \
	"member inserted inside struct toeless_backend_ops" "bump TOELESS_BACKEND_ABI"
run_case completion fail \
	'/^struct toeless_completion {/,/^};/s|^\tuint64_t reserved\[[0-9]*\];.*|&\n\tuint64_t appended;|' toeless.h -- \
	"struct toeless_completion has no leading size field and cannot grow"
run_case append pass \
	's|^\tuint64_t data_digests_engine_host;.*|&\n\tuint64_t appended;|' toeless.h -- \
	"PASS: compatible additions only" "make abi-update"
printf '#include "toeless.h"\nint toeless_abi_added(void)\n{\n\treturn 1;\n}\n' >"$WORK/added.c"
run_case function pass \
	's|^TOELESS_API unsigned toeless_version_hex(void);|&\nTOELESS_API int toeless_abi_added(void);|' toeless.h \
	"$WORK/added.c" -- \
	"PASS: compatible additions only" "make abi-update"

[ "$fail" -eq 0 ] && echo "PASS: 5 cases"
exit "$fail"
