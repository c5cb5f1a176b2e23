#!/bin/bash
# nbdkit-toeless-plugin against tgtd, both digests on (the plugin's default):
# nbdinfo sees the LUN; nbdcopy copies the whole LUN out and back in, byte
# for byte; qemu-img compare finds the LUN served by the plugin equal to its
# backing file; a fio verify job writes and reads at queue depth 32 through
# ioengine=nbd; several NBD connections at once (one session each).
# Skips (77) without root, tgtd, nbdkit, the plugin, nbdinfo/nbdcopy,
# qemu-img or fio.
#
# SPDX-License-Identifier: MIT
. "${top_srcdir:-.}/tests/iscsi/fixture.sh"
need_plugin
need_cmd nbdinfo libnbd-bin
need_cmd nbdcopy libnbd-bin
need_cmd qemu-img qemu-utils
need_cmd fio fio

tgt_start 16
tgt_digests CRC32C
LUN=$TGT_LUN_FILE
SIZE=$((16 * 1024 * 1024))
random_file "$LUN" $SIZE
P=(portal=127.0.0.1:$TGT_PORT target=$TGT_IQN lun=1 backend=sw)

echo "== nbdinfo"
plugin_start a "${P[@]}"
nbdinfo --json "$(nbd_uri)" >"$WORK/info.json" || fail "nbdinfo"
grep -q "\"export-size\": $SIZE" "$WORK/info.json" || { cat "$WORK/info.json"; fail "export size is not $SIZE"; }
grep -q '"can_multi_conn": true' "$WORK/info.json" || fail "can_multi_conn not true"
grep -q '"can_flush": true' "$WORK/info.json" || fail "can_flush not true"

echo "== nbdcopy: the whole LUN out, byte for byte"
nbdcopy "$(nbd_uri)" "$WORK/out.img" || fail "nbdcopy out"
cmp "$WORK/out.img" "$LUN" || fail "nbdcopy out: differs from the backing file"

echo "== nbdcopy: new content in, through 4 connections"
random_file "$WORK/in.img" $SIZE
nbdcopy --connections=4 --requests=16 "$WORK/in.img" "$(nbd_uri)" || fail "nbdcopy in"
plugin_stop
cmp "$WORK/in.img" "$LUN" || fail "nbdcopy in: the backing file is not what was copied"
grep -q "logins" "$WORK/a.log" || { tail -30 "$WORK/a.log"; fail "no counters in the plugin's log"; }
! grep -q "connection dropped" "$WORK/a.log" || fail "a connection was dropped: $(grep 'connection dropped' "$WORK/a.log" | head -1)"

echo "== qemu-img compare: the LUN through the plugin and its backing file"
plugin_start b "${P[@]}"
qemu-img compare -f raw -F raw "$(nbd_uri)" "$LUN" || fail "qemu-img compare: differ"
# and a difference is seen: one byte changed in a copy
cp "$LUN" "$WORK/changed.img"
printf 'X' | dd of="$WORK/changed.img" bs=1 seek=$((SIZE - 4097)) conv=notrunc status=none
expect_exit 1 qemu-img compare -f raw -F raw "$(nbd_uri)" "$WORK/changed.img"
plugin_stop

echo "== fio verify, ioengine=nbd, queue depth 32, nbdkit -t 4 (the recommended invocation)"
# 4 threads for 32 requests in flight: the rest wait in nbdkit's socket
NBDKIT_FLAGS="-t 4" plugin_start c "${P[@]}"
# fio saves a verify state file in its working directory; run it in $WORK so
# nothing is left in the build tree (make distcheck's distcleancheck fails on it)
(cd "$WORK" && fio --name=verify --ioengine=nbd --uri="$(nbd_uri)" --rw=randwrite \
	--bssplit=4k/50:64k/50 --iodepth=32 --size=$SIZE --verify=crc32c --verify_fatal=1 \
	--do_verify=1 --verify_state_save=0 --randrepeat=0 --output="$WORK/fio.txt") ||
	{ cat "$WORK/fio.txt"; fail "fio verify"; }
grep -q "err= 0" "$WORK/fio.txt" || { cat "$WORK/fio.txt"; fail "fio reported errors"; }
plugin_stop
grep -E "READ:|WRITE:" "$WORK/fio.txt"
hd=$(awk '$1 == "header_digest_errors" { print $2 }' "$WORK/c.log" | head -1)
[ "${hd:-0}" = 0 ] || fail "header digest errors: $hd"
grep -q "HeaderDigest=CRC32C DataDigest=CRC32C" "$WORK/c.log" || grep -q "data_digests_checked" "$WORK/c.log" ||
	fail "no sign of digests in the log"
# the blocking seam (sync.c) counts its requests and the ones that had to
# wake the session thread; at queue depth 32 most arrive while it is awake
# answering another and are taken before it sleeps, without a wake-up
read -r reqs wakes <<<"$(sed -n 's/.*blocking seam: \([0-9]*\) requests, \([0-9]*\) of them woke.*/\1 \2/p' "$WORK/c.log" |
	awk '{ r += $1; w += $2 } END { print r + 0, w + 0 }')"
echo "blocking seam: $reqs requests, $wakes woke the session thread"
check '[ "$reqs" -ge $((2 * SIZE / 65536)) ]' "the seam counted $reqs requests for fio's writes and verify reads"
check '[ "$wakes" -lt "$reqs" ]' "every request woke the session thread ($wakes of $reqs)"
echo "PASS"
