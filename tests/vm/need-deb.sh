#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# Print the path of the lifeline package the VM tests install, building it
# (make deb) when there is none or when it was built from other sources:
# `make deb` records the hash of the files it packs in build/deb/SOURCES
# (every tracked and untracked, not ignored, file), and this script
# compares it with the tree's. A VM test never boots a stale package.
#
#   tests/vm/need-deb.sh        (LIFELINE_DEB=FILE: use that package as is)
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
if [ -n "${LIFELINE_DEB:-}" ]; then
	[ -f "$LIFELINE_DEB" ] || { echo "need-deb: LIFELINE_DEB=$LIFELINE_DEB: no such file" >&2; exit 1; }
	echo "$LIFELINE_DEB"
	exit 0
fi
cd "$top"
O=${LIFELINE_BUILD:-build}
exec 9> "${TMPDIR:-/tmp}/lifeline-need-deb.lock"
flock 9
want=$(sh tests/vm/deb-sources-hash.sh)
have=$(cat "$O/deb/SOURCES" 2> /dev/null || :)
deb=$(ls -t "$O"/deb/lifeline_*_amd64.deb 2> /dev/null | head -n 1 || :)
if [ -z "$deb" ] || [ "$want" != "$have" ]; then
	echo "need-deb: building the package (make deb): ${deb:+its sources changed since $deb}" >&2
	make -s deb O="$O" >&2
	deb=$(ls -t "$O"/deb/lifeline_*_amd64.deb | head -n 1)
fi
echo "$top/$deb"
