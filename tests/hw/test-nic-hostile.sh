#!/bin/bash
# Issue 12, item 6: what an independent stream test caught in the relay
# model, tried against the wire NIC (tools/toeless-nic) with the hw
# backend.  The target is tests/hostile/hostile, run in the target's
# network namespace, because tgtd cannot misbehave on purpose:
#  - dsl-over-max: a Data-In longer than the MaxRecvDataSegmentLength the
#    initiator declared must reach the host at once, not be held by the
#    NIC: the host refuses it with its own message, and the whole run (four
#    connections) ends before one --timeout would have passed;
#  - truncated-close: half a Data-In, then the target closes: the host
#    sees a reset ("the peer closed mid-PDU", or the kernel's "Connection
#    reset by peer" when the close sent a RST), never a clean end or a
#    short success;
#  - answer-close: a READ answered in full (the NIC places it), then the
#    target closes at once (FIN): what the NIC already passed on counts,
#    only the rest is sent again (one connection per READ with --always),
#    the data is exact.  Once with the target->host
#    data segments delayed by the NIC (delay=1000:30), so that the target's
#    FIN overtakes them and the host is behind when the connection closes.
# Each with one misbehaving connection (the initiator recovers, data
# exact) and with every connection misbehaving (--always).  Then all of it
# again with the hw driver's receive coalescing on (TOELESS_HW_RX_FRAMES /
# USECS, doc/hw.md): its waits guess that more PDUs follow, which a target
# that stops, cuts or closes proves wrong; nothing may change but latency.
# Skips (77) without root, TUN, namespaces or the programs.
# SPDX-License-Identifier: MIT
top_builddir=${top_builddir:-.}
top_srcdir=${top_srcdir:-.}
skip() { echo "SKIP: $*"; exit 77; }
fail() { echo "FAIL: $*"; exit 1; }
TI=$top_builddir/examples/toeless-iscsi/toeless-iscsi
HOSTILE=$top_builddir/tests/hostile/hostile
export TOELESS_NIC=$top_builddir/tools/toeless-nic/toeless-nic
NETNS=$top_srcdir/tools/toeless-nic/toeless-nic-netns
[ -x "$TI" ] && [ -x "$TOELESS_NIC" ] && [ -x "$HOSTILE" ] || skip "toeless-iscsi / toeless-nic / hostile not built (libuv)"
[ "$(id -u)" = 0 ] || skip "needs root"
D=$(mktemp -d "${TMPDIR:-/tmp}/toeless-nic-hostile.XXXXXX") || exit 99
HPID=
trap '[ -n "$HPID" ] && kill $HPID 2>/dev/null; "$NETNS" down "$D"; rm -rf "$D"' EXIT
"$NETNS" up "$D"; rc=$?; [ $rc = 0 ] || { [ $rc = 77 ] && skip "no namespaces/TUN"; fail "netns up"; }
. "$D/env"
BLOCKS=2048  # 1 MiB LUN
LEN=262144   # four READ(16) of 64 KiB
TIMEOUT=5    # --timeout: what a held PDU would cost
"$HOSTILE" --dump "$D/lun" --blocks $BLOCKS || exit 99
head -c $LEN "$D/lun" >"$D/want"
counter() { awk -v n="$1" '$1 == n { print $2; exit }' "$D/stats"; }
report() { awk -v k="$1" '$1 == k { print $2 }' "$D/report"; }

# run SCENARIO MODE(once|always) [NIC OPTIONS...]: sets RC, SECS
run() {
	local sc=$1 mode=$2
	shift 2
	"$NETNS" nic "$D" "$@" || fail "$sc: nic start"
	rm -f "$D/port" "$D/report" "$D/out"
	ip netns exec "$NIC_TGT_NS" "$HOSTILE" --address "$NIC_TGT_ADDR" --port-file "$D/port" --scenario "$sc" \
		$([ "$mode" = always ] && echo --always) --blocks $BLOCKS --report "$D/report" --idle 30 \
		2>"$D/hostile.err" &
	HPID=$!
	for _ in $(seq 100); do [ -s "$D/port" ] && break; sleep 0.05; done
	[ -s "$D/port" ] || { cat "$D/hostile.err"; fail "hostile did not start"; }
	local t0=$(date +%s%N)
	timeout -k 5 120 ip netns exec "$NIC_HOST_NS" "$TI" --portal "$NIC_TGT_ADDR:$(cat "$D/port")" \
		--target iqn.2024-01.org.toeless:hostile --lun 0 --header-digest crc32c --data-digest crc32c \
		--backend "hw:$NIC_CTL" --timeout $TIMEOUT --retries 3 --length $LEN --stats read "$D/out" \
		>"$D/stats" 2>"$D/stderr"
	RC=$?
	MS=$((($(date +%s%N) - t0) / 1000000))
	kill $HPID 2>/dev/null
	wait $HPID 2>/dev/null
	HPID=
	"$NETNS" nic-stop "$D"
	grep -q "hw: attached" "$D/stderr" "$D/stats" 2>/dev/null || [ -n "$(counter bytes_placed_engine)" ] ||
		{ cat "$D/stderr"; fail "$sc $mode: the hw backend was not used"; }
}
exact() { # NAME: exit 0 and the LUN's bytes
	[ "$RC" = 0 ] || { cat "$D/stderr"; fail "$1: exit $RC, expected recovery"; }
	cmp -s "$D/out" "$D/want" || fail "$1: exit 0 but the bytes differ from the LUN"
}
refused() { # NAME MESSAGE: exit 9, no output, the reason on the last line
	[ "$RC" = 9 ] || { cat "$D/stderr"; fail "$1: exit $RC, expected 9"; }
	[ -e "$D/out" ] && fail "$1: failed but left its output file"
	tail -n 1 "$D/stderr" | grep -Eq "$2" || { cat "$D/stderr"; fail "$1: not the expected reason: $2"; }
}

