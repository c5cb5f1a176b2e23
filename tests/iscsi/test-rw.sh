#!/bin/sh
# toeless-iscsi against tgtd: write, then read back, and compare with the
# target's backing file byte for byte.
#  - digests off, header only, header and data; queue depth 1 and 32
#  - block sizes below, equal to and far above our MaxRecvDataSegmentLength
#    (one READ = many Data-In PDUs), checked in the counters
#  - writes above FirstBurstLength and MaxBurstLength (several R2T sequences),
#    with immediate + unsolicited data, and with R2T-only writes
#  - the same with an engine that places Data-In itself (the mock backend)
#
# SPDX-License-Identifier: MIT
if [ -z "$BASH_VERSION" ]; then exec bash "$0" "$@"; fi
. "${top_srcdir:-.}/tests/iscsi/fixture.sh"

tgt_start 32
tgt_digests CRC32C,None

# roundtrip NAME OFFSET LENGTH OPTIONS...: write a random pattern at OFFSET,
# compare the backing file, read it back, compare again.  Leaves the --stats
# output of the read in $WORK/stats.
roundtrip() {
	local name=$1 off=$2 len=$3
	shift 3
	random_file "$WORK/pat" "$len"
	ti "$@" --offset "$off" --stats write "$WORK/pat" >"$WORK/wstats" 2>"$WORK/werr" ||
		{ cat "$WORK/werr"; fail "$name: write failed"; }
	lun_extract "$off" "$len" "$WORK/lun"
	cmp -s "$WORK/pat" "$WORK/lun" || fail "$name: backing file differs from what was written"
	ti "$@" --offset "$off" --length "$len" --stats read "$WORK/back" >"$WORK/stats" 2>"$WORK/rerr" ||
		{ cat "$WORK/rerr"; fail "$name: read failed"; }
	cmp -s "$WORK/pat" "$WORK/back" || fail "$name: data read back differs"
	# placed by the library straight into the buffer, digests as negotiated
	check '[ "$(counter data_in_copied "$WORK/stats")" = 0 ]' "$name: Data-In was copied, not placed"
	check '[ "$(counter data_in_placed "$WORK/stats")" -gt 0 ]' "$name: nothing placed"
	check '[ "$(counter sgl_failed "$WORK/stats")" = 0 ]' "$name: failed SGL posts"
	check '[ "$(counter connections "$WORK/stats")" = 1 ]' "$name: unexpected reconnect"
	echo "ok: $name ($len bytes at $off)"
}

# --- digests x queue depth ---
for qd in 1 32; do
	roundtrip "no digests, qd $qd" 1048576 2097152 --queue-depth $qd
	check '[ "$(counter hdr_digests_checked "$WORK/stats")" = 0 ]' "digests off but headers checked"
	check '[ "$(counter data_digests_checked "$WORK/stats")" = 0 ]' "digests off but data checked"

	roundtrip "header digest, qd $qd" 4194304 2097152 --queue-depth $qd --header-digest crc32c --data-digest none
	check '[ "$(counter hdr_digests_checked "$WORK/stats")" -gt 0 ]' "header digest not checked"
	check '[ "$(counter data_digests_checked "$WORK/stats")" = 0 ]' "data digest checked but off"

	roundtrip "header+data digest, qd $qd" 8388608 2097152 --queue-depth $qd --header-digest crc32c --data-digest crc32c
	check '[ "$(counter hdr_digests_checked "$WORK/stats")" -gt 0 ]' "header digest not checked"
	check '[ "$(counter data_digests_checked "$WORK/stats")" -ge "$(counter data_in_pdus "$WORK/stats")" ]' \
		"not every Data-In data digest checked"
	check '[ "$(counter hdr_digest_errors "$WORK/stats")$(counter data_digest_errors "$WORK/stats")" = 00 ]' \
		"digest errors on a clean connection"
done

