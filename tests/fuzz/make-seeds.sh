#!/bin/sh
# (Re)make the seed inputs of tests/fuzz/corpus/ from the project's real
# files and from what the code itself writes (seeds.c: state records, an
# inventory, quarantine manifests, runstate files, signed commands).
# Run from anywhere after `make`; then review and commit the changes.
# Inputs saved there by hand (regression inputs: crash-*, and the small
# hand-written ones: hand-*) are left alone; seed-* files are rewritten.
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
corpus=tests/fuzz/corpus
pkgs="efivar libsystemd blkid inih libcurl json-c libcrypto"
tmp=$(mktemp -d /tmp/lifeline-seeds.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

# shellcheck disable=SC2046,SC2086
${CC:-cc} -std=gnu11 -O1 -g -D_GNU_SOURCE -I. $(pkg-config --cflags $pkgs) -o "$tmp/seeds" \
	tests/fuzz/seeds.c build/agent/libprograms.a build/agent/libagent.a build/efi/libefi.a build/common/libcommon.a \
	$(pkg-config --libs $pkgs)
mkdir -p "$tmp/out" "$tmp/root"
"$tmp/seeds" "$tmp/out" "$tmp/root"

seed() { # fuzzer name file
	mkdir -p "$corpus/$1"
	cp "$3" "$corpus/$1/seed-$2"
}

rm -f "$corpus"/*/seed-*
for d in "$tmp"/out/*/; do
	f=$(basename "$d")
	for s in "$d"*; do
		seed "$f" "$(basename "$s")" "$s"
	done
done

# config: the shipped file and the test fixture
seed config lifeline.conf config/lifeline.conf
seed config full.conf tests/data/config/full.conf
# components: every shipped drop-in and the mixed fixtures
for f in config/components.d/*.conf tests/data/config/components-mixed/*.conf; do
	seed components "$(basename "$f")" "$f"
done
# command: the committed document (its key is fuzz-command.c's second key)
seed command clear-all-seq1.cmd tests/data/command/clear-all-seq1.cmd
# pstore: every fixture text; for collect also the efi-pstore part files
# of each record, parts joined with form feeds (fuzz-pstore-collect.c)
for f in tests/data/pstore/*.txt; do
	seed pstore-parse "$(basename "$f")" "$f"
done
for f in tests/data/pstore/6.1-badsec-init-null-oops.txt tests/data/pstore/4.4-examplesec-net-softirq-oops.txt; do
	seed pstore-collect "$(basename "$f")" "$f"
done
efi=tests/data/pstore/efi-6.1-badsec
for rec in 1 2; do
	out=$corpus/pstore-collect/seed-efi-6.1-badsec-$rec
	: >"$out"
	first=yes
	for part in 1 2 3 4 5 6 7; do
		# the ids: (seconds * 100 + part) * 1000 + count, seconds 1732371234 or +1
		f=""
		for g in "$efi"/dmesg-efi-17323712[0-9]*0"$part"00"$rec"; do
			[ -e "$g" ] && f=$g && break
		done
		[ -n "$f" ] || continue
		[ $first = yes ] || printf '\f' >>"$out"
		first=no
		cat "$f" >>"$out"
	done
done
for d in "$corpus"/*/; do
	echo "$(basename "$d"): $(find "$d" -type f | wc -l) files, $(du -sk "$d" | cut -f1) KiB"
done
