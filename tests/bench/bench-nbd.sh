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
# BENCH_TOELESS_BEFORE_ARGS: the plugin parameters for "before" (default:
# BENCH_TOELESS_ARGS), so that one run can compare two settings of one .so.
# BENCH_NBDKIT_ARGS: nbdkit's own options for the plugin's runs (default
# "-t 4", the plugin's recommended invocation, see doc/performance.md);
# BENCH_NBDKIT_BEFORE_ARGS the same for "before" (default: the same), so
# that one run can compare e.g. "-t 16" against "-t 4" with one .so.
# BENCH_NBD_STRACE=SECONDS (default 0: off) adds, after the rounds, one fio
# run of that length per server and target under `strace -c -f` and prints
# the serving process's system calls per 64 KiB request (strace slows the
# server: counts, not times, are what it is for).
# The framework's share (with the fast target; BENCH_NBD_SHARE_RATE, default
# 400m, "0" skips it): the same fio job capped at that rate, so that every
# server moves the same bytes per second and CPU per GiB compares like with
# like, against four servers rotated per round: the plugin and qemu-nbd on
# the fast target, and the same two frameworks with nothing behind them
# (nbdkit with the same options and its memory plugin, qemu-nbd with the
# null-co driver).  What a framework costs alone, taken from its total in
# the same round, leaves the iSCSI initiator's share: libtoeless with both
# digests against libiscsi with the header digest; the medians of those
# per-round differences and their ratio are printed.
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
SHARE_RATE=${BENCH_NBD_SHARE_RATE:-400m}
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
TOELESS_BEFORE_ARGS=${BENCH_TOELESS_BEFORE_ARGS-$TOELESS_ARGS}

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
	none) echo "0 0 none" ;; # the framework-only servers
	esac
}
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
# the framework-only servers have no target (PID 0)
target_ticks() { if [ "$1" = 0 ]; then echo 0; else cpu_ticks "$1"; fi; }

# start_server SERVER TARGET [WRAPPER...]
start_server() {
	local srv=$1 pid port iqn
	shift
	read -r pid port iqn <<<"$(target_of "$1")"
	shift
	rm -f "$SOCK"
	case $srv in
	toeless | before)
		local so=$PLUGIN nargs=$NBDKIT_ARGS pargs=$TOELESS_ARGS
		[ "$srv" = before ] && so=$BENCH_NBD_PLUGIN_BEFORE nargs=$NBDKIT_BEFORE_ARGS pargs=$TOELESS_BEFORE_ARGS
		# $nargs and $pargs unquoted: options and parameters split at blanks
		(exec "$@" nbdkit -f $nargs -U "$SOCK" "$so" portal=127.0.0.1:$port target=$iqn lun=1 \
			$pargs 2>"$WORK/server.err") &
		;;
	memory) # $NBDKIT_ARGS unquoted: nbdkit options split at blanks
		(exec "$@" nbdkit -f $NBDKIT_ARGS -U "$SOCK" memory $((MIB << 20)) 2>"$WORK/server.err") & ;;
	null) (exec "$@" qemu-nbd -t -e 8 -k "$SOCK" --image-opts \
			"driver=null-co,size=$((MIB << 20)),read-zeroes=on" 2>"$WORK/server.err") & ;;
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
	c0=$(cpu_ticks "$SPID"); g0=$(target_ticks "$tpid"); t0=$(date +%s.%N)
	"$@" >"$WORK/cmd.out" 2>&1 || { cat "$WORK/cmd.out"; fail "$srv $tgt $what: $*"; }
	t1=$(date +%s.%N); c1=$(cpu_ticks "$SPID"); g1=$(target_ticks "$tpid")
	case $what in
	fio-*) bytes=$(awk -F';' '{ print $6 * 1024 }' "$WORK/cmd.out" | tail -1) ;;
	*) bytes=$((MIB << 20)) ;;
	esac
	awk -v b="$bytes" -v t0="$t0" -v t1="$t1" -v c=$((c1 - c0)) -v g=$((g1 - g0)) -v hz="$HZ" \
		'BEGIN { s = t1 - t0; gib = b / 1073741824
			printf "%.1f %.3f %.3f\n", b / 1048576 / s, c / hz / gib, g / hz / gib }' \
		>>"$WORK/$tgt.$srv.$what"
}

