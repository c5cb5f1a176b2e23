#!/bin/sh
# toeless-iscsi against a hostile target (tests/hostile/hostile) on loopback:
# after a normal login, the target answers the first READ(16) with a
# malformed PDU or stream (an unknown opcode, DataSegmentLength above
# MaxRecvDataSegmentLength and at 2^24-1, AHS past the PDU, Buffer Offset +
# length past the buffer or wrapping 32 bits, Data-In for an unknown or
# finished ITT, repeated or skipped DataSN, S without F, a truncated PDU then
# close, one byte per write, a NOP-In flood, a Reject, Async Messages, bad
# digests, an R2T for a READ, sense data overrunning its segment, silence;
# at login, garbage or a refusal; and a "UNIT ATTENTION storm": each new
# connection's first command gets the UNIT ATTENTION of a reinstated session
# and the connection breaks after one good READ).
#
# Each case runs twice, under a timeout (a hang fails the test):
#  - once: only the first connection misbehaves.  toeless-iscsi must
#    recover (log in again, reissue) and read exactly the LUN's bytes, or,
#    for a login refusal, exit 4;
#  - always: every connection misbehaves.  toeless-iscsi must fail with
#    the documented exit status and a one-line reason, and leave no output
#    file (or, for the harmless cases, still read the right bytes).
#
# It needs no root and no tgtd.  Under `make check` with --enable-sanitizers
# the initiator runs with ASan+UBSan; under `make check-valgrind` it runs
# under valgrind memcheck (TOELESS_VALGRIND), where any memcheck error or
# leak makes it exit 99, which no case expects.
#
# Environment: HOSTILE_CASES (names to run; default all), HOSTILE_SUMMARY
# (file to append "hostile: ..." figures to).
#
# SPDX-License-Identifier: MIT
if [ -z "$BASH_VERSION" ]; then exec bash "$0" "$@"; fi
top_builddir=${top_builddir:-.}
top_srcdir=${top_srcdir:-.}
HOSTILE=$top_builddir/tests/hostile/hostile
INITIATOR=${INITIATOR:-$top_builddir/examples/toeless-iscsi/toeless-iscsi}
[ -x "$HOSTILE" ] || { echo "SKIP: hostile not built (needs libuv1-dev)"; exit 77; }
[ -x "$INITIATOR" ] || { echo "SKIP: toeless-iscsi not built (needs libuv1-dev)"; exit 77; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/toeless-hostile.XXXXXX") || exit 99
HPID=
cleanup() { [ -n "$HPID" ] && kill "$HPID" 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

# the initiator's command line, under valgrind for make check-valgrind
ICMD=("$INITIATOR")
if [ -n "${TOELESS_VALGRIND:-}" ]; then
	if head -n 5 "$INITIATOR" 2>/dev/null | grep -q 'temporary wrapper script'; then
		# shellcheck disable=SC2206
		ICMD=("$top_builddir/libtool" --mode=execute $TOELESS_VALGRIND "$INITIATOR")
	else
		# shellcheck disable=SC2206
		ICMD=($TOELESS_VALGRIND "$INITIATOR")
	fi
fi

BLOCKS=2048          # 1 MiB LUN
LEN=262144           # read 256 KiB: four READ(16) of 64 KiB, all in flight
TIMEOUT=3            # --timeout: silence before the connection is dropped
RETRIES=3
LIMIT=120            # seconds a case may take before it counts as a hang
"$HOSTILE" --dump "$WORK/lun" --blocks $BLOCKS || exit 99
head -c $LEN "$WORK/lun" >"$WORK/want"

# more initiator options for a case
case_args() {
	case $1 in
	ua-storm) echo "--block-size 4096" ;; # 64 commands: 64 connections, one READ each
	esac
}

# expected exit status with --always; "ok" = reads the right bytes anyway
always_exit() {
	case $1 in
	none|s-without-f|bytewise|nop-flood|sense-overrun|ua-storm) echo ok ;;
	hdr-digest|data-digest) echo 7 ;;
	login-reject) echo 4 ;;
	*) echo 9 ;;
	esac
}

