# Sourced by the tests that run nbdkit with nbdkit-toeless-plugin ($PLUGIN):
# tests/iscsi/fixture.sh (so test-nbdkit.sh, test-chap.sh, bench-nbd.sh) and
# test-nbdkit-abort.sh.
#
# nbdkit loads the plugin with dlopen(); a plugin built with AddressSanitizer
# (configure --enable-sanitizers) needs the ASan runtime first in the
# process's library list, so nbdkit gets it preloaded.  Leak checking is off
# in that process only: nbdkit's own allocations at exit are not ours to
# judge, and the library's are checked by the Check suites.
#
#   nbdkit ARGS...           in the foreground (a configuration that must fail)
#   nbdkit_start LOG ARGS... in the background, stderr to LOG; waits until it
#                            serves; NBDKIT_PID is nbdkit's own PID
#   nbdkit_stop PID [LOG]    stop it, see below
#   nbdkit_reap              in a test's EXIT trap: stop what is left, then
#                            fail (return 1, say so) if any nbdkit started
#                            by the test is still alive
#
# Never `nbdkit ... &`: nbdkit is a shell function here, and `$!` would be
# the subshell that runs it, not nbdkit.  A signal sent there leaves nbdkit
# running, orphaned (this happened: tests/iscsi/test-chap.sh's "chapbad"
# server, test-nbdkit-abort.sh's).  nbdkit_start execs nbdkit (through env
# for the preload) in the background subshell itself, so `$!` is nbdkit from
# the fork on: a test interrupted while nbdkit still starts can stop it, and
# `wait` reaps it because it is the test shell's own child.  nbdkit's
# --pidfile, written once it accepts connections, is the readiness signal,
# and a check that `$!` is nbdkit: a wrapper that forks (timeout, a libtool
# script, a function) fails there, not later as a leak.
#
# SPDX-License-Identifier: MIT
NBDKIT_PIDS=

# nbdkit_exec ARGS...: replace this (sub)shell with nbdkit.  Only in a subshell.
nbdkit_exec() {
	local asan
	asan=$(ldd "$PLUGIN" 2>/dev/null | awk '/libasan/ { print $3; exit }')
	if [ -n "$asan" ]; then
		exec env LD_PRELOAD="$asan${LD_PRELOAD:+:$LD_PRELOAD}" \
			ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" nbdkit "$@"
	fi
	exec nbdkit "$@"
}

# The plugin is loaded from the build tree, where `make install` (run by
# tests/test-man.sh and the conformance scratch installs, under an exclusive
# flock on $top_builddir) relinks it in place: while it does, the .so is
# briefly missing or half written.  nbdkit loads it under a shared lock on
# the same directory, held until nbdkit serves (it has loaded the plugin).
# nbdkit_lock / nbdkit_unlock: take and give back that shared lock (no-op
# without a build directory).
NBDKIT_LOCK_FD=
nbdkit_lock() {
	[ -n "${top_builddir:-}" ] && [ -d "$top_builddir" ] || return 0
	exec {NBDKIT_LOCK_FD}<"$top_builddir" && flock -s "$NBDKIT_LOCK_FD"
}
nbdkit_unlock() {
	[ -n "$NBDKIT_LOCK_FD" ] || return 0
	exec {NBDKIT_LOCK_FD}<&-
	NBDKIT_LOCK_FD=
}

# nbdkit ARGS...: in the foreground; its exit status.
nbdkit() {
	local rc
	nbdkit_lock
	(
		[ -z "$NBDKIT_LOCK_FD" ] || exec {NBDKIT_LOCK_FD}<&-
		nbdkit_exec "$@"
	)
	rc=$?
	nbdkit_unlock
	return $rc
}

