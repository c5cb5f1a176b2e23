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
# and the connection breaks after one good READ).  And the cases of issue 10:
# GOOD + underflow with no Data-In, with a 512-byte hole, with the tail
# missing; a READ never answered while NOPs are (TMFs ignored, or answered);
# a CmdSN window never opened; a flood of NOP-In pings with data while the
# target does not read (peak RSS measured against the bound); a login that
# never ends; a READ answered in full, then the connection closed at once
# (answer-close: the answer counts, what was unanswered is sent again).
# Mutual CHAP (issue 13): a target that hands the initiator the challenge it
# sent on an earlier connection (reflection), and one that answers with a
# wrong response while declaring the login done: exit 12, no SCSI command
# sent, no CHAP_R for the reflected challenge.
# Besides the exit status: the message (per case), the time bound of the
# escalation (exit 11 within esc_bound_ms()), no final output
# file and no temporary left after a failure, and, at the end, a read killed
# with SIGKILL leaves only the temporary name.
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
# (file to append "hostile: ..." figures to), HOSTILE_PING_FLOOD (pings in
# ping-flood; default 40000, 2000 under valgrind).
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
CMD_TIMEOUT=2        # --command-timeout for the stall cases
# the documented worst case of the escalation (esc_bound_ms in escalate.c)
ESC_BOUND=$((4 * CMD_TIMEOUT + 4 * TIMEOUT + 2))
PING_FLOOD=${HOSTILE_PING_FLOOD:-40000}
[ -n "${TOELESS_VALGRIND:-}" ] && PING_FLOOD=${HOSTILE_PING_FLOOD:-2000}
# peak RSS allowed above the control run's: the bound (64 replies of 8 KiB,
# or 1 MiB) plus room for the allocator; an unbounded queue takes ~320 MB
RSS_MARGIN_KIB=16384
# RSS is measured on plain builds only: valgrind's is its own, and ASan's
# quarantine keeps freed memory resident by design
# Peak RSS comes from GNU time (%M: the largest ru_maxrss, i.e. VmHWM, of
# the process and its children: the libtool wrapper's shell is far smaller).
MEASURE_RSS=1
[ -n "${TOELESS_VALGRIND:-}" ] && MEASURE_RSS=0
[ -x /usr/bin/time ] || MEASURE_RSS=0
for b in "$INITIATOR" "$(dirname "$INITIATOR")/.libs/$(basename "$INITIATOR")"; do
	[ -f "$b" ] && grep -qa __asan_init "$b" && MEASURE_RSS=0
done
"$HOSTILE" --dump "$WORK/lun" --blocks $BLOCKS || exit 99
head -c $LEN "$WORK/lun" >"$WORK/want"

# more initiator options for a case
case_args() {
	case $1 in
	ua-storm) echo "--block-size 4096" ;; # 64 commands: 64 connections, one READ each
	stall-ping|stall-abortable|window-closed) echo "--command-timeout $CMD_TIMEOUT --stats" ;;
	chap-*) echo "--chap-user alice --chap-target-user hostile" ;;
	ping-flood) echo "--stats" ;;
	esac
}

# expected exit status with one misbehaving connection: "ok" = reads right
once_exit() {
	case $1 in
	login-reject|login-endless) echo 4 ;;
	underflow-nodata|underflow-tail) echo 8 ;;
	chap-*) echo 12 ;;
	*) echo ok ;;
	esac
}

# what the last line of stderr must say when the run fails (grep -E)
fail_message() {
	case $1 in
	underflow-nodata) echo "reported GOOD but sent only 0 bytes \(residual underflow 65536\); the read is incomplete" ;;
	underflow-tail) echo "reported GOOD but sent only 65024 bytes \(residual underflow 512\)" ;;
	underflow-hole) echo "reported 65024 bytes \(residual 512\), but only the first 32768 arrived with no hole" ;;
	stall-ping|stall-abortable) echo "READ\(16\) ITT .* got no answer within --command-timeout $CMD_TIMEOUT s, after ABORT TASK, LOGICAL UNIT RESET and a new connection; giving up" ;;
	window-closed) echo "kept the CmdSN window closed for $CMD_TIMEOUT s .* on a new connection too; giving up" ;;
	login-endless) echo "negotiation did not finish within 16 exchanges \(the limit\)" ;;
	unknown-opcode) echo "unexpected vendor-specific initiator PDU \(opcode 0x1c\)" ;;
	chap-reflect) echo "the target sent back a challenge of ours \(reflection\)" ;;
	chap-bad-mutual) echo "mutual CHAP: the target's response is wrong" ;;
	*) echo . ;;
	esac
}

# an initiator counter from --stats
stat() { awk -v k="$1" '$1 == k { print $2 }' "$WORK/stdout" | tail -n 1; }