cases=${HOSTILE_CASES:-$("$HOSTILE" --list)}
n=0 bad=0 malformed=0 conns=0 recovered=0 refused=0
fails=""

report() { awk -v k="$1" '$1 == k { print $2 }' "$WORK/report"; }

# run_case NAME MODE: one run of the initiator against a fresh target
run_case() {
	local name=$1 mode=$2 want rc t0 secs why
	rm -f "$WORK/port" "$WORK/report" "$WORK/out"
	"$HOSTILE" --port-file "$WORK/port" --scenario "$name" ${mode:+--always} --blocks $BLOCKS \
		--report "$WORK/report" --idle 30 --flood 10000 2>"$WORK/hostile.err" &
	HPID=$!
	for _ in $(seq 100); do [ -s "$WORK/port" ] && break; sleep 0.05; done
	[ -s "$WORK/port" ] || { cat "$WORK/hostile.err"; echo "FAIL: hostile did not start"; exit 1; }
	t0=$(date +%s)
	timeout -k 10 $LIMIT "${ICMD[@]}" --portal "127.0.0.1:$(cat "$WORK/port")" \
		--target iqn.2024-01.org.toeless:hostile --lun 0 --header-digest crc32c --data-digest crc32c \
		--timeout $TIMEOUT --retries $RETRIES --length $LEN $(case_args "$name") read "$WORK/out" \
		>"$WORK/stdout" 2>"$WORK/stderr"
	rc=$?
	secs=$(($(date +%s) - t0))
	kill "$HPID" 2>/dev/null
	wait "$HPID" 2>/dev/null
	HPID=
	n=$((n + 1))
	malformed=$((malformed + $(report malformed)))
	conns=$((conns + $(report connections)))

	if [ -n "$mode" ]; then want=$(always_exit "$name"); else want=ok; fi
	[ "$name" = login-reject ] && want=4
	why=""
	if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
		why="hung: killed after ${LIMIT}s"
	elif [ "$want" = ok ]; then
		if [ "$rc" != 0 ]; then
			why="exit status $rc, expected 0 (recovery)"
		elif ! cmp -s "$WORK/out" "$WORK/want"; then
			why="exit status 0 but the bytes read differ from the LUN (silent corruption)"
		fi
		[ -z "$why" ] && [ "$(report connections)" -gt 1 ] && recovered=$((recovered + 1))
	else
		if [ "$rc" != "$want" ]; then
			why="exit status $rc, expected $want"
		elif [ -e "$WORK/out" ]; then
			why="failed but left its output file"
		elif ! tail -n 1 "$WORK/stderr" | grep -q '^toeless-iscsi: '; then
			why="failed without a one-line reason"
		fi
		[ -z "$why" ] && refused=$((refused + 1))
	fi
	if [ -n "$why" ]; then
		bad=$((bad + 1))
		fails="$fails $name${mode:+/always}"
		printf 'FAIL  %-26s %-7s %s\n' "$name" "${mode:-once}" "$why"
		sed 's/^/    | /' "$WORK/stderr" | tail -n 20
		sed 's/^/    | hostile: /' "$WORK/hostile.err" | tail -n 5
	else
		printf 'ok    %-26s %-7s exit %-3s %3ss  %s\n' "$name" "${mode:-once}" "$rc" "$secs" \
			"$(tail -n 1 "$WORK/stderr" | cut -c1-110)"
	fi
}

for c in $cases; do
	run_case "$c" ""
	[ "$c" = none ] || run_case "$c" always
done

summary="hostile: $n runs of $(echo "$cases" | wc -w) cases, $malformed malformed PDUs or streams sent over $conns connections; $recovered recovered, $refused failed cleanly, $bad wrong"
echo "$summary"
[ -n "${HOSTILE_SUMMARY:-}" ] && echo "$summary" >>"$HOSTILE_SUMMARY"
if [ "$bad" -gt 0 ]; then
	echo "FAIL:$fails"
	exit 1
fi
echo "PASS"
