#!/bin/sh
# Manual pages cover what is installed.  `make install` into a scratch
# DESTDIR, then:
#   - every installed program (bin/) has an installed section-1 page;
#   - every function of every installed header (TOELESS_API, and the
#     plugin entry point) has an installed section-3 page named after it;
#   - libtoeless(7) is installed;
#   - every installed page renders without a groff or man warning (link
#     pages .so included), when man-db is present.
# The lists come from the installed tree, not from Makefile.am, so a
# program or header that moves or appears is covered without editing this.
# SPDX-License-Identifier: MIT
set -eu
: "${top_srcdir:=.}"
: "${top_builddir:=.}"
MAKE=${MAKE:-make}
unset MAKEFLAGS MFLAGS MAKELEVEL
WORK=$(mktemp -d "${TMPDIR:-/tmp}/test-man.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
DEST=$WORK/dest

# one install from the build tree at a time (make check -j runs two such tests:
# their libtool relinks of the nbdkit plugin in the same .libs clobbered each other)
flock "$top_builddir" "$MAKE" -C "$top_builddir" install DESTDIR="$DEST" >"$WORK/install.log" 2>&1 || {
	tail -30 "$WORK/install.log"
	echo "FAIL: make install"
	exit 1
}
fail=0
man7=$(find "$DEST" -type f -name libtoeless.7 | head -n 1)
if [ -z "$man7" ]; then
	echo "FAIL: libtoeless.7 is not installed"
	exit 1
fi
mandir=$(dirname "$(dirname "$man7")")
echo "installed pages under ${mandir#"$DEST"}"

n1=0
for prog in $(find "$DEST" -type f -path '*/bin/*' | sort); do
	name=$(basename "$prog")
	n1=$((n1 + 1))
	if [ -f "$mandir/man1/$name.1" ]; then
		echo "ok   $name(1)"
	else
		echo "FAIL: the installed program $name has no page man1/$name.1 (write doc/man/$name.1, add it to dist_man_MANS)"
		fail=1
	fi
done
[ "$n1" -gt 0 ] || { echo "FAIL: no installed programs found"; fail=1; }

headers=$(find "$DEST" -type f -name '*.h' | sort)
[ -n "$headers" ] || { echo "FAIL: no installed headers found"; exit 1; }
# shellcheck disable=SC2086
sed -n 's/^\(TOELESS_API\|TOELESS_BACKEND_EXPORT\)[^(]*[ *]\(toeless_[a-z0-9_]*\)(.*/\2/p' $headers |
	sort -u >"$WORK/functions"
n3=$(wc -l <"$WORK/functions")
[ "$n3" -ge 20 ] || { echo "FAIL: only $n3 functions found in the installed headers"; fail=1; }
while read -r fn; do
	if [ -f "$mandir/man3/$fn.3" ]; then
		echo "ok   $fn(3)"
	else
		echo "FAIL: the public function $fn has no page man3/$fn.3 (document it in its group's page in doc/man/, add its name to that page's NAME line and a link page '.so man3/GROUP.3', and list both in MAN3_PAGES)"
		fail=1
	fi
done <"$WORK/functions"

if command -v man >/dev/null 2>&1; then
	npages=0
	for page in "$mandir"/man*/*; do
		npages=$((npages + 1))
		rel=${page#"$mandir"/}
		# From the man directory, so that ".so man3/x.3" resolves.
		warn=$(cd "$mandir" && LC_ALL=C.UTF-8 MANROFFSEQ='' MANWIDTH=80 \
			man --warnings -E UTF-8 -l -Tutf8 -Z "$rel" 2>&1 >/dev/null) || warn="$warn (man failed)"
		if [ -n "$warn" ]; then
			echo "FAIL: $rel does not render cleanly:"
			echo "$warn" | sed 's/^/    /'
			fail=1
		fi
	done
	echo "rendered $npages pages"
else
	echo "note: man (man-db) not installed, pages not rendered"
fi
[ "$fail" -eq 0 ] && echo "PASS: $n1 programs and $n3 functions have pages"
exit "$fail"