# expected exit status with --always; "ok" = reads the right bytes anyway
always_exit() {
	case $1 in
	none|s-without-f|bytewise|nop-flood|sense-overrun|ua-storm|ping-flood|answer-close) echo ok ;;
	hdr-digest|data-digest) echo 7 ;;
	login-reject|login-endless) echo 4 ;;
	underflow-nodata|underflow-tail) echo 8 ;;
	chap-*) echo 12 ;;
	stall-ping|stall-abortable|window-closed) echo 11 ;;
	*) echo 9 ;;
	esac
}

cases=${HOSTILE_CASES:-$("$HOSTILE" --list)}
n=0 bad=0 malformed=0 conns=0 recovered=0 refused=0
fails=""

report() { awk -v k="$1" '$1 == k { print $2 }' "$WORK/report"; }

# run_case NAME MODE: one run of the initiator against a fresh target
run_case() {
	local name=$1 mode=$2 want rc t0 secs why hwm=""
	rm -f "$WORK/port" "$WORK/report" "$WORK/out" "$WORK"/.out.toeless-*
	"$HOSTILE" --port-file "$WORK/port" --scenario "$name" ${mode:+--always} --blocks $BLOCKS \
		--report "$WORK/report" --idle 30 --flood 10000 --ping-flood "$PING_FLOOD" 2>"$WORK/hostile.err" &
	HPID=$!
	for _ in $(seq 100); do [ -s "$WORK/port" ] && break; sleep 0.05; done
	[ -s "$WORK/port" ] || { cat "$WORK/hostile.err"; echo "FAIL: hostile did not start"; exit 1; }
	t0=$(date +%s)
	local tcmd=()
	if [ "$MEASURE_RSS" = 1 ] && { [ "$name" = ping-flood ] || [ "$name" = none ]; }; then
		tcmd=(/usr/bin/time -f %M -o "$WORK/hwm")
	fi
	# the chap-* cases log in with mutual CHAP, secrets from the environment
	local cenv=()
	[[ $name == chap-* ]] && cenv=(env TOELESS_CHAP_SECRET=alice-secret-12 TOELESS_CHAP_TARGET_SECRET=hostile-secret-34)
	# shellcheck disable=SC2046
	timeout -k 10 $LIMIT "${cenv[@]}" "${tcmd[@]}" "${ICMD[@]}" --portal "127.0.0.1:$(cat "$WORK/port")" \
		--target iqn.2024-01.org.toeless:hostile --lun 0 --header-digest crc32c --data-digest crc32c \
		--timeout $TIMEOUT --retries $RETRIES --length $LEN $(case_args "$name") read "$WORK/out" \
		>"$WORK/stdout" 2>"$WORK/stderr"
	rc=$?
	secs=$(($(date +%s) - t0))
	[ ${#tcmd[@]} -gt 0 ] && hwm=$(tail -n 1 "$WORK/hwm")
	[ "$name" = none ] && [ -z "$mode" ] && BASE_HWM=$hwm
	kill "$HPID" 2>/dev/null
	wait "$HPID" 2>/dev/null
	HPID=
	n=$((n + 1))
	malformed=$((malformed + $(report malformed)))
	conns=$((conns + $(report connections)))

	if [ -n "$mode" ]; then want=$(always_exit "$name"); else want=$(once_exit "$name"); fi
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
		elif ls "$WORK"/.out.toeless-* >/dev/null 2>&1; then
			why="failed but left its temporary file"
		elif ! tail -n 1 "$WORK/stderr" | grep -q '^toeless-iscsi: '; then
			why="failed without a one-line reason"
		elif ! tail -n 1 "$WORK/stderr" | grep -Eq "$(fail_message "$name")"; then
			why="failed, but not with the expected message: $(fail_message "$name")"
		elif [ "$want" = 11 ] && [ "$secs" -gt "$ESC_BOUND" ]; then
			why="exit 11 after ${secs}s, past the documented bound of ${ESC_BOUND}s"
		fi
		[ -z "$why" ] && refused=$((refused + 1))
	fi
	# what each new case must also show
	if [ -z "$why" ]; then
		case $name/${mode:-once} in
		stall-abortable/once)
			# ABORT TASK answered: the READ is sent again on the same connection
			[ "$(report connections)" = 1 ] || why="aborted command not recovered on its connection"
			[ "$(stat abort_task_done)" = 1 ] || why="abort_task_done $(stat abort_task_done), expected 1"
			;;
		stall-abortable/always)
			[ "$(stat lun_reset_done)" -ge 1 ] 2>/dev/null || why="no LOGICAL UNIT RESET answered"
			[ "$(report connections)" = 2 ] || why="$(report connections) connections, expected 2"
			;;
		stall-ping/*)
			[ "$(report tmf)" -ge 2 ] || why="$(report tmf) TMF requests, expected ABORT TASK and LUN RESET"
			[ "$(report connections)" = 2 ] || why="$(report connections) connections, expected 2"
			;;
		chap-*/*)
			# never past the security stage: no SCSI command, no answer to a reflected challenge
			[ "$(report commands)" = 0 ] || why="$(report commands) SCSI commands after a failed CHAP"
			[ "$(report reflected_answered)" = 0 ] || why="answered its own challenge sent back to it"
			[ "$name" = chap-reflect ] && [ "$(report connections)" != 2 ] &&
				why="$(report connections) connections, expected 2 (the reflection is on the second)"
			;;
		ping-flood/*)
			[ "$(report pings_answered)" -ge "$PING_FLOOD" ] || why="$(report pings_answered) of $PING_FLOOD pings answered"
			[ "$(stat ping_replies_peak)" -le 64 ] 2>/dev/null || why="ping_replies_peak $(stat ping_replies_peak) > 64"
			if [ "$MEASURE_RSS" = 1 ] && [ -n "${BASE_HWM:-}" ] && [ "$hwm" -gt $((BASE_HWM + RSS_MARGIN_KIB)) ]; then
				why="peak RSS ${hwm} KiB, more than the control run's ${BASE_HWM} KiB + ${RSS_MARGIN_KIB} KiB"
			fi
			;;
		esac
		if [ -n "$why" ]; then
			[ "$want" = ok ] && recovered=$((recovered - ($(report connections) > 1))) || refused=$((refused - 1))
		fi
	fi
	[ -n "$hwm" ] && [ "$MEASURE_RSS" = 1 ] && echo "      peak RSS of $name/${mode:-once}: $hwm KiB (VmHWM)"
	[ "$name" = ping-flood ] && [ -n "$hwm" ] && [ "$MEASURE_RSS" = 1 ] && PEAK_FLOOD=$hwm
	[ "$want" = 11 ] && MAX_ESC=$(( secs > ${MAX_ESC:-0} ? secs : ${MAX_ESC:-0} ))
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

# the control run first: its peak RSS is the baseline of ping-flood's
case " $(echo $cases) " in *" ping-flood "*) case " $(echo $cases) " in *" none "*) ;; *) cases="none $cases" ;; esac ;; esac
cases=$(echo $cases | tr ' ' '\n')
cases=$( (echo "$cases" | grep -x none; echo "$cases" | grep -vx none) )
for c in $cases; do
	run_case "$c" ""
	[ "$c" = none ] || run_case "$c" always
done

# SIGKILL in the middle of a read: FILE must not exist, only the temporary
if echo "$cases" | grep -qx stall-ping; then
	rm -f "$WORK/port" "$WORK/out" "$WORK"/.out.toeless-*
	"$HOSTILE" --port-file "$WORK/port" --scenario stall-ping --blocks $BLOCKS --idle 30 2>/dev/null &
	HPID=$!
	for _ in $(seq 100); do [ -s "$WORK/port" ] && break; sleep 0.05; done
	"$INITIATOR" --portal "127.0.0.1:$(cat "$WORK/port")" --target iqn.2024-01.org.toeless:hostile \
		--command-timeout 60 --length $LEN read "$WORK/out" >/dev/null 2>&1 &
	IPID=$!
	for _ in $(seq 100); do ls "$WORK"/.out.toeless-* >/dev/null 2>&1 && break; sleep 0.05; done
	sleep 0.5
	kill -KILL "$IPID"
	wait "$IPID" 2>/dev/null
	kill "$HPID" 2>/dev/null
	wait "$HPID" 2>/dev/null
	HPID=
	n=$((n + 1))
	if [ -e "$WORK/out" ]; then
		bad=$((bad + 1)) fails="$fails killed"
		echo "FAIL  killed mid-read: $WORK/out exists"
	elif ! ls "$WORK"/.out.toeless-* >/dev/null 2>&1; then
		bad=$((bad + 1)) fails="$fails killed"
		echo "FAIL  killed mid-read: no temporary file was being written"
	else
		echo "ok    killed mid-read with SIGKILL: only $(basename "$(ls "$WORK"/.out.toeless-*)") left, no out"
	fi
fi

[ -n "${MAX_ESC:-}" ] && echo "      slowest escalation to exit 11: ${MAX_ESC}s (bound ${ESC_BOUND}s)"
summary="hostile: $n runs of $(echo "$cases" | wc -w) cases, $malformed malformed PDUs or streams sent over $conns connections; $recovered recovered, $refused failed cleanly, $bad wrong${PEAK_FLOOD:+; ping-flood peak RSS ${PEAK_FLOOD} KiB (control ${BASE_HWM} KiB)}${MAX_ESC:+; escalation ended in ${MAX_ESC}s (bound ${ESC_BOUND}s)}"
echo "$summary"
[ -n "${HOSTILE_SUMMARY:-}" ] && echo "$summary" >>"$HOSTILE_SUMMARY"
if [ "$bad" -gt 0 ]; then
	echo "FAIL:$fails"
	exit 1
fi
echo "PASS"
