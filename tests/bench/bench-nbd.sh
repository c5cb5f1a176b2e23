#!/bin/bash
# make bench, "nbd": the same tgtd LUN served over NBD two ways, side by side
#   toeless: nbdkit + nbdkit-toeless-plugin, HeaderDigest and DataDigest CRC32C
#   qemu:    qemu-nbd --image-opts driver=iscsi,...,header-digest=crc32c
#            (QEMU's libiscsi path; libiscsi has no data digest)
# and measured with the same tools: fio (ioengine=nbd, 64 KiB random reads,
# iodepth 16, BENCH_SECONDS each), qemu-img convert of the whole LUN out to
# a file and back in.  Servers alternate (order swapped every round),
# BENCH_ROUNDS rounds (default 5); the median is printed with min..max:
# throughput, and CPU seconds per GiB moved of the serving process (utime +
# stime deltas from /proc/PID/stat) and of tgtd.
# BENCH_TOELESS_ARGS replaces the plugin's digest parameters (e.g.
# "data-digest=none" to see what tgtd's own data digest costs).
# Needs root, tgtd, nbdkit + the plugin, qemu-nbd with the iscsi driver
# (qemu-block-extra), qemu-img and fio; skips (77) otherwise.
#
# SPDX-License-Identifier: MIT
top_builddir=${abs_top_builddir:-.}
top_srcdir=${abs_top_srcdir:-.}
. "$top_srcdir/tests/iscsi/fixture.sh"
need_plugin
need_cmd qemu-nbd qemu-utils
need_cmd qemu-img qemu-utils
need_cmd fio fio
ROUNDS=${BENCH_ROUNDS:-5}
SECS=${BENCH_SECONDS:-5}
MIB=${BENCH_LUN_MIB:-256}
HZ=$(getconf CLK_TCK)

tgt_start "$MIB"
tgt_set HeaderDigest CRC32C,None
tgt_set DataDigest CRC32C,None
head -c $((MIB << 20)) /dev/urandom >"$TGT_LUN_FILE"
head -c $((MIB << 20)) /dev/urandom >"$WORK/in.img"
SOCK=$WORK/nbd.sock
URI="nbd+unix:///?socket=$SOCK"

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

start_server() {
	rm -f "$SOCK"
	case $1 in
	toeless) nbdkit -f -U "$SOCK" "$PLUGIN" portal=127.0.0.1:$TGT_PORT target=$TGT_IQN lun=1 \
			${BENCH_TOELESS_ARGS:-header-digest=crc32c data-digest=crc32c} 2>"$WORK/server.err" & ;;
	qemu) qemu-nbd -t -e 8 -k "$SOCK" --image-opts \
			"driver=iscsi,transport=tcp,portal=127.0.0.1:$TGT_PORT,target=$TGT_IQN,lun=1,header-digest=crc32c" \
			2>"$WORK/server.err" & ;;
	esac
	SPID=$!
	for _ in $(seq 100); do [ -S "$SOCK" ] && break; sleep 0.1; done
	[ -S "$SOCK" ] || { cat "$WORK/server.err"; fail "$1 server did not start"; }
}
stop_server() { kill -TERM "$SPID" 2>/dev/null; wait "$SPID" 2>/dev/null; }

# measure SERVER WHAT CMD...: run CMD, record "MiB/s cpu-s/GiB tgtd-cpu-s/GiB" for BYTES moved
measure() {
	local srv=$1 what=$2 bytes t0 t1 c0 c1 g0 g1
	shift 2
	c0=$(cpu_ticks "$SPID"); g0=$(cpu_ticks "$TGT_PID"); t0=$(date +%s.%N)
	"$@" >"$WORK/cmd.out" 2>&1 || { cat "$WORK/cmd.out"; fail "$srv $what: $*"; }
	t1=$(date +%s.%N); c1=$(cpu_ticks "$SPID"); g1=$(cpu_ticks "$TGT_PID")
	if [ "$what" = fio-randread ]; then
		bytes=$(awk -F';' '{ print $6 * 1024 }' "$WORK/cmd.out" | tail -1)
	else
		bytes=$((MIB << 20))
	fi
	awk -v b="$bytes" -v t0="$t0" -v t1="$t1" -v c=$((c1 - c0)) -v g=$((g1 - g0)) -v hz="$HZ" \
		'BEGIN { s = t1 - t0; gib = b / 1073741824; printf "%.1f %.3f %.3f\n", b / 1048576 / s, c / hz / gib, g / hz / gib }' \
		>>"$WORK/$srv.$what"
}

for r in $(seq "$ROUNDS"); do
	if [ $((r % 2)) = 1 ]; then order="toeless qemu"; else order="qemu toeless"; fi
	for srv in $order; do
		start_server $srv
		measure $srv fio-randread fio --name=r --ioengine=nbd --uri="$URI" --rw=randread --bs=64k \
			--iodepth=16 --time_based --runtime="$SECS" --size=$((MIB << 20)) --minimal
		measure $srv convert-out qemu-img convert -f raw -O raw "$URI" "$WORK/out.img"
		measure $srv convert-in qemu-img convert -n -f raw -O raw "$WORK/in.img" "$URI"
		stop_server
		cmp -s "$TGT_LUN_FILE" "$WORK/in.img" || fail "$srv: convert-in left the LUN different from its source"
	done
	echo "round $r done"
done

# median (min..max) of column N
stat_col() { sort -n -k"$2" "$1" | awk -v n="$2" '{ v[NR] = $n } END { m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "%8.1f (%s..%s)", m, v[1], v[NR] }'; }
stat_col3() { sort -n -k"$2" "$1" | awk -v n="$2" '{ v[NR] = $n } END { m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "%6.3f (%s..%s)", m, v[1], v[NR] }'; }

echo
echo "NBD serving of one tgtd LUN ($MIB MiB), $ROUNDS rounds alternated, median (min..max)"
echo "toeless = nbdkit-toeless-plugin (${BENCH_TOELESS_ARGS:-header-digest=crc32c data-digest=crc32c}); qemu = qemu-nbd, iscsi driver, HeaderDigest CRC32C"
printf "%-14s %-8s %-28s %-28s %-28s\n" test server "MiB/s" "server CPU s/GiB" "tgtd CPU s/GiB"
for what in fio-randread convert-out convert-in; do
	for srv in toeless qemu; do
		printf "%-14s %-8s %-28s %-28s %-28s\n" "$what" "$srv" "$(stat_col "$WORK/$srv.$what" 1)" \
			"$(stat_col3 "$WORK/$srv.$what" 2)" "$(stat_col3 "$WORK/$srv.$what" 3)"
	done
done
