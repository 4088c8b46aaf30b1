#!/bin/bash
# Build and run the fuzzers tests/fuzz/fuzz-*.c (README.md there).
#
#   run.sh smoke            make check-fuzz: replay every saved input of
#                           tests/fuzz/corpus/<fuzzer>/ (gcc + ASan/UBSan
#                           build, no clang needed), then run each libFuzzer
#                           binary for FUZZ_SMOKE_SECONDS (10)
#   run.sh long SECONDS     make fuzz: each libFuzzer binary for SECONDS;
#                           new inputs go to build/fuzz/work/<fuzzer>/
#                           (kept between runs, never committed)
#   run.sh build            only build
#
# FUZZERS="config runstate" limits the run to those; FUZZ_JOBS (2) fuzzers
# run at once. Any crash, leak, sanitizer report, timeout or failed
# property fails the run; the input is kept as
# build/fuzz/artifacts/<fuzzer>-crash-*, and is added to the corpus as the
# regression test once fixed. The last line is "N passed, N failed".
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top" || exit 1
mode=${1:-smoke}
case $mode in
smoke) seconds=${FUZZ_SMOKE_SECONDS:-10} ;;
long) seconds=${2:-60} ;;
build) seconds=0 ;;
*)
	echo "usage: $0 smoke | long SECONDS | build" >&2
	exit 2
	;;
esac

out=$top/build/fuzz
pkgs="efivar libsystemd blkid inih libcurl json-c libcrypto"
# shellcheck disable=SC2086 # word splitting of the lists is wanted here and below
pkg_cflags=$(pkg-config --cflags $pkgs 2>/dev/null)
# shellcheck disable=SC2086
pkg_libs=$(pkg-config --libs $pkgs 2>/dev/null)
warn="-Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wpointer-arith -Wcast-qual -Werror"
common="-std=gnu11 -g -O1 -fno-omit-frame-pointer -D_GNU_SOURCE -I$top $pkg_cflags"
san="address,undefined"
jobs=${FUZZ_JOBS:-2}
passed=0
failed=0
export ASAN_OPTIONS=halt_on_error=1:detect_leaks=1:abort_on_error=0
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
# The harnesses' temp dirs: tmpfs when there is one (fsync is free there).
tmp_base=/dev/shm
[ -d "$tmp_base" ] && [ -w "$tmp_base" ] || tmp_base=${TMPDIR:-/tmp}
work_tmp=$(mktemp -d "$tmp_base/lifeline-fuzz-run.XXXXXX") || exit 1
trap 'rm -rf "$work_tmp"' EXIT
export TMPDIR=$work_tmp

if [ -n "${FUZZERS:-}" ]; then
	names=$FUZZERS
else
	names=""
	for f in tests/fuzz/fuzz-*.c; do
		n=${f#tests/fuzz/fuzz-}
		n=${n%.c}
		case $n in util | replay) ;; *) names="$names $n" ;; esac
	done
fi

result() { # ok|fail what
	if [ "$1" = ok ]; then
		passed=$((passed + 1))
	else
		failed=$((failed + 1))
		echo "FAILED: $2"
	fi
}

# -- build ------------------------------------------------------------------

mkdir -p "$out/gcc" "$out/clang" "$out/artifacts" "$out/logs" "$out/work"
gcc=$(command -v gcc || command -v cc)
have_clang=no
if command -v clang >/dev/null 2>&1 &&
	echo 'int LLVMFuzzerTestOneInput(const char *d, long n) { return (int)(d[0] + n) * 0; }' |
	clang -x c -fsanitize=fuzzer -o "$work_tmp/probe" - >/dev/null 2>&1; then
	have_clang=yes
else
	echo "fuzz: clang with libFuzzer is missing (tests/deps.sh installs clang and"
	echo "fuzz: libclang-rt-14-dev): replaying the saved inputs only, no fuzzing"
fi

# gcc: the ASan+UBSan libraries of make SANITIZE=1 (what check-unit's
# sanitizer run builds), each fuzzer linked with the replay main.
san_libs="build-san/agent/libprograms.a build-san/agent/libagent.a build-san/efi/libefi.a build-san/common/libcommon.a"
echo "== fuzz: building (gcc replay$([ $have_clang = yes ] && echo ', clang libFuzzer'))"
# shellcheck disable=SC2086
if ! make -s SANITIZE=1 -j"$jobs" $san_libs >"$out/logs/build-gcc.log" 2>&1; then
	cat "$out/logs/build-gcc.log"
	echo "0 passed, 1 failed"
	exit 1
