#!/bin/bash
# tests/hw/check_hw, the hw backend's unit suite, with the wire NIC
# (toeless-nic) as its device instead of the relay model: the suite's
# target socket lives in one network namespace, the host's in another, and
# every byte crosses the NIC as real TCP segments (tests/hw/hwtest.c,
# TOELESS_HWT_NIC).  Each test starts its own NIC, with the test's device
# faults, on the namespaces set up here once.
# Skips (77) without root, TUN, namespaces or the programs.
# SPDX-License-Identifier: MIT
top_builddir=${top_builddir:-.}
top_srcdir=${top_srcdir:-.}
skip() { echo "SKIP: $*"; exit 77; }
CHECK=$top_builddir/tests/hw/check_hw
export TOELESS_NIC=$top_builddir/tools/toeless-nic/toeless-nic
export TOELESS_NIC_NETNS=$top_srcdir/tools/toeless-nic/toeless-nic-netns
[ -x "$CHECK" ] && [ -x "$TOELESS_NIC" ] || skip "check_hw / toeless-nic not built (libuv)"
[ "$(id -u)" = 0 ] || skip "needs root"
D=$(mktemp -d "${TMPDIR:-/tmp}/toeless-check-hw-nic.XXXXXX") || exit 99
trap '"$TOELESS_NIC_NETNS" down "$D"; rm -rf "$D"' EXIT
"$TOELESS_NIC_NETNS" up "$D"; rc=$?
[ $rc = 0 ] || { [ $rc = 77 ] && skip "no namespaces/TUN"; echo "FAIL: netns up"; exit 1; }
TOELESS_HWT_NIC=$D "$CHECK"
