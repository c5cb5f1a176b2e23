#!/bin/sh
# Cross-check with an independent initiator (libiscsi): data written by
# toeless-iscsi reads back identically through libiscsi, and data written
# through libiscsi reads back identically with toeless-iscsi; both agree with
# tgtd's backing file.
#
# SPDX-License-Identifier: MIT
if [ -z "$BASH_VERSION" ]; then exec bash "$0" "$@"; fi
. "${top_srcdir:-.}/tests/iscsi/fixture.sh"
XCHECK=$top_builddir/tests/iscsi/xcheck-libiscsi
[ -x "$XCHECK" ] || skip "xcheck-libiscsi not built (needs libiscsi-dev)"

tgt_start 16
tgt_digests CRC32C,None
URL="iscsi://127.0.0.1:$TGT_PORT/$TGT_IQN/1"

# libiscsi sees the same LUN
if command -v iscsi-readcapacity16 >/dev/null 2>&1; then
	iscsi-readcapacity16 "$URL" | grep -q "Total size:16777216" || fail "libiscsi does not see a 16 MiB LUN"
fi

LEN=3145728
for qd in 1 16; do
	# toeless-iscsi writes, libiscsi reads
	random_file "$WORK/a" $LEN
	ti --header-digest crc32c --data-digest crc32c --queue-depth $qd --offset 1M write "$WORK/a" >/dev/null ||
		fail "toeless-iscsi write failed"
	"$XCHECK" --header-digest read "$URL" 1048576 $LEN "$WORK/b" || fail "libiscsi read failed"
	cmp -s "$WORK/a" "$WORK/b" || fail "libiscsi reads back something else than toeless-iscsi wrote"
	lun_extract 1048576 $LEN "$WORK/l"
	cmp -s "$WORK/a" "$WORK/l" || fail "backing file differs"
	echo "ok: written by toeless-iscsi (qd $qd), read by libiscsi"

	# libiscsi writes, toeless-iscsi reads
	random_file "$WORK/c" $LEN
	"$XCHECK" write "$URL" 8388608 "$WORK/c" || fail "libiscsi write failed"
	ti --header-digest crc32c --data-digest crc32c --queue-depth $qd --offset 8M --length $LEN \
		read "$WORK/d" >/dev/null || fail "toeless-iscsi read failed"
	cmp -s "$WORK/c" "$WORK/d" || fail "toeless-iscsi reads back something else than libiscsi wrote"
	echo "ok: written by libiscsi, read by toeless-iscsi (qd $qd)"
done
exit 0
