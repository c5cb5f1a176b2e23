#!/bin/sh
# wakeups.*: toeless-iscsi's receive-path options against a slow and a
# fast target, in the same run (issue 14): TOELESS_CTX_RCVLOWAT
# (--rx-lowat: one event-loop wake-up per PDU instead of one per TCP
# segment when the target trickles) and TOELESS_CQ_POLLED (--cq-polled: no
# eventfd write/read for the completion queue).
#
# Targets: tgtd with HeaderDigest and DataDigest CRC32C (it computes data
# digests in software at a few hundred MiB/s: the slow target) and
# tests/bench/fast-target with the same digests.  Variants of
# `toeless-iscsi --backend sw --header-digest crc32c --data-digest crc32c
# --stats bench` (64 KiB READs, queue depth 16):
#   plain    --rx-lowat no  --cq-polled no   (what it did before issue 14)
#   lowat    --rx-lowat yes --cq-polled no
#   polled   --rx-lowat no  --cq-polled yes
#   both     --rx-lowat yes --cq-polled yes
# each BENCH_E2E_SECONDS (3) under bench-rusage, in an order that rotates
# every repetition.  Per run: MiB/s, CPU s/GiB (user + system, wait4), and
# from --stats: socket wake-ups (the initiator's rx_wakeups counter: readable
# events handled) and read syscalls (the library's recv_syscalls) per PDU
# received.  Figures: medians over the repetitions, and the median of the
# per-repetition ratio of each variant's CPU/GiB to plain's, [min..max].
#
# Environment: BENCH_REPS (default 7, at least 5), BENCH_QUICK,
# BENCH_E2E_SECONDS, BENCH_E2E_LUN_MIB (128), BENCH_WAKEUP_TARGETS
# ("tgtd fast").  Skips (77) like bench-e2e.sh.
#
# SPDX-License-Identifier: MIT
if [ -z "$BASH_VERSION" ]; then exec bash "$0" "$@"; fi

echo "== wakeups: toeless-iscsi --rx-lowat / --cq-polled against tgtd (slow) and fast-target, both digests =="
top_builddir=${abs_top_builddir:-${top_builddir:-.}}
top_srcdir=${abs_top_srcdir:-${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}}
export top_builddir top_srcdir

BENCH_NAME=wakeups
. "$top_srcdir/tests/bench/bench-iscsi.sh"
TARGETS=${BENCH_WAKEUP_TARGETS:-tgtd fast}
bench_start_targets "$TARGETS" CRC32C crc32c
echo "64 KiB READs, queue depth 16, $SECS s per run, $REPS repetitions, alternated; LUN $LUN_MIB MiB"
echo

opts_of() {
	case $1 in
	plain) echo "--rx-lowat no --cq-polled no" ;;
	lowat) echo "--rx-lowat yes --cq-polled no" ;;
	polled) echo "--rx-lowat no --cq-polled yes" ;;
	both) echo "--rx-lowat yes --cq-polled yes" ;;
	esac
}
# counter NAME FILE: the "all connections" column of a --stats line
counter() { awk -v n="$1" '$1 == n { print $NF; exit }' "$2"; }

# run_one T V REP: appends "T V REP MiB/s cpu_s_per_gib wakeups_per_pdu readv_per_pdu"
run_one() {
	local t=$1 v=$2 rep=$3 out=$WORK/run.out ru=$WORK/run.ru port iqn
	read -r _ port iqn <<<"$(bench_target_of "$t")"
	# shellcheck disable=SC2046
	"$RUSAGE" "$ru" "$INIT_BIN" --portal "127.0.0.1:$port" --target "$iqn" --lun 1 --backend sw \
		--header-digest crc32c --data-digest crc32c $(opts_of "$v") --stats --seconds "$SECS" bench \
		>"$out" 2>&1 || { cat "$out"; fail "$t $v run failed"; }
	grep -q "HeaderDigest CRC32C, DataDigest CRC32C" "$out" || { cat "$out"; fail "$t $v: digests"; }
	local mib secs pdus wake rsc
	bench_read_rate "$out"
	pdus=$(counter pdus_rx "$out")
	wake=$(counter rx_wakeups "$out")
	rsc=$(counter recv_syscalls "$out")
	[ -n "$mib" ] && [ -n "$pdus" ] && [ -n "$wake" ] || { cat "$out"; fail "$t $v: no figures in its output"; }
	read -r user sys wall rss code _ <"$ru"
	awk -v t="$t" -v v="$v" -v r="$rep" -v m="$mib" -v s="$secs" -v u="$user" -v y="$sys" -v p="$pdus" \
	    -v w="$wake" -v c="$rsc" 'BEGIN { printf "%s %s %d %.3f %.4f %.4f %.4f\n", t, v, r, m / s, (u + y) / (m / 1024),
		w / p, c / p }' >>"$WORK/results"
}

VARIANTS="plain lowat polled both"
bench_alternate "$TARGETS" "$VARIANTS" 'printf "  %s/%s %.0f MiB/s %.3f s/GiB %.2f wk/PDU;", $1, $2, $4, $5, $6'
echo

awk -v targets="$TARGETS" -v variants="$VARIANTS" "$BENCH_AWK_MEDIAN"'
{ key = $1 SUBSEP $2; rate[key, $3] = $4; cpu[key, $3] = $5; wk[key, $3] = $6; rs[key, $3] = $7
  if ($3 > reps) reps = $3 }
END {
	nt = split(targets, T, " "); nv = split(variants, V, " ")
	for (x = 1; x <= nt; x++) {
		t = T[x]
		printf "-- target: %s, both digests --\n", t == "fast" ? "fast-target" : "tgtd"
		printf "%-8s %8s %10s %9s %9s | %s\n", "variant", "MiB/s", "CPU s/GiB", "wake/PDU", "readv/PDU",
			"CPU/GiB vs plain [min..max]"
		for (k = 1; k <= nv; k++) {
			key = t SUBSEP V[k]; p = t SUBSEP "plain"
			for (r = 1; r <= reps; r++) { a[r] = rate[key, r]; b[r] = cpu[key, r]; c[r] = wk[key, r]; d[r] = rs[key, r]
				q[r] = cpu[key, r] / cpu[p, r] }
			m1 = median(a, reps); m2 = median(b, reps); m3 = median(c, reps); m4 = median(d, reps); mq = median(q, reps)
			printf "%-8s %8.1f %10.3f %9.2f %9.2f | %.3f [%.3f..%.3f]\n", V[k], m1, m2, m3, m4, mq, q[1], q[reps]
			out = out sprintf("BENCH wakeups.%s.%s_mibs %.1f MiB/s\n", t, V[k], m1)
			out = out sprintf("BENCH wakeups.%s.%s_cpu %.4f s/GiB\n", t, V[k], m2)
			out = out sprintf("BENCH wakeups.%s.%s_wakeups_per_pdu %.3f count\n", t, V[k], m3)
			out = out sprintf("BENCH wakeups.%s.%s_readv_per_pdu %.3f count\n", t, V[k], m4)
			out = out sprintf("BENCH wakeups.%s.%s_cpu_vs_plain %.4f ratio\n", t, V[k], mq)
		}
		printf "\n"
	}
	printf "%s", out
}' "$WORK/results"
