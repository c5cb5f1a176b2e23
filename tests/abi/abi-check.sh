#!/bin/sh
# The ABI of libtoeless.so against a stored baseline (abi/libtoeless.abi),
# with libabigail (abigail-tools).  The rules it enforces are in
# doc/versioning.md.
#
#   abi-check.sh dump  LIB HEADERS OUT.abi        write LIB's ABI as XML
#   abi-check.sh check LIB HEADERS BASELINE.abi   compare LIB with a baseline
#
# HEADERS is the directory of the public headers LIB was built from: only
# types defined there count (internal structs may change freely), and
# every type defined there counts, reachable from an exported function or
# not (struct toeless_backend_ops reaches plugins, not libtoeless's own
# exports).
#
# check exits 0 when nothing changed or when every change is a compatible
# addition (a new function or variable, a new type, a member appended to a
# struct that starts with `size_t size`); it then says how to refresh the
# baseline.  Anything else fails (exit 1) with what changed and what to do.
# Exit 77: abigail-tools missing or LIB without debug information; 99: the
# tools themselves failed.
# SPDX-License-Identifier: MIT
set -eu

ABIDW=${ABIDW:-abidw}
ABIDIFF=${ABIDIFF:-abidiff}

usage() {
	echo "usage: abi-check.sh dump|check LIB HEADERS FILE.abi" >&2
	exit 99
}
[ $# -eq 4 ] || usage
mode=$1 lib=$2 headers=$3 abi=$4

for t in "$ABIDW" "$ABIDIFF"; do
	if ! command -v "$t" >/dev/null 2>&1; then
		echo "SKIP: $t not found: apt-get install abigail-tools (tools/install-deps does)"
		exit 77
	fi
done
[ -f "$lib" ] || { echo "abi-check: $lib does not exist" >&2; exit 99; }
# Without DWARF, abidw sees symbols but no types: the check would be blind.
if ! LC_ALL=C readelf -S "$lib" 2>/dev/null | grep -q '\.debug_info'; then
	echo "SKIP: $lib has no debug information (build with -g) so its types cannot be compared"
	exit 77
fi

# The same options for the baseline and for the library under test, so
# that two XML files are compared, type for type.
dump() {
	"$ABIDW" --headers-dir "$headers" --load-all-types --drop-private-types \
		--no-corpus-path --out-file "$2" "$1"
}

case "$mode" in
dump)
	dump "$lib" "$abi" || { echo "abi-check: abidw failed on $lib" >&2; exit 99; }
	echo "abi-check: wrote the ABI of $lib to $abi"
	exit 0
	;;
check) ;;
*) usage ;;
esac

[ -f "$abi" ] || { echo "abi-check: no baseline $abi" >&2; exit 99; }
tmp=${TMPDIR:-/tmp}/abi-check.$$
trap 'rm -f "$tmp".*' EXIT
dump "$lib" "$tmp.abi" || { echo "abi-check: abidw failed on $lib" >&2; exit 99; }

soname_of() { sed -n "s/.*<abi-corpus .*soname='\([^']*\)'.*/\1/p" "$1" | head -n 1; }
old_soname=$(soname_of "$abi")
new_soname=$(soname_of "$tmp.abi")
echo "baseline: $abi ($old_soname)"
echo "library:  $lib ($new_soname)"

set +e
"$ABIDIFF" --non-reachable-types "$abi" "$tmp.abi" >"$tmp.report" 2>&1
rc=$?
set -e
# abidiff's exit status is a bit mask: 1 error, 2 usage, 4 ABI change,
# 8 incompatible ABI change.
if [ $((rc & 3)) -ne 0 ]; then
	cat "$tmp.report"
	echo "abi-check: abidiff failed (exit $rc)" >&2
	exit 99
fi

refresh="Refresh the baseline in one step with 'make abi-update' (in the build directory) and commit abi/libtoeless.abi."
if [ "$old_soname" != "$new_soname" ]; then
	echo "The SONAME changed from $old_soname to $new_soname: the library declares a new ABI,"
	echo "so the old baseline no longer applies."
	echo "FAIL: $refresh"
	exit 1
