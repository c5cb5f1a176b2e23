# Shared by the hw shell tests and the hw benchmark: sourced, not run.
#
# devsim_start [--fault NAME=VALUE]...: start a private toeless-devsim in
# front of the fixture's tgtd (tests/iscsi/fixture.sh, tgt_start first).
# Sets DEVSIM_PORT (where the initiator connects), DEVSIM_CTL (its control
# socket; the backend spec is hw:$DEVSIM_CTL) and DEVSIM_LOG.  Stopped by
# the fixture's cleanup (BG_PIDS).
#
# SPDX-License-Identifier: MIT

DEVSIM=${DEVSIM:-$top_builddir/tools/toeless-devsim/toeless-devsim}
[ -x "$DEVSIM" ] || skip "toeless-devsim not built (needs libuv1-dev)"

devsim_start() {
	local i name=devsim$((${DEVSIM_N:-0} + 1))
	DEVSIM_N=$((${DEVSIM_N:-0} + 1))
	DEVSIM_CTL=$WORK/$name.sock
	DEVSIM_LOG=$WORK/$name.log
	rm -f "$WORK/$name.port"
	"$DEVSIM" -v --control "$DEVSIM_CTL" --listen 127.0.0.1:0 --target "127.0.0.1:$TGT_PORT" \
		--port-file "$WORK/$name.port" "$@" 2>"$DEVSIM_LOG" &
	DEVSIM_PID=$!
	BG_PIDS="$BG_PIDS $DEVSIM_PID"
	for i in $(seq 100); do
		[ -s "$WORK/$name.port" ] && break
		kill -0 "$DEVSIM_PID" 2>/dev/null || { cat "$DEVSIM_LOG"; fail "toeless-devsim exited"; }
		sleep 0.05
	done
	DEVSIM_PORT=$(cat "$WORK/$name.port")
	[ -n "$DEVSIM_PORT" ] || fail "toeless-devsim did not come up"
}

devsim_stop() {
	[ -n "$DEVSIM_PID" ] || return 0
	kill "$DEVSIM_PID" 2>/dev/null
	wait "$DEVSIM_PID" 2>/dev/null
	DEVSIM_PID=
}

# toeless-iscsi through the device model, hw backend (or --backend given later).
# Under `make check-valgrind` the fixture's initiator() runs it under valgrind.
tih() {
	local run=initiator
	type initiator >/dev/null 2>&1 || run=$INITIATOR
	$run --portal "127.0.0.1:$DEVSIM_PORT" --target "$TGT_IQN" --lun 1 --backend "hw:$DEVSIM_CTL" "$@"
}

# Does the initiator register its buffers (toeless_mr_reg)?  Engine
# placement needs it (TOELESS_CAP_DDP_NEEDS_REG).
initiator_registers() {
	grep -q toeless_mr_reg "$top_srcdir"/examples/toeless-iscsi/*.c 2>/dev/null
}
