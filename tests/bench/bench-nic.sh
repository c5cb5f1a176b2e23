#!/bin/bash
# nic.*: host CPU per GiB read through the wire-level NIC (tools/toeless-nic)
# from tgtd in another network namespace, with the hw backend (the NIC
# places Data-In and checks the digests; the host discards placed payload
# with MSG_TRUNC and computes no CRC over it) against the sw backend over
# the same path (the NIC only forwards; the host copies and checksums), in
# the same run, HeaderDigest and DataDigest CRC32C on both.
#
# For each block size in BENCH_NIC_BS (64 KiB and 256 KiB) and each of
# BENCH_REPS repetitions (at least 5), hw and sw alternate (the order
# flips every repetition); each run is `toeless-iscsi bench` for
# BENCH_NIC_SECONDS at queue depth BENCH_NIC_QD under bench-rusage (user +
# system CPU the kernel charged to the initiator: its copy and CRC, and its
# share of the kernel's TCP receive work).  The NIC process's own CPU
# (utime + stime from /proc/PID/stat) over each run is reported apart:
# it is the cost a real NIC carries in silicon (doc/performance.md).
#
# Figures (medians over the repetitions, min..max beside):
#   nic.BS.cpu_ratio    hw host CPU/GiB / sw host CPU/GiB  (issue 12: <= 0.5)
#   nic.BS.hw_cpu, nic.BS.sw_cpu        host s/GiB (user, sys)
#   nic.BS.hw_mibs, nic.BS.sw_mibs      MiB/s
#   nic.BS.hw_nic_cpu, nic.BS.sw_nic_cpu  NIC process s/GiB
#   nic.BS.hw_wakeups, nic.BS.sw_wakeups  the initiator's sleeps (voluntary
#                                         context switches) per Data-In PDU
#
# Skips (77) without root, TUN, namespaces, tgtd or the programs.
# Environment: BENCH_REPS (default 5), BENCH_QUICK, BENCH_NIC_SECONDS
# (default 3; QUICK 1), BENCH_NIC_QD (16), BENCH_NIC_BS ("65536 262144"),
# BENCH_NIC_LUN_MIB (128), BENCH_NIC_MTU (9000: jumbo frames, as iSCSI
# networks use; at 1500 the kernel's per-segment receive work and the
# wake-ups it causes dominate both paths and hide what the NIC saves, see
# doc/performance.md), BENCH_NIC_OFFLOAD (1: the NIC runs with --offload,
# the kernels' TSO and checksum offload on its TUN devices, so TCP
# segments of up to 64 KiB cross it as one, as a real NIC's TSO and LRO
# deliver them; 0: every segment at most one MTU), BENCH_NIC_BASELINE (a build directory of another
# revision: its hw backend runs too, alternated with this build's hw and
# sw, and nic.BS.base_ratio is its hw against this build's sw: before and
# after a change in one run), BENCH_NIC_COALESCE ("FRAMES USECS", default
# "8 10000"; 0: off): a third variant, hwc, the hw backend with receive
# coalescing (TOELESS_HW_RX_FRAMES / TOELESS_HW_RX_USECS, doc/hw.md) in the
# same rotation; nic.BS.hwc_ratio is its host CPU per GiB against sw's.
#
# SPDX-License-Identifier: MIT
echo "== nic: host CPU per GiB through the wire NIC, hw backend vs sw backend (tgtd, both digests) =="
top_builddir=${abs_top_builddir:-${top_builddir:-.}}
top_srcdir=${abs_top_srcdir:-${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}}
skip() { echo "nic: SKIP: $*"; exit 77; }
fail() { echo "nic: FAIL: $*"; exit 1; }
[ "$(id -u)" = 0 ] || skip "needs root (namespaces, TUN, tgtd)"
command -v tgtd >/dev/null 2>&1 || skip "tgtd not installed"
INIT_BIN=$top_builddir/examples/toeless-iscsi/toeless-iscsi
[ -x "$top_builddir/examples/toeless-iscsi/.libs/toeless-iscsi" ] &&
	INIT_BIN=$top_builddir/examples/toeless-iscsi/.libs/toeless-iscsi
