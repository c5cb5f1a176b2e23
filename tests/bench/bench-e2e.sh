#!/bin/sh
# e2e.read / e2e.cpu: toeless-iscsi bench against a local tgtd, and libiscsi's
# iscsi-perf against the same target, same block size and queue depth.
#
# One tgtd (tests/iscsi/fixture.sh: a private tgtd on a free loopback port)
# with HeaderDigest=CRC32C (required: iscsi-perf offers None,CRC32C and so gets
# CRC32C) and DataDigest=CRC32C,None (toeless-iscsi asks for CRC32C and gets
# it; libiscsi never offers a data digest and gets None).  Each repetition
# runs, in an order that rotates, for BENCH_E2E_SECONDS each:
#   toeless-both  toeless-iscsi --header-digest crc32c --data-digest crc32c bench
#   toeless-hdr   toeless-iscsi --header-digest crc32c --data-digest none bench
#   iscsi-perf    iscsi-perf -m QD -b BLOCKS (header digest only)
# all reading BENCH_E2E_BS bytes per READ at queue depth BENCH_E2E_QD.  Each
# initiator runs under bench-rusage (wait4: the user + system CPU the kernel
# charged to that process); CPU per GiB = that CPU / GiB read.  Throughput is
# what each tool measured over its run (toeless-iscsi: bytes / seconds it
# printed; iscsi-perf: its "iops average" x bytes per READ).
#
# Figures (medians of per-repetition ratios):
#   e2e.read       toeless-hdr MiB/s / iscsi-perf MiB/s: read throughput with the
#                  same digests on the wire, so the target does the same work
#   e2e.cpu        toeless-both CPU/GiB / iscsi-perf CPU/GiB   (target <= 1, aim 0.75)
#   e2e.read.both  toeless-both MiB/s / iscsi-perf MiB/s (tgtd must also compute
#                  the data digests it sends, in software: see doc/performance.md)
#   e2e.cpu.hdr    toeless-hdr CPU/GiB / iscsi-perf CPU/GiB
#
# Skips (exit 77, with the reason) when not root, tgtd or iscsi-perf is
# missing, or toeless-iscsi is not built.
#
# Environment: BENCH_REPS (default 7, at least 5), BENCH_QUICK,
# BENCH_E2E_SECONDS (default 3; QUICK 1), BENCH_E2E_BS (65536),
# BENCH_E2E_QD (16), BENCH_E2E_LUN_MIB (128).
#
# SPDX-License-Identifier: MIT
if [ -z "$BASH_VERSION" ]; then exec bash "$0" "$@"; fi

echo "== e2e: toeless-iscsi vs iscsi-perf (libiscsi) reading from one local tgtd =="
top_builddir=${abs_top_builddir:-${top_builddir:-.}}
top_srcdir=${abs_top_srcdir:-${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}}
export top_builddir top_srcdir

e2e_skip() { echo "e2e: SKIP: $*"; exit 77; }
[ "$(id -u)" = 0 ] || e2e_skip "needs root to run tgtd"
command -v tgtd >/dev/null 2>&1 || e2e_skip "tgtd not installed (apt-get install tgt)"
command -v iscsi-perf >/dev/null 2>&1 || e2e_skip "iscsi-perf not installed (apt-get install libiscsi-bin)"
INITIATOR=$top_builddir/examples/toeless-iscsi/toeless-iscsi
[ -x "$INITIATOR" ] || e2e_skip "toeless-iscsi not built ($INITIATOR; needs libuv1-dev)"
RUSAGE=$top_builddir/tests/bench/bench-rusage
[ -x "$RUSAGE" ] || e2e_skip "tests/bench/bench-rusage not built (make bench builds it)"
FIXTURE=$top_srcdir/tests/iscsi/fixture.sh
[ -r "$FIXTURE" ] || e2e_skip "no tgtd fixture at $FIXTURE"
# Run the real binary, not libtool's wrapper script (its shell would be
# charged to the initiator's CPU time).
INIT_BIN=$INITIATOR
if [ -x "$top_builddir/examples/toeless-iscsi/.libs/toeless-iscsi" ]; then
	INIT_BIN=$top_builddir/examples/toeless-iscsi/.libs/toeless-iscsi
	LD_LIBRARY_PATH=$top_builddir/.libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
	export LD_LIBRARY_PATH
