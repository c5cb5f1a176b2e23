#!/bin/sh
# toeless-conform against the hw backend through toeless-devsim, the RELAY
# model: a unit-test transport, not the reference device.  It terminates
# TCP and works on an in-order byte stream (host -> relay -> the suite's
# target side), so it proves the driver, the device interface and the
# device-fault paths without root; what a TOE-less NIC does on the wire
# (TCP sequence space, loss, retransmission, transmit digests) is proven
# by test-conform-hw-nic.sh, against tools/toeless-nic.  Skips (77) when
# the model is not built (no libuv) or cannot reach this process's memory
# (ptrace restrictions).
#
# The hook for the hw engineers: a case the hw backend cannot pass yet goes,
# with the reason, into tests/conform/exclude/hw.exclude (read when present);
# it is then reported as skipped, never as passed.
# SPDX-License-Identifier: MIT
. "${top_srcdir:-.}/tests/conform/conform-lib.sh"
DEVSIM=${TOELESS_DEVSIM:-$top_builddir/tools/toeless-devsim/toeless-devsim}
if [ ! -x "$DEVSIM" ]; then
	echo "SKIP: toeless-devsim not built (needs libuv1-dev)"
	exit 77
fi
# the model writes this process's memory as DMA would (process_vm_writev):
# Yama lets a process do that only to its descendants
if [ -r /proc/sys/kernel/yama/ptrace_scope ] && [ "$(cat /proc/sys/kernel/yama/ptrace_scope)" != 0 ]; then
	echo "SKIP: kernel.yama.ptrace_scope is not 0: the device model cannot reach our memory"
	exit 77
fi
EXCL=
[ -f "$top_srcdir/tests/conform/exclude/hw.exclude" ] && EXCL="--exclude $top_srcdir/tests/conform/exclude/hw.exclude"
# shellcheck disable=SC2086
expect_pass --backend hw --devsim "$DEVSIM" $EXCL
