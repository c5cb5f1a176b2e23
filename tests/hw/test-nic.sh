#!/bin/bash
# toeless-iscsi through the wire-level NIC (tools/toeless-nic) to tgtd in
# another network namespace: real TCP on both sides, HeaderDigest and
# DataDigest on, data compared byte for byte with the LUN's backing file.
#  - sw backend over the same path (the NIC only forwards)
#  - hw backend, queue depth 1 and 32: the NIC places every Data-In and
#    checks the digests (bytes_placed_engine, data_digests_engine), no
#    software fallback
#  - wire faults from a fixed seed, which make the kernels retransmit:
#    drop, reorder, duplicate, delay, a PDU header split across segments
#    (data exact; gaps make the NIC ask for resync, confirmed and counted),
#    wrong resync guesses (denied by the host, counted), corrupted payload
#    and header bytes with the TCP checksum fixed (caught by the digests)
#  - device faults on the NIC (lose-sync, drop-records, delay-records,
#    reset-after): data exact, the host takes over what the NIC did not
#    do (counted); process death: SIGKILL of the NIC mid-read (die-after), restarted
#    (the read finishes in software, exact) or not (the read fails)
#  - transmit digests: hw writes at queue depth 1 and 32 with the NIC
#    inserting both digests (host tx_digests_offloaded, NIC "inserted",
#    no miss; tgtd drops a connection on a bad digest, so an exact backing
#    file proves them), again with host->target segments lost after the
#    NIC (tx-drop: retransmissions get the digests again, "reinserted"),
#    and a NIC that leaves some zeros (tx-skip): the write must fail
# Skips (77) without root, TUN, namespaces, tgtd or the programs.
# SPDX-License-Identifier: MIT
top_builddir=${top_builddir:-.}
top_srcdir=${top_srcdir:-.}
skip() { echo "SKIP: $*"; exit 77; }
fail() { echo "FAIL: $*"; exit 1; }
TI=$top_builddir/examples/toeless-iscsi/toeless-iscsi
export TOELESS_NIC=$top_builddir/tools/toeless-nic/toeless-nic
NETNS=$top_srcdir/tools/toeless-nic/toeless-nic-netns
[ -x "$TI" ] && [ -x "$TOELESS_NIC" ] || skip "toeless-iscsi / toeless-nic not built (libuv)"
[ "$(id -u)" = 0 ] || skip "needs root"
command -v tgtd >/dev/null || skip "no tgtd"
D=$(mktemp -d "${TMPDIR:-/tmp}/toeless-nic-test.XXXXXX") || exit 99
trap '"$NETNS" down "$D"; rm -rf "$D"' EXIT
"$NETNS" up "$D"; rc=$?; [ $rc = 0 ] || { [ $rc = 77 ] && skip "no namespaces/TUN"; fail "netns up"; }
. "$D/env"
IQN=iqn.2024-01.org.toeless.test:nic$$
truncate -s 16M "$D/lun.img"
"$NETNS" nic "$D" || fail "nic start"
"$NETNS" tgtd "$D" "$D/lun.img" "$IQN" || fail "tgtd start"
LEN=4194304
head -c $LEN /dev/urandom >"$D/pat"
DIG="--header-digest crc32c --data-digest crc32c"
ti() { ip netns exec "$NIC_HOST_NS" "$TI" --portal "$NIC_TGT_ADDR:3260" --target "$IQN" --lun 1 $DIG "$@"; }
counter() { awk -v n="$1" '$1 == n { print $2; exit }' "$2"; }
nicstat() { grep -o "$1 [0-9]*" "$D/nic.log" | head -1 | awk '{print $NF}'; }

ti --backend sw --offset 0 write "$D/pat" >/dev/null || fail "sw write"
cmp -s "$D/pat" <(head -c $LEN "$D/lun.img") || fail "sw write: backing file differs"
ti --backend sw --offset 0 --length $LEN read "$D/back" >/dev/null || fail "sw read"
cmp -s "$D/pat" "$D/back" || fail "sw read differs"
echo "ok: sw backend through the wire NIC"

