#!/bin/bash
# CHAP against tgtd (tgtadm --mode account): one-way and mutual, secrets from
# a file or the environment, through toeless-iscsi and the nbdkit plugin.
# A refused secret, a target that cannot prove its own secret and a target
# that wants CHAP from an initiator without credentials each exit 12
# (EXIT_AUTH) with their own message; a world-readable secret file is a usage
# error (2), so is a secret under 12 bytes (RFC 3720 8.2.1: 96 bits without
# IPsec) or over 256, from a file or the environment, while one of exactly 12
# logs in.  With -v (and the plugin with -D toeless.verbose=1) no secret and
# no CHAP response appears in the log.  Skips (77) without root or tgtd; the plugin part without nbdkit.
#
# SPDX-License-Identifier: MIT
. "${top_srcdir:-.}/tests/iscsi/fixture.sh"

tgt_start 4
tgt_digests CRC32C
random_file "$TGT_LUN_FILE" $((4 * 1024 * 1024))
tgtadm_ --mode account --op new --user alice --password alice-secret-12 || fail "tgtadm: account"
tgtadm_ --mode account --op bind --tid 1 --user alice || fail "tgtadm: bind account"

umask 077
printf 'alice-secret-12\n' >"$WORK/secret"
printf 'wrong-secret-12\n' >"$WORK/bad"
printf 'target-secret-34\n' >"$WORK/tsecret"
printf 'other-secret-56\n' >"$WORK/tbad"
D=(--header-digest crc32c --data-digest crc32c)

echo "== no credentials: the target wants CHAP"
expect_exit 12 ti "${D[@]}" info
grep -q "CHAP" "$WORK/err" || fail "no mention of CHAP"

echo "== one-way, secret from a file"
expect_exit 0 ti "${D[@]}" --chap-user alice --chap-secret-file "$WORK/secret" read "$WORK/r1" --length 1M
cmp "$WORK/r1" <(head -c 1M "$TGT_LUN_FILE") || fail "read with CHAP differs"

echo "== one-way, secret from the environment"
TOELESS_CHAP_SECRET=alice-secret-12 expect_exit 0 ti "${D[@]}" --chap-user alice info

echo "== wrong secret: exit 12"
expect_exit 12 ti "${D[@]}" --chap-user alice --chap-secret-file "$WORK/bad" info
grep -q "refused our CHAP secret" "$WORK/err" || fail "message does not say the secret was refused"
echo "== wrong user: exit 12"
expect_exit 12 ti "${D[@]}" --chap-user mallory --chap-secret-file "$WORK/secret" info

echo "== a secret file readable by everyone is refused, no secret at all too"
cp "$WORK/secret" "$WORK/open" && chmod 644 "$WORK/open"
expect_exit 2 ti --chap-user alice --chap-secret-file "$WORK/open" info
grep -q "readable by everyone" "$WORK/err" || fail "no reason given"
env -u TOELESS_CHAP_SECRET "$INITIATOR" --portal "127.0.0.1:$TGT_PORT" --target "$TGT_IQN" --chap-user alice info \
	>"$WORK/out" 2>&1 && fail "login without a secret"
grep -q "TOELESS_CHAP_SECRET" "$WORK/out" || fail "no hint about the secret"
expect_exit 2 ti --chap-secret-file "$WORK/secret" info

echo "== secret lengths: under 12 bytes or over 256 refused before connecting, 12 taken"
printf 'short-11byt\n' >"$WORK/short"
expect_exit 2 ti --chap-user alice --chap-secret-file "$WORK/short" info
grep -q "is 11 bytes, RFC 3720 8.2.1 (RFC 7143 9.2.1) wants at least 12" "$WORK/err" || fail "short secret: no reason"
TOELESS_CHAP_SECRET=short-11byt expect_exit 2 ti --chap-user alice info
grep -q "at least 12" "$WORK/err" || fail "short secret from the environment: no reason"
head -c 257 /dev/zero | tr '\0' 'x' >"$WORK/long"
expect_exit 2 ti --chap-user alice --chap-secret-file "$WORK/long" info
grep -q "longer than 256 bytes" "$WORK/err" || fail "long secret: no reason"
TOELESS_CHAP_SECRET=$(cat "$WORK/long") expect_exit 2 ti --chap-user alice info
grep -q "longer than 256 bytes" "$WORK/err" || fail "long secret from the environment: no reason"
tgtadm_ --mode account --op new --user bob --password bob-secret12 || fail "tgtadm: account bob"
tgtadm_ --mode account --op bind --tid 1 --user bob || fail "tgtadm: bind bob"
printf 'bob-secret12\n' >"$WORK/secret12"
expect_exit 0 ti --chap-user bob --chap-secret-file "$WORK/secret12" info

