#!/bin/bash
# toeless-iscsi against a real target, end to end:
#
#   examples/toeless-iscsi/demo.sh [BUILDDIR]
#
# Starts a private tgtd on a free loopback port with a 64 MiB file-backed LUN
# (HeaderDigest and DataDigest offered), writes a 32 MiB random pattern with
# toeless-iscsi, reads it back with both digests on, verifies it byte for
# byte (against the pattern and against tgtd's backing file), runs a short
# read benchmark, prints the throughput and the library's counters, and stops
# tgtd.  Needs root (tgtd) and a build with libuv (BUILDDIR defaults to the
# current directory).
#
# SPDX-License-Identifier: MIT
set -u
top_srcdir=$(cd "$(dirname "$0")/../.." && pwd)
top_builddir=$(cd "${1:-${top_builddir:-.}}" && pwd)
. "$top_srcdir/tests/iscsi/fixture.sh"

tgt_start 64 >/dev/null
tgt_digests CRC32C,None
echo "==> tgtd on 127.0.0.1:$TGT_PORT, target $TGT_IQN, LUN 1 = 64 MiB"
DIGESTS=(--header-digest crc32c --data-digest crc32c)
random_file "$WORK/pattern" 33554432

echo "==> write 32 MiB (HeaderDigest and DataDigest CRC32C, queue depth 32, 256 KiB per command)"
ti "${DIGESTS[@]}" --queue-depth 32 --block-size 256K write "$WORK/pattern" || exit 1
echo "==> read it back, placed by libtoeless straight into the file's pages"
ti "${DIGESTS[@]}" --queue-depth 32 --block-size 256K --length 32M --stats read "$WORK/back" >"$WORK/stats" || exit 1
head -n 1 "$WORK/stats"
lun_extract 0 33554432 "$WORK/lun"
if cmp -s "$WORK/pattern" "$WORK/back" && cmp -s "$WORK/pattern" "$WORK/lun"; then
	echo "==> verified: the 32 MiB read back equal what was written and what tgtd stored"
else
	echo "==> MISMATCH: the data read back differs" >&2
	exit 1
fi
echo "==> read throughput for 3 s"
ti "${DIGESTS[@]}" --queue-depth 32 --block-size 256K --seconds 3 bench || exit 1
echo "==> what the library did during the read"
tail -n +2 "$WORK/stats"
echo "==> stopping tgtd"