for qd in 1 32; do
	ti --backend "hw:$NIC_CTL" --queue-depth $qd --offset 0 --length $LEN --stats read "$D/back" >"$D/stats" 2>&1 ||
		{ cat "$D/stats"; fail "hw read qd $qd"; }
	cmp -s "$D/pat" "$D/back" || fail "hw qd $qd: data differs"
	[ "$(counter bytes_placed_engine "$D/stats")" -ge $LEN ] || { cat "$D/stats"; fail "hw qd $qd: the NIC did not place the data"; }
	[ "$(counter data_digests_engine "$D/stats")" -gt 0 ] || fail "hw qd $qd: the NIC checked no data digest"
	[ "$(counter sw_fallback_pdus "$D/stats")" = 0 ] || fail "hw qd $qd: software fallback on a clean wire"
	[ "$(counter bytes_placed_engine_host "$D/stats")" = 0 ] || fail "hw qd $qd: NIC placement counted as the host's CPU"
	echo "ok: hw qd $qd: NIC placed $(counter bytes_placed_engine "$D/stats") B, digests $(counter data_digests_engine "$D/stats")"
done

# Receive coalescing (TOELESS_HW_RX_FRAMES/USECS, doc/hw.md): the driver's
# wait for a placed PDU's rest also waits, bounded in time, for more PDUs.
# A wait that guesses too many (the last reads of a run, a shorter last
# read, reads that end early) must only end at its bound: data exact, no
# software fallback on a clean wire, and the waits really happened (the
# driver's count at -v).  Again with lost segments (records left open; the
# NIC may then be out of sync for most of the read, so waits are not required).
# coalesced NAME MIN-WAITS TI-OPTIONS...
coalesced() {
	local name=$1 min=$2
	shift 2
	# (assignments before a shell function are in its commands' environment)
	TOELESS_HW_RX_FRAMES=4 TOELESS_HW_RX_USECS=5000 ti --backend "hw:$NIC_CTL" -v --stats "$@" read "$D/back" \
		>"$D/stats" 2>&1 ||
		{ cat "$D/stats"; fail "coalescing, $name: read failed"; }
	cmp -s "$D/back" <(head -c "$(stat -c %s "$D/back")" "$D/pat") && [ -s "$D/back" ] ||
		fail "coalescing, $name: data differs"
	WAITS=$(sed -n 's/.*receive coalescing: \([0-9]*\) waits.*/\1/p' "$D/stats" | tail -1)
	[ "${WAITS:-0}" -ge "$min" ] || { cat "$D/stats"; fail "coalescing, $name: ${WAITS:-no} coalesced waits"; }
	echo "ok: coalescing, $name: exact, $WAITS coalesced waits ($(sed -n 's/.*waits for more than one PDU, //p' "$D/stats" | tail -1)), engine $(counter bytes_placed_engine "$D/stats") B"
}
coalesced "qd 16" 1 --queue-depth 16 --block-size 65536 --offset 0 --length $LEN
[ "$(counter sw_fallback_pdus "$D/stats")" = 0 ] || fail "coalescing: software fallback on a clean wire"
coalesced "qd 3, a short last read" 1 --queue-depth 3 --block-size 262144 --offset 0 --length $((LEN - 69632))
"$NETNS" nic "$D" --seed 11 --wire drop=20 || fail "nic start"
coalesced "drop=20" 0 --queue-depth 16 --block-size 65536 --offset 0 --length $LEN
"$NETNS" nic "$D" || fail "nic start"

# The hw read path's system calls (strace, when installed): the payload the
# NIC placed leaves the socket by recv(MSG_TRUNC), about one call per PDU
# (the driver waits for a PDU's final record on the socket, SO_RCVLOWAT at
# its rest), and posting an SGL rings no doorbell (an 8-byte eventfd
# write) while the context SQ has room (doc/device-interface.md).
if command -v strace >/dev/null; then
	BS=16384
	NIOS=$((LEN / BS))
	# LeakSanitizer cannot run under ptrace (sanitizer builds)
	ip netns exec "$NIC_HOST_NS" env ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" \
		strace -f -qq -e trace=write,recvfrom -o "$D/strace" "$TI" \
		--portal "$NIC_TGT_ADDR:3260" --target "$IQN" --lun 1 $DIG --backend "hw:$NIC_CTL" \
		--queue-depth 32 --block-size $BS --offset 0 --length $LEN --stats read "$D/back" >"$D/stats" 2>&1 ||
		{ cat "$D/stats"; fail "hw read under strace"; }
	cmp -s "$D/pat" "$D/back" || fail "hw read under strace: data differs"
	[ "$(counter sw_fallback_pdus "$D/stats")" = 0 ] || fail "hw read under strace: software fallback"
	trunc=$(grep -c 'MSG_TRUNC' "$D/strace")
	bells=$(grep -cE ' write\([0-9]+, "[^"]*", 8[,)< ]' "$D/strace")
	dins=$(counter data_in_placed "$D/stats")
	[ "${dins:-0}" -ge $NIOS ] || { cat "$D/stats"; fail "hw read under strace: $dins Data-In placed for $NIOS reads"; }
	[ "$trunc" -ge 1 ] && [ "$trunc" -le $((2 * dins)) ] ||
		fail "hw read: $trunc recv(MSG_TRUNC) calls for $dins placed Data-In PDUs"
	[ "$bells" -le $((NIOS / 2)) ] || fail "hw read: $bells doorbell writes for $NIOS reads (one per SGL post?)"
	echo "ok: hw read syscalls: $trunc recv(MSG_TRUNC) for $dins Data-In, $bells doorbells for $NIOS reads"
