#!/bin/sh
# toeless-conform must FAIL against the broken-crc2m plugin
# (asynchronous CRC wrong at 2 MiB and above), naming crc.async.lengths.
# SPDX-License-Identifier: MIT
. "${top_srcdir:-.}/tests/conform/conform-lib.sh"
expect_fail crc.async.lengths --backend "$PLUGINS/broken-crc2m.so"
