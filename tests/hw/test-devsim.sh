#!/bin/sh
# toeless-devsim's command line: usage, bad options, start-up and a clean
# stop on SIGTERM (control socket removed).  The device behaviour itself is
# tested through the library by check_hw and test-iscsi-hw.sh.
#
# SPDX-License-Identifier: MIT
if [ -z "$BASH_VERSION" ]; then exec bash "$0" "$@"; fi
top_builddir=${top_builddir:-.}
DEVSIM=${DEVSIM:-$top_builddir/tools/toeless-devsim/toeless-devsim}
[ -x "$DEVSIM" ] || { echo "SKIP: toeless-devsim not built (needs libuv1-dev)"; exit 77; }
fail() { echo "FAIL: $*"; exit 1; }
WORK=$(mktemp -d "${TMPDIR:-/tmp}/toeless-devsim-test.XXXXXX") || exit 99
trap 'kill $PID 2>/dev/null; rm -rf "$WORK"' EXIT

"$DEVSIM" --help | grep -q "lose-sync" || fail "--help does not list the faults"
"$DEVSIM" >/dev/null 2>&1; [ $? = 2 ] || fail "no --target: expected exit 2"
"$DEVSIM" --target 127.0.0.1:1 --fault bogus=1 >/dev/null 2>&1; [ $? = 2 ] || fail "bad fault: expected exit 2"
"$DEVSIM" --target 127.0.0.1:1 --listen nonsense >/dev/null 2>&1; [ $? = 1 ] || fail "bad --listen: expected exit 1"

"$DEVSIM" --control "$WORK/ctl" --listen 127.0.0.1:0 --target 127.0.0.1:1 --port-file "$WORK/port" \
	--fault lose-sync=5:2 --fault corrupt-data=3 --fault drop-records=4 --fault delay-records=2:10 \
	--fault sgl-limit=2 --fault rq-limit=8 --fault reset-after=100 --fault corrupt-hdr=9 2>"$WORK/log" &
PID=$!
for i in $(seq 100); do [ -s "$WORK/port" ] && break; sleep 0.05; done
[ -s "$WORK/port" ] || { cat "$WORK/log"; fail "no port file"; }
[ -S "$WORK/ctl" ] || fail "no control socket"
# a host connection whose target refuses: the relay closes it, the model lives on
exec 3<>"/dev/tcp/127.0.0.1/$(cat "$WORK/port")" 2>/dev/null && exec 3<&-
sleep 0.2
kill -0 $PID || fail "died after a refused target connection"
kill -TERM $PID
wait $PID
rc=$?
[ $rc = 0 ] || fail "exit status $rc after SIGTERM"
[ -e "$WORK/ctl" ] && fail "control socket left behind"
echo "PASS"
