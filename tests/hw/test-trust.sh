#!/bin/bash
# The device's trust boundary (doc/device-interface.md, "Trust"): a device
# run by another local user is never attached, by "hw:PATH", by "hw" with
# $TOELESS_HW_DEVICE, or by "auto" (which goes on to sw); the same device
# run by our own user is.  The device's control socket is its owner's
# only (mode 0600).  Root runs the host here; the other user is nobody.
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
echo "ok: another user's device refused (hw:PATH and auto)"
start root "$D/own.sock"
"$INFO" -b "hw:$D/own.sock" >"$D/out" 2>&1 || { cat "$D/out" "$D/log"; fail "own device not attached"; }
echo "ok: own device attached"
echo PASS
