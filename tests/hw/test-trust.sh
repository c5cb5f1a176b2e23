#!/bin/bash
# The device's trust boundary (doc/device-interface.md, "Trust"): a device
# run by another local user is never attached, by "hw:PATH", by "hw" with
# $TOELESS_HW_DEVICE, or by "auto" (which goes on to sw); the same device
# run by our own user is.  The device's control socket is its owner's
# only (mode 0600).  The socket's place: the default one is a directory the
# device makes, mode 0700 ($XDG_RUNTIME_DIR/toeless here); the driver
# refuses a socket in a directory another user owns, or that others may
# write without the sticky bit, or a socket file another user owns, even
# when root serves it; a device will not start in such a directory.  Root
# runs the host here; the other user is nobody.
# SPDX-License-Identifier: MIT
top_builddir=${top_builddir:-.}
skip() { echo "SKIP: $*"; exit 77; }
fail() { echo "FAIL: $*"; exit 1; }
DEVSIM=$top_builddir/tools/toeless-devsim/toeless-devsim
INFO=$top_builddir/tools/toeless-info/toeless-info
[ -x "$DEVSIM" ] && [ -x "$INFO" ] || skip "toeless-devsim / toeless-info not built"
[ "$(id -u)" = 0 ] || skip "needs root to run a device as another user"
command -v runuser >/dev/null || skip "no runuser"
id nobody >/dev/null 2>&1 || skip "no user nobody"
D=$(mktemp -d "${TMPDIR:-/tmp}/toeless-trust.XXXXXX") || exit 99
chmod 1777 "$D" # like /tmp: anyone may put a socket here
PIDS=
trap 'for p in $PIDS; do kill $p 2>/dev/null; wait $p 2>/dev/null; done; rm -rf "$D"' EXIT
start() { # start USER SOCK
	if [ "$1" = root ]; then
		"$DEVSIM" --control "$2" --listen 127.0.0.1:0 --target 127.0.0.1:9 2>>"$D/log" &
	else
		runuser -u "$1" -- "$DEVSIM" --control "$2" --listen 127.0.0.1:0 --target 127.0.0.1:9 2>>"$D/log" &
	fi
	PIDS="$PIDS $!"
	for _ in $(seq 100); do [ -S "$2" ] && return 0; sleep 0.05; done
	fail "device did not start"
}
start nobody "$D/other.sock"
[ "$(stat -c %a "$D/other.sock")" = 600 ] || fail "control socket mode $(stat -c %a "$D/other.sock"), not 600"
# root could connect anyway (it ignores the mode): the driver must refuse by credentials
"$INFO" -b "hw:$D/other.sock" >"$D/out" 2>&1 && { cat "$D/out"; fail "hw attached to another user's device"; }
grep -qi "uid\|permi" "$D/out" || { cat "$D/out"; fail "refusal does not say why"; }
TOELESS_HW_DEVICE=$D/other.sock "$INFO" -b auto >"$D/out" 2>&1
grep -q "backend:.*auto\|sw" "$D/out" || { cat "$D/out"; fail "auto did not fall back"; }
grep -q "^backend:[[:space:]]*hw" "$D/out" && { cat "$D/out"; fail "auto attached to another user's device"; }
# the socket file made ours: only the listener's credentials can tell now
chown root "$D/other.sock"
"$INFO" -b "hw:$D/other.sock" >"$D/out" 2>&1 && { cat "$D/out"; fail "hw attached to another user's device (socket file root's)"; }
grep -q "is served by uid" "$D/out" || { cat "$D/out"; fail "SO_PEERCRED refusal does not say why"; }
echo "ok: another user's device refused (hw:PATH and auto; by socket owner and by listener)"
start root "$D/own.sock"
"$INFO" -b "hw:$D/own.sock" >"$D/out" 2>&1 || { cat "$D/out" "$D/log"; fail "own device not attached"; }
echo "ok: own device attached"

# attached? PATH: toeless-info through hw:PATH, 0 when it attached
attached() { "$INFO" -b "hw:$1" >"$D/out" 2>&1; }
# the default place: made by the device, mode 0700, found by "hw" and "auto"
mkdir -m 700 "$D/xdg"
(
	unset TOELESS_HW_DEVICE
	export XDG_RUNTIME_DIR=$D/xdg
	"$DEVSIM" --listen 127.0.0.1:0 --target 127.0.0.1:9 2>>"$D/log" &
	echo $! >"$D/def.pid"
	for _ in $(seq 100); do [ -S "$D/xdg/toeless/device.sock" ] && break; sleep 0.05; done
	"$INFO" -b hw >"$D/out" 2>&1 && grep -q "^backend:[[:space:]]*hw" "$D/out" || { cat "$D/out" "$D/log"; exit 1; }
	"$INFO" -b auto >"$D/out" 2>&1 && grep -q "^backend:[[:space:]]*hw" "$D/out" || { cat "$D/out"; exit 1; }
) || fail "the default control socket was not made or not found"
PIDS="$PIDS $(cat "$D/def.pid")"
[ "$(stat -c %a "$D/xdg/toeless")" = 700 ] || fail "default directory mode $(stat -c %a "$D/xdg/toeless"), not 700"
echo "ok: default socket in \$XDG_RUNTIME_DIR/toeless (mode 700), found by hw and auto"

# a socket root serves, in a directory whose rights change under it
mkdir -m 700 "$D/place"
start root "$D/place/dev.sock"
attached "$D/place/dev.sock" || { cat "$D/out"; fail "socket in a 0700 directory refused"; }
chmod 777 "$D/place"
attached "$D/place/dev.sock" && fail "attached through a directory anyone may write"
grep -q "directory another user may write" "$D/out" || { cat "$D/out"; fail "refusal (mode 777) does not say why"; }
TOELESS_HW_DEVICE=$D/place/dev.sock "$INFO" -b auto >"$D/out" 2>&1
grep -q "^backend:[[:space:]]*hw" "$D/out" && fail "auto attached through a directory anyone may write"
chmod 1777 "$D/place"
attached "$D/place/dev.sock" || { cat "$D/out"; fail "socket in a sticky 1777 directory (like /tmp) refused"; }
chmod 775 "$D/place"
attached "$D/place/dev.sock" && fail "attached through a group-writable directory"
chmod 700 "$D/place"
chown nobody "$D/place"
attached "$D/place/dev.sock" && fail "attached through a directory another user owns"
grep -q "directory another user may write or own" "$D/out" || { cat "$D/out"; fail "refusal (owner) does not say why"; }
chown root "$D/place"
chown nobody "$D/place/dev.sock"
attached "$D/place/dev.sock" && fail "attached to a socket file another user owns"
grep -q "belongs to uid" "$D/out" || { cat "$D/out"; fail "refusal (socket owner) does not say why"; }
echo "ok: directory checks: 700 and 1777 trusted; 777, 775, another owner's directory or socket refused"

# a device will not make its socket where drivers would refuse it
mkdir -m 777 "$D/open"
"$DEVSIM" --control "$D/open/dev.sock" --listen 127.0.0.1:0 --target 127.0.0.1:9 >"$D/out" 2>&1 &&
	fail "device started in a world-writable directory"
[ -e "$D/open/dev.sock" ] && fail "device left a socket in a world-writable directory"
grep -q "drivers would refuse" "$D/out" || { cat "$D/out"; fail "device refusal does not say why"; }
echo "ok: device refuses a world-writable directory"
echo PASS
