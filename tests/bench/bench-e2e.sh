#!/bin/sh
# e2e.*: toeless-iscsi against libiscsi's iscsi-perf, reading from two
# targets in the same run: tests/bench/fast-target (pre-digested Data-In, so
# the target is not what limits) and a local tgtd (tests/iscsi/fixture.sh).
#
# Both targets require HeaderDigest=CRC32C (iscsi-perf offers None,CRC32C
# and so gets CRC32C) and accept DataDigest=CRC32C,None (toeless-iscsi asks
# for what it wants; libiscsi 1.19 only ever offers DataDigest=None: its
# library has no data digest, so iscsi-perf is measured with the header
# digest only).  Each repetition runs, in an order that rotates, for
# BENCH_E2E_SECONDS each, against each target:
#   toeless-both  toeless-iscsi --header-digest crc32c --data-digest crc32c bench
#   toeless-hdr   toeless-iscsi --header-digest crc32c --data-digest none bench
#                 (the same digests as iscsi-perf)
#   iscsi-perf    iscsi-perf -m QD -b BLOCKS (header digest only)
# all reading BENCH_E2E_BS bytes per READ at queue depth BENCH_E2E_QD.  Each
# initiator runs under bench-rusage (wait4: the user + system CPU the kernel
# charged to that process); CPU per GiB = that CPU / GiB read.  The target's
# CPU (all its threads, /proc/PID/stat) over the same run is printed beside
# it, as a fraction of one core and per GiB.  Throughput is what each tool
# measured over its run (toeless-iscsi: bytes / seconds it printed;
# iscsi-perf: its "iops average" x bytes per READ).
#
# Figures, for T = fast and T = tgtd (medians of per-repetition ratios; the
# table also prints their min..max over the repetitions):
#   e2e.T.cpu_both       toeless-both CPU/GiB / iscsi-perf CPU/GiB   (issue: <= 0.80)
#   e2e.T.cpu_same       toeless-hdr  CPU/GiB / iscsi-perf CPU/GiB   (issue: <= 0.75)
#   e2e.T.read_same      toeless-hdr  MiB/s / iscsi-perf MiB/s       (issue: >= 1.0)
#   e2e.T.read_both      toeless-both MiB/s / iscsi-perf MiB/s
#   e2e.T.<variant>_mibs, e2e.T.<variant>_cpu (s/GiB; and its _user_cpu and
#   _sys_cpu parts), e2e.T.<variant>_target_cpu
#   (fraction of a core) and e2e.T.<variant>_target_cpu_gib (s/GiB)
#
# Skips (exit 77, with the reason) when not root, tgtd or iscsi-perf is
# missing, or toeless-iscsi is not built.
#
# Environment: BENCH_REPS (default 7, at least 5), BENCH_QUICK,
# BENCH_E2E_SECONDS (default 3; QUICK 1), BENCH_E2E_BS (65536),
# BENCH_E2E_QD (16), BENCH_E2E_LUN_MIB (128), BENCH_E2E_TARGETS ("fast tgtd").
#
# SPDX-License-Identifier: MIT
if [ -z "$BASH_VERSION" ]; then exec bash "$0" "$@"; fi

echo "== e2e: toeless-iscsi vs iscsi-perf (libiscsi) reading from fast-target and from tgtd =="
top_builddir=${abs_top_builddir:-${top_builddir:-.}}
top_srcdir=${abs_top_srcdir:-${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}}
export top_builddir top_srcdir

BENCH_NAME=e2e
. "$top_srcdir/tests/bench/bench-iscsi.sh"
command -v iscsi-perf >/dev/null 2>&1 || bench_skip "iscsi-perf not installed (apt-get install libiscsi-bin)"
BS=${BENCH_E2E_BS:-65536}
QD=${BENCH_E2E_QD:-16}
TARGETS=${BENCH_E2E_TARGETS:-fast tgtd}
# data digest: tgtd and fast-target take CRC32C or None, as the initiator offers
bench_start_targets "$TARGETS" CRC32C,None any

echo "block size $BS, queue depth $QD, $SECS s per run, $REPS repetitions, alternated; LUN ${LUN_MIB} MiB"
echo "CPU = user + system time of the initiator process (wait4 rusage), per GiB read"
echo

# a process's CPU time so far, in clock ticks (utime + stime of all its threads)
ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
# ... and its user part alone
uticks() { awk '{ print $14 }' "/proc/$1/stat"; }
HZ=$(getconf CLK_TCK)

