#!/bin/bash
# tests/hw/test-nic.sh again with the NIC's TUN offloads on (toeless-nic
# --offload): the kernels' TSO hands the NIC TCP segments of up to 64 KiB,
# which it tracks, places, checks, faults and rewrites (transmit digests)
# as one, their TCP checksums left to it, as a real NIC's LRO and TSO see
# them (doc/hw.md).  The same assertions, every wire and device fault.
# SPDX-License-Identifier: MIT
export NIC_OFFLOAD=1
exec bash "${top_srcdir:-.}/tests/hw/test-nic.sh"
