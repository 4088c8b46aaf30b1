#!/bin/sh
# Split one crash record's text into efi-pstore part files, named and
# headed the way Linux 6.1 writes them (fs/pstore/platform.c pstore_dump(),
# drivers/firmware/efi/efi-pstore.c generic_id()):
#   file  dmesg-efi-<id>, id = (SECONDS * 100 + PART) * 1000 + COUNT
#   text  "<Reason>#<COUNT> Part<PART>\n" + a slice of the log
# Part 1 holds the NEWEST end of the log, part 2 the lines before it, ...
#
#   split-efi.sh RECORD.txt REASON COUNT SECONDS OUTDIR [PART_BYTES] [TICK_AT_PART]
# A first line "Oops#1" (how lifeline saves records) is dropped. Parts from
# TICK_AT_PART on get SECONDS+1: a dump can straddle a second.
set -eu
in=$1 reason=$2 count=$3 secs=$4 out=$5 size=${6:-1024} tick=${7:-0}
mkdir -p "$out"
awk -v reason="$reason" -v count="$count" -v secs="$secs" -v out="$out" \
    -v size="$size" -v tick="$tick" '
NR == 1 && /^[A-Za-z]+#[0-9]+$/ { next }
{ line[n++] = $0 }
END {
	part = 1; i = n - 1
	while (i >= 0) {
		hdr = reason "#" count " Part" part
		used = length(hdr) + 1; first = i
		while (first >= 0 && (used + length(line[first]) + 1 <= size || first == i)) {
			used += length(line[first]) + 1; first--
		}
		s = secs + (tick > 0 && part >= tick ? 1 : 0)
		f = sprintf("%s/dmesg-efi-%.0f", out, ((s * 100 + part) * 1000 + count))
		print hdr > f
		for (k = first + 1; k <= i; k++) print line[k] > f
		close(f)
		i = first; part++
	}
}' "$in"