echo "== mutual: the target proves its secret"
tgtadm_ --mode account --op new --user tgt --password target-secret-34 || fail "tgtadm: outgoing account"
tgtadm_ --mode account --op bind --tid 1 --user tgt --outgoing || fail "tgtadm: bind outgoing"
expect_exit 0 ti "${D[@]}" --chap-user alice --chap-secret-file "$WORK/secret" \
	--chap-target-user tgt --chap-target-secret-file "$WORK/tsecret" info
TOELESS_CHAP_SECRET=alice-secret-12 TOELESS_CHAP_TARGET_SECRET=target-secret-34 \
	expect_exit 0 ti "${D[@]}" --chap-user alice info
echo "== -v: neither secret nor our CHAP response in the log"
expect_exit 0 ti -v --chap-user alice --chap-secret-file "$WORK/secret" \
	--chap-target-user tgt --chap-target-secret-file "$WORK/tsecret" info
grep -q "target says CHAP_R=" "$WORK/err" || fail "-v log without the CHAP exchange: nothing was checked"
grep -E -q "alice-secret-12|target-secret-34|CHAP_R=0x" "$WORK/out" "$WORK/err" && fail "a secret or a response in the -v log"
echo "== mutual: a target that does not know the secret we hold for it: exit 12"
expect_exit 12 ti "${D[@]}" --chap-user alice --chap-secret-file "$WORK/secret" \
	--chap-target-secret-file "$WORK/tbad" info
grep -q "target's response is wrong" "$WORK/err" || fail "message does not blame the target"
echo "== mutual: a target under another name: exit 12"
expect_exit 12 ti "${D[@]}" --chap-user alice --chap-secret-file "$WORK/secret" \
	--chap-target-user someone --chap-target-secret-file "$WORK/tsecret" info
echo "== mutual: the same secret both ways is refused before connecting"
expect_exit 2 ti --chap-user alice --chap-secret-file "$WORK/secret" --chap-target-secret-file "$WORK/secret" info

if command -v nbdkit >/dev/null 2>&1 && [ -f "$PLUGIN" ] && command -v nbdinfo >/dev/null 2>&1; then
	echo "== plugin: mutual CHAP, then a wrong secret"
	NBDKIT_FLAGS="-D toeless.verbose=1" plugin_start chap portal=127.0.0.1:$TGT_PORT target=$TGT_IQN lun=1 chap-user=alice \
		chap-secret-file="$WORK/secret" chap-target-user=tgt chap-target-secret-file="$WORK/tsecret"
	nbdcopy "$(nbd_uri)" "$WORK/copy.img" || fail "nbdcopy with CHAP"
	cmp "$WORK/copy.img" "$TGT_LUN_FILE" || fail "copy with CHAP differs"
	plugin_stop
	grep -q "target says CHAP_R=" "$WORK/chap.log" || fail "plugin log without the CHAP exchange: nothing checked"
	grep -E -q "alice-secret-12|target-secret-34|CHAP_R=0x" "$WORK/chap.log" && fail "plugin: a secret in its log"
	echo "== plugin: a secret under 12 bytes is refused at configuration"
	nbdkit -f -U "$WORK/x.sock" "$PLUGIN" portal=127.0.0.1:1 target=x chap-user=alice \
		chap-secret-file="$WORK/short" >"$WORK/out" 2>&1 && fail "plugin took an 11-byte secret"
	grep -q "wants at least 12" "$WORK/out" || fail "plugin: no reason for refusing a short secret"
	plugin_start chapbad portal=127.0.0.1:$TGT_PORT target=$TGT_IQN lun=1 chap-user=alice \
		chap-secret-file="$WORK/bad"
	nbdinfo "$(nbd_uri)" >/dev/null 2>&1 && fail "nbdinfo worked with a wrong secret"
	plugin_stop
	grep -q "refused our CHAP secret" "$WORK/chapbad.log" || fail "plugin: no CHAP message in its log"
	nbdkit -f -U "$WORK/x.sock" "$PLUGIN" portal=127.0.0.1:1 target=x chap-secret=oops >"$WORK/out" 2>&1 &&
		fail "plugin took a secret on its command line"
	grep -q "not taken from the command line" "$WORK/out" || fail "plugin: no reason for refusing chap-secret="
else
	echo "(plugin part skipped: no nbdkit, nbdinfo or plugin)"
fi
echo PASS
