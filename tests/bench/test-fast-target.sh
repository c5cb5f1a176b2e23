#!/bin/sh
# tests/bench/fast-target (the benchmark target) against both initiators:
# toeless-iscsi (header and data digests, header only, none; Data-In
# segments of 8 KiB to 256 KiB; writes by immediate data, unsolicited
# Data-Out and R2T) and libiscsi (iscsi-perf with the header digest, the
# cross-check reader/writer, iscsi-ls discovery).  What a READ returns is
# compared byte for byte with `fast-target --dump`, what a WRITE sends is
# compared with the pattern by the target (--verify-writes), and the
# target's digest error counters must stay 0.
#
# Needs toeless-iscsi (libuv); the libiscsi parts are skipped without
# libiscsi-bin / the cross-check helper.  No root needed (no tgtd).
#
# SPDX-License-Identifier: MIT
if [ -z "$BASH_VERSION" ]; then exec bash "$0" "$@"; fi
top_builddir=${top_builddir:-.}
top_srcdir=${top_srcdir:-.}
skip() { echo "SKIP: $*"; exit 77; }
fail() { echo "FAIL: $*"; exit 1; }
INITIATOR=$top_builddir/examples/toeless-iscsi/toeless-iscsi
FAST_TARGET=$top_builddir/tests/bench/fast-target
XCHECK=$top_builddir/tests/iscsi/xcheck-libiscsi
[ -x "$INITIATOR" ] || skip "toeless-iscsi not built (needs libuv1-dev)"
[ -x "$FAST_TARGET" ] || fail "tests/bench/fast-target not built"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/toeless-ft-test.XXXXXX") || exit 99
. "$top_srcdir/tests/bench/fast-target.sh"
trap 'ft_stop_all; rm -rf "$WORK"' EXIT
trap 'exit 1' INT TERM HUP

MIB=1048576
# A: digests as the initiator asks; B: HeaderDigest CRC32C required (what
# libiscsi gets when it offers None,CRC32C), DataDigest as asked.
ft_start A --size 64M --verify-writes
ft_start B --size 64M --header-digest crc32c --verify-writes
echo "fast-target A on port $FT_PORT_A, B on port $FT_PORT_B"

ti() { "$INITIATOR" --portal "127.0.0.1:$1" --target "$FT_IQN" --lun 1 "${@:2}"; }
# mismatches LOG: write mismatches summed over the closed connections of LOG
mismatches() {
	sed -n 's/.*closed.*write mismatches \([0-9]*\).*/\1/p' "$1" | awk '{ s += $1 } END { print s + 0 }'
}

# --- toeless-iscsi: info, then reads checked against the pattern ---
ti "$FT_PORT_A" --header-digest crc32c --data-digest crc32c info >"$WORK/info" 2>&1 || { cat "$WORK/info"; fail "info"; }
grep -q "HeaderDigest=CRC32C DataDigest=CRC32C" "$WORK/info" || { cat "$WORK/info"; fail "digests not negotiated"; }
grep -q "capacity *131072 blocks of 512 bytes" "$WORK/info" || { cat "$WORK/info"; fail "capacity"; }

