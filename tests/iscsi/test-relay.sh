#!/bin/sh
# Digest errors at ErrorRecoveryLevel 0, through a corrupting TCP relay
# (tests/iscsi/relay) between toeless-iscsi and tgtd that flips one bit in a
# Data-In PDU on each connection, in its header or its payload, after the
# first command of that connection completed:
#  - every corruption the relay sends is detected (the library's header and
#    data digest error counters equal the relay's counts),
#  - the initiator drops the connection, logs in again and reissues, and
#  - what it read is still exactly what is on the LUN.
# When every connection is corrupted, it gives up after --retries with exit
# status 7 and leaves no output file.
#
# SPDX-License-Identifier: MIT
if [ -z "$BASH_VERSION" ]; then exec bash "$0" "$@"; fi
. "${top_srcdir:-.}/tests/iscsi/fixture.sh"
RELAY=$top_builddir/tests/iscsi/relay
[ -x "$RELAY" ] || skip "relay not built"

tgt_start 16
tgt_digests CRC32C,None
RELAY_PID=

start_relay() {
	rm -f "$WORK/rport" "$WORK/report"
	"$RELAY" --port-file "$WORK/rport" --target "127.0.0.1:$TGT_PORT" --report "$WORK/report" "$@" &
	RELAY_PID=$!
	BG_PIDS="$BG_PIDS $RELAY_PID"
	for i in $(seq 50); do [ -s "$WORK/rport" ] && break; sleep 0.1; done
	[ -s "$WORK/rport" ] || fail "relay did not start"
	RPORT=$(cat "$WORK/rport")
}
stop_relay() { kill "$RELAY_PID" 2>/dev/null; wait "$RELAY_PID" 2>/dev/null; RELAY_PID=; }
report() { awk -v n="$1" '$1 == n { print $2 }' "$WORK/report"; }
# toeless-iscsi through the relay
tr_() { initiator --portal "127.0.0.1:$RPORT" --target "$TGT_IQN" --lun 1 "$@"; }

LEN=8388608
random_file "$WORK/pat" $LEN
ti --header-digest crc32c --data-digest crc32c write "$WORK/pat" >/dev/null || fail "initial write failed"

# corrupted_read NAME HD DD RELAY-ARGS -- INITIATOR-ARGS
corrupted_read() {
	local name=$1 hd=$2 dd=$3
	shift 3
	local rargs=()
	while [ "$1" != "--" ]; do rargs+=("$1"); shift; done
	shift
	start_relay "${rargs[@]}"
	rm -f "$WORK/back"
	# The relay corrupts at most a handful of PDUs; allow more reconnections
	# than that, so a run where several land before any command completes
	# (timing on a loaded machine) still recovers instead of giving up.
	tr_ --header-digest "$hd" --data-digest "$dd" --max-recv-dsl 16384 --length $LEN --stats --retries 20 "$@" \
		read "$WORK/back" >"$WORK/stats" 2>"$WORK/err"
	local rc=$?
	stop_relay
	sed 's/^/    | /' "$WORK/err"
	[ $rc = 0 ] || fail "$name: exit status $rc"
	cmp -s "$WORK/pat" "$WORK/back" || fail "$name: data read through the relay differs"
	local nc=$(report corruptions) nh=$(report header) np=$(report payload)
	local lh=$(counter hdr_digest_errors "$WORK/stats") ld=$(counter data_digest_errors "$WORK/stats")
	local conns=$(counter connections "$WORK/stats")
	echo "    relay: $nc corruptions ($nh header, $np payload); library: $lh header, $ld data digest errors; $conns connections"
	[ "$nc" -gt 0 ] || fail "$name: the relay corrupted nothing"
	[ "$lh" = "$nh" ] || fail "$name: $nh header corruptions sent, $lh detected"
	[ "$ld" = "$np" ] || fail "$name: $np payload corruptions sent, $ld detected"
	[ "$conns" = $((nc + 1)) ] || fail "$name: $conns connections for $nc corruptions"
	check '[ "$(counter commands_reissued "$WORK/stats")" -gt 0 ]' "$name: nothing reissued"
	echo "ok: $name"
}

corrupted_read "headers and payloads, qd 8" crc32c crc32c --after-status --nth 3 --max 8 --mode alternate --seed 1 -- \
	--block-size 65536 --queue-depth 8
check '[ "$(report header)" -gt 0 ] && [ "$(report payload)" -gt 0 ]' "alternate mode did not do both"

corrupted_read "payloads only (DataDigest), qd 32, READs of many PDUs" none crc32c --after-status --nth 5 --max 6 --mode payload --seed 2 -- \
	--block-size 262144 --queue-depth 32

corrupted_read "headers only (HeaderDigest), qd 1" crc32c none --after-status --nth 2 --max 5 --mode header --seed 3 -- \
	--block-size 32768 --queue-depth 1

# every connection corrupted before any READ completes: bounded retries, exit 7
start_relay --nth 1 --max 1000 --mode payload --min-len 4096
rm -f "$WORK/back"
expect_exit 7 tr_ --header-digest crc32c --data-digest crc32c --length $LEN --retries 3 read "$WORK/back"
stop_relay
grep -q "digest errors persisted" "$WORK/err" || fail "no clear message when digest errors persist"
[ ! -e "$WORK/back" ] || fail "data from a failed read was left behind"
[ "$(report corruptions)" = 4 ] || fail "expected 4 attempts (1 + 3 retries), relay saw $(report corruptions)"
echo "ok: persistent digest errors end with exit 7 after 1 + 3 attempts, no data returned"
exit 0
