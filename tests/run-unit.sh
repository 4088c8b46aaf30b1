#!/bin/sh
# Run every unit/integration test binary in BUILD_DIR/tests, JOBS at a time
# (LIFELINE_TEST_JOBS, default: the number of CPUs).
# Each gets a fresh EFIVARFS_PATH directory: libefivar reads that variable
# in a constructor before main, and it needs the trailing '/'
# (docs/platform.md), so it must be set here, not in the test.
# A line per test as it ends; then each test's own output, in name order,
# so that parallel runs never interleave; then the tally.
#
#   tests/run-unit.sh [BUILD_DIR]
set -u
if [ "${1:-}" = --self-test ]; then
	# the runner's own rule: a failing, crashing or silent test is counted
	# as failed, its output shown, and the run exits non-zero
	d=$(mktemp -d /tmp/lifeline-unit-self.XXXXXX) || exit 1
	mkdir -p "$d/tests"
	printf '#!/bin/sh\necho fine\n' >"$d/tests/test-a-pass"
	printf '#!/bin/sh\necho the-failure-output\nexit 3\n' >"$d/tests/test-b-fail"
	printf '#!/bin/sh\nkill -SEGV $$\n' >"$d/tests/test-c-crash"
	chmod +x "$d/tests/"test-*
	out=$(LIFELINE_TEST_JOBS=2 "$0" "$d" 2>&1)
	rc=$?
	rm -rf "$d"
	case "$out" in
	*"test binaries: 1 passed, 2 failed"*the-failure-output* | *the-failure-output*"test binaries: 1 passed, 2 failed"*)
		if [ "$rc" != 0 ]; then
			echo "run-unit self-test: ok (failures counted and shown, exit $rc)"
			exit 0
		fi
		;;
	esac
	echo "run-unit self-test: FAILED (exit $rc):"
	echo "$out"
	exit 1
fi
if [ "${1:-}" = --one ]; then
	# one test: --one BUILD OUTDIR TEST
	build=$2
	out=$3
	t=$4
	n=$(basename "$t")
	tmp=$(mktemp -d /tmp/lifeline-test.XXXXXX) || exit 1
	mkdir -p "$tmp/efivars"
	start=$(date +%s)
	EFIVARFS_PATH="$tmp/efivars/" LIFELINE_TEST_TMP="$tmp" \
		ASAN_OPTIONS=halt_on_error=1:detect_leaks=1 \
		UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
		LIFELINE_BUILD="$build" "$t" >"$out/$n.log" 2>&1
	rc=$?
	echo "$rc" >"$out/$n.rc"
	rm -rf "$tmp"
	if [ "$rc" = 0 ]; then
		echo "ok: $t ($(($(date +%s) - start)) s)"
	else
		echo "FAILED: $t (exit $rc; its output follows the list)"
	fi
	exit 0
fi
build=${1:-build}
jobs=${LIFELINE_TEST_JOBS:-$(nproc 2>/dev/null || echo 1)}
out=$(mktemp -d /tmp/lifeline-unit.XXXXXX) || exit 1
trap 'rm -rf "$out"' EXIT
tests=""
for t in "$build"/tests/test-*; do
	case "$t" in *.o | *.d) continue ;; esac
	[ -x "$t" ] || continue
	tests="$tests $t"
done
# test-lifelined waits on the daemon's real timers for most of its run:
# started first, it overlaps the others
# shellcheck disable=SC2086 # the list is split on purpose
printf '%s\n' $tests | awk '{ print (/test-lifelined$/ ? 0 : 1) "\t" $0 }' | sort -s -k1,1n | cut -f2 |
	xargs -n 1 -P "$jobs" "$0" --one "$build" "$out"
fails=0
passed=0
for t in $tests; do
	n=$(basename "$t")
	echo "== $t"
	cat "$out/$n.log" 2>/dev/null
	if [ "$(cat "$out/$n.rc" 2>/dev/null)" = 0 ]; then
		passed=$((passed + 1))
	else
		echo "FAILED: $t"
		fails=$((fails + 1))
	fi
done
echo "test binaries: $passed passed, $fails failed"
[ "$fails" -eq 0 ]