# run_one TARGET VARIANT REP: appends
# "TARGET VARIANT REP MiB/s cpu_s_per_gib user sys wall target_cpu_fraction target_s_per_gib
#  user_s_per_gib sys_s_per_gib target_user_s_per_gib"
# to $WORK/results
run_one() {
	local t=$1 v=$2 rep=$3 out=$WORK/run.out ru=$WORK/run.ru mib secs iops tk0 tk1 uk0 uk1 pid port iqn
	read -r pid port iqn <<<"$(bench_target_of "$t")"
	tk0=$(ticks "$pid")
	uk0=$(uticks "$pid")
	case $v in
	toeless-both | toeless-hdr)
		local dd=crc32c
		[ "$v" = toeless-hdr ] && dd=none
		"$RUSAGE" "$ru" "$INIT_BIN" --portal "127.0.0.1:$port" --target "$iqn" --lun 1 --backend sw \
			--header-digest crc32c --data-digest "$dd" --queue-depth "$QD" --block-size "$BS" \
			--seconds "$SECS" bench >"$out" 2>&1 || { cat "$out"; fail "$t $v run failed"; }
		grep -q "HeaderDigest CRC32C, DataDigest $([ "$dd" = crc32c ] && echo CRC32C || echo None)" "$out" ||
			{ cat "$out"; fail "$t $v: not the digests asked for"; }
		bench_read_rate "$out"
		;;
	iscsi-perf)
		"$RUSAGE" "$ru" iscsi-perf -m "$QD" -b "$((BS / 512))" -t "$SECS" \
			"iscsi://127.0.0.1:$port/$iqn/1" >"$out" 2>&1 || { tr '\r' '\n' <"$out"; fail "$t iscsi-perf failed"; }
		grep -q "blocks or" "$out" && grep -qi "fixed transfer size of $((BS / 512)) blocks ($BS byte)" "$out" ||
			{ tr '\r' '\n' <"$out"; fail "iscsi-perf: unexpected block size (the LUN must have 512-byte blocks)"; }
		iops=$(tr '\r' '\n' <"$out" | sed -n 's/.*iops average \([0-9]*\) .*/\1/p' | tail -1)
		secs=$SECS
		mib=$(awk -v i="$iops" -v s="$SECS" -v b="$BS" 'BEGIN { printf "%.3f", i * s * b / 1048576 }')
		;;
	esac
	tk1=$(ticks "$pid")
	uk1=$(uticks "$pid")
	[ -n "$mib" ] && [ -n "$secs" ] || { cat "$out"; fail "$t $v: no throughput in its output"; }
	read -r user sys wall rss code _ <"$ru"
	awk -v t="$t" -v v="$v" -v r="$rep" -v m="$mib" -v s="$secs" -v u="$user" -v y="$sys" -v w="$wall" \
	    -v k="$((tk1 - tk0))" -v ku="$((uk1 - uk0))" -v hz="$HZ" 'BEGIN {
		gib = m / 1024
		printf "%s %s %d %.3f %.4f %.3f %.3f %.3f %.3f %.4f %.4f %.4f %.4f\n", t, v, r, m / s, (u + y) / gib, u, y, w,
			k / hz / w, k / hz / gib, u / gib, y / gib, ku / hz / gib
	}' >>"$WORK/results"
}

VARIANTS="toeless-both toeless-hdr iscsi-perf"
bench_alternate "$TARGETS" "$VARIANTS" 'printf "  %s/%s %.0f MiB/s %.3f s/GiB;", $1, $2, $4, $5'
echo

awk -v targets="$TARGETS" "$BENCH_AWK_MEDIAN"'
# median, min and max of n values (a is sorted by median())
function stat(a, n, name, unit,   m) {
	m = median(a, n)
	lo[name] = a[1]; hi[name] = a[n]; med[name] = m
	return m
}
{ key = $1 SUBSEP $2; rate[key, $3] = $4; cpu[key, $3] = $5; tfrac[key, $3] = $9; tgib[key, $3] = $10
  ugib[key, $3] = $11; sgib[key, $3] = $12; tugib[key, $3] = $13
  if ($3 > reps) reps = $3 }
