#!/bin/sh
# toeless-conform must FAIL against the broken-1500 plugin
# (placements wrong after the 1,500th on a context), naming long.placements.
# SPDX-License-Identifier: MIT
. "${top_srcdir:-.}/tests/conform/conform-lib.sh"
expect_fail long.placements --backend "$PLUGINS/broken-1500.so"
