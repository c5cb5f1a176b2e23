#!/bin/sh
# toeless-conform against the broken-crash plugin (rx_pdu dereferences NULL
# for a 4093-byte PDU): the case running it, place.basic, is reported
# failed with the signal, and every later case still runs and is reported.
# SPDX-License-Identifier: MIT
. "${top_srcdir:-.}/tests/conform/conform-lib.sh"
# under AddressSanitizer the crash must still be a signal, not ASan's report
ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}handle_segv=0"
export ASAN_OPTIONS
# expect_fail exits: check the rest in a subshell first
ONLY=
[ -n "${TOELESS_VALGRIND:-}" ] && ONLY="--only device.open --only place.basic --only place.params"
(
	# shellcheck disable=SC2086
	conform --backend "$PLUGINS/broken-crash.so" $ONLY >/dev/null
	rc=$?
	[ "$rc" = 1 ] || { echo "FAIL: exit $rc, expected 1"; exit 1; }
	grep -q '^# FAIL place.basic: the case crashed: signal 11 ' "$OUT" ||
		{ echo "FAIL: place.basic not reported as crashed with SIGSEGV"; exit 1; }
	plan=$(sed -n 's/^1\.\.\([0-9]*\)$/\1/p' "$OUT")
	ran=$(grep -c '^\(not \)\{0,1\}ok [0-9]* - ' "$OUT")
	[ -n "$plan" ] && [ "$plan" = "$ran" ] || { echo "FAIL: $ran of $plan cases reported after the crash"; exit 1; }
	# the skeleton has no transmit digest inserter: tx.engine is skipped, nothing else
	skipped=$(grep -c '^ok [0-9]* - .* # SKIP' "$OUT")
	[ "$skipped" = "$(grep -c '^ok [0-9]* - tx.engine # SKIP' "$OUT")" ] ||
		{ echo "FAIL: a case other than tx.engine was skipped"; exit 1; }
	grep -q "^# $((plan - 1 - skipped)) passed, 1 failed, $skipped skipped of $plan cases" "$OUT" ||
		{ echo "FAIL: the healthy cases did not all pass after the crash"; exit 1; }
	echo "crash isolated: $ran of $plan cases reported"
) || exit 1
expect_fail place.basic --backend "$PLUGINS/broken-crash.so"