fi
export INITIATOR
. "$FIXTURE"

REPS=${BENCH_REPS:-7}
[ "$REPS" -ge 5 ] 2>/dev/null || REPS=5
if [ "${BENCH_QUICK:-0}" != 0 ]; then SECS=${BENCH_E2E_SECONDS:-1}; else SECS=${BENCH_E2E_SECONDS:-3}; fi
BS=${BENCH_E2E_BS:-65536}
QD=${BENCH_E2E_QD:-16}
LUN_MIB=${BENCH_E2E_LUN_MIB:-128}

tgt_start "$LUN_MIB"
# real data in the LUN (tgtd reads it from the page cache)
head -c "$((LUN_MIB * 1048576))" /dev/urandom | dd of="$TGT_LUN_FILE" conv=notrunc bs=1M iflag=fullblock status=none ||
	fail "cannot fill the LUN"
tgt_set HeaderDigest CRC32C
tgt_set DataDigest CRC32C,None
echo "block size $BS, queue depth $QD, $SECS s per run, $REPS repetitions, alternated; LUN ${LUN_MIB} MiB"
echo "CPU = user + system time of the initiator process (wait4 rusage), per GiB read"
echo

# tgtd's CPU time so far, in clock ticks (utime + stime from /proc)
tgt_ticks() { awk '{ print $14 + $15 }' "/proc/$TGT_PID/stat"; }
HZ=$(getconf CLK_TCK)

# run_one VARIANT REP: appends "VARIANT REP MiB/s cpu_s_per_gib user sys wall tgtd_cpu_fraction"
# to $WORK/results
run_one() {
	local v=$1 rep=$2 out=$WORK/run.out ru=$WORK/run.ru mib secs rate cpu gib iops tk0 tk1
	tk0=$(tgt_ticks)
	case $v in
	toeless-both | toeless-hdr)
		local dd=crc32c
		[ "$v" = toeless-hdr ] && dd=none
		"$RUSAGE" "$ru" "$INIT_BIN" --portal "127.0.0.1:$TGT_PORT" --target "$TGT_IQN" --lun 1 --backend sw \
			--header-digest crc32c --data-digest "$dd" --queue-depth "$QD" --block-size "$BS" \
			--seconds "$SECS" bench >"$out" 2>&1 || { cat "$out"; fail "$v run failed"; }
		grep -q "HeaderDigest CRC32C, DataDigest $([ "$dd" = crc32c ] && echo CRC32C || echo None)" "$out" ||
			{ cat "$out"; fail "$v: not the digests asked for"; }
		# "bench read: X MiB in Y s: ..."
		mib=$(sed -n 's/^bench read: \([0-9.]*\) MiB in \([0-9.]*\) s.*/\1/p' "$out")
		secs=$(sed -n 's/^bench read: \([0-9.]*\) MiB in \([0-9.]*\) s.*/\2/p' "$out")
		;;
	iscsi-perf)
		"$RUSAGE" "$ru" iscsi-perf -m "$QD" -b "$((BS / 512))" -t "$SECS" \
			"iscsi://127.0.0.1:$TGT_PORT/$TGT_IQN/1" >"$out" 2>&1 || { tr '\r' '\n' <"$out"; fail "iscsi-perf failed"; }
		grep -q "blocks or" "$out" && grep -qi "fixed transfer size of $((BS / 512)) blocks ($BS byte)" "$out" ||
			{ tr '\r' '\n' <"$out"; fail "iscsi-perf: unexpected block size (the LUN must have 512-byte blocks)"; }
		iops=$(tr '\r' '\n' <"$out" | sed -n 's/.*iops average \([0-9]*\) .*/\1/p' | tail -1)
		secs=$SECS
		mib=$(awk -v i="$iops" -v s="$SECS" -v b="$BS" 'BEGIN { printf "%.3f", i * s * b / 1048576 }')
		;;
	esac
	tk1=$(tgt_ticks)
	[ -n "$mib" ] && [ -n "$secs" ] || { cat "$out"; fail "$v: no throughput in its output"; }
	read -r user sys wall rss code <"$ru"
	awk -v v="$v" -v r="$rep" -v m="$mib" -v s="$secs" -v u="$user" -v y="$sys" -v w="$wall" \
	    -v t="$((tk1 - tk0))" -v hz="$HZ" 'BEGIN {
		gib = m / 1024
		printf "%s %d %.3f %.4f %.3f %.3f %.3f %.3f\n", v, r, m / s, (u + y) / gib, u, y, w, t / hz / w
	}' >>"$WORK/results"
}

