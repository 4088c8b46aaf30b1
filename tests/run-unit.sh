#!/bin/sh
# Run every unit/integration test binary in BUILD_DIR/tests.
# Each gets a fresh EFIVARFS_PATH directory: libefivar reads that variable
# in a constructor before main, and it needs the trailing '/'
# (docs/platform.md), so it must be set here, not in the test.
set -u
build=${1:-build}
fails=0
passed=0
for t in "$build"/tests/test-*; do
	case "$t" in *.o|*.d) continue ;; esac
	[ -x "$t" ] || continue
	tmp=$(mktemp -d /tmp/lifeline-test.XXXXXX)
	mkdir -p "$tmp/efivars"
	echo "== $t"
	if EFIVARFS_PATH="$tmp/efivars/" LIFELINE_TEST_TMP="$tmp" \
		ASAN_OPTIONS=halt_on_error=1:detect_leaks=1 \
		UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
		LIFELINE_BUILD="$build" "$t"; then
		passed=$((passed + 1))
	else
		echo "FAILED: $t"
		fails=$((fails + 1))
	fi
	rm -rf "$tmp"
done
echo "test binaries: $passed passed, $fails failed"
[ "$fails" -eq 0 ]
