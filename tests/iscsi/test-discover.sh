#!/bin/bash
# Discovery: a SendTargets discovery session lists every target of the
# portal with its portal address and group tag; REPORT LUNS lists LUN 0
# (tgtd's controller) and the disk LUNs.  Then CHAP on the discovery
# session: tgtd binds an account given without --tid to discovery, so
# SendTargets needs CHAP: without credentials, with a wrong secret, with a
# target that does not prove the target secret we hold: exit 12 and no
# target listed; one-way and mutual with the right secrets: the same list.
# Skips (77) without root or tgtd.
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

echo "== discovery with CHAP (accounts bound without --tid: tgtd's discovery sessions)"
tgtadm_ --mode account --op new --user disco --password disco-secret-12 || fail "tgtadm: account"
tgtadm_ --mode account --op bind --user disco || fail "tgtadm: bind the account to discovery"
umask 077
printf 'disco-secret-12\n' >"$WORK/secret"
printf 'wrong-secret-12\n' >"$WORK/bad"
printf 'portal-secret-34\n' >"$WORK/tsecret"
printf 'other-secret-56\n' >"$WORK/tbad"
disco() { initiator --portal "127.0.0.1:$TGT_PORT" "$@" discover; }
expect_exit 12 disco
grep -q "the target wants CHAP" "$WORK/err" || fail "discovery without CHAP: no reason given"
[ -s "$WORK/out" ] && fail "targets listed without CHAP"
expect_exit 12 disco --chap-user disco --chap-secret-file "$WORK/bad"
grep -q "refused our CHAP secret" "$WORK/err" || fail "discovery, wrong secret: no reason given"
[ -s "$WORK/out" ] && fail "targets listed with a wrong secret"
expect_exit 0 disco --chap-user disco --chap-secret-file "$WORK/secret"
grep -qx "$TGT_IQN" "$WORK/out" && grep -qx "$IQN2" "$WORK/out" || fail "discovery with CHAP: targets missing"
echo "== discovery with mutual CHAP"
tgtadm_ --mode account --op new --user portal --password portal-secret-34 || fail "tgtadm: outgoing account"
tgtadm_ --mode account --op bind --user portal --outgoing || fail "tgtadm: bind outgoing to discovery"
expect_exit 0 disco --chap-user disco --chap-secret-file "$WORK/secret" --chap-target-user portal \
	--chap-target-secret-file "$WORK/tsecret"
[ "$(grep -c "^iqn" "$WORK/out")" = 2 ] || fail "mutual CHAP discovery: not both targets listed"
expect_exit 12 disco --chap-user disco --chap-secret-file "$WORK/secret" --chap-target-secret-file "$WORK/tbad"
grep -q "target's response is wrong" "$WORK/err" || fail "discovery: the portal's wrong response not blamed"
[ -s "$WORK/out" ] && fail "targets listed from a portal that failed mutual CHAP"
echo PASS
