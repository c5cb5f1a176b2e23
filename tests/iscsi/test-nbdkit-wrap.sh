#!/bin/bash
# The nbdkit handling the plugin tests share (tests/iscsi/nbdkit-wrap.sh),
# with nbdkit's own memory plugin: no root, tgtd or toeless plugin needed.
#   nbdkit_start: NBDKIT_PID is nbdkit itself (its --pidfile, its
#     /proc comm, a child of the test shell), not a subshell;
#   nbdkit_stop: gone and reaped (no zombie); with a -v log whose opens all
#     failed ("open returned handle (nil)", a refused CHAP secret) it does
#     not wait for close lines that never come;
#   a wrapper that forks (so $! is not nbdkit) is refused by nbdkit_start;
#   the old mistake, `nbdkit ... &` through the shell function, then a stuck
#     nbdkit and SIGKILL to $!, leaves nbdkit alive: nbdkit_reap finds it by the scratch
#     directory in its command line, says so, returns 1 and kills it.
# Skips (77) without nbdkit.
#
# SPDX-License-Identifier: MIT
skip() { echo "SKIP: $*"; exit 77; }
fail() { echo "FAIL: $*"; exit 1; }
command -v nbdkit >/dev/null 2>&1 || skip "nbdkit not installed"
PLUGIN=memory # nbdkit_exec looks for an ASan runtime in $PLUGIN's libraries: none
. "${top_srcdir:-$(dirname "$0")/../..}/tests/iscsi/nbdkit-wrap.sh"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/toeless-nbdkit-wrap.XXXXXX") || exit 99
trap 'nbdkit_reap "$WORK" >/dev/null 2>&1; rm -rf "$WORK"' EXIT
trap 'exit 1' INT TERM HUP
gone() { ! nbdkit_alive "$1" && [ ! -e "/proc/$1" ]; }

echo "== nbdkit_start: \$! is nbdkit"
nbdkit_start "$WORK/a.log" -v -U "$WORK/a.sock" memory 1M || fail "nbdkit_start"
P=$NBDKIT_PID
[ "$(cat "$WORK/a.log.pid")" = "$P" ] || fail "pidfile $(cat "$WORK/a.log.pid"), NBDKIT_PID $P"
[ "$(cat "/proc/$P/comm")" = nbdkit ] || fail "NBDKIT_PID $P is $(cat "/proc/$P/comm"), not nbdkit"
[ "$(awk '{ print $4 }' "/proc/$P/stat")" = $$ ] || fail "nbdkit $P is not the test shell's child"
[ -S "$WORK/a.sock" ] || fail "nbdkit_start returned before the socket was there"

echo "== nbdkit_stop: gone and reaped"
t0=$(date +%s%N)
nbdkit_stop "$P" "$WORK/a.log"
ms=$((($(date +%s%N) - t0) / 1000000))
gone "$P" || fail "nbdkit $P still there after nbdkit_stop: $(ps -o stat=,args= -p "$P")"
echo "stopped in $ms ms"
[ -z "$(echo $NBDKIT_PIDS)" ] || fail "NBDKIT_PIDS still lists '$NBDKIT_PIDS'"

echo "== nbdkit_stop: opens that failed are not waited for, one that succeeded is"
nbdkit_start "$WORK/b.log" -U "$WORK/b.sock" memory 1M || fail "nbdkit_start"
P=$NBDKIT_PID
# what nbdkit -v logs for two refused opens and one open and close
printf '%s\n' 'nbdkit: toeless[1]: debug: toeless: open readonly=0 exportname="" tls=0' \
	'nbdkit: toeless[1]: debug: toeless: open returned handle (nil)' \
	'nbdkit: toeless[1]: debug: toeless: open readonly=0 exportname="" tls=0' \
	'nbdkit: toeless[1]: debug: toeless: open returned handle (nil)' \
	'nbdkit: toeless[2]: debug: toeless: open readonly=0 exportname="" tls=0' \
	'nbdkit: toeless[2]: debug: toeless: open returned handle 0x7f0000001000' >"$WORK/fake.log"
