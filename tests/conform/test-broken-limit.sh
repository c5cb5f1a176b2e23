#!/bin/sh
# toeless-conform must FAIL against the broken-limit plugin
# (caps.max_sge 16 advertised, 8 SGEs honoured), naming limits.sge.
# SPDX-License-Identifier: MIT
. "${top_srcdir:-.}/tests/conform/conform-lib.sh"
expect_fail limits.sge --backend "$PLUGINS/broken-limit.so"
