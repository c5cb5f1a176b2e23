#!/bin/sh
# toeless-conform must FAIL against the broken-place plugin
# (payload placed one byte after its Buffer Offset), naming place.basic.
# SPDX-License-Identifier: MIT
. "${top_srcdir:-.}/tests/conform/conform-lib.sh"
expect_fail place.basic --backend "$PLUGINS/broken-place.so"
