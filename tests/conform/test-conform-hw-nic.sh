#!/bin/bash
# toeless-conform against the hw backend across the wire-level NIC
# (tools/toeless-nic): the library's side in one network namespace, the
# suite's target side in the other, every connection real TCP through the
# NIC process, which places and checks in TCP sequence space and inserts
# transmit digests.  Besides "every case passed", the NIC's own counters
# must show that it did the work:
#  - clean wire: the whole suite passes; the NIC placed bytes, checked data
#    digests, inserted transmit digests, missed none
#  - target->host segments dropped and reordered (--wire drop=20,reorder=20:
#    the kernels retransmit): the whole suite passes again; the NIC saw gaps
#    and the host confirmed resyncs (placement resumed after them)
#  - host->target segments lost after the NIC inserted (--wire tx-drop): the
#    tx.* cases pass and the NIC wrote digests into retransmissions
#    ("reinserted"), which the suite's peer checked like the first ones
#  - a NIC that leaves some transmit digests as the host's zeros
#    (--wire tx-skip): tx.digests must fail
# Skips (77) without root, TUN, network namespaces or the NIC (libuv).
# The hook for the hw engineers: tests/conform/exclude/hw-nic.exclude.
# SPDX-License-Identifier: MIT
. "${top_srcdir:-.}/tests/conform/conform-lib.sh"
export TOELESS_NIC=${TOELESS_NIC:-$top_builddir/tools/toeless-nic/toeless-nic}
NETNS=$top_srcdir/tools/toeless-nic/toeless-nic-netns
skip() { echo "SKIP: $*"; exit 77; }
fail() { echo "FAIL: $*"; exit 1; }
[ -x "$TOELESS_NIC" ] || skip "toeless-nic not built (needs libuv1-dev)"
[ "$(id -u)" = 0 ] || skip "needs root (network namespaces, TUN)"
D=$WORK/nic
trap '"$NETNS" down "$D"; rm -rf "$WORK"' EXIT
"$NETNS" up "$D"; rc=$?; [ $rc = 0 ] || { [ $rc = 77 ] && skip "no namespaces/TUN"; fail "netns up"; }
. "$D/env"
EXCL=
[ -f "$top_srcdir/tests/conform/exclude/hw-nic.exclude" ] && EXCL="--exclude $top_srcdir/tests/conform/exclude/hw-nic.exclude"
# the first number after NAME in the NIC's final report
nicstat() { grep -o "$1 [0-9][0-9]*" "$D/nic.log" | head -1 | awk '{print $NF}'; }
across() {
	# shellcheck disable=SC2086
	conform --backend "hw:$NIC_CTL" --netns "$NIC_HOST_NS" --peer-netns "$NIC_TGT_NS" \
		--target-listen "$NIC_TGT_ADDR:0" $EXCL "$@"
}

"$NETNS" nic "$D" || fail "nic start"
across --junit "$WORK/junit.xml"
rc=$?
"$NETNS" nic-stop "$D"
[ $rc = 0 ] || { tail -5 "$D/nic.log"; fail "toeless-conform exited $rc across the wire NIC"; }
grep -q '^not ok' "$OUT" && fail "exit 0 with a failed case"
grep -q 'failures="0"' "$WORK/junit.xml" || fail "JUnit XML reports failures"
grep -q '^ok [0-9]* - tx.engine # [0-9]' "$OUT" || fail "tx.engine did not run (no TOELESS_CAP_CRC_TX through the NIC?)"
grep -q '^ok [0-9]* - place.engine # [0-9]' "$OUT" || fail "place.engine did not run"
tail -3 "$D/nic.log"
placed=$(nicstat "placed") digests=$(nicstat "digests") inserted=$(nicstat "inserted") misses=$(nicstat "misses")
[ "${placed:-0}" -gt 0 ] || fail "the NIC placed nothing"
[ "${digests:-0}" -gt 0 ] || fail "the NIC checked no data digest"
[ "${inserted:-0}" -gt 0 ] || fail "the NIC inserted no transmit digest"
[ "$misses" = 0 ] || fail "the NIC missed $misses transmit digests on a clean wire"
echo "ok: suite across the wire NIC: NIC placed $placed B, checked $digests data digests, inserted $inserted tx digests"

"$NETNS" nic "$D" --seed 7 --wire drop=20 --wire reorder=20 || fail "nic start (drop, reorder)"
across
rc=$?
"$NETNS" nic-stop "$D"
[ $rc = 0 ] || { tail -3 "$D/nic.log"; fail "toeless-conform exited $rc across a lossy wire"; }
gaps=$(nicstat "gaps") resyncs=$(sed -n 's/.*resync req [0-9]* ok \([0-9]*\).*/\1/p' "$D/nic.log" | head -1)
[ "${gaps:-0}" -gt 0 ] || fail "drop/reorder: the NIC saw no gap"
[ "${resyncs:-0}" -gt 0 ] || fail "drop/reorder: no resync confirmed"
[ "$(nicstat "placed")" -gt 0 ] || fail "drop/reorder: the NIC placed nothing"
echo "ok: suite across a lossy wire: $(nicstat "drop") dropped, $(nicstat "reorder") reordered, $gaps gaps," \
	"$resyncs resyncs confirmed, NIC placed $(nicstat "placed") B"

"$NETNS" nic "$D" --seed 7 --wire tx-drop=300 || fail "nic start (tx-drop)"
across --only 'tx.*'
rc=$?
"$NETNS" nic-stop "$D"
[ $rc = 0 ] || fail "tx.* with host->target segments lost: exit $rc"
re=$(nicstat "reinserted (retransmissions)")
[ "$(nicstat "tx-drop")" -gt 0 ] && [ "${re:-0}" -gt 0 ] || fail "tx-drop: no digest written into a retransmission"
echo "ok: tx-drop: $(nicstat "tx-drop") segments lost after the NIC, $re digests reinserted, all checked on the wire"

"$NETNS" nic "$D" --seed 7 --wire tx-skip=500 || fail "nic start (tx-skip)"
across --only 'tx.digests'
rc=$?
"$NETNS" nic-stop "$D"
[ "$(nicstat "tx-skip")" -gt 0 ] || fail "tx-skip: nothing skipped"
[ $rc = 1 ] && grep -q '^not ok [0-9]* - tx.digests$' "$OUT" || fail "tx-skip: a NIC leaving zero digests was not caught (exit $rc)"
echo "ok: tx-skip: $(nicstat "tx-skip") records left without digests, tx.digests failed as it must"
echo PASS
