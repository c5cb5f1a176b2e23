#!/bin/bash
# make bench, "nbd": one iSCSI LUN served over NBD two ways, side by side
#   toeless: nbdkit -t 4 + nbdkit-toeless-plugin, HeaderDigest and DataDigest CRC32C
#   qemu:    qemu-nbd --image-opts driver=iscsi,...,header-digest=crc32c
#            (QEMU's libiscsi path; libiscsi has no data digest)
# from two targets in the same run (BENCH_NBD_TARGETS, default "tgtd fast"):
#   tgtd: a local tgtd LUN of random data (tests/iscsi/fixture.sh); tgtd
#         computes the data digest in software on its one protocol thread,
#         so with DataDigest it is what limits the plugin's run;
#   fast: tests/bench/fast-target (both digests negotiable, pre-digested
#         Data-In from a pattern, writes checked and discarded), so the
#         plugin's CPU per GiB with both digests is measured where the
#         target is not the bottleneck.  qemu-nbd's libiscsi logs in to it
#         with HeaderDigest CRC32C like to tgtd.
# measured with the same tools: fio (ioengine=nbd, 64 KiB random reads,
# iodepth 16, BENCH_SECONDS each), qemu-img convert of the whole LUN out to
# a file and back in.  Servers alternate (order rotated every round),
# BENCH_ROUNDS rounds (default 5); the median is printed with min..max:
# throughput; CPU seconds per GiB moved of the serving process (utime +
# stime deltas from /proc/PID/stat, which count the threads that ended too)
# and of the target.
# BENCH_TOELESS_ARGS replaces the plugin's digest parameters (e.g.
# "data-digest=none" to see what tgtd's own data digest costs).
# BENCH_NBD_PLUGIN_BEFORE=PATH adds a third server, "before": nbdkit with
# the plugin .so at PATH (an older build), same arguments, in the same
# rotation, for before/after figures from one run.
# BENCH_NBDKIT_ARGS: nbdkit's own options for the plugin's runs (default
# "-t 4", the plugin's recommended invocation, see doc/performance.md);
# BENCH_NBDKIT_BEFORE_ARGS the same for "before" (default: the same), so
# that one run can compare e.g. "-t 16" against "-t 4" with one .so.
# BENCH_NBD_STRACE=SECONDS (default 0: off) adds, after the rounds, one fio
# run of that length per server and target under `strace -c -f` and prints
# the serving process's system calls per 64 KiB request (strace slows the
# server: counts, not times, are what it is for).
# Needs root, tgtd, nbdkit + the plugin, qemu-nbd with the iscsi driver
# (qemu-block-extra), qemu-img and fio; skips (77) otherwise.
#
# SPDX-License-Identifier: MIT
top_builddir=${abs_top_builddir:-.}
top_srcdir=${abs_top_srcdir:-.}
. "$top_srcdir/tests/iscsi/fixture.sh"
. "$top_srcdir/tests/bench/fast-target.sh"
trap 'ft_stop_all; cleanup' EXIT
need_plugin
need_cmd qemu-nbd qemu-utils
need_cmd qemu-img qemu-utils
need_cmd fio fio
ROUNDS=${BENCH_ROUNDS:-5}
SECS=${BENCH_SECONDS:-5}
MIB=${BENCH_LUN_MIB:-256}
TARGETS=${BENCH_NBD_TARGETS:-tgtd fast}
STRACE_SECS=${BENCH_NBD_STRACE:-0}
HZ=$(getconf CLK_TCK)
TOELESS_ARGS=${BENCH_TOELESS_ARGS:-header-digest=crc32c data-digest=crc32c}
SERVERS="toeless qemu"
if [ -n "$BENCH_NBD_PLUGIN_BEFORE" ]; then
	[ -f "$BENCH_NBD_PLUGIN_BEFORE" ] || fail "BENCH_NBD_PLUGIN_BEFORE: no file $BENCH_NBD_PLUGIN_BEFORE"
	SERVERS="toeless before qemu"
fi
[ "$STRACE_SECS" = 0 ] || need_cmd strace strace
NBDKIT_ARGS=${BENCH_NBDKIT_ARGS--t 4}
NBDKIT_BEFORE_ARGS=${BENCH_NBDKIT_BEFORE_ARGS-$NBDKIT_ARGS}