END {
	split("toeless-both toeless-hdr iscsi-perf", V, " ")
	nt = split(targets, T, " ")
	for (x = 1; x <= nt; x++) {
		t = T[x]
		printf "-- target: %s --\n", t == "fast" ? "fast-target (tests/bench/fast-target)" : "tgtd"
		printf "%-14s %8s %10s %6s %6s | %10s %12s %6s\n", "initiator", "MiB/s", "CPU s/GiB", "user", "sys",
			"target CPU", "target s/GiB", "user"
		for (k = 1; k <= 3; k++) {
			key = t SUBSEP V[k]
			for (r = 1; r <= reps; r++) {
				a[r] = rate[key, r]; b[r] = cpu[key, r]; c[r] = tfrac[key, r]; d[r] = tgib[key, r]
				e[r] = ugib[key, r]; f[r] = sgib[key, r]; g[r] = tugib[key, r]
			}
			mr[t, k] = median(a, reps); mc[t, k] = median(b, reps); mt[t, k] = median(c, reps); mg[t, k] = median(d, reps)
			mu = median(e, reps); ms = median(f, reps); mtu = median(g, reps); mus[t, k] = mu; mss[t, k] = ms
			printf "%-14s %8.1f %10.3f %6.3f %6.3f | %9.0f%% %12.3f %6.3f\n", V[k], mr[t, k], mc[t, k], mu, ms,
				100 * mt[t, k], mg[t, k], mtu
		}
		for (r = 1; r <= reps; r++) {
			p = t SUBSEP "iscsi-perf"; b2 = t SUBSEP "toeless-both"; h = t SUBSEP "toeless-hdr"
			cb[r] = cpu[b2, r] / cpu[p, r]; ch[r] = cpu[h, r] / cpu[p, r]
			rh[r] = rate[h, r] / rate[p, r]; rb[r] = rate[b2, r] / rate[p, r]
		}
		f_cb[t] = stat(cb, reps, t ".cb"); f_ch[t] = stat(ch, reps, t ".ch")
		f_rh[t] = stat(rh, reps, t ".rh"); f_rb[t] = stat(rb, reps, t ".rb")
		printf "ratios vs iscsi-perf (header digest only), medians of per-repetition ratios [min..max]:\n"
		printf "  CPU/GiB, toeless both digests:       %.3f [%.3f..%.3f]  (issue: <= 0.80)\n", f_cb[t], lo[t ".cb"], hi[t ".cb"]
		printf "  CPU/GiB, toeless same digests:       %.3f [%.3f..%.3f]  (issue: <= 0.75)\n", f_ch[t], lo[t ".ch"], hi[t ".ch"]
		printf "  read MiB/s, toeless same digests:    %.3f [%.3f..%.3f]  (issue: >= 1.0)\n", f_rh[t], lo[t ".rh"], hi[t ".rh"]
		printf "  read MiB/s, toeless both digests:    %.3f [%.3f..%.3f]\n\n", f_rb[t], lo[t ".rb"], hi[t ".rb"]
	}
	printf "(user, sys: the initiator'"'"'s CPU per GiB split; target CPU: all the target'"'"'s threads over the run'"'"'s\n"
	printf " wall time, 100%% = one core; then per GiB read, and its user part per GiB)\n\n"
	split("toeless_both toeless_hdr iscsi_perf", N, " ")
	for (x = 1; x <= nt; x++) {
		t = T[x]
		printf "BENCH e2e.%s.cpu_both %.4f ratio\n", t, f_cb[t]
		printf "BENCH e2e.%s.cpu_same %.4f ratio\n", t, f_ch[t]
		printf "BENCH e2e.%s.read_same %.4f ratio\n", t, f_rh[t]
		printf "BENCH e2e.%s.read_both %.4f ratio\n", t, f_rb[t]
		for (k = 1; k <= 3; k++) {
			printf "BENCH e2e.%s.%s_mibs %.1f MiB/s\n", t, N[k], mr[t, k]
			printf "BENCH e2e.%s.%s_cpu %.4f s/GiB\n", t, N[k], mc[t, k]
			printf "BENCH e2e.%s.%s_user_cpu %.4f s/GiB\n", t, N[k], mus[t, k]
			printf "BENCH e2e.%s.%s_sys_cpu %.4f s/GiB\n", t, N[k], mss[t, k]
			printf "BENCH e2e.%s.%s_target_cpu %.3f fraction\n", t, N[k], mt[t, k]
			printf "BENCH e2e.%s.%s_target_cpu_gib %.4f s/GiB\n", t, N[k], mg[t, k]
		}
	}
}' "$WORK/results"