fi

# fault NAME WIRE-OPTIONS...: a NIC with these wire faults, a hw read, data exact
fault() {
	local name=$1
	shift
	"$NETNS" nic "$D" --seed 7 "$@" || fail "$name: nic start"
	ti --backend "hw:$NIC_CTL" --queue-depth 8 --offset 0 --length $LEN --stats read "$D/back" >"$D/stats" 2>&1
	FRC=$?
	"$NETNS" nic-stop "$D"
	[ "$FRC" = 0 ] && { cmp -s "$D/pat" "$D/back" || fail "$name: data differs"; }
	echo "ok: $name: exit $FRC, engine $(counter bytes_placed_engine "$D/stats") B, sw $(counter bytes_placed_sw "$D/stats") B," \
		"resyncs $(counter resyncs "$D/stats"), NIC: gaps $(nicstat gaps), retransmitted $(nicstat "retransmitted (handled)")," \
		"denied $(nicstat "resync denied")"
}
for f in drop=20 reorder=20 delay=20:5; do
	fault "$f" --wire "$f"
	[ "$FRC" = 0 ] || fail "$f: read failed"
	[ "$(nicstat gaps)" -gt 0 ] || fail "$f: no gap seen"
	[ "$(counter resyncs "$D/stats")" -gt 0 ] || fail "$f: no resync confirmed"
done
fault dup=30 --wire dup=30
[ "$FRC" = 0 ] && [ "$(nicstat "retransmitted (handled)")" -gt 0 ] || fail "dup: duplicates not seen"
# A loaded machine can make the kernels retransmit for real, and a gap stops
# placement until the next resync: most, not all, must be the engine's.
[ "$(counter bytes_placed_engine "$D/stats")" -ge $((LEN / 2)) ] || fail "dup: duplicates stopped placement"
fault split-hdr --wire split-hdr=300
[ "$FRC" = 0 ] && [ "$(nicstat split)" -gt 0 ] || fail "split-hdr: no header split"
[ "$(counter bytes_placed_engine "$D/stats")" -ge $((LEN / 2)) ] || fail "split-hdr: split headers stopped placement"
fault bad-guess --wire drop=20 --wire bad-guess=2
[ "$FRC" = 0 ] && [ "$(nicstat "resync denied")" -gt 0 ] || fail "bad-guess: no denial"
# corruption with the TCP checksum fixed: only the digests catch it, never good data
# with --offload (NIC_OFFLOAD=1) a segment is up to 64 KiB: fewer segments, a higher rate
"$NETNS" nic "$D" --seed 7 --wire corrupt-data=$([ "${NIC_OFFLOAD:-0}" = 1 ] && echo 30 || echo 5) || fail "nic"
ti --backend "hw:$NIC_CTL" --offset 0 --length $LEN --stats --retries 0 read "$D/back" >"$D/stats" 2>&1
rc=$?
"$NETNS" nic-stop "$D"
[ "$rc" != 0 ] || cmp -s "$D/pat" "$D/back" || fail "corrupt-data: bad data delivered as good"
# (offloaded segments are few and large: the flipped byte, at a segment's
# middle, may fall into a small segment's header; the header digest counts)
CAUGHT=$(counter data_digest_errors "$D/stats")
[ "${NIC_OFFLOAD:-0}" = 1 ] && CAUGHT=$((CAUGHT + $(counter header_digest_errors "$D/stats")))
[ "$(nicstat "corrupt-data")" -gt 0 ] && [ "$CAUGHT" -gt 0 ] || { cat "$D/stats"; fail "corrupt-data: not caught"; }
echo "ok: corrupt-data: $CAUGHT digest errors (exit $rc)"
"$NETNS" nic "$D" --seed 7 --wire corrupt-hdr=100 || fail "nic"
ti --backend "hw:$NIC_CTL" --offset 0 --length $LEN --stats --retries 0 read "$D/back" >"$D/stats" 2>&1
rc=$?
"$NETNS" nic-stop "$D"
[ "$(nicstat "corrupt-hdr")" -gt 0 ] || fail "corrupt-hdr: nothing corrupted"
[ "$rc" != 0 ] || fail "corrupt-hdr: a corrupted header went unnoticed"
echo "ok: corrupt-hdr: caught (exit $rc)"

