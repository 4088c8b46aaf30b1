#!/bin/sh
# The VM tests (make check-vm): each scenario boots a real Debian 12 under
# OVMF in QEMU (TCG). Set LIFELINE_SKIP_VM=1 to skip them (says so loudly).
set -u
here=$(cd "$(dirname "$0")" && pwd)
if [ "${LIFELINE_SKIP_VM:-0}" = 1 ]; then
	echo "check-vm: SKIPPED (LIFELINE_SKIP_VM=1)"
	exit 0
fi
if [ "$(id -u)" != 0 ]; then
	echo "check-vm: the VM tests need root (mmdebstrap, chroot, mke2fs -d)" >&2
	exit 1
fi
# the rig's own rules (boots in the serial log, emulator faults) first:
# no QEMU, a second
if ! python3 "$here/test_vmlib.py"; then
	echo "check-vm: FAILED: the VM rig's own tests (tests/vm/test_vmlib.py)" >&2
	exit 1
fi
# the package first, so that a build failure is reported once, not per scenario
if ! deb=$("$here/need-deb.sh"); then
	echo "check-vm: FAILED: no package to install (tests/vm/need-deb.sh)" >&2
	exit 1
fi
export LIFELINE_DEB="$deb"
passed=0
failed=0
failed_names=""
logs=$(mktemp -d /tmp/lifeline-vm-logs.XXXXXX) || exit 1
trap 'rm -rf "$logs"' EXIT
# One guest image for all (build-pkg-root.sh: a minimal Debian 12 with the
# package's Depends, cached; lifeline installed from the package that
# tests/vm/need-deb.sh finds or builds). Each scenario is one boot sequence
# carrying several checks (tests/vm/README.md lists them).
# The endpoint (Secure Boot, a MOK-signed module, a TPM-sealed LUKS root)
# builds a machine of its own: endpoint/README.md.
#
# Two lanes run side by side, each its scenarios one after the other, each
# VM with one vCPU (LIFELINE_VM_SMP=1, LIFELINE_VM_SLOTS=2): on this 2-core
# host two one-vCPU guests do more in an hour than one two-vCPU guest at a
# time. The lanes are balanced by measured length. LIFELINE_VM_SCENARIOS
# (a list) runs those in one lane, two vCPUs each; LIFELINE_VM_LANES=1
# runs the default list in one lane.
logname() { # SCENARIO: its name in $logs (endpoint/run.sh -> endpoint-run.sh)
	echo "$1" | tr / -
}
run_one() { # SCENARIO: its output prefixed with its name, kept in $logs
	t=$1
	n=$(logname "$t")
	case "$t" in
	*.sh) run="sh" ;;
	*) run="python3" ;;
	esac
	echo "== VM scenario $t"
	# kept so that a failure is repeated at the end: a CI log is often
	# read from its tail only
	{ $run "$here/$t" 2>&1; echo $? >"$logs/$n.rc"; } | tee "$logs/$n.log" | sed -u "s|^|[$t] |"
	echo "== VM scenario $t: exit $(cat "$logs/$n.rc")"
}
run_lane() { # SCENARIO...
	for t in "$@"; do
		run_one "$t"
	done
}
lane1="endpoint/run.sh seabios.py crashloop.py"
lane2="hang.py noharm.py degrade.py"
scenarios=${LIFELINE_VM_SCENARIOS:-$lane1 $lane2}
if [ -z "${LIFELINE_VM_SCENARIOS:-}" ] && [ "${LIFELINE_VM_LANES:-2}" != 1 ]; then
	LIFELINE_VM_SLOTS=2
	LIFELINE_VM_SMP=${LIFELINE_VM_SMP:-1}
	export LIFELINE_VM_SLOTS LIFELINE_VM_SMP
	# shellcheck disable=SC2086 # the lists are split on purpose
	run_lane $lane1 &
	pid1=$!
	# shellcheck disable=SC2086
	run_lane $lane2 &
	pid2=$!
	wait "$pid1" "$pid2"
else
	# shellcheck disable=SC2086
	run_lane $scenarios
fi
for t in $scenarios; do
	if [ "$(cat "$logs/$(logname "$t").rc" 2>/dev/null)" = 0 ]; then
		passed=$((passed + 1))
	else
		failed=$((failed + 1))
		failed_names="$failed_names $t"
	fi
done
for t in $failed_names; do
	# the failure's message, the boot's serial lines and the verdict
	echo "== VM scenario $t FAILED; the end of its output again:"
	tail -n 50 "$logs/$(logname "$t").log"
done
echo "VM scenarios: $passed passed, $failed failed${failed_names:+ (failed:$failed_names)}"
[ "$failed" -eq 0 ]