export TOELESS_NIC=$top_builddir/tools/toeless-nic/toeless-nic
RUSAGE=$top_builddir/tests/bench/bench-rusage
NETNS=$top_srcdir/tools/toeless-nic/toeless-nic-netns
[ -x "$INIT_BIN" ] && [ -x "$TOELESS_NIC" ] || skip "toeless-iscsi / toeless-nic not built (libuv)"
[ -x "$RUSAGE" ] || skip "tests/bench/bench-rusage not built (make bench builds it)"
LD_LIBRARY_PATH=$top_builddir/.libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
export LD_LIBRARY_PATH

REPS=${BENCH_REPS:-5}
[ "$REPS" -ge 5 ] 2>/dev/null || REPS=5
if [ "${BENCH_QUICK:-0}" != 0 ]; then SECS=${BENCH_NIC_SECONDS:-1}; else SECS=${BENCH_NIC_SECONDS:-3}; fi
QD=${BENCH_NIC_QD:-16}
SIZES=${BENCH_NIC_BS:-65536 262144}
LUN_MIB=${BENCH_NIC_LUN_MIB:-128}
export NIC_MTU=${BENCH_NIC_MTU:-9000}
export NIC_OFFLOAD=${BENCH_NIC_OFFLOAD:-1}

D=$(mktemp -d "${TMPDIR:-/tmp}/toeless-bench-nic.XXXXXX") || exit 99
trap '"$NETNS" down "$D" >/dev/null 2>&1; rm -rf "$D"' EXIT
"$NETNS" up "$D"; rc=$?
[ $rc = 0 ] || { [ $rc = 77 ] && skip "no namespaces/TUN"; fail "netns up"; }
. "$D/env"
IQN=iqn.2024-01.org.toeless.bench:nic$$
head -c "$((LUN_MIB * 1048576))" /dev/urandom >"$D/lun.img" || fail "cannot fill the LUN"
"$NETNS" nic "$D" || fail "nic start"
"$NETNS" tgtd "$D" "$D/lun.img" "$IQN" || fail "tgtd start"
NIC_PID=$(cat "$D/nic.pid")
HZ=$(getconf CLK_TCK)
ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
echo "MTU $NIC_MTU, NIC offloads $([ "$NIC_OFFLOAD" = 1 ] && echo "on (TSO/LRO: segments up to 64 KiB)" || echo off), queue depth $QD, $SECS s per run, $REPS repetitions, the variants rotated; LUN ${LUN_MIB} MiB in tgtd's namespace"
echo "host CPU = user + system time of toeless-iscsi (wait4 rusage) per GiB; NIC CPU = toeless-nic's utime + stime per GiB"
echo

COALESCE=${BENCH_NIC_COALESCE:-8 10000}
[ "$COALESCE" = 0 ] && COALESCE=
if [ -n "$COALESCE" ]; then
	read -r CO_FRAMES CO_USECS <<<"$COALESCE"
	[ "${CO_FRAMES:-0}" -ge 2 ] 2>/dev/null && [ "${CO_USECS:-0}" -ge 1 ] 2>/dev/null ||
		fail "BENCH_NIC_COALESCE=\"$COALESCE\": want \"FRAMES USECS\" (FRAMES >= 2, USECS >= 1) or 0"
	echo "hwc: the hw backend with receive coalescing, $CO_FRAMES PDUs or $CO_USECS us (TOELESS_HW_RX_FRAMES/USECS)"
fi
BASE=${BENCH_NIC_BASELINE:-}
BASE_BIN= BASE_LIB=
if [ -n "$BASE" ]; then
	BASE_BIN=$BASE/examples/toeless-iscsi/toeless-iscsi
	[ -x "$BASE/examples/toeless-iscsi/.libs/toeless-iscsi" ] && BASE_BIN=$BASE/examples/toeless-iscsi/.libs/toeless-iscsi
	BASE_LIB=$BASE/.libs
	[ -x "$BASE_BIN" ] || fail "BENCH_NIC_BASELINE=$BASE: no toeless-iscsi built there"
	echo "baseline: hw backend of $BASE (hwbase) in the same rotation"
fi

