#!/bin/sh
# toeless-conform must FAIL against the broken-txcrc plugin (claims
# TOELESS_CAP_CRC_TX, takes the digests of PDUs with pad and inserts
# nothing: zeros go out), naming tx.digests.
# SPDX-License-Identifier: MIT
. "${top_srcdir:-.}/tests/conform/conform-lib.sh"
expect_fail tx.digests --backend "$PLUGINS/broken-txcrc.so"
