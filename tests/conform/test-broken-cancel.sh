#!/bin/sh
# toeless-conform must FAIL against the broken-cancel plugin
# (a released SGL kept, placed into and released again (a completion for a cancelled post)), naming cancel.outstanding.
# SPDX-License-Identifier: MIT
. "${top_srcdir:-.}/tests/conform/conform-lib.sh"
expect_fail cancel.outstanding --backend "$PLUGINS/broken-cancel.so"