# run_one BS BACKEND REP: "BS BACKEND REP MiB/s host_s/GiB user_s/GiB sys_s/GiB nic_s/GiB" >> results
run_one() {
	local bs=$1 be=$2 rep=$3 spec=sw out=$D/run.out ru=$D/run.ru bin=$INIT_BIN lib=$LD_LIBRARY_PATH
	[ "$be" = sw ] || spec="hw:$NIC_CTL"
	[ "$be" = hwbase ] && bin=$BASE_BIN lib=$BASE_LIB${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
	local co=
	[ "$be" = hwc ] && co="TOELESS_HW_RX_FRAMES=$CO_FRAMES TOELESS_HW_RX_USECS=$CO_USECS"
	local k0 k1 mib secs
	k0=$(ticks "$NIC_PID")
	# shellcheck disable=SC2086 # $co: zero or two assignments
	ip netns exec "$NIC_HOST_NS" env LD_LIBRARY_PATH="$lib" $co "$RUSAGE" "$ru" "$bin" --portal "$NIC_TGT_ADDR:3260" --target "$IQN" --lun 1 \
		--backend "$spec" --header-digest crc32c --data-digest crc32c --queue-depth "$QD" --block-size "$bs" \
		--seconds "$SECS" --stats bench >"$out" 2>&1 || { cat "$out"; fail "$bs $be run failed"; }
	k1=$(ticks "$NIC_PID")
	mib=$(sed -n 's/^bench read: \([0-9.]*\) MiB in \([0-9.]*\) s.*/\1/p' "$out")
	secs=$(sed -n 's/^bench read: \([0-9.]*\) MiB in \([0-9.]*\) s.*/\2/p' "$out")
	[ -n "$mib" ] && [ -n "$secs" ] || { cat "$out"; fail "$bs $be: no throughput in its output"; }
	if [ "$be" != sw ]; then
		# the NIC must have done the work, or the figure means nothing
		local eng host
		eng=$(awk '$1 == "bytes_placed_engine" { print $2; exit }' "$out")
		host=$(awk '$1 == "bytes_placed_engine_host" { print $2; exit }' "$out")
		[ "${eng:-0}" -gt 0 ] && [ "${host:-1}" = 0 ] || { cat "$out"; fail "$bs hw: the NIC placed nothing"; }
		awk '$1 == "bytes_placed_engine" { e = $2 } $1 == "bytes_placed_sw" { s = $2 }
		     END { printf "%.4f\n", e / (e + s + 1) }' "$out" >>"$D/engine_share.$be.$bs"
	fi
	read -r user sys _ _ _ nvcsw <"$ru"
	awk -v b="$bs" -v e="$be" -v r="$rep" -v m="$mib" -v s="$secs" -v u="$user" -v y="$sys" -v k="$((k1 - k0))" \
	    -v hz="$HZ" -v w="${nvcsw:-0}" 'BEGIN { g = m / 1024
		printf "%s %s %d %.1f %.4f %.4f %.4f %.4f %.4f\n", b, e, r, m / s, (u + y) / g, u / g, y / g, k / hz / g, w / (m * 1048576 / b) }' \
		>>"$D/results"
}

