#!/bin/bash
# Discovery: a SendTargets discovery session lists every target of the
# portal with its portal address and group tag; REPORT LUNS lists LUN 0
# (tgtd's controller) and the disk LUNs.  Skips (77) without root or tgtd.
#
# SPDX-License-Identifier: MIT
. "${top_srcdir:-.}/tests/iscsi/fixture.sh"

tgt_start 4
IQN2=$TGT_IQN-second
truncate -s 4M "$WORK/lun2.img"
tgt_add_target 2 "$IQN2" "$WORK/lun2.img"
tgtadm_ --op new --mode logicalunit --tid 2 --lun 3 -b "$WORK/lun2.img" || fail "tgtadm: LUN 3"

echo "== discover"
expect_exit 0 initiator --portal "127.0.0.1:$TGT_PORT" --header-digest any discover
grep -qx "$TGT_IQN" "$WORK/out" || fail "first target not listed"
grep -qx "$IQN2" "$WORK/out" || fail "second target not listed"
[ "$(grep -c "portal 127.0.0.1:$TGT_PORT,1" "$WORK/out")" = 2 ] || fail "portal 127.0.0.1:$TGT_PORT,1 not listed twice"
expect_exit 2 initiator --portal "127.0.0.1:$TGT_PORT" --target "$TGT_IQN" discover

echo "== luns"
expect_exit 0 initiator --portal "127.0.0.1:$TGT_PORT" --target "$IQN2" luns
[ "$(tr '\n' ' ' <"$WORK/out")" = "0 1 3 " ] || fail "LUNs of the second target: $(tr '\n' ' ' <"$WORK/out")"
expect_exit 0 ti luns
[ "$(tr '\n' ' ' <"$WORK/out")" = "0 1 " ] || fail "LUNs of the first target"
echo "== unknown target in a normal session"
expect_exit 4 initiator --portal "127.0.0.1:$TGT_PORT" --target "$TGT_IQN-nope" luns
echo PASS