FAST_TARGET=$top_builddir/tests/bench/fast-target
# the real binary, not libtool's wrapper (its PID is the one that serves)
[ -x "$top_builddir/tests/bench/.libs/fast-target" ] && FAST_TARGET=$top_builddir/tests/bench/.libs/fast-target
LD_LIBRARY_PATH=$top_builddir/.libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
export LD_LIBRARY_PATH
head -c $((MIB << 20)) /dev/urandom >"$WORK/in.img"
for t in $TARGETS; do
	case $t in
	tgtd)
		tgt_start "$MIB"
		tgt_set HeaderDigest CRC32C,None
		tgt_set DataDigest CRC32C,None
		head -c $((MIB << 20)) /dev/urandom | dd of="$TGT_LUN_FILE" conv=notrunc bs=1M iflag=fullblock status=none ||
			fail "cannot fill the LUN"
		;;
	fast)
		[ -x "$FAST_TARGET" ] || skip "tests/bench/fast-target not built (make bench builds it)"
		ft_start F --size "${MIB}M" --header-digest any --data-digest any
		;;
	*) fail "BENCH_NBD_TARGETS: unknown target $t (tgtd, fast)" ;;
	esac
done
SOCK=$WORK/nbd.sock
URI="nbd+unix:///?socket=$SOCK"

# target_of T: "PID PORT IQN"
target_of() {
	case $1 in
	tgtd) echo "$TGT_PID $TGT_PORT $TGT_IQN" ;;
	fast) echo "$FT_PID_F $FT_PORT_F $FT_IQN" ;;
	esac
}
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

# start_server SERVER TARGET [WRAPPER...]
start_server() {
	local srv=$1 pid port iqn
	shift
	read -r pid port iqn <<<"$(target_of "$1")"
	shift
	rm -f "$SOCK"
	case $srv in
	toeless | before)
		local so=$PLUGIN nargs=$NBDKIT_ARGS
		[ "$srv" = before ] && so=$BENCH_NBD_PLUGIN_BEFORE nargs=$NBDKIT_BEFORE_ARGS
		# $nargs unquoted: nbdkit options split at blanks
		(exec "$@" nbdkit -f $nargs -U "$SOCK" "$so" portal=127.0.0.1:$port target=$iqn lun=1 \
			$TOELESS_ARGS 2>"$WORK/server.err") &
		;;
	qemu) (exec "$@" qemu-nbd -t -e 8 -k "$SOCK" --image-opts \
			"driver=iscsi,transport=tcp,portal=127.0.0.1:$port,target=$iqn,lun=1,header-digest=crc32c" \
			2>"$WORK/server.err") & ;;
	esac
	# (exec ...): with the fixture's signal traps set, bash would otherwise
	# keep a subshell between $! and the server, and /proc/$! would not be it
	SPID=$!
	for _ in $(seq 100); do [ -S "$SOCK" ] && break; sleep 0.1; done
	[ -S "$SOCK" ] || { cat "$WORK/server.err"; fail "$srv server did not start"; }
	[ -n "$1" ] || case $(ps -o comm= -p "$SPID") in nbdkit | qemu-nbd) ;; *) fail "$srv: \$! is not the server" ;; esac
}
# under strace, the server is strace's child: stop it, and strace writes its summary
stop_server() {
	local p=$SPID c
	c=$(ps -o pid= --ppid "$SPID" 2>/dev/null | head -1)
	[ -n "$c" ] && [ "$(ps -o comm= -p "$SPID")" = strace ] && p=$c
	kill -TERM "$p" 2>/dev/null
	wait "$SPID" 2>/dev/null
}

# measure SERVER TARGET WHAT CMD...: run CMD, record
# "MiB/s cpu-s/GiB target-cpu-s/GiB" for the bytes moved
measure() {
	local srv=$1 tgt=$2 what=$3 bytes t0 t1 c0 c1 g0 g1 tpid
	shift 3
	read -r tpid _ <<<"$(target_of "$tgt")"
	c0=$(cpu_ticks "$SPID"); g0=$(cpu_ticks "$tpid"); t0=$(date +%s.%N)
	"$@" >"$WORK/cmd.out" 2>&1 || { cat "$WORK/cmd.out"; fail "$srv $tgt $what: $*"; }
	t1=$(date +%s.%N); c1=$(cpu_ticks "$SPID"); g1=$(cpu_ticks "$tpid")
	if [ "$what" = fio-randread ]; then
		bytes=$(awk -F';' '{ print $6 * 1024 }' "$WORK/cmd.out" | tail -1)
	else
		bytes=$((MIB << 20))
	fi
	awk -v b="$bytes" -v t0="$t0" -v t1="$t1" -v c=$((c1 - c0)) -v g=$((g1 - g0)) -v hz="$HZ" \
		'BEGIN { s = t1 - t0; gib = b / 1073741824
			printf "%.1f %.3f %.3f\n", b / 1048576 / s, c / hz / gib, g / hz / gib }' \
		>>"$WORK/$tgt.$srv.$what"
}

