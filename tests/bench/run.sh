#!/bin/sh
# make bench: tests/bench/run.sh BUILD_DIR.
#
# Builds every tests/bench/bench-*.c against BUILD_DIR's libraries and runs
# it (bench-poll starts and stops its own nginx), then runs every
# tests/bench/bench-*.sh; each prints its detail, and
# the headline figures of all of them are printed last as one table
# (README.md in this folder says what each figure means). Benchmarks only
# print: this script exits 0 whatever happens, so it never fails a build.
#
# Environment:
#   BENCH_ARGS         arguments for every benchmark (each takes --runs N
#                      and --keep; bench-agent ignores both)
#   BENCH_ARGS_<name>  arguments for one, e.g. BENCH_ARGS_inventory="--sizes
#                      1000,10000" (<name>: bench-<name>.c, '-' as '_')
#   BENCH_ONLY         names to run, e.g. "early quarantine" (default: all)
#   BENCH_TIMEOUT      seconds one benchmark may take (default 240)
#   BENCH_SKIP_INITRAMFS=1, TMPDIR: see bench-initramfs.sh, bench.h
build=${1:-build}
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
mkdir -p "$build/tests/bench" 2> /dev/null
build=$(cd "$build" 2> /dev/null && pwd) || {
	echo "bench: no build directory ${1:-build} (make first)"
	exit 0
}
pkgs="efivar libsystemd blkid inih libcurl json-c libcrypto"
# shellcheck disable=SC2086 # one word per package
cflags=$(pkg-config --cflags $pkgs 2> /dev/null)
# shellcheck disable=SC2086
libs=$(pkg-config --libs $pkgs 2> /dev/null)
timeout_s=${BENCH_TIMEOUT:-240}
table=$(mktemp /tmp/lifeline-bench-table.XXXXXX) || exit 0
trap 'rm -f "$table"' EXIT
export BENCH_TABLE="$table" LIFELINE_BUILD="$build"
start=$(date +%s)

# The host, which decides how far wall times can be trusted.
ncpu=$(nproc 2> /dev/null || echo '?')
load=$(cut -d' ' -f1-3 /proc/loadavg 2> /dev/null)
vms=$(pgrep -c -f '^qemu-system' 2> /dev/null)
host="$ncpu CPUs, load average $load at the start, ${vms:-0} QEMU VM(s) running"
echo "lifeline benchmarks: $(git -C "$top" describe --always --dirty 2> /dev/null || echo '?'), $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "host: $host"

selected() {
	[ -z "${BENCH_ONLY:-}" ] && return 0
	for n in $BENCH_ONLY; do [ "$n" = "$1" ] && return 0; done
	return 1
}

# run NAME COMMAND...: one benchmark, bounded in time, never fatal.
run() {
	name=$1
	shift
	var=BENCH_ARGS_$(echo "$name" | tr '-' '_')
	extra=""
	eval "extra=\${$var:-}"
	t0=$(date +%s)
	# shellcheck disable=SC2086
	timeout --kill-after=10 "$timeout_s" "$@" ${BENCH_ARGS:-} $extra
	rc=$?
	if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
		echo "bench-$name: stopped after $timeout_s s (BENCH_TIMEOUT)"
		printf 'bench-%s\tstopped after %s s\t-\t-\t-\t-\n' "$name" "$timeout_s" >> "$table"
	elif [ "$rc" != 0 ]; then
		echo "bench-$name: exited $rc (ignored)"
	fi
	echo "(bench-$name: $(($(date +%s) - t0)) s)"
}

# The C benchmarks in a fixed order (the table's), then any others.
srcs=""
for n in early inventory quarantine agent poll; do
	[ -e "$here/bench-$n.c" ] && srcs="$srcs $here/bench-$n.c"
done
for src in "$here"/bench-*.c; do
	case " $srcs " in *" $src "*) ;; *) [ -e "$src" ] && srcs="$srcs $src" ;; esac
done
for src in $srcs; do
	name=$(basename "$src" .c)
	selected "${name#bench-}" || continue
	bin=$build/tests/bench/$name
	echo
	echo "== $name"
	# shellcheck disable=SC2086
	if ! ${CC:-cc} -std=gnu11 -O2 -g -D_GNU_SOURCE -I"$top" $cflags -o "$bin" "$src" \
		"$build/agent/libprograms.a" "$build/agent/libagent.a" "$build/efi/libefi.a" \
		"$build/common/libcommon.a" $libs; then
		echo "$name: could not be built (skipped)"
		printf '%s\tnot built\t-\t-\t-\t-\n' "$name" >> "$table"
		continue
	fi
	run "${name#bench-}" "$bin"
done
for script in "$here"/bench-*.sh; do
	[ -e "$script" ] || continue
	name=$(basename "$script" .sh)
	selected "${name#bench-}" || continue
	echo
	echo "== $name"
	run "${name#bench-}" bash "$script" "$build"
done

echo
echo "== summary ($(($(date +%s) - start)) s; host: $host)"
echo "median = the median of the runs (counts: the value); baseline = what the figure is"
echo "compared with; ratio = median / baseline (for counts: per attempt / the minimum)"
echo
awk -F '\t' '
	BEGIN { h[1] = "figure"; h[2] = "median"; h[3] = "baseline"; h[4] = "ratio"
		h[5] = "goal (issues)"; h[6] = "verdict"
		for (i = 1; i <= 6; i++) w[i] = length(h[i]) }
	NF >= 6 { n++; for (i = 1; i <= 6; i++) { c[n, i] = $i; if (length($i) > w[i]) w[i] = length($i) } }
	function line(get, r,    i, s) {
		s = "|"
		for (i = 1; i <= 6; i++) s = s " " sprintf("%-" w[i] "s", get ? c[r, i] : h[i]) " |"
		print s
	}
	END {
		line(0)
		s = "|"
		for (i = 1; i <= 6; i++) { d = ""; for (k = 0; k < w[i] + 2; k++) d = d "-"; s = s d "|" }
		print s
		for (r = 1; r <= n; r++) line(1, r)
		if (n == 0) print "(no figures)"
	}' "$table"
exit 0