fi
# clang: the same sources with fuzzer coverage instrumentation, built by
# the top Makefile into build/fuzz/lib.
clang_libs="build/fuzz/lib/agent/libprograms.a build/fuzz/lib/agent/libagent.a build/fuzz/lib/efi/libefi.a build/fuzz/lib/common/libcommon.a"
# shellcheck disable=SC2086
if [ $have_clang = yes ] && ! make -s O=build/fuzz/lib CC=clang OPTFLAGS="-O1 -g" \
	SANFLAGS="-fsanitize=fuzzer-no-link,$san -fno-omit-frame-pointer -fno-sanitize-recover=all" \
	-j"$jobs" $clang_libs >"$out/logs/build-clang.log" 2>&1; then
	cat "$out/logs/build-clang.log"
	echo "0 passed, 1 failed"
	exit 1
fi

build_one() { # name
	local n=$1 src="tests/fuzz/fuzz-$1.c" util=tests/fuzz/fuzz-util.c
	# shellcheck disable=SC2086
	"$gcc" $common $warn -fsanitize=$san -fno-sanitize-recover=all -o "$out/gcc/fuzz-$n" \
		"$src" "$util" tests/fuzz/fuzz-replay.c $san_libs $pkg_libs || return 1
	[ $have_clang = yes ] || return 0
	# shellcheck disable=SC2086
	clang $common $warn -fsanitize=fuzzer,$san -fno-sanitize-recover=all \
		-o "$out/clang/fuzz-$n" "$src" "$util" $clang_libs $pkg_libs
}

built=""
for n in $names; do
	if build_one "$n" >"$out/logs/build-$n.log" 2>&1; then
		built="$built $n"
	else
		cat "$out/logs/build-$n.log"
		result fail "build of fuzz-$n"
	fi
done
if [ "$mode" = build ]; then
	echo "$passed passed, $failed failed"
	[ "$failed" -eq 0 ]
	exit
fi

# -- replay (gcc) -------------------------------------------------------------

if [ "$mode" = smoke ]; then
	for n in $built; do
		corpus=tests/fuzz/corpus/$n
		if [ ! -d "$corpus" ]; then
			result fail "fuzz-$n has no corpus ($corpus)"
			continue
		fi
		log=$out/logs/replay-$n.log
		if "$out/gcc/fuzz-$n" "$corpus" >"$log" 2>&1; then
			echo "replay fuzz-$n: $(tail -n 1 "$log" | sed 's/^replay: //')"
			result ok
		else
			tail -n 60 "$log"
			result fail "replay of $corpus (gcc, ASan+UBSan; log $log)"
		fi
	done
fi

# -- libFuzzer ----------------------------------------------------------------

fuzz_one() { # name seconds -> exit status
	local n=$1 s=$2 work=$out/work/$1 log=$out/logs/fuzz-$1.log
	mkdir -p "$work"
	[ "$mode" = smoke ] && work=$work_tmp/corpus-$n && mkdir -p "$work"
	# New inputs go to the first directory only; the saved corpus is read.
	"$out/clang/fuzz-$n" -max_total_time="$s" -max_len=16384 -timeout=20 \
		-rss_limit_mb=2048 -print_final_stats=1 \
		-artifact_prefix="$out/artifacts/$n-" "$work" "tests/fuzz/corpus/$n" >"$log" 2>&1
}

report_one() { # name status
	local n=$1 log=$out/logs/fuzz-$1.log
	if [ "$2" -eq 0 ]; then
		echo "fuzz-$n: $(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" |
			grep -o '[0-9]*$') runs in ${seconds}s," \
			"$(grep -o 'cov: [0-9]* ft: [0-9]*' "$log" | tail -n 1)"
		result ok
	else
		tail -n 80 "$log"
		result fail "fuzz-$n (log $log; input: $(sed -n "s/.*Test unit written to //p" "$log" | head -n 1))"
	fi
}

if [ $have_clang = yes ] && [ "$seconds" -gt 0 ]; then
	echo "== fuzz: each fuzzer for ${seconds}s, $jobs at a time"
	declare -A pids=()
	for n in $built; do
		while [ "${#pids[@]}" -ge "$jobs" ]; do
			wait -n -p done_pid
			st=$?
			report_one "${pids[$done_pid]}" "$st"
			unset "pids[$done_pid]"
		done
		fuzz_one "$n" "$seconds" &
		pids[$!]=$n
	done
	while [ "${#pids[@]}" -gt 0 ]; do
		wait -n -p done_pid
		st=$?
		report_one "${pids[$done_pid]}" "$st"
		unset "pids[$done_pid]"
	done
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
