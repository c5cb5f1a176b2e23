# Shared set-up for the iSCSI integration tests: sourced, not run.
#
# Starts a private tgtd on a free loopback port with its own control port,
# creates one target with a small file-backed LUN (LUN 1), and tears it all
# down when the test exits, whatever happens.  Tests skip (exit 77) when they
# cannot run here: not root, no tgtd, or toeless-iscsi not built (no libuv).
#
# After tgt_start:
#   TGT_PORT      iSCSI portal port on 127.0.0.1
#   TGT_CTL       tgtd control port (tgtadm -C)
#   TGT_IQN       target name
#   TGT_LUN_FILE  backing file of LUN 1
#   WORK          scratch directory, removed at exit
# Helpers: tgt_set NAME VALUE, tgt_digests VALUE, initiator ARGS (toeless-iscsi,
# under valgrind for make check-valgrind), ti ARGS (the same at the target),
# lun_extract OFFSET LENGTH OUT, expect_exit CODE CMD...,
# counter NAME FILE (a --stats value), check COND MESSAGE.
#
# SPDX-License-Identifier: MIT

skip() { echo "SKIP: $*"; exit 77; }
fail() { echo "FAIL: $*"; exit 1; }

[ "$(id -u)" = 0 ] || skip "needs root to run tgtd"
command -v tgtd >/dev/null 2>&1 && command -v tgtadm >/dev/null 2>&1 || skip "tgtd not installed (apt-get install tgt)"
top_builddir=${top_builddir:-.}
top_srcdir=${top_srcdir:-.}
INITIATOR=${INITIATOR:-$top_builddir/examples/toeless-iscsi/toeless-iscsi}
[ -x "$INITIATOR" ] || skip "toeless-iscsi not built (needs libuv1-dev)"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/toeless-iscsi-test.XXXXXX") || exit 99
TGT_PID=
TGT_CTL=
TGT_PORT=
TGT_TIDS=
BG_PIDS=

# nbdkit, nbdkit_start, nbdkit_stop, nbdkit_reap (cleanup uses it)
. "$top_srcdir/tests/iscsi/nbdkit-wrap.sh"

tgtadm_() { tgtadm -C "$TGT_CTL" --lld iscsi "$@"; }

# A TCP port no socket uses, below the kernel's ephemeral range (a port in
# that range can be the local end of any outgoing connection at any moment,
# and tgtd then fails to bind it).  tgtd's own bind is the final check.
free_port() {
	local p lo
	lo=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null)
	[ "${lo:-0}" -gt 11000 ] 2>/dev/null || lo=32768
	while :; do
		p=$((10000 + (RANDOM * 32768 + RANDOM) % (lo - 10000)))
		ss -Htan "( sport = :$p or dport = :$p )" 2>/dev/null | grep -q . || { echo "$p"; return; }
	done
}

tgt_start() {
	local size_mib=${1:-16} attempt i
	TGT_IQN=iqn.2024-01.org.toeless.test:$(basename "$WORK" | tr -c 'a-zA-Z0-9\n' '-' | tr 'A-Z' 'a-z')
	TGT_LUN_FILE=$WORK/lun1.img
	truncate -s "${size_mib}M" "$TGT_LUN_FILE" || exit 99
	for attempt in 1 2 3 4 5 6 7 8 9 10; do
		# control ports are small numbers: /run/tgtd/socket.N and its lock
		TGT_CTL=$(( (RANDOM % 900) + 50 ))
		TGT_PORT=$(free_port)
		tgtd -f -C "$TGT_CTL" --iscsi "portal=127.0.0.1:$TGT_PORT" >"$WORK/tgtd.log" 2>&1 &
		TGT_PID=$!
		for i in $(seq 50); do
			kill -0 "$TGT_PID" 2>/dev/null || break
			if ss -Htlnp "sport = :$TGT_PORT" 2>/dev/null | grep -q "pid=$TGT_PID," &&
			   tgtadm -C "$TGT_CTL" --op show --mode sys >/dev/null 2>&1; then
				break 2
			fi
			sleep 0.1
		done
		# not up (most likely its port was taken): tgtd ignores SIGTERM
		kill -KILL "$TGT_PID" 2>/dev/null; wait "$TGT_PID" 2>/dev/null
		rm -f "/run/tgtd/socket.$TGT_CTL" "/run/tgtd/socket.$TGT_CTL.lock"
		TGT_PID=
	done
	[ -n "$TGT_PID" ] || { cat "$WORK/tgtd.log"; fail "could not start tgtd"; }
	tgt_add_target 1 "$TGT_IQN" "$TGT_LUN_FILE"
	echo "tgtd pid $TGT_PID on 127.0.0.1:$TGT_PORT (control port $TGT_CTL), $TGT_IQN, LUN 1 = ${size_mib} MiB"
}

# tgt_add_target TID IQN BACKING_FILE: one more target with LUN 1.
tgt_add_target() {
	tgtadm_ --op new --mode target --tid "$1" -T "$2" || fail "tgtadm: new target"
	TGT_TIDS="$TGT_TIDS $1"
	tgtadm_ --op new --mode logicalunit --tid "$1" --lun 1 -b "$3" || fail "tgtadm: new LUN"
	tgtadm_ --op bind --mode target --tid "$1" -I ALL || fail "tgtadm: bind"
}

