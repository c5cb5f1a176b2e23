#!/bin/sh
# toeless-conform against the built-in mock engine, with no fault armed: it
# places Data-In itself, so the engine paths of every case run.
# SPDX-License-Identifier: MIT
. "${top_srcdir:-.}/tests/conform/conform-lib.sh"
expect_pass --backend mock