# the open that succeeded has no close yet: nbdkit_stop waits, until it comes
(sleep 1.5; echo 'nbdkit: toeless[2]: debug: toeless: close' >>"$WORK/fake.log") &
t0=$(date +%s%N)
nbdkit_stop "$P" "$WORK/fake.log"
ms=$((($(date +%s%N) - t0) / 1000000))
wait
echo "stopped in $ms ms (the close came after 1500 ms)"
[ "$ms" -ge 1400 ] && [ "$ms" -lt 5000 ] || fail "nbdkit_stop took $ms ms: did not wait for the one close, or waited on"
gone "$P" || fail "nbdkit $P still there"
nbdkit_start "$WORK/c.log" -U "$WORK/c.sock" memory 1M || fail "nbdkit_start"
P=$NBDKIT_PID
head -4 "$WORK/fake.log" >"$WORK/refused.log"
t0=$(date +%s%N)
nbdkit_stop "$P" "$WORK/refused.log"
ms=$((($(date +%s%N) - t0) / 1000000))
echo "every open refused: stopped in $ms ms"
[ "$ms" -lt 2000 ] || fail "nbdkit_stop waited $ms ms for closes of opens that failed"
gone "$P" || fail "nbdkit $P still there"

echo "== a wrapper that forks is refused"
REAL=$(type -P nbdkit) # not `command -v`: nbdkit is a function here
case $REAL in /*) ;; *) fail "no path for nbdkit: '$REAL'" ;; esac
mkdir "$WORK/bin"
printf '#!/bin/sh\n%s "$@"\n' "$REAL" >"$WORK/bin/nbdkit"
chmod +x "$WORK/bin/nbdkit"
PATH=$WORK/bin:$PATH nbdkit_start "$WORK/d.log" -U "$WORK/d.sock" memory 1M 2>"$WORK/err" &&
	fail "nbdkit_start took a \$! that is not nbdkit"
cat "$WORK/err"
grep -q "a forking wrapper" "$WORK/err" || fail "no reason given"
nbdkit_reap "$WORK" 2>/dev/null

echo "== the old mistake: nbdkit ... & and a signal to \$!"
nbdkit -f -U "$WORK/e.sock" memory 1M 2>/dev/null &
S=$!
for _ in $(seq 100); do [ -S "$WORK/e.sock" ] && break; sleep 0.05; done
[ -S "$WORK/e.sock" ] || fail "nbdkit did not start"
N=$(pgrep -x -P "$S" nbdkit)
[ -n "$N" ] || fail "no nbdkit under the subshell $S: the mistake is not reproduced"
# a stuck nbdkit (SIGSTOP: it acts on no signal but SIGKILL), then SIGKILL,
# nbdkit_stop's last resort, to $!: only the subshell ends (a SIGTERM from
# the dying subshell reaches nbdkit here, but a stuck one does not act on it)
kill -STOP "$N"
kill -KILL "$S"; wait "$S" 2>/dev/null
sleep 0.2
nbdkit_alive "$N" || fail "nbdkit $N ended with its subshell: the mistake is not reproduced"
nbdkit_reap "$WORK" 2>"$WORK/err" && fail "nbdkit_reap did not see nbdkit $N outlive its subshell"
cat "$WORK/err"
grep -q "outlived the test" "$WORK/err" && grep -q "^ *$N " "$WORK/err" || fail "nbdkit_reap did not name $N"
for _ in $(seq 50); do nbdkit_alive "$N" || break; sleep 0.1; done
nbdkit_alive "$N" && fail "nbdkit_reap left nbdkit $N running"
# an orphan's zombie is init's to reap: give it the time, so that nothing
# of this test is left in the process table
for _ in $(seq 100); do [ -e "/proc/$N" ] || break; sleep 0.1; done
nbdkit_reap "$WORK" || fail "nbdkit_reap fails with nothing left"
echo PASS