# tgt_set NAME VALUE [TID]: a target parameter for the next logins.
tgt_set() { tgtadm_ --op update --mode target --tid "${3:-1}" --name "$1" --value "$2" || fail "tgtadm: set $1=$2"; }
tgt_digests() { tgt_set HeaderDigest "$1" "${2:-1}"; tgt_set DataDigest "$1" "${2:-1}"; }

tgt_stop() {
	local tid i
	[ -n "$TGT_PID" ] || return 0
	# tgtd ignores SIGTERM while it has targets: remove them, then the system
	for tid in $TGT_TIDS; do
		tgtadm_ --op delete --mode target --tid "$tid" --force >/dev/null 2>&1
	done
	tgtadm -C "$TGT_CTL" --op delete --mode system >/dev/null 2>&1
	for i in $(seq 50); do
		kill -0 "$TGT_PID" 2>/dev/null || break
		sleep 0.1
	done
	kill -TERM "$TGT_PID" 2>/dev/null && sleep 0.2
	kill -KILL "$TGT_PID" 2>/dev/null
	wait "$TGT_PID" 2>/dev/null
	rm -f "/run/tgtd/socket.$TGT_CTL" "/run/tgtd/socket.$TGT_CTL.lock"
	TGT_PID=
}

# At exit, whatever happened: background jobs and tgtd stopped, the scratch
# directory removed; an nbdkit the test started that is still alive after
# nbdkit_reap stopped the ones left fails the test (exit 1), said loudly.
# (Not exiting otherwise keeps the test's own exit status.)
cleanup() {
	local p leak=
	for p in $BG_PIDS; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
	nbdkit_reap "$WORK" || leak=1
	tgt_stop
	rm -rf "$WORK"
	[ -z "$leak" ] || exit 1
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

# toeless-iscsi; under `make check-valgrind` (TOELESS_VALGRIND set by
# tools/valgrind-wrap) it runs under valgrind, and a memcheck error makes it
# exit 99, which no test expects.
initiator() {
	if [ -z "${TOELESS_VALGRIND:-}" ]; then
		"$INITIATOR" "$@"
	elif head -n 5 "$INITIATOR" 2>/dev/null | grep -q 'temporary wrapper script'; then
		# shellcheck disable=SC2086
		"$top_builddir/libtool" --mode=execute $TOELESS_VALGRIND "$INITIATOR" "$@"
	else
		# shellcheck disable=SC2086
		$TOELESS_VALGRIND "$INITIATOR" "$@"
	fi
}

# toeless-iscsi at the fixture's target and LUN 1.
ti() { initiator --portal "127.0.0.1:$TGT_PORT" --target "$TGT_IQN" --lun 1 "$@"; }

# lun_extract OFFSET LENGTH OUT: bytes of the backing file, as tgtd wrote them.
lun_extract() {
	dd if="$TGT_LUN_FILE" of="$3" bs=64K iflag=skip_bytes,count_bytes skip="$1" count="$2" status=none
}

# random_file FILE LENGTH
random_file() { head -c "$2" /dev/urandom >"$1"; }

# expect_exit CODE CMD...: run, show its output, check its exit status.
expect_exit() {
	local want=$1 rc
	shift
	"$@" >"$WORK/out" 2>"$WORK/err"
	rc=$?
	sed 's/^/    | /' "$WORK/out" "$WORK/err"
	[ "$rc" = "$want" ] || fail "exit status $rc, expected $want: $*"
}

# counter NAME FILE: the last column of a --stats line (all connections).
counter() { awk -v n="$1" '$1 == n { v = $NF } END { print v + 0 }' "$2"; }

check() { eval "$1" || fail "$2"; }

# ---- nbdkit-toeless-plugin (tests/iscsi/test-nbdkit*.sh, test-chap.sh) ----
PLUGIN=${PLUGIN:-$top_builddir/plugins/nbdkit/.libs/nbdkit-toeless-plugin.so}
need_plugin() {
	command -v nbdkit >/dev/null 2>&1 || skip "nbdkit not installed (apt-get install nbdkit)"
	[ -f "$PLUGIN" ] || skip "nbdkit-toeless-plugin not built (needs nbdkit-plugin-dev and libuv1-dev)"
}
need_cmd() { command -v "$1" >/dev/null 2>&1 || skip "$1 not installed (apt-get install $2)"; }

# plugin_start NAME ARGS...: nbdkit with the plugin on the Unix socket
# $WORK/NAME.sock, in the foreground of a background job (nbdkit_start: its
# own PID, not a subshell's); NBD_SOCK, NBD_PID.  Its stderr (-v: the
# plugin's debug lines and counters) goes to $WORK/NAME.log.
plugin_start() {
	local name=$1
	shift
	NBD_NAME=$name
	NBD_SOCK=$WORK/$name.sock
	rm -f "$NBD_SOCK"
	# shellcheck disable=SC2086 # NBDKIT_FLAGS: more nbdkit options, e.g. -D toeless.verbose=1
	nbdkit_start "$WORK/$name.log" -v ${NBDKIT_FLAGS:-} -U "$NBD_SOCK" "$PLUGIN" "$@" ||
		fail "nbdkit did not start: $*"
	NBD_PID=$NBDKIT_PID
}

# plugin_stop: SIGTERM, wait; the plugin logs out and prints its counters.
plugin_stop() {
	[ -n "${NBD_PID:-}" ] || return 0
	nbdkit_stop "$NBD_PID" "$WORK/$NBD_NAME.log"
	NBD_PID=
}

nbd_uri() { echo "nbd+unix:///?socket=$NBD_SOCK"; }
