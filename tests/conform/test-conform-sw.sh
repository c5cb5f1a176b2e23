#!/bin/sh
# toeless-conform against the built-in software backend: every case passes
# (DDP cases the backend does not claim are skipped, never passed).
# SPDX-License-Identifier: MIT
. "${top_srcdir:-.}/tests/conform/conform-lib.sh"
expect_pass --backend sw