fi
if [ "$rc" -eq 0 ]; then
	echo "PASS: the ABI is the baseline's"
	exit 0
fi

# Size-prefixed structs of the public headers: "struct NAME {" whose first
# member is "size_t size;".  Only these may grow at the end.
awk 'prev != "" && $1 == "size_t" && $2 == "size;" { print prev }
     { prev = "" }
     /^struct [a-z_0-9]+ \{/ { prev = $2 }' "$headers"/*.h | sort -u >"$tmp.sized"

# Walk the report.  Every line must be a known compatible kind; anything
# else (a removal, an offset or type change, a changed parameter or return
# type, a member inserted before the end, growth of a fixed-size struct)
# is a break and is listed.
verdict=0
awk -v sized="$tmp.sized" '
BEGIN { skip_indent = -1; while ((getline s < sized) > 0) ok_size[s] = 1 }
function bad(why) { print why ": " line; nbad++ }
{
	line = $0
	sub(/^[ \t]+/, "", line)
	if (line == "") next
	indent = length($0) - length(line)
	# A changed type that is not ours (an anonymous enum of a system
	# header, matched differently in two builds): skip its whole block.
	if (skip_indent >= 0 && indent > skip_indent) next
	skip_indent = -1
	if (line ~ /^\[C\] .(enum|struct|union) / && line !~ /^\[C\] .(enum|struct|union) toeless_/) {
		skip_indent = indent
		next
	}
	if (line ~ /^Functions changes summary:/ || line ~ /^Variables changes summary:/) {
		if (line !~ /: 0 Removed,/) bad("removed")
		next
	}
	if (line ~ /^Unreachable types summary:/) {
		if (line !~ /: 0 removed,/) bad("removed type")
		next
	}
	if (line ~ /^[0-9]+ Added (function|variable)s?:$/) next
	if (line ~ /^\[A\] /) next
	if (line ~ /^[0-9]+ added types? unreachable from any public interface:$/) next
	if (line ~ /^[0-9]+ functions? with some indirect sub-type changes?:$/) next
	if (line ~ /^[0-9]+ variables? with some indirect sub-type changes?:$/) next
	if (line ~ /^[0-9]+ changed types? unreachable from any public interface:$/) next
	if (line ~ /^\[C\] .* has some indirect sub-type changes:$/) next
	if (line ~ /^parameter [0-9]+ of type .* has sub-type changes:$/) next
	if (line ~ /^in pointed to type .struct [a-z_0-9]+. /) {
		cur = line; sub(/^in pointed to type .struct /, "", cur); sub(/[^a-z_0-9].*/, "", cur)
		next
	}
	if (line ~ /^\[C\] .struct [a-z_0-9]+. changed:$/) {
		cur = line; sub(/^\[C\] .struct /, "", cur); sub(/[^a-z_0-9].*/, "", cur)
		next
	}
	if (line ~ /^type size changed from [0-9]+ to [0-9]+ \(in bits\)$/) {
		split(line, w, " "); old_size = w[5] + 0
		if (!(cur in ok_size)) bad("struct " cur " has no leading size field and cannot grow")
		next
	}
	if (line ~ /^[0-9]+ data member insertions?:$/) next
	if (line ~ /, at offset [0-9]+ \(in bits\)/) {
		off = line; sub(/.*, at offset /, "", off); sub(/ .*/, "", off)
		if (off + 0 < old_size) bad("member inserted inside struct " cur " (only the end may grow)")
		next
	}
	if (line ~ /details were reported earlier|as reported earlier/) next
	bad("changed")
}
END { exit nbad > 0 }' "$tmp.report" >"$tmp.bad" || verdict=1

# abidiff does not report every change of a type reached only through a
# pointer to const (struct toeless_backend_ops, since the core copies the
# table in lib/ops.c and takes it only as a parameter): compare the layout of
# every public struct in the two dumps directly as well.  A member of the
# baseline that moved or vanished is a break; so is growth of a struct with
# no leading size field.
layout() {
	awk '
	/<class-decl name=.toeless_[a-z_0-9]+. size-in-bits=/ && depth == 0 && !/is-declaration-only/ {
		name = $0; sub(/.*<class-decl name=./, "", name); sub(/[^a-z_0-9].*/, "", name)
		size = $0; sub(/.*size-in-bits=./, "", size); sub(/[^0-9].*/, "", size)
		if (name in seen) { skip = 1 } else { seen[name] = 1; skip = 0; print "S", name, size }
		depth = 1; cur = name; next
	}
	depth > 0 && /<(class|union)-decl / && !/\/>[ \t]*$/ { depth++; next }
	depth > 0 && /<\/(class|union)-decl>/ { depth--; next }
	depth == 1 && !skip && /<data-member / {
		off = $0; sub(/.*layout-offset-in-bits=./, "", off); sub(/[^0-9].*/, "", off); next
	}
	depth == 1 && !skip && /<var-decl name=/ {
		m = $0; sub(/.*<var-decl name=./, "", m); sub(/[^a-z_0-9].*/, "", m)
		print "M", cur, m, off
	}' "$1"
}
layout "$abi" >"$tmp.lold"
layout "$tmp.abi" >"$tmp.lnew"
awk -v sized="$tmp.sized" '
BEGIN { while ((getline s < sized) > 0) ok_size[s] = 1 }
FNR == NR { if ($1 == "S") nsize[$2] = $3; else noff[$2 " " $3] = $4; next }
$1 == "S" && ($2 in nsize) && nsize[$2] + 0 > $3 + 0 && !($2 in ok_size) {
	print "struct " $2 " has no leading size field and cannot grow: layout: size " $3 " -> " nsize[$2] " bits"; nbad++
}
$1 == "M" && ($2 in nsize) {
	key = $2 " " $3
	if (!(key in noff)) { print "member removed or renamed in struct " $2 ": layout: " $3; nbad++ }
	else if (noff[key] != $4) { print "member inserted inside struct " $2 " (only the end may grow): layout: " $3 " moved from bit " $4 " to " noff[key]; nbad++ }
}
END { exit nbad > 0 }' "$tmp.lnew" "$tmp.lold" >>"$tmp.bad" || verdict=1

echo "---- abidiff --non-reachable-types $abi <library> ----"
sed 's/^/| /' "$tmp.report"
echo "----"
if [ "$verdict" -eq 0 ]; then
	echo "PASS: compatible additions only (new functions, new types, members appended to size-prefixed structs)."
	echo "$refresh"
	exit 0
fi

echo "FAIL: incompatible ABI change of libtoeless.so:"
sed 's/^/  /' "$tmp.bad"
backend=""
grep -q 'toeless_backend_\|toeless_rx_' "$tmp.bad" && backend=yes
cat <<EOF
What to do (doc/versioning.md):
  - Prefer a compatible change: add a new function instead of changing an
    existing one's parameters or return type; add struct members only at the
    end of structs that start with 'size_t size' (fixed-size structs such as
    struct toeless_completion only reuse their reserved words); never remove
    or reorder.
  - If the break is intended: bump the interface in configure.ac
    (TOELESS_LT_VERSION to current+1:0:0, which changes the SONAME), put the
    symbols in a new version node of lib/libtoeless.sym, update
    debian/libtoeless0.symbols, then run 'make abi-update' and commit
    abi/libtoeless.abi.
EOF
if [ -n "$backend" ]; then
	cat <<EOF
  - A type of include/toeless_backend.h changed: a plugin built against the
    old layout would be handed the new one.  Bump TOELESS_BACKEND_ABI there
    (the loader then refuses old plugins with -EPROTO).  If only backend
    types changed, initiators are not affected and the SONAME may stay:
    bump TOELESS_BACKEND_ABI, then 'make abi-update'.
EOF
fi
exit 1
