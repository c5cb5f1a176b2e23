#!/bin/sh
# NOP-Out / NOP-In both ways: tgtd pings us every second (nop_interval) and
# toeless-iscsi answers each ping; toeless-iscsi pings the target after login
# and when the line is idle, and the target answers.  Nothing reconnects.
#
# SPDX-License-Identifier: MIT
if [ -z "$BASH_VERSION" ]; then exec bash "$0" "$@"; fi
. "${top_srcdir:-.}/tests/iscsi/fixture.sh"

tgt_start 16
tgt_digests CRC32C,None
tgt_set nop_interval 1
tgt_set nop_count 5

ti --header-digest crc32c --data-digest crc32c --queue-depth 1 --block-size 4096 --seconds 3 \
	--nop-interval 1 --stats bench >"$WORK/stats" 2>"$WORK/err" || { cat "$WORK/err"; fail "bench failed"; }
cat "$WORK/stats" | grep -E "bench|pings|nop_|connections"
check '[ "$(counter target_pings_answered "$WORK/stats")" -ge 1 ]' "no target NOP-In ping answered"
check '[ "$(counter nop_out_pings "$WORK/stats")" -ge 1 ]' "we never pinged"
check '[ "$(counter nop_in_replies "$WORK/stats")" = "$(counter nop_out_pings "$WORK/stats")" ]' \
	"not every NOP-Out of ours was answered"
check '[ "$(counter connections "$WORK/stats")" = 1 ]' "the connection was dropped"
echo "ok: NOP-In and NOP-Out both ways"
exit 0
