#!/bin/sh
# The demo, end to end: a read over loopback TCP with both digests on must
# verify and exit 0, on each built-in backend and with padding (a length
# that is not a multiple of 4); an unknown backend must fail cleanly.
#
# Under `make check-valgrind` TOELESS_VALGRIND holds the valgrind command
# and every run of the demo goes through it.
set -u

: "${top_builddir:=.}"
demo=$top_builddir/examples/toeless-demo
if [ ! -x "$demo" ]; then
	echo "test-demo: $demo not built" >&2
	exit 99
fi

run_demo() {
	if [ -n "${TOELESS_VALGRIND:-}" ]; then
		# shellcheck disable=SC2086
		"$top_builddir/libtool" --mode=execute $TOELESS_VALGRIND "$demo" "$@"
	else
		"$demo" "$@"
	fi
}

fail=0
out=${TMPDIR:-/tmp}/test-demo.$$
trap 'rm -f "$out"' EXIT

# expect_ok SPEC BYTES BACKEND: the run succeeds and says what it did.
expect_ok() {
	echo "== toeless-demo $1 $2"
	run_demo "$1" "$2" >"$out" 2>&1
	rc=$?
	cat "$out"
	if [ "$rc" -ne 0 ]; then
		echo "FAIL: toeless-demo $1 $2 exited $rc"
		fail=1
		return
	fi
	for want in "^device     : backend $3 " "^completion : status 0 " "SCSI status 0x00 GOOD" \
		"$2 bytes placed" "^verified   : all $2 bytes match" "^result     : OK\$" \
		"^digests    : .*(0 bad), .*, 0 bad)\$"; do
		if ! grep -q "$want" "$out"; then
			echo "FAIL: toeless-demo $1 $2: no line matching '$want'"
			fail=1
		fi
	done
	# Every Data-In went into the posted buffers, with both digests checked.
	pdus=$(( ($2 + 65535) / 65536 ))
	if ! grep -q "^received   : $pdus PDUs, $pdus placed into the posted buffers, 0 with a bad digest" "$out"; then
		echo "FAIL: toeless-demo $1 $2: expected $pdus PDUs, all placed"
		fail=1
	fi
}

expect_ok sw 4194304 sw
expect_ok sw 1000001 sw          # odd length: the last PDU carries 3 pad bytes
expect_ok mock 4194304 mock
# "auto" honours TOELESS_BACKEND.
TOELESS_BACKEND=sw
export TOELESS_BACKEND
expect_ok auto 262147 sw
unset TOELESS_BACKEND

echo "== toeless-demo no-such-backend"
if run_demo no-such-backend 4096 >"$out" 2>&1; then
	cat "$out"
	echo "FAIL: an unknown backend was accepted"
	fail=1
elif ! grep -q "cannot open backend 'no-such-backend'" "$out"; then
	cat "$out"
	echo "FAIL: no clear message for an unknown backend"
	fail=1
fi

[ "$fail" -eq 0 ] && echo "PASS"
exit "$fail"
