#!/bin/sh
# toeless-conform must FAIL against the broken-wrap plugin
# (a 16-bit counter: placements and CRC wrong after 65,536 operations), naming long.placements.
# SPDX-License-Identifier: MIT
. "${top_srcdir:-.}/tests/conform/conform-lib.sh"
expect_fail long.placements --backend "$PLUGINS/broken-wrap.so"