# fio_randread SECONDS [RATE]
fio_randread() {
	fio --name=r --ioengine=nbd --uri="$URI" --rw=randread --bs=64k --iodepth=16 --time_based \
		--runtime="$1" --size=$((MIB << 20)) ${2:+--rate=$2} --minimal
}

# rotated R ITEM...: the items, the first R-1 moved to the end
rotated() {
	local k=$((($1 - 1) % ($# - 1)))
	shift
	printf '%s\n' "${@:k+1}" "${@:1:k}"
}

# median (min..max) of column N
stat_col() { sort -g -k"$2" "$1" | awk -v n="$2" -v f="$3" '{ v[NR] = $n } END { m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf f " (%s..%s)", m, v[1], v[NR] }'; }

# every (target, server) pair once per round, the order rotated by round
PAIRS=
for t in $TARGETS; do for s in $SERVERS; do PAIRS="$PAIRS $t:$s"; done; done
for r in $(seq "$ROUNDS"); do
	# $PAIRS unquoted: one word a pair
	for ts in $(rotated "$r" $PAIRS); do
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
echo
echo "NBD serving of one iSCSI LUN ($MIB MiB), $ROUNDS rounds alternated, median (min..max)"
echo "toeless = nbdkit $NBDKIT_ARGS nbdkit-toeless-plugin ($TOELESS_ARGS)${BENCH_NBD_PLUGIN_BEFORE:+; before = nbdkit $NBDKIT_BEFORE_ARGS with $BENCH_NBD_PLUGIN_BEFORE ($TOELESS_BEFORE_ARGS)}"
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

# The framework's share: see the header.  Per round, the four servers in a
# rotated order; the iSCSI share of a round is a server's CPU per GiB less
# its framework's alone in the same round.
case " $TARGETS " in *" fast "*) ;; *) SHARE_RATE=0 ;; esac
if [ "$SHARE_RATE" != 0 ] && [ "$ROUNDS" -gt 0 ]; then
	for r in $(seq "$ROUNDS"); do
		for ts in $(rotated "$r" fast:toeless none:memory fast:qemu none:null); do
			tgt=${ts%%:*} srv=${ts#*:}
			start_server "$srv" "$tgt"
			measure "$srv" "$tgt" fio-rate fio_randread "$SECS" "$SHARE_RATE"
			stop_server
		done
	done
	# share A B: per round, column 2 of A less column 2 of B
	share() { paste -d' ' "$WORK/$1.fio-rate" "$WORK/$2.fio-rate" | awk '{ printf "%.3f\n", $2 - $5 }' >"$WORK/share.$3"; }
	share fast.toeless none.memory toeless
	share fast.qemu none.null qemu
	echo
	echo "The frameworks' share: the same fio job capped at fio --rate=$SHARE_RATE, fast target, $ROUNDS rounds rotated, median (min..max)"
	printf "%-44s %-26s %-26s\n" server "MiB/s" "server CPU s/GiB"
	for sv in "fast.toeless nbdkit $NBDKIT_ARGS + plugin (both digests)" "none.memory nbdkit $NBDKIT_ARGS memory (no I/O)" \
		"fast.qemu qemu-nbd + libiscsi (header digest)" "none.null qemu-nbd null-co (no I/O)"; do
		f=$WORK/${sv%% *}.fio-rate
		printf "%-44s %-26s %-26s\n" "${sv#* }" "$(stat_col "$f" 1 %7.1f)" "$(stat_col "$f" 2 %6.3f)"
	done
	echo "iSCSI initiator's share (server less its framework alone, per round), CPU s/GiB:"
	echo "  libtoeless (both digests) $(stat_col "$WORK/share.toeless" 1 %6.3f)"
	echo "  libiscsi (header digest)  $(stat_col "$WORK/share.qemu" 1 %6.3f)"
	paste -d' ' "$WORK/share.toeless" "$WORK/share.qemu" | awk '$2 > 0 { printf "%.2f\n", $1 / $2 }' >"$WORK/share.ratio"
	echo "  libtoeless / libiscsi     $(stat_col "$WORK/share.ratio" 1 %6.2f) (per round)"
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
