#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# The hash of the files `make deb` packs (tracked and untracked, not
# ignored: the same list the Makefile copies), names and contents. Run from
# the top of the tree.
set -eu
git ls-files -co --exclude-standard -z | sort -z | xargs -0 sha256sum | sha256sum | cut -c1-32
