#!/bin/sh
# toeless-conform must FAIL against the broken-lost plugin
# (an SGL release never delivered (a lost completion)), naming cancel.outstanding.
# SPDX-License-Identifier: MIT
. "${top_srcdir:-.}/tests/conform/conform-lib.sh"
# a lost release costs the library 5 s at destroy: keep our own waits short
expect_fail cancel.outstanding --backend "$PLUGINS/broken-lost.so" --timeout-ms 1000
