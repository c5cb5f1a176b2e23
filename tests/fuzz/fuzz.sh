#!/bin/sh
# Build and run the libFuzzer harnesses (doc/reliability.md).  Called by
# `make fuzz` and `make fuzz-run`; usable by hand from a configured build
# directory:
#
#   fuzz.sh build SRCDIR BUILDDIR CORE_SOURCES...
#   fuzz.sh run   SRCDIR BUILDDIR [TARGET...]
#
# build: compiles the library's sources (the same list as libtoeless-core)
# with $FUZZ_CC (clang) and $FUZZ_CFLAGS (AddressSanitizer + UBSan) plus
# -fsanitize=fuzzer-no-link into BUILDDIR/tests/fuzz/obj/, then links
# BUILDDIR/tests/fuzz/fuzz-pdu and fuzz-rx with -fsanitize=fuzzer.
#
# run: runs each target for $FUZZ_SECONDS (default 60) on a working corpus
# BUILDDIR/tests/fuzz/corpus-TARGET (kept between runs, so coverage
# accumulates) seeded from SRCDIR/tests/fuzz/corpus/TARGET (read only).  A
# crash, a leak, a sanitizer report, a failed check of the harness or a
# timeout leaves its input in BUILDDIR/tests/fuzz/artifacts/ and fails the
# run.  Prints one line per target, and appends them to
# BUILDDIR/tests/fuzz/summary.txt:
#     fuzz rx: 71234 executions in 60 s (1187/s), corpus 1500 inputs, 0 crashes
#
# Environment: FUZZ_CC (clang), FUZZ_CFLAGS, LIBS (link libraries, from
# configure), FUZZ_SECONDS, FUZZ_MAX_LEN (8192), FUZZ_ARGS (more libFuzzer
# options).
#
# SPDX-License-Identifier: MIT
set -u

cmd=${1:-}
srcdir=${2:-}
builddir=${3:-}
[ -n "$cmd" ] && [ -n "$srcdir" ] && [ -n "$builddir" ] || {
	echo "usage: fuzz.sh build|run SRCDIR BUILDDIR ..." >&2
	exit 2
}
shift 3
FUZZ_CC=${FUZZ_CC:-clang}
FUZZ_CFLAGS=${FUZZ_CFLAGS:--g -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all}
FUZZ_SECONDS=${FUZZ_SECONDS:-60}
FUZZ_MAX_LEN=${FUZZ_MAX_LEN:-8192}
TARGETS="pdu rx"
out=$builddir/tests/fuzz

case $cmd in
build)
	mkdir -p "$out/obj" || exit 1
	if ! echo 'int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n); int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n) { (void)d; return (int)n & 0; }' |
		$FUZZ_CC -x c -fsanitize=fuzzer,address -o "$out/obj/probe" - >/dev/null 2>&1; then
		echo "fuzz.sh: $FUZZ_CC cannot build libFuzzer programs:" \
			"apt-get install clang libclang-rt-14-dev (or set FUZZ_CC)" >&2
		exit 1
	fi
	rm -f "$out/obj/probe"
	inc="-I$builddir -I$srcdir/include -I$srcdir/lib -I$srcdir/tests/fuzz"
	# any newer header rebuilds everything (no dependency tracking here)
	newest_hdr=$(ls -t "$srcdir"/include/*.h "$srcdir"/lib/*.h "$srcdir"/backends/*/*.h "$builddir/config.h" \
		"$srcdir/tests/fuzz/fuzz.h" 2>/dev/null | head -n 1)
	objs=""
	for src in "$@"; do
		case $src in *.c) ;; *) continue ;; esac
		o=$out/obj/$(echo "$src" | tr / _ | sed 's/\.c$/.o/')
		objs="$objs $o"
		if [ ! -f "$o" ] || [ "$srcdir/$src" -nt "$o" ] || [ "$newest_hdr" -nt "$o" ]; then
			echo "  FUZZCC   $src"
			# shellcheck disable=SC2086
			$FUZZ_CC -std=gnu11 $FUZZ_CFLAGS -fsanitize=fuzzer-no-link $inc -c "$srcdir/$src" -o "$o" || exit 1
		fi
	done
	[ -n "$objs" ] || { echo "fuzz.sh: no library sources given" >&2; exit 2; }
	for t in $TARGETS; do
		relink=""
		for f in $objs "$srcdir/tests/fuzz/fuzz_$t.c" "$newest_hdr"; do
			[ -f "$out/fuzz-$t" ] && [ ! "$f" -nt "$out/fuzz-$t" ] || relink=1
		done
		[ -n "$relink" ] || continue
		echo "  FUZZLD   tests/fuzz/fuzz-$t"
		# shellcheck disable=SC2086
		$FUZZ_CC -std=gnu11 $FUZZ_CFLAGS -fsanitize=fuzzer $inc "$srcdir/tests/fuzz/fuzz_$t.c" $objs \
			${LIBS:--lisal -ldl} -pthread -o "$out/fuzz-$t" || exit 1
	done
	;;
run)
	[ $# -gt 0 ] && TARGETS="$*"
	mkdir -p "$out/artifacts" || exit 1
	rc=0
	for t in $TARGETS; do
		[ -x "$out/fuzz-$t" ] || { echo "fuzz.sh: $out/fuzz-$t not built (make fuzz)" >&2; exit 1; }
		mkdir -p "$out/corpus-$t"
		log=$out/fuzz-$t.log
		before=$(ls "$out/artifacts" | wc -l)
		# new inputs go to the first directory; the seeds are only read
		# shellcheck disable=SC2086
		timeout -k 10 $((FUZZ_SECONDS + 120)) "$out/fuzz-$t" -max_total_time="$FUZZ_SECONDS" \
			-max_len="$FUZZ_MAX_LEN" -timeout=20 -rss_limit_mb=3072 -print_final_stats=1 \
			-artifact_prefix="$out/artifacts/$t-" ${FUZZ_ARGS:-} \
			"$out/corpus-$t" "$srcdir/tests/fuzz/corpus/$t" >"$log" 2>&1
		frc=$?
		execs=$(awk '/stat::number_of_executed_units/ { print $NF }' "$log")
		speed=$(awk '/stat::average_exec_per_sec/ { print $NF }' "$log")
		corpus=$(ls "$out/corpus-$t" | wc -l)
		crashes=$(($(ls "$out/artifacts" | wc -l) - before))
		[ "$frc" -ne 0 ] && [ "$crashes" -eq 0 ] && crashes=1
		line="fuzz $t: ${execs:-0} executions in $FUZZ_SECONDS s (${speed:-0}/s), corpus $corpus inputs, $crashes crashes"
		echo "$line"
		echo "$line" >>"$out/summary.txt"
		if [ "$crashes" -ne 0 ]; then
			rc=1
			echo "---- $log (last lines) ----"
			grep -v '^#[0-9]' "$log" | tail -n 60
			echo "---- artifacts: $out/artifacts; reproduce with $out/fuzz-$t FILE" \
				"(FUZZ_TRACE=1 for fuzz-rx) ----"
		fi
	done
	exit $rc
	;;
*)
	echo "fuzz.sh: unknown command $cmd" >&2
	exit 2
	;;
esac
