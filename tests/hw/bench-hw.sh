#!/bin/sh
# hw.cpu: the host CPU the offload saves.  toeless-iscsi bench reads from a
# local tgtd through toeless-devsim (the "NIC"), HeaderDigest and DataDigest
# on, once with --backend hw (the device places Data-In and checks digests)
# and once with --backend sw (the same path through the same model, the
# host does everything).  Each run is under bench-rusage: user + system CPU
# the kernel charged to the initiator process (the model's CPU is the
# device's, not the host's).  CPU per GiB = that CPU / GiB read.
#
# Figures (medians of per-repetition values):
#   hw.cpu    hw CPU/GiB / sw CPU/GiB   (below 1: the host's saving)
#   hw.read   hw MiB/s / sw MiB/s
#
# Engine placement needs the initiator to register its buffers
# (toeless_mr_reg); without that the device only checks digests and the
# figure says so (bytes_placed_engine is printed).
#
# Skips (77) when not root, tgtd missing, or toeless-iscsi, toeless-devsim or
# bench-rusage not built.  Environment: BENCH_REPS (default 5), BENCH_QUICK,
# BENCH_HW_SECONDS (3; QUICK 1), BENCH_HW_BS (262144), BENCH_HW_QD (16),
# BENCH_HW_LUN_MIB (128).
#
# SPDX-License-Identifier: MIT
if [ -z "$BASH_VERSION" ]; then exec bash "$0" "$@"; fi

echo "== hw: host CPU per GiB read, hw backend (toeless-devsim) vs sw backend =="
top_builddir=${abs_top_builddir:-${top_builddir:-.}}
top_srcdir=${abs_top_srcdir:-${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}}
export top_builddir top_srcdir
hw_skip() { echo "hw: SKIP: $*"; exit 77; }
[ "$(id -u)" = 0 ] || hw_skip "needs root to run tgtd"
command -v tgtd >/dev/null 2>&1 || hw_skip "tgtd not installed (apt-get install tgt)"
INITIATOR=${INITIATOR:-$top_builddir/examples/toeless-iscsi/toeless-iscsi}
[ -x "$INITIATOR" ] || hw_skip "toeless-iscsi not built (needs libuv1-dev)"
RUSAGE=$top_builddir/tests/bench/bench-rusage
[ -x "$RUSAGE" ] || hw_skip "tests/bench/bench-rusage not built (make bench builds it)"
INIT_BIN=$INITIATOR
if [ -x "$(dirname "$INITIATOR")/.libs/$(basename "$INITIATOR")" ]; then
	INIT_BIN=$(dirname "$INITIATOR")/.libs/$(basename "$INITIATOR")
	LD_LIBRARY_PATH=$top_builddir/.libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
	export LD_LIBRARY_PATH
fi
export INITIATOR
. "$top_srcdir/tests/iscsi/fixture.sh"
. "$top_srcdir/tests/hw/devsim-env.sh"

REPS=${BENCH_REPS:-5}
[ "$REPS" -ge 3 ] 2>/dev/null || REPS=3
if [ "${BENCH_QUICK:-0}" != 0 ]; then SECS=${BENCH_HW_SECONDS:-1}; else SECS=${BENCH_HW_SECONDS:-3}; fi
BS=${BENCH_HW_BS:-262144}
QD=${BENCH_HW_QD:-16}
LUN_MIB=${BENCH_HW_LUN_MIB:-128}

tgt_start "$LUN_MIB"
head -c "$((LUN_MIB * 1048576))" /dev/urandom | dd of="$TGT_LUN_FILE" conv=notrunc bs=1M iflag=fullblock status=none ||
	fail "cannot fill the LUN"
tgt_digests CRC32C
devsim_start
echo "block size $BS, queue depth $QD, $SECS s per run, $REPS repetitions, alternated; both digests on"
echo "CPU = user + system time of the initiator process (wait4 rusage), per GiB read"

run_one() {
	local be=$1 rep=$2 out=$WORK/run.out ru=$WORK/run.ru spec mib secs
	spec=$be
	[ "$be" = hw ] && spec=hw:$DEVSIM_CTL
	"$RUSAGE" "$ru" "$INIT_BIN" --portal "127.0.0.1:$DEVSIM_PORT" --target "$TGT_IQN" --lun 1 --backend "$spec" \
		--header-digest crc32c --data-digest crc32c --queue-depth "$QD" --block-size "$BS" \
		--max-recv-dsl 262144 --seconds "$SECS" --stats bench >"$out" 2>&1 || { cat "$out"; fail "$be run failed"; }
	mib=$(sed -n 's/^bench read: \([0-9.]*\) MiB in \([0-9.]*\) s.*/\1/p' "$out")
	secs=$(sed -n 's/^bench read: \([0-9.]*\) MiB in \([0-9.]*\) s.*/\2/p' "$out")
	[ -n "$mib" ] && [ -n "$secs" ] || { cat "$out"; fail "$be: no throughput in its output"; }
	read -r user sys wall rss code <"$ru"
	awk -v v="$be" -v r="$rep" -v m="$mib" -v s="$secs" -v u="$user" -v y="$sys" \
		-v e="$(counter bytes_placed_engine "$out")" 'BEGIN {
		printf "%s %d %.3f %.4f %.0f\n", v, r, m / s, (u + y) / (m / 1024), e
	}' >>"$WORK/results"
}

: >"$WORK/results"
for rep in $(seq 1 "$REPS"); do
	if [ $((rep % 2)) = 1 ]; then order="hw sw"; else order="sw hw"; fi
	for be in $order; do run_one "$be" "$rep"; done
	printf "  rep %d:%s\n" "$rep" "$(awk -v r="$rep" '$2 == r { printf "  %s %.0f MiB/s %.3f s/GiB;", $1, $3, $4 }' "$WORK/results")"
done
awk '
function median(a, n,   i, j, t) {
	for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j-1] > a[j]; j--) { t = a[j]; a[j] = a[j-1]; a[j-1] = t }
	return n % 2 ? a[(n+1)/2] : (a[n/2] + a[n/2+1]) / 2
}
{ rate[$1, $2] = $3; cpu[$1, $2] = $4; if ($1 == "hw") eng += $5; if ($2 > reps) reps = $2 }
END {
	for (r = 1; r <= reps; r++) { c[r] = cpu["hw", r] / cpu["sw", r]; t[r] = rate["hw", r] / rate["sw", r];
		hc[r] = cpu["hw", r]; sc[r] = cpu["sw", r]; hr[r] = rate["hw", r]; sr[r] = rate["sw", r] }
	printf "\n%-8s %10s %10s\n", "backend", "MiB/s", "CPU s/GiB"
	printf "%-8s %10.1f %10.3f\n", "hw", median(hr, reps), median(hc, reps)
	printf "%-8s %10.1f %10.3f\n", "sw", median(sr, reps), median(sc, reps)
	printf "\nhw.cpu  %.3f  (host CPU per GiB, hw / sw; below 1 is the saving)\n", median(c, reps)
	printf "hw.read %.3f  (throughput, hw / sw)\n", median(t, reps)
	if (eng == 0) printf "note: the device placed nothing (the initiator does not register its buffers):" \
		" no offload was measured\n"
}' "$WORK/results"
