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
