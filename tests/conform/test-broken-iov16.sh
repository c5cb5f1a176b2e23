#!/bin/sh
# toeless-conform must FAIL against the broken-iov16 plugin
# (asynchronous CRC over the first 16 iovecs only), naming crc.async.iov_count.
# SPDX-License-Identifier: MIT
. "${top_srcdir:-.}/tests/conform/conform-lib.sh"
expect_fail crc.async.iov_count --backend "$PLUGINS/broken-iov16.so"