n=0
for dig in "crc32c crc32c" "crc32c none" "none none"; do
	set -- $dig
	for geo in "64K 256K" "1M 256K" "256K 8K" "4K 4K"; do
		bs=${geo% *} mrdsl=${geo#* }
		off=$(( (n * 7 + 3) * 512 + MIB ))   # not aligned to the pattern's period
		len=$(( 4 * MIB ))
		"$FAST_TARGET" --dump "$off" "$len" >"$WORK/expect" || fail "--dump"
		ti "$FT_PORT_A" --header-digest "$1" --data-digest "$2" --block-size "$bs" --max-recv-dsl "$mrdsl" \
			--queue-depth 8 --offset "$off" --length "$len" read "$WORK/got" >"$WORK/out" 2>&1 ||
			{ cat "$WORK/out"; fail "read hd=$1 dd=$2 bs=$bs mrdsl=$mrdsl"; }
		cmp -s "$WORK/expect" "$WORK/got" || fail "read hd=$1 dd=$2 bs=$bs mrdsl=$mrdsl: data differs from the pattern"
		echo "read ok: HeaderDigest $1, DataDigest $2, block size $bs, MaxRecvDataSegmentLength $mrdsl, $len bytes at $off"
		n=$((n + 1))
	done
done
# the target really sent those segment sizes and digests
grep -q "DataDigest CRC32C, MaxRecvDataSegmentLength 262144 here / 8192 there" "$FT_LOG_A" ||
	{ cat "$FT_LOG_A"; fail "the 8 KiB logins are not in the target's log"; }

# --- toeless-iscsi writes: immediate + unsolicited, R2T only; checked by the target ---
"$FAST_TARGET" --dump $((3 * MIB)) $((4 * MIB)) >"$WORK/wpat" || fail "--dump"
for w in "--immediate-data yes --initial-r2t no --first-burst 64K" "--immediate-data no --initial-r2t yes --first-burst 64K --max-burst 128K"; do
	# shellcheck disable=SC2086
	ti "$FT_PORT_A" --header-digest crc32c --data-digest crc32c --block-size 1M --offset $((3 * MIB)) \
		$w --stats write "$WORK/wpat" >"$WORK/out" 2>&1 || { cat "$WORK/out"; fail "write $w"; }
	echo "write ok: $w"
done
# 4 commands of 1 MiB each: R2T-only with MaxBurstLength 128 KiB is 8 R2Ts
# per command; 64 KiB immediate/unsolicited then one R2T for the rest
# (MaxBurstLength 1 MiB) is 1
grep "InitialR2T Yes" -A1 "$FT_LOG_A" | grep -q "4 WRITE.* 32 R2T;" || { cat "$FT_LOG_A"; fail "R2T-only writes: not 32 R2Ts"; }
grep "ImmediateData Yes, InitialR2T No" -A1 "$FT_LOG_A" | grep -q "4 WRITE.* 4 R2T;" ||
	{ cat "$FT_LOG_A"; fail "immediate + unsolicited writes: not 4 R2Ts"; }
[ "$(mismatches "$FT_LOG_A")" = 0 ] || { cat "$FT_LOG_A"; fail "written data differs from the pattern"; }
written=$(sed -n 's/.* \([0-9]*\) written;.*/\1/p' "$FT_LOG_A" | awk '{ s += $1 } END { print s + 0 }')
[ "$written" = $((8 * MIB)) ] || { cat "$FT_LOG_A"; fail "the target counted $written bytes written, expected $((8 * MIB))"; }
# ...and the check can fail: other bytes are reported
head -c $MIB /dev/urandom >"$WORK/rnd"
ti "$FT_PORT_A" --header-digest crc32c --data-digest crc32c --offset 0 write "$WORK/rnd" >"$WORK/out" 2>&1 ||
	{ cat "$WORK/out"; fail "write of random data"; }
[ "$(mismatches "$FT_LOG_A")" -gt 0 ] || { cat "$FT_LOG_A"; fail "random data not reported as a mismatch"; }

# --- refusals ---
"$INITIATOR" --portal "127.0.0.1:$FT_PORT_A" --target iqn.2024-01.org.toeless:nobody --lun 1 info >"$WORK/out" 2>&1
rc=$?
[ "$rc" = 4 ] || { cat "$WORK/out"; fail "unknown target: exit $rc, expected 4"; }
ti "$FT_PORT_B" --header-digest none info >"$WORK/out" 2>&1
rc=$?
[ "$rc" = 4 ] || { cat "$WORK/out"; fail "HeaderDigest None against a target requiring CRC32C: exit $rc, expected 4"; }

# --- libiscsi ---
if command -v iscsi-perf >/dev/null 2>&1; then
	iscsi-perf -m 16 -b 128 -t 1 "iscsi://127.0.0.1:$FT_PORT_B/$FT_IQN/1" >"$WORK/perf" 2>&1 ||
		{ tr '\r' '\n' <"$WORK/perf"; fail "iscsi-perf"; }
	tr '\r' '\n' <"$WORK/perf" | grep -q "iops average [1-9]" || { tr '\r' '\n' <"$WORK/perf"; fail "iscsi-perf read nothing"; }
	grep -q "iscsi-perf: HeaderDigest CRC32C, DataDigest None" "$FT_LOG_B" || { cat "$FT_LOG_B"; fail "iscsi-perf digests"; }
	echo "iscsi-perf ok: $(tr '\r' '\n' <"$WORK/perf" | grep -o 'iops average [0-9]* ([0-9]* MB/s)' | tail -1)"
	iscsi-ls "iscsi://127.0.0.1:$FT_PORT_A" >"$WORK/ls" 2>&1 || { cat "$WORK/ls"; fail "iscsi-ls"; }
	grep -q "Target:$FT_IQN Portal:127.0.0.1:$FT_PORT_A,1" "$WORK/ls" || { cat "$WORK/ls"; fail "SendTargets"; }
	echo "iscsi-ls ok (discovery session, SendTargets)"
else
	echo "libiscsi-bin not installed: iscsi-perf and iscsi-ls parts skipped"
fi
if [ -x "$XCHECK" ]; then
	"$FAST_TARGET" --dump $((5 * MIB + 4096)) $((3 * MIB)) >"$WORK/expect"
	"$XCHECK" --header-digest read "iscsi://127.0.0.1:$FT_PORT_B/$FT_IQN/1" $((5 * MIB + 4096)) $((3 * MIB)) "$WORK/got" ||
		fail "libiscsi read"
	cmp -s "$WORK/expect" "$WORK/got" || fail "libiscsi read: data differs from the pattern"
	"$XCHECK" --header-digest write "iscsi://127.0.0.1:$FT_PORT_B/$FT_IQN/1" $((5 * MIB + 4096)) "$WORK/expect" ||
		fail "libiscsi write"
	echo "libiscsi read and write ok"
fi
[ "$(mismatches "$FT_LOG_B")" = 0 ] || { cat "$FT_LOG_B"; fail "libiscsi's write differs from the pattern"; }
for l in "$FT_LOG_A" "$FT_LOG_B"; do
	grep -q "digest errors 0 header, 0 data" "$l" || true
	if grep "closed" "$l" | grep -qv "digest errors 0 header, 0 data"; then cat "$l"; fail "digest errors at the target"; fi
done
echo "PASS"
