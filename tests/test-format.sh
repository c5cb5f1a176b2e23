#!/bin/sh
# Every tracked .c/.h file is formatted as .clang-format says: the file must
# equal clang-format's output.  Skips (77) without clang-format, or outside
# a git checkout (a tarball has no list of tracked files).  A different
# clang-format major version may format differently: set CLANG_FORMAT to the
# one the tree was formatted with (CONTRIBUTING).
# SPDX-License-Identifier: MIT
: "${top_srcdir:=.}"
CLANG_FORMAT=${CLANG_FORMAT:-clang-format}
command -v "$CLANG_FORMAT" >/dev/null 2>&1 || { echo "SKIP: no $CLANG_FORMAT"; exit 77; }
command -v git >/dev/null 2>&1 || { echo "SKIP: no git"; exit 77; }
cd "$top_srcdir" || exit 99
git rev-parse --is-inside-work-tree >/dev/null 2>&1 || { echo "SKIP: not a git checkout"; exit 77; }
# A release tree unpacked inside some other checkout (make distcheck does so
# under the build directory) is not the source checkout: nothing is tracked.
git ls-files --error-unmatch .clang-format >/dev/null 2>&1 || { echo "SKIP: not the source checkout"; exit 77; }
[ -f .clang-format ] || { echo "FAIL: no .clang-format"; exit 1; }
echo "$("$CLANG_FORMAT" --version)"
tmp=$(mktemp "${TMPDIR:-/tmp}/test-format.XXXXXX") || exit 99
trap 'rm -f "$tmp"' EXIT
fail=0
n=0
for f in $(git ls-files '*.c' '*.h'); do
	[ -f "$f" ] || continue
	n=$((n + 1))
	"$CLANG_FORMAT" --style=file "$f" >"$tmp" || { echo "FAIL: clang-format failed on $f"; fail=1; continue; }
	if ! cmp -s "$f" "$tmp"; then
		echo "FAIL: $f is not formatted (clang-format -i $f):"
		diff -u "$f" "$tmp" | head -20
		fail=1
	fi
done
echo "$n files checked"
[ "$n" -gt 0 ] || { echo "FAIL: no tracked C files found"; exit 1; }
exit $fail
