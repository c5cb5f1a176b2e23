# Sourced by the tests that run nbdkit with nbdkit-toeless-plugin ($PLUGIN).
#
# nbdkit loads the plugin with dlopen(); a plugin built with AddressSanitizer
# (configure --enable-sanitizers) needs the ASan runtime first in the
# process's library list, so nbdkit gets it preloaded.  Leak checking is off
# in that process only: nbdkit's own allocations at exit are not ours to
# judge, and the library's are checked by the Check suites.
#
# SPDX-License-Identifier: MIT
nbdkit() {
	local asan
	asan=$(ldd "$PLUGIN" 2>/dev/null | awk '/libasan/ { print $3; exit }')
	if [ -n "$asan" ]; then
		LD_PRELOAD="$asan${LD_PRELOAD:+:$LD_PRELOAD}" \
			ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" command nbdkit "$@"
	else
		command nbdkit "$@"
	fi
}

# nbdkit_stop PID [LOG]: SIGTERM, then wait for it to exit.  Once told to
# quit, nbdkit no longer calls the plugin's close() for a connection that
# is still ending (its free_connection(): the plugin is being unloaded), so
# the plugin's last words for it (counters, the escalation line) and its
# logout would be lost when SIGTERM overtakes a client that just left: with
# nbdkit's -v log given, first wait (up to 20 s) until it has closed every
# connection it opened.  The plugin's unload waits up to 30 s for its
# connections; past 45 s nbdkit is stuck (seen under the ASan preload:
# glibc's locale lock in a library's exit code, with the old plugin too),
# so it is killed and said so, rather than hanging the test run.
nbdkit_stop() {
	local pid=$1 log=${2:-} i opened closed
	if [ -n "$log" ]; then
		for i in $(seq 200); do
			opened=$(grep -c "debug: toeless: open readonly=" "$log" 2>/dev/null)
			closed=$(grep -c "debug: toeless: close" "$log" 2>/dev/null)
			[ "${closed:-0}" -ge "${opened:-0}" ] && break
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
}
