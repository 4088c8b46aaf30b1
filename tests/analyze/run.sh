#!/bin/bash
# make check-analyze: static analysers on the project's own C code (common/
# efi/ agent/ initramfs-hook/) and valgrind memcheck on the programs' main
# paths. Each analyser, and each program run under valgrind, is one test;
# the last line is "N passed, N failed".
#
#   cppcheck    checks: warning, style, performance, portability,
#               information (stale suppressions), --library=posix;
#               reviewed false positives in tests/analyze/cppcheck.supp
#   clang-tidy  checks in .clang-tidy (bugprone, cert, clang-analyzer,
#               misc, minus the noisy ones with their reasons); reviewed
#               false positives in tests/analyze/clang-tidy.supp
#   valgrind    --leak-check=full --errors-for-leak-kinds=definite: a
#               crash loop on a temp root (lifeline-early init + rootfs
#               boot by boot until a quarantine, the generator), then
#               lifelinectl status, --json, components, report --dry-run,
#               bless, clear, all on the real binaries of build/
#
# ANALYZE_ONLY="cppcheck clang-tidy valgrind" runs a subset.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top" || exit 1
here=tests/analyze
build=${BUILD:-build}
only=${ANALYZE_ONLY:-cppcheck clang-tidy valgrind}
jobs=$(nproc 2>/dev/null || echo 2)
passed=0
failed=0
srcs=$(ls common/*.c efi/*.c agent/*/*.c initramfs-hook/*.c)
pkgs="efivar libsystemd blkid inih libcurl json-c libcrypto"
# shellcheck disable=SC2086 # the list is split on purpose
pkg_cflags=$(pkg-config --cflags $pkgs 2>/dev/null)
work=$(mktemp -d /tmp/lifeline-analyze.XXXXXX) || exit 1
trap 'rm -rf "$work"' EXIT

result() { # ok|fail what
	if [ "$1" = ok ]; then
		passed=$((passed + 1))
		echo "ok: $2"
	else
		failed=$((failed + 1))
		echo "FAILED: $2"
	fi
}

want() { case " $only " in *" $1 "*) return 0 ;; esac; return 1; }

# -- cppcheck ---------------------------------------------------------------
if want cppcheck; then
	start=$SECONDS
	# shellcheck disable=SC2086
	if cppcheck --enable=warning,style,performance,portability,information \
		--std=c11 --library=posix \
		--suppressions-list=$here/cppcheck.supp -j "$jobs" \
		-D_GNU_SOURCE -DLIFELINE_VERSION='"0"' -DLIFELINE_UNITDIR='"/usr/lib/systemd/system"' -I. --quiet --error-exitcode=1 \
		--template='{file}:{line}: {severity} ({id}): {message}' \
		$srcs >"$work/cppcheck.log" 2>&1; then
		result ok "cppcheck ($((SECONDS - start))s)"
	else
		cat "$work/cppcheck.log"
		result fail "cppcheck: fix each finding, or add it to $here/cppcheck.supp with a reason"
	fi
fi

# -- clang-tidy -------------------------------------------------------------
if want clang-tidy; then
	start=$SECONDS
	# One process per file, in parallel; the config is .clang-tidy.
	# shellcheck disable=SC2086
	printf '%s\n' $srcs | xargs -P "$jobs" -I{} clang-tidy --quiet {} -- \
		-std=gnu11 -D_GNU_SOURCE -DLIFELINE_VERSION='"0"' -DLIFELINE_UNITDIR='"/usr/lib/systemd/system"' -I. $pkg_cflags \
		>"$work/tidy.out" 2>"$work/tidy.err"
	if python3 $here/tidy-filter.py "$top" $here/clang-tidy.supp <"$work/tidy.out" >"$work/tidy.log" &&
		! grep -q 'error:' "$work/tidy.err"; then
		grep 'matched nothing' "$work/tidy.log"
		result ok "clang-tidy ($(tail -n 1 "$work/tidy.log" | sed 's/^clang-tidy: //'), $((SECONDS - start))s)"
	else
		cat "$work/tidy.log"
		grep -A3 'error:' "$work/tidy.err"
		result fail "clang-tidy: fix each warning, or add it to $here/clang-tidy.supp with a reason"
	fi
fi

# -- valgrind ---------------------------------------------------------------
if want valgrind; then
	root=$work/root
	# libefivar reads EFIVARFS_PATH in a constructor; it needs the '/'.
	export EFIVARFS_PATH=$work/efivars/
	mkdir -p "$EFIVARFS_PATH" "$root/etc/lifeline/components.d" "$root/opt/badsec/bin" \
		"$root/opt/badsec/content" "$root/sys/fs/pstore" "$work/gen"
	printf '[boot]\nthreshold = 2\nescalate_after = 1\nstore = efi\n' \
		>"$root/etc/lifeline/lifeline.conf"
	printf '[badsec]\nvendor = BadSec\nmodules = badsec\nunits = badsec.service\nfiles = /opt/badsec/bin/*\ncontent = /opt/badsec/content/*.bin\n' \
		>"$root/etc/lifeline/components.d/badsec.conf"
	cp config/components.d/falco.conf "$root/etc/lifeline/components.d/"
	echo '#!/bin/sh' >"$root/opt/badsec/bin/badsecd"
	echo 'channel 291' >"$root/opt/badsec/content/c-291.bin"
	n=0
	vg() { # expected-exit name command...
		local want=$1 name=$2 st log
		shift 2
		n=$((n + 1))
		log=$work/valgrind-$n.log
		valgrind -q --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite \
			--log-file="$log" "$@" >"$work/out-$n.log" 2>&1
		st=$?
		# --error-exitcode=1 and a program's own exit 1 look alike: the
		# log says which (it is empty when valgrind found nothing).
		if [ -s "$log" ] || [ "$st" -ne "$want" ]; then
			cat "$log"
			tail -n 20 "$work/out-$n.log"
			result fail "valgrind $name (exit $st, want $want)"
		else
			result ok "valgrind $name"
		fi
	}
	early=$build/initramfs-hook/lifeline-early
	ctl=$build/bin/lifelinectl
	# Boots 1-2 fail below the threshold; boot 3 (the panic log names
	# badsec) quarantines it: level 1, safe mode, files moved aside.
	for boot in 1 2 3; do
		vg 0 "lifeline-early --phase=init (boot $boot)" \
			"$early" --phase=init --test --stderr --root="$root"
		vg 0 "lifeline-early --phase=rootfs (boot $boot)" \
			"$early" --phase=rootfs --test --stderr --root="$root" --run-dir="$root/run/lifeline"
		cp tests/data/pstore/efi-6.1-badsec/dmesg-efi-* "$root/sys/fs/pstore/"
	done
	if grep -q '^quarantine=badsec' "$root/run/lifeline/state" 2>/dev/null &&
		grep -q '^badsec ' "$root/var/lib/lifeline/quarantine/active" 2>/dev/null &&
		[ ! -e "$root/opt/badsec/bin/badsecd" ]; then
		result ok "valgrind scenario reached a quarantine"
	else
		cat "$work"/out-*.log
		result fail "valgrind scenario: the crash loop did not quarantine badsec (main path missed)"
	fi
	vg 0 lifeline-generator env LIFELINE_ROOT="$root" "$build"/bin/lifeline-generator \
		"$work/gen/normal" "$work/gen/early" "$work/gen/late"
	vg 0 "lifelinectl status" "$ctl" --root="$root" status
	vg 0 "lifelinectl status --json" "$ctl" --root="$root" status --json
	vg 0 "lifelinectl components" "$ctl" --root="$root" components
	vg 0 "lifelinectl components --json" "$ctl" --root="$root" components --json
	vg 0 "lifelinectl report --dry-run" "$ctl" --root="$root" report --dry-run
	vg 0 "lifelinectl bless" "$ctl" --root="$root" bless
	vg 0 "lifelinectl clear --all" "$ctl" --root="$root" clear --all
	vg 0 "lifelinectl status (after clear)" "$ctl" --root="$root" status
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
