# Shared set-up for scripts that use tests/bench/fast-target: sourced, not run.
#
# ft_start NAME [ARGS...]: start a fast-target (port 0: the kernel picks a
# free one) with ARGS, wait until it listens, and set
#   FT_PID_<NAME>, FT_PORT_<NAME>, FT_LOG_<NAME>  (its stderr: one line per
#   login and per closed connection)
# and FT_IQN (the target name every fast-target here uses).
# ft_stop_all: stop every fast-target started (also run at exit when the
# caller's own cleanup calls it).
# Needs FAST_TARGET (the binary) and WORK (a scratch directory).
#
# SPDX-License-Identifier: MIT

FT_IQN=iqn.2024-01.org.toeless:fast-target
FT_PIDS=

ft_start() {
	local name=$1 i port pid
	shift
	rm -f "$WORK/ft-$name.port"
	"$FAST_TARGET" --port 0 --port-file "$WORK/ft-$name.port" --iqn "$FT_IQN" "$@" \
		>"$WORK/ft-$name.out" 2>"$WORK/ft-$name.log" &
	pid=$!
	FT_PIDS="$FT_PIDS $pid"
	for i in $(seq 100); do
		[ -s "$WORK/ft-$name.port" ] && break
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.05
	done
	port=$(cat "$WORK/ft-$name.port" 2>/dev/null)
	[ -n "$port" ] || { cat "$WORK/ft-$name.log"; echo "FAIL: fast-target $name did not start"; exit 1; }
	eval "FT_PID_$name=$pid FT_PORT_$name=$port FT_LOG_$name=\$WORK/ft-\$name.log"
}

ft_stop_all() {
	local p
	for p in $FT_PIDS; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
	FT_PIDS=
}
