#!/bin/sh
# toeless-conform must FAIL against the broken-crc plugin
# (a wrong CRC for requests of exactly 1021 bytes), naming crc.async.sizes.
# SPDX-License-Identifier: MIT
. "${top_srcdir:-.}/tests/conform/conform-lib.sh"
expect_fail crc.async.sizes --backend "$PLUGINS/broken-crc.so"