# nbdkit_start LOG ARGS...: nbdkit -f ARGS in the background, its stderr to
# LOG, its PID (verified against --pidfile) in NBDKIT_PID.  Returns 1 (after
# showing LOG's tail) if nbdkit exits or is not serving within 10 s.
nbdkit_start() {
	local log=$1 pidfile=$1.pid i
	shift
	rm -f "$pidfile"
	nbdkit_lock
	(
		# nbdkit keeps no copy of the lock: it is given back once it serves
		[ -z "$NBDKIT_LOCK_FD" ] || exec {NBDKIT_LOCK_FD}<&-
		nbdkit_exec -f -P "$pidfile" "$@"
	) 2>"$log" &
	NBDKIT_PID=$!
	NBDKIT_PIDS="$NBDKIT_PIDS $NBDKIT_PID"
	for i in $(seq 100); do
		[ -s "$pidfile" ] && break
		kill -0 "$NBDKIT_PID" 2>/dev/null || break
		sleep 0.1
	done
	nbdkit_unlock
	if [ ! -s "$pidfile" ]; then
		tail -20 "$log"
		echo "nbdkit $NBDKIT_PID did not start serving: $*" >&2
		return 1
	fi
	if [ "$(cat "$pidfile")" != "$NBDKIT_PID" ]; then
		echo "nbdkit_start: \$! is $NBDKIT_PID, nbdkit's --pidfile says $(cat "$pidfile"): a forking wrapper" >&2
		kill -KILL "$(cat "$pidfile")" 2>/dev/null
		return 1
	fi
}

# nbdkit_stop PID [LOG]: SIGTERM, then wait for it to exit.  Once told to
# quit, nbdkit no longer calls the plugin's close() for a connection that
# is still ending (its free_connection(): the plugin is being unloaded), so
# the plugin's last words for it (counters, the escalation line) and its
# logout would be lost when SIGTERM overtakes a client that just left: with
# nbdkit's -v log given, first wait (up to 20 s) until it has closed every
# connection it opened.  Only opens that succeeded get a close: nbdkit logs
# "open returned handle (nil)" for one that failed (a refused CHAP secret,
# an unreachable portal), and those are not waited for.  The plugin's
# unload waits up to 30 s for its connections; past 45 s nbdkit is stuck
# (seen under the ASan preload: glibc's locale lock in a library's exit
# code, with the old plugin too), so it is killed and said so, rather than
# hanging the test run.
nbdkit_stop() {
	local pid=$1 log=${2:-} i opened failed closed
	if [ -n "$log" ]; then
		for i in $(seq 200); do
			opened=$(grep -c "debug: toeless: open readonly=" "$log" 2>/dev/null)
			failed=$(grep -c "debug: toeless: open returned handle (nil)" "$log" 2>/dev/null)
			closed=$(grep -c "debug: toeless: close" "$log" 2>/dev/null)
			[ "${closed:-0}" -ge $((${opened:-0} - ${failed:-0})) ] && break
			sleep 0.1
		done
	fi
	kill -TERM "$pid" 2>/dev/null
	for i in $(seq 450); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		echo "nbdkit $pid did not exit 45 s after SIGTERM: killed" >&2
		kill -KILL "$pid" 2>/dev/null
	fi
	wait "$pid" 2>/dev/null
	# reaped, its PID free for reuse: no longer ours to check
	nbdkit_alive "$pid" || NBDKIT_PIDS=$(echo " $NBDKIT_PIDS " | sed "s/ $pid / /; s/^ *//; s/ *$//")
}

# nbdkit_alive PID: PID is a live nbdkit (not a zombie, not a reused PID).
nbdkit_alive() {
	local st
	[ "$(cat "/proc/$1/comm" 2>/dev/null)" = nbdkit ] || return 1
	st=$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null)
	[ -n "$st" ] && [ "$st" != Z ]
}

# nbdkit_reap [DIR]: for a test's EXIT trap.  Stops every nbdkit this shell
# started that still runs (a test that failed half-way), then checks that
# none is left: not one of NBDKIT_PIDS, and, with DIR (the test's scratch
# directory, in every socket and log path), no nbdkit at all whose command
# line names DIR, however it was started.  Returns 1 after saying which.
nbdkit_reap() {
	local dir=${1:-} p left=
	for p in $NBDKIT_PIDS; do
		nbdkit_alive "$p" && nbdkit_stop "$p"
	done
	for p in $NBDKIT_PIDS; do
		nbdkit_alive "$p" && left="$left $p"
	done
	if [ -n "$dir" ]; then
		for p in $(pgrep -x nbdkit); do
			case " $left " in *" $p "*) continue ;; esac
			tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | grep -qF -- "$dir/" && nbdkit_alive "$p" && left="$left $p"
		done
	fi
	NBDKIT_PIDS=
	[ -z "$left" ] && return 0
	echo "FAIL: nbdkit outlived the test that started it:" >&2
	for p in $left; do
		ps -o pid=,ppid=,stat=,args= -p "$p" >&2
		kill -KILL "$p" 2>/dev/null
	done
	return 1
}
