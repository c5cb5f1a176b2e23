# Shared by bench-e2e.sh and bench-wakeups.sh: sourced, not run, once the
# script has set top_builddir and top_srcdir.  The initiator-against-targets
# drivers: the same checks, the same two targets, the same alternation.
#
#   BENCH_NAME              the benchmark's name, for "NAME: SKIP: ..." lines
#   bench_skip REASON       exit 77 with that line
#   (sourcing it)           skips unless root with tgtd, toeless-iscsi and
#                           bench-rusage built; sets INITIATOR, INIT_BIN and
#                           FAST_TARGET (the real binaries, not libtool's
#                           wrappers: a wrapper's shell would be charged to
#                           the initiator's CPU, and the target's PID must be
#                           the process that serves), RUSAGE, REPS
#                           (BENCH_REPS, default 7, at least 5), SECS
#                           (BENCH_E2E_SECONDS, default 3, BENCH_QUICK 1),
#                           LUN_MIB (BENCH_E2E_LUN_MIB, 128); sources
#                           tests/iscsi/fixture.sh and tests/bench/fast-target.sh
#   bench_start_targets "fast tgtd" TGT_DATADIGEST FAST_DATADIGEST
#                           fast-target (as F) and/or tgtd, LUN 1 of LUN_MIB
#                           MiB (tgtd's filled with random bytes), both
#                           requiring HeaderDigest CRC32C
#   bench_target_of T       "PID PORT IQN" of target T
#   bench_read_rate FILE    sets mib and secs from toeless-iscsi's
#                           "bench read: X MiB in Y s" line
#   bench_alternate "TARGETS" "VARIANTS" SUMMARY
#                           REPS repetitions of run_one T V REP (the
#                           script's: it appends a line "T V REP ..." to
#                           $WORK/results) over every T:V, in an order that
#                           rotates by one each repetition; after each, a
#                           line "  rep N:" and the awk statement SUMMARY run
#                           on that repetition's lines
#   BENCH_AWK_MEDIAN        awk: median(a, n) of a[1..n] (sorts a)
#
# SPDX-License-Identifier: MIT
# (what it sets is used by the scripts that source it)
# shellcheck shell=bash disable=SC2034,SC2154
bench_skip() { echo "$BENCH_NAME: SKIP: $*"; exit 77; }
[ "$(id -u)" = 0 ] || bench_skip "needs root to run tgtd"
command -v tgtd >/dev/null 2>&1 || bench_skip "tgtd not installed (apt-get install tgt)"
INITIATOR=$top_builddir/examples/toeless-iscsi/toeless-iscsi
[ -x "$INITIATOR" ] || bench_skip "toeless-iscsi not built ($INITIATOR; needs libuv1-dev)"
RUSAGE=$top_builddir/tests/bench/bench-rusage
[ -x "$RUSAGE" ] || bench_skip "tests/bench/bench-rusage not built (make bench builds it)"
INIT_BIN=$INITIATOR
[ -x "$top_builddir/examples/toeless-iscsi/.libs/toeless-iscsi" ] &&
	INIT_BIN=$top_builddir/examples/toeless-iscsi/.libs/toeless-iscsi
FAST_TARGET=$top_builddir/tests/bench/fast-target
[ -x "$top_builddir/tests/bench/.libs/fast-target" ] && FAST_TARGET=$top_builddir/tests/bench/.libs/fast-target
LD_LIBRARY_PATH=$top_builddir/.libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
export LD_LIBRARY_PATH INITIATOR
. "$top_srcdir/tests/iscsi/fixture.sh"
. "$top_srcdir/tests/bench/fast-target.sh"
trap 'ft_stop_all; cleanup' EXIT

REPS=${BENCH_REPS:-7}
[ "$REPS" -ge 5 ] 2>/dev/null || REPS=5
if [ "${BENCH_QUICK:-0}" != 0 ]; then SECS=${BENCH_E2E_SECONDS:-1}; else SECS=${BENCH_E2E_SECONDS:-3}; fi
LUN_MIB=${BENCH_E2E_LUN_MIB:-128}

bench_start_targets() {
	local t
	for t in $1; do
		case $t in
		fast)
			[ -x "$FAST_TARGET" ] || bench_skip "tests/bench/fast-target not built"
			ft_start F --size "${LUN_MIB}M" --header-digest crc32c --data-digest "$3"
			echo "fast-target pid $FT_PID_F on 127.0.0.1:$FT_PORT_F, $FT_IQN, LUN 1 = ${LUN_MIB} MiB (pattern)"
			;;
		tgtd)
			tgt_start "$LUN_MIB"
			# real data in the LUN (tgtd reads it from the page cache)
			head -c "$((LUN_MIB * 1048576))" /dev/urandom |
				dd of="$TGT_LUN_FILE" conv=notrunc bs=1M iflag=fullblock status=none || fail "cannot fill the LUN"
			tgt_set HeaderDigest CRC32C
			tgt_set DataDigest "$2"
			;;
		*) fail "unknown target $t (fast, tgtd)" ;;
		esac
	done
}

bench_target_of() {
	case $1 in
	fast) echo "$FT_PID_F $FT_PORT_F $FT_IQN" ;;
	tgtd) echo "$TGT_PID $TGT_PORT $TGT_IQN" ;;
	esac
}

bench_read_rate() {
	mib=$(sed -n 's/^bench read: \([0-9.]*\) MiB in \([0-9.]*\) s.*/\1/p' "$1")
	secs=$(sed -n 's/^bench read: \([0-9.]*\) MiB in \([0-9.]*\) s.*/\2/p' "$1")
}

bench_alternate() {
	local summary=$3 runs='' t v n rep k i j tv order
	for t in $1; do for v in $2; do runs="$runs $t:$v"; done; done
	# shellcheck disable=SC2086
	set -- $runs
	n=$#
	: >"$WORK/results"
	for rep in $(seq 1 "$REPS"); do
		k=$(((rep - 1) % n))
		order=
		for i in $(seq 0 $((n - 1))); do
			j=$(((i + k) % n + 1))
			eval "order=\"\$order \${$j}\""
		done
		for tv in $order; do run_one "${tv%%:*}" "${tv#*:}" "$rep"; done
		printf "  rep %d:%s\n" "$rep" "$(awk -v r="$rep" "\$3 == r { $summary }" "$WORK/results")"
	done
}

BENCH_AWK_MEDIAN='
function median(a, n,   i, j, t) {
	for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j-1] > a[j]; j--) { t = a[j]; a[j] = a[j-1]; a[j-1] = t }
	return n % 2 ? a[(n+1)/2] : (a[n/2] + a[n/2+1]) / 2
}'