fio_randread() {
	fio --name=r --ioengine=nbd --uri="$URI" --rw=randread --bs=64k --iodepth=16 --time_based \
		--runtime="$1" --size=$((MIB << 20)) --minimal
}

# every (target, server) pair once per round, the order rotated by round
PAIRS=
for t in $TARGETS; do for s in $SERVERS; do PAIRS="$PAIRS $t:$s"; done; done
set -- $PAIRS
NPAIRS=$#
for r in $(seq "$ROUNDS"); do
	set -- $PAIRS
	order=
	for i in $(seq 0 $((NPAIRS - 1))); do
		j=$(( (i + r - 1) % NPAIRS + 1 ))
		eval "order=\"\$order \${$j}\""
	done
	for ts in $order; do
		tgt=${ts%%:*} srv=${ts#*:}
		start_server "$srv" "$tgt"
		measure "$srv" "$tgt" fio-randread fio_randread "$SECS"
		measure "$srv" "$tgt" convert-out qemu-img convert -f raw -O raw "$URI" "$WORK/out.img"
		measure "$srv" "$tgt" convert-in qemu-img convert -n -f raw -O raw "$WORK/in.img" "$URI"
		stop_server
		# fast-target discards what is written (its reads are a pattern)
		[ "$tgt" != tgtd ] || cmp -s "$TGT_LUN_FILE" "$WORK/in.img" ||
			fail "$srv: convert-in left the LUN different from its source"
	done
	echo "round $r done"
done

if [ "$ROUNDS" -gt 0 ]; then
# median (min..max) of column N
stat_col() { sort -g -k"$2" "$1" | awk -v n="$2" -v f="$3" '{ v[NR] = $n } END { m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf f " (%s..%s)", m, v[1], v[NR] }'; }

echo
echo "NBD serving of one iSCSI LUN ($MIB MiB), $ROUNDS rounds alternated, median (min..max)"
echo "toeless = nbdkit $NBDKIT_ARGS nbdkit-toeless-plugin ($TOELESS_ARGS)${BENCH_NBD_PLUGIN_BEFORE:+; before = nbdkit $NBDKIT_BEFORE_ARGS with $BENCH_NBD_PLUGIN_BEFORE}"
echo "qemu = qemu-nbd, iscsi driver (libiscsi), HeaderDigest CRC32C"
echo "target tgtd: tgtd (software data digest); target fast: tests/bench/fast-target (pre-digested Data-In)"
printf "%-6s %-14s %-8s %-26s %-26s %-26s\n" target test server "MiB/s" "server CPU s/GiB" "target CPU s/GiB"
for tgt in $TARGETS; do
	for what in fio-randread convert-out convert-in; do
		for srv in $SERVERS; do
			f=$WORK/$tgt.$srv.$what
			printf "%-6s %-14s %-8s %-26s %-26s %-26s\n" "$tgt" "$what" "$srv" "$(stat_col "$f" 1 %7.1f)" \
				"$(stat_col "$f" 2 %6.3f)" "$(stat_col "$f" 3 %6.3f)"
		done
	done
done

fi

[ "$STRACE_SECS" = 0 ] && exit 0
# System calls per 64 KiB request: strace -c -f on the server over one fio
# run; requests = fio's completed reads.  strace's own summary is per
# process tree, so the fio client is not in it.
echo
echo "System calls of the serving process per 64 KiB fio randread request (strace -c -f, ${STRACE_SECS} s)"
for tgt in $TARGETS; do
	for srv in $SERVERS; do
		start_server "$srv" "$tgt" strace -c -f -o "$WORK/strace.out"
		fio_randread "$STRACE_SECS" >"$WORK/cmd.out" 2>&1 || { cat "$WORK/cmd.out"; fail "strace run $srv $tgt"; }
		stop_server
		reqs=$(awk -F';' '{ print $6 / 64 }' "$WORK/cmd.out" | tail -1)
		echo "$tgt $srv: $reqs requests"
		awk -v n="$reqs" '$NF != "total" && NF >= 5 && $1 ~ /^[0-9.]+$/ {
				calls = $4; name = $NF; printf "  %-16s %6.2f\n", name, calls / n; tot += calls }
			END { printf "  %-16s %6.2f\n", "total", tot / n }' "$WORK/strace.out" | sort -k2 -g -r | head -12
	done
done
