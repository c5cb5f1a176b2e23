#!/bin/bash
# The hardening runs of doc/reliability.md, bounded in time, as one command
# (tools/test-all runs it as a stage; run it by hand the same way):
#
#   tests/hardening.sh [--build DIR] [--quick]
#
#  1. an ASan+UBSan build with clang (configure --enable-sanitizers) of the
#     library, toeless-iscsi, the hostile target and the tests;
#  2. the libFuzzer harnesses (make fuzz; clang -fsanitize=fuzzer,address,
#     undefined), each run for FUZZ_SECONDS, then their whole corpus replayed
#     by the ASan build;
#  3. the hostile target against toeless-iscsi built with ASan+UBSan;
#  4. the long fault run (mock engine faults + wire corruption, every block
#     verified) for FAULT_SECONDS under ASan, LeakSanitizer at exit;
#  5. a ThreadSanitizer build (configure --enable-tsan) and the thread stress
#     test for STRESS_SECONDS per case;
#  6. when toeless-devsim, tgtd and root are there: toeless-iscsi reads
#     through the device model with random faults for DEVSIM_SECONDS, every
#     read compared with the LUN (tests/stress/fault-devsim.sh).
#
# Every step prints its figures; they are collected in DIR/figures.txt.  The
# last line is "N passed, N failed" (one per step); exit status 0 only when
# nothing failed.
#
# Environment: FUZZ_SECONDS (60), FAULT_SECONDS (60), STRESS_SECONDS (6),
# DEVSIM_SECONDS (30), JOBS (2), CC_HARDEN (clang).  --quick divides the
# times by ten, for a look before committing.
#
# SPDX-License-Identifier: MIT
set -u
exec </dev/null

srcdir=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=$PWD/_build-hardening
quick=""
while [ $# -gt 0 ]; do
	case $1 in
	--build) build=$2; shift 2 ;;
	--quick) quick=1; shift ;;
	*) echo "usage: hardening.sh [--build DIR] [--quick]" >&2; exit 2 ;;
	esac
done
FUZZ_SECONDS=${FUZZ_SECONDS:-60}
FAULT_SECONDS=${FAULT_SECONDS:-60}
STRESS_SECONDS=${STRESS_SECONDS:-6}
DEVSIM_SECONDS=${DEVSIM_SECONDS:-30}
if [ -n "$quick" ]; then
	FUZZ_SECONDS=$(( (FUZZ_SECONDS + 9) / 10 ))
	FAULT_SECONDS=$(( (FAULT_SECONDS + 9) / 10 ))
	STRESS_SECONDS=$(( (STRESS_SECONDS + 9) / 10 ))
	DEVSIM_SECONDS=$(( (DEVSIM_SECONDS + 9) / 10 ))
fi
JOBS=${JOBS:-2}
CC_HARDEN=${CC_HARDEN:-clang}
export LC_ALL=C AM_COLOR_TESTS=no

mkdir -p "$build" || exit 1
figures=$build/figures.txt
: >"$figures"
passed=0
failed=0
failures=""

say() { printf '%s\n' "$*"; }

# step NAME COMMAND...: run, time, count; output goes to DIR/NAME.log and
# its lines starting with a figure keyword are echoed and collected.  Only
# the devsim step may skip (exit 77: no root or tgtd); a skip elsewhere
# means something this CI installs is missing, and fails.
step() {
	local name=$1 t0 rc secs
	shift
	printf '== %-28s ' "$name"
	t0=$(date +%s)
	"$@" >"$build/$name.log" 2>&1
	rc=$?
	secs=$(($(date +%s) - t0))
	if [ $rc -eq 0 ]; then
		passed=$((passed + 1))
		say "ok (${secs}s)"
	elif [ $rc -eq 77 ] && [ "$name" = devsim ]; then
		passed=$((passed + 1))
		say "skipped (${secs}s): $(tail -n 1 "$build/$name.log")"
	else
		failed=$((failed + 1))
		failures="$failures $name"
		say "FAILED (${secs}s, exit $rc; log: $build/$name.log)"
		tail -n 60 "$build/$name.log" | sed 's/^/| /'
	fi
	grep -E '^(fuzz [a-z]+:|replay:.*inputs run|hostile:|fault-run:|fault-devsim:|stress [a-z])' "$build/$name.log" |
		sed 's/^/   /' | tee -a "$figures"
}

