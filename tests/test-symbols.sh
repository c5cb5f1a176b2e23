#!/bin/sh
# The ABI of libtoeless.so: what it exports and nothing else.
#
#   - every exported symbol starts with toeless_ and carries the version
#     node of lib/libtoeless.sym (LIBTOELESS_*);
#   - every function declared TOELESS_API in include/*.h is exported;
#   - the internals (tl_*, the built-in backends' ops tables) are not;
#   - the SONAME carries the libtool major version.
#
# Automake exit codes: 0 pass, 1 fail, 77 skip, 99 hard error.
set -eu

: "${top_srcdir:=.}"
: "${top_builddir:=.}"
lib=$top_builddir/.libs/libtoeless.so
NM=${NM:-nm}

if [ ! -f "$lib" ]; then
	echo "test-symbols: $lib not built" >&2
	exit 99
fi
if ! command -v "$NM" >/dev/null 2>&1 || ! command -v objdump >/dev/null 2>&1; then
	echo "test-symbols: nm/objdump not found (binutils)" >&2
	exit 77
fi

fail=0
tmp=${TMPDIR:-/tmp}/test-symbols.$$
trap 'rm -f "$tmp".*' EXIT

# Defined dynamic symbols: "NAME@@VERSION TYPE" (the version node itself is
# an absolute symbol, type A, and is left out).
"$NM" -D --defined-only "$lib" | awk '$2 != "A" {print $3, $2}' | sort >"$tmp.exported"
echo "exported symbols of $lib:"
sed 's/^/  /' "$tmp.exported"

if [ ! -s "$tmp.exported" ]; then
	echo "FAIL: no symbols exported"
	fail=1
fi

while read -r sym type; do
	name=${sym%%@*}
	case "$name" in
	toeless_*) ;;
	*)
		echo "FAIL: exported symbol $name ($type) is not in the toeless_ namespace"
		fail=1
		;;
	esac
	case "$sym" in
	*@@LIBTOELESS_* | *@LIBTOELESS_*) ;;
	*)
		echo "FAIL: exported symbol $name has no LIBTOELESS_ version (lib/libtoeless.sym)"
		fail=1
		;;
	esac
done <"$tmp.exported"
sed 's/@.*//' "$tmp.exported" | sort -u >"$tmp.names"

# The API as the headers declare it.
sed -n 's/^TOELESS_API[^(]*[ *]\(toeless_[a-z0-9_]*\)(.*/\1/p' "$top_srcdir"/include/*.h | sort -u >"$tmp.api"
n_api=$(wc -l <"$tmp.api")
if [ "$n_api" -lt 20 ]; then
	echo "FAIL: found only $n_api TOELESS_API declarations in $top_srcdir/include/*.h"
	fail=1
fi
for key in toeless_device_open toeless_device_close toeless_device_query toeless_cq_create \
	toeless_cq_poll toeless_cq_fd toeless_ctx_create toeless_ctx_destroy toeless_sgl_post \
	toeless_sgl_cancel toeless_pdu_recv toeless_pdu_send toeless_crc32c toeless_strerror \
	toeless_version toeless_ctx_stats; do
	grep -qx "$key" "$tmp.api" || { echo "FAIL: $key is not declared TOELESS_API"; fail=1; }
done
while read -r fn; do
	if ! grep -qx "$fn" "$tmp.names"; then
		echo "FAIL: API function $fn is not exported"
		fail=1
	fi
done <"$tmp.api"

# Every exported function is declared in a public header.
while read -r sym type; do
	name=${sym%%@*}
	case "$type" in
	T | W | i)
		grep -qx "$name" "$tmp.api" || {
			echo "FAIL: exported function $name is not declared TOELESS_API in include/"
			fail=1
		}
		;;
	esac
done <"$tmp.exported"

# Internals stay hidden.
for hidden in tl_backend_sw tl_backend_mock tl_backend_hw tl_log tl_cq_push tl_task_find; do
	if grep -qx "$hidden" "$tmp.names"; then
		echo "FAIL: internal symbol $hidden is exported"
		fail=1
	fi
done

soname=$(objdump -p "$lib" | awk '$1 == "SONAME" {print $2}')
case "$soname" in
libtoeless.so.[0-9]*) echo "SONAME $soname" ;;
*)
	echo "FAIL: unexpected SONAME '$soname'"
	fail=1
	;;
esac

[ "$fail" -eq 0 ] && echo "PASS: $(wc -l <"$tmp.names") exported symbols, $n_api API functions, all exported"
exit "$fail"
