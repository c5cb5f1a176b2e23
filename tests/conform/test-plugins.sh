#!/bin/sh
# Backend plugins: the loader (tests/conform/check_plugins: by path and by
# name, ABI and size checks with clear messages, arguments, unloading at
# close), toeless-info listing them, and toeless-conform's exit codes and
# options on plugins it cannot use.
# SPDX-License-Identifier: MIT
. "${top_srcdir:-.}/tests/conform/conform-lib.sh"
INFO=$top_builddir/tools/toeless-info/toeless-info
CHECK=$top_builddir/tests/conform/check_plugins
[ -x "$INFO" ] && [ -x "$CHECK" ] || { echo "toeless-info or check_plugins not built" >&2; exit 99; }
fail() { echo "FAIL: $*"; exit 1; }
run() {
	if [ -n "${TOELESS_VALGRIND:-}" ]; then
		# shellcheck disable=SC2086
		"$top_builddir/libtool" --mode=execute $TOELESS_VALGRIND "$@"
	else
		"$@"
	fi
}

echo "== the loader"
run "$CHECK" || fail "check_plugins"

echo "== toeless-info"
run "$INFO" >"$WORK/info" 2>&1 || { cat "$WORK/info"; fail "toeless-info exited $?"; }
cat "$WORK/info"
grep -q "^backend:.*sw" "$WORK/info" || fail "toeless-info does not list sw"
grep -q "^backend:.*mock" "$WORK/info" || fail "toeless-info does not list mock"
grep -q "DDP" "$WORK/info" || fail "toeless-info shows no capability names"
TOELESS_BACKEND_PATH=$PLUGINS run "$INFO" >"$WORK/info" 2>&1 || fail "toeless-info with plugins exited $?"
grep -q "^backend:.*broken-crc" "$WORK/info" || { cat "$WORK/info"; fail "a plugin in TOELESS_BACKEND_PATH is not listed"; }
grep -q "built for backend ABI 999" "$WORK/info" || { cat "$WORK/info"; fail "a plugin of another ABI is not listed with the reason"; }
run "$INFO" -b "$PLUGINS/bad-abi.so" >"$WORK/info" 2>&1 && fail "toeless-info -b on a refused plugin exited 0"
grep -q "ABI 999, this library speaks ABI" "$WORK/info" || { cat "$WORK/info"; fail "no clear ABI message"; }
run "$INFO" -b mock >"$WORK/info" 2>&1 || fail "toeless-info -b mock"
grep -q "max_sge:.*16" "$WORK/info" || { cat "$WORK/info"; fail "toeless-info -b mock: no limits"; }
run "$INFO" -l >"$WORK/info" 2>&1 || fail "toeless-info -l"
grep -q "^sw .*available" "$WORK/info" || { cat "$WORK/info"; fail "toeless-info -l"; }

echo "== toeless-conform on plugins it cannot use"
conform --backend "$PLUGINS/bad-abi.so"
[ $? = 1 ] || fail "a plugin of another ABI: expected exit 1"
grep -q "^not ok 1 - device.open" "$OUT" || fail "no device.open failure reported"
grep -q "ABI 999" "$OUT" || fail "the reason is not shown"
conform --backend "$PLUGINS/no-such.so"
[ $? = 1 ] || fail "a missing plugin: expected exit 1"
conform --backend "hw:$WORK/no-device"
[ $? = 77 ] || fail "a backend whose device is absent: expected exit 77 (nothing could run)"
conform --backend sw --only 'no.such.case'
[ $? = 77 ] || fail "no case selected: expected exit 77"
printf '# all of them\n*  not today\n' >"$WORK/all.exclude"
conform --backend sw --exclude "$WORK/all.exclude"
[ $? = 77 ] || fail "every case excluded: expected 77"
grep -q "^ok 1 - device.open # SKIP excluded by .*all.exclude:2: not today" "$OUT" || fail "excluded cases are not reported as skipped with the reason"
conform --backend sw --list >/dev/null
[ $? = 0 ] || fail "--list"
grep -q "^place.random " "$OUT" || fail "--list does not list place.random"
conform --bogus-option
[ $? = 2 ] || fail "a bad option: expected exit 2"
echo "PASS"
