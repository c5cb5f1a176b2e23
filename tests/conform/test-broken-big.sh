#!/bin/sh
# toeless-conform must FAIL against the broken-big plugin
# (the data digest of a PDU above 8 KiB never checked, reported OK), naming place.sizes.
# SPDX-License-Identifier: MIT
. "${top_srcdir:-.}/tests/conform/conform-lib.sh"
expect_fail place.sizes --backend "$PLUGINS/broken-big.so"
