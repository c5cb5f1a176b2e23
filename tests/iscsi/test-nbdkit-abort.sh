#!/bin/bash
# The plugin's abort and reset path, against the hostile target
# (tests/hostile/hostile) made to stall a READ(16):
#   stall-abortable once: the stalled READ is aborted (ABORT TASK answered
#     "function complete") and sent again; nbdcopy gets the LUN's exact bytes;
#     the counters say cmd_timeouts=1 abort_task_sent=1 abort_task_done=1 and
#     no LUN reset.
#   stall-abortable always: every READ stalls; ABORT TASK, LOGICAL UNIT
#     RESET, a new connection, then the session gives up: the NBD read fails
#     (nbdcopy exits non-zero, no bytes reported), each step counted, within
#     the documented bound (4*D + 4*T + 2 s).
# No root or tgtd needed; skips (77) without nbdkit, nbdcopy or the plugin.
#
# SPDX-License-Identifier: MIT
skip() { echo "SKIP: $*"; exit 77; }
fail() { echo "FAIL: $*"; exit 1; }
top_builddir=${top_builddir:-.}
PLUGIN=${PLUGIN:-$top_builddir/plugins/nbdkit/.libs/nbdkit-toeless-plugin.so}
. "${top_srcdir:-$(dirname "$0")/../..}/tests/iscsi/nbdkit-wrap.sh"
HOSTILE=$top_builddir/tests/hostile/hostile
command -v nbdkit >/dev/null 2>&1 || skip "nbdkit not installed"
command -v nbdcopy >/dev/null 2>&1 || skip "nbdcopy not installed (libnbd-bin)"
[ -f "$PLUGIN" ] || skip "plugin not built"
[ -x "$HOSTILE" ] || skip "hostile target not built"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/toeless-nbdkit-abort.XXXXXX") || exit 99
PIDS=
# an nbdkit still alive after nbdkit_reap stopped the ones left fails the test
cleanup() {
	local p leak=
	for p in $PIDS; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
	nbdkit_reap "$WORK" || leak=1
	rm -rf "$WORK"
	[ -z "$leak" ] || exit 1
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP
BLOCKS=2048
D=1 T=2
"$HOSTILE" --dump "$WORK/want" --blocks $BLOCKS || fail "hostile --dump"

# run MODE: hostile with stall-abortable (MODE: "" or --always), nbdkit, nbdcopy
run() {
	rm -f "$WORK/port" "$WORK/out" "$WORK/sock"
	"$HOSTILE" --port-file "$WORK/port" --scenario stall-abortable $1 --blocks $BLOCKS --idle 30 \
		--report "$WORK/report" 2>"$WORK/hostile.err" &
	HPID=$!
	PIDS="$PIDS $HPID"
	for _ in $(seq 100); do [ -s "$WORK/port" ] && break; sleep 0.05; done
	[ -s "$WORK/port" ] || fail "hostile did not start"
	nbdkit_start "$WORK/nbdkit.log" -v -U "$WORK/sock" "$PLUGIN" portal=127.0.0.1:"$(cat "$WORK/port")" \
		target=iqn.2024-01.org.toeless:hostile lun=0 command-timeout=$D timeout=$T retries=2 ||
		fail "nbdkit did not start"
	NPID=$NBDKIT_PID
	t0=$(date +%s)
	timeout 60 nbdcopy --connections=1 "nbd+unix:///?socket=$WORK/sock" "$WORK/out"
	rc=$?
	secs=$(($(date +%s) - t0))
	nbdkit_stop $NPID "$WORK/nbdkit.log"
	kill $HPID 2>/dev/null; wait $HPID 2>/dev/null
}
esc() { grep -o "$1=[0-9]*" "$WORK/nbdkit.log" | tail -1 | cut -d= -f2; }

echo "== one stalled READ: aborted, sent again, the copy is exact"
run ""
[ $rc = 0 ] || { tail -20 "$WORK/nbdkit.log"; fail "nbdcopy failed ($rc)"; }
cmp "$WORK/out" "$WORK/want" || fail "copy differs from the LUN"
grep "escalation on this connection" "$WORK/nbdkit.log" || { tail -30 "$WORK/nbdkit.log"; fail "no escalation line"; }
[ "$(esc cmd_timeouts)" = 1 ] && [ "$(esc abort_task_sent)" = 1 ] && [ "$(esc abort_task_done)" = 1 ] &&
	[ "$(esc lun_reset_sent)" = 0 ] || fail "counters: not one ABORT TASK done and no reset"

echo "== every READ stalls: ABORT TASK, LUN RESET, reconnect, then the read fails"
run --always
echo "nbdcopy exit $rc after ${secs}s"
[ $rc != 0 ] && [ $rc != 124 ] || fail "nbdcopy exit $rc: expected a failed read, not success or a hang"
grep "escalation on this connection" "$WORK/nbdkit.log" || { tail -30 "$WORK/nbdkit.log"; fail "no escalation line"; }
[ "$(esc abort_task_sent)" -ge 1 ] && [ "$(esc lun_reset_sent)" -ge 1 ] && [ "$(esc lun_reset_done)" -ge 1 ] &&
	[ "$(esc timeout_reconnects)" -ge 1 ] || fail "not every step taken"
grep -q "got no answer within --command-timeout $D s, after ABORT TASK, LOGICAL UNIT RESET and a new connection" \
	"$WORK/nbdkit.log" || fail "no reason in the log"
BOUND=$((4 * D + 4 * T + 2 + 3))
[ $secs -le $BOUND ] || fail "took ${secs}s, bound ${BOUND}s (4D+4T+2, +3 for nbdkit start-up)"
echo PASS
