#!/bin/sh
# toeless-iscsi refuses what it must refuse, with the documented exit status
# and a one-line reason, and never touches the LUN when it does:
#  - offsets, lengths and block sizes that are not multiples of the LUN's
#    block size, or that run past its end (the LUN stays byte-identical);
#  - the same range sent anyway (--unchecked): the target's CHECK CONDITION
#    comes back as sense key / ASC / ASCQ, and no output file is left;
#  - a LUN that does not exist or is no block device; an unknown target;
#  - a negotiation result it did not accept (CRC32C asked, None offered);
#  - an unreachable portal; a bad command line.
#
# SPDX-License-Identifier: MIT
if [ -z "$BASH_VERSION" ]; then exec bash "$0" "$@"; fi
. "${top_srcdir:-.}/tests/iscsi/fixture.sh"

tgt_start 16
grep_err() { grep -q -- "$1" "$WORK/err" || fail "message does not say \"$1\""; }

# --- negotiation: tgtd offers HeaderDigest=None and DataDigest=None only ---
expect_exit 4 ti --header-digest crc32c info
grep_err "HeaderDigest"
expect_exit 4 ti --data-digest crc32c info
grep_err "DataDigest"
expect_exit 0 ti --header-digest any --data-digest any info
grep -q "HeaderDigest=None DataDigest=None" "$WORK/out" || fail "'any' did not settle on None"
echo "ok: a login that ends with None when CRC32C was required is refused"

tgt_digests CRC32C,None
expect_exit 0 ti --header-digest crc32c --data-digest crc32c info
grep -q "HeaderDigest=CRC32C DataDigest=CRC32C" "$WORK/out" || fail "digests not negotiated"
echo "ok: info"

# --- bad offsets and lengths: rejected before anything is sent ---
random_file "$WORK/pat" 65536
lun_sum=$(md5sum <"$TGT_LUN_FILE")
expect_exit 6 ti --offset 100 write "$WORK/pat";                 grep_err "offset 100 is not a multiple"
expect_exit 6 ti --offset 0 --length 1000 read "$WORK/o";        grep_err "length 1000 is not a multiple"
expect_exit 6 ti --block-size 1000 write "$WORK/pat";            grep_err "block size 1000"
expect_exit 6 ti --offset 16M write "$WORK/pat";                 grep_err "past the end"
expect_exit 6 ti --offset $((16 * 1048576 - 32768)) write "$WORK/pat"; grep_err "past the end"
expect_exit 6 ti --offset 0 --length 17M read "$WORK/o";         grep_err "past the end"
expect_exit 6 ti --length 128K write "$WORK/pat";                grep_err "more than the 65536 bytes"
[ ! -e "$WORK/o" ] || fail "a rejected read left a file"
[ "$(md5sum <"$TGT_LUN_FILE")" = "$lun_sum" ] || fail "a rejected write changed the LUN"
echo "ok: bad offsets and lengths rejected, LUN unchanged"

# --- the target's own check, with sense data ---
expect_exit 8 ti --unchecked --offset 16M --length 64K read "$WORK/o"
grep_err "CHECK CONDITION"
grep_err "ILLEGAL REQUEST"
grep_err "0x21/0x00"
[ ! -e "$WORK/o" ] || fail "a failed read left its file"
expect_exit 8 ti --unchecked --offset $((16 * 1048576 - 32768)) write "$WORK/pat"
grep_err "ILLEGAL REQUEST"
[ "$(md5sum <"$TGT_LUN_FILE")" = "$lun_sum" ] || fail "a failed write changed the LUN"
echo "ok: SCSI errors reported as sense key/ASC/ASCQ"

# --- no such LUN, not a disk, no such target ---
expect_exit 5 ti --lun 7 info;  grep_err "no such LUN 7"
expect_exit 5 ti --lun 0 info;  grep_err "not a block device"
expect_exit 4 initiator --portal "127.0.0.1:$TGT_PORT" --target iqn.2024-01.org.toeless.test:nobody --lun 1 info
grep_err "target not found"
echo "ok: missing LUN and target"

# --- unreachable portal ---
expect_exit 3 initiator --portal "127.0.0.1:$(free_port)" --target "$TGT_IQN" info
grep_err "unreachable"
echo "ok: unreachable portal"

# --- command line ---
expect_exit 2 initiator info
expect_exit 2 ti read "$WORK/o"
expect_exit 2 ti --header-digest md5 info
expect_exit 2 ti frobnicate
expect_exit 2 ti --queue-depth 0 bench
echo "ok: usage errors"
exit 0
