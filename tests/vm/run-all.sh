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
scenarios=${LIFELINE_VM_SCENARIOS:-crashloop.py degrade.py hang.py noharm.py seabios.py endpoint/run.sh}
for t in $scenarios; do
	echo "== VM scenario $t"
	case "$t" in
	*.sh) run="sh" ;;
	*) run="python3" ;;
	esac
	# shown as it runs, and kept so that a failure is repeated at the end:
	# a CI log is often read from its tail only
	n=$(echo "$t" | tr / -)
	{ $run "$here/$t" 2>&1; echo $? >"$logs/$n.rc"; } | tee "$logs/$n.log"
	if [ "$(cat "$logs/$n.rc")" = 0 ]; then
		passed=$((passed + 1))
	else
		failed=$((failed + 1))
		failed_names="$failed_names $t"
	fi
done
for t in $failed_names; do
	# the failure's message, the boot's serial lines and the verdict
	echo "== VM scenario $t FAILED; the end of its output again:"
	tail -n 50 "$logs/$(echo "$t" | tr / -).log"
done
echo "VM scenarios: $passed passed, $failed failed${failed_names:+ (failed:$failed_names)}"
[ "$failed" -eq 0 ]
