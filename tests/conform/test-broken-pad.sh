#!/bin/sh
# toeless-conform must FAIL against the broken-pad plugin
# (the data digest of a padded PDU never checked, reported OK), naming place.sizes.
# SPDX-License-Identifier: MIT
. "${top_srcdir:-.}/tests/conform/conform-lib.sh"
expect_fail place.sizes --backend "$PLUGINS/broken-pad.so"