# device faults (--fault, as the relay model has them) on the wire NIC: the
# data stays exact and the host counts the work it took over
# devfault NAME FAULT: a hw read at queue depth 8 through a NIC with FAULT
devfault() {
	"$NETNS" nic "$D" --fault "$2" || fail "$1: nic start"
	ti --backend "hw:$NIC_CTL" --queue-depth 8 --offset 0 --length $LEN --stats read "$D/back" >"$D/stats" 2>&1
	FRC=$?
	"$NETNS" nic-stop "$D"
	[ "$FRC" = 0 ] || { cat "$D/stats"; fail "$1: read failed"; }
	cmp -s "$D/pat" "$D/back" || fail "$1: data differs"
	DEVFAULTS=$(grep -o "faults [0-9]*" "$D/nic.log" | head -1 | awk '{print $2}')
	echo "ok: $1: exact; NIC faults $DEVFAULTS, engine $(counter bytes_placed_engine "$D/stats") B," \
		"sw $(counter bytes_placed_sw "$D/stats") B, fallback PDUs $(counter sw_fallback_pdus "$D/stats")," \
		"resyncs $(counter resyncs "$D/stats")"
}
devfault lose-sync lose-sync=10:2
[ "$(nicstat "resync req")" -gt 0 ] && [ "$(counter resyncs "$D/stats")" -gt 0 ] || fail "lose-sync: no resync"
devfault drop-records drop-records=4
[ "$DEVFAULTS" -gt 0 ] && [ "$(counter sw_fallback_pdus "$D/stats")" -gt 0 ] || fail "drop-records: nothing taken in software"
# a late record is stale when it comes: the host read that PDU itself
devfault delay-records delay-records=5:20
[ "$DEVFAULTS" -gt 0 ] && [ "$(counter sw_fallback_pdus "$D/stats")" -gt 0 ] || fail "delay-records: nothing taken in software"
devfault reset reset-after=20
grep -q "device state.*reset\|device error" "$D/stats" || { cat "$D/stats"; fail "reset: the host did not notice"; }
[ "$(counter bytes_placed_sw "$D/stats")" -gt 0 ] || fail "reset: nothing taken in software after the reset"

# process death: the NIC ends by SIGKILL in the middle of a 16 MiB read
# (--fault die-after=40: after 40 PDUs in sync, whatever the machine's
# speed; a kill -9 from here raced fast reads to their end).  The NIC is
# the wire, so it comes back (a new process, same addresses) and TCP
# carries on: the host must notice the device is gone, finish in software
# and read exact data, or fail; never deliver wrong bytes.  A NIC that
# stays dead must make the read fail.
# die RESTART(yes|no) TI OPTIONS...: sets DRC, DALIVE (the read was running when the NIC died)
die() {
	local restart=$1 pid
	shift
	"$NETNS" nic "$D" --fault die-after=40 || fail "nic"
	pid=$(cat "$D/nic.pid")
	rm -f "$D/back" "$D/rc"
	(
		ti --backend "hw:$NIC_CTL" --queue-depth 8 --offset 0 --length 16777216 --stats "$@" read "$D/back" \
			>"$D/stats" 2>&1
		echo $? >"$D/rc"
	) &
	local job=$!
	# (a dead NIC may stay a zombie until its new parent reaps it)
	alive() { [ -e "/proc/$1" ] && ! grep -q '^[0-9]* ([^)]*) Z' "/proc/$1/stat" 2>/dev/null; }
	for _ in $(seq 600); do alive "$pid" || break; [ -e "$D/rc" ] && break; sleep 0.05; done
	DALIVE=no
	[ -e "$D/rc" ] || DALIVE=yes
	alive "$pid" && { kill -9 "$pid"; echo "note: the NIC had not died by itself: killed"; }
	rm -f "$D/nic.pid"
	grep -q "die-after" "$D/nic.log" || echo "note: the NIC did not reach its die-after point"
	[ "$restart" = yes ] && { sleep 0.5; "$NETNS" nic "$D" || fail "nic restart"; }
	wait $job
	DRC=$(cat "$D/rc")
	"$NETNS" nic-stop "$D"
	[ "$DALIVE" = yes ] || fail "NIC death (restart $restart): the read ended before the NIC died"
	if [ "$DRC" = 0 ]; then
		cmp -s "$D/back" "$D/lun.img" || fail "NIC killed (restart $restart): exit 0 with wrong data"
	else
		[ -e "$D/back" ] && fail "NIC killed (restart $restart): failed but left its output"
	fi
}
die yes --timeout 5
[ "$DRC" = 0 ] || { cat "$D/stats"; fail "NIC killed and restarted: the read failed (exit $DRC)"; }
grep -q "device" "$D/stats" || { cat "$D/stats"; fail "NIC killed: the host did not notice"; }
# all connections (the third column): the read reconnects after the kill
echo "ok: NIC killed mid-read and restarted: exact, engine $(awk '$1 == "bytes_placed_engine" { print $3; exit }' "$D/stats") B," \
	"sw $(awk '$1 == "bytes_placed_sw" { print $3; exit }' "$D/stats") B"