# --- block sizes around our MaxRecvDataSegmentLength (16 KiB) ---
MRDSL=16384
for bs in 4096 16384 1048576; do
	len=4194304
	roundtrip "block size $bs, MaxRecvDataSegmentLength $MRDSL" 12582912 $len \
		--max-recv-dsl $MRDSL --block-size $bs --queue-depth 8 --header-digest crc32c --data-digest crc32c
	# tgtd splits each READ into Data-In PDUs of at most our MaxRecvDataSegmentLength
	per=$(( bs > MRDSL ? bs / MRDSL : 1 ))
	pdus=$(counter data_in_pdus "$WORK/stats")
	cmds=$(( len / bs ))
	check '[ "$pdus" -ge $((cmds * per)) ]' "block size $bs: $pdus Data-In PDUs for $cmds READs, expected >= $((cmds * per))"
	echo "    $cmds READs of $bs bytes arrived in $pdus Data-In PDUs"
done

# --- writes above FirstBurstLength and MaxBurstLength ---
# The target holds the smaller values: FirstBurstLength 16K, MaxBurstLength 64K,
# MaxRecvDataSegmentLength 8K, and allows unsolicited data (InitialR2T=No).  A 1 MiB WRITE then carries 8K of immediate data,
# 8K unsolicited Data-Out, and the rest in 64K R2T sequences of 8K PDUs.
tgt_set FirstBurstLength 16384
tgt_set MaxBurstLength 65536
tgt_set MaxRecvDataSegmentLength 8192
tgt_set InitialR2T No
bs=1048576
len=4194304
roundtrip "writes of $bs above FirstBurst/MaxBurst (immediate + unsolicited + R2T)" 16777216 $len \
	--block-size $bs --queue-depth 4 --header-digest crc32c --data-digest crc32c \
	--immediate-data yes --initial-r2t no
r2t=$(counter r2t_received "$WORK/wstats")
cmds=$((len / bs))
check '[ "$r2t" -ge $((cmds * (bs - 16384) / 65536)) ]' "only $r2t R2Ts for $cmds writes"
check '[ "$(counter immediate_bytes "$WORK/wstats")" = $((cmds * 8192)) ]' "immediate data not 8K per command"
check '[ "$(counter unsolicited_bytes "$WORK/wstats")" = $((cmds * 8192)) ]' "unsolicited Data-Out not 8K per command"
check '[ "$(counter solicited_bytes "$WORK/wstats")" = $((cmds * (bs - 16384))) ]' "solicited bytes wrong"
echo "    $cmds WRITEs of $bs bytes: $r2t R2T sequences"

roundtrip "R2T-only writes (ImmediateData=No, InitialR2T=Yes)" 20971520 $len \
	--block-size $bs --queue-depth 4 --header-digest crc32c --data-digest crc32c \
	--immediate-data no --initial-r2t yes
check '[ "$(counter immediate_bytes "$WORK/wstats")" = 0 ]' "immediate data sent although refused"
check '[ "$(counter unsolicited_bytes "$WORK/wstats")" = 0 ]' "unsolicited data sent although InitialR2T=Yes"
check '[ "$(counter solicited_bytes "$WORK/wstats")" = $len ]' "not all data solicited"
check '[ "$(counter r2t_received "$WORK/wstats")" -ge $((len / 65536)) ]' "too few R2Ts"

roundtrip "small writes under FirstBurstLength, qd 32" 25165824 1048576 \
	--block-size 4096 --queue-depth 32 --header-digest crc32c --data-digest crc32c

# --- an engine that places and checks itself: the mock backend ---
roundtrip "mock engine (engine placement and CRC)" 0 4194304 --backend mock \
	--max-recv-dsl 16384 --queue-depth 16 --header-digest crc32c --data-digest crc32c
check '[ "$(counter bytes_placed_engine "$WORK/stats")" -gt 0 ]' "the mock engine placed nothing"
check '[ "$(counter data_digests_engine "$WORK/stats")" -gt 0 ]' "the mock engine checked no digest"
echo "    engine placed $(counter bytes_placed_engine "$WORK/stats") bytes, software $(counter bytes_placed_sw "$WORK/stats")"

# the whole LUN, end to end, in one go
roundtrip "whole LUN" 0 33554432 --block-size 262144 --queue-depth 16 --header-digest crc32c --data-digest crc32c
exit 0
