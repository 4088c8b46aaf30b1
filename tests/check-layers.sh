#!/bin/sh
# The folder layers (docs/ARCHITECTURE.md), lowest first. A folder may
# include headers of its own folder and of the folders before it in this
# list, never of a folder after it or beside it: every arrow points down,
# so the folder graph has no circle. The programs (last line) are each
# other's equals: none includes another's headers.
#
#   tests/check-layers.sh            check the tree
#   tests/check-layers.sh --self-test   show that a bad include is caught
set -u
cd "$(dirname "$0")/.."

LAYERS="common efi agent/conf agent/crash agent/decision agent/inventory
agent/quarantine agent/ops agent/report agent/command agent/boot"
PROGRAMS="agent/lifelined agent/ctl agent/generator initramfs-hook"
# arrows allowed for now while one is taken out: none left
PENDING=""

# check ROOT: prints every bad include as file:line and the rule it
# breaks; exit 1 if there is one.
check() {
	root=$1 bad=0 below=""
	for dir in $LAYERS $PROGRAMS; do
		allowed="$below $dir"
		case " $PROGRAMS " in *" $dir "*) allowed="$LAYERS $dir" ;; esac
		[ -d "$root/$dir" ] || continue
		for f in "$root/$dir"/*.[ch]; do
			[ -e "$f" ] || continue
			grep -n '^#include "' "$f" | while IFS= read -r line; do
				inc=${line#*#include \"}
				inc=${inc%%\"*}
				idir=${inc%/*}
				ok=0
				# no folder: a header beside the file
				[ "$idir" = "$inc" ] && ok=1
				for a in $allowed; do [ "$idir" = "$a" ] && ok=1; done
				# the arrows being taken out; this
				# list only shrinks
				case " $PENDING " in *" ${f#"$root"/}>$inc "*) ok=1 ;; esac
				if [ $ok -eq 0 ]; then
					echo "${f#"$root"/}:${line%%:*}: includes \"$inc\": $dir/ may include only $allowed"
				fi
			done
		done | tee -a "$root/.layers.out"
		case " $PROGRAMS " in *" $dir "*) ;; *) below="$below $dir" ;; esac
	done
	# agent/ holds only the subsystem folders: a .c or .h file directly
	# in it belongs to no layer
	for f in "$root"/agent/*.[ch]; do
		[ -e "$f" ] && echo "${f#"$root"/}: in agent/ itself, not in a subsystem folder" | tee -a "$root/.layers.out"
	done
	if [ -s "$root/.layers.out" ]; then bad=1; fi
	rm -f "$root/.layers.out"
	return $bad
}

if [ "${1:-}" = "--self-test" ]; then
	# A copy of the tree with one include that points up (the quarantine
	# engine reaching into the command layer): the check must fail and
	# name that file and line.
	t=$(mktemp -d) || exit 1
	trap 'rm -rf "$t"' EXIT
	for d in $LAYERS $PROGRAMS; do mkdir -p "$t/$d"; cp "$d"/*.[ch] "$t/$d/" 2>/dev/null; done
	rm -f "$t/.layers.out"
	check "$t" >/dev/null || { echo "check-layers self-test: the clean copy failed"; exit 1; }
	printf '#include "agent/command/command.h"\n' >>"$t/agent/quarantine/quarantine.c"
	out=$(check "$t")
	case "$out" in
	*'agent/quarantine/quarantine.c:'*'includes "agent/command/command.h"'*) ;;
	*) echo "check-layers self-test: an upward include was not reported: $out"; exit 1 ;;
	esac
	printf '#include "agent/ctl/ctl.h"\n' >>"$t/agent/lifelined/lifelined.c"
	check "$t" | grep -q 'agent/lifelined/lifelined.c:.*agent/ctl/ctl.h' ||
		{ echo "check-layers self-test: a program including another program was not reported"; exit 1; }
	echo "check-layers self-test: ok (an upward include and a program-to-program include are caught)"
	exit 0
fi

rm -f ./.layers.out
if check .; then
	echo "layers: ok"
	exit 0
fi
exit 1