die no --timeout 2 --retries 1
[ "$DRC" != 0 ] || fail "NIC killed for good: the read succeeded without a wire"
echo "ok: NIC killed for good mid-read: exit $DRC, no output"

# transmit digests inserted by the NIC; tgtd refuses a PDU with a bad one
head -c $LEN /dev/urandom >"$D/pat2"
for qd in 1 32; do
	"$NETNS" nic "$D" || fail "nic"
	ti --backend "hw:$NIC_CTL" --queue-depth $qd --offset 0 --retries 0 --stats write "$D/pat2" >"$D/stats" 2>&1 ||
		{ cat "$D/stats"; fail "hw write qd $qd"; }
	"$NETNS" nic-stop "$D"
	cmp -s "$D/pat2" <(head -c $LEN "$D/lun.img") || fail "hw write qd $qd: backing file differs"
	[ "$(counter tx_digests_offloaded "$D/stats")" -gt 0 ] || fail "hw write qd $qd: no digest left to the NIC"
	[ "$(nicstat inserted)" -ge "$(counter tx_digests_offloaded "$D/stats")" ] || fail "hw write qd $qd: NIC inserted too few"
	[ "$(nicstat misses)" = 0 ] || fail "hw write qd $qd: NIC missed digests"
	echo "ok: hw write qd $qd: host left $(counter tx_digests_offloaded "$D/stats") digests, NIC inserted $(nicstat inserted)"
	cp "$D/pat" "$D/pat2.old" && mv "$D/pat2" "$D/pat" && mv "$D/pat2.old" "$D/pat2" # the other pattern next
done
"$NETNS" nic "$D" --seed 7 --wire tx-drop=30 || fail "nic"
ti --backend "hw:$NIC_CTL" --queue-depth 8 --offset 0 --retries 0 --stats write "$D/pat2" >"$D/stats" 2>&1 ||
	{ cat "$D/stats"; fail "tx-drop: write"; }
"$NETNS" nic-stop "$D"
cmp -s "$D/pat2" <(head -c $LEN "$D/lun.img") || fail "tx-drop: backing file differs"
[ "$(nicstat "tx-drop")" -gt 0 ] && [ "$(nicstat "reinserted (retransmissions)")" -gt 0 ] || fail "tx-drop: no digest reinserted on retransmission"
echo "ok: tx-drop: $(nicstat "tx-drop") segments lost, digests reinserted $(nicstat "reinserted (retransmissions)")"
"$NETNS" nic "$D" --seed 7 --wire tx-skip=50 || fail "nic"
ti --backend "hw:$NIC_CTL" --queue-depth 8 --offset 0 --retries 0 write "$D/pat" >"$D/stats" 2>&1
rc=$?
"$NETNS" nic-stop "$D"
[ "$(nicstat "tx-skip")" -gt 0 ] || fail "tx-skip: nothing skipped"
[ "$rc" != 0 ] || fail "tx-skip: the target accepted zero digests"
echo "ok: tx-skip: $(nicstat "tx-skip") PDUs without digests refused by tgtd (exit $rc)"
echo PASS