: >"$D/results"
for bs in $SIZES; do
	for rep in $(seq 1 "$REPS"); do
		# every variant once per repetition, the order rotated by one each time
		vars=(hw sw ${COALESCE:+hwc} ${BASE:+hwbase})
		order=
		for i in $(seq 0 $((${#vars[@]} - 1))); do order="$order ${vars[$(((rep - 1 + i) % ${#vars[@]}))]}"; done
		for be in $order; do run_one "$bs" "$be" "$rep"; done
		printf "  %s B rep %d:%s\n" "$bs" "$rep" "$(awk -v b="$bs" -v r="$rep" '$1 == b && $3 == r {
			printf "  %s %.0f MiB/s host %.3f s/GiB NIC %.3f s/GiB;", $2, $4, $5, $8 }' "$D/results")"
	done
done
echo

awk '
function sort(a, n,   i, j, t) { for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j-1] > a[j]; j--) { t = a[j]; a[j] = a[j-1]; a[j-1] = t } }
function med(a, n) { sort(a, n); return n % 2 ? a[(n+1)/2] : (a[n/2] + a[n/2+1]) / 2 }
function line(name, a, n, unit) { m = med(a, n); printf "%-24s %10.4f %-6s (%.4f..%.4f)\n", name, m, unit, a[1], a[n]; return m }
{ k = $1 SUBSEP $3; if ($2 == "hwbase") { hb[k] = $5; next } if ($2 == "hwc") { hc[k] = $5; hcm[k] = $4; hcn[k] = $8; hcw[k] = $9; next } if ($2 == "hw") { hw[k] = $5; hwm[k] = $4; hwu[k] = $6; hws[k] = $7; hwn[k] = $8; hww[k] = $9 }
  else { sw[k] = $5; swm[k] = $4; swu[k] = $6; sws[k] = $7; swn[k] = $8; sww[k] = $9 }
  if (!($1 in seen)) { seen[$1] = 1; order[++nb] = $1 } if ($3 > reps) reps = $3 }
END {
	bad = 0
	for (b = 1; b <= nb; b++) {
		bs = order[b]; n = 0
		for (r = 1; r <= reps; r++) { k = bs SUBSEP r; if (!(k in hw) || !(k in sw)) continue
			n++; ra[n] = hw[k] / sw[k]; h[n] = hw[k]; s[n] = sw[k]; hm[n] = hwm[k]; sm[n] = swm[k]
			hu[n] = hwu[k]; hs[n] = hws[k]; su[n] = swu[k]; ss[n] = sws[k]; hn[n] = hwn[k]; sn[n] = swn[k]; hw_w[n] = hww[k]; sw_w[n] = sww[k] }
		p = "nic." bs "."
		ratio = line(p "cpu_ratio", ra, n, "")
		nb2 = 0
		for (r = 1; r <= reps; r++) { k = bs SUBSEP r; if ((k in hb) && (k in sw)) { nb2++; br[nb2] = hb[k] / sw[k]; bh[nb2] = hb[k] } }
		if (nb2) { line(p "base_ratio", br, nb2, ""); line(p "hwbase_cpu", bh, nb2, "s/GiB") }
		nc = 0
		for (r = 1; r <= reps; r++) { k = bs SUBSEP r; if ((k in hc) && (k in sw)) { nc++; cr[nc] = hc[k] / sw[k]; ch[nc] = hc[k]; cm[nc] = hcm[k]; cn[nc] = hcn[k]; cw[nc] = hcw[k] } }
		if (nc) { cratio = line(p "hwc_ratio", cr, nc, ""); line(p "hwc_cpu", ch, nc, "s/GiB"); line(p "hwc_mibs", cm, nc, "MiB/s"); line(p "hwc_nic_cpu", cn, nc, "s/GiB"); line(p "hwc_wakeups", cw, nc, "/PDU") }
		line(p "hw_cpu", h, n, "s/GiB"); line(p "hw_user_cpu", hu, n, "s/GiB"); line(p "hw_sys_cpu", hs, n, "s/GiB")
		line(p "sw_cpu", s, n, "s/GiB"); line(p "sw_user_cpu", su, n, "s/GiB"); line(p "sw_sys_cpu", ss, n, "s/GiB")
		line(p "hw_mibs", hm, n, "MiB/s"); line(p "sw_mibs", sm, n, "MiB/s")
		line(p "hw_nic_cpu", hn, n, "s/GiB"); line(p "sw_nic_cpu", sn, n, "s/GiB")
		line(p "hw_wakeups", hw_w, n, "/PDU"); line(p "sw_wakeups", sw_w, n, "/PDU")
		printf "%s: hw/sw host CPU per GiB %.2f (issue 12 target <= 0.5: %s)\n", bs, ratio, ratio <= 0.5 ? "met" : "MISSED"
		if (nc) printf "%s: hwc/sw (hw with receive coalescing) %.2f (issue 12 target <= 0.5: %s)\n", bs, cratio, cratio <= 0.5 ? "met" : "MISSED"
		printf "\n"
	}
}' "$D/results"
for bs in $SIZES; do
	for be in hw hwc hwbase; do
		[ -s "$D/engine_share.$be.$bs" ] &&
			echo "$bs: share of Data-In bytes the NIC placed ($be runs): $(sort -n "$D/engine_share.$be.$bs" | tr '\n' ' ')"
	done
done
exit 0
