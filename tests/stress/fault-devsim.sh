#!/bin/sh
# The long fault run through the reference device model: toeless-iscsi
# --backend hw reads random ranges of a tgtd LUN through toeless-devsim,
# each read through a fresh device model with a random mix of its faults
# (lost sync, corrupted payload and headers, dropped and delayed records,
# SGL and record-queue limits, a reset mid-read).  Every read that succeeds
# is compared with the LUN's backing file byte for byte (zero silent
# corruptions); a read may also give up cleanly (exit 7 or 9, no file left)
# when the faults are too dense for the retry budget, never hang (timeout)
# or exit otherwise.  Under an ASan build (tests/hardening.sh) the initiator
# is checked for memory errors and leaks as it goes.
#
# Environment: DEVSIM_SECONDS (default 20).  Prints one "fault-devsim: ..."
# line of figures.  Skips (77) without root, tgtd, toeless-iscsi or
# toeless-devsim.
#
# SPDX-License-Identifier: MIT
if [ -z "$BASH_VERSION" ]; then exec bash "$0" "$@"; fi
. "${top_srcdir:-.}/tests/iscsi/fixture.sh"
. "${top_srcdir:-.}/tests/hw/devsim-env.sh"

SECS=${DEVSIM_SECONDS:-20}
LUN_MIB=16
tgt_start $LUN_MIB
tgt_digests CRC32C
random_file "$WORK/pat" $((LUN_MIB * 1048576))
ti --header-digest crc32c --data-digest crc32c write "$WORK/pat" >/dev/null 2>"$WORK/err" ||
	{ cat "$WORK/err"; fail "initial write failed"; }
lun_extract 0 $((LUN_MIB * 1048576)) "$WORK/lun"

r() { echo $(( (RANDOM % ($2 - $1 + 1)) + $1 )); }

reads=0 ok=0 gaveup=0 bytes=0 faults=0 dev_bad=0 host_hd=0 host_dd=0 fallback=0 engine=0
start=$(date +%s)
while [ $(($(date +%s) - start)) -lt "$SECS" ]; do
	f=()
	[ $((RANDOM % 2)) = 0 ] && f+=(--fault "lose-sync=$(r 3 40):$(r 1 4)")
	[ $((RANDOM % 3)) = 0 ] && f+=(--fault "corrupt-data=$(r 6 60)")
	[ $((RANDOM % 4)) = 0 ] && f+=(--fault "corrupt-hdr=$(r 20 200)")
	[ $((RANDOM % 2)) = 0 ] && f+=(--fault "drop-records=$(r 2 30)")
	[ $((RANDOM % 2)) = 0 ] && f+=(--fault "delay-records=$(r 2 30):$(r 1 20)")
	[ $((RANDOM % 3)) = 0 ] && f+=(--fault "sgl-limit=$(r 1 8)")
	[ $((RANDOM % 3)) = 0 ] && f+=(--fault "rq-limit=$(r 4 64)")
	[ $((RANDOM % 4)) = 0 ] && f+=(--fault "reset-after=$(r 10 400)")
	off=$(( $(r 0 $((LUN_MIB * 2048 - 1))) * 512 ))
	len=$(( $(r 1 4096) * 512 ))
	[ $((off + len)) -gt $((LUN_MIB * 1048576)) ] && len=$((LUN_MIB * 1048576 - off))
	bs=$(( 4096 << $(r 0 5) ))
	devsim_start "${f[@]}"
	rm -f "$WORK/back"
	timeout -k 5 120 "$INITIATOR" --portal "127.0.0.1:$DEVSIM_PORT" --target "$TGT_IQN" --lun 1 \
		--backend "hw:$DEVSIM_CTL" --header-digest crc32c --data-digest crc32c --timeout 5 --retries 8 \
		--block-size "$bs" --offset "$off" --length "$len" --stats read "$WORK/back" \
		>"$WORK/stats" 2>"$WORK/rerr"
	rc=$?
	devsim_stop
	reads=$((reads + 1))
	case $rc in
	0)
		dd if="$WORK/lun" of="$WORK/want" bs=512 skip=$((off / 512)) count=$((len / 512)) status=none
		cmp -s "$WORK/want" "$WORK/back" ||
			{ cat "$WORK/rerr"; fail "silent corruption: read of $len bytes at $off (faults: ${f[*]})"; }
		ok=$((ok + 1))
		bytes=$((bytes + len))
		;;
	7 | 9)
		[ -e "$WORK/back" ] && fail "gave up (exit $rc) but left its output file"
		gaveup=$((gaveup + 1))
		;;
	124 | 137)
		cat "$WORK/rerr" "$DEVSIM_LOG" | tail -n 30
		fail "hang: read at $off of $len bytes (faults: ${f[*]})"
		;;
	*)
		cat "$WORK/rerr" | tail -n 30
		fail "exit status $rc: read at $off of $len bytes (faults: ${f[*]})"
		;;
	esac
	# the device's own count of faults, the host's count of digest errors
	faults=$((faults + $(awk '/stats:/ { for (i = 1; i < NF; i++) if ($i == "faults") v = $(i + 1) } END { print v + 0 }' "$DEVSIM_LOG")))
	dev_bad=$((dev_bad + $(sed -n 's/.*digests [0-9]* (bad \([0-9]*\)).*/\1/p' "$DEVSIM_LOG" | tail -n 1 | awk '{ print $1 + 0 }')))
	host_hd=$((host_hd + $(counter hdr_digest_errors "$WORK/stats")))
	host_dd=$((host_dd + $(counter data_digest_errors "$WORK/stats")))
	fallback=$((fallback + $(counter sw_fallback_pdus "$WORK/stats")))
	engine=$((engine + $(counter bytes_placed_engine "$WORK/stats")))
done
echo "fault-devsim: ${SECS} s: $reads reads through toeless-devsim with random faults, $ok verified ($((bytes >> 20)) MiB)," \
	"$gaveup gave up cleanly; device faults injected $faults, data digests the device found bad $dev_bad;" \
	"host digest errors: header $host_hd, data $host_dd; software fallback PDUs $fallback;" \
	"engine placed $((engine >> 20)) MiB; silent corruptions 0"
[ "$ok" -gt 0 ] || fail "no read succeeded"
echo PASS