run dsl-over-max once
exact "dsl-over-max once"
grep -q "longer than the negotiated MaxRecvDataSegmentLength" "$D/stderr" || { cat "$D/stderr"; fail "dsl-over-max once: not refused by the host"; }
echo "ok: dsl-over-max once: refused by the host, recovered, data exact (${MS} ms)"
run dsl-over-max always
refused "dsl-over-max always" "data segment longer than the negotiated MaxRecvDataSegmentLength"
[ "$(report connections)" -ge 4 ] || fail "dsl-over-max always: $(report connections) connections"
# four connections, each refused at once: a PDU held by the NIC would cost
# a --timeout on the first one already
[ $MS -lt $((TIMEOUT * 1000)) ] || fail "dsl-over-max always: ${MS} ms, the oversized PDU was held"
echo "ok: dsl-over-max always: $(report connections) connections refused in ${MS} ms (< ${TIMEOUT} s --timeout)"

run truncated-close once
exact "truncated-close once"
echo "ok: truncated-close once: recovered, data exact"
run truncated-close always
# the target's close() may send a reset (our commands unread): either way
# the host must end each connection as a reset: "the peer closed mid-PDU"
# (it read the half PDU, then the end), the kernel's "Connection reset by
# peer", or EPIPE when the reset reached the host while it was still
# sending its commands ("Broken pipe" from the session's socket, "sending a
# PDU failed: connection closed by the peer" from the library's send;
# under load, every connection can end so); never as a clean end
RESET="connection reset: the peer closed mid-PDU|socket error: Connection reset by peer|socket error: Broken pipe|sending a PDU failed: connection closed by the peer"
refused "truncated-close always" "$RESET"
n_ends=$(grep -cE "connection dropped|giving up" "$D/stderr")
n_resets=$(grep -E "connection dropped|giving up" "$D/stderr" | grep -cE "$RESET")
[ "$n_ends" -ge 4 ] && [ "$n_resets" = "$n_ends" ] ||
	{ cat "$D/stderr"; fail "truncated-close always: $n_resets of $n_ends connection ends were resets"; }
! grep -q "the target closed the connection" "$D/stderr" ||
	{ cat "$D/stderr"; fail "truncated-close always: a truncated PDU was taken for a clean end"; }
echo "ok: truncated-close always: $n_ends connection ends, all resets, exit 9, no output (${MS} ms)"

for mode in once always; do
	for wire in "" "--wire delay=1000:30"; do
		# shellcheck disable=SC2086
		run answer-close $mode $wire
		exact "answer-close $mode $wire"
		# every answer counts once: one connection per READ (--always),
		# or the first answer and then one connection for the rest
		want=2
		[ $mode = always ] && want=$((LEN / 65536))
		[ "$(report connections)" = $want ] && [ "$(report fired)" -ge 1 ] ||
			{ cat "$D/stderr"; fail "answer-close $mode $wire: $(report connections) connections, not $want: an answer received before the close was thrown away"; }
		# on a clean wire the NIC places the answers; delayed segments
		# leave its hold out of order (gaps), the host's software takes them
		[ -n "$wire" ] || [ "$(counter bytes_placed_engine)" -ge 65536 ] ||
			{ cat "$D/stats"; fail "answer-close $mode: the NIC placed no whole answer"; }
		[ -z "$wire" ] || grep -q " delay [1-9]" "$D/nic.log" ||
			{ cat "$D/nic.log"; fail "answer-close $mode $wire: no segment delayed"; }
		echo "ok: answer-close $mode ${wire:-(clean wire)}: data exact, $(report connections) connections," \
			"NIC placed $(counter bytes_placed_engine) B, host $(counter bytes_placed_sw) B"
	done
done
if [ -z "${TOELESS_HW_RX_FRAMES:-}" ]; then
	echo "== again with receive coalescing (8 PDUs or 5000 us)"
	TOELESS_HW_RX_FRAMES=8 TOELESS_HW_RX_USECS=5000 top_builddir=$top_builddir top_srcdir=$top_srcdir "$0" || exit $?
	exit 0
fi
echo PASS
