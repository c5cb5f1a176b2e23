#!/bin/sh
# toeless-conform must FAIL against the broken-claim plugin
# (crc_submit claims one request more than it was given: the core must count an engine anomaly), naming crc.async.lengths.
# SPDX-License-Identifier: MIT
. "${top_srcdir:-.}/tests/conform/conform-lib.sh"
expect_fail crc.async.lengths --backend "$PLUGINS/broken-claim.so"