configure_build() { # DIR ARGS...
	local dir=$1
	shift
	mkdir -p "$dir" && cd "$dir" || return 1
	[ -f Makefile ] || "$srcdir/configure" -q CC="$CC_HARDEN" "$@" || return 1
}

asan=$build/asan
tsan=$build/tsan
ASAN_TARGETS="libtoeless-core.la libtoeless.la tests/hostile/hostile tests/stress/fault-run
	tests/fuzz/replay-pdu tests/fuzz/replay-rx"

build_asan() {
	configure_build "$asan" --enable-sanitizers || return 1
	# shellcheck disable=SC2086
	make -j"$JOBS" $ASAN_TARGETS || return 1
	# the initiator needs libuv; without it the hostile step skips
	if pkg-config --exists 'libuv >= 1.30'; then
		make -j"$JOBS" examples/toeless-iscsi/toeless-iscsi || return 1
	fi
}

fuzz() {
	cd "$asan" || return 1
	make fuzz FUZZ_CC="$CC_HARDEN" || return 1
	rm -f tests/fuzz/summary.txt
	make fuzz-run FUZZ_SECONDS="$FUZZ_SECONDS"
}

replay() {
	local t rc=0
	cd "$asan" || return 1
	# every input the fuzzers kept, and the committed corpus
	for t in pdu rx; do
		./tests/fuzz/replay-$t tests/fuzz/corpus-$t "$srcdir/tests/fuzz/corpus/$t" >"replay-$t.log" 2>&1 || rc=1
		tail -n 1 "replay-$t.log" | sed "s/^replay:/replay: $t:/"
		[ $rc -eq 0 ] || tail -n 40 "replay-$t.log"
	done
	return $rc
}

hostile() {
	cd "$asan" || return 1
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		top_builddir=$asan top_srcdir=$srcdir bash "$srcdir/tests/hostile/test-hostile.sh"
}

fault_run() {
	cd "$asan" || return 1
	CK_FORK=no FAULT_SECONDS=$FAULT_SECONDS ASAN_OPTIONS=detect_leaks=1 \
		UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ./tests/stress/fault-run
}

tsan_stress() {
	configure_build "$tsan" --enable-tsan || return 1
	make -j"$JOBS" tests/stress/stress-threads || return 1
	# make sure it is instrumented: a clean run of an uninstrumented build proves nothing
	nm tests/stress/stress-threads | grep -q __tsan_init || { echo "stress-threads is not built with TSan"; return 1; }
	CK_FORK=no STRESS_SECONDS=$STRESS_SECONDS TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
		./tests/stress/stress-threads
}

devsim() {
	cd "$asan" || return 1
	[ "$(id -u)" = 0 ] || { echo "SKIP: needs root for tgtd"; return 77; }
	command -v tgtd >/dev/null || { echo "SKIP: tgtd not installed"; return 77; }
	make -j"$JOBS" tools/toeless-devsim/toeless-devsim examples/toeless-iscsi/toeless-iscsi >/dev/null 2>&1 ||
		{ echo "SKIP: toeless-devsim does not build"; return 77; }
	DEVSIM_SECONDS=$DEVSIM_SECONDS top_builddir=$asan top_srcdir=$srcdir \
		ASAN_OPTIONS=detect_leaks=1 bash "$srcdir/tests/stress/fault-devsim.sh"
}

say "hardening: source $srcdir, builds and logs under $build"
say "hardening: fuzz ${FUZZ_SECONDS}s per target, fault run ${FAULT_SECONDS}s, TSan stress ${STRESS_SECONDS}s per case, devsim ${DEVSIM_SECONDS}s"
step asan-build build_asan
if [ $failed -eq 0 ]; then
	step fuzz fuzz
	step replay replay
	step hostile hostile
	step fault-run fault_run
	step devsim devsim
fi
step tsan-stress tsan_stress

say "hardening: figures in $figures"
[ -n "$failures" ] && say "hardening: failed:$failures"
say "$passed passed, $failed failed"
[ $failed -eq 0 ]