VARIANTS="toeless-both toeless-hdr iscsi-perf"
: >"$WORK/results"
for rep in $(seq 1 "$REPS"); do
	set -- $VARIANTS
	# rotate the order by rep
	k=$(( (rep - 1) % 3 ))
	order=
	for i in 0 1 2; do
		j=$(( (i + k) % 3 + 1 ))
		eval "order=\"\$order \${$j}\""
	done
	for v in $order; do
		run_one "$v" "$rep"
	done
	printf "  rep %d:%s\n" "$rep" "$(awk -v r="$rep" '$2 == r { printf "  %s %.0f MiB/s %.3f s/GiB;", $1, $3, $4 }' "$WORK/results")"
done
echo

awk '
function median(a, n,   i, j, t) {
	for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j-1] > a[j]; j--) { t = a[j]; a[j] = a[j-1]; a[j-1] = t }
	return n % 2 ? a[(n+1)/2] : (a[n/2] + a[n/2+1]) / 2
}
{ rate[$1, $2] = $3; cpu[$1, $2] = $4; tgt[$1, $2] = $8; if ($2 > reps) reps = $2 }
END {
	split("toeless-both toeless-hdr iscsi-perf", V, " ")
	printf "%-14s %10s %10s %10s\n", "initiator", "MiB/s", "CPU s/GiB", "tgtd CPU"
	for (k = 1; k <= 3; k++) {
		for (r = 1; r <= reps; r++) { a[r] = rate[V[k], r]; b[r] = cpu[V[k], r]; c[r] = tgt[V[k], r] }
		mr[k] = median(a, reps); mc[k] = median(b, reps); mt[k] = median(c, reps)
		printf "%-14s %10.1f %10.3f %9.0f%%\n", V[k], mr[k], mc[k], 100 * mt[k]
	}
	printf "(tgtd CPU: the target daemon'"'"'s CPU time over the run'"'"'s wall time; 100%% = one core)\n"
	for (r = 1; r <= reps; r++) {
		rb[r] = rate["toeless-both", r] / rate["iscsi-perf", r]
		cb[r] = cpu["toeless-both", r] / cpu["iscsi-perf", r]
		rh[r] = rate["toeless-hdr", r] / rate["iscsi-perf", r]
		ch[r] = cpu["toeless-hdr", r] / cpu["iscsi-perf", r]
	}
	e_read = median(rb, reps); e_cpu = median(cb, reps); h_read = median(rh, reps); h_cpu = median(ch, reps)
	printf "\nratios vs iscsi-perf (header digest only), medians of per-repetition ratios:\n"
	printf "  toeless-iscsi, header digest only:    read %.3f, CPU per GiB %.3f\n", h_read, h_cpu
	printf "  toeless-iscsi, header + data digests: read %.3f, CPU per GiB %.3f (target <= 1.00, aim 0.75)\n", e_read, e_cpu
	printf "\nBENCH e2e.read %.4f ratio\n", h_read
	printf "BENCH e2e.cpu %.4f ratio\n", e_cpu
	printf "BENCH e2e.read.both %.4f ratio\n", e_read
	printf "BENCH e2e.cpu.hdr %.4f ratio\n", h_cpu
	printf "BENCH e2e.toeless_both_mibs %.1f MiB/s\n", mr[1]
	printf "BENCH e2e.toeless_hdr_mibs %.1f MiB/s\n", mr[2]
	printf "BENCH e2e.iscsi_perf_mibs %.1f MiB/s\n", mr[3]
	printf "BENCH e2e.toeless_both_cpu %.4f s/GiB\n", mc[1]
	printf "BENCH e2e.toeless_hdr_cpu %.4f s/GiB\n", mc[2]
	printf "BENCH e2e.iscsi_perf_cpu %.4f s/GiB\n", mc[3]
	printf "BENCH e2e.tgtd_cpu_toeless_both %.3f fraction\n", mt[1]
	printf "BENCH e2e.tgtd_cpu_iscsi_perf %.3f fraction\n", mt[3]
}' "$WORK/results"
