#!/bin/sh
# toeless-conform must FAIL against the broken-wrap plugin
# (a 16-bit counter: placements and CRC wrong after 65,536 operations), naming long.placements.
# --iter 1 even under valgrind (where conform-lib.sh shortens runs to a tenth):
# the run must cross 65,536 operations to see the wrap at all.
# SPDX-License-Identifier: MIT
. "${top_srcdir:-.}/tests/conform/conform-lib.sh"
expect_fail long.placements --iter 1 --backend "$PLUGINS/broken-wrap.so"
