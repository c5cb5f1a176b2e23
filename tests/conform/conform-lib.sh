# Shared by the tests/conform/test-*.sh scripts: sourced, not run.
#
#   conform ARGS...           run toeless-conform (under $TOELESS_VALGRIND
#                             when make check-valgrind set it), output in $OUT
#   expect_pass ARGS...       the suite passes (exit 0), or skips (77) when the
#                             backend's device is absent
#   expect_fail CASE ARGS...  the suite fails (exit 1) and names CASE as a failure
#
# Automake exit codes: 0 pass, 1 fail, 77 skip, 99 hard error.
#
# SPDX-License-Identifier: MIT

: "${top_srcdir:=.}"
: "${top_builddir:=.}"
CONFORM=$top_builddir/tools/toeless-conform/toeless-conform
PLUGINS=$top_builddir/tests/conform/.libs
[ -x "$CONFORM" ] || { echo "toeless-conform not built" >&2; exit 99; }
WORK=$(mktemp -d "${TMPDIR:-/tmp}/toeless-conform-test.XXXXXX") || exit 99
trap 'rm -rf "$WORK"' EXIT
OUT=$WORK/out

# Under valgrind: fewer iterations (shorter sweeps and long runs), longer
# waits, a case may take much longer.
CONFORM_ARGS=
if [ -n "${TOELESS_VALGRIND:-}" ]; then
	CONFORM_ARGS="--iter 0.1 --timeout-ms 30000 --case-limit 3000"
fi

conform() {
	if [ -n "${TOELESS_VALGRIND:-}" ]; then
		# shellcheck disable=SC2086
		"$top_builddir/libtool" --mode=execute $TOELESS_VALGRIND "$CONFORM" $CONFORM_ARGS "$@" >"$OUT" 2>&1
	else
		# shellcheck disable=SC2086
		"$CONFORM" $CONFORM_ARGS "$@" >"$OUT" 2>&1
	fi
	rc=$?
	cat "$OUT"
	return $rc
}

expect_pass() {
	conform --junit "$WORK/junit.xml" "$@"
	rc=$?
	case $rc in
	0)
		grep -q '^not ok' "$OUT" && { echo "FAIL: exit 0 with a failed case"; exit 1; }
		grep -q '<testsuite ' "$WORK/junit.xml" || { echo "FAIL: no JUnit XML written"; exit 1; }
		grep -q 'failures="0"' "$WORK/junit.xml" || { echo "FAIL: JUnit XML reports failures"; exit 1; }
		echo "PASS"
		exit 0
		;;
	77)
		echo "SKIP: nothing could run"
		exit 77
		;;
	*)
		echo "FAIL: toeless-conform exited $rc"
		exit 1
		;;
	esac
}

expect_fail() {
	case_name=$1
	shift
	# under valgrind only the case that must fail runs: the rest is slow there
	if [ -n "${TOELESS_VALGRIND:-}" ]; then
		set -- "$@" --only "$case_name"
	fi
	conform --junit "$WORK/junit.xml" "$@"
	rc=$?
	if [ "$rc" != 1 ]; then
		echo "FAIL: toeless-conform exited $rc against a broken backend, expected 1"
		exit 1
	fi
	# a sanitizer exits 1 too: a failure of the suite itself is not the one wanted
	if grep -q "AddressSanitizer\|LeakSanitizer\|runtime error:" "$OUT"; then
		echo "FAIL: toeless-conform itself failed under a sanitizer"
		exit 1
	fi
	if ! grep -q "^not ok [0-9]* - $case_name\$" "$OUT"; then
		echo "FAIL: the suite did not name $case_name as failing"
		exit 1
	fi
	if ! grep -q "^# FAIL $case_name: " "$OUT"; then
		echo "FAIL: no reason given for $case_name"
		exit 1
	fi
	grep -q "<testcase [^>]*name=\"$case_name\"" "$WORK/junit.xml" &&
		grep -q '<failure message=' "$WORK/junit.xml" || {
		echo "FAIL: the JUnit XML does not report the failure of $case_name"
		exit 1
	}
	echo "PASS: $case_name fails, as it must:"
	grep "^# FAIL $case_name: " "$OUT"
	exit 0
}
